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
const BACKUP_PASSWORD: &str = "cli-backup-password";
const BACKUP_PASSWORD_ENV: &str = "ROS_RENDER_TEST_BACKUP_PASSWORD";

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
    let (_, bytes) = rackpipe_testkit::example_site("rachuna-dev");
    let text = String::from_utf8(bytes).expect("UTF-8 example");
    let text = text.replacen(
        "password: vault:dev.rachuna/auth/router.rachuna.dev#password",
        &format!("password: env:{PASSWORD_ENV}\n    backup_password: env:{BACKUP_PASSWORD_ENV}"),
        1,
    );
    assert!(text.contains(&format!("env:{PASSWORD_ENV}")));
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
            .env(BACKUP_PASSWORD_ENV, BACKUP_PASSWORD)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn conn_args(url: &str, mut a: Vec<String>) -> Vec<String> {
    a.extend(args(&["--url", url, "--insecure-http", "--timeout", "5"]));
    a
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
    let conn = |extra: &[&str]| conn_args(&url, args(extra));

    let plan_path = dir.path().join("plan.json");
    let plan_file = plan_path.display().to_string();
    let plan = |extra: &'static [&'static str]| {
        let mut a = args(&["plan", &site]);
        a.extend(args(extra));
        conn_args(&url, a)
    };

    // An interface by hand with the name of a bridge the site adds: the apply fails midway
    // (RouterOS refuses the duplicate name): a clear one-line error, exit 1, and the router
    // back at its pre-apply export.
    sim.run_script("/interface vlan add name=BRIDGE-USERS interface=ether1 vlan-id=99")
        .unwrap();
    let out = run(&bin, plan(&["--detailed-exitcode"]), PASSWORD).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&plan_path, &out.stdout).unwrap();
    let before = sim.export_config();
    let apply = |extra: &[&str]| {
        let mut a = args(&["apply", &site, "--revert-after", "20", "--plan", &plan_file]);
        a.extend(args(extra));
        conn_args(&url, a)
    };
    let out = run(&bin, apply(&[]), PASSWORD).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("400 Bad Request") && stderr.contains("already have interface"),
        "{stderr}"
    );
    assert!(stderr.contains("loaded the pre-apply backup"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(sim.export_config(), before, "nothing half-applied");

    // Without the obstacle: plan (exit 2, a Plan document with the RouterOS commands for
    // every rendered menu), apply (exit 0), plan again (exit 0: nothing to do).
    sim.run_script("/interface vlan remove [ find name=BRIDGE-USERS ]")
        .unwrap();
    let out = run(&bin, plan(&["--detailed-exitcode"]), PASSWORD).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&plan_path, &out.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["kind"], "Plan");
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "/interface bridge add",
        "dhcp-snooping=yes",
        "trusted=yes",
        "dynamic-lease-identifiers=",
        "/system ntp server set",
    ] {
        assert!(text.contains(command), "{command}: {text}");
    }
    assert!(!text.contains(PASSWORD));
    let out = run(&bin, apply(&[]), PASSWORD).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&bin, plan(&["--detailed-exitcode"]), PASSWORD).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );

    // A stale plan is refused.
    sim.run_script("/interface bridge add name=by-hand")
        .unwrap();
    let out = run(&bin, apply(&[]), PASSWORD).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stale plan"), "{stderr}");

    // Disarming the revert fails (every DELETE of a scheduler entry answers 500): the
    // changes are in, the revert is armed: one line saying so and when, exit 3 (not 75: a
    // retry would find nothing to change). The revert then fires and undoes the apply.
    sim.run_script(
        "/interface bridge remove [ find name=by-hand ]\n/system identity set name=drifted",
    )
    .unwrap();
    let out = run(&bin, plan(&[]), PASSWORD).await;
    std::fs::write(&plan_path, &out.stdout).unwrap();
    sim.fail_next("DELETE", "/system/scheduler", 100, 500);
    let started = std::time::Instant::now();
    let out = run(
        &bin,
        conn_args(
            &url,
            args(&["apply", &site, "--revert-after", "5", "--plan", &plan_file]),
        ),
        PASSWORD,
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("revert is still ARMED")
            && stderr.contains("/system scheduler rackpipe-revert")
            && stderr.contains("Z (in "),
        "{stderr}"
    );
    assert_ne!(sim.rows("/system/identity")[0]["name"], "drifted");
    let deadline = started + Duration::from_secs(20);
    while sim.rows("/system/identity")[0]["name"] != "drifted" {
        assert!(
            std::time::Instant::now() < deadline,
            "the armed revert never fired: {:?}",
            sim.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

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
    // Encrypted with the site's router.management.backup_password.
    let binary = std::fs::read_to_string(doc["files"][1]["path"].as_str().unwrap()).unwrap();
    assert!(
        binary.starts_with("RACKPIPE-ROS-SIM-BACKUP encrypted") && !binary.contains(PASSWORD),
        "{binary}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(BACKUP_PASSWORD));
}
