//! The lab end to end: up → health → SSH with verified host keys → no default route → the
//! tools reach the lab → down → nothing left. Needs root and `ip` (skipped otherwise, failed
//! when RACKPIPE_REQUIRE_SERVICES=1).
#![allow(clippy::print_stderr, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rackpipe_lab::state::LabState;
use rackpipe_lab::{Lab, LabOptions, topology};

fn example_site() -> Option<PathBuf> {
    Some(rackpipe_testkit::example_site("rachuna-net").0)
}

/// Root, `ip`, `sshd`, `ssh`, `ssh-keygen` and the example site, or `None` (skipped).
fn prerequisites() -> Option<PathBuf> {
    for tool in ["ip", "sshd", "ssh", "ssh-keygen", "python3"] {
        rackpipe_testkit::require_tool(tool)?;
    }
    rackpipe_testkit::require_root("the lab (network namespaces)")?;
    example_site()
}

fn options(dir: &Path, site: &Path, daemons: bool) -> LabOptions {
    let mut o = LabOptions::new(dir.join("lab"), site);
    o.lab_binary = Some(PathBuf::from(env!("CARGO_BIN_EXE_rackpipe-lab")));
    o.daemons = daemons;
    o
}

fn tool(name: &str) -> Option<PathBuf> {
    rackpipe_testkit::workspace_binary(name)
}

fn ssh(lab: &Lab, host: &str, command: &str) -> std::process::Output {
    let creds = &lab.state().creds;
    let addr = lab.host(host).unwrap().address;
    Command::new("ssh")
        .arg("-i")
        .arg(creds.ssh_key.as_ref().unwrap())
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            creds.known_hosts.as_ref().unwrap().display()
        ))
        .args(["-o", "ConnectTimeout=5"])
        .arg(format!("root@{addr}"))
        .arg(command)
        .output()
        .unwrap()
}

#[test]
fn up_health_ssh_isolation_tools_and_down() {
    let Some(site) = prerequisites() else { return };
    let tmp = rackpipe_testkit::temp_dir();
    let mut lab = Lab::up(&options(tmp.path(), &site, false)).unwrap();
    let id = lab.id().to_owned();

    // Every component answers for real.
    let health = lab.health();
    assert!(health.len() >= 2 * lab.hosts().len(), "{health:?}");
    let down: Vec<_> = health.iter().filter(|c| !c.up).collect();
    assert!(down.is_empty(), "components down: {down:?}");
    assert!(health.iter().any(|c| c.kind == "ros-sim" && c.up));
    assert!(health.iter().any(|c| c.kind == "pve-sim" && c.up));

    // SSH with the lab key and verified host keys; the host's bin/ is first on PATH and
    // /etc/haproxy is the host's own.
    for host in ["ct01021", "vm01101"] {
        let out = ssh(
            &lab,
            host,
            "echo $PATH; command -v systemctl; command -v kubeadm || true",
        );
        assert!(
            out.status.success(),
            "ssh {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let bin = lab.host(host).unwrap().path("bin");
        assert!(
            text.starts_with(&bin.display().to_string()),
            "{host}: PATH {text}"
        );
        assert!(
            text.contains(&format!("{}/systemctl", bin.display())),
            "{text}"
        );
        if host == "vm01101" {
            assert!(
                text.contains(&format!("{}/kubeadm", bin.display())),
                "{text}"
            );
        }
    }
    let marker = ssh(
        &lab,
        "ct01021",
        "echo lab > /etc/haproxy/lab-marker && ls /etc/haproxy",
    );
    assert!(marker.status.success());
    assert!(
        lab.host("ct01021")
            .unwrap()
            .path("root/etc/haproxy/lab-marker")
            .is_file()
    );
    assert!(!Path::new("/etc/haproxy/lab-marker").exists());

    // A host key that is not the one in known_hosts is refused.
    let kh = lab.state().creds.known_hosts.clone().unwrap();
    let text = std::fs::read_to_string(&kh).unwrap();
    let a = lab.host("ct01021").unwrap().address.to_string();
    let b = lab.host("vm01101").unwrap().address.to_string();
    let swapped: String = text
        .lines()
        .map(|l| {
            if let Some(rest) = l.strip_prefix(&format!("{a} ")) {
                format!("{b} {rest}\n")
            } else if l.starts_with(&format!("{b} ")) {
                String::new()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&kh, swapped).unwrap();
    let refused = ssh(&lab, "vm01101", "true");
    assert!(!refused.status.success(), "a wrong host key was accepted");
    std::fs::write(&kh, text).unwrap();

    // No namespace has a default route.
    for h in lab.hosts() {
        let out = Command::new("ip")
            .args(["netns", "exec", &h.netns, "ip", "route"])
            .output()
            .unwrap();
        let routes = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(!routes.contains("default"), "{}: {routes}", h.name);
        assert!(
            routes.starts_with("198.18.") || routes.starts_with("198.19."),
            "{}: {routes}",
            h.name
        );
    }

    // The tools validate the lab site and reach the simulators with the CI arguments.
    let vars = lab.ci_variables().clone();
    for t in [
        "ros-render",
        "pve-sync",
        "nfs-export",
        "vault-bootstrap",
        "haproxy-gen",
        "kubeadm-join",
        "etcd-backup",
    ] {
        let Some(bin) = tool(t) else {
            continue;
        };
        let out = Command::new(&bin)
            .arg("validate")
            .arg(lab.site_path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{t} validate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let args_var = format!("RACKPIPE_{}_ARGS", t.to_uppercase().replace('-', "_"));
        assert!(vars.contains_key(&args_var), "{args_var} missing");
        if matches!(t, "ros-render" | "pve-sync" | "haproxy-gen" | "nfs-export") {
            let out = Command::new(&bin)
                .arg("plan")
                .arg(lab.site_path())
                .args(vars[&args_var].split_whitespace())
                .envs(vars.iter().filter(|(k, _)| k.starts_with("RACKPIPE_LAB_")))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            if t == "haproxy-gen" {
                // Its TLS certificate comes from the lab's Vault, which nothing bootstrapped
                // here (the rehearsal and the load-balancer drill run vault-bootstrap first).
                assert!(
                    !out.status.success()
                        && stderr.contains("tls_certificate: vault:kv-gitlab/lb/ingress#pem"),
                    "{t} plan: {stderr}"
                );
                continue;
            }
            assert!(out.status.success(), "{t} plan: {stderr}");
            let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(
                plan["summary"]["create"].as_u64().unwrap() > 0,
                "{t}: {plan}"
            );
        }
    }

    // A stopped daemon shows in health; started again it is back.
    lab.stop_daemon("router", "ros-sim").unwrap();
    assert!(lab.health().iter().any(|c| c.kind == "ros-sim" && !c.up));
    lab.start_daemon("router", "ros-sim").unwrap();
    assert!(lab.health().iter().all(|c| c.up));

    // Down removes everything, and twice is fine.
    lab.down().unwrap();
    assert!(
        topology::leftovers(&id).is_empty(),
        "{:?}",
        topology::leftovers(&id)
    );
    lab.down().unwrap();
    let state = LabState::load(&tmp.path().join("lab")).unwrap();
    assert_eq!(state.status, "down");
    assert!(state.netns.is_empty() && state.veths.is_empty() && state.bridges.is_empty());
    assert!(state.daemons.is_empty());
    assert!(rackpipe_lab::lab::down_dir(&tmp.path().join("lab")).is_ok());
}

#[test]
fn a_failed_up_removes_what_it_created() {
    let Some(site) = prerequisites() else { return };
    let tmp = rackpipe_testkit::temp_dir();
    let mut o = options(tmp.path(), &site, false);
    // The Proxmox simulator's schema is missing: up fails after network and sshd exist.
    o.pve_schema = Some(tmp.path().join("no-such/pve-8.4-apidoc.json"));
    let err = Lab::up(&o).unwrap_err().to_string();
    assert!(err.contains("no-such/pve-8.4-apidoc.json"), "{err}");
    assert!(!err.contains('\n'));
    let state = LabState::load(&tmp.path().join("lab")).unwrap();
    assert_eq!(state.status, "down");
    assert!(
        !state.hosts.is_empty(),
        "the failure came after the network"
    );
    assert!(state.netns.is_empty() && state.veths.is_empty() && state.bridges.is_empty());
    assert!(state.daemons.is_empty() && state.created_dirs.is_empty());
    assert!(topology::leftovers(&state.id).is_empty());
}

#[test]
fn real_daemons_come_up_and_a_stopped_one_shows_in_health() {
    let Some(site) = prerequisites() else { return };
    for t in [
        "haproxy",
        "keepalived",
        "etcd",
        "etcdctl",
        "ganesha.nfsd",
        "curl",
        "openssl",
    ] {
        if rackpipe_testkit::require_tool(t).is_none() {
            return;
        }
    }
    if rackpipe_lab::daemons::openbao::find_bao().is_err() {
        assert!(!rackpipe_testkit::services_required(), "bao is missing");
        eprintln!("SKIP: no bao binary");
        return;
    }
    let tmp = rackpipe_testkit::temp_dir();
    let mut lab = Lab::up(&options(tmp.path(), &site, true)).unwrap();
    let id = lab.id().to_owned();
    let health = lab.health();
    let down: Vec<_> = health.iter().filter(|c| !c.up).collect();
    assert!(down.is_empty(), "components down: {down:?}");
    for kind in ["openbao", "haproxy", "keepalived", "ganesha"] {
        assert!(health.iter().any(|c| c.kind == kind), "{kind} missing");
    }
    // etcd is kubeadm's: not running before `kubeadm init` (its preflight wants 2379/2380
    // free); the kubeadm stand-in starts it with the master's `kubelet-standin`.
    assert!(
        !health.iter().any(|c| c.kind == "etcd"),
        "etcd must not run before kubeadm init"
    );
    let master = lab.host("vm01101").expect("a master").clone();
    let out = ssh(&lab, "vm01101", "kubelet-standin start");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid_file = rackpipe_lab::daemons::pid_file(&master, rackpipe_lab::daemons::ETCD);
    let etcd_pid = rackpipe_lab::daemons::read_pid(&pid_file).expect("etcd pid file");
    assert!(
        rackpipe_lab::daemons::is_alive(etcd_pid),
        "etcd did not start"
    );
    // `systemctl reload haproxy` over SSH signals the lab's HAProxy (it keeps running).
    let out = ssh(
        &lab,
        "ct01021",
        "systemctl reload haproxy && systemctl is-active haproxy",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.stop_daemon("ct01021", "haproxy").unwrap();
    let after = lab.health();
    assert!(
        after
            .iter()
            .any(|c| c.host == "ct01021" && c.kind == "haproxy" && !c.up)
    );
    drop(lab);
    assert!(
        topology::leftovers(&id).is_empty(),
        "{:?}",
        topology::leftovers(&id)
    );
    assert!(
        !rackpipe_lab::daemons::is_alive(etcd_pid),
        "down left the kubeadm-started etcd running"
    );
}
