//! Reading `/v1/sys/metrics` on a real OpenBao configured from the site's
//! `monitoring.targets.vault`: with a token reference, apply writes the `prometheus-metrics`
//! policy and a token of the referenced value that may read the metrics (and nothing else);
//! without one, the listener serves them to anyone.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rackpipe_vault_bootstrap::{ApplyOptions, PlanOptions, Secret, apply, desired, plan};

use crate::common;

/// `GET /v1/sys/metrics?format=prometheus` on `port` with curl (the lab CA), optionally with a
/// token sent from a 0600 header file (never in the arguments). Status and body.
fn metrics(dir: &Path, ca: &Path, port: u16, token: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["-w", "\n%{http_code}"]);
    if let Some(token) = token {
        let header = dir.join("metrics-header");
        std::fs::write(&header, format!("X-Vault-Token: {token}\n")).expect("header file");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&header, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        cmd.arg("-H").arg(format!("@{}", header.display()));
    }
    let out = cmd
        .arg(format!(
            "https://127.0.0.1:{port}/v1/sys/metrics?format=prometheus"
        ))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_token_reads_sys_metrics_and_nothing_else() {
    if rackpipe_testkit::require_tool("curl").is_none() {
        return;
    }
    let reference = "env:RACKPIPE_TEST_METRICS_TOKEN";
    let sections = format!("monitoring:\n  targets:\n    vault: {{ token: \"{reference}\" }}\n");
    let Some(tc) = common::TestCluster::start_with_sections(1, &sections) else {
        return;
    };
    let rendered = std::fs::read_to_string(tc.nodes[0].dir.join("server.hcl")).unwrap();
    assert!(rendered.contains("prometheus_retention_time"), "{rendered}");
    assert!(
        !rendered.contains("unauthenticated_metrics_access"),
        "a token is configured: {rendered}"
    );
    let api = tc.bootstrap(1, 1).await;
    let token = format!("{:032x}", rand_u128());
    let resolved: BTreeMap<String, Secret> =
        [(reference.to_owned(), Secret::new(token.clone()))].into();
    let options = ApplyOptions {
        plan: PlanOptions {
            resolved,
            ..PlanOptions::default()
        },
        ..ApplyOptions::default()
    };
    let want = desired(&tc.site).unwrap();
    assert!(
        want.policies
            .iter()
            .any(|p| p.name == "prometheus-metrics" && p.text.contains("\"sys/metrics\""))
    );
    // A single node becomes the raft leader a moment after it is unsealed.
    let mut first = None;
    for _ in 0..100 {
        match plan(&api, &want, &options.plan).await {
            Ok(p) => {
                first = Some(p);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    let first = first.expect("the node never became active");
    let token_change = first
        .changes
        .iter()
        .find(|c| c.resource.starts_with("auth/token/create-orphan"))
        .expect("the plan creates the metrics token");
    let shown = serde_json::to_string(&first).unwrap();
    assert!(
        !shown.contains(&token),
        "the plan shows the token: {token_change:?}"
    );

    let port = tc.nodes[0].api;
    let dir = tc.dir.path();
    let (status, _) = metrics(dir, &tc.tls.ca, port, Some(&token));
    assert_eq!(status, 403, "before apply the token does not exist");

    apply(&api, &want, &options).await.unwrap();
    let (status, body) = metrics(dir, &tc.tls.ca, port, Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("# TYPE"), "Prometheus text: {body}");
    let (status, body) = metrics(dir, &tc.tls.ca, port, None);
    assert!(
        (400..500).contains(&status),
        "without a token: HTTP {status} {body}"
    );
    // The token reads metrics only.
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&tc.tls.ca)
        .arg("-H")
        .arg(format!("@{}", dir.join("metrics-header").display()))
        .arg(format!("https://127.0.0.1:{port}/v1/sys/policies/acl"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");

    let again = plan(&api, &want, &options.plan).await.unwrap();
    assert_eq!(again.summary.total(), 0, "{:#?}", again.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_listener_serves_metrics_to_anyone() {
    if rackpipe_testkit::require_tool("curl").is_none() {
        return;
    }
    let sections = "monitoring:\n  targets:\n    vault: {}\n";
    let Some(tc) = common::TestCluster::start_with_sections(1, sections) else {
        return;
    };
    let rendered = std::fs::read_to_string(tc.nodes[0].dir.join("server.hcl")).unwrap();
    assert!(
        rendered.contains("unauthenticated_metrics_access = true"),
        "{rendered}"
    );
    let _api = tc.bootstrap(1, 1).await;
    let want = desired(&tc.site).unwrap();
    assert!(want.metrics_token.is_none());
    assert!(!want.policies.iter().any(|p| p.name == "prometheus-metrics"));
    let (status, body) = metrics(tc.dir.path(), &tc.tls.ca, tc.nodes[0].api, None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("# TYPE"), "{body}");
}

fn rand_u128() -> u128 {
    let mut bytes = [0u8; 16];
    let f = std::fs::File::open("/dev/urandom").unwrap();
    use std::io::Read as _;
    f.take(16).read_exact(&mut bytes).unwrap();
    u128::from_le_bytes(bytes)
}
