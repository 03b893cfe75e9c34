//! A 3-member etcd cluster, one member per network namespace, named after the hosts:
//! healthy over client TLS with client-certificate auth, a put on one member reads back on
//! another, and a client without a certificate is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::daemons_support;

use std::time::{Duration, Instant};

use daemons_support::{NetLab, tools};
use rackpipe_lab::daemons::{self, etcd, pki};

#[test]
fn three_members_become_healthy_and_replicate_with_client_cert_auth() {
    if !tools(&["openssl", "etcd", "etcdctl"]) {
        return;
    }
    let names = ["k8s-master-1", "k8s-master-2", "k8s-master-3"];
    let Some(lab) = NetLab::new(&names, |_, _| Vec::new()) else {
        return;
    };
    let ca = pki::Ca::create(&lab.dir.path().join("ca"), "rackpipe lab test CA").unwrap();
    let t0 = Instant::now();
    let cluster = etcd::start(&lab.hosts, &ca).unwrap();
    let took = etcd::wait_healthy(&cluster, &lab.hosts[0], Duration::from_secs(40))
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.logs()));
    eprintln!(
        "FIGURE etcd: 3 members healthy {took:.2?} after start ({:.2?} incl. certificates)",
        t0.elapsed()
    );
    assert_eq!(
        cluster.endpoints(),
        "https://198.18.0.11:2379,https://198.18.0.12:2379,https://198.18.0.13:2379"
    );

    // Member names are the host names.
    let out = cluster
        .etcdctl(&lab.hosts[1])
        .args(["member", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in names {
        assert!(
            list.contains(&format!(", {name}, https://")),
            "{name} missing:\n{list}"
        );
    }

    // Put through member 1, read through member 3 only.
    let out = cluster
        .etcdctl(&lab.hosts[0])
        .args(["put", "/lab/ping", "pong"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let third = &cluster.members[2];
    let out = daemons::netns_command(&lab.hosts[2], "etcdctl")
        .arg(format!("--endpoints={}", third.client_url))
        .arg(format!("--cacert={}", cluster.ca.display()))
        .arg(format!("--cert={}", cluster.client.cert.display()))
        .arg(format!("--key={}", cluster.client.key.display()))
        .args(["get", "/lab/ping", "--print-value-only"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pong");

    // Client-certificate auth: the CA alone is not enough.
    let out = daemons::netns_command(&lab.hosts[1], "etcdctl")
        .arg(format!("--endpoints={}", third.client_url))
        .arg(format!("--cacert={}", cluster.ca.display()))
        .args([
            "--dial-timeout=1s",
            "--command-timeout=2s",
            "get",
            "/lab/ping",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a client without a certificate was served"
    );

    let outcome = cluster.members[0]
        .daemon
        .stop(Duration::from_secs(10))
        .unwrap();
    assert_eq!(outcome, daemons::Stopped::Terminated);
    assert_eq!(
        daemons::stop(&cluster.members[0].daemon.pid_file, Duration::from_secs(1)).unwrap(),
        daemons::Stopped::NotRunning
    );
}
