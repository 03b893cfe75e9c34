//! Benchmark: fresh 3-node OpenBao raft cluster (loopback, TLS) → init → unseal → full
//! rachuna-net-style desired state applied. Prints the median over several runs, the API
//! requests of a no-change plan, and the failover time after SIGKILL of the active node.
//!
//! `cargo bench -p rackpipe-vault --bench fresh_cluster` (runs: `RACKPIPE_BENCH_RUNS`, default 5).
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

use rackpipe_vault::{
    ApplyOptions, InitOptions, PlanOptions, UnsealOptions, apply, desired, init, keys_from_file,
    plan, root_token_from_file, status, unseal,
};

struct Run {
    to_configured: Duration,
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
        .with_token(rackpipe_vault::Secret::new(root.expose()));
    let want = desired(&tc.site).unwrap();
    let t = Instant::now();
    apply(&api, &want, &ApplyOptions::default()).await.unwrap();
    let apply_time = t.elapsed();
    let to_configured = t0.elapsed();
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
            "run {}: fresh→configured {:.2}s (init {:.2}s, unseal+join {:.2}s, apply {:.2}s), no-change plan {} requests, failover {}",
            i + 1,
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
    println!(
        "median over {runs}: fresh→configured {:.2}s, init {:.2}s, unseal+join {:.2}s, apply {:.2}s, failover {:.2}s",
        secs(median(results.iter().map(|r| r.to_configured).collect())),
        secs(median(results.iter().map(|r| r.init).collect())),
        secs(median(results.iter().map(|r| r.unseal).collect())),
        secs(median(results.iter().map(|r| r.apply).collect())),
        secs(median(results.iter().filter_map(|r| r.failover).collect())),
    );
}
