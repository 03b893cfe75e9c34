//! The site's alert rules (`monitoring_rules::alert_rules`) checked by the real promtool:
//! `promtool check rules` on the rendered file, and `promtool test rules` with cases showing
//! each alert firing on the series that should fire it and silent otherwise.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rackpipe_kubeadm_join::monitoring_rules::alert_rules;
use rackpipe_model::Site;
use serde_json::{Value, json};

fn example(name: &str) -> Site {
    let (path, bytes) = rackpipe_testkit::example_site(name);
    rackpipe_model::load_and_validate(&path.display().to_string(), &bytes)
        .expect("example validates")
        .site
}

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The rules file of `site` written to `dir/rules.yaml`, parsed.
fn write_rules(site: &Site, dir: &Path) -> Value {
    let text = alert_rules(site).expect("rules render");
    std::fs::write(dir.join("rules.yaml"), &text).unwrap();
    serde_saphyr::from_str::<Value>(&text).expect("rules parse as YAML")
}

/// An expected alert: its labels, and the annotations the rule's templates give them (each
/// `{{ $labels.NAME }}` replaced; the rules use no other template).
/// The rule is the one of that name whose own labels the alert carries (one rule per backup
/// or runner).
fn alert(rules: &Value, name: &str, labels: &[(&str, &str)]) -> Value {
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    let rule = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .find(|r| {
            r["alert"] == name
                && r["labels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| labels.get(k.as_str()).copied() == v.as_str())
        })
        .unwrap_or_else(|| panic!("no rule {name} with labels {labels:?}"));
    let annotations: BTreeMap<String, String> = rule["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let mut text = v.as_str().unwrap().to_owned();
            for (label, value) in &labels {
                text = text.replace(&format!("{{{{ $labels.{label} }}}}"), value);
            }
            assert!(
                !text.contains("{{"),
                "{name}.{k}: unexpanded template in {text}"
            );
            (k.clone(), text)
        })
        .collect();
    json!({"exp_labels": labels, "exp_annotations": annotations})
}

/// `promtool test rules` of `tests` against dir/rules.yaml; panics with promtool's output.
fn run_tests(dir: &Path, tests: &[Value]) {
    let file = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": tests,
    });
    std::fs::write(dir.join("tests.yaml"), file.to_string()).unwrap();
    let (ok, out) = promtool(&["test", "rules", "tests.yaml"], dir);
    assert!(ok, "promtool test rules failed:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

fn series(name: &str, labels: &[(&str, &str)], values: &str) -> Value {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    json!({"series": format!("{name}{{{}}}", labels.join(",")), "values": values})
}

fn check(eval_time: &str, alertname: &str, alerts: Vec<Value>) -> Value {
    json!({"eval_time": eval_time, "alertname": alertname, "exp_alerts": alerts})
}

const SITE: &str = "rachuna-net";

#[test]
fn rendered_rules_pass_promtool_check_and_each_alert_fires_only_when_it_should() {
    if rackpipe_testkit::require_tool("promtool").is_none() {
        return;
    }
    let site = example(SITE);
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(&site, dir.path());
    let (ok, out) = promtool(&["check", "rules", "rules.yaml"], dir.path());
    assert!(ok, "promtool check rules:\n{out}");
    let names: Vec<&str> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .filter_map(|r| r["alert"].as_str())
        .collect();
    for expected in [
        "RackpipeBackupTooOld",
        "RackpipeBackupMissing",
        "RackpipeBackupFailed",
        "RackpipeDrift",
        "RackpipeCertificateExpiring",
        "VaultSealed",
        "VaultNoLeader",
        "VipFlapping",
        "RunnerCacheMountMissing",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }

    let s = SITE;
    let etcd = [("site", s), ("tool", "etcd-backup"), ("verb", "snapshot")];
    let router = [("site", s), ("tool", "ros-render"), ("verb", "backup")];
    let with = |base: &[(&'static str, &'static str)], extra: &[(&'static str, &'static str)]| {
        let mut l = base.to_vec();
        l.extend_from_slice(extra);
        l
    };
    let backup = |what: &'static str, sev: &'static str, base: &[(&'static str, &'static str)]| {
        with(base, &[("backup", what), ("severity", sev)])
    };
    let success = "rackpipe_run_last_success_timestamp_seconds";
    let exit = "rackpipe_run_exit_code";
    let tests = vec![
        // The etcd backup last succeeded at 0 and never since; the router's succeeds every
        // minute (its timestamp keeps up with the clock). 26h is the default maximum age.
        json!({
            "interval": "1m",
            "input_series": [
                series(success, &etcd, "0x1800"),
                series(exit, &etcd, "0x1800"),
                series(success, &router, "0+60x1800"),
                series(exit, &router, "0x1800"),
            ],
            "alert_rule_test": [
                check("25h", "RackpipeBackupTooOld", vec![]),
                check("27h", "RackpipeBackupTooOld", vec![
                    alert(&rules, "RackpipeBackupTooOld", &backup("etcd", "critical", &etcd)),
                ]),
                check("27h", "RackpipeBackupMissing", vec![]),
                check("27h", "RackpipeBackupFailed", vec![]),
            ],
        }),
        // Nothing pushed for the router; the etcd backup only ever failed (exit 75, no
        // success timestamp): the failure fires at once, both "missing" after 26h.
        json!({
            "interval": "1m",
            "input_series": [series(exit, &etcd, "75x1800")],
            "alert_rule_test": [
                check("10m", "RackpipeBackupFailed", vec![
                    alert(&rules, "RackpipeBackupFailed", &backup("etcd", "warning", &etcd)),
                ]),
                check("25h", "RackpipeBackupMissing", vec![]),
                check("27h", "RackpipeBackupMissing", vec![
                    alert(&rules, "RackpipeBackupMissing", &backup("etcd", "critical", &etcd)),
                    alert(&rules, "RackpipeBackupMissing", &backup("router", "critical", &router)),
                ]),
            ],
        }),
        // Drift: a plan with changes fires; an apply's changes do not; a clean plan is silent.
        json!({
            "interval": "1m",
            "input_series": [
                series("rackpipe_run_changes", &[("site", s), ("tool", "ros-render"), ("verb", "plan")], "0x10 3x10"),
                series("rackpipe_run_changes", &[("site", s), ("tool", "pve-sync"), ("verb", "plan")], "0x20"),
                series("rackpipe_run_changes", &[("site", s), ("tool", "pve-sync"), ("verb", "apply")], "5x20"),
            ],
            "alert_rule_test": [
                check("5m", "RackpipeDrift", vec![]),
                check("15m", "RackpipeDrift", vec![
                    alert(&rules, "RackpipeDrift", &[("site", s), ("tool", "ros-render"), ("severity", "warning")]),
                ]),
            ],
        }),
        // Certificates: 100 days left is silent, 10 days (under the default 14d) fires.
        json!({
            "interval": "1m",
            "input_series": [
                series("rackpipe_certificate_expiry_timestamp_seconds", &[("site", s), ("issuer", "pki_int"), ("name", "long")], "8640000x10"),
                series("rackpipe_certificate_expiry_timestamp_seconds", &[("site", s), ("issuer", "pki_int"), ("name", "short")], "864000x10"),
            ],
            "alert_rule_test": [
                check("5m", "RackpipeCertificateExpiring", vec![
                    alert(&rules, "RackpipeCertificateExpiring", &[("site", s), ("issuer", "pki_int"), ("name", "short"), ("severity", "warning")]),
                ]),
            ],
        }),
        // Vault: OpenBao keeps a stale `vault_core_unsealed{cluster=""} 0` beside the real
        // series (seen on `bao server -dev`), so one 0 series alone is not "sealed". v2 seals
        // at 10m; v1 stays the unsealed active node: no "no leader".
        json!({
            "interval": "1m",
            "input_series": [
                series("vault_core_unsealed", &[("instance", "v1:8200"), ("cluster", "")], "0x30"),
                series("vault_core_unsealed", &[("instance", "v1:8200"), ("cluster", "c")], "1x30"),
                series("vault_core_active", &[("instance", "v1:8200"), ("cluster", "c")], "1x30"),
                series("vault_core_unsealed", &[("instance", "v2:8200"), ("cluster", "c")], "1x10 0x20"),
                series("vault_core_active", &[("instance", "v2:8200"), ("cluster", "c")], "0x30"),
            ],
            "alert_rule_test": [
                check("5m", "VaultSealed", vec![]),
                check("13m", "VaultSealed", vec![
                    alert(&rules, "VaultSealed", &[("instance", "v2:8200"), ("site", s), ("severity", "critical")]),
                ]),
                check("13m", "VaultNoLeader", vec![]),
            ],
        }),
        // No leader: the only node that says active is sealed (a stale gauge) after 10m.
        json!({
            "interval": "1m",
            "input_series": [
                series("vault_core_unsealed", &[("instance", "v1:8200"), ("cluster", "c")], "1x10 0x20"),
                series("vault_core_active", &[("instance", "v1:8200"), ("cluster", "c")], "1x30"),
            ],
            "alert_rule_test": [
                check("5m", "VaultNoLeader", vec![]),
                check("13m", "VaultNoLeader", vec![
                    alert(&rules, "VaultNoLeader", &[("site", s), ("severity", "critical")]),
                ]),
            ],
        }),
        // VIP flapping: 20 transitions in 20 minutes (10 moves > 3 in 1h) fires; a VIP whose
        // counter stays put is silent.
        json!({
            "interval": "1m",
            "input_series": [
                series("keepalived_vrrp_transitions_total", &[("instance", "lb1:9100"), ("vrrp_instance", "VI_1"), ("vip", "10.3.0.10")], "0+1x20"),
                series("keepalived_vrrp_transitions_total", &[("instance", "lb1:9100"), ("vrrp_instance", "VI_2"), ("vip", "10.3.0.11")], "1x20"),
            ],
            "alert_rule_test": [
                check("2m", "VipFlapping", vec![]),
                check("20m", "VipFlapping", vec![
                    alert(&rules, "VipFlapping", &[("vip", "10.3.0.10"), ("site", s), ("severity", "warning")]),
                ]),
            ],
        }),
        // Runner cache: ct01002 (by address) and ct01004 (by name) show /cache; ct01003 does
        // not, and fires after the default 5m.
        json!({
            "interval": "1m",
            "input_series": [
                series("node_filesystem_size_bytes", &[("instance", "10.3.1.2:9100"), ("mountpoint", "/cache"), ("fstype", "nfs4")], "1e12x20"),
                series("node_filesystem_size_bytes", &[("instance", "10.3.1.3:9100"), ("mountpoint", "/"), ("fstype", "ext4")], "1e11x20"),
                series("node_filesystem_size_bytes", &[("instance", "ct01004.rachuna-net.pl:9100"), ("mountpoint", "/cache"), ("fstype", "nfs4")], "1e12x20"),
            ],
            "alert_rule_test": [
                check("3m", "RunnerCacheMountMissing", vec![]),
                check("10m", "RunnerCacheMountMissing", vec![
                    alert(&rules, "RunnerCacheMountMissing", &[("mountpoint", "/cache"), ("runner", "pl.rachuna-net.runner.ct01003"), ("site", s), ("severity", "warning")]),
                ]),
            ],
        }),
    ];
    run_tests(dir.path(), &tests);
}

#[test]
fn thresholds_come_from_the_site_and_absent_sections_leave_their_rules_out() {
    let mut site = example(SITE);
    let mut monitoring = site.monitoring.clone().unwrap_or_default();
    monitoring.alerts.backup_max_age = "30h".parse().unwrap();
    monitoring.alerts.vip_max_moves = 7;
    site.monitoring = Some(monitoring);
    let text = alert_rules(&site).unwrap();
    assert!(text.contains("> 108000\n"), "30h in seconds:\n{text}");
    assert!(text.contains("for: 30h"), "{text}");
    assert!(text.contains("/ 2 > 7\n"), "{text}");
    site.vault = None;
    site.load_balancer = None;
    site.runners = None;
    site.backups = None;
    let text = alert_rules(&site).unwrap();
    for gone in [
        "Vault",
        "VipFlapping",
        "RunnerCache",
        "RackpipeBackup",
        "Certificate",
    ] {
        assert!(!text.contains(gone), "{gone} left in:\n{text}");
    }
    assert!(text.contains("RackpipeDrift"), "{text}");
}
