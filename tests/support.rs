//! A small harness: run a rackpipe binary with arguments and stdin, capture everything.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The seven binaries, by name.
pub const TOOLS: [&str; 7] = [
    "ros-render",
    "pve-sync",
    "nfs-export",
    "vault-bootstrap",
    "haproxy-gen",
    "kubeadm-join",
    "etcd-backup",
];

/// Path of a built binary.
pub fn bin(tool: &str) -> PathBuf {
    let path = match tool {
        "ros-render" => env!("CARGO_BIN_EXE_ros-render"),
        "pve-sync" => env!("CARGO_BIN_EXE_pve-sync"),
        "nfs-export" => env!("CARGO_BIN_EXE_nfs-export"),
        "vault-bootstrap" => env!("CARGO_BIN_EXE_vault-bootstrap"),
        "haproxy-gen" => env!("CARGO_BIN_EXE_haproxy-gen"),
        "kubeadm-join" => env!("CARGO_BIN_EXE_kubeadm-join"),
        "etcd-backup" => env!("CARGO_BIN_EXE_etcd-backup"),
        other => panic!("unknown tool {other}"),
    };
    PathBuf::from(path)
}

/// The project root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What a run produced.
#[derive(Debug)]
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// stdout parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }
}

/// Runs `tool args...` with `stdin` (none: an empty, closed stdin).
pub fn run(tool: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_env(tool, args, stdin, &[])
}

/// Like [`run`], with extra environment variables.
pub fn run_env(tool: &str, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(bin(tool))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .env_remove("RACKPIPE_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn binary");
    // Feed stdin from a thread so a tool writing a large output never deadlocks against us.
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut input), Some(bytes)) => {
            let bytes = bytes.to_vec();
            // The tool may exit before reading everything (e.g. on a size limit).
            Some(std::thread::spawn(move || drop(input.write_all(&bytes))))
        }
        _ => None,
    };
    let out = child.wait_with_output().expect("wait for binary");
    if let Some(w) = writer {
        let _ = w.join();
    }
    let output = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !output.stderr.contains("panicked"),
        "{tool} panicked:\n{}",
        output.stderr
    );
    output
}

/// The RouterOS simulator with the example router's ports (`ether1`-`ether10`,
/// `sfp-sfpplus1`) and one user, `rackpipe` with `password`, served from `runtime`.
pub fn example_router_sim(
    runtime: &tokio::runtime::Runtime,
    password: &str,
) -> rackpipe_ros_sim::Simulator {
    let mut ports: Vec<String> = (1..=10).map(|i| format!("ether{i}")).collect();
    ports.push("sfp-sfpplus1".to_owned());
    runtime
        .block_on(rackpipe_ros_sim::Simulator::start(
            rackpipe_ros_sim::SimConfig {
                users: vec![(
                    "rackpipe".to_owned(),
                    rackpipe_ros_sim::Secret::new(password),
                )],
                ethernet_ports: ports,
                management: None,
                unreachable_timeout: std::time::Duration::from_secs(5),
                ..rackpipe_ros_sim::SimConfig::default()
            },
        ))
        .expect("start the RouterOS simulator")
}

/// How many requests changed the simulated router (reads, prints and exports not counted).
pub fn router_writes(sim: &rackpipe_ros_sim::Simulator) -> u64 {
    sim.stats()
        .by_route
        .iter()
        .filter(|(route, _)| !route.starts_with("GET "))
        .filter(|(route, _)| !route.ends_with("/print") && !route.ends_with("/export"))
        .map(|(_, n)| n)
        .sum()
}
