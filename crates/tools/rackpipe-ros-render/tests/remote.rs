//! plan → apply → plan against the RouterOS REST simulator (in-process, 127.0.0.1), drift,
//! lock-out safety, stale plans, bad connections, TLS pinning and backups.
#![allow(clippy::print_stderr)]

use std::time::Duration;

use rackpipe_model::Site;
use rackpipe_model::wait::READ_ATTEMPTS;
use rackpipe_ros_render::apply::{ApplyOptions, apply_config};
use rackpipe_ros_render::plan::{PlanOptions, plan_config};
use rackpipe_ros_render::rest::Error;
use rackpipe_ros_render::{Connection, Fingerprint, Password, RestClient, Trust, desired};
use rackpipe_ros_sim::{SimConfig, Simulator, TlsIdentity};
use rackpipe_routeros::{Command, Config, Props};

const PASSWORD: &str = "sim-password";

pub(crate) fn example(name: &str) -> Option<Site> {
    let (path, bytes) = rackpipe_testkit::example_site(name);
    Some(
        rackpipe_model::load_and_validate(&path.display().to_string(), &bytes)
            .expect("example validates")
            .site,
    )
}

/// Every menu and property the renderer writes is one the simulator models (so the example
/// round trips below exercise all of them).
fn assert_simulator_models(config: &Config) {
    let specs = rackpipe_ros_sim::schema::menus();
    let mut missing: Vec<String> = Vec::new();
    for menu in &config.menus {
        let Some(spec) = specs.iter().find(|s| s.path == menu.path) else {
            missing.push(menu.path.clone());
            continue;
        };
        for command in &menu.commands {
            let keys = command
                .props
                .keys()
                .chain(command.selector.iter().flat_map(|s| match s {
                    rackpipe_routeros::Selector::Find(c) => c.keys().collect::<Vec<_>>(),
                    rackpipe_routeros::Selector::Item(_) => Vec::new(),
                }));
            for k in keys {
                if spec.prop(k).is_none() {
                    missing.push(format!("{} {k}", menu.path));
                }
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "not modelled by the simulator: {missing:?}"
    );
}

pub(crate) fn sim_config(ports: &[&str]) -> SimConfig {
    let mut ethernet_ports: Vec<String> = (1..=10).map(|i| format!("ether{i}")).collect();
    for p in ports {
        if !ethernet_ports.iter().any(|e| e == p) {
            ethernet_ports.push((*p).to_owned());
        }
    }
    SimConfig {
        management: None,
        ethernet_ports,
        unreachable_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    }
}

pub(crate) fn client_for(sim: &Simulator, password: &str) -> RestClient {
    RestClient::new(&Connection {
        url: sim.base_url(),
        user: "admin".to_owned(),
        password: Password::new(password),
        trust: Trust::LoopbackHttp,
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

pub(crate) fn quick_apply() -> ApplyOptions {
    ApplyOptions {
        revert_after: Duration::from_secs(3),
        verify_timeout: Duration::from_secs(1),
        revert_grace: Duration::from_secs(15),
        ..ApplyOptions::default()
    }
}

fn add(pairs: &[(&str, &str)]) -> Command {
    Command::add(Props::from_pairs(pairs.iter().copied()))
}

async fn example_round_trip(name: &str) {
    let Some(site) = example(name) else { return };
    let desired = desired(&site).unwrap();
    assert_simulator_models(&desired);
    if name == "rachuna-net" {
        // The full example writes every menu ros-render manages but the ones added for
        // issue 18 (lists, WireGuard, VRRP, routes, IPv6, ...), in that order.
        let paths = desired.paths();
        let written: Vec<&str> = rackpipe_ros_render::MENU_ORDER
            .iter()
            .copied()
            .filter(|p| paths.contains(p))
            .collect();
        assert_eq!(paths, written);
        assert!(paths.len() >= 23, "{paths:?}");
    }
    let ports: Vec<&str> = site
        .router
        .as_ref()
        .unwrap()
        .ethernet
        .iter()
        .map(|e| e.default_name.as_str())
        .collect();
    let sim = Simulator::start(sim_config(&ports)).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    let first = plan_config(name, "router", &desired, &client, PlanOptions::default())
        .await
        .unwrap();
    let menus = desired.paths().len() as u64;
    assert_eq!(first.requests, menus, "one GET per managed menu");
    assert!(first.plan.summary.total() > 10, "{:?}", first.plan.summary);
    assert!(first.plan.changes.iter().all(|c| !c.commands.is_empty()));
    let result = apply_config(
        name,
        "router",
        &desired,
        &client,
        &ApplyOptions {
            expected: Some(first.plan.clone()),
            ..quick_apply()
        },
    )
    .await
    .unwrap();
    assert_eq!(result.applied.len(), first.plan.changes.len());
    // What ros-render prints matches the committed schemas.
    for (file, doc) in [
        (
            "plan.schema.json",
            serde_json::to_value(&first.plan).unwrap(),
        ),
        (
            "apply-result.schema.json",
            serde_json::to_value(&result).unwrap(),
        ),
    ] {
        assert_eq!(
            rackpipe_model::schema::check_document(file, &doc),
            Ok(Vec::new()),
            "{file}"
        );
    }
    let second = plan_config(name, "router", &desired, &client, PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(
        second.plan.summary.total(),
        0,
        "second plan: {:#?}",
        second.plan.changes
    );
    // The revert was cancelled: nothing changes after the revert delay.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let third = plan_config(name, "router", &desired, &client, PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(third.plan.observed_digest, second.plan.observed_digest);
    assert!(
        !sim.log().iter().any(|l| l.contains("rackpipe-revert")),
        "{:?}",
        sim.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rachuna_net_plan_apply_plan() {
    example_round_trip("rachuna-net").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rachuna_dev_plan_apply_plan() {
    example_round_trip("rachuna-dev").await;
}

fn small_desired() -> Config {
    let mut c = Config::default();
    c.push(
        "/interface/bridge",
        add(&[
            ("name", "br-lan"),
            ("vlan-filtering", "yes"),
            ("comment", "lan"),
        ]),
    );
    c.push(
        "/interface/bridge/port",
        add(&[
            ("bridge", "br-lan"),
            ("interface", "ether2"),
            ("pvid", "10"),
        ]),
    );
    c.push(
        "/ip/address",
        add(&[("address", "10.9.0.1/24"), ("interface", "br-lan")]),
    );
    c.push(
        "/ip/dhcp-server/lease",
        add(&[
            ("server", "all"),
            ("address", "10.9.0.5"),
            ("mac-address", "02:00:00:00:00:05"),
        ]),
    );
    for (chain, action, comment) in [
        ("input", "accept", "accept established"),
        ("input", "accept", "accept lan"),
        ("forward", "accept", "forward lan"),
    ] {
        c.push(
            "/ip/firewall/filter",
            add(&[("chain", chain), ("action", action), ("comment", comment)]),
        );
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_changed_added_removed_reordered() {
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    let desired = small_desired();
    apply_config("t", "r", &desired, &client, &quick_apply())
        .await
        .unwrap();
    // By hand: change, add, remove, reorder.
    sim.run_script(
        "/interface bridge set [ find name=br-lan ] comment=changed vlan-filtering=no\n\
         /ip address add address=10.8.0.1/24 interface=ether3 comment=by-hand\n\
         /ip firewall filter remove [ find comment=\"accept lan\" ]\n\
         /ip dhcp-server lease set [ find address=10.9.0.5 ] disabled=yes",
    )
    .unwrap();
    sim.run_script("/ip firewall filter add chain=input action=accept comment=hand-rule")
        .unwrap();
    // Reorder by hand: "forward lan" to the top.
    let ids: Vec<(String, String)> = client
        .list("/ip/firewall/filter")
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            (s("comment"), s(".id"))
        })
        .collect();
    let id = |c: &str| ids.iter().find(|(k, _)| k == c).unwrap().1.clone();
    client
        .post(
            "/ip/firewall/filter/move",
            &serde_json::json!({"numbers": id("forward lan"), "destination": id("accept established")}),
        )
        .await
        .unwrap();
    let plan = plan_config("t", "r", &desired, &client, PlanOptions::default())
        .await
        .unwrap();
    let summary = plan.plan.summary;
    let text = serde_json::to_string_pretty(&plan.plan).unwrap();
    assert_eq!(summary.create, 1, "{text}");
    assert_eq!(summary.delete, 0, "{text}");
    assert!(summary.update >= 2, "{text}");
    assert_eq!(plan.plan.unmanaged.len(), 2, "{text}");
    assert!(
        text.contains("/interface bridge set [ find name=br-lan ]"),
        "{text}"
    );
    assert!(text.contains("disabled=no"), "{text}");
    // Applying repairs the drift but keeps unmanaged entries.
    apply_config("t", "r", &desired, &client, &quick_apply())
        .await
        .unwrap();
    let again = plan_config("t", "r", &desired, &client, PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(again.plan.summary.total(), 0, "{:#?}", again.plan.changes);
    assert_eq!(again.plan.unmanaged.len(), 2);
    // Managed rules are in desired order.
    let rules: Vec<String> = client
        .list("/ip/firewall/filter")
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.get("comment").and_then(|v| v.as_str()).map(str::to_owned))
        .filter(|c| c != "hand-rule")
        .collect();
    assert_eq!(rules, ["accept established", "accept lan", "forward lan"]);
    // Only with the flag are unmanaged entries removed.
    let destroy = ApplyOptions {
        allow_destroy: true,
        ..quick_apply()
    };
    let result = apply_config("t", "r", &desired, &client, &destroy)
        .await
        .unwrap();
    assert_eq!(result.summary.delete, 2);
    let clean = plan_config("t", "r", &desired, &client, PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(clean.plan.summary.total(), 0);
    assert!(
        clean.plan.unmanaged.is_empty(),
        "{:?}",
        clean.plan.unmanaged
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_plan_is_refused() {
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    let desired = small_desired();
    let plan = plan_config("t", "r", &desired, &client, PlanOptions::default())
        .await
        .unwrap();
    sim.run_script("/interface bridge add name=someone-else")
        .unwrap();
    let before = sim.export_config();
    let err = apply_config(
        "t",
        "r",
        &desired,
        &client,
        &ApplyOptions {
            expected: Some(plan.plan.clone()),
            ..quick_apply()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");
    assert!(err.to_string().contains("router changed"), "{err}");
    assert_eq!(sim.export_config(), before, "nothing applied");
    // A plan made with other options is stale too.
    let fresh = plan_config(
        "t",
        "r",
        &desired,
        &client,
        PlanOptions {
            allow_destroy: true,
        },
    )
    .await
    .unwrap();
    let err = apply_config(
        "t",
        "r",
        &desired,
        &client,
        &ApplyOptions {
            expected: Some(fresh.plan),
            ..quick_apply()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_out_is_reverted_automatically() {
    // The management client sits on ether1 (192.168.88.10); an input drop rule cuts it off.
    let sim = Simulator::start(SimConfig {
        unreachable_timeout: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = client_for(&sim, PASSWORD);
    let before = sim.export_config();
    let mut desired = Config::default();
    desired.push(
        "/interface/bridge",
        add(&[("name", "br-new"), ("comment", "made before the lock-out")]),
    );
    desired.push(
        "/ip/firewall/filter",
        add(&[
            ("chain", "input"),
            ("action", "drop"),
            ("comment", "drop everything"),
        ]),
    );
    let err = apply_config("t", "r", &desired, &client, &quick_apply())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::ApplyFailed { .. }), "{text}");
    assert!(
        text.contains("reverted itself by loading the pre-apply backup"),
        "{text}"
    );
    assert_eq!(sim.export_config(), before, "the backup was restored");
    assert!(sim.reachable().is_ok());
    assert!(
        sim.log()
            .iter()
            .any(|l| l.contains("scheduler rackpipe-revert: ran")),
        "{:?}",
        sim.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_error_mid_apply_leaves_nothing_half_applied() {
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    let before = sim.export_config();
    let mut desired = Config::default();
    desired.push("/interface/bridge", add(&[("name", "br0")]));
    desired.push(
        "/interface/bridge/port",
        add(&[("bridge", "br0"), ("interface", "ether42")]),
    );
    let err = apply_config("t", "r", &desired, &client, &quick_apply())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!err.is_transient());
    assert!(
        text.contains("PUT /interface/bridge/port: 400 Bad Request: input does not match any value of interface"),
        "{text}"
    );
    assert!(text.contains("change 2"), "{text}");
    assert!(text.contains("loaded the pre-apply backup"), "{text}");
    assert!(!text.contains('\n'));
    assert_eq!(sim.export_config(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_unreachable_router() {
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let bad = client_for(&sim, "not-the-password");
    let err = plan_config("t", "r", &small_desired(), &bad, PlanOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("not-the-password"));
    assert!(!format!("{err:?} {bad:?}").contains("not-the-password"));

    let port = rackpipe_testkit::free_port();
    let gone = RestClient::new(&Connection {
        url: format!("http://127.0.0.1:{port}"),
        user: "admin".to_owned(),
        password: Password::new(PASSWORD),
        trust: Trust::LoopbackHttp,
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    let err = plan_config("t", "r", &small_desired(), &gone, PlanOptions::default())
        .await
        .unwrap_err();
    // A read is tried READ_ATTEMPTS times (issue 17) before giving up.
    assert!(
        matches!(&err, Error::GaveUp(g)
            if g.attempts == READ_ATTEMPTS && matches!(*g.last, Error::Unreachable { .. })),
        "{err}"
    );
    assert!(err.is_transient());
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    // Plain HTTP to a non-loopback address is refused before any request.
    let err = RestClient::new(&Connection {
        url: "http://198.18.0.1".to_owned(),
        user: "admin".to_owned(),
        password: Password::new(PASSWORD),
        trust: Trust::LoopbackHttp,
        timeout: Duration::from_secs(1),
    })
    .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
}

/// Issue 17, one way to wait and fail: a read that fails transiently (a 502/503/504 from a
/// proxy in front of a busy router) is repeated with the shared backoff within the one
/// timeout, and each attempt is a request the plan counts; a write is sent once; a failure that
/// persists gives up within the timeout, stating the attempts and the time waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_reads_retried_within_the_timeout_writes_never() {
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    let desired = small_desired();
    let menus = desired.paths().len() as u64;
    let clean = plan_config("t", "r", &desired, &client, PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(clean.requests, menus, "one GET per managed menu");

    // The first read of a menu fails twice: the same plan, two requests more.
    sim.fail_next("GET", "/ip/dhcp-server/lease", 2, 503);
    sim.reset_stats();
    let retried = plan_config("t", "r", &desired, &client, PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(retried.requests, menus + 2);
    assert_eq!(sim.stats().requests, menus + 2);
    assert_eq!(
        serde_json::to_value(&retried.plan.changes).unwrap(),
        serde_json::to_value(&clean.plan.changes).unwrap()
    );
    assert_eq!(retried.plan.observed_digest, clean.plan.observed_digest);

    // A write that fails transiently is sent once, and nothing was added.
    sim.fail_next("PUT", "/ip/address", 1, 503);
    let before = client.requests();
    let props = Props::from_pairs([("address", "10.7.0.1/24"), ("interface", "ether3")]);
    let err = client.add("/ip/address", &props).await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 503, .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(client.requests() - before, 1);
    assert!(sim.rows("/ip/address").is_empty());

    // A failure that persists: READ_ATTEMPTS attempts, well within the 2 s timeout.
    let short = RestClient::new(&Connection {
        url: sim.base_url(),
        user: "admin".to_owned(),
        password: Password::new(PASSWORD),
        trust: Trust::LoopbackHttp,
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    sim.fail_next("GET", "/system/identity", 100, 504);
    let started = std::time::Instant::now();
    let err = short.list("/system/identity").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.is_transient());
    let Error::GaveUp(gave_up) = &err else {
        panic!("{err:?}")
    };
    // The message names the last error, the attempts and the time waited (the delays slept
    // are 25 + 50 + 100 + 200 ms).
    assert!(gave_up.waited >= Duration::from_millis(375), "{gave_up:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "GET /system/identity: 504 Gateway Timeout: injected failure (rackpipe-ros-sim test hook) (gave up after 5 attempts in {})",
            rackpipe_model::wait::human(gave_up.waited)
        )
    );
    assert_eq!(short.requests(), u64::from(READ_ATTEMPTS));
}

fn tls_identity() -> (TlsIdentity, Vec<u8>, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rackpipe test CA");
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
            key_pem: rackpipe_ros_sim::Secret::new(key.serialize_pem()),
        },
        leaf.der().to_vec(),
        ca.pem(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_ca_file_or_pinned_fingerprint() {
    let (identity, leaf_der, ca_pem) = tls_identity();
    let sim = Simulator::start(SimConfig {
        tls: Some(identity),
        management: None,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert!(sim.base_url().starts_with("https://"));
    let dir = rackpipe_testkit::temp_dir();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let conn = |trust| Connection {
        url: sim.base_url(),
        user: "admin".to_owned(),
        password: Password::new(PASSWORD),
        trust,
        timeout: Duration::from_secs(5),
    };
    let desired = small_desired();
    for trust in [
        Trust::CaFile(ca_file.clone()),
        Trust::Pinned(Fingerprint::of_der(&leaf_der)),
    ] {
        let client = RestClient::new(&conn(trust)).unwrap();
        plan_config("t", "r", &desired, &client, PlanOptions::default())
            .await
            .unwrap();
    }
    let wrong = RestClient::new(&conn(Trust::Pinned(Fingerprint([7; 32])))).unwrap();
    let err = plan_config("t", "r", &desired, &wrong, PlanOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("fingerprint mismatch"), "{err}");
    // Plain HTTP is refused for https URLs' trust settings and vice versa.
    assert!(
        RestClient::new(&Connection {
            url: sim.base_url().replace("https", "http"),
            ..conn(Trust::CaFile(ca_file))
        })
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_downloads_export_and_binary_with_checksums() {
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    sim.run_script("/interface bridge add name=br-backup")
        .unwrap();
    let dir = rackpipe_testkit::temp_dir();
    let result = rackpipe_ros_render::backup("t", "router one", &client, dir.path())
        .await
        .unwrap();
    assert_eq!(result.files.len(), 2);
    // The document matches its committed schema (RACKPIPE_BLESS=1 regenerates it).
    let schema = rackpipe_ros_render::backup::backup_schema();
    let file = rackpipe_ros_render::backup::BACKUP_SCHEMA;
    rackpipe_model::schema::check_committed(file, &schema).unwrap();
    assert_eq!(
        rackpipe_model::schema::check_against(&schema, &serde_json::to_value(&result).unwrap()),
        Ok(Vec::new())
    );
    let export = std::fs::read_to_string(&result.files[0].path).unwrap();
    assert!(export.contains("add name=br-backup"), "{export}");
    assert!(result.files[0].path.ends_with(".rsc"));
    assert!(result.files[1].path.ends_with(".backup"));
    assert!(result.files[0].path.contains("router_one-"));
    let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    for f in &result.files {
        use sha2::Digest as _;
        let bytes = std::fs::read(&f.path).unwrap();
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), f.sha256);
        assert!(sums.contains(&f.sha256));
    }
    // The files were removed from the router.
    let files = client.list("/file").await.unwrap();
    assert!(files.is_empty(), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_connection_resolves_file_password() {
    let Some(mut site) = example("rachuna-dev") else {
        return;
    };
    let dir = rackpipe_testkit::temp_dir();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let router = site.router.as_mut().unwrap();
    router.management.password = format!("file:{}", pw.display()).parse().unwrap();
    let user = router.management.user.clone();
    let sim = Simulator::start(SimConfig {
        users: vec![(user, rackpipe_ros_sim::Secret::new(PASSWORD))],
        ..sim_config(&[])
    })
    .await
    .unwrap();
    let password = resolve_secrets(&site).unwrap().remove(0);
    let conn = Connection::from_site(
        &site,
        Some(&sim.base_url()),
        Some(Trust::LoopbackHttp),
        password,
    )
    .unwrap();
    assert!(!format!("{conn:?}").contains(PASSWORD));
    let client = RestClient::new(&conn).unwrap();
    assert_eq!(client.list("/system/identity").await.unwrap().len(), 1);
    // The site's own vault: reference is not resolved here: clear message, field path.
    let Some(original) = example("rachuna-dev") else {
        return;
    };
    if original
        .router
        .as_ref()
        .unwrap()
        .management
        .password
        .as_str()
        .starts_with("vault:")
    {
        let err = resolve_secrets(&original).unwrap_err();
        assert!(
            err.to_string().starts_with("router.management.password: "),
            "{err}"
        );
    }
}

/// The site's router secrets ([`rackpipe_ros_render::rest::secret_refs`]) resolved at once
/// with the process's resolver, in their order; every failure in one error.
fn resolve_secrets(
    site: &rackpipe_model::Site,
) -> Result<Vec<Password>, rackpipe_secrets::Unresolved> {
    rackpipe_secrets::resolve_all(
        rackpipe_secrets::Resolver::global(),
        rackpipe_ros_render::rest::secret_refs(site),
    )
}

/// Issue 16: an apply that fails mid-way restores the router completely. The old revert
/// (`reset-configuration` + a plain export) left the router without the API user (the export
/// has no users), without the `www-ssl` certificate (no private keys in an export) and with a
/// new WireGuard key (hidden in the export): this test fails with it at the first login. The
/// binary backup keeps all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_apply_keeps_the_api_user_the_pinned_certificate_and_the_keys() {
    let (identity, leaf_der, _) = tls_identity();
    let sim = Simulator::start(SimConfig {
        tls: Some(identity),
        management: None,
        unreachable_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // What an operator set up by hand, outside what ros-render manages.
    sim.run_script(
        "/user add name=ops group=full password=ops-secret\n\
         /user ssh-keys add user=ops key=\"ssh-ed25519 AAAAC3Nza ops@laptop\"\n\
         /interface wireguard add name=wg0 listen-port=51820",
    )
    .unwrap();
    let wg_key = sim.rows("/interface/wireguard")[0]["private-key"].clone();
    let fingerprint = sim.rows("/certificate")[0]["fingerprint"].clone();
    let pinned = |password: &str| {
        RestClient::new(&Connection {
            url: sim.base_url(),
            user: "admin".to_owned(),
            password: Password::new(password),
            trust: Trust::Pinned(Fingerprint::of_der(&leaf_der)),
            timeout: Duration::from_secs(5),
        })
        .unwrap()
    };
    let client = pinned(PASSWORD);
    let before = sim.export_config();
    // Change 2 names an interface the router does not have: RouterOS refuses it.
    let mut desired = Config::default();
    desired.push("/interface/bridge", add(&[("name", "br0")]));
    desired.push(
        "/interface/bridge/port",
        add(&[("bridge", "br0"), ("interface", "ether42")]),
    );
    let err = apply_config("t", "r", &desired, &client, &quick_apply())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("change 2") && text.contains("loaded the pre-apply backup"),
        "{text}"
    );
    // The API user logs in with its password over the pinned certificate, on a new
    // connection; the certificate is the same one; the WireGuard key and the other user,
    // with its SSH key, are still there.
    let fresh = pinned(PASSWORD);
    assert_eq!(fresh.list("/system/identity").await.unwrap().len(), 1);
    assert_eq!(sim.rows("/certificate")[0]["fingerprint"], fingerprint);
    assert_eq!(sim.rows("/interface/wireguard")[0]["private-key"], wg_key);
    assert_eq!(sim.rows("/user/ssh-keys").len(), 1);
    assert!(matches!(
        pinned("not-it").list("/system/identity").await,
        Err(Error::Unauthorized { .. })
    ));
    assert_eq!(sim.export_config(), before, "nothing half-applied");
    // The one-time backup and its scheduler entry are gone; the password was never shown.
    assert!(sim.rows("/system/scheduler").is_empty());
    assert!(
        sim.rows("/file")
            .iter()
            .all(|f| f["name"] != "rackpipe-revert.backup"),
        "{:?}",
        sim.rows("/file")
    );
    assert!(!text.contains("password="), "{text}");
}

/// On a device with a `flash` directory the revert backup is saved under `flash/` (files
/// elsewhere are lost by the reboot the load causes), and a lock-out restores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_backup_lives_on_flash_where_there_is_one() {
    let sim = Simulator::start(SimConfig {
        flash: true,
        unreachable_timeout: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = client_for(&sim, PASSWORD);
    let before = sim.export_config();
    let mut desired = Config::default();
    desired.push(
        "/ip/firewall/filter",
        add(&[("chain", "input"), ("action", "drop"), ("comment", "cut")]),
    );
    let err = apply_config("t", "r", &desired, &client, &quick_apply())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("reverted itself by loading the pre-apply backup"),
        "{err}"
    );
    assert_eq!(sim.export_config(), before);
    assert!(
        sim.log()
            .iter()
            .any(|l| l == "scheduler rackpipe-revert: ran"),
        "{:?}",
        sim.log()
    );
    let files: Vec<String> = sim
        .rows("/file")
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        files,
        ["flash"],
        "the backup was found under flash/ and removed"
    );
}

/// A failed disarm after a good apply is retried, then reported: a revert is armed, when it
/// fires (UTC and seconds from now); it is not a transient error (a retry would find
/// nothing to change and leave the revert armed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_disarm_is_retried_then_says_the_revert_is_armed_and_when() {
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    sim.fail_next("DELETE", "/system/scheduler", 2, 500);
    let mut desired = Config::default();
    desired.push("/interface/bridge", add(&[("name", "br-retried")]));
    let opts = ApplyOptions {
        revert_after: Duration::from_secs(8),
        ..quick_apply()
    };
    apply_config("t", "r", &desired, &client, &opts)
        .await
        .expect("two failures, then the third attempt disarms");
    assert!(sim.rows("/system/scheduler").is_empty());
    assert_eq!(
        sim.stats()
            .by_route
            .iter()
            .filter(|(k, _)| k.contains("(injected)"))
            .map(|(_, n)| n)
            .sum::<u64>(),
        2
    );

    // Always failing: RevertArmed, and the revert does fire.
    sim.fail_next("DELETE", "/system/scheduler", 100, 500);
    let mut desired = Config::default();
    desired.push("/interface/bridge", add(&[("name", "br-armed")]));
    let err = apply_config("t", "r", &desired, &client, &quick_apply())
        .await
        .unwrap_err();
    let text = err.to_string();
    let Error::RevertArmed {
        in_secs,
        attempts,
        ref fires_at,
        ..
    } = err
    else {
        panic!("{text}");
    };
    assert!(!err.is_transient());
    assert!(in_secs <= 3, "{text}");
    assert!(attempts >= 2, "{text}");
    assert!(
        fires_at.ends_with('Z') && fires_at.len() == 20,
        "{fires_at}"
    );
    assert!(
        text.contains("revert is still ARMED")
            && text.contains(&format!("at {fires_at} (in {in_secs}s)"))
            && text.contains("500"),
        "{text}"
    );
    assert!(!text.contains('\n'));
    let bridges = |sim: &Simulator| sim.rows("/interface/bridge").len();
    assert_eq!(bridges(&sim), 2, "applied");
    tokio::time::sleep(Duration::from_secs(in_secs + 2)).await;
    assert_eq!(bridges(&sim), 1, "the armed revert fired: {:?}", sim.log());
}

/// `ros-render backup`: the binary backup is encrypted on the router with the site's backup
/// password; both files are stored 0600 in a 0700 directory, whatever modes were there
/// before; the router keeps none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_encrypted_and_private() {
    use rackpipe_ros_render::backup::{BackupOptions, backup_with};
    use std::os::unix::fs::PermissionsExt as _;
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    sim.run_script("/interface wireguard add name=wg0").unwrap();
    let wg_key = sim.rows("/interface/wireguard")[0]["private-key"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = rackpipe_testkit::temp_dir();
    let out = dir.path().join("router");
    // A world-readable directory and checksum file from an older version.
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(out.join("SHA256SUMS"), "").unwrap();
    std::fs::set_permissions(
        out.join("SHA256SUMS"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let options = BackupOptions {
        stamp: Some("20261207T000000Z".to_owned()),
        password: Some(Password::new("backup-secret")),
        ..BackupOptions::default()
    };
    let result = backup_with("t", "r", &client, &out, &options)
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&out.join("SHA256SUMS")), 0o600);
    for f in &result.files {
        assert_eq!(mode(std::path::Path::new(&f.path)), 0o600, "{}", f.path);
    }
    let binary = std::fs::read_to_string(&result.files[1].path).unwrap();
    assert!(
        binary.starts_with("RACKPIPE-ROS-SIM-BACKUP encrypted"),
        "{binary}"
    );
    for secret in ["backup-secret", PASSWORD, wg_key.as_str()] {
        assert!(!binary.contains(secret), "{secret} in the backup");
    }
    assert!(client.list("/file").await.unwrap().is_empty());
}

/// A download that fails still removes both files from the router (they hold the whole
/// configuration), and leaves nothing half-written locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_backup_download_still_removes_the_router_files() {
    use rackpipe_ros_render::backup::{BackupOptions, backup_with};
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    let dir = rackpipe_testkit::temp_dir();
    let options = BackupOptions {
        stamp: Some("20261207T000000Z".to_owned()),
        password: Some(Password::new("backup-secret")),
        ..BackupOptions::default()
    };
    // The export's download fails.
    sim.fail_next("GET", "/file", 1, 500);
    let err = backup_with("t", "r", &client, dir.path(), &options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    assert!(sim.rows("/file").is_empty(), "{:?}", sim.rows("/file"));
    // The export is downloaded, then saving the binary backup fails: the export is removed
    // from the router all the same.
    sim.fail_next("POST", "/system/backup/save", 1, 500);
    let err = backup_with("t", "r", &client, dir.path(), &options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/system/backup/save"), "{err}");
    assert!(sim.rows("/file").is_empty(), "{:?}", sim.rows("/file"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing stored locally"
    );
}

/// Without `router.management.backup_password` the binary backup is encrypted with the API
/// password (never stored in the clear); the downloaded file loads on the router with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_falls_back_to_the_api_password_and_loads_back() {
    use rackpipe_ros_render::backup::{BackupOptions, backup_password_field, backup_with};
    let Some(mut site) = example("rachuna-dev") else {
        return;
    };
    let dir = rackpipe_testkit::temp_dir();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let router = site.router.as_mut().unwrap();
    router.management.password = format!("file:{}", pw.display()).parse().unwrap();
    assert!(router.management.backup_password.is_none());
    // The API password's field, and the value resolved for it among the site's secrets.
    let field = backup_password_field(&site).unwrap();
    assert_eq!(field, rackpipe_ros_render::rest::PASSWORD_FIELD);
    let at = rackpipe_ros_render::rest::secret_refs(&site)
        .iter()
        .position(|(_, f)| f == field)
        .unwrap();
    let sim = Simulator::start(sim_config(&[])).await.unwrap();
    let client = client_for(&sim, PASSWORD);
    sim.run_script("/system identity set name=saved").unwrap();
    let options = BackupOptions {
        stamp: Some("20261207T000000Z".to_owned()),
        password: Some(resolve_secrets(&site).unwrap().swap_remove(at)),
        ..BackupOptions::default()
    };
    let out = dir.path().join("out");
    let result = backup_with("t", "r", &client, &out, &options)
        .await
        .unwrap();
    let binary = std::fs::read_to_string(&result.files[1].path).unwrap();
    assert!(!binary.contains(PASSWORD));
    // Put it back on the router and load it with the API password.
    sim.run_script("/system identity set name=changed").unwrap();
    client
        .add(
            "/file",
            &Props::from_pairs([("name", "restore.backup"), ("contents", binary.as_str())]),
        )
        .await
        .unwrap();
    assert!(
        sim.run_script("/system backup load name=restore.backup password=wrong")
            .is_err()
    );
    sim.run_script(&format!(
        "/system backup load name=restore.backup password={PASSWORD}"
    ))
    .unwrap();
    assert_eq!(sim.rows("/system/identity")[0]["name"], "saved");
}

/// The full example over HTTPS, as the lab serves it: the apply that rewrites `www-ssl`
/// (its certificate name and address list) must not lock the router out, and a second plan
/// is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rachuna_net_over_https_applies_without_locking_itself_out() {
    let Some(site) = example("rachuna-net") else {
        return;
    };
    let desired = desired(&site).unwrap();
    let ports: Vec<&str> = site
        .router
        .as_ref()
        .unwrap()
        .ethernet
        .iter()
        .map(|e| e.default_name.as_str())
        .collect();
    let (identity, leaf_der, _ca_pem) = tls_identity();
    let sim = Simulator::start(SimConfig {
        tls: Some(identity),
        ..sim_config(&ports)
    })
    .await
    .unwrap();
    let client = RestClient::new(&Connection {
        url: sim.base_url(),
        user: "admin".to_owned(),
        password: Password::new(PASSWORD),
        trust: Trust::Pinned(Fingerprint::of_der(&leaf_der)),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let first = plan_config(
        "rachuna-net",
        "router",
        &desired,
        &client,
        PlanOptions::default(),
    )
    .await
    .unwrap();
    let result = apply_config(
        "rachuna-net",
        "router",
        &desired,
        &client,
        &ApplyOptions {
            expected: Some(first.plan.clone()),
            ..quick_apply()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("apply over https: {e}\nsim: {:?}", sim.reachable()));
    assert_eq!(result.applied.len(), first.plan.changes.len());
    let second = plan_config(
        "rachuna-net",
        "router",
        &desired,
        &client,
        PlanOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(second.plan.summary.total(), 0, "{:#?}", second.plan.changes);
}
