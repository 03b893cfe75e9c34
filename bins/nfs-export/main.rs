//! `nfs-export`: render, lint and apply the NAS's NFS exports and the mounts that use them.
//!
//! A thin binary: the shared driver runs [`rackpipe_nfs_export::tool::NfsExport`] (the flags, the
//! `Tool` impl and the tool's own verbs); `rackpipe-nfs-export` does the work.

use std::process::ExitCode;

fn main() -> ExitCode {
    rackpipe_cli::driver::run::<rackpipe_nfs_export::tool::NfsExport>()
}
