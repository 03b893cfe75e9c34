//! `pve-sync import` against the PVE SIMULATOR: the example site applied, imported, validated
//! and planned again to zero changes; a guest made by hand with a setting the model lacks is
//! listed; the import time against 300 guests is printed as a FIGURE.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::time::Instant;

use rackpipe_model::types::SecretRef;
use rackpipe_proxmox::{GuestType, Params};
use rackpipe_pve_sim::{GuestKind, GuestSpec};
use rackpipe_pve_sync::import::{Options, import};
use rackpipe_pve_sync::{Options as SyncOptions, apply, plan};
use support::*;

fn options(name: &str) -> Options {
    Options {
        name: name.to_owned(),
        domain: "example.invalid".to_owned(),
        token: "env:PVE_TOKEN".parse::<SecretRef>().unwrap(),
        api_address: Some("127.0.0.1".parse().unwrap()),
        api_port: 8006,
        secret_prefix: "env:PVE_SSH_KEY".to_owned(),
        concurrency: 8,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_site_imports_to_zero_changes() {
    let Some(schema) = schema() else { return };
    let Some(site) = example("rachuna-dev") else {
        return;
    };
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    let opts = SyncOptions::default();
    let p1 = plan(&site, &pve, &opts, &FakeSecrets).await.unwrap();
    apply(&site, &pve, &opts, &FakeSecrets, Some(&p1))
        .await
        .unwrap();

    // A guest made by hand (no `rackpipe` tag, no onboot/protection: PVE's defaults), with
    // a setting the model has no field for (`nameserver`).
    let upid = pve
        .create_guest(
            "pve-s1",
            GuestType::Lxc,
            &Params::new()
                .with("vmid", 950)
                .with("ostemplate", "storage:vztmpl/ubuntu-24.04.tar.zst")
                .with("hostname", "by-hand")
                .with("cores", 2)
                .with("memory", 1024)
                .with("nameserver", "10.3.0.53")
                .with("rootfs", "local-lvm:4")
                .with("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
        )
        .await
        .unwrap();
    pve.wait_task(&upid).await.unwrap();

    let imported = import(&pve, &options("rachuna-dev")).await.unwrap();
    let yaml = &imported.yaml;
    assert!(!yaml.contains("4f1c-secret"), "the token leaked");
    // Validates as a site.
    let reloaded = load_site(yaml);
    let guests = &reloaded.proxmox.as_ref().unwrap().guests;
    let expected = site.proxmox.as_ref().unwrap().guests.len();
    assert!(guests.len() > expected, "{}", imported.report.human());
    // The hand-made guest is listed with what is missing.
    let by_hand = imported
        .report
        .not_imported
        .iter()
        .find(|n| n.guest.starts_with("by-hand"))
        .unwrap_or_else(|| panic!("{}", imported.report.human()));
    assert!(
        by_hand
            .missing
            .iter()
            .any(|m| m.starts_with("nameserver=10.3.0.53")),
        "{by_hand:?}"
    );
    assert!(
        yaml.contains("# not imported: nameserver=10.3.0.53"),
        "{yaml}"
    );
    // Every example guest is in the imported site with its VMID, node, cores, memory.
    for g in &site.proxmox.as_ref().unwrap().guests {
        let i = guests
            .iter()
            .find(|h| h.name == g.name)
            .unwrap_or_else(|| panic!("{} missing: {}", g.name, imported.report.human()));
        assert_eq!(
            (i.node.as_str(), i.cores, i.memory_mib, i.ha),
            (g.node.as_str(), g.cores, g.memory_mib, g.ha),
            "{}",
            g.name
        );
    }
    // Plan of the imported site against the same cluster: zero changes but adopting the
    // hand-made guest, which only adds the ownership tag (its absent onboot/protection equal
    // the site's `false`: PVE's documented default), and says it is an adoption.
    let p2 = plan(&reloaded, &pve, &opts, &FakeSecrets).await.unwrap();
    let other: Vec<_> = p2
        .changes
        .iter()
        .filter(|c| !c.resource.contains("950") && !c.resource.contains("by-hand"))
        .collect();
    assert!(other.is_empty(), "{other:#?}\n{yaml}");
    let adopt: Vec<_> = p2
        .changes
        .iter()
        .filter(|c| c.resource.contains("by-hand"))
        .collect();
    assert_eq!(adopt.len(), 1, "{:#?}", p2.changes);
    assert_eq!(
        adopt[0].after,
        Some(serde_json::json!({"tags": "rackpipe"})),
        "{:#?}",
        adopt[0]
    );
    assert_eq!(adopt[0].before, Some(serde_json::json!({"tags": null})));
    assert!(
        adopt[0].commands[0].starts_with("adoption: the guest was not made by rackpipe"),
        "{:#?}",
        adopt[0].commands
    );
    assert!(
        imported.report.choices.iter().any(
            |c| c == "by-hand (vmid 950): adopting it, the first apply adds the tag `rackpipe`"
        ),
        "{}",
        imported.report.human()
    );
    assert_schema_clean(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_of_300_guests_figure() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |_| {}).await;
    for i in 0..300u32 {
        let vmid = 1000 + i;
        sim.add_guest(GuestSpec {
            vmid,
            kind: GuestKind::Qemu,
            node: if i % 2 == 0 { "pve1" } else { "pve2" }.to_owned(),
            config: vec![
                ("name".into(), format!("vm{vmid}")),
                ("cores".into(), "2".into()),
                ("memory".into(), "2048".into()),
                (
                    "scsi0".into(),
                    format!("local-lvm:vm-{vmid}-disk-0,size=8G"),
                ),
                (
                    "net0".into(),
                    format!(
                        "virtio=BC:24:11:01:{:02X}:{:02X},bridge=vmbr0,tag=10",
                        i >> 8,
                        i & 0xff
                    ),
                ),
                ("tags".into(), "rackpipe;web".into()),
            ],
            running: true,
        })
        .unwrap();
    }
    let pve = client(&sim);
    let started = Instant::now();
    let imported = import(&pve, &options("big")).await.unwrap();
    let took = started.elapsed();
    assert_eq!(
        imported.report.counts.guests,
        300,
        "{}",
        imported.report.human()
    );
    assert_eq!(
        imported.report.counts.imported,
        300,
        "{}",
        imported.report.human()
    );
    eprintln!("FIGURE pve-sync import: 300 guests (plus a template) in {took:.2?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_one_line() {
    let pve = client_with(
        &{
            let Some(schema) = schema() else { return };
            let site = load_site(SMALL_SITE);
            sim_for(&site, schema, |_| {}).await
        },
        "ci@pve!sync=wrong",
        std::time::Duration::from_secs(2),
    );
    let e = import(&pve, &options("x")).await.unwrap_err().to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(e.starts_with("inventory"), "{e}");
}

/// A token that may read the guests but not the storages: the import stops at the first read
/// it is refused (one line naming it) and returns no site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_read_halfway_is_one_line_and_no_site() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |cfg| {
        cfg.tokens.push(rackpipe_pve_sim::TokenSpec {
            tokenid: "ci@pve!audit".into(),
            secret: "guests-only".into(),
            privileges: Some(vec![("/vms".into(), "VM.Audit".into())]),
        });
    })
    .await;
    let pve = client_with(
        &sim,
        "ci@pve!audit=guests-only",
        std::time::Duration::from_secs(5),
    );
    let e = import(&pve, &options("x")).await.unwrap_err().to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(!e.contains("guests-only"), "the token leaked: {e}");
    assert!(e.starts_with("storage local on node pve1: "), "{e}");
}

/// Nothing listens: one line naming the first read, transient (exit 75 in the binary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_is_one_transient_line() {
    let mut opts = rackpipe_proxmox::ClientOptions::new(
        "http://127.0.0.1:9",
        rackpipe_proxmox::ApiToken::parse(TOKEN).unwrap(),
    );
    opts.request_timeout = std::time::Duration::from_secs(2);
    let pve = rackpipe_proxmox::Client::new(opts).unwrap();
    let e = import(&pve, &options("x")).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    let e = e.to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(e.starts_with("inventory (/cluster/resources): "), "{e}");
}

/// The values pve-sync's diff gives a config key PVE's config leaves out
/// (`rackpipe_proxmox::normalize::CONFIG_DEFAULTS`) are the `default`s of the official API
/// schema (the PUT `/nodes/{node}/{lxc,qemu}/{vmid}/config` parameters of the bundled
/// pve-8.4 apidoc subset); `tags` and `description` have none there (absent means empty).
#[test]
fn absent_config_keys_take_the_api_schema_defaults() {
    let text = std::fs::read_to_string(rackpipe_pve_sim::bundled_schema()).unwrap();
    let endpoints: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let params = |kind: &str| {
        let path = format!("/nodes/{{node}}/{kind}/{{vmid}}/config");
        endpoints
            .iter()
            .find(|e| e["path"] == path.as_str())
            .unwrap_or_else(|| panic!("{path} not in the schema"))["info"]["PUT"]["parameters"]
            ["properties"]
            .clone()
    };
    let (lxc, qemu) = (params("lxc"), params("qemu"));
    for &(guest, key, value) in rackpipe_proxmox::normalize::CONFIG_DEFAULTS {
        let props = if guest == GuestType::Lxc { &lxc } else { &qemu };
        let default = &props[key]["default"];
        if matches!(key, "tags" | "description") {
            assert_eq!(props[key]["type"], "string", "{guest:?} {key}");
            assert!(default.is_null(), "{guest:?} {key}: {default}");
            assert_eq!(value, "", "{guest:?} {key}");
        } else {
            let documented = match default {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => panic!("{guest:?} {key}: no documented default ({other})"),
            };
            assert_eq!(value, documented, "{guest:?} {key}");
        }
    }
}
