//! Failure drills in the lab (issue 10): each test brings up its own lab (network namespaces in
//! 198.18.0.0/15, real daemons, simulators), drives the tools the way the CI jobs do (the
//! lab's `RACKPIPE_<TOOL>_ARGS` and secrets), breaks something for real, and checks that the
//! site survives or converges. The lab is taken down when the test ends, also on failure.
//!
//! Skips like the rehearsal when root or a daemon is missing (fails in CI instead).
#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rackpipe_lab::{Lab, LabOptions};
use serde_json::Value;

use crate::support::{Output, bin};

/// A lab for one drill, with what the tools need to reach it.
struct Drill {
    lab: Lab,
    /// Holds the lab's state directory.
    _dir: tempfile::TempDir,
    site: PathBuf,
    variables: BTreeMap<String, String>,
}

impl Drill {
    /// Brings up a lab of the example site, or `None` (skip) without the prerequisites.
    fn up() -> Option<Self> {
        if !crate::rehearsal::lab_prerequisites() {
            return None;
        }
        let dir = rackpipe_testkit::temp_dir();
        let mut options = LabOptions::new(
            dir.path().join("lab"),
            rackpipe_testkit::project_root().join("examples/rachuna-net/site.yaml"),
        );
        options.lab_binary = Some(bin("ros-render").with_file_name("rackpipe-lab"));
        let lab = Lab::up(&options).unwrap_or_else(|e| panic!("lab up: {e}"));
        let site = lab.site_path().to_path_buf();
        let variables = lab.ci_variables().clone();
        Some(Self {
            lab,
            _dir: dir,
            site,
            variables,
        })
    }

    /// `RACKPIPE_<TOOL>_ARGS` as arguments.
    fn args(&self, tool: &str) -> Vec<String> {
        let key = format!("RACKPIPE_{}_ARGS", tool.to_uppercase().replace('-', "_"));
        self.variables
            .get(&key)
            .map(|a| a.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// `tool verb SITE extra... <connection flags>`, with the lab's secrets in the environment.
    fn command(&self, tool: &str, verb: &str, extra: &[&str]) -> Command {
        let mut cmd = Command::new(bin(tool));
        cmd.arg(verb)
            .arg(&self.site)
            .args(extra)
            .args(self.args(tool))
            .envs(&self.variables)
            .env_remove("RACKPIPE_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the command to the end.
    fn run(&self, tool: &str, verb: &str, extra: &[&str]) -> Output {
        let out = self
            .command(tool, verb, extra)
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        let output = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !output.stderr.contains("panicked"),
            "{tool} {verb} panicked:\n{}",
            output.stderr
        );
        output
    }

    /// Runs it and wants exit 0.
    fn ok(&self, tool: &str, verb: &str, extra: &[&str]) -> Output {
        let out = self.run(tool, verb, extra);
        assert_eq!(out.code, 0, "{tool} {verb}:\n{}", out.stderr);
        out
    }

    /// The operator's ceremony: init (keys to a 0600 file) and unseal; returns the token file.
    /// Later commands read `vault:` references (the load balancers' certificate) through the
    /// VIP with that token.
    fn vault_ceremony(&mut self) -> PathBuf {
        let creds = self.lab.state().dir.join("creds");
        let keys = creds.join("vault-init.json");
        let keys_arg = keys.display().to_string();
        self.ok("vault-bootstrap", "init", &["--keys-file", &keys_arg]);
        self.ok(
            "vault-bootstrap",
            "unseal",
            &["--keys-file", &keys_arg, "--wait", "60"],
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&keys).expect("keys"))
            .expect("keys file is JSON");
        let root_token = doc["root_token"].as_str().expect("root_token");
        let token = creds.join("vault-token");
        std::fs::write(&token, root_token).expect("token");
        // As an operator would: wait until raft's autopilot has made every node a voter
        // (new servers stay non-voters for its stabilization time, 10 s by default); before
        // that, losing the leader loses the quorum.
        let header = creds.join("vault-token-header");
        std::fs::write(&header, format!("X-Vault-Token: {root_token}\n")).expect("header");
        let voters = || -> usize {
            let Some(active) = self.active_vault() else {
                return 0;
            };
            let (_, url) = self
                .vault_nodes()
                .into_iter()
                .find(|(n, _)| *n == active)
                .expect("active node");
            let out = Command::new("curl")
                .args(["-s", "--max-time", "3", "--cacert"])
                .arg(self.ca())
                .arg("-H")
                .arg(format!("@{}", header.display()))
                .arg(format!("{url}/v1/sys/storage/raft/autopilot/state"))
                .output()
                .expect("curl");
            let state: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            state["data"]["servers"].as_object().map_or(0, |s| {
                s.values()
                    .filter(|v| matches!(v["status"].as_str(), Some("voter" | "leader")))
                    .count()
            })
        };
        let nodes = self.vault_nodes().len();
        assert!(
            rackpipe_testkit::wait_until(Duration::from_secs(60), || voters() == nodes),
            "raft autopilot did not make all {nodes} nodes voters"
        );
        let vault_env = [
            // A node, not the VIP: haproxy-gen reads its certificate before it sets the VIP
            // up (standbys forward to the active node).
            ("VAULT_ADDR", self.vault_nodes()[0].1.clone()),
            ("VAULT_CACERT", self.ca().display().to_string()),
            ("VAULT_TOKEN", root_token.to_owned()),
        ];
        for (k, v) in vault_env {
            self.variables.insert(k.to_owned(), v);
        }
        token
    }

    /// The lab's CA (it signed every daemon's and simulator's certificate).
    fn ca(&self) -> PathBuf {
        self.lab.state().dir.join("creds/ca.pem")
    }

    /// The network namespace of lab host `name`.
    fn netns(&self, name: &str) -> String {
        self.lab
            .host(name)
            .unwrap_or_else(|| panic!("no lab host {name}"))
            .netns
            .clone()
    }

    /// The Vault nodes as (host name, URL), from the vault-bootstrap flags.
    fn vault_nodes(&self) -> Vec<(String, String)> {
        let args = self.args("vault-bootstrap");
        args.windows(2)
            .filter(|w| w[0] == "--node")
            .filter_map(|w| w[1].split_once('='))
            .map(|(n, u)| (n.to_owned(), u.to_owned()))
            .collect()
    }

    /// The HTTP status of `url` (TLS verified against the lab CA), or 0 when unreachable.
    fn status(&self, url: &str) -> u16 {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "3",
            ])
            .arg("--cacert")
            .arg(self.ca())
            .arg(url)
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// The Vault node that answers 200 on sys/health (the active one), if any.
    fn active_vault(&self) -> Option<String> {
        self.vault_nodes()
            .into_iter()
            .find(|(_, url)| self.status(&format!("{url}/v1/sys/health")) == 200)
            .map(|(name, _)| name)
    }

    /// The site (lab variant) as JSON.
    fn site_json(&self) -> Value {
        serde_saphyr::from_str(&std::fs::read_to_string(&self.site).expect("lab site"))
            .expect("lab site parses")
    }
}

/// Waits for `child` at most `timeout`; kills it after that.
fn wait_child(mut child: Child, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("collect output");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The active Vault node is killed while apply configures the cluster: apply may fail (one
/// line, no panic), raft elects another leader, and a rerun converges: the next plan is empty.
#[test]
fn vault_active_node_killed_during_apply_converges_on_rerun() {
    let Some(mut drill) = Drill::up() else { return };
    let token = drill.vault_ceremony();
    let token = token.display().to_string();
    let active = drill
        .active_vault()
        .expect("an active Vault node after unseal");

    let child = drill
        .command("vault-bootstrap", "apply", &["--token-file", &token])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn apply");
    std::thread::sleep(Duration::from_millis(700));
    let killed_at = Instant::now();
    drill
        .lab
        .stop_daemon(&active, "openbao")
        .expect("stop the active node");
    let first = wait_child(child, Duration::from_secs(120));
    if first.code != 0 {
        let line = first
            .stderr
            .lines()
            .rev()
            .find(|l| l.contains("error"))
            .unwrap_or("");
        assert!(
            !line.is_empty() && !line.contains("panicked"),
            "apply failed without a one-line error:\n{}",
            first.stderr
        );
    }
    let mut new_active = None;
    rackpipe_testkit::wait_until(Duration::from_secs(60), || {
        new_active = drill.active_vault();
        new_active.is_some()
    });
    let new_active = new_active.expect("raft elected no new leader");
    assert_ne!(new_active, active);
    eprintln!(
        "drill: vault leader {active} killed, {new_active} active after {:.2} s; first apply exit {}",
        killed_at.elapsed().as_secs_f64(),
        first.code
    );
    drill.ok("vault-bootstrap", "apply", &["--token-file", &token]);
    let plan = drill.run(
        "vault-bootstrap",
        "plan",
        &["--token-file", &token, "--detailed-exitcode"],
    );
    assert_eq!(
        plan.code, 0,
        "changes left after the rerun:\n{}",
        plan.stdout
    );
}

/// The MASTER load balancer stops (keepalived and HAProxy): the VIP moves to another instance
/// and Vault still answers through it.
#[test]
fn load_balancer_master_stopped_vip_moves_and_vault_answers() {
    let Some(mut drill) = Drill::up() else { return };
    let token = drill.vault_ceremony();
    let token = token.display().to_string();
    // vault-bootstrap first: it issues the certificate haproxy-gen deploys.
    drill.ok("vault-bootstrap", "apply", &["--token-file", &token]);
    drill.ok("haproxy-gen", "apply", &[]);
    let site = drill.site_json();
    let vip = site["load_balancer"]["vips"][0]["address"]
        .as_str()
        .expect("a VIP")
        .to_owned();
    let instances: Vec<String> = site["load_balancer"]["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter_map(|i| i["guest"].as_str().map(str::to_owned))
        .collect();
    let holders = |drill: &Drill| -> Vec<String> {
        instances
            .iter()
            .filter(|host| {
                let out = Command::new("ip")
                    .args(["-n", &drill.netns(host), "-4", "-o", "addr", "show"])
                    .output()
                    .expect("ip addr");
                String::from_utf8_lossy(&out.stdout).contains(&format!(" {vip}/"))
            })
            .cloned()
            .collect()
    };
    let mut master = Vec::new();
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(30), || {
            master = holders(&drill);
            master.len() == 1
        }),
        "the VIP {vip} is on {master:?}, want exactly one instance"
    );
    let master = master.remove(0);
    let through_vip = format!("https://{vip}:8200/v1/sys/health");
    let vault_ok = |drill: &Drill| matches!(drill.status(&through_vip), 200 | 429 | 473);
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(30), || vault_ok(&drill)),
        "Vault does not answer through the VIP before the drill"
    );

    let stopped = Instant::now();
    drill
        .lab
        .stop_daemon(&master, "keepalived")
        .expect("stop keepalived");
    drill
        .lab
        .stop_daemon(&master, "haproxy")
        .expect("stop haproxy");
    let mut now = Vec::new();
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(30), || {
            now = holders(&drill);
            now.len() == 1 && now[0] != master
        }),
        "the VIP did not move off {master}: {now:?}"
    );
    let moved = stopped.elapsed();
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(15), || vault_ok(&drill)),
        "Vault does not answer through the VIP after the failover"
    );
    eprintln!(
        "drill: MASTER {master} stopped, VIP on {} after {:.2} s, Vault answers after {:.2} s",
        now[0],
        moved.as_secs_f64(),
        stopped.elapsed().as_secs_f64()
    );
}

/// The newest etcd snapshot is corrupted: verify fails it (the backup job fails loudly) and
/// the drill restores the previous, intact one.
#[test]
fn corrupt_newest_etcd_snapshot_fails_verify_and_the_drill_uses_the_previous_one() {
    let Some(drill) = Drill::up() else { return };
    drill.ok("kubeadm-join", "apply", &[]);
    let dest = drill.lab.state().dir.join("backups/etcd");
    std::fs::create_dir_all(&dest).expect("mkdir");
    let dest_arg = dest.display().to_string();
    let first = drill
        .ok("etcd-backup", "snapshot", &["--dest", &dest_arg])
        .json();
    std::thread::sleep(Duration::from_millis(1100));
    let second = drill
        .ok("etcd-backup", "snapshot", &["--dest", &dest_arg])
        .json();
    let newest = dest.join(
        second["path"]
            .as_str()
            .or_else(|| second["file"].as_str())
            .unwrap_or_else(|| panic!("no path in the manifest: {second:#}")),
    );
    corrupt(&newest);

    let verify = Command::new(bin("etcd-backup"))
        .args(["verify", "--latest", &dest_arg])
        .output()
        .expect("verify");
    assert_eq!(
        verify.status.code(),
        Some(1),
        "verify passed a corrupted snapshot"
    );
    let err = String::from_utf8_lossy(&verify.stderr);
    assert!(
        err.contains(newest.file_name().and_then(|n| n.to_str()).unwrap_or("?")),
        "the error does not name the snapshot:\n{err}"
    );

    let restored = Command::new(bin("etcd-backup"))
        .args(["drill", "--latest", &dest_arg])
        .output()
        .expect("drill");
    let out = String::from_utf8_lossy(&restored.stdout);
    assert_eq!(
        restored.status.code(),
        Some(0),
        "drill failed:\n{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let first_name = first["path"]
        .as_str()
        .or_else(|| first["file"].as_str())
        .and_then(|p| Path::new(p).file_name()?.to_str().map(str::to_owned))
        .expect("first snapshot path");
    assert!(
        out.contains(&first_name),
        "the drill did not restore the previous snapshot {first_name}:\n{out}"
    );
}

/// Flips one byte in the middle of `path`.
fn corrupt(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read snapshot");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(path, bytes).expect("write snapshot");
}

/// The router loses the management connection in the middle of `ros-render apply`: the
/// scheduled revert armed before the first change (a `/system backup load` of the binary
/// backup taken just before) restores the pre-apply configuration by itself, users and the
/// `www-ssl` certificate included, and apply says so (non-zero exit, one line).
#[test]
fn router_apply_losing_connectivity_is_reverted_by_the_router() {
    let Some(drill) = Drill::up() else { return };
    let args = drill.args("ros-render");
    let url = args
        .windows(2)
        .find(|w| w[0] == "--url")
        .map(|w| w[1].clone())
        .expect("--url in RACKPIPE_ROS_RENDER_ARGS");
    let site = drill.site_json();
    let user = site["router"]["management"]["user"]
        .as_str()
        .expect("router user")
        .to_owned();
    let password_var = site["router"]["management"]["password"]
        .as_str()
        .and_then(|r| r.strip_prefix("env:"))
        .expect("the lab site's router password is an env: reference");
    let password = drill.variables[password_var].clone();
    let curl = |method: &str, path: &str, body: Option<&str>| -> String {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "--max-time", "5", "-X", method, "--cacert"])
            .arg(drill.ca())
            .arg(format!("{url}{path}"));
        if path.starts_with("/rest") {
            cmd.args(["-u", &format!("{user}:{password}")]);
        }
        if let Some(body) = body {
            cmd.args(["-H", "content-type: application/json", "-d", body]);
        }
        String::from_utf8_lossy(&cmd.output().expect("curl").stdout).into_owned()
    };
    // The export without its header lines (which carry the time).
    let export = || -> String {
        let raw = curl("GET", "/__sim/export", None);
        assert!(
            raw.contains("by RouterOS"),
            "no export from the simulator:\n{raw}"
        );
        raw.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = export();
    // The API user logs in over the CA-verified HTTPS connection (before and after).
    let logs_in = || curl("GET", "/rest/system/identity", None).contains("\"name\"");
    assert!(logs_in(), "the API user cannot log in before the drill");

    // As soon as the safety net is armed, the management connection goes away: the
    // simulator cuts itself right after the request that adds the revert's scheduler entry
    // (polling for the entry from here raced a fast apply, which then finished first).
    let cut_set = curl(
        "POST",
        "/__sim/reachable",
        Some(r#"{"reachable":false,"when_scheduled":"rackpipe-revert"}"#),
    );
    assert!(cut_set.contains("\"reachable\":true"), "{cut_set}");
    let started = Instant::now();
    let child = drill
        .command("ros-render", "apply", &["--revert-after", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn apply");
    let armed = rackpipe_testkit::wait_until(Duration::from_secs(30), || {
        curl("GET", "/__sim/reachable", None).contains("\"reachable\":false")
    });
    assert!(armed, "apply never armed the scheduled revert");
    let armed_after = started.elapsed();
    let cut = Instant::now();
    // Longer than the revert delay plus the time a request hangs before it gives up: the
    // router reverts itself while nobody can reach it.
    std::thread::sleep(Duration::from_secs(16));
    curl("POST", "/__sim/reachable", Some(r#"{"reachable":true}"#));
    let reconnected = Instant::now();
    let out = wait_child(child, Duration::from_secs(120));
    let apply_done = started.elapsed();
    assert_ne!(
        out.code, 0,
        "apply succeeded without the router:\n{}",
        out.stderr
    );
    let line = out
        .stderr
        .lines()
        .rev()
        .find(|l| l.contains("error"))
        .unwrap_or_default();
    assert!(
        line.contains("revert"),
        "apply's error does not say the router reverted:\n{}",
        out.stderr
    );
    assert_eq!(
        export(),
        before,
        "the router is not back at its pre-apply configuration"
    );
    assert!(
        logs_in(),
        "after the revert the API user no longer logs in over the same certificate"
    );
    assert!(
        curl("GET", "/__sim/log", None).contains("scheduler rackpipe-revert: ran"),
        "the scheduled backup load did not run"
    );
    eprintln!(
        "drill: armed {:.1} s after apply started; cut right after; reverted by itself (backup load + reboot) while cut; reconnected after {:.1} s; apply returned {:.1} s after reconnecting ({:.1} s in all), exit {}: {line}",
        armed_after.as_secs_f64(),
        reconnected.duration_since(cut).as_secs_f64(),
        apply_done
            .saturating_sub(reconnected.duration_since(started))
            .as_secs_f64(),
        apply_done.as_secs_f64(),
        out.code
    );
}
