//! Three OpenBao nodes, one per network namespace, answer `/v1/sys/health` over TLS (lab
//! CA) on their own 198.18 addresses, uninitialised (501); after the first node is
//! initialised and unsealed, the others join it through `retry_join` over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::daemons_support;

use std::time::{Duration, Instant};

use daemons_support::{NetLab, curl, tools};
use rackpipe_lab::daemons::{self, openbao, pki};

#[test]
fn three_nodes_answer_health_over_tls_and_join_by_retry_join() {
    if !tools(&["openssl", "curl"]) {
        return;
    }
    if openbao::find_bao().is_err() && rackpipe_testkit::require_tool("bao").is_none() {
        return;
    }
    let Some(lab) = NetLab::new(&["vault-1", "vault-2", "vault-3"], |_, _| Vec::new()) else {
        return;
    };
    let ca = pki::Ca::create(&lab.dir.path().join("ca"), "rackpipe lab test CA").unwrap();
    let t0 = Instant::now();
    let cluster = openbao::start(&lab.hosts, &ca, &openbao::Options::default()).unwrap();
    let ready = openbao::wait_listening(&cluster, &lab.hosts, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.logs()));
    eprintln!(
        "FIGURE openbao: 3 nodes answer sys/health over TLS {:.2?} after start ({:?})",
        t0.elapsed(),
        ready
    );
    for (node, (status, _)) in cluster.nodes.iter().zip(&ready) {
        assert_eq!(*status, 501, "{} must be uninitialised", node.api_addr);
        assert_eq!(
            daemons::read_pid(&node.daemon.pid_file),
            Some(node.daemon.pid)
        );
        assert!(node.daemon.log.ends_with("logs/openbao.log"));
    }
    // The listener is TLS with the lab CA: without it, curl refuses the certificate.
    let (code, _) = curl(
        &lab.hosts[1],
        &[
            "-o",
            "/dev/null",
            &format!("{}/v1/sys/health", cluster.nodes[0].api_addr),
        ],
    );
    assert_eq!(code, 0, "an untrusted certificate must fail verification");

    // Initialise and unseal node 1 (what vault-bootstrap does), then the followers must
    // report initialized through retry_join (TLS to node 1 with the CA).
    let ca_path = cluster.ca.display().to_string();
    let base = &cluster.nodes[0].api_addr;
    let (code, body) = curl(
        &lab.hosts[0],
        &[
            "--cacert",
            &ca_path,
            "-X",
            "PUT",
            "-d",
            r#"{"secret_shares":1,"secret_threshold":1}"#,
            &format!("{base}/v1/sys/init"),
        ],
    );
    assert_eq!(code, 200, "init: {body}");
    let init: serde_json::Value = serde_json::from_str(&body).unwrap();
    let key = init["keys_base64"][0].as_str().unwrap().to_owned();
    let (code, body) = curl(
        &lab.hosts[0],
        &[
            "--cacert",
            &ca_path,
            "-X",
            "PUT",
            "-d",
            &format!(r#"{{"key":"{key}"}}"#),
            &format!("{base}/v1/sys/unseal"),
        ],
    );
    assert_eq!(code, 200, "unseal: {body}");
    let t1 = Instant::now();
    for (node, host) in cluster.nodes.iter().zip(&lab.hosts).skip(1) {
        let joined = daemons::wait_for(Duration::from_secs(30), Duration::from_millis(250), || {
            let (code, body) = curl(
                host,
                &[
                    "--cacert",
                    &ca_path,
                    &format!("{}/v1/sys/seal-status", node.api_addr),
                ],
            );
            code == 200 && body.contains(r#""initialized":true"#)
        });
        assert!(
            joined,
            "{} never joined by retry_join\n{}",
            node.api_addr,
            lab.logs()
        );
    }
    eprintln!(
        "FIGURE openbao: followers initialized via retry_join {:.2?} after unseal of node 1",
        t1.elapsed()
    );

    let outcome = cluster.nodes[2]
        .daemon
        .stop(Duration::from_secs(10))
        .unwrap();
    assert_eq!(outcome, daemons::Stopped::Terminated);
    assert!(!cluster.nodes[2].daemon.is_running());
    assert!(!cluster.nodes[2].daemon.pid_file.exists());
}
