//! The `ros-render` binary's `plan`, `apply` and `backup` verbs against the simulator: exit
//! codes, one-line errors, nothing half-applied. Uses the binary the workspace built
//! (`target/debug/ros-render`); skips when it is absent (build it with
//! `cargo build --bin ros-render`).
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use rackpipe_ros_sim::{Secret, SimConfig, Simulator};

const PASSWORD: &str = "cli-sim-password";
const PASSWORD_ENV: &str = "ROS_RENDER_TEST_ROUTER_PASSWORD";

fn binary() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || rackpipe_testkit::project_root().join("target"),
        PathBuf::from,
    );
    let bin = target.join("debug/ros-render");
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!(
            "skipping: {} is absent (cargo build --bin ros-render)",
            bin.display()
        );
        None
    }
}

/// rachuna-dev with the password from an environment variable.
fn site_file(dir: &Path) -> Option<PathBuf> {
    let path = rackpipe_testkit::project_root().join("examples/rachuna-dev/site.yaml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} is absent", path.display());
        return None;
    };
    let text = text.replacen(
        "password: vault:dev.rachuna/auth/router.rachuna.dev#password",
        &format!("password: env:{PASSWORD_ENV}"),
        1,
    );
    // The simulator has no /system/ntp/server menu: leave the clock section out.
    let mut kept = Vec::new();
    let mut in_clock = false;
    for line in text.lines() {
        if line == "  clock:" {
            in_clock = true;
            continue;
        }
        if in_clock && line.starts_with("    ") {
            continue;
        }
        in_clock = false;
        kept.push(line);
    }
    let text = kept.join("\n");
    let out = dir.join("site.yaml");
    std::fs::write(&out, text).unwrap();
    Some(out)
}

async fn run(bin: &Path, args: Vec<String>, password: &str) -> Output {
    let bin = bin.to_owned();
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(args)
            .env(PASSWORD_ENV, password)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_backup_exit_codes() {
    let Some(bin) = binary() else { return };
    let dir = rackpipe_testkit::temp_dir();
    let Some(site) = site_file(dir.path()) else {
        return;
    };
    let site = site.display().to_string();
    let mut ports: Vec<String> = (1..=10).map(|i| format!("ether{i}")).collect();
    ports.push("sfp-sfpplus1".to_owned());
    let sim = Simulator::start(SimConfig {
        users: vec![("mrachuna".to_owned(), Secret::new(PASSWORD))],
        ethernet_ports: ports,
        management: None,
        unreachable_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = sim.base_url();
    let conn = |extra: &[&str]| {
        let mut a = args(extra);
        a.extend(args(&["--url", &url, "--insecure-http", "--timeout", "5"]));
        a
    };

    // plan: exit 2 with changes, a Plan document with the RouterOS commands.
    let plan_path = dir.path().join("plan.json");
    let out = run(
        &bin,
        conn(&["plan", &site, "--detailed-exitcode"]),
        PASSWORD,
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&plan_path, &out.stdout).unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["kind"], "Plan");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/interface bridge add"), "{text}");
    assert!(!text.contains(PASSWORD));
    let before = sim.export_config();

    // apply: the simulator rejects a property it does not model (dhcp-snooping): a clear
    // one-line error, exit 1, and the router back at its pre-apply export.
    let out = run(
        &bin,
        conn(&[
            "apply",
            &site,
            "--revert-after",
            "5",
            "--plan",
            &plan_path.display().to_string(),
        ]),
        PASSWORD,
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("400 Bad Request"), "{stderr}");
    assert!(
        stderr.contains("reverted to the pre-apply export"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(sim.export_config(), before, "nothing half-applied");

    // A stale plan is refused.
    sim.run_script("/interface bridge add name=by-hand")
        .unwrap();
    let out = run(
        &bin,
        conn(&["apply", &site, "--plan", &plan_path.display().to_string()]),
        PASSWORD,
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stale plan"), "{stderr}");

    // Wrong password: exit 1, no secret in the output.
    let out = run(&bin, conn(&["plan", &site]), "wrong-password").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("401 Unauthorized"), "{stderr}");
    assert!(!stderr.contains("wrong-password"));

    // Unreachable: transient, exit 75.
    let port = rackpipe_testkit::free_port();
    let out = run(
        &bin,
        args(&[
            "plan",
            &site,
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--insecure-http",
        ]),
        PASSWORD,
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Backup: both files with checksums.
    let backups = dir.path().join("backups");
    let out = run(
        &bin,
        conn(&["backup", &site, "--out", &backups.display().to_string()]),
        PASSWORD,
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["files"].as_array().map(Vec::len), Some(2));
    assert!(backups.join("SHA256SUMS").exists());
}
