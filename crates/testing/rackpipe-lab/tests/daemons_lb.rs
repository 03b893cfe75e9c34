//! HAProxy and keepalived on two load-balancer namespaces, configs in each host's own
//! `/etc/haproxy` and `/etc/keepalived` (bind mounts): the stats page answers on the host
//! address (also from the other host), SIGUSR2 reloads HAProxy (same master, new worker,
//! still serving, new config in effect), keepalived starts without a VRRP instance and a
//! SIGHUP with one brings the VIP up on exactly one host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::daemons_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use daemons_support::{NetLab, curl, tools};
use rackpipe_lab::daemons::{self, haproxy};

/// Both hosts get /etc/haproxy and /etc/keepalived; haproxy-1 also its own /run/haproxy
/// (sockets there), haproxy-2 not (sockets in its run dir).
fn binds(name: &str, dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut binds = vec![
        (dir.join("etc/haproxy"), PathBuf::from(haproxy::HAPROXY_DIR)),
        (
            dir.join("etc/keepalived"),
            PathBuf::from(haproxy::KEEPALIVED_DIR),
        ),
    ];
    if name == "haproxy-1" {
        binds.push((
            dir.join("run-haproxy"),
            PathBuf::from(haproxy::RUN_HAPROXY_DIR),
        ));
    }
    binds
}

/// Sends one command to an HAProxy CLI socket and returns the answer. A refused connection is
/// retried for up to 5 s: after starting its first worker, the master re-executes itself into
/// wait mode and its CLI socket refuses connections for that moment (seen under load).
fn cli(socket: &Path, command: &str) -> String {
    use std::io::{Read as _, Write as _};
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = loop {
        match std::os::unix::net::UnixStream::connect(socket) {
            Ok(stream) => break stream,
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{}: {e}", socket.display()),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(format!("{command}\n").as_bytes()).unwrap();
    // An answer ends with an empty line (the master CLI keeps the connection open).
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(b"\n\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

const VIP: &str = "198.18.0.100";

fn vrrp_conf(name: &str, priority: u8) -> String {
    format!(
        "global_defs {{\n    router_id {name}\n}}\n\
         vrrp_instance VI_LAB {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 77\n    priority {priority}\n    advert_int 1\n\
         \x20   virtual_ipaddress {{\n        {VIP}/24 dev eth0\n    }}\n}}\n"
    )
}

#[test]
fn haproxy_serves_and_reloads_keepalived_starts_and_reloads() {
    if !tools(&["haproxy", "keepalived", "curl"]) {
        return;
    }
    let Some(lab) = NetLab::new(&["haproxy-1", "haproxy-2"], binds) else {
        return;
    };
    let (h1, h2) = (&lab.hosts[0], &lab.hosts[1]);

    // HAProxy on both.
    let t0 = Instant::now();
    let hp: Vec<haproxy::Haproxy> = lab
        .hosts
        .iter()
        .map(|h| haproxy::start_haproxy(h).unwrap())
        .collect();
    for (h, p) in lab.hosts.iter().zip(&hp) {
        haproxy::wait_haproxy(h, p, Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("{e}\n{}", lab.logs()));
    }
    eprintln!(
        "FIGURE haproxy: 2 stats pages up {:.2?} after start",
        t0.elapsed()
    );
    assert_eq!(hp[0].stats_url, "http://198.18.0.11:8404/stats");
    assert!(h1.dir.join("etc/haproxy/haproxy.cfg").is_file());
    // The sockets answer: haproxy-1's in its own /run/haproxy, haproxy-2's in its run dir.
    assert_eq!(hp[0].admin_socket, h1.dir.join("run-haproxy/admin.sock"));
    assert_eq!(hp[1].master_socket, h2.dir.join("run/master.sock"));
    assert_eq!(
        daemons::read_pid(&h1.dir.join("run-haproxy/haproxy.pid")),
        Some(hp[0].daemon.pid)
    );
    for p in &hp {
        assert!(cli(&p.admin_socket, "show info").contains("Name: HAProxy"));
        assert!(cli(&p.master_socket, "show proc").contains("master"));
    }
    // Across the bridge: haproxy-2 reaches haproxy-1's stats page.
    let (code, body) = curl(h2, &[&hp[0].stats_url]);
    assert_eq!(code, 200);
    assert!(body.contains("Statistics Report"), "{body}");

    // Reload with SIGUSR2 (systemctl reload): same master, a new worker, new config served.
    let master = hp[0].daemon.pid;
    let before = haproxy::haproxy_workers(&hp[0]);
    assert_eq!(
        before.len(),
        1,
        "one worker under master {master}: {before:?}"
    );
    let cfg = std::fs::read_to_string(&hp[0].config).unwrap();
    std::fs::write(
        &hp[0].config,
        cfg.replace("stats uri /stats", "stats uri /stats2"),
    )
    .unwrap();
    let t1 = Instant::now();
    haproxy::reload_haproxy(h1).unwrap();
    let new_url = hp[0].stats_url.replace("/stats", "/stats2");
    let reloaded = daemons::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        let now = haproxy::haproxy_workers(&hp[0]);
        now.len() == 1
            && now != before
            && daemons::http_status(h1, &new_url, None, None, Duration::from_secs(2)) == Some(200)
    });
    assert!(
        reloaded,
        "no new worker serving the new config\n{}",
        lab.logs()
    );
    eprintln!(
        "FIGURE haproxy: SIGUSR2 reload to new worker serving {:.2?}",
        t1.elapsed()
    );
    assert_eq!(daemons::read_pid(&hp[0].daemon.pid_file), Some(master));
    assert!(hp[0].daemon.is_running());
    assert!(!daemons::is_alive(before[0]), "the old worker must exit");

    // keepalived: starts with the initial config (no VRRP child), pid file by keepalived.
    let t2 = Instant::now();
    let ka: Vec<haproxy::Keepalived> = lab
        .hosts
        .iter()
        .map(|h| haproxy::start_keepalived(h).unwrap_or_else(|e| panic!("{e}\n{}", lab.logs())))
        .collect();
    eprintln!("FIGURE keepalived: 2 started {:.2?}", t2.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    for k in &ka {
        k.daemon.ensure_running().unwrap();
        assert!(
            std::fs::read_to_string(&k.config)
                .unwrap()
                .contains("router_id"),
            "{}",
            k.config.display()
        );
    }
    // Deploy a VRRP instance (what haproxy-gen does) and reload with SIGHUP.
    std::fs::write(&ka[0].config, vrrp_conf("haproxy-1", 150)).unwrap();
    std::fs::write(&ka[1].config, vrrp_conf("haproxy-2", 100)).unwrap();
    let t3 = Instant::now();
    haproxy::reload_keepalived(h1).unwrap();
    haproxy::reload_keepalived(h2).unwrap();
    let up = daemons::wait_for(Duration::from_secs(15), Duration::from_millis(50), || {
        lab.addresses(h1).contains(&format!("{VIP}/24")) && !lab.addresses(h2).contains(VIP)
    });
    assert!(
        up,
        "VIP not on haproxy-1 only: {} | {}\n{}",
        lab.addresses(h1),
        lab.addresses(h2),
        lab.logs()
    );
    eprintln!(
        "FIGURE keepalived: VIP up on the higher priority {:.2?} after SIGHUP",
        t3.elapsed()
    );
    assert!(daemons::read_pid(&ka[0].vrrp_pid_file).is_some_and(daemons::is_alive));

    // Stopping keepalived (group) releases the VIP and ends its VRRP child.
    let vrrp_child = daemons::read_pid(&ka[0].vrrp_pid_file).unwrap();
    assert_eq!(
        ka[0].daemon.stop(Duration::from_secs(10)).unwrap(),
        daemons::Stopped::Terminated
    );
    assert!(!daemons::is_alive(vrrp_child));
    // Stopping the HAProxy master ends its worker too.
    let worker = haproxy::haproxy_workers(&hp[1]);
    assert_eq!(
        hp[1].daemon.stop(Duration::from_secs(10)).unwrap(),
        daemons::Stopped::Terminated
    );
    assert!(worker.iter().all(|&w| !daemons::is_alive(w)));

    // Teardown of a host: everything with a pid file in its run dir.
    let stopped = daemons::stop_host(h2, Duration::from_secs(10)).unwrap();
    assert!(
        stopped.contains(&("keepalived".to_owned(), daemons::Stopped::Terminated)),
        "{stopped:?}"
    );
    assert!(!ka[1].daemon.is_running());
}
