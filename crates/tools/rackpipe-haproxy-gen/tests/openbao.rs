//! Live: HAProxy rendered by haproxy-gen in front of a real 3-node OpenBao (raft) cluster on
//! loopback. Requests reach only the active node; killing it moves traffic to the new active
//! node; the failover time is printed as a FIGURE line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{G, http_status, load, site_yaml};
use rackpipe_haproxy_gen::{Redacted, RenderOptions, render};
use rackpipe_testkit::{ChildGuard, free_port};

struct Node {
    api: String,
    guard: ChildGuard,
}

fn bao(addr: &str, args: &[&str]) -> std::process::Output {
    bao_with_token(addr, args, "")
}

fn bao_with_token(addr: &str, args: &[&str], token: &str) -> std::process::Output {
    Command::new("bao")
        .args(args)
        .env("BAO_ADDR", addr)
        .env("BAO_TOKEN", token)
        .output()
        .expect("run bao")
}

fn start_node(dir: &Path, i: usize, api_port: u16, cluster_port: u16) -> Node {
    let ip = format!("127.0.0.2{i}");
    let data = dir.join(format!("n{i}"));
    std::fs::create_dir_all(&data).unwrap();
    let hcl = format!(
        "ui = false\ndisable_mlock = true\nstorage \"raft\" {{\n  path = \"{}\"\n  node_id = \"n{i}\"\n  performance_multiplier = 1\n}}\nlistener \"tcp\" {{\n  address = \"{ip}:{api_port}\"\n  cluster_address = \"{ip}:{cluster_port}\"\n  tls_disable = true\n}}\napi_addr = \"http://{ip}:{api_port}\"\ncluster_addr = \"https://{ip}:{cluster_port}\"\n",
        data.display()
    );
    let conf = dir.join(format!("n{i}.hcl"));
    std::fs::write(&conf, hcl).unwrap();
    let child = Command::new("bao")
        .arg("server")
        .arg(format!("-config={}", conf.display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("n{i}.log"))).unwrap())
        .spawn()
        .expect("spawn bao");
    let node = Node {
        api: format!("http://{ip}:{api_port}"),
        guard: ChildGuard::new(format!("bao n{i}"), child),
    };
    let hostport = format!("{ip}:{api_port}");
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(20), || http_status(
            &hostport,
            "/v1/sys/health"
        )
        .is_some()),
        "bao n{i} did not start: {}",
        std::fs::read_to_string(dir.join(format!("n{i}.log"))).unwrap_or_default()
    );
    node
}

#[test]
fn vault_frontend_reaches_only_the_active_node_and_fails_over() {
    let Some(_) = rackpipe_testkit::require_tool("bao") else {
        return;
    };
    let Some(haproxy) = rackpipe_testkit::require_tool("haproxy") else {
        return;
    };
    let dir = rackpipe_testkit::temp_dir();
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let mut nodes: Vec<Node> = (1..=3)
        .map(|i| start_node(dir.path(), i, ports[i - 1].0, ports[i - 1].1))
        .collect();

    // Initialise n1 (one key share), unseal it, join n2 and n3 and unseal them.
    let init = bao(
        &nodes[0].api,
        &[
            "operator",
            "init",
            "-key-shares=1",
            "-key-threshold=1",
            "-format=json",
        ],
    );
    assert!(
        init.status.success(),
        "bao operator init failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let init: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
    let key = init["unseal_keys_b64"][0].as_str().unwrap().to_owned();
    let root = init["root_token"].as_str().unwrap().to_owned();
    assert!(
        bao(&nodes[0].api, &["operator", "unseal", &key])
            .status
            .success()
    );
    let n1 = nodes[0].api.trim_start_matches("http://").to_owned();
    assert!(rackpipe_testkit::wait_until(
        Duration::from_secs(20),
        || http_status(&n1, "/v1/sys/health") == Some(200)
    ));
    // Promote joined nodes to voters quickly (default stabilization is 10 s).
    let _ = bao_with_token(
        &nodes[0].api,
        &[
            "operator",
            "raft",
            "autopilot",
            "set-config",
            "-server-stabilization-time=2s",
        ],
        &root,
    );
    for node in &nodes[1..] {
        let join = bao(&node.api, &["operator", "raft", "join", &nodes[0].api]);
        assert!(
            join.status.success(),
            "raft join: {}",
            String::from_utf8_lossy(&join.stderr)
        );
        assert!(
            bao(&node.api, &["operator", "unseal", &key])
                .status
                .success()
        );
        let hp = node.api.trim_start_matches("http://").to_owned();
        assert!(
            rackpipe_testkit::wait_until(Duration::from_secs(30), || http_status(
                &hp,
                "/v1/sys/health"
            ) == Some(429)),
            "{} never became a standby",
            node.api
        );
    }

    // Autopilot promotes joined nodes to voters only after they are stable; wait for three
    // voters, or killing the leader would leave no quorum.
    let t_voters = Instant::now();
    let three_voters = rackpipe_testkit::wait_until(Duration::from_secs(60), || {
        let out = bao_with_token(
            &nodes[0].api,
            &["operator", "raft", "list-peers", "-format=json"],
            &root,
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["data"]["config"]["servers"]
            .as_array()
            .is_some_and(|s| s.len() == 3 && s.iter().all(|p| p["voter"] == true))
    });
    assert!(three_voters, "the three nodes never became raft voters");
    eprintln!("openbao: three voters after {:.2?}", t_voters.elapsed());

    // HAProxy from a site with the three nodes as the vault service's backends.
    let vault_port = free_port();
    let lb = format!(
        "  vips:\n    - {{name: V, address: 127.0.0.10, segment: lan, vrid: 9, interface: eth0}}\n  instances:\n    - {{name: lb1, guest: lb1, priority: 100}}\n  services:\n    - {{name: vault, vip: V, port: {vault_port}, mode: tcp, check: vault_active, balance: first, backend_tls: {{enabled: false}}, check_interval: 500ms, backends: [{{target: bao1, port: {}}}, {{target: bao2, port: {}}}, {{target: bao3, port: {}}}]}}\n",
        ports[0].0, ports[1].0, ports[2].0
    );
    let site = load(&site_yaml(
        "127.0.0.0/8",
        &[
            G("lb1", "127.0.0.11/8"),
            G("bao1", "127.0.0.21/8"),
            G("bao2", "127.0.0.22/8"),
            G("bao3", "127.0.0.23/8"),
        ],
        &lb,
    ));
    let d = dir.path().display().to_string();
    let options = RenderOptions {
        haproxy_cfg: format!("{d}/haproxy.cfg"),
        admin_socket: format!("{d}/admin.sock"),
        pid_file: format!("{d}/haproxy.pid"),
        chroot: None,
        user: None,
        group: None,
        syslog: false,
        ..RenderOptions::default()
    };
    let files = render(&site, &options, &Redacted).unwrap();
    let cfg = files
        .iter()
        .find(|f| f.path.ends_with("haproxy.cfg"))
        .unwrap();
    std::fs::write(&cfg.path, &cfg.content).unwrap();
    rackpipe_haproxy_gen::daemon::check_haproxy_file(&haproxy, Path::new(&cfg.path)).unwrap();
    let child = Command::new(&haproxy)
        .args(["-W", "-db", "-f", &cfg.path])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _haproxy = ChildGuard::new("haproxy", child);
    let front = format!("127.0.0.10:{vault_port}");

    // Only the active node answers through the frontend: always 200, never 429 (standby).
    assert!(rackpipe_testkit::wait_until(
        Duration::from_secs(10),
        || http_status(&front, "/v1/sys/health") == Some(200)
    ));
    for _ in 0..30 {
        assert_eq!(http_status(&front, "/v1/sys/health"), Some(200));
    }

    // Kill the active node; measure until the frontend answers 200 from the new active node.
    let t0 = Instant::now();
    nodes[0].guard.kill();
    let (mut failed, mut standby) = (0u32, 0u32);
    let mut recovered = None;
    while t0.elapsed() < Duration::from_secs(40) {
        match http_status(&front, "/v1/sys/health") {
            Some(200) if t0.elapsed() > Duration::from_millis(50) => {
                recovered = Some(t0.elapsed());
                break;
            }
            Some(429) => standby += 1,
            _ => failed += 1,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let recovered = recovered.expect("no new active node behind the frontend within 40 s");
    let active: Vec<String> = nodes[1..]
        .iter()
        .filter(|n| http_status(n.api.trim_start_matches("http://"), "/v1/sys/health") == Some(200))
        .map(|n| n.api.clone())
        .collect();
    eprintln!(
        "FIGURE openbao failover: frontend served by the new active node {active:?} {recovered:.2?} after SIGKILL of the active node ({failed} failed, {standby} standby answers in between)"
    );
    assert_eq!(active.len(), 1);
    for _ in 0..10 {
        assert_eq!(http_status(&front, "/v1/sys/health"), Some(200));
    }
    let _ = &mut nodes;
}
