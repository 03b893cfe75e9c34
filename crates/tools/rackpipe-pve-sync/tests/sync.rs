//! pve-sync against the PVE SIMULATOR: every request must pass the official schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::time::Duration;

use rackpipe_model::documents::{Action, PlanPart};
use rackpipe_proxmox::{GuestRef, GuestType, Params};
use rackpipe_pve_sim::{FailRule, GuestKind, GuestSpec};
use rackpipe_pve_sync::{Error, Options, apply, facts, plan};
use support::*;

/// A fresh plan of `site` has nothing to do, and the simulator saw no request its schema
/// rejects.
async fn assert_converged(
    site: &rackpipe_model::Site,
    pve: &rackpipe_proxmox::Client,
    sim: &rackpipe_pve_sim::Simulator,
) {
    let p = plan(site, pve, &opts(), &FakeSecrets).await.unwrap();
    assert_eq!(p.summary.total(), 0, "{:#?}", p.changes);
    assert_schema_clean(sim);
}

fn opts() -> Options {
    Options::default()
}

async fn converge_example(name: &str) {
    let Some(schema) = schema() else { return };
    let Some(site) = example(name) else { return };
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    let p1 = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    let guests = site.proxmox.as_ref().unwrap().guests.len();
    assert!(p1.summary.create >= guests, "{:?}", p1.summary);
    let result = apply(&site, &pve, &opts(), &FakeSecrets, Some(&p1))
        .await
        .unwrap();
    assert_eq!(result.summary.create, p1.summary.create);
    let facts = result.facts["guests"].as_array().unwrap();
    assert_eq!(facts.len(), guests);
    for f in facts {
        assert!(f["vmid"].as_u64().unwrap() >= 100);
        assert!(
            f["nics"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["mac"].is_string()),
            "{f}"
        );
    }
    // What pve-sync prints matches the committed schemas: the plan, the apply result (with
    // the site embedded) and the facts document.
    let facts = rackpipe_pve_sync::facts(&site, &pve, &opts(), &FakeSecrets)
        .await
        .unwrap();
    for (file, doc) in [
        ("plan.schema.json", serde_json::to_value(&p1).unwrap()),
        (
            "apply-result.schema.json",
            rackpipe_pve_sync::with_site(&result, &site),
        ),
        (
            "facts.schema.json",
            rackpipe_pve_sync::facts_document(&site, &facts),
        ),
    ] {
        assert_eq!(
            rackpipe_model::schema::check_document(file, &doc),
            Ok(Vec::new()),
            "{file}"
        );
    }
    let p2 = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    assert_eq!(p2.summary.total(), 0, "not converged: {:#?}", p2.changes);
    assert!(p2.unmanaged.is_empty(), "{:?}", p2.unmanaged);
    assert_schema_clean(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rachuna_net_plan_apply_plan_converges() {
    converge_example("rachuna-net").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rachuna_dev_plan_apply_plan_converges() {
    converge_example("rachuna-dev").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_site_converges_and_facts_match() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |c| c.strict_clone_locks = true).await;
    let pve = client(&sim);
    let p1 = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    // pool + template download + 4 guests
    assert_eq!(p1.summary.create, 6, "{:#?}", p1.changes);
    let r = apply(&site, &pve, &opts(), &FakeSecrets, None)
        .await
        .unwrap();
    assert_eq!(r.summary.create, 6);
    let p2 = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    assert_eq!(p2.summary.total(), 0, "{:#?}", p2.changes);

    let ct = sim.guest_config(201).unwrap();
    // The site's tags as PVE stores them, and the ownership tag.
    assert_eq!(ct["tags"], "db;rackpipe;web");
    assert_eq!(ct["unprivileged"], "0");
    assert!(
        ct["net0"].contains("hwaddr=BC:24:11:AA:00:01"),
        "{}",
        ct["net0"]
    );
    assert!(ct["mp0"].contains("mp=/srv"));
    assert_eq!(sim.guest_running(201), Some(true));
    assert_eq!(sim.guest_running(202), Some(false));
    let vm = sim.guest_config(301).unwrap();
    assert!(vm["scsi0"].contains("size=16G"), "{}", vm["scsi0"]);
    assert_eq!(vm["ipconfig0"], "ip=10.9.2.10/24");
    assert_eq!(vm["ciuser"], "admin");
    assert!(vm.contains_key("sshkeys"));

    sim.reset_stats();
    let two = Options {
        concurrency: 2,
        ..opts()
    };
    plan(&site, &pve, &two, &FakeSecrets).await.unwrap();
    let stats = sim.stats();
    assert!(
        stats.max_in_flight <= 2,
        "concurrency bound: {}",
        stats.max_in_flight
    );
    assert_eq!(
        stats.by_route.get("GET /cluster/resources"),
        Some(&1),
        "{:?}",
        stats.by_route
    );
    let f = facts(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    assert_eq!(f.len(), 4);
    let a = f.iter().find(|g| g.name == "ct-a").unwrap();
    assert_eq!((a.vmid, a.node.as_str()), (201, "pve1"));
    assert_eq!(a.nics[0].mac.as_deref(), Some("BC:24:11:AA:00:01"));
    assert_eq!(a.nics[0].address.as_deref(), Some("10.9.1.10"));
    let b = f.iter().find(|g| g.name == "vm-b").unwrap();
    assert!(b.vmid >= 100 && b.nics[0].mac.is_some(), "{b:?}");
    assert_schema_clean(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_planned_and_repaired() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    apply(&site, &pve, &opts(), &FakeSecrets, None)
        .await
        .unwrap();

    // By hand: grow ct-b's rootfs? No: change cores of ct-a, the NIC of vm-a, delete ct-b,
    // add an unmanaged guest and a protected unmanaged guest.
    let ct_a = GuestRef {
        node: "pve1".into(),
        kind: GuestType::Lxc,
        vmid: 201,
    };
    pve.update_config(&ct_a, &Params::new().with("cores", 4))
        .await
        .unwrap();
    let vm_a = GuestRef {
        node: "pve1".into(),
        kind: GuestType::Qemu,
        vmid: 301,
    };
    pve.update_config(
        &vm_a,
        &Params::new().with(
            "net0",
            "virtio=BC:24:11:BB:00:01,bridge=vmbr0,firewall=1,tag=30",
        ),
    )
    .await
    .unwrap();
    let ct_b = GuestRef {
        node: "pve2".into(),
        kind: GuestType::Lxc,
        vmid: 202,
    };
    let upid = pve.delete_guest(&ct_b, true).await.unwrap();
    pve.wait_task(&upid).await.unwrap();
    // 900 made by hand (no ownership tag), 901 protected, 902 one rackpipe made once (tagged)
    // that is no longer in the site.
    for (vmid, protection, tags) in [
        (900, "0", "web"),
        (901, "1", "rackpipe"),
        (902, "0", "Web;RackPipe"),
    ] {
        sim.add_guest(GuestSpec {
            vmid,
            kind: GuestKind::Lxc,
            node: "pve2".into(),
            config: vec![
                ("hostname".into(), format!("byhand{vmid}")),
                ("protection".into(), protection.into()),
                ("tags".into(), tags.into()),
                (
                    "rootfs".into(),
                    format!("local-lvm:vm-{vmid}-disk-0,size=2G"),
                ),
            ],
            running: false,
        })
        .unwrap();
    }

    let p = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    let find = |r: &str| p.changes.iter().find(|c| c.resource == r).unwrap();
    assert_eq!(find("guest/ct-a").action, Action::Update);
    assert_eq!(find("guest/ct-a").after.as_ref().unwrap()["cores"], "2");
    assert_eq!(find("guest/vm-a").action, Action::Update);
    assert!(
        find("guest/vm-a").after.as_ref().unwrap()["net0"]
            .as_str()
            .unwrap()
            .contains("tag=20")
    );
    assert_eq!(find("guest/ct-b").action, Action::Create);
    assert_eq!(p.summary.total(), 3, "{:#?}", p.changes);
    assert_eq!(
        p.unmanaged,
        vec![
            "lxc 900 (byhand900) on pve2: unmanaged, left alone (no `rackpipe` tag: not created by rackpipe)",
            "lxc 901 (byhand901) on pve2: protected, never deleted",
            "lxc 902 (byhand902) on pve2: deleted by apply --allow-destroy",
        ]
    );

    // Without --allow-destroy the hand-made guests stay.
    apply(&site, &pve, &opts(), &FakeSecrets, Some(&p))
        .await
        .unwrap();
    assert!(sim.guest_config(900).is_some());
    let destroy = Options {
        allow_destroy: true,
        ..opts()
    };
    let r = apply(&site, &pve, &destroy, &FakeSecrets, None)
        .await
        .unwrap();
    assert_eq!(r.summary.delete, 1);
    assert!(
        sim.guest_config(902).is_none(),
        "rackpipe's guest, gone from the site, deleted"
    );
    assert!(
        sim.guest_config(900).is_some(),
        "a guest rackpipe did not create is never deleted"
    );
    assert!(
        sim.guest_config(901).is_some(),
        "protected guest never deleted"
    );
    assert_converged(&site, &pve, &sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_destroy_deletes_only_what_rackpipe_created_and_adopts_older_guests() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    let r = apply(&site, &pve, &opts(), &FakeSecrets, None)
        .await
        .unwrap();
    let guests = &site.proxmox.as_ref().unwrap().guests;
    let made = r.facts["guests"].as_array().unwrap().clone();
    assert_eq!(made.len(), guests.len());
    // Every guest rackpipe created carries the ownership tag, as PVE stores tags.
    for f in &made {
        let vmid = u32::try_from(f["vmid"].as_u64().unwrap()).unwrap();
        let tags = sim.guest_config(vmid).unwrap()["tags"].clone();
        assert!(tags.split(';').any(|t| t == "rackpipe"), "{f} {tags}");
    }

    // Guests made before the ownership tag existed (tags as the site has them, no `rackpipe`):
    // the next plan adopts them (a tag update each), the one after plans nothing.
    for f in &made {
        let g = guests
            .iter()
            .find(|g| g.name.as_str() == f["name"])
            .unwrap();
        let gref = GuestRef {
            node: f["node"].as_str().unwrap().to_owned(),
            kind: if f["kind"] == "lxc" {
                GuestType::Lxc
            } else {
                GuestType::Qemu
            },
            vmid: u32::try_from(f["vmid"].as_u64().unwrap()).unwrap(),
        };
        let params = if g.tags.is_empty() {
            Params::new().with("delete", "tags")
        } else {
            Params::new().with(
                "tags",
                g.tags
                    .iter()
                    .map(AsRef::as_ref)
                    .collect::<Vec<&str>>()
                    .join(";"),
            )
        };
        pve.update_config(&gref, &params).await.unwrap();
    }
    // A guest somebody made by hand, not in the site.
    sim.add_guest(GuestSpec {
        vmid: 950,
        kind: GuestKind::Lxc,
        node: "pve2".into(),
        config: vec![
            ("hostname".into(), "byhand".into()),
            ("rootfs".into(), "local-lvm:vm-950-disk-0,size=2G".into()),
        ],
        running: true,
    })
    .unwrap();
    let p = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    assert_eq!(p.summary.update, guests.len(), "{:#?}", p.changes);
    for c in &p.changes {
        let after = c.after.as_ref().unwrap().as_object().unwrap();
        assert_eq!(after.keys().collect::<Vec<_>>(), ["tags"], "{c:?}");
    }
    let destroy = Options {
        allow_destroy: true,
        ..opts()
    };
    let r = apply(&site, &pve, &destroy, &FakeSecrets, Some(&p))
        .await
        .unwrap();
    assert_eq!(r.summary.delete, 0, "{:#?}", r.applied);
    assert!(
        sim.guest_config(950).is_some(),
        "a hand-made guest survives --allow-destroy"
    );
    let p = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    assert_eq!(p.summary.total(), 0, "adopted: {:#?}", p.changes);
    assert_eq!(
        p.unmanaged,
        vec![
            "lxc 950 (byhand) on pve2: unmanaged, left alone (no `rackpipe` tag: not created by rackpipe)"
        ]
    );

    // A guest removed from the site: it carries the tag, so --allow-destroy deletes it.
    let mut smaller = site.clone();
    let gone = smaller.proxmox.as_mut().unwrap().guests.remove(1);
    let p = plan(&smaller, &pve, &opts(), &FakeSecrets).await.unwrap();
    assert!(
        p.unmanaged
            .iter()
            .any(|u| u.contains(&format!("({})", gone.name))
                && u.ends_with("deleted by apply --allow-destroy")),
        "{:?}",
        p.unmanaged
    );
    let r = apply(&smaller, &pve, &destroy, &FakeSecrets, Some(&p))
        .await
        .unwrap();
    assert_eq!(r.summary.delete, 1, "{:#?}", r.applied);
    let gone_vmid = made
        .iter()
        .find(|f| f["name"] == gone.name.as_str())
        .unwrap()["vmid"]
        .as_u64()
        .unwrap();
    assert!(
        sim.guest_config(u32::try_from(gone_vmid).unwrap())
            .is_none()
    );
    assert!(sim.guest_config(950).is_some());
    assert_schema_clean(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_plan_is_refused() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    let p = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    sim.add_pool("other", "");
    let err = apply(&site, &pve, &opts(), &FakeSecrets, Some(&p))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::StalePlan(s) if s.part == PlanPart::Observed),
        "{err}"
    );
    assert_schema_clean(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_task_mid_apply_then_rerun_converges() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    sim.fail_next_task(FailRule {
        task_type: "vzcreate".into(),
        id: Some("202".into()),
        message: "unable to create CT 202 - rootfs disk quota exceeded".into(),
    });
    let err = apply(&site, &pve, &opts(), &FakeSecrets, None)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("ct-b") && msg.contains("quota exceeded"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    assert!(sim.guest_config(202).is_none(), "nothing half-created");
    assert!(sim.guest_config(201).is_some(), "the others went on");
    apply(&site, &pve, &opts(), &FakeSecrets, None)
        .await
        .unwrap();
    assert_converged(&site, &pve, &sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shrink_is_refused_and_grow_works() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    apply(&site, &pve, &opts(), &FakeSecrets, None)
        .await
        .unwrap();
    let smaller = load_site(&SMALL_SITE.replace(
        "{slot: rootfs, storage: local-lvm, size: 8G}",
        "{slot: rootfs, storage: local-lvm, size: 6G}",
    ));
    let err = plan(&smaller, &pve, &opts(), &FakeSecrets)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("proxmox.guests[0].disks[0].size: guest ct-a: rootfs is 8G"),
        "{msg}"
    );
    assert!(!err.is_transient());
    let bigger = load_site(&SMALL_SITE.replace(
        "{slot: rootfs, storage: local-lvm, size: 8G}",
        "{slot: rootfs, storage: local-lvm, size: 10G}",
    ));
    let p = plan(&bigger, &pve, &opts(), &FakeSecrets).await.unwrap();
    assert_eq!(p.summary.update, 1);
    assert!(
        p.changes[0]
            .commands
            .iter()
            .any(|c| c.contains("resize disk=rootfs size=10G"))
    );
    apply(&bigger, &pve, &opts(), &FakeSecrets, None)
        .await
        .unwrap();
    assert!(sim.guest_config(201).unwrap()["rootfs"].contains("size=10G"));
    assert_schema_clean(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_clearly_before_touching_anything() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    let cases = [
        (
            "{slot: net0, bridge: vmbr0}\n      source: {clone",
            "{slot: net0, bridge: vmbr7}\n      source: {clone",
            "proxmox.guests[3].nics[0].bridge: unknown bridge \"vmbr7\"",
        ),
        (
            "{slot: scsi0, storage: local-lvm, size: 4G}",
            "{slot: scsi0, storage: local, size: 4G}",
            "proxmox.guests[3].disks[0].storage: storage \"local\" does not hold images",
        ),
        (
            "node: pve2\n      cores: 1",
            "node: pve9\n      cores: 1",
            "proxmox.guests[1].node: unknown node \"pve9\"",
        ),
        (
            "vmid: 202",
            "vmid: 201",
            "proxmox.guests[1].vmid: VMID 201 clashes",
        ),
        (
            "source: {template: debian-12}\n      running",
            "source: {template: debian-13}\n      running",
            "proxmox.guests[1].source.template: unknown template \"debian-13\"",
        ),
    ];
    for (from, to, want) in cases {
        assert!(SMALL_SITE.contains(from), "{from}");
        let bad = SMALL_SITE.replacen(from, to, 1);
        // The site validator refuses these too; pve-sync checks again for callers that
        // hand it an unvalidated site (type-checked only).
        assert!(rackpipe_model::load_and_validate("bad.yaml", bad.as_bytes()).is_err());
        let (bad_site, _) = rackpipe_model::load("bad.yaml", bad.as_bytes()).unwrap();
        let err = plan(&bad_site, &pve, &opts(), &FakeSecrets)
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with(want), "{err}");
        let diags = rackpipe_pve_sync::check(&bad_site);
        assert_eq!(diags.len(), 1);
        assert!(want.starts_with(&diags[0].path), "{diags:?}");
        assert!(rackpipe_pve_sync::check(&site).is_empty());
    }
    assert_eq!(
        sim.stats().requests,
        0,
        "site errors are found before any request"
    );

    // A VMID used by another guest in the cluster.
    sim.add_guest(GuestSpec {
        vmid: 201,
        kind: GuestKind::Qemu,
        node: "pve1".into(),
        config: vec![("name".into(), "someone-else".into())],
        running: false,
    })
    .unwrap();
    let err = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("proxmox.guests[0].vmid: VMID 201 clash"),
        "{err}"
    );
    // A clone template that is not there.
    let missing = load_site(
        &SMALL_SITE
            .replace("vmid: 9000, full: true", "vmid: 9100, full: true")
            .replace("vmid: 201", "vmid: 211"),
    );
    let err = plan(&missing, &pve, &opts(), &FakeSecrets)
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "proxmox.guests[2].source.clone.vmid: guest vm-a: template VM 9100 does not exist"
        ),
        "{err}"
    );
    assert_schema_clean(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_and_timeouts() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |c| c.latency = Duration::from_millis(400)).await;
    let bad = client_with(&sim, "ci@pve!sync=wrong", Duration::from_secs(5));
    let err = plan(&site, &bad, &opts(), &FakeSecrets).await.unwrap_err();
    assert!(err.to_string().contains("authentication failed"), "{err}");
    assert!(!err.is_transient());
    let slow = client_with(&sim, TOKEN, Duration::from_millis(100));
    let err = apply(&site, &slow, &opts(), &FakeSecrets, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(err.is_transient(), "a timeout exits 75");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(sim.guest_config(201).is_none(), "nothing created");
}

fn tls_identity() -> (rackpipe_pve_sim::TlsIdentity, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.self_signed(&key).unwrap();
    (
        rackpipe_pve_sim::TlsIdentity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
        cert.der().to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_mismatch_is_a_clear_permanent_error() {
    use rackpipe_proxmox::{ApiToken, Client, ClientOptions, Fingerprint, TlsMode};
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let (identity, der) = tls_identity();
    let sim = sim_for(&site, schema, |c| c.tls = Some(identity)).await;
    let connect = |tls| {
        let mut o = ClientOptions::new(&sim.base_url(), ApiToken::parse(TOKEN).unwrap());
        o.tls = tls;
        Client::new(o).unwrap()
    };
    let wrong = connect(TlsMode::Pinned(Fingerprint([7; 32])));
    let err = plan(&site, &wrong, &opts(), &FakeSecrets)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("inventory (/cluster/resources): "),
        "{err}"
    );
    assert!(err.to_string().contains("fingerprint mismatch"), "{err}");
    assert!(
        !err.is_transient(),
        "a TLS mismatch is not retried (exit 1)"
    );
    let right = connect(TlsMode::Pinned(Fingerprint::of_der(&der)));
    let p = plan(&site, &right, &opts(), &FakeSecrets).await.unwrap();
    assert_eq!(p.summary.create, 6);
    assert_schema_clean(&sim);
}

/// Issue 17, one way to wait and fail: the inventory read fails twice with pveproxy's 596 and
/// is repeated within the request timeout; the plan is the one without the failures, and
/// costs two requests more (every request sent counts). A clone that fails with a 596 is
/// not sent again (it may have happened): the apply stops there, transient (exit 75).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_reads_are_retried_and_writes_are_not() {
    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    sim.reset_stats();
    let clean = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    let clean_requests = sim.stats().requests;

    sim.reset_stats();
    sim.fail_next("GET", "/cluster/resources", 2, 596);
    let retried = plan(&site, &pve, &opts(), &FakeSecrets).await.unwrap();
    let stats = sim.stats();
    assert_eq!(stats.requests, clean_requests + 2, "{:?}", stats.by_route);
    assert_eq!(
        stats.by_route.get("GET /cluster/resources (injected)"),
        Some(&2)
    );
    assert_eq!(stats.by_route.get("GET /cluster/resources"), Some(&1));
    assert_eq!(
        serde_json::to_value(&retried).unwrap(),
        serde_json::to_value(&clean).unwrap()
    );

    sim.reset_stats();
    sim.fail_next("POST", "/nodes/pve1/qemu/9000/clone", 1, 596);
    let err = apply(&site, &pve, &opts(), &FakeSecrets, None)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().contains("HTTP 596: Connection timed out"),
        "{err}"
    );
    let stats = sim.stats();
    assert_eq!(
        stats
            .by_route
            .get("POST /nodes/pve1/qemu/9000/clone (injected)"),
        Some(&1)
    );
    // The other clone (and only it) went through: the failed one was not sent again.
    assert_eq!(
        stats.by_route.get("POST /nodes/{node}/qemu/{vmid}/clone"),
        Some(&1),
        "{:?}",
        stats.by_route
    );
    assert_schema_clean(&sim);
}

/// Issue 17, progress: the guest loop of apply reports the guests done of those to create or
/// change, and each clone as it starts (`rackpipe_cli::progress`; in CI, plain lines).
#[tokio::test(flavor = "current_thread")]
async fn apply_reports_guests_and_clones_as_progress() {
    use tracing_subscriber::layer::SubscriberExt as _;

    let Some(schema) = schema() else { return };
    let site = load_site(SMALL_SITE);
    let sim = sim_for(&site, schema, |_| {}).await;
    let pve = client(&sim);
    let lines = rackpipe_testkit::Captured::default();
    let sink = lines.clone();
    let layer = rackpipe_cli::progress::ProgressLayer::new("pve-sync", false, move || sink.clone());
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    apply(&site, &pve, &opts(), &FakeSecrets, None)
        .await
        .unwrap();
    drop(guard);
    let text = lines.text();
    let shown: Vec<&str> = text.lines().collect();
    let start = shown.iter().position(|l| *l == "pve-sync: guests: 0/4");
    let first_clone = shown.iter().position(|l| l.starts_with("pve-sync: clone "));
    assert!(start.is_some() && start < first_clone, "{text}");
    assert_eq!(shown.last(), Some(&"pve-sync: guests: 4/4"), "{text}");
    assert!(
        shown.contains(&"pve-sync: clone 9000 -> 301 on pve1"),
        "{text}"
    );
    assert_eq!(
        shown
            .iter()
            .filter(|l| l.starts_with("pve-sync: clone 9000 -> "))
            .count(),
        2,
        "{text}"
    );
}
