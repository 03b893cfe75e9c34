//! Benchmark: fresh 3-node OpenBao raft cluster (loopback, TLS) → init → unseal → full
//! rachuna-net-style desired state applied. Prints the median over several runs, the API
//! requests of a no-change plan, and the failover time after SIGKILL of the active node.
//! "fresh" counts from before the servers start (fixture TLS and keys included);
//! "uninitialised" from the running, uninitialised servers. Per-phase medians come from the
//! `phase done` lines the library logs at info level.
//!
//! `cargo bench -p rackpipe-vault-bootstrap --bench fresh_cluster` (runs: `RACKPIPE_BENCH_RUNS`, default 5).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use rackpipe_vault_bootstrap::{
    ApplyOptions, InitOptions, PlanOptions, UnsealOptions, apply, desired, init, keys_from_file,
    plan, root_token_from_file, status, unseal,
};

struct Run {
    to_configured: Duration,
    from_uninitialised: Duration,
    phases: Vec<(String, u64)>,
    init: Duration,
    unseal: Duration,
    apply: Duration,
    plan_requests: u64,
    failover: Option<Duration>,
}

async fn one(measure_failover: bool) -> Option<Run> {
    let t0 = Instant::now();
    let mut tc = common::TestCluster::start_with(true)?;
    let cluster = tc.cluster();
    let keys_file = tc.dir.path().join("keys.json");
    let logs = common::Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let t_uninit = Instant::now();
    let t = Instant::now();
    init(
        &cluster,
        &InitOptions {
            shares: 5,
            threshold: 3,
            keys_file: Some(keys_file.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let init_time = t.elapsed();
    let keys = keys_from_file(&keys_file).unwrap();
    let root = root_token_from_file(&keys_file).unwrap();
    let t = Instant::now();
    unseal(
        &cluster,
        &keys[..3],
        &UnsealOptions {
            leader_ca_pem: Some(tc.tls.ca_pem.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let unseal_time = t.elapsed();
    let api = cluster.nodes()[0]
        .clone()
        .with_token(rackpipe_vault_bootstrap::Secret::new(root.expose()));
    let want = desired(&tc.site).unwrap();
    let t = Instant::now();
    apply(&api, &want, &ApplyOptions::default()).await.unwrap();
    let apply_time = t.elapsed();
    let to_configured = t0.elapsed();
    let from_uninitialised = t_uninit.elapsed();
    drop(guard);
    let text = logs.text();
    let phases = text
        .lines()
        .filter(|l| l.contains("phase done"))
        .filter_map(|l| {
            let field = |k: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                    .map(|v| v.trim_matches('"').to_owned())
            };
            Some((
                format!("{} {}", field("phase")?, field("node")?),
                field("ms")?.parse().ok()?,
            ))
        })
        .collect();
    let before = api.http().requests();
    let p = plan(&api, &want, &PlanOptions::default()).await.unwrap();
    assert_eq!(p.summary.total(), 0);
    let plan_requests = api.http().requests() - before;
    let mut failover = None;
    if measure_failover {
        loop {
            let st = status(&cluster, Some(&root)).await.unwrap();
            if st.raft_peers.iter().filter(|p| p.voter).count() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let st = status(&cluster, None).await.unwrap();
        let leader = st.leader.unwrap();
        let i = tc.nodes.iter().position(|n| n.name == leader).unwrap();
        let t = Instant::now();
        tc.kill(i);
        while t.elapsed() < Duration::from_secs(30) {
            let st = status(&cluster, None).await.unwrap();
            if st.leader.is_some_and(|l| l != leader) {
                failover = Some(t.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Some(Run {
        to_configured,
        from_uninitialised,
        phases,
        init: init_time,
        unseal: unseal_time,
        apply: apply_time,
        plan_requests,
        failover,
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("RACKPIPE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut results = Vec::new();
    for i in 0..runs {
        let Some(run) = rt.block_on(one(true)) else {
            return;
        };
        println!(
            "run {}: uninitialised→configured {:.2}s, fresh→configured {:.2}s (init {:.2}s, unseal+join {:.2}s, apply {:.2}s), no-change plan {} requests, failover {}",
            i + 1,
            run.from_uninitialised.as_secs_f64(),
            run.to_configured.as_secs_f64(),
            run.init.as_secs_f64(),
            run.unseal.as_secs_f64(),
            run.apply.as_secs_f64(),
            run.plan_requests,
            run.failover
                .map_or("-".to_owned(), |d| format!("{:.2}s", d.as_secs_f64())),
        );
        results.push(run);
    }
    let secs = |d: Duration| d.as_secs_f64();
    let mut names: Vec<String> = Vec::new();
    for r in &results {
        for (name, _) in &r.phases {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    println!("per-phase medians over {runs} (ms; `vault-bootstrap -v` logs the same lines):");
    for name in names {
        let v: Vec<Duration> = results
            .iter()
            .filter_map(|r| r.phases.iter().find(|(n, _)| *n == name))
            .map(|(_, ms)| Duration::from_millis(*ms))
            .collect();
        println!("  {name:<40} {:>6}", median(v).as_millis());
    }
    println!(
        "median over {runs}: uninitialised→configured {:.2}s, fresh→configured {:.2}s, init {:.2}s, unseal+join {:.2}s, apply {:.2}s, failover {:.2}s",
        secs(median(
            results.iter().map(|r| r.from_uninitialised).collect()
        )),
        secs(median(results.iter().map(|r| r.to_configured).collect())),
        secs(median(results.iter().map(|r| r.init).collect())),
        secs(median(results.iter().map(|r| r.unseal).collect())),
        secs(median(results.iter().map(|r| r.apply).collect())),
        secs(median(results.iter().filter_map(|r| r.failover).collect())),
    );
}
