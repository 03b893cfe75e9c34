//! Plan time and request count (the closing-note figures of issue 6), against the REST
//! simulator in-process on 127.0.0.1:
//!
//! - the rachuna-net site after apply (a zero-change plan), and
//! - a synthetic router with 2,000 firewall rules and 500 static leases, planned against a
//!   desired state that describes exactly those entries,
//!
//! each read once per menu (what `plan` does) and, for comparison, one request per object
//! (`GET /rest/<menu>?.id=*X` after listing the ids, as terraform-routeros refreshes). Run
//! with `cargo bench -p rackpipe-ros-render --bench plan`; `ROS_BENCH_LATENCY_MS` adds a
//! per-request latency to the (serial) simulator.
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use rackpipe_ros_render::apply::{ApplyOptions, apply_config};
use rackpipe_ros_render::plan::{PlanOptions, plan_config};
use rackpipe_ros_render::{Connection, Password, RestClient, Trust};
use rackpipe_ros_sim::{SimConfig, Simulator};
use rackpipe_routeros::{Command, Config, Props};

fn synthetic(rules: usize, leases: usize) -> Config {
    let mut c = Config::default();
    for i in 0..rules {
        c.push(
            "/ip/firewall/filter",
            Command::add(Props::from_pairs([
                ("chain", "input".to_owned()),
                ("action", "accept".to_owned()),
                ("protocol", "tcp".to_owned()),
                (
                    "src-address",
                    format!("10.{}.{}.0/24", (i / 256) % 256, i % 256),
                ),
                ("dst-port", format!("{}", 10_000 + i % 50_000)),
                ("comment", format!("synthetic rule {i}")),
            ])),
        );
    }
    for i in 0..leases {
        let n = u32::try_from(i).unwrap_or(0);
        c.push(
            "/ip/dhcp-server/lease",
            Command::add(Props::from_pairs([
                ("address", format!("10.200.{}.{}", n / 250, n % 250 + 2)),
                (
                    "mac-address",
                    format!("02:00:00:00:{:02X}:{:02X}", n / 256, n % 256),
                ),
                ("comment", format!("synthetic lease {i}")),
            ])),
        );
    }
    c
}

fn client(sim: &Simulator) -> RestClient {
    RestClient::new(&Connection {
        url: sim.base_url(),
        user: "admin".to_owned(),
        password: Password::new("sim-password"),
        trust: Trust::LoopbackHttp,
        timeout: Duration::from_secs(60),
    })
    .expect("client")
}

/// (median seconds, requests) of a list-per-menu plan.
async fn time_plan(desired: &Config, client: &RestClient, runs: usize) -> (f64, u64, usize) {
    let mut times = Vec::new();
    let mut requests = 0;
    let mut changes = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let planned = plan_config("bench", "r", desired, client, PlanOptions::default())
            .await
            .expect("plan");
        times.push(start.elapsed().as_secs_f64());
        requests = planned.requests;
        changes = planned.plan.summary.total();
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], requests, changes)
}

/// One request per object: list ids, then `GET ?.id=` for each row of every menu.
async fn time_per_object(desired: &Config, client: &RestClient) -> (f64, u64) {
    let before = client.requests();
    let start = Instant::now();
    for path in desired.paths() {
        let rows = client.list(path).await.expect("list");
        for row in rows {
            if let Some(id) = row.get(".id").and_then(|v| v.as_str()) {
                client
                    .list(&format!("{path}?.id={}", id.replace('*', "%2A")))
                    .await
                    .expect("get");
            }
        }
    }
    (start.elapsed().as_secs_f64(), client.requests() - before)
}

fn main() {
    let latency = std::env::var("ROS_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0u64);
    let runtime = rackpipe_ros_render::runtime().expect("runtime");
    runtime.block_on(async {
        println!(
            "simulator latency per request: {latency} ms (serial, like RouterOS's www server)"
        );
        println!(
            "{:<34} {:>8} {:>10} {:>8} | {:>12} {:>10}",
            "case", "changes", "plan (ms)", "requests", "per-obj (ms)", "requests"
        );
        // rachuna-net after apply.
        let path = rackpipe_testkit::project_root().join("examples/rachuna-net/site.yaml");
        if let Ok(bytes) = std::fs::read(&path) {
            let site = rackpipe_model::load_and_validate("rachuna-net", &bytes)
                .expect("site")
                .site;
            // Every menu the renderer writes (the simulator models them all).
            let desired = rackpipe_ros_render::desired(&site).expect("desired");
            let mut ports: Vec<String> = (1..=10).map(|i| format!("ether{i}")).collect();
            ports.push("sfp-sfpplus1".to_owned());
            let sim = Simulator::start(SimConfig {
                management: None,
                ethernet_ports: ports,
                ..SimConfig::default()
            })
            .await
            .expect("sim");
            let c = client(&sim);
            apply_config("bench", "r", &desired, &c, &ApplyOptions::default())
                .await
                .expect("apply");
            // Latency applies from here on.
            drop(sim);
            let sim = Simulator::start(SimConfig {
                management: None,
                ethernet_ports: (1..=10)
                    .map(|i| format!("ether{i}"))
                    .chain(["sfp-sfpplus1".to_owned()])
                    .collect(),
                latency: Duration::from_millis(latency),
                ..SimConfig::default()
            })
            .await
            .expect("sim");
            let c = client(&sim);
            apply_config("bench", "r", &desired, &c, &ApplyOptions::default())
                .await
                .expect("apply");
            let (t, n, changes) = time_plan(&desired, &c, 11).await;
            let (tp, np) = time_per_object(&desired, &c).await;
            println!(
                "{:<34} {:>8} {:>10.2} {:>8} | {:>12.2} {:>10}",
                "rachuna-net (after apply)",
                changes,
                t * 1e3,
                n,
                tp * 1e3,
                np
            );
        } else {
            println!("rachuna-net: {} absent, skipped", path.display());
        }
        // Synthetic: 2,000 rules + 500 leases.
        let sim = Simulator::start(SimConfig {
            management: None,
            latency: Duration::from_millis(latency),
            ..SimConfig::default()
        })
        .await
        .expect("sim");
        sim.populate_synthetic(2000, 500).expect("populate");
        let desired = synthetic(2000, 500);
        let c = client(&sim);
        let (t, n, changes) = time_plan(&desired, &c, 5).await;
        let (tp, np) = time_per_object(&desired, &c).await;
        println!(
            "{:<34} {:>8} {:>10.2} {:>8} | {:>12.2} {:>10}",
            "synthetic 2000 rules + 500 leases",
            changes,
            t * 1e3,
            n,
            tp * 1e3,
            np
        );
    });
}
