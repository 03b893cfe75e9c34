//! A minimal network-namespace lab for the daemon tests: one namespace per host with `eth0`
//! on a bridge in a hub namespace, addresses 198.18.0.11, .12, ... /24, no default route.
//! Names carry a random suffix; on drop (also on panic) every daemon whose pid file is in a
//! host's `run/` dir is stopped, then the namespaces are deleted and the temp dir removed.
#![allow(
    dead_code,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rackpipe_lab::daemons;
use rackpipe_lab::host::Host;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn random_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:06x}",
        (nanos ^ std::process::id().rotate_left(13)) & 0xff_ffff
    )
}

/// Requires every tool (skip locally, fail in CI).
pub fn tools(names: &[&str]) -> bool {
    names
        .iter()
        .all(|t| rackpipe_testkit::require_tool(t).is_some())
}

/// A directory removed (recursively) on drop.
pub struct LabDir(PathBuf);

impl LabDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct NetLab {
    pub prefix: String,
    pub hosts: Vec<Host>,
    /// The lab's directory (removed on drop).
    pub dir: LabDir,
    namespaces: Vec<String>,
    created_targets: Vec<PathBuf>,
}

impl NetLab {
    /// Hosts `names` on one bridge; `binds(name, host_dir)` gives each host's bind mounts
    /// (their sources are created). `None` (skip) when namespaces cannot be created and
    /// RACKPIPE_REQUIRE_SERVICES is not 1.
    pub fn new(
        names: &[&str],
        binds: impl Fn(&str, &Path) -> Vec<(PathBuf, PathBuf)>,
    ) -> Option<Self> {
        if !tools(&["ip"]) {
            return None;
        }
        let prefix = format!("rpd{}", random_tag());
        let hub = format!("{prefix}-hub");
        if let Err(e) = ip(&["netns", "add", &hub]) {
            assert!(
                !rackpipe_testkit::services_required(),
                "cannot create network namespaces (needs root): {e}"
            );
            eprintln!("SKIP: cannot create network namespaces (needs root): {e}");
            return None;
        }
        let mut lab = Self {
            prefix: prefix.clone(),
            hosts: Vec::new(),
            dir: LabDir(std::env::temp_dir().join(format!("rackpipe-{prefix}"))),
            namespaces: vec![hub.clone()],
            created_targets: Vec::new(),
        };
        std::fs::create_dir_all(lab.dir.path()).unwrap();
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"]).unwrap();
        ip(&["-n", &hub, "link", "set", "br0", "up"]).unwrap();
        for (i, name) in names.iter().enumerate() {
            let ns = format!("{prefix}-{i}");
            ip(&["netns", "add", &ns]).unwrap();
            lab.namespaces.push(ns.clone());
            let peer = format!("p{i}");
            ip(&[
                "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &peer,
            ])
            .unwrap();
            ip(&["-n", &ns, "link", "set", &peer, "netns", &hub]).unwrap();
            ip(&["-n", &ns, "link", "set", "lo", "up"]).unwrap();
            ip(&["-n", &ns, "link", "set", "eth0", "up"]).unwrap();
            let address = Ipv4Addr::new(198, 18, 0, 11 + u8::try_from(i).unwrap());
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "eth0",
            ])
            .unwrap();
            ip(&["-n", &hub, "link", "set", &peer, "master", "br0"]).unwrap();
            ip(&["-n", &hub, "link", "set", &peer, "up"]).unwrap();
            let out = Command::new("ip")
                .args(["-n", &ns, "route", "show", "default"])
                .output()
                .unwrap();
            assert!(out.stdout.is_empty(), "{ns} must have no default route");
            let dir = lab.dir.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let host_binds = binds(name, &dir);
            for (source, target) in &host_binds {
                std::fs::create_dir_all(source).unwrap();
                if !target.exists() {
                    std::fs::create_dir_all(target).unwrap();
                    lab.created_targets.push(target.clone());
                }
            }
            lab.hosts.push(Host {
                name: (*name).to_owned(),
                netns: ns,
                address,
                dir,
                binds: host_binds,
            });
        }
        Some(lab)
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).unwrap()
    }

    /// The IPv4 addresses on `host`'s eth0.
    pub fn addresses(&self, host: &Host) -> String {
        let out = Command::new("ip")
            .args(["-n", &host.netns, "-4", "-o", "addr", "show", "dev", "eth0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every host's daemon logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for h in &self.hosts {
            if let Ok(entries) = std::fs::read_dir(h.path(daemons::LOG_DIR)) {
                for e in entries.flatten() {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(15).collect();
                    out.push_str(&format!("--- {} {}\n", h.name, e.path().display()));
                    for l in tail.iter().rev() {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for h in &self.hosts {
            let _ = daemons::stop_host(h, Duration::from_secs(5));
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for t in &self.created_targets {
            let _ = std::fs::remove_dir(t);
        }
    }
}

/// `curl` inside `host`'s namespace; (status code, body).
pub fn curl(host: &Host, args: &[&str]) -> (u16, String) {
    let out = daemons::netns_command(host, "curl")
        .args(["-s", "--max-time", "5", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}
