//! Refresh benchmark against the PVE SIMULATOR (not real Proxmox): a 3-node cluster with
//! 300 guests and 20 ms injected latency per request.
//!
//! Compares the no-change plan read path (one `/cluster/resources?type=vm` call, then
//! config reads with bounded concurrency, then a normalised diff that must find zero
//! changes) with a one-request-per-guest sequential refresh.
//!
//! Run: `cargo bench -p rackpipe-proxmox --bench refresh` (needs `../shared/`).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rackpipe_proxmox::normalize::diff_config;
use rackpipe_proxmox::{ApiToken, Client, ClientOptions, GuestRef, GuestType};
use rackpipe_pve_sim::{GuestKind, GuestSpec, SimConfig, Simulator};

const GUESTS: u32 = 300;
const LATENCY: Duration = Duration::from_millis(20);
const RUNS: usize = 3;

fn guest_config(i: u32, kind: GuestKind) -> Vec<(String, String)> {
    let vmid = 100 + i;
    let mut c: Vec<(&str, String)> = vec![
        ("cores", "2".into()),
        ("tags", "bench;k8s".into()),
        ("onboot", "1".into()),
        ("description", format!("guest {i}")),
    ];
    match kind {
        GuestKind::Qemu => {
            c.push(("name", format!("vm{i}")));
            c.push(("memory", "4096".into()));
            c.push((
                "scsi0",
                format!("local-lvm:vm-{vmid}-disk-0,iothread=1,size=32G"),
            ));
            c.push((
                "net0",
                format!(
                    "virtio=BC:24:11:00:{:02X}:{:02X},bridge=vmbr0,firewall=1,tag=20",
                    i / 256,
                    i % 256
                ),
            ));
            c.push((
                "ipconfig0",
                format!("ip=10.0.20.{}/24,gw=10.0.20.1", i % 250 + 2),
            ));
        }
        GuestKind::Lxc => {
            c.push(("hostname", format!("ct{i}")));
            c.push(("memory", "1024".into()));
            c.push(("swap", "0".into()));
            c.push(("unprivileged", "1".into()));
            c.push(("features", "keyctl=1,nesting=1".into()));
            c.push(("rootfs", format!("local-lvm:vm-{vmid}-disk-0,size=8G")));
            c.push((
                "net0",
                format!("name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:01:{:02X}:{:02X},ip=dhcp,tag=10,type=veth", i / 256, i % 256),
            ));
        }
    }
    c.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn desired(i: u32, kind: GuestType) -> BTreeMap<String, String> {
    let mut d: Vec<(&str, String)> = vec![
        ("cores", "2".into()),
        ("tags", "K8s,bench".into()),
        ("onboot", "true".into()),
        ("description", format!("guest {i}\n")),
    ];
    match kind {
        GuestType::Qemu => {
            d.push(("name", format!("vm{i}")));
            d.push(("memory", "4096".into()));
            d.push(("scsi0", "local-lvm:32,iothread=1".into()));
            d.push(("net0", "virtio,bridge=vmbr0,tag=20,firewall=1".into()));
            d.push((
                "ipconfig0",
                format!("gw=10.0.20.1,ip=10.0.20.{}/24", i % 250 + 2),
            ));
        }
        GuestType::Lxc => {
            d.push(("hostname", format!("ct{i}")));
            d.push(("memory", "1024".into()));
            d.push(("swap", "0".into()));
            d.push(("unprivileged", "1".into()));
            d.push(("features", "nesting=1,keyctl=1".into()));
            d.push(("rootfs", "local-lvm:8".into()));
            d.push((
                "net0",
                "name=eth0,bridge=vmbr0,ip=dhcp,tag=10,firewall=1".into(),
            ));
        }
    }
    d.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut cfg = SimConfig::new(rackpipe_pve_sim::bundled_schema());
        cfg.nodes = vec!["pve1".into(), "pve2".into(), "pve3".into()];
        cfg.latency = LATENCY;
        let sim = Simulator::start(cfg).await.unwrap();
        for i in 0..GUESTS {
            let kind = if i % 2 == 0 { GuestKind::Qemu } else { GuestKind::Lxc };
            let node = format!("pve{}", i % 3 + 1);
            sim.add_guest(GuestSpec { vmid: 100 + i, kind, node, config: guest_config(i, kind), running: true }).unwrap();
        }
        let token = ApiToken::parse(&sim.auth_header()).unwrap();
        let pve = Client::new(ClientOptions::new(&sim.base_url(), token)).unwrap();
        println!("simulator: 3 nodes, {GUESTS} guests, {} ms latency per request, {RUNS} runs each", LATENCY.as_millis());

        for concurrency in [8usize, 16, 32] {
            let mut times = Vec::new();
            for _ in 0..RUNS {
                sim.reset_stats();
                let t = Instant::now();
                let inventory = pve.inventory().await.unwrap();
                let refs: Vec<GuestRef> = inventory.iter().filter_map(|r| r.guest_ref()).collect();
                let configs = pve.guest_configs(&refs, concurrency).await;
                let mut changes = 0;
                for (g, cfg) in &configs {
                    let cfg = cfg.as_ref().unwrap();
                    changes += diff_config(g.kind, &desired(g.vmid - 100, g.kind), &cfg.values).unwrap().len();
                }
                times.push(t.elapsed());
                assert_eq!(changes, 0, "a converged cluster must plan zero changes");
                assert_eq!(sim.stats().requests, u64::from(GUESTS) + 1);
            }
            println!(
                "no-change plan (1 inventory + {GUESTS} config reads, concurrency {concurrency:>2}): median {:>6.0} ms, min {:>6.0} ms, {} requests, 0 changes",
                median(times.clone()).as_secs_f64() * 1000.0,
                times.iter().min().unwrap().as_secs_f64() * 1000.0,
                GUESTS + 1
            );
        }

        sim.reset_stats();
        let t = Instant::now();
        let inventory = pve.inventory().await.unwrap();
        for r in &inventory {
            if let Some(g) = r.guest_ref() {
                pve.guest_config(&g).await.unwrap();
            }
        }
        println!(
            "one-request-per-guest sequential refresh:                          {:>6.0} ms, {} requests",
            t.elapsed().as_secs_f64() * 1000.0,
            sim.stats().requests
        );
    });
}
