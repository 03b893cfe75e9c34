//! Parse time of the whole RouterOS export corpus (`../shared/corpus/routeros/*.rsc`).
//!
//! `cargo bench -p rackpipe-routeros --bench parse_corpus` prints the median time per pass
//! over all files, the throughput, and the print (terse) time.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

fn main() {
    let Some(shared) = rackpipe_testkit::shared_dir() else {
        return;
    };
    let dir = shared.join("corpus/routeros");
    let mut texts = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("SKIP: {} not readable", dir.display());
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "rsc")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            texts.push(text);
        }
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let configs: Vec<_> = texts
        .iter()
        .filter_map(|t| rackpipe_routeros::parse(t).ok())
        .collect();
    let commands: usize = configs
        .iter()
        .map(rackpipe_routeros::Config::command_count)
        .sum();

    let parse = measure(|| {
        for text in &texts {
            std::hint::black_box(rackpipe_routeros::parse(std::hint::black_box(text)).ok());
        }
    });
    let print = measure(|| {
        for config in &configs {
            std::hint::black_box(rackpipe_routeros::print_terse(std::hint::black_box(config)));
        }
    });
    let mib_s = bytes as f64 / parse.as_secs_f64() / (1024.0 * 1024.0);
    println!(
        "corpus: {} files, {bytes} bytes, {commands} commands\nparse (all files): median {parse:?} ({mib_s:.1} MiB/s)\nprint_terse (all files): median {print:?}",
        texts.len()
    );
}

/// Median of 50 timed passes after 5 warm-up passes.
fn measure(mut pass: impl FnMut()) -> Duration {
    for _ in 0..5 {
        pass();
    }
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
