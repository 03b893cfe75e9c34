//! The client against the PVE simulator: every request it sends must pass the official
//! schema (the simulator records rejections, and each test asserts there were none).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::time::Duration;

use rackpipe_model::wait::READ_ATTEMPTS;
use rackpipe_proxmox::normalize::diff_config;
use rackpipe_proxmox::{
    ApiToken, Client, ClientOptions, Error, Fingerprint, GuestRef, GuestType, Params, TlsMode,
};
use rackpipe_pve_sim::{
    FailRule, GuestKind, GuestSpec, SimConfig, Simulator, TlsIdentity, TokenSpec,
};

fn config() -> Option<SimConfig> {
    let mut cfg = SimConfig::new(rackpipe_pve_sim::bundled_schema());
    cfg.lock_wait = Duration::from_millis(200);
    cfg.tokens.push(TokenSpec {
        tokenid: "ci@pve!sync".into(),
        secret: "4f1c-secret".into(),
        privileges: None,
    });
    Some(cfg)
}

fn client_for(sim: &Simulator, tls: TlsMode) -> Client {
    let token = ApiToken::parse("ci@pve!sync=4f1c-secret").unwrap();
    let mut opts = ClientOptions::new(&sim.base_url(), token);
    opts.tls = tls;
    opts.task_poll_interval = Duration::from_millis(10);
    opts.task_timeout = Duration::from_secs(10);
    Client::new(opts).unwrap()
}

fn assert_schema_clean(sim: &Simulator) {
    let stats = sim.stats();
    assert!(
        stats.rejected.is_empty(),
        "client sent requests PVE would refuse: {:?}",
        stats.rejected
    );
    assert!(stats.unimplemented.is_empty(), "{:?}", stats.unimplemented);
}

fn template(sim: &Simulator) {
    sim.add_guest(GuestSpec {
        vmid: 9000,
        kind: GuestKind::Qemu,
        node: "pve1".into(),
        config: vec![
            ("template".into(), "1".into()),
            ("name".into(), "debian12-cloud".into()),
            ("cores".into(), "1".into()),
            ("memory".into(), "1024".into()),
            ("scsi0".into(), "local-lvm:base-9000-disk-0,size=4G".into()),
            (
                "ide2".into(),
                "local-lvm:vm-9000-cloudinit,media=cdrom".into(),
            ),
            (
                "net0".into(),
                "virtio=BC:24:11:00:00:01,bridge=vmbr0".into(),
            ),
        ],
        running: false,
    })
    .unwrap();
}

#[tokio::test]
async fn clone_configure_resize_start_and_converge() {
    let Some(cfg) = config() else { return };
    let sim = Simulator::start(cfg).await.unwrap();
    template(&sim);
    sim.add_pool("k8s", "");
    let pve = client_for(&sim, TlsMode::System);

    assert!(pve.vmid_is_free(101).await.unwrap());
    assert!(!pve.vmid_is_free(9000).await.unwrap());
    assert_eq!(pve.next_vmid().await.unwrap(), 100);

    let upid = pve
        .clone_vm(
            "pve1",
            9000,
            &Params::new()
                .with("newid", 101)
                .with("name", "k8s-cp1")
                .flag("full", false)
                .with("pool", "k8s"),
        )
        .await
        .unwrap();
    assert_eq!(upid.kind, "qmclone");
    pve.wait_task(&upid).await.unwrap();

    let vm = GuestRef {
        node: "pve1".into(),
        kind: GuestType::Qemu,
        vmid: 101,
    };
    let cfg = pve.guest_config(&vm).await.unwrap();
    let desired: BTreeMap<String, String> = [
        ("cores", "4"),
        ("memory", "8192"),
        ("tags", "K8s;control-plane"),
        ("net0", "virtio,bridge=vmbr0,tag=20,firewall=1"),
        ("ipconfig0", "ip=10.0.20.11/24,gw=10.0.20.1"),
        ("ciuser", "ops"),
        ("sshkeys", "ssh-ed25519 AAAAC3 ops@example"),
        ("onboot", "1"),
        ("protection", "1"),
        ("description", "control plane 1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let changes = diff_config(GuestType::Qemu, &desired, &cfg.values).unwrap();
    assert_eq!(changes.len(), desired.len(), "{changes:?}");
    let mut params = Params::new().with("digest", cfg.digest.clone().unwrap());
    for c in &changes {
        let value = if c.key == "sshkeys" {
            rackpipe_proxmox::normalize::encode_sshkeys(&c.after)
        } else {
            c.after.clone()
        };
        params.push(&c.key, value);
    }
    // net0 must keep the MAC PVE generated.
    let mac_net0 = {
        let old = rackpipe_proxmox::normalize::parse_property_string(
            GuestType::Qemu,
            "net0",
            cfg.get("net0").unwrap(),
        )
        .unwrap();
        let mut new = rackpipe_proxmox::normalize::parse_property_string(
            GuestType::Qemu,
            "net0",
            params.get("net0").unwrap(),
        )
        .unwrap();
        new.insert("macaddr".into(), old["macaddr"].clone());
        rackpipe_proxmox::normalize::print_property_string(GuestType::Qemu, "net0", &new)
    };
    params.push("net0", mac_net0);
    pve.update_config(&vm, &params).await.unwrap();

    // The same digest again is stale now.
    let stale = pve
        .update_config(
            &vm,
            &Params::new()
                .with("cores", 2)
                .with("digest", cfg.digest.unwrap()),
        )
        .await;
    assert!(
        matches!(stale, Err(Error::DigestMismatch { .. })),
        "{stale:?}"
    );

    let upid = pve.resize(&vm, "scsi0", "+28G", None).await.unwrap();
    pve.wait_task(&upid).await.unwrap();
    let shrink = pve.resize(&vm, "scsi0", "10G", None).await.unwrap();
    match pve.wait_task(&shrink).await {
        Err(Error::TaskFailed {
            exitstatus,
            log_tail,
            ..
        }) => {
            assert_eq!(exitstatus, "shrinking disks is not supported");
            assert_eq!(
                log_tail.last().unwrap(),
                "TASK ERROR: shrinking disks is not supported"
            );
        }
        other => panic!("{other:?}"),
    }
    let upid = pve.power(&vm, "start").await.unwrap();
    pve.wait_task(&upid).await.unwrap();

    // Converged: reading back plans zero changes.
    let now = pve.guest_config(&vm).await.unwrap();
    let mut desired = desired;
    desired.insert("scsi0".into(), "local-lvm:32".into());
    let again = diff_config(GuestType::Qemu, &desired, &now.values).unwrap();
    assert!(again.is_empty(), "converged guest still differs: {again:?}");

    let inv = pve.inventory().await.unwrap();
    let entry = inv.iter().find(|r| r.vmid == Some(101)).unwrap();
    assert_eq!(entry.tags.as_deref(), Some("control-plane;k8s"));
    assert_eq!(entry.pool.as_deref(), Some("k8s"));
    assert_eq!(entry.status.as_deref(), Some("running"));
    assert!(inv.iter().find(|r| r.vmid == Some(9000)).unwrap().template);

    // Protected and running: PVE refuses; the client surfaces the text.
    let del = pve.delete_guest(&vm, true).await;
    match del {
        Err(Error::Api {
            status: 500,
            message,
            ..
        }) => assert!(message.contains("protection mode enabled"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_schema_clean(&sim);
}

#[tokio::test]
async fn container_from_downloaded_template() {
    let Some(cfg) = config() else { return };
    let sim = Simulator::start(cfg).await.unwrap();
    let pve = client_for(&sim, TlsMode::System);
    let url = "https://download.example.invalid/debian-12-standard_12.7-1_amd64.tar.zst";
    let sum = "9a3b".repeat(16);
    sim.add_remote_file(url, 123_456_789, &[("sha512", &sum)]);
    let have = pve
        .storage_content("pve1", "local", Some("vztmpl"))
        .await
        .unwrap();
    assert!(have.is_empty());
    let dl = Params::new()
        .with("url", url)
        .with("content", "vztmpl")
        .with("filename", "debian-12-standard_12.7-1_amd64.tar.zst")
        .with("checksum", &sum)
        .with("checksum-algorithm", "sha512");
    let upid = pve.download_url("pve1", "local", &dl).await.unwrap();
    pve.wait_task(&upid).await.unwrap();
    let have = pve
        .storage_content("pve1", "local", Some("vztmpl"))
        .await
        .unwrap();
    assert_eq!(
        have[0].volid,
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
    );

    let create = Params::new()
        .with("vmid", 200)
        .with("ostemplate", &have[0].volid)
        .with("hostname", "dns1")
        .with("cores", 1)
        .with("memory", 512)
        .with("swap", 0)
        .with("rootfs", "local-lvm:8")
        .with(
            "net0",
            "name=eth0,bridge=vmbr0,ip=10.0.10.53/24,gw=10.0.10.1,tag=10",
        )
        .with("features", "nesting=1")
        .flag("unprivileged", true)
        .flag("onboot", true)
        .with("tags", "dns")
        .with("ssh-public-keys", "ssh-ed25519 AAAA ops@example")
        .with("password", "not-logged-anywhere");
    let upid = pve
        .create_guest("pve1", GuestType::Lxc, &create)
        .await
        .unwrap();
    pve.wait_task(&upid).await.unwrap();
    let ct = GuestRef {
        node: "pve1".into(),
        kind: GuestType::Lxc,
        vmid: 200,
    };
    let cfg = pve.guest_config(&ct).await.unwrap();
    let desired: BTreeMap<String, String> = [
        ("hostname", "dns1"),
        ("cores", "1"),
        ("memory", "512"),
        ("swap", "0"),
        ("rootfs", "local-lvm:8"),
        (
            "net0",
            "name=eth0,bridge=vmbr0,ip=10.0.10.53/24,gw=10.0.10.1,tag=10",
        ),
        ("features", "nesting=1"),
        ("unprivileged", "1"),
        ("onboot", "1"),
        ("tags", "dns"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let changes = diff_config(GuestType::Lxc, &desired, &cfg.values).unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(
        pve.pending(&ct)
            .await
            .unwrap()
            .iter()
            .filter(|p| p.pending.is_some())
            .count(),
        0
    );

    // A failing task reports its log tail.
    sim.fail_next_task(FailRule {
        task_type: "vzstart".into(),
        id: None,
        message: "startup for container '200' failed".into(),
    });
    let upid = pve.power(&ct, "start").await.unwrap();
    let err = pve.wait_task(&upid).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("startup for container '200' failed"),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_schema_clean(&sim);
}

#[tokio::test]
async fn bounded_concurrent_config_reads_and_errors() {
    let Some(mut cfg) = config() else { return };
    cfg.latency = Duration::from_millis(20);
    cfg.nodes = vec!["pve1".into(), "pve2".into()];
    let sim = Simulator::start(cfg).await.unwrap();
    for i in 0..20u32 {
        sim.add_guest(GuestSpec {
            vmid: 100 + i,
            kind: if i % 2 == 0 {
                GuestKind::Qemu
            } else {
                GuestKind::Lxc
            },
            node: if i % 3 == 0 {
                "pve2".into()
            } else {
                "pve1".into()
            },
            config: vec![("cores".into(), "2".into()), ("tags".into(), "a;b".into())],
            running: false,
        })
        .unwrap();
    }
    let pve = client_for(&sim, TlsMode::System);
    let refs: Vec<GuestRef> = pve
        .inventory()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.guest_ref())
        .collect();
    assert_eq!(refs.len(), 20);
    sim.reset_stats();
    let configs = pve.guest_configs(&refs, 10).await;
    assert_eq!(sim.stats().requests, 20);
    assert!(
        configs
            .iter()
            .all(|(_, r)| r.as_ref().is_ok_and(|c| c.get("cores") == Some("2")))
    );
    assert_eq!(
        configs.iter().map(|(g, _)| g.vmid).collect::<Vec<_>>(),
        refs.iter().map(|g| g.vmid).collect::<Vec<_>>()
    );
    // Concurrency is bounded (never more than 10 in flight) but real (more than 1).
    let peak = sim.stats().max_in_flight;
    assert!((2..=10).contains(&peak), "peak in-flight requests {peak}");

    let missing = GuestRef {
        node: "pve1".into(),
        kind: GuestType::Qemu,
        vmid: 999,
    };
    let err = pve.guest_config(&missing).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist"),
        "{err}"
    );
    assert_schema_clean(&sim);
}

#[tokio::test]
async fn auth_permission_and_lock_errors_are_typed() {
    let Some(mut cfg) = config() else { return };
    cfg.tokens.push(TokenSpec {
        tokenid: "audit@pve!ro".into(),
        secret: "ro-secret".into(),
        privileges: Some(vec![("/vms".into(), "VM.Audit".into())]),
    });
    cfg.task_duration = Duration::from_millis(2000);
    let sim = Simulator::start(cfg).await.unwrap();
    template(&sim);

    let bad = Client::new(ClientOptions::new(
        &sim.base_url(),
        ApiToken::parse("ci@pve!sync=wrong").unwrap(),
    ))
    .unwrap();
    assert!(matches!(
        bad.version().await,
        Err(Error::Unauthorized { .. })
    ));

    let ro = Client::new(ClientOptions::new(
        &sim.base_url(),
        ApiToken::parse("audit@pve!ro=ro-secret").unwrap(),
    ))
    .unwrap();
    let vm = GuestRef {
        node: "pve1".into(),
        kind: GuestType::Qemu,
        vmid: 9000,
    };
    let perms = ro.permissions(Some("/vms/9000")).await.unwrap();
    assert!(perms["/vms/9000"].contains("VM.Audit"), "{perms:?}");
    assert!(!perms["/vms/9000"].contains("VM.Config.Disk"), "{perms:?}");
    match ro.resize(&vm, "scsi0", "+1G", None).await {
        Err(e @ Error::Forbidden { .. }) => {
            assert_eq!(
                e.to_string(),
                format!(
                    "{}/api2/json/nodes/pve1/qemu/9000/resize: permission denied: token lacks VM.Config.Disk on /vms/9000",
                    sim.base_url()
                )
            );
        }
        other => panic!("{other:?}"),
    }

    let pve = client_for(&sim, TlsMode::System);
    match pve
        .get("/cluster/resources", &Params::new().with("type", "vms"))
        .await
    {
        Err(Error::InvalidParameters { errors, .. }) => {
            assert!(errors["type"].contains("enumeration"))
        }
        other => panic!("{other:?}"),
    }
    let upid = pve
        .clone_vm("pve1", 9000, &Params::new().with("newid", 150))
        .await
        .unwrap();
    let vm150 = GuestRef {
        node: "pve1".into(),
        kind: GuestType::Qemu,
        vmid: 150,
    };
    let locked = pve
        .update_config(&vm150, &Params::new().with("cores", 2))
        .await
        .unwrap_err();
    assert!(
        matches!(locked, Error::Locked { .. }) && locked.is_transient(),
        "{locked:?}"
    );
    pve.wait_task(&upid).await.unwrap();
    pve.update_config(&vm150, &Params::new().with("cores", 2))
        .await
        .unwrap();

    // Unreachable is transient; a read is tried READ_ATTEMPTS times before giving up.
    let port = rackpipe_testkit::free_port();
    let gone = Client::new(ClientOptions::new(
        &format!("http://127.0.0.1:{port}"),
        ApiToken::parse("a@b!c=d").unwrap(),
    ))
    .unwrap();
    let err = gone.version().await.unwrap_err();
    assert!(
        matches!(&err, Error::GaveUp(g)
            if g.attempts == READ_ATTEMPTS && matches!(*g.last, Error::Unreachable { .. }))
            && err.is_transient(),
        "{err:?}"
    );
    assert!(!format!("{pve:?}").contains("4f1c-secret"));
    // The only rejected request is the deliberately bad enum.
    assert_eq!(sim.stats().rejected.len(), 1);
}

fn tls_identity() -> (TlsIdentity, Vec<u8>, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "Proxmox Virtual Environment (sim CA)",
    );
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf = params.signed_by(&key, &issuer).unwrap();
    (
        TlsIdentity {
            cert_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
        },
        leaf.der().to_vec(),
        ca.pem(),
    )
}

#[tokio::test]
async fn tls_ca_and_pinned_fingerprint() {
    let Some(mut cfg) = config() else { return };
    let (identity, leaf_der, ca_pem) = tls_identity();
    cfg.tls = Some(identity);
    let sim = Simulator::start(cfg).await.unwrap();
    assert!(sim.base_url().starts_with("https://"));

    let pinned = client_for(&sim, TlsMode::Pinned(Fingerprint::of_der(&leaf_der)));
    assert_eq!(pinned.version().await.unwrap()["release"], "8.4");

    // A wrong pin is a trust failure naming the host and both fingerprints (issue 17: not
    // "unreachable", and not retried).
    let wrong = client_for(&sim, TlsMode::Pinned(Fingerprint([7; 32])));
    let err = wrong.version().await.unwrap_err();
    assert!(matches!(err, Error::Trust(_)), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        format!(
            "{}: TLS trust failure: certificate fingerprint mismatch: the server presented {}, the pinned one is {}",
            sim.base_url().trim_end_matches('/'),
            Fingerprint::of_der(&leaf_der),
            Fingerprint([7; 32])
        )
    );

    let dir = rackpipe_testkit::temp_dir();
    let ca_file = dir.path().join("pve-root-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let ca = client_for(&sim, TlsMode::CaFile(ca_file));
    assert_eq!(ca.version().await.unwrap()["release"], "8.4");

    // A certificate that does not verify is not retried (a retry would be `GaveUp`).
    let system = client_for(&sim, TlsMode::System);
    assert!(matches!(
        system.version().await,
        Err(Error::Unreachable { .. })
    ));
}

/// Issue 17, one way to wait and fail: a read that fails transiently (pveproxy's 596, a
/// gateway's 502/503/504) is repeated with the shared backoff within the one request timeout;
/// a write is sent once; a failure that persists gives up within the timeout, stating the
/// attempts and the time waited. Every attempt is a request the cluster counts.
#[tokio::test]
async fn transient_reads_retried_within_the_timeout_writes_never() {
    let Some(cfg) = config() else { return };
    let sim = Simulator::start(cfg).await.unwrap();
    template(&sim);
    let pve = client_for(&sim, TlsMode::System);

    sim.fail_next("GET", "/cluster/resources", 2, 596);
    assert_eq!(pve.inventory().await.unwrap().len(), 1);
    let stats = sim.stats();
    assert_eq!(stats.requests, 3, "{:?}", stats.by_route);
    assert_eq!(
        stats.by_route.get("GET /cluster/resources (injected)"),
        Some(&2)
    );
    assert_eq!(stats.by_route.get("GET /cluster/resources"), Some(&1));
    for status in [502, 503, 504] {
        sim.fail_next("GET", "/version", 1, status);
        assert_eq!(pve.version().await.unwrap()["release"], "8.4");
    }

    // A write that fails transiently is not repeated: the clone is not made twice.
    sim.reset_stats();
    sim.fail_next("POST", "/nodes/pve1/qemu/9000/clone", 1, 596);
    let err = pve
        .clone_vm("pve1", 9000, &Params::new().with("newid", 201))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}/api2/json/nodes/pve1/qemu/9000/clone: HTTP 596: Connection timed out",
            sim.base_url()
        )
    );
    assert!(err.is_transient());
    assert_eq!(sim.stats().requests, 1);
    assert!(sim.guest_config(201).is_none());

    // Nor is a read that failed for a reason of its own (500: no such guest; 401).
    sim.reset_stats();
    let missing = GuestRef {
        node: "pve1".into(),
        kind: GuestType::Qemu,
        vmid: 999,
    };
    assert!(matches!(
        pve.guest_config(&missing).await,
        Err(Error::Api { status: 500, .. })
    ));
    let stranger = Client::new(ClientOptions::new(
        &sim.base_url(),
        ApiToken::parse("ci@pve!sync=wrong").unwrap(),
    ))
    .unwrap();
    assert!(matches!(
        stranger.version().await,
        Err(Error::Unauthorized { .. })
    ));
    assert_eq!(sim.stats().requests, 2);

    // A failure that persists: READ_ATTEMPTS attempts, well within the 2 s timeout.
    let token = ApiToken::parse("ci@pve!sync=4f1c-secret").unwrap();
    let mut opts = ClientOptions::new(&sim.base_url(), token);
    opts.request_timeout = Duration::from_secs(2);
    let short = Client::new(opts).unwrap();
    sim.reset_stats();
    sim.fail_next("GET", "/version", 100, 503);
    let started = std::time::Instant::now();
    let err = short.version().await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    let Error::GaveUp(gave_up) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(gave_up.attempts, READ_ATTEMPTS);
    // The delays slept are 25 + 50 + 100 + 200 ms.
    assert!(
        gave_up.waited >= Duration::from_millis(375) && gave_up.waited <= elapsed,
        "{gave_up:?}"
    );
    assert!(matches!(*gave_up.last, Error::Api { status: 503, .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{}/api2/json/version: HTTP 503: Service Unavailable (gave up after 5 attempts in {})",
            sim.base_url(),
            rackpipe_model::wait::human(gave_up.waited)
        )
    );
    assert!(err.is_transient());
    assert_eq!(sim.stats().requests, u64::from(READ_ATTEMPTS));
    assert_schema_clean(&sim);
}

#[tokio::test]
async fn clones_serialised_per_template_and_node() {
    let Some(mut cfg) = config() else { return };
    cfg.strict_clone_locks = true;
    cfg.task_duration = Duration::from_millis(800);
    let sim = Simulator::start(cfg).await.unwrap();
    template(&sim);
    let pve = client_for(&sim, TlsMode::System);

    // Unserialised: the second clone hits the storage lock (a transient error).
    let first = pve
        .clone_vm("pve1", 9000, &Params::new().with("newid", 201))
        .await
        .unwrap();
    let second = pve
        .clone_vm("pve1", 9000, &Params::new().with("newid", 202))
        .await
        .unwrap_err();
    assert!(
        matches!(second, Error::Locked { .. }) && second.is_transient(),
        "{second:?}"
    );
    pve.wait_task(&first).await.unwrap();

    // Serialised with KeyedLocks: all succeed.
    let locks = rackpipe_proxmox::serial::KeyedLocks::new();
    let jobs = (203..207u32).map(|newid| {
        let (pve, locks) = (pve.clone(), locks.clone());
        async move {
            let _guard = locks.lock(&["template/9000", "node/pve1"]).await;
            let upid = pve
                .clone_vm("pve1", 9000, &Params::new().with("newid", newid))
                .await?;
            pve.wait_task(&upid).await
        }
    });
    for result in futures_util::future::join_all(jobs).await {
        result.unwrap();
    }
    assert_eq!(pve.inventory().await.unwrap().len(), 6);
    assert_schema_clean(&sim);
}
