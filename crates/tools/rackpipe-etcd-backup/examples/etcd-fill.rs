//! Bench helper: fills an etcd member with incompressible values until the backend reaches a
//! size. `etcd-fill ENDPOINT CA CERT KEY TARGET_MB [VALUE_KIB]` (TLS files may be `-` for http).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::Instant;

use rackpipe_etcd_backup::{Target, TlsFiles, connect};

fn value(seed: u64, len: usize) -> Vec<u8> {
    // xorshift64*: incompressible enough that zstd cannot cheat.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!("usage: etcd-fill ENDPOINT CA CERT KEY TARGET_MB [VALUE_KIB]");
        std::process::exit(64);
    }
    let tls = (args[1] != "-").then(|| TlsFiles {
        ca: PathBuf::from(&args[1]),
        cert: PathBuf::from(&args[2]),
        key: PathBuf::from(&args[3]),
    });
    let target_bytes: i64 = args[4].parse::<i64>()? * 1024 * 1024;
    let value_len: usize = args.get(5).map_or(Ok(256), |s| s.parse())? * 1024;
    let target = Target::new(vec![args[0].clone()], tls);
    let client = connect(&args[0], &target).await?;
    let started = Instant::now();
    let mut next: u64 = 0;
    loop {
        let size = client.clone().status().await?.db_size();
        if size >= target_bytes {
            println!(
                "db_size {size} bytes after {next} puts in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let mut c = client.clone();
            let key = format!("/bench/{next:08}");
            let v = value(next, value_len);
            next += 1;
            set.spawn(async move { c.put(key, v, None).await.map(|_| ()) });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
    }
}
