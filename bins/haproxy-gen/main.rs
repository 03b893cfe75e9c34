//! `haproxy-gen`: render, check and deploy HAProxy and keepalived for the site's VIPs.
//!
//! A thin binary: the shared driver runs [`rackpipe_haproxy_gen::tool::HaproxyGen`] (the flags, the
//! `Tool` impl and the tool's own verbs); `rackpipe-haproxy-gen` does the work.

use std::process::ExitCode;

fn main() -> ExitCode {
    rackpipe_cli::driver::run::<rackpipe_haproxy_gen::tool::HaproxyGen>()
}
