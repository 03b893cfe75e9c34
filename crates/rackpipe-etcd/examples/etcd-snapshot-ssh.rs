//! The `--via-ssh` snapshot path for the bench, without building the whole workspace:
//! `etcd-snapshot-ssh SSH_HOST:PORT USER KEY_FILE KNOWN_HOSTS ETCD_URL CA CERT KEY DEST [ZSTD_LEVEL]`
//! (CA/CERT/KEY and ETCD_URL as seen on the SSH host; `etcdctl` from its `PATH`; temp files
//! under `$REMOTE_TMP` or /var/tmp). Calls `rackpipe_etcd::snapshot_via_ssh`, as
//! `etcd-backup snapshot --via-ssh` does.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use rackpipe_etcd::{SnapshotOptions, SshMember, SshTarget, TlsFiles, snapshot_via_ssh};
use rackpipe_ssh::{ConnectOptions, HostKeyPolicy};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 9 {
        eprintln!(
            "usage: etcd-snapshot-ssh HOST:PORT USER KEY_FILE KNOWN_HOSTS ETCD_URL CA CERT KEY DEST [ZSTD_LEVEL]"
        );
        std::process::exit(64);
    }
    let (host, port) = args[0].rsplit_once(':').unwrap_or((args[0].as_str(), "22"));
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("etcd-snapshot-ssh: bad port in {}", args[0]);
        std::process::exit(64);
    };
    let ssh = ConnectOptions::new(
        host,
        port,
        args[1].clone(),
        PathBuf::from(&args[2]),
        HostKeyPolicy::KnownHosts {
            path: PathBuf::from(&args[3]),
            accept_new: false,
        },
    );
    let mut target = SshTarget::new(vec![SshMember {
        name: host.to_owned(),
        ssh,
    }]);
    target.endpoint.clone_from(&args[4]);
    target.tls = TlsFiles {
        ca: PathBuf::from(&args[5]),
        cert: PathBuf::from(&args[6]),
        key: PathBuf::from(&args[7]),
    };
    if let Ok(dir) = std::env::var("REMOTE_TMP") {
        target.remote_tmp = dir;
    }
    let options = SnapshotOptions {
        zstd_level: args.get(9).and_then(|s| s.parse().ok()),
        ..SnapshotOptions::default()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etcd-snapshot-ssh: runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(snapshot_via_ssh(
        &target,
        &PathBuf::from(&args[8]),
        &options,
    )) {
        Ok(snap) => print!("{}", snap.manifest.to_json()),
        Err(e) => {
            eprintln!("etcd-snapshot-ssh: {e}");
            std::process::exit(if e.is_transient() { 75 } else { 1 });
        }
    }
}
