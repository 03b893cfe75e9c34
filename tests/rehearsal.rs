//! The README's main command, `ci/rehearse.sh`, end to end: the lab comes up, the CI template
//! runs the merge-request, default-branch and schedule pipelines against it with
//! gitlab-ci-local, the second merge request plans zero changes, and the lab is gone after.
//!
//! Needs root (network namespaces) and every tool `.ci/setup.sh` installs; skips with a
//! message otherwise, fails instead when `RACKPIPE_REQUIRE_SERVICES=1`. Uses the binaries this
//! test run built (debug), so nothing is built twice.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The directory holding the binaries cargo built for this run (and `rackpipe-lab`).
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ros-render"))
        .parent()
        .expect("the binary is in a folder")
        .to_path_buf()
}

/// Whether the rehearsal can run here; `false` = skip (after saying why).
pub(crate) fn lab_prerequisites() -> bool {
    for tool in [
        "ip",
        "gitlab-ci-local",
        "bao",
        "haproxy",
        "keepalived",
        "etcd",
        "sshd",
        "prometheus",
        "promtool",
    ] {
        if rackpipe_testkit::require_tool(tool).is_none() {
            return false;
        }
    }
    if rackpipe_testkit::require_root("the lab (network namespaces)").is_none() {
        return false;
    }
    if !bin_dir().join("rackpipe-lab").exists() {
        assert!(
            !rackpipe_testkit::services_required(),
            "{} is missing: build the workspace's binaries (cargo build --workspace --bins)",
            bin_dir().join("rackpipe-lab").display()
        );
        eprintln!("skipping: rackpipe-lab is not built (cargo build --workspace --bins)");
        return false;
    }
    true
}

#[test]
fn the_rehearsal_runs_every_pipeline_against_the_lab_and_converges() {
    if !lab_prerequisites() {
        return;
    }
    let work = rackpipe_testkit::temp_dir();
    let lab_dir = work.path().join("lab");
    let out = Command::new("bash")
        .arg(rackpipe_testkit::project_root().join("ci/rehearse.sh"))
        .env("RACKPIPE_BIN_DIR", bin_dir())
        .env("RACKPIPE_NO_SETUP", "1")
        .env("RACKPIPE_LAB_DIR", &lab_dir)
        .output()
        .expect("run ci/rehearse.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pipeline_logs = || -> String {
        let dir = lab_dir.join("pipelines");
        let mut text = String::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                text.push_str(&format!("\n===== {}\n", entry.path().display()));
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    };
    assert!(
        out.status.success(),
        "ci/rehearse.sh failed:\n{stderr}\n{stdout}\n{}",
        pipeline_logs()
    );
    let summary: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the summary is not JSON ({e}):\n{stdout}"));
    assert_eq!(summary["kind"], "Rehearsal");
    assert_eq!(summary["ok"], true, "{summary:#}");
    let pipelines = summary["pipelines"].as_array().expect("pipelines");
    let names: Vec<&str> = pipelines
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "vault-default-branch",
            "merge-request",
            "default-branch",
            "default-branch-2",
            "merge-request-after-apply",
            "schedule"
        ]
    );
    // Every apply ran and passed; the plans after it are empty.
    let default_branch = &pipelines[2]["jobs"];
    let applies = default_branch
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|j| {
            j["job"]
                .as_str()
                .is_some_and(|n| n.starts_with("rackpipe-apply"))
        })
        .count();
    assert_eq!(applies, 6, "{summary:#}");
    for job in pipelines[4]["jobs"].as_array().expect("jobs") {
        if job["job"]
            .as_str()
            .is_some_and(|n| n.starts_with("rackpipe-plan"))
        {
            assert_eq!(job["changes"], 0, "{summary:#}");
        }
    }
    // Data flowed between the tools: backups landed on the NAS through nfs-export sync,
    // ros-render planned with pve-sync's facts, HAProxy serves the certificate vault-bootstrap
    // issued from the site's PKI.
    let flows = summary["data_flows"].as_array().expect("data_flows");
    for flow in flows {
        assert_eq!(flow["ok"], true, "{flow:#}");
    }
    let nas_flows = flows
        .iter()
        .filter(|f| f["files_on_nas"].as_u64().is_some_and(|n| n > 0))
        .count();
    assert_eq!(
        nas_flows, 2,
        "etcd and router backups on the NAS: {summary:#}"
    );
    let tls_flows = flows.iter().filter(|f| f["listener"].is_string()).count();
    assert_eq!(
        tls_flows, 1,
        "HAProxy serves the certificate Vault issued: {summary:#}"
    );
    // A real Prometheus in the lab saw HAProxy's exporters, OpenBao's sys/metrics (with the
    // token vault-bootstrap created) and etcd's metrics listeners up (ci/lab_prometheus.py).
    let monitoring = flows
        .iter()
        .find(|f| {
            f["flow"]
                .as_str()
                .is_some_and(|n| n.starts_with("Prometheus"))
        })
        .unwrap_or_else(|| panic!("no monitoring flow: {summary:#}"));
    assert_eq!(
        monitoring["jobs"],
        serde_json::json!(["etcd", "haproxy", "vault"])
    );
    assert_eq!(
        monitoring["targets_up"], monitoring["targets"],
        "{monitoring:#}"
    );
    // No secret reached a job log or an artifact: not the root token the jobs used, not the
    // TLS private key haproxy-gen deployed, not the unseal keys.
    let token = std::fs::read_to_string(lab_dir.join("creds/vault-token")).unwrap_or_default();
    assert!(token.len() > 10, "the ceremony wrote no token");
    let mut files = Vec::new();
    let mut dirs = vec![lab_dir.join("pipelines")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "pipeline logs and artifacts: {files:?}");
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
        assert!(
            !text.contains(token.trim()) && !text.contains("PRIVATE KEY"),
            "a secret in {}",
            file.display()
        );
    }
    // Nothing of the lab is left.
    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let lab: Value =
        serde_json::from_str(&std::fs::read_to_string(lab_dir.join("up.json")).unwrap_or_default())
            .unwrap_or(Value::Null);
    if let Some(id) = lab["id"].as_str() {
        assert!(
            !String::from_utf8_lossy(&netns.stdout).contains(id),
            "lab namespaces left behind"
        );
    }
}
