//! `pve-sync`: keep the Proxmox cluster's guests in line with the site: plan, apply, facts.
//!
//! A thin binary: the shared driver runs [`rackpipe_pve_sync::tool::PveSync`] (the flags, the
//! `Tool` impl and the tool's own verbs); `rackpipe-pve-sync` does the work.

use std::process::ExitCode;

fn main() -> ExitCode {
    rackpipe_cli::driver::run::<rackpipe_pve_sync::tool::PveSync>()
}
