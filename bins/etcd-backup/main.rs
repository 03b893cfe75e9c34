//! `etcd-backup`: snapshot, verify, retain and restore the Kubernetes cluster's etcd.
//!
//! A thin binary: the shared driver runs [`rackpipe_etcd_backup::tool::EtcdBackup`] (the verbs,
//! their flags and the `Tool` impl); `rackpipe-etcd-backup` does the work. `snapshot` talks
//! gRPC to the members' port 2379, or with `--via-ssh` runs `etcdctl snapshot save` on a
//! master and streams the file back; both write the same files and manifest.

use std::process::ExitCode;

fn main() -> ExitCode {
    rackpipe_cli::driver::run::<rackpipe_etcd_backup::tool::EtcdBackup>()
}
