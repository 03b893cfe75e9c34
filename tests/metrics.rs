//! rackpipe's own signals as the CI jobs produce them: the real binaries write their metrics
//! file (`--metrics-file`) also when they fail, promtool accepts it, a failed backup's file fed
//! into the site's alert rules makes the backup alerts fire, and `--push-metrics` POSTs to a
//! real Pushgateway where a failed run keeps the previous success's timestamp.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::{run, run_env};

const SITE: &str = "examples/rachuna-net/site.yaml";

/// The samples of an OpenMetrics file: `(series, value)`, series as `name{labels}`.
fn samples(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample line");
            (series.to_owned(), value.to_owned())
        })
        .collect()
}

fn promtool(args: &[&str], dir: &Path, stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    if let Some(text) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A failed `etcd-backup snapshot` (an unreachable loopback endpoint): its metrics file.
fn failed_snapshot(dir: &Path) -> String {
    let dest = dir.join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let file = dir.join("etcd-backup-snapshot.prom");
    let endpoint = format!("http://127.0.0.1:{}", rackpipe_testkit::free_port());
    let out = run(
        "etcd-backup",
        &[
            "snapshot",
            SITE,
            "--dest",
            &dest.display().to_string(),
            "--endpoint",
            &endpoint,
            "--insecure-http",
            "--metrics-file",
            &file.display().to_string(),
        ],
        None,
    );
    assert_eq!(out.code, 75, "{}", out.stderr);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "metrics file mode");
    std::fs::read_to_string(&file).unwrap()
}

#[test]
fn a_failed_backup_writes_its_metrics_and_fires_the_backup_alerts() {
    if rackpipe_testkit::require_tool("promtool").is_none() {
        return;
    }
    let dir = rackpipe_testkit::temp_dir();
    let text = failed_snapshot(dir.path());
    let (ok, out) = promtool(&["check", "metrics"], dir.path(), Some(&text));
    assert!(ok, "promtool check metrics:\n{out}\n{text}");
    let labels = r#"{tool="etcd-backup",verb="snapshot",site="rachuna-net"}"#;
    assert!(
        text.contains(&format!("rackpipe_run_exit_code{labels} 75\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("rackpipe_run_last_timestamp_seconds{labels} ")),
        "{text}"
    );
    assert!(
        !text.contains("rackpipe_run_last_success_timestamp_seconds"),
        "a failed run has no success timestamp:\n{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");

    // The file as the Pushgateway would serve it (each sample held for 30 hours), against
    // the site's rules: the failure fires at once, the missing success after backup_max_age.
    let (_, site_bytes) = rackpipe_testkit::example_site("rachuna-net");
    let site = rackpipe_model::load_and_validate(SITE, &site_bytes)
        .expect("example validates")
        .site;
    let rules = rackpipe_kubeadm_join::monitoring_rules::alert_rules(&site).unwrap();
    std::fs::write(dir.path().join("rules.yaml"), &rules).unwrap();
    let input: Vec<Value> = samples(&text)
        .into_iter()
        .map(|(series, value)| json!({"series": series, "values": format!("{value}x1800")}))
        .collect();
    let etcd =
        json!({"site": "rachuna-net", "tool": "etcd-backup", "verb": "snapshot", "backup": "etcd"});
    let labels_with = |severity: &str| {
        let mut l = etcd.clone();
        l["severity"] = json!(severity);
        l
    };
    let tests = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": input,
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "RackpipeBackupFailed", "exp_alerts": [{
                    "exp_labels": labels_with("warning"),
                    "exp_annotations": annotations(&rules, "RackpipeBackupFailed", "etcd"),
                }]},
                {"eval_time": "25h", "alertname": "RackpipeBackupMissing", "exp_alerts": []},
                {"eval_time": "27h", "alertname": "RackpipeBackupMissing", "exp_alerts": [
                    {
                        "exp_labels": labels_with("critical"),
                        "exp_annotations": annotations(&rules, "RackpipeBackupMissing", "etcd"),
                    },
                    {
                        "exp_labels": {"site": "rachuna-net", "tool": "ros-render", "verb": "backup", "backup": "router", "severity": "critical"},
                        "exp_annotations": annotations(&rules, "RackpipeBackupMissing", "router"),
                    },
                ]},
                {"eval_time": "27h", "alertname": "RackpipeBackupTooOld", "exp_alerts": []},
            ],
        }],
    });
    std::fs::write(dir.path().join("tests.yaml"), tests.to_string()).unwrap();
    let (ok, out) = promtool(&["test", "rules", "tests.yaml"], dir.path(), None);
    assert!(ok, "promtool test rules:\n{out}\nmetrics:\n{text}");
}

/// The annotations of the rule `alert` for `backup` (they hold no `$labels` template).
fn annotations(rules: &str, alert: &str, backup: &str) -> Value {
    let rules: Value = serde_saphyr::from_str(rules).unwrap();
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .find(|r| r["alert"] == alert && r["labels"]["backup"] == backup)
        .unwrap_or_else(|| panic!("no {alert} for {backup}"))["annotations"]
        .clone()
}

/// A real Pushgateway on a free loopback port, killed on drop.
struct Pushgateway {
    child: Child,
    url: String,
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pushgateway() -> Option<Pushgateway> {
    let binary = rackpipe_testkit::require_tool("prometheus-pushgateway")?;
    let port = rackpipe_testkit::free_port();
    let child = Command::new(binary)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-pushgateway");
    let gateway = Pushgateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "pushgateway did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Some(gateway)
}

/// The Pushgateway's own exposition of the rackpipe series, through curl-free std HTTP.
fn scrape(gateway: &Pushgateway) -> String {
    use std::io::{Read as _, Write as _};
    let address = gateway.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: {address}\r\nAccept: text/plain\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
        .lines()
        .filter(|l| l.starts_with("rackpipe_"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_pushed_failure_keeps_the_last_success_and_an_unreachable_gateway_only_warns() {
    let Some(gateway) = pushgateway() else {
        return;
    };
    let dir = rackpipe_testkit::temp_dir();
    let (_, bytes) = rackpipe_testkit::example_site("rachuna-net");
    let mut site: Value = serde_saphyr::from_slice(&bytes).unwrap();
    site["monitoring"]["pushgateway"] = json!({"url": gateway.url});
    let site_path = dir.path().join("site.json");
    std::fs::write(&site_path, site.to_string()).unwrap();
    let site_arg = site_path.display().to_string();
    let dest = dir.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let metrics = dir.path().join("prune.prom");
    let env = [
        ("RACKPIPE_METRICS_FILE", metrics.to_str().unwrap()),
        ("RACKPIPE_PUSH_METRICS", "1"),
    ];
    // prune succeeds on an empty destination, then fails on a destination that is a file.
    let out = run_env(
        "etcd-backup",
        &["prune", &site_arg, "--dest", dest.to_str().unwrap()],
        None,
        &env,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("not pushed"), "{}", out.stderr);
    let first = scrape(&gateway);
    let success = first
        .lines()
        .find(|l| l.starts_with("rackpipe_run_last_success_timestamp_seconds{"))
        .unwrap_or_else(|| panic!("no success pushed:\n{first}"))
        .to_owned();
    assert!(success.contains(r#"tool="etcd-backup""#), "{success}");
    assert!(success.contains(r#"verb="prune""#), "{success}");
    assert!(success.contains(r#"site="rachuna-net""#), "{success}");
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let out = run_env(
        "etcd-backup",
        &["prune", &site_arg, "--dest", not_a_dir.to_str().unwrap()],
        None,
        &env,
    );
    assert_ne!(out.code, 0, "{}", out.stderr);
    let second = scrape(&gateway);
    assert!(
        second.contains(&format!("{success}\n")),
        "the failed run's POST keeps the success timestamp:\n{second}"
    );
    let exit = second
        .lines()
        .find(|l| l.starts_with("rackpipe_run_exit_code{"))
        .unwrap();
    assert!(
        exit.ends_with(&format!(" {}", out.code)),
        "{exit}\n{second}"
    );
    // The Pushgateway gone: the run's own outcome stands, the push failure is one warning.
    drop(gateway);
    let out = run_env(
        "etcd-backup",
        &["prune", &site_arg, "--dest", dest.to_str().unwrap()],
        None,
        &env,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("etcd-backup: warning: metrics not pushed to http://127.0.0.1:"),
        "{}",
        out.stderr
    );
    assert!(metrics.is_file());
}

#[test]
fn plain_http_to_a_pushgateway_off_loopback_is_refused_without_failing_the_run() {
    let dir = rackpipe_testkit::temp_dir();
    let (_, bytes) = rackpipe_testkit::example_site("rachuna-net");
    let mut site: Value = serde_saphyr::from_slice(&bytes).unwrap();
    // Never contacted: the URL rule refuses plain HTTP to anything but a literal loopback.
    site["monitoring"]["pushgateway"] = json!({"url": "http://pushgateway.invalid:9091"});
    let site_path = dir.path().join("site.json");
    std::fs::write(&site_path, site.to_string()).unwrap();
    let metrics = dir.path().join("validate.prom");
    let out = run(
        "etcd-backup",
        &[
            "validate",
            site_path.to_str().unwrap(),
            "--metrics-file",
            metrics.to_str().unwrap(),
            "--push-metrics",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("warning: metrics not pushed to http://pushgateway.invalid:9091"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains(r#"rackpipe_run_last_success_timestamp_seconds{tool="etcd-backup",verb="validate",site="rachuna-net"}"#),
        "{text}"
    );
}
