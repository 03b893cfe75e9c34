//! Lint and render throughput (a plain timing script: `cargo bench -p rackpipe-nfs-export`).
#![allow(clippy::print_stdout, missing_docs)]

use std::time::Instant;

fn synthetic(lines: usize) -> String {
    let mut text = String::from("# synthetic exports file\n");
    for i in 0..lines {
        let (a, b) = (i / 250 % 250, i % 250);
        text.push_str(&format!(
            "/srv/tenants/t{a}/v{b} \\\n\t10.{a}.{b}.0/24(rw,sync,no_subtree_check,root_squash) \\\n\t*.t{a}.example(ro,sync,no_subtree_check,all_squash,anonuid=1000,anongid=1000)\n"
        ));
        if i % 97 == 0 {
            text.push_str(&format!(
                "/srv/tenants/t{a} 10.{a}.0.0/16(ro,sync,no_subtree_check)\n"
            ));
        }
    }
    text
}

fn main() {
    for entries in [1_000usize, 10_000, 50_000] {
        let text = synthetic(entries);
        let runs = if entries > 10_000 { 3 } else { 10 };
        let start = Instant::now();
        let mut findings = 0;
        for _ in 0..runs {
            findings = rackpipe_nfs_export::exports::lint("bench.exports", &text)
                .diagnostics
                .len();
        }
        let per_run = start.elapsed() / runs;
        let mib = text.len() as f64 / (1024.0 * 1024.0);
        println!(
            "lint {entries:>6} exports ({mib:.1} MiB): {per_run:?} per run, {:.1} MiB/s, {findings} findings",
            mib / per_run.as_secs_f64()
        );
    }
}
