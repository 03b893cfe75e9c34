//! Reading a synthetic router (2,000 firewall rules, 500 DHCP leases) from the simulator:
//! one list request per menu vs one request per object (terraform's refresh pattern).
//!
//! `cargo bench -p rackpipe-ros-sim --bench list_vs_per_object [-- LATENCY_MS]` prints wall
//! time and request counts for both strategies. The default per-request latency is 1 ms
//! (the simulator serves requests one at a time, like RouterOS's www server).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use rackpipe_ros_sim::{SimConfig, Simulator};
use serde_json::Value;

const MENUS: [&str; 2] = ["ip/firewall/filter", "ip/dhcp-server/lease"];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let latency_ms: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1);
    let config = SimConfig {
        latency: Duration::from_millis(latency_ms),
        ..SimConfig::default()
    };
    let Ok(sim) = Simulator::start(config).await else {
        eprintln!("cannot start the simulator");
        return;
    };
    if let Err(e) = sim.populate_synthetic(2000, 500) {
        eprintln!("{e}");
        return;
    }
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            http.get(path)
                .basic_auth("admin", Some("sim-password"))
                .send()
                .await
                .ok()?
                .json::<Value>()
                .await
                .ok()
        }
    };

    sim.reset_stats();
    let started = Instant::now();
    let mut objects = Vec::new();
    for menu in MENUS {
        let rows = get(format!("{}/{menu}", sim.rest_url()))
            .await
            .unwrap_or(Value::Null);
        for row in rows.as_array().into_iter().flatten() {
            if let Some(id) = row[".id"].as_str() {
                objects.push((menu, id.to_owned()));
            }
        }
    }
    let list_time = started.elapsed();
    let list_requests = sim.stats().requests;

    sim.reset_stats();
    let started = Instant::now();
    let mut fetched = 0usize;
    for (menu, id) in &objects {
        if get(format!("{}/{menu}?.id={id}", sim.rest_url()))
            .await
            .is_some()
        {
            fetched += 1;
        }
    }
    let per_object_time = started.elapsed();
    let per_object_requests = sim.stats().requests;

    println!(
        "synthetic router: {} objects, {latency_ms} ms latency per request, serial server",
        objects.len()
    );
    println!("one list request per menu:  {list_requests:>5} requests, {list_time:?}");
    println!(
        "one request per object:     {per_object_requests:>5} requests, {per_object_time:?} ({fetched} fetched)"
    );
    println!(
        "ratio: {:.1}x",
        per_object_time.as_secs_f64() / list_time.as_secs_f64().max(1e-9)
    );
}
