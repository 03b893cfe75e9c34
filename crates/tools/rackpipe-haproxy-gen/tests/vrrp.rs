//! VRRP failover with the rendered keepalived.conf: three network namespaces on a bridge,
//! keepalived in each; stopping the MASTER moves the VIP. Needs root (netns); skipped
//! otherwise. Addresses are in 198.18.0.0/24, no default route; namespaces are removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{G, load, rand_u32, site_yaml};
use rackpipe_haproxy_gen::{RenderOptions, SecretSource, render};
use rackpipe_model::types::SecretRef;
use rackpipe_secrets::Secret;

struct Fixed;
impl SecretSource for Fixed {
    fn resolve(&self, _: &SecretRef, _: &str) -> Result<Secret, rackpipe_secrets::Error> {
        Ok(Secret::new("vrrp1234"))
    }
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// Namespaces `<prefix>hub` (bridge) and `<prefix>1..3` (eth0 on the bridge).
struct Lab {
    prefix: String,
    created: Vec<String>,
}

impl Lab {
    fn new() -> Option<Self> {
        rackpipe_testkit::require_tool("ip")?;
        rackpipe_testkit::require_tool("keepalived")?;
        let prefix = format!("rp-{:06x}", rand_u32() & 0xff_ffff);
        let mut lab = Self {
            prefix: prefix.clone(),
            created: Vec::new(),
        };
        let hub = format!("{prefix}hub");
        if !ip(&["netns", "add", &hub]) {
            assert!(
                !rackpipe_testkit::services_required(),
                "cannot create network namespaces (needs root)"
            );
            eprintln!("SKIP: cannot create network namespaces (needs root)");
            return None;
        }
        lab.created.push(hub.clone());
        assert!(ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"]));
        assert!(ip(&["-n", &hub, "link", "set", "br0", "up"]));
        for i in 1..=3 {
            let ns = format!("{prefix}{i}");
            assert!(ip(&["netns", "add", &ns]));
            lab.created.push(ns.clone());
            let (a, b) = (format!("rpv{i}"), format!("rpp{i}"));
            assert!(ip(&[
                "-n", &ns, "link", "add", &a, "type", "veth", "peer", "name", &b
            ]));
            assert!(ip(&["-n", &ns, "link", "set", &b, "netns", &hub]));
            assert!(ip(&["-n", &ns, "link", "set", &a, "name", "eth0"]));
            assert!(ip(&["-n", &ns, "link", "set", "lo", "up"]));
            assert!(ip(&["-n", &ns, "link", "set", "eth0", "up"]));
            assert!(ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("198.18.0.1{i}/24"),
                "dev",
                "eth0"
            ]));
            assert!(ip(&["-n", &hub, "link", "set", &b, "master", "br0"]));
            assert!(ip(&["-n", &hub, "link", "set", &b, "up"]));
        }
        Some(lab)
    }

    fn ns(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    fn has_vip(&self, i: usize) -> bool {
        Command::new("ip")
            .args(["-n", &self.ns(i), "-4", "addr", "show", "dev", "eth0"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("198.18.0.254/"))
    }

    fn holders(&self) -> Vec<usize> {
        (1..=3).filter(|&i| self.has_vip(i)).collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// keepalived in a namespace; stopped with SIGTERM (it then removes the VIP and its
/// children), SIGKILL as a last resort for the main and child pids.
struct Keepalived {
    child: Option<Child>,
    dir: PathBuf,
}

impl Keepalived {
    fn start(ns: &str, conf: &Path, dir: &Path) -> Self {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "keepalived", "-n", "-l", "-D", "-f"])
            .arg(conf)
            .arg("-p")
            .arg(dir.join("ka.pid"))
            .arg("-r")
            .arg(dir.join("vrrp.pid"))
            .arg("-c")
            .arg(dir.join("chk.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn keepalived");
        Self {
            child: Some(child),
            dir: dir.to_path_buf(),
        }
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        for f in ["vrrp.pid", "chk.pid"] {
            if let Some(pid) = std::fs::read_to_string(self.dir.join(f))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn stopping_the_master_moves_the_vip() {
    let Some(lab) = Lab::new() else { return };
    let lb = "  vips:\n    - {name: VAULT_VIP, address: 198.18.0.254, segment: lan, vrid: 254, interface: eth0, nopreempt: true, unicast: true, auth_pass: \"env:X\", check: {interval: 1, weight: -30, fall: 2, rise: 2}}\n  instances:\n    - {name: lb1, guest: lb1, priority: 200, state: MASTER}\n    - {name: lb2, guest: lb2, priority: 110}\n    - {name: lb3, guest: lb3, priority: 120}\n";
    // keepalived's state as node_exporter textfile metrics (monitoring.targets.keepalived).
    let monitoring = "monitoring:\n  deploy: external\n  targets:\n    haproxy: {enabled: false}\n";
    let site = load(&format!(
        "{}{monitoring}",
        site_yaml(
            "198.18.0.0/24",
            &[
                G("lb1", "198.18.0.11/24"),
                G("lb2", "198.18.0.12/24"),
                G("lb3", "198.18.0.13/24"),
            ],
            lb,
        )
    ));
    let dir = rackpipe_testkit::temp_dir();
    let d = dir.path().display().to_string();
    let options = RenderOptions {
        keepalived_conf: format!("{d}/{{instance}}/keepalived.conf"),
        check_script: format!("{d}/{{instance}}/check_haproxy.sh"),
        haproxy_cfg: format!("{d}/{{instance}}/haproxy.cfg"),
        pid_file: format!("{d}/{{instance}}/haproxy.pid"),
        notify_script: format!("{d}/{{instance}}/keepalived_notify.sh"),
        textfile_dir: format!("{d}/{{instance}}/textfile"),
        ..RenderOptions::default()
    };
    let files = render(&site, &options, &Fixed).unwrap();
    for f in &files {
        let p = Path::new(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &f.content).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            p,
            std::fs::Permissions::from_mode(u32::from_str_radix(&f.mode, 8).unwrap()),
        )
        .unwrap();
    }
    // No HAProxy runs in the namespaces, so every tracked script fails (-30 each):
    // effective priorities 170 / 80 / 90. lb1 wins; after it stops, lb3 must take over.
    let mut ka: Vec<Keepalived> = (1..=3)
        .map(|i| {
            let inst = dir.path().join(format!("lb{i}"));
            Keepalived::start(&lab.ns(i), &inst.join("keepalived.conf"), &inst)
        })
        .collect();
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(15), || lab.holders() == vec![1]),
        "lb1 never became the only VIP holder: {:?}",
        lab.holders()
    );
    // Let the tracked script settle (fall 2 at interval 1).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lab.holders(), vec![1]);

    let t0 = Instant::now();
    ka[0].stop();
    let mut moved = None;
    while t0.elapsed() < Duration::from_secs(15) {
        if lab.has_vip(3) || lab.has_vip(2) {
            moved = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let moved = moved.expect("the VIP never moved after the MASTER stopped");
    eprintln!(
        "FIGURE vrrp: VIP moved from lb1 to {:?} {moved:.2?} after SIGTERM to lb1's keepalived",
        lab.holders()
    );
    assert_eq!(lab.holders(), vec![3], "lb3 (120-30) outranks lb2 (110-30)");

    // The notify script recorded every state change where node_exporter reads it.
    let metrics = |i: usize| {
        std::fs::read_to_string(
            dir.path()
                .join(format!("lb{i}/textfile/keepalived_VAULT_VIP.prom")),
        )
        .unwrap_or_default()
    };
    let series = |text: &str, name: &str| -> Option<u64> {
        text.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "{name}{{vrrp_instance=\"VAULT_VIP\",vip=\"198.18.0.254\"}} "
                ))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(5), || series(
            &metrics(3),
            "keepalived_vrrp_state"
        ) == Some(2)),
        "lb3's textfile does not say MASTER:\n{}",
        metrics(3)
    );
    let lb3 = metrics(3);
    let transitions = series(&lb3, "keepalived_vrrp_transitions_total").unwrap_or(0);
    assert!(transitions >= 2, "lb3 went BACKUP then MASTER:\n{lb3}");
    assert!(series(&lb3, "keepalived_vrrp_last_transition_timestamp_seconds").is_some());
    assert_eq!(
        series(&metrics(2), "keepalived_vrrp_state"),
        Some(1),
        "{}",
        metrics(2)
    );
    // keepalived runs the stopping instance's notify without waiting for it.
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(5), || series(
            &metrics(1),
            "keepalived_vrrp_state"
        )
        .is_some_and(|s| s != 2)),
        "lb1 stopped:\n{}",
        metrics(1)
    );
    // The exposition format is what Prometheus' own linter accepts (when promtool is here).
    if let Some(promtool) = rackpipe_testkit::which("promtool") {
        use std::io::Write as _;
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn promtool");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(lb3.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!("FIGURE vrrp metrics: lb3 after failover:\n{lb3}");
    drop(ka);
}
