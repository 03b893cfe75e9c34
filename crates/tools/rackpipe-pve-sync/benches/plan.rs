//! No-change plan benchmark against the PVE SIMULATOR (not real Proxmox): a 3-node cluster
//! with 300 guests (150 LXC, 150 VM clones) and 20 ms injected latency per request.
//!
//! Compares `pve-sync plan` (one `/cluster/resources?type=vm`, config reads for existing
//! guests with bounded concurrency, normalised diff that must find zero changes) with the
//! Terraform providers' refresh pattern scripted here: list `/nodes/{n}/qemu` and `/lxc`
//! per node, then per guest `GET .../config` and `GET .../status/current`, at Terraform's
//! default parallelism (10) and sequentially.
//!
//! Run: `cargo bench -p rackpipe-pve-sync --bench plan` (needs `../shared/`).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use rackpipe_model::types::SecretRef;
use rackpipe_proxmox::{ApiToken, Client, ClientOptions, Params};
use rackpipe_pve_sim::{GuestKind, GuestSpec, SimConfig, Simulator, StorageSpec};
use rackpipe_pve_sync::{Options, SecretSource};

const GUESTS: u32 = 300;
const NODES: [&str; 3] = ["pve1", "pve2", "pve3"];
const LATENCY: Duration = Duration::from_millis(20);
const RUNS: usize = 3;

struct NoSecrets;
impl SecretSource for NoSecrets {
    fn resolve(
        &self,
        r: &SecretRef,
        field: &str,
    ) -> Result<rackpipe_secrets::Secret, rackpipe_secrets::Error> {
        Err(rackpipe_secrets::Error::new(
            field,
            r.as_str(),
            rackpipe_secrets::ErrorKind::NotFound("not used".to_owned()),
        ))
    }
}

fn mac(i: u32) -> String {
    format!("BC:24:11:10:{:02X}:{:02X}", i / 256, i % 256)
}

fn site_yaml() -> String {
    let mut y = String::from(
        "apiVersion: rackpipe/v1\nkind: Site\nmetadata: {name: bench, domain: bench.test}\nproxmox:\n  cluster: bench\n  api: {node: pve1, token: \"env:PVE_TOKEN\"}\n  nodes:\n    - {name: pve1, address: 10.9.0.1}\n    - {name: pve2, address: 10.9.0.2}\n    - {name: pve3, address: 10.9.0.3}\n  storages:\n    - {name: local, type: dir, content: [vztmpl, iso]}\n    - {name: local-lvm, type: lvmthin, content: [images, rootdir]}\n  templates:\n    - {name: debian-12, storage: local, node: pve1, url: \"http://download.example.invalid/debian-12-standard_12.7-1_amd64.tar.zst\", file_name: debian-12-standard_12.7-1_amd64.tar.zst, content: vztmpl}\n  guests:\n",
    );
    for i in 0..GUESTS {
        let vmid = 1000 + i;
        let node = if i % 2 == 0 {
            "pve1"
        } else {
            NODES[(i as usize) % 3]
        };
        if i % 2 == 0 {
            // LXC on pve1 (the template's storage is local to pve1).
            let _ = writeln!(
                y,
                "    - {{name: ct{i}, kind: lxc, vmid: {vmid}, node: {node}, cores: 2, memory_mib: 1024, disks: [{{slot: rootfs, storage: local-lvm, size: 8G}}], nics: [{{slot: net0, bridge: vmbr0, vlan: 10, mac: \"{}\", firewall: true, address: 10.10.{}.{}/16}}], source: {{template: debian-12}}, features: {{nesting: true, keyctl: true}}, tags: [Bench, k8s], description: guest {i}, onboot: true}}",
                mac(i),
                i / 250,
                i % 250 + 2
            );
        } else {
            let _ = writeln!(
                y,
                "    - {{name: vm{i}, kind: qemu, vmid: {vmid}, node: {node}, cores: 2, memory_mib: 4096, disks: [{{slot: scsi0, storage: local-lvm, size: 32G}}], nics: [{{slot: net0, bridge: vmbr0, vlan: 20, mac: \"{}\", firewall: true}}], source: {{clone: {{vmid: 9000}}}}, tags: [bench, K8s], description: guest {i}, onboot: true}}",
                mac(i)
            );
        }
    }
    y
}

fn seed(sim: &Simulator) {
    sim.add_volume(
        "pve1",
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        "vztmpl",
        200 << 20,
    )
    .unwrap();
    sim.add_guest(GuestSpec {
        vmid: 9000,
        kind: GuestKind::Qemu,
        node: "pve1".into(),
        config: vec![
            ("template".into(), "1".into()),
            ("name".into(), "tmpl".into()),
            ("scsi0".into(), "local-lvm:base-9000-disk-0,size=4G".into()),
        ],
        running: false,
    })
    .unwrap();
    for i in 0..GUESTS {
        let vmid = 1000 + i;
        let node = if i % 2 == 0 {
            "pve1"
        } else {
            NODES[(i as usize) % 3]
        };
        let mut c: Vec<(&str, String)> = vec![
            ("cores", "2".into()),
            ("tags", "bench;k8s".into()),
            ("onboot", "1".into()),
            ("protection", "0".into()),
            ("description", format!("guest {i}")),
        ];
        let kind = if i % 2 == 0 {
            c.push(("hostname", format!("ct{i}")));
            c.push(("memory", "1024".into()));
            c.push(("swap", "0".into()));
            c.push(("unprivileged", "1".into()));
            c.push(("features", "keyctl=1,nesting=1".into()));
            c.push(("rootfs", format!("local-lvm:vm-{vmid}-disk-0,size=8G")));
            c.push((
                "net0",
                format!(
                    "name=eth0,bridge=vmbr0,firewall=1,hwaddr={},ip=dhcp,tag=10,type=veth",
                    mac(i)
                ),
            ));
            GuestKind::Lxc
        } else {
            c.push(("name", format!("vm{i}")));
            c.push(("memory", "4096".into()));
            c.push(("scsi0", format!("local-lvm:vm-{vmid}-disk-0,size=32G")));
            c.push((
                "net0",
                format!("virtio={},bridge=vmbr0,firewall=1,tag=20", mac(i)),
            ));
            GuestKind::Qemu
        };
        sim.add_guest(GuestSpec {
            vmid,
            kind,
            node: node.into(),
            config: c.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            running: true,
        })
        .unwrap();
    }
}

async fn provider_refresh(pve: &Client, parallelism: usize) -> usize {
    let mut refs = Vec::new();
    for node in NODES {
        for kind in ["qemu", "lxc"] {
            let list = pve
                .get(&format!("/nodes/{node}/{kind}"), &Params::new())
                .await
                .unwrap();
            for g in list.as_array().unwrap() {
                let vmid = g["vmid"].as_u64().unwrap();
                refs.push(format!("/nodes/{node}/{kind}/{vmid}"));
            }
        }
    }
    let n = refs.len();
    stream::iter(refs)
        .map(|path| async move {
            pve.get(&format!("{path}/config"), &Params::new())
                .await
                .unwrap();
            pve.get(&format!("{path}/status/current"), &Params::new())
                .await
                .unwrap();
        })
        .buffer_unordered(parallelism)
        .collect::<Vec<()>>()
        .await;
    n
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut cfg = SimConfig::new(rackpipe_pve_sim::bundled_schema());
        cfg.nodes = NODES.iter().map(|s| (*s).to_owned()).collect();
        cfg.storages = vec![
            StorageSpec::new("local", "dir", &["vztmpl", "iso"], false),
            StorageSpec::new("local-lvm", "lvmthin", &["images", "rootdir"], false),
        ];
        cfg.latency = LATENCY;
        let sim = Simulator::start(cfg).await.unwrap();
        seed(&sim);
        let yaml = site_yaml();
        let site = rackpipe_model::load_and_validate("bench.yaml", yaml.as_bytes())
            .unwrap()
            .site;
        let token = ApiToken::parse("root@pam!sim=00000000-0000-0000-0000-000000000000").unwrap();
        let pve = Client::new(ClientOptions::new(&sim.base_url(), token)).unwrap();

        let mut rows = Vec::new();
        for (label, concurrency) in [("pve-sync plan (concurrency 8)", 8), ("pve-sync plan (concurrency 16)", 16)] {
            let opts = Options {
                concurrency,
                allow_destroy: false,
            };
            let mut times = Vec::new();
            let mut requests = 0;
            for _ in 0..RUNS {
                sim.reset_stats();
                let t = Instant::now();
                let plan = rackpipe_pve_sync::plan(&site, &pve, &opts, &NoSecrets)
                    .await
                    .unwrap();
                times.push(t.elapsed());
                assert_eq!(plan.summary.total(), 0, "{:#?}", plan.changes.first());
                let stats = sim.stats();
                assert!(stats.rejected.is_empty(), "{:?}", stats.rejected);
                requests = stats.requests;
            }
            rows.push((label.to_owned(), requests, median(times)));
        }
        for (label, par) in [("provider refresh (parallelism 10)", 10), ("provider refresh (sequential)", 1)] {
            let mut times = Vec::new();
            let mut requests = 0;
            let runs = if par == 1 { 1 } else { RUNS };
            for _ in 0..runs {
                sim.reset_stats();
                let t = Instant::now();
                let n = provider_refresh(&pve, par).await;
                times.push(t.elapsed());
                assert_eq!(n, GUESTS as usize + 1);
                requests = sim.stats().requests;
            }
            rows.push((label.to_owned(), requests, median(times)));
        }
        println!(
            "PVE SIMULATOR, {} nodes, {GUESTS} guests, {} ms latency per request, median of {RUNS} runs",
            NODES.len(),
            LATENCY.as_millis()
        );
        println!("{:<36} {:>9} {:>10}", "variant", "requests", "wall (ms)");
        for (label, req, t) in &rows {
            println!("{label:<36} {req:>9} {:>10.0}", t.as_secs_f64() * 1000.0);
        }
        let base = rows[0].2.as_secs_f64();
        for (label, req, t) in &rows[2..] {
            println!(
                "{label} vs pve-sync plan (concurrency 8): {:.1}x the wall time, {:.2}x the requests",
                t.as_secs_f64() / base,
                *req as f64 / rows[0].1 as f64
            );
        }
        println!(
            "goal: no-change plan of {GUESTS} guests under 2 s: {}",
            if rows[0].2 < Duration::from_secs(2) { "met" } else { "NOT met" }
        );
    });
}
