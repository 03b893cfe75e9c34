//! The whole life of a 3-node OpenBao raft cluster on loopback (TLS from a throwaway CA):
//! render → start → init → unseal (raft joins) → apply the rachuna-net desired state → a second
//! plan is empty → PKI chain verified with openssl → GitLab-shaped JWT logins → unmanaged
//! objects → restart a follower → kill the active node. No key or token may show up in any
//! output, log line or error. One cluster is shared to keep the crate's tests fast.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use crate::common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use rackpipe_vault_bootstrap::{
    ApplyOptions, Error, InitOptions, NodeState, PlanOptions, Secret, UnsealOptions, apply,
    desired, init, keys_from_file, login_jwt, plan, root_token_from_file, status, unseal,
};
use serde_json::{Value, json};

use common::Captured;

/// Everything a command would print (documents, errors, logs) goes through here.
struct Output {
    logs: Captured,
    printed: String,
}

/// Checks a printed document against the committed schema of its `kind`
/// (`rackpipe_vault_bootstrap::documents::schemas`).
fn assert_matches_schema(document: &impl serde::Serialize) {
    let value = serde_json::to_value(document).unwrap();
    assert_eq!(
        rackpipe_model::schema::check_kind(&rackpipe_vault_bootstrap::documents::schemas(), &value),
        Ok(Vec::new()),
        "{value}"
    );
}

/// The envelope `vault-bootstrap` prints a report in.
fn enveloped<T: rackpipe_model::documents::Kind>(
    body: T,
) -> rackpipe_model::documents::Document<T> {
    rackpipe_model::documents::Document::of(rackpipe_vault_bootstrap::documents::TOOL, "lab", body)
}

impl Output {
    fn doc<T: serde::Serialize + std::fmt::Debug>(&mut self, value: &T) {
        self.printed
            .push_str(&serde_json::to_string(value).unwrap());
        self.printed.push_str(&format!("{value:?}\n"));
    }
    fn err(&mut self, e: &Error) {
        self.printed.push_str(&format!("{e}\n{e:?}\n"));
    }
    fn all(&self) -> String {
        format!("{}{}", self.printed, self.logs.text())
    }
}

/// Listens on a port and drops every connection at once, until dropped (then the port is
/// free again for the node it stands in for).
struct PortSquatter {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PortSquatter {
    fn hold(port: u16) -> Self {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("hold the stopped node's port {port}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PortSquatter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_lifecycle() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut out = Output {
        logs,
        printed: String::new(),
    };

    let Some(mut tc) = common::TestCluster::start_with(true) else {
        return;
    };
    let t_start = Instant::now();
    let cluster = tc.cluster();
    let first = cluster.nodes()[0].clone();
    let want = desired(&tc.site).unwrap();

    // Fresh: every node uninitialized; plan refuses.
    let st = status(&cluster, None).await.unwrap();
    out.doc(&st);
    assert!(
        st.nodes.iter().all(|n| n.state == NodeState::Uninitialized),
        "{st:?}"
    );
    let e = plan(&first, &want, &PlanOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotInitialized { .. }), "{e}");

    // init refuses unless every node answers: a node pointed at a dead loopback port (as if
    // partitioned), then a stopped node. One line naming the node, transient (exit 75),
    // nothing initialised and no keys file. Before, an unreachable node was only logged and
    // init went ahead: a partitioned node holding a cluster would get a second one beside it.
    let refused_keys = tc.dir.path().join("refused-keys.json");
    let refused_opts = InitOptions {
        shares: 5,
        threshold: 3,
        keys_file: Some(refused_keys.clone()),
        ..Default::default()
    };
    let mut partitioned = tc.urls();
    let dead = format!("https://127.0.0.1:{}", rackpipe_testkit::free_port());
    partitioned[2].1 = dead.clone();
    let split = rackpipe_vault_bootstrap::Cluster::new(&partitioned, &tc.client_options()).unwrap();
    let e = init(&split, &refused_opts).await.unwrap_err();
    let line = e.to_string();
    assert!(
        e.is_transient()
            && !line.contains('\n')
            && line.starts_with(&format!("vault3: unreachable at {dead}"))
            && line.contains("init refused: every node must answer"),
        "{line}"
    );
    out.err(&e);
    tc.kill(1);
    // Hold the stopped node's port (accepting and dropping connections, as a dead host's
    // kernel resets them) so that no server another test starts meanwhile can take it and
    // answer for vault2.
    let squatter = PortSquatter::hold(tc.nodes[1].api);
    let e = init(&cluster, &refused_opts).await.unwrap_err();
    assert!(
        matches!(&e, Error::Unreachable { node, .. } if node == "vault2"),
        "{e}"
    );
    out.err(&e);
    drop(squatter);
    tc.spawn(1);
    tc.wait_listening(1);
    assert!(!refused_keys.exists(), "a refused init leaves no keys file");
    let st = status(&cluster, None).await.unwrap();
    assert!(
        st.nodes.iter().all(|n| n.state == NodeState::Uninitialized),
        "nothing initialised: {st:?}"
    );

    // init: refuses to hand out plaintext; writes a 0600 file; refuses a second init.
    let e = init(
        &cluster,
        &InitOptions {
            shares: 5,
            threshold: 3,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("refusing to return them in plaintext"),
        "{e}"
    );
    out.err(&e);
    let keys_file = tc.dir.path().join("keys.json");
    let opts = InitOptions {
        shares: 5,
        threshold: 3,
        keys_file: Some(keys_file.clone()),
        ..Default::default()
    };
    let report = init(&cluster, &opts).await.unwrap();
    out.doc(&report);
    assert_matches_schema(&enveloped(report.clone()));
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&keys_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let keys = keys_from_file(&keys_file).unwrap();
    let root = root_token_from_file(&keys_file).unwrap();
    assert_eq!(keys.len(), 5);
    assert!(root.expose().starts_with("s."));
    let e = init(
        &cluster,
        &InitOptions {
            keys_file: Some(tc.dir.path().join("k2.json")),
            ..opts.clone()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::AlreadyInitialized { .. }), "{e}");
    out.err(&e);

    // Sealed: apply refuses; too few / wrong keys are clear errors.
    let api = first.clone().with_token(Secret::new(root.expose()));
    let e = plan(&api, &want, &PlanOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Sealed { .. }), "{e}");
    out.err(&e);
    let unseal_opts = UnsealOptions {
        leader_ca_pem: Some(tc.tls.ca_pem.clone()),
        ..Default::default()
    };
    let e = unseal(&cluster, &keys[..2], &unseal_opts)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("too few unseal keys: 2 given, threshold is 3"),
        "{e}"
    );
    out.err(&e);
    let wrong: Vec<Secret> = (0..3)
        .map(|i| {
            use base64::Engine as _;
            Secret::new(base64::engine::general_purpose::STANDARD.encode([i as u8 + 1; 33]))
        })
        .collect();
    let e = unseal(&cluster, &wrong, &unseal_opts).await.unwrap_err();
    assert!(matches!(e, Error::Unseal { .. }), "{e}");
    out.err(&e);

    // Unseal: leader, then followers join (retry_join) and become standby.
    let t = Instant::now();
    let report = unseal(&cluster, &keys[1..4], &unseal_opts).await.unwrap();
    let unseal_time = t.elapsed();
    out.doc(&report);
    assert_matches_schema(&enveloped(report.clone()));
    assert!(
        report
            .nodes
            .iter()
            .all(|n| matches!(n.after, NodeState::Active | NodeState::Standby)),
        "{report:?}"
    );
    let again = unseal(&cluster, &keys[..3], &unseal_opts).await.unwrap();
    assert!(
        again.nodes.iter().all(|n| n.before == n.after),
        "unseal is idempotent: {again:?}"
    );
    let st = status(&cluster, Some(&root)).await.unwrap();
    out.doc(&st);
    assert_matches_schema(&enveloped(st.clone()));
    assert_eq!(st.nodes.iter().filter(|n| n.active).count(), 1, "{st:?}");
    assert_eq!(st.nodes.iter().filter(|n| n.standby).count(), 2, "{st:?}");
    assert_eq!(st.raft_peers.len(), 3, "{st:?}");
    let leader = st.leader.clone().unwrap();

    // Apply the full desired state, then a second plan is empty.
    let t = Instant::now();
    let first_plan = plan(&api, &want, &PlanOptions::default()).await.unwrap();
    out.doc(&first_plan);
    assert!(first_plan.summary.create >= 12, "{:?}", first_plan.summary);
    eprintln!("first plan: {:?}", first_plan.summary);
    let result = apply(
        &api,
        &want,
        &ApplyOptions {
            expected: Some(first_plan.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    out.doc(&result);
    let configure_time = t.elapsed();
    eprintln!(
        "fresh cluster → configured: {:.1}s (unseal {:.1}s, configure {:.1}s)",
        t_start.elapsed().as_secs_f64(),
        unseal_time.as_secs_f64(),
        configure_time.as_secs_f64()
    );
    // Users whose password lives in this Vault's KV (vault: references) wait for the secret.
    let p = plan(&api, &want, &PlanOptions::default()).await.unwrap();
    assert_eq!(p.summary.total(), 0, "second plan: {:#?}", p.changes);
    let mut passwords = Vec::new();
    for u in &want.users {
        let Some(rest) = u.password_ref.strip_prefix("vault:") else {
            continue;
        };
        let pending = format!(
            "auth/userpass/users/{} (pending: password {} not readable yet)",
            u.name, u.password_ref
        );
        assert!(p.unmanaged.contains(&pending), "{:?}", p.unmanaged);
        let (path, key) = rest.split_once('#').unwrap();
        let (mount, sub) = path.split_once('/').unwrap();
        let pw = format!("pw-{}-0123456789", u.name);
        api.expect(
            "POST",
            &format!("{mount}/data/{sub}"),
            Some(&json!({"data": {key: pw}})),
        )
        .await
        .unwrap();
        passwords.push(pw);
    }
    if !passwords.is_empty() {
        let r = apply(&api, &want, &ApplyOptions::default()).await.unwrap();
        assert_eq!(r.summary.create, passwords.len(), "{:?}", r.applied);
        out.doc(&r);
    }
    passwords.push("test-password-1".to_owned());
    let before = api.http().requests();
    let second = plan(&api, &want, &PlanOptions::default()).await.unwrap();
    let plan_requests = api.http().requests() - before;
    out.doc(&second);
    assert_eq!(
        second.summary.total(),
        0,
        "second plan: {:#?}",
        second.changes
    );
    assert!(second.unmanaged.is_empty(), "{:?}", second.unmanaged);
    eprintln!("no-change plan: {plan_requests} API requests");
    assert_eq!(
        second.requests,
        Some(plan_requests),
        "the plan says how many requests it made"
    );
    // A user created from a vault: reference can log in.
    if let Some(u) = want.users.first() {
        let pw = if u.password_ref.starts_with("vault:") {
            passwords[0].clone()
        } else {
            "test-password-1".to_owned()
        };
        let login = first
            .expect(
                "POST",
                &format!("auth/userpass/login/{}", u.name),
                Some(&json!({"password": pw})),
            )
            .await
            .unwrap();
        assert!(
            login["auth"]["policies"]
                .to_string()
                .contains(&u.token_policies[0])
        );
    }
    // PKI: a leaf from an intermediate verifies against the root with openssl.
    let ca = want
        .pki
        .iter()
        .find(|c| c.signed_by.is_some() && !c.roles.is_empty())
        .unwrap();
    let (role, body) = &ca.roles[0];
    let domain = body["allowed_domains"][0].as_str().unwrap();
    let cn = if body["allow_subdomains"] == true {
        format!("grafana.{domain}")
    } else {
        domain.to_owned()
    };
    let mut req = json!({"common_name": cn, "ttl": "1h"});
    if body["allow_ip_sans"] == true {
        req["ip_sans"] = json!("127.0.0.1");
    }
    let issued = api
        .expect("POST", &format!("{}/issue/{role}", ca.mount), Some(&req))
        .await
        .unwrap();
    let (parent, parent_issuer) = ca.signed_by.clone().unwrap();
    let root_pem = api
        .expect(
            "GET",
            &format!("{parent}/issuer/{parent_issuer}/json"),
            None,
        )
        .await
        .unwrap();
    let dir = tc.dir.path();
    let chain: Vec<&str> = issued["data"]["ca_chain"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    std::fs::write(
        dir.join("leaf.pem"),
        issued["data"]["certificate"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("int.pem"), chain.join("\n")).unwrap();
    std::fs::write(
        dir.join("root.pem"),
        root_pem["data"]["certificate"].as_str().unwrap(),
    )
    .unwrap();
    let verify = std::process::Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "int.pem",
            "leaf.pem",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "openssl verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    eprintln!(
        "issued {cn} from {}/{role}; openssl verify: {}",
        ca.mount,
        String::from_utf8_lossy(&verify.stdout).trim()
    );
    let e = api
        .expect(
            "POST",
            &format!("{}/issue/{role}", ca.mount),
            Some(&json!({"common_name": "evil.example.com"})),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not allowed"), "{e}");

    // JWT: bound project on a protected ref logs in; another project or unprotected ref fails.
    let jwt = want.jwt.as_ref().unwrap();
    let (role, body) = jwt
        .roles
        .iter()
        .find(|(_, b)| b["bound_claims"]["ref_protected"] == "true")
        .unwrap();
    let claims = &body["bound_claims"];
    let project = claims["project_path"][0].as_str().unwrap();
    let project_id: u64 = claims["project_id"][0]
        .as_str()
        .and_then(|i| i.parse().ok())
        .unwrap_or(4242);
    let git_ref = claims["ref"][0].as_str().unwrap_or("main");
    let aud = body["bound_audiences"][0].as_str().unwrap();
    let iss = jwt.config["bound_issuer"].as_str().unwrap();
    let mint = |project: &str, id: u64, r: &str, protected: bool, aud: &str| {
        Secret::new(common::mint_jwt(
            &tc.jwt,
            &common::gitlab_claims_from(iss, project, id, r, protected, aud),
        ))
    };
    let token = login_jwt(
        &first,
        &jwt.path,
        role,
        &mint(project, project_id, git_ref, true, aud),
    )
    .await
    .unwrap();
    let me = first
        .clone()
        .with_token(token)
        .expect("GET", "auth/token/lookup-self", None)
        .await
        .unwrap();
    let policies = me["data"]["policies"].to_string();
    for p in body["token_policies"].as_array().unwrap() {
        assert!(
            policies.contains(p.as_str().unwrap()),
            "{policies} lacks {p}"
        );
    }
    for (jwt_token, why) in [
        (
            mint("someone/else", project_id + 1, git_ref, true, aud),
            "another project",
        ),
        (
            mint(project, project_id, git_ref, false, aud),
            "an unprotected ref",
        ),
        (
            mint(project, project_id, git_ref, true, "https://other.example"),
            "another audience",
        ),
    ] {
        let e = login_jwt(&first, &jwt.path, role, &jwt_token)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Api {
                    status: 400 | 403,
                    ..
                }
            ),
            "{why}: {e}"
        );
        out.err(&e);
    }

    // Unmanaged objects are reported, and deleted only with allow_destroy.
    api.expect(
        "PUT",
        "sys/policies/acl/stray",
        Some(&json!({"policy": "path \"x\" { capabilities = [\"read\"] }"})),
    )
    .await
    .unwrap();
    let p = plan(&api, &want, &PlanOptions::default()).await.unwrap();
    assert_eq!(p.unmanaged, vec!["sys/policies/acl/stray".to_owned()]);
    assert_eq!(p.summary.total(), 0);
    let destroy = PlanOptions {
        allow_destroy: true,
        ..Default::default()
    };
    let r = apply(
        &api,
        &want,
        &ApplyOptions {
            plan: destroy,
            expected: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(r.summary.delete, 1);
    assert_eq!(
        plan(&api, &want, &PlanOptions::default())
            .await
            .unwrap()
            .summary
            .total(),
        0
    );

    // Drift made by hand (policy body, PKI role TTL, mount description, JWT role audience) is
    // planned as updates of exactly those objects, with before/after, and repaired by apply.
    let policy = &want.policies[0];
    let (pki_role, _) = &ca.roles[0];
    let pki_role_path = format!("{}/roles/{pki_role}", ca.mount);
    let mount = &want.mounts[0];
    let jwt_role_path = format!("auth/{}/role/{}", jwt.path, jwt.roles[0].0);
    api.expect(
        "PUT",
        &format!("sys/policies/acl/{}", policy.name),
        Some(&json!({"policy": "path \"x\" { capabilities = [\"read\"] }"})),
    )
    .await
    .unwrap();
    // Role writes replace the whole role, so tamper with complete bodies.
    let mut tampered = ca.roles[0].1.clone();
    tampered["ttl"] = json!(60);
    api.expect("POST", &pki_role_path, Some(&tampered))
        .await
        .unwrap();
    api.expect(
        "POST",
        &format!("sys/mounts/{}/tune", mount.path),
        Some(&json!({"description": "changed by hand"})),
    )
    .await
    .unwrap();
    let mut tampered = jwt.roles[0].1.clone();
    tampered["bound_audiences"] = json!(["https://elsewhere"]);
    api.expect("POST", &jwt_role_path, Some(&tampered))
        .await
        .unwrap();
    let p = plan(&api, &want, &PlanOptions::default()).await.unwrap();
    out.doc(&p);
    let mut updated: Vec<&str> = p.changes.iter().map(|c| c.resource.as_str()).collect();
    updated.sort_unstable();
    let mut expected = vec![
        format!("sys/policies/acl/{}", policy.name),
        pki_role_path.clone(),
        format!("sys/mounts/{}/tune", mount.path),
        jwt_role_path.clone(),
    ];
    expected.sort();
    assert_eq!(updated, expected, "{:#?}", p.changes);
    assert_eq!(p.summary.update, 4);
    let role_change = p
        .changes
        .iter()
        .find(|c| c.resource == pki_role_path)
        .unwrap();
    assert_eq!(role_change.before, Some(json!({"ttl": 60})));
    let r = apply(
        &api,
        &want,
        &ApplyOptions {
            expected: Some(p),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.summary.update, 4);
    assert_eq!(
        plan(&api, &want, &PlanOptions::default())
            .await
            .unwrap()
            .summary
            .total(),
        0
    );

    // Kill and restart a standby: unseal brings it back as standby.
    let standby = tc.nodes.iter().position(|n| n.name != leader).unwrap();
    tc.kill(standby);
    let e = unseal(&cluster, &keys[..3], &unseal_opts)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Unreachable { .. }) && e.is_transient(),
        "{e}"
    );
    out.err(&e);
    tc.spawn(standby);
    tc.wait_listening(standby);
    let report = unseal(&cluster, &keys[..3], &unseal_opts).await.unwrap();
    out.doc(&report);
    assert_eq!(report.nodes[standby].before, NodeState::Sealed);
    assert_eq!(report.nodes[standby].after, NodeState::Standby);

    // Kill the active node: another one becomes active. Autopilot promotes joined followers to
    // voters only after its stabilization time, so wait for three voters first.
    let t = Instant::now();
    loop {
        let st = status(&cluster, Some(&root)).await.unwrap();
        if st.raft_peers.iter().filter(|p| p.voter).count() == 3 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "followers never became voters: {:?}",
            st.raft_peers
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "all three raft peers voters after {:.1}s more",
        t.elapsed().as_secs_f64()
    );
    let active = tc.nodes.iter().position(|n| n.name == leader).unwrap();
    let t = Instant::now();
    tc.kill(active);
    let mut new_leader = None;
    while t.elapsed() < Duration::from_secs(30) {
        let st = status(&cluster, None).await.unwrap();
        if let Some(l) = st.leader.clone().filter(|l| *l != leader) {
            out.doc(&st);
            new_leader = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failover = t.elapsed();
    assert!(new_leader.is_some(), "no new active node within 30 s");
    eprintln!(
        "failover after SIGKILL of the active node: {:.2}s",
        failover.as_secs_f64()
    );
    let st = status(&cluster, None).await.unwrap();
    assert_eq!(st.nodes[active].state, NodeState::Unreachable);

    // Secrets never appear in anything printed or logged.
    let all = out.all();
    assert!(all.contains("vault request"), "logs were captured");
    for k in &keys {
        assert!(
            !all.contains(k.expose()),
            "an unseal key leaked into output"
        );
    }
    assert!(
        !all.contains(root.expose()),
        "the root token leaked into output"
    );
    assert!(
        !all.contains("test-password-1"),
        "a password leaked into output"
    );
    let _ = std::io::stderr().flush();
}

#[allow(dead_code)]
fn unused(_: Value) {}

/// The reference: the rachuna-dev Vault section applied to a fresh 3-node cluster, then
/// a no-change plan reads the cluster in at most 30 API requests and says how many it made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rachuna_dev_no_change_plan_reads_in_at_most_30_requests() {
    let Some(tc) = common::TestCluster::start_custom(3, Some("rachuna-dev"), None) else {
        return;
    };
    let api = tc.bootstrap(5, 3).await;
    let want = desired(&tc.site).unwrap();
    apply(&api, &want, &ApplyOptions::default()).await.unwrap();
    let before = api.http().requests();
    let p = plan(&api, &want, &PlanOptions::default()).await.unwrap();
    let counted = api.http().requests() - before;
    assert_eq!(p.summary.total(), 0, "{:#?}", p.changes);
    assert_eq!(p.requests, Some(counted), "the plan says how many it made");
    eprintln!("rachuna-dev no-change plan: {counted} API requests");
    assert!(counted <= 30, "{counted} requests");
}
