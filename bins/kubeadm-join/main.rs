//! `kubeadm-join`: bootstrap and grow the site's kubeadm cluster behind the VIP.
//!
//! A thin binary: the shared driver runs [`rackpipe_kubeadm_join::tool::KubeadmJoin`] (the flags, the
//! `Tool` impl and the tool's own verbs); `rackpipe-kubeadm-join` does the work.

use std::process::ExitCode;

fn main() -> ExitCode {
    rackpipe_cli::driver::run::<rackpipe_kubeadm_join::tool::KubeadmJoin>()
}
