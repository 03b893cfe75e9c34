//! `etcd-backup snapshot` until the binary is wired: streams a snapshot into DEST and prints
//! the manifest. `etcd-snapshot ENDPOINTS(comma) CA CERT KEY DEST [ZSTD_LEVEL]`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use rackpipe_etcd::{SnapshotOptions, Target, TlsFiles, snapshot};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!("usage: etcd-snapshot ENDPOINTS CA CERT KEY DEST [ZSTD_LEVEL]");
        std::process::exit(64);
    }
    let tls = (args[1] != "-").then(|| TlsFiles {
        ca: PathBuf::from(&args[1]),
        cert: PathBuf::from(&args[2]),
        key: PathBuf::from(&args[3]),
    });
    let target = Target::new(args[0].split(',').map(str::to_owned).collect(), tls);
    let options = SnapshotOptions {
        zstd_level: args.get(5).and_then(|s| s.parse().ok()),
        ..SnapshotOptions::default()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etcd-snapshot: runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(snapshot(&target, &PathBuf::from(&args[4]), &options)) {
        Ok(snap) => print!("{}", snap.manifest.to_json()),
        Err(e) => {
            eprintln!("etcd-snapshot: {e}");
            std::process::exit(if e.is_transient() { 75 } else { 1 });
        }
    }
}
