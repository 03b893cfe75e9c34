//! `haproxy-gen` as users run it: render, and plan over SSH against a real sshd on loopback
//! (every instance pointed at it with `--target`). Apply is exercised by the library's tests,
//! which write into temporary paths; the binary's default paths are the real /etc ones.

use crate::support::{run, run_env};

const SITE: &str = "examples/rachuna-dev/site.yaml";

#[test]
fn render_prints_redacted_configs_for_every_instance() {
    let out = run("haproxy-gen", &["render", SITE], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    let files = doc["files"].as_array().unwrap();
    assert_eq!(
        files.len(),
        15,
        "haproxy.cfg, keepalived.conf, the HAProxy check, the Vault health check (chk_vault) and \
         the VRRP notify script (monitoring) on 3 instances"
    );
    let keepalived = files
        .iter()
        .find(|f| f["path"] == "/etc/keepalived/keepalived.conf")
        .unwrap();
    let text = keepalived["content"].as_str().unwrap();
    assert!(
        text.contains("virtual_router_id 254") && text.contains("nopreempt"),
        "{text}"
    );
    assert!(
        !text.contains("auth_pass ") || text.contains("********"),
        "VRRP password must be redacted"
    );
}

#[test]
fn plan_over_ssh_reports_changes_with_detailed_exitcode() {
    let Some(server) = rackpipe_ssh::testing::SshServer::start() else {
        return;
    };
    let port = server.port().to_string();
    let key = server.client_key().display().to_string();
    let known_hosts = server.known_hosts().display().to_string();
    let user = server.user().to_owned();
    let dir = rackpipe_testkit::temp_dir();
    // The example takes the VRRP password from Vault; here it comes from the environment.
    let text = std::fs::read_to_string(crate::support::root().join(SITE)).unwrap();
    let (head, tail) = text
        .split_once("auth_pass:")
        .expect("the example sets auth_pass");
    let rest = tail.split_once('\n').map_or("", |(_, r)| r);
    let site_path = dir.path().join("site.yaml");
    std::fs::write(
        &site_path,
        format!("{head}auth_pass: \"env:RACKPIPE_TEST_VRRP\"\n{rest}"),
    )
    .unwrap();
    let site = site_path.display().to_string();
    let env = [("RACKPIPE_TEST_VRRP", "s3cretpw")];
    let report = dir.path().join("report.json").display().to_string();
    let diff = dir.path().join("plan.diff").display().to_string();
    let targets: Vec<String> = ["vault-1005", "vault-1006", "vault-1007"]
        .iter()
        .map(|i| format!("{i}=127.0.0.1:{port}"))
        .collect();
    let mut args = vec![
        "plan",
        &site,
        "--ssh-user",
        &user,
        "--ssh-key",
        &key,
        "--known-hosts",
        &known_hosts,
        "--detailed-exitcode",
        "--report",
        &report,
        "--diff",
        &diff,
    ];
    for t in &targets {
        args.extend(["--target", t.as_str()]);
    }
    let out = run_env("haproxy-gen", &args, None, &env);
    assert!(
        !out.stdout.contains("s3cretpw") && !out.stderr.contains("s3cretpw"),
        "secret leaked"
    );
    assert_eq!(out.code, 2, "changes expected: {}", out.stderr);
    let plan = out.json();
    assert_eq!(plan["kind"], "Plan");
    assert!(
        plan["summary"]["create"].as_u64().unwrap() + plan["summary"]["update"].as_u64().unwrap()
            > 0
    );
    let counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(
        counts.get("create").is_some()
            && counts.get("update").is_some()
            && counts.get("delete").is_some()
    );
    assert!(std::fs::read_to_string(&diff).unwrap().contains("+++"));

    // A wrong host key is refused before anything is read.
    let wrong = dir.path().join("known_hosts");
    std::fs::write(&wrong, format!("[127.0.0.1]:{port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBXDWAkXk4Yuj2w2WPyS3uSmQ8HtoXpBSmlkR4MYRQzn\n")).unwrap();
    let wrong = wrong.display().to_string();
    let mut args = vec![
        "plan",
        &site,
        "--ssh-user",
        &user,
        "--ssh-key",
        &key,
        "--known-hosts",
        &wrong,
    ];
    for t in &targets {
        args.extend(["--target", t.as_str()]);
    }
    let out = run_env("haproxy-gen", &args, None, &env);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("127.0.0.1"), "{}", out.stderr);
}
