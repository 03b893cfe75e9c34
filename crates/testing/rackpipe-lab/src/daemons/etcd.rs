//! etcd: a static cluster, one member per host (the Kubernetes masters), named after the
//! hosts. Clients use TLS with client-certificate auth on `HOST_ADDR:2379`, members talk
//! TLS with client certificates on `:2380`; all certificates come from the lab CA. Data
//! lives in `<host.dir>/etcd/data`. The flags are those of Debian's etcd 3.4 (the recipe of
//! `crates/tools/rackpipe-etcd-backup/tests/common`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::pki::{Ca, CertPair, LeafSpec, Usage, server_spec};
use super::{Daemon, ETCD, Error, Result, create_dir, first_line, netns_command, spawn};
use crate::host::Host;

/// The client port of every member.
pub const CLIENT_PORT: u16 = 2379;
/// The peer port of every member.
pub const PEER_PORT: u16 = 2380;
/// Plain-HTTP metrics listener of a member (kubeadm's `--listen-metrics-urls` port).
pub const METRICS_PORT: u16 = 2381;
/// The `--initial-cluster-token` of the lab cluster.
pub const CLUSTER_TOKEN: &str = "rackpipe-lab";
/// Name (file stem in the CA dir) of the client certificate [`start`] issues.
pub const CLIENT_CERT_NAME: &str = "etcd-client";

/// One started member.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// The process.
    pub daemon: Daemon,
    /// The member name (the host's name).
    pub name: String,
    /// `https://ADDR:2379`.
    pub client_url: String,
    /// `https://ADDR:2380`.
    pub peer_url: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The member's certificate (server and peer, both EKUs).
    pub cert: PathBuf,
    /// The member's key (0600).
    pub key: PathBuf,
}

/// The started cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cluster {
    /// The members, in host order.
    pub members: Vec<Member>,
    /// The CA certificate (trusted by members and clients).
    pub ca: PathBuf,
    /// A client certificate accepted by every member (for etcdctl, etcd-backup, kubeadm).
    pub client: CertPair,
}

impl Cluster {
    /// The client URLs, comma-separated (`--endpoints`).
    #[must_use]
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| m.client_url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// An `etcdctl` command with the endpoints and the client certificate, run inside
    /// `host`'s namespace (any lab host on the members' segment).
    #[must_use]
    pub fn etcdctl(&self, host: &Host) -> std::process::Command {
        let mut cmd = netns_command(host, "etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoints()))
            .arg(format!("--cacert={}", self.ca.display()))
            .arg(format!("--cert={}", self.client.cert.display()))
            .arg(format!("--key={}", self.client.key.display()))
            .arg("--dial-timeout=2s")
            .arg("--command-timeout=3s");
        cmd
    }
}

/// Starts one member per host with a static `--initial-cluster` of all of them. Issues each
/// member a certificate (IP SANs: its address and 127.0.0.1) into `<host.dir>/etcd/tls/`,
/// and one client certificate into the CA's directory. Returns at once; see
/// [`wait_healthy`].
///
/// # Errors
/// No hosts, `etcd` missing, openssl, file or spawn failures.
pub fn start(hosts: &[Host], ca: &Ca) -> Result<Cluster> {
    let (etcd, initial, client) = cluster_setup(hosts, ca)?;
    let mut members = Vec::new();
    for host in hosts {
        let MemberSetup {
            base,
            data_dir,
            pair,
            client_url,
            peer_url,
            args,
        } = member_setup(host, &initial, ca)?;
        let daemon = spawn(host, ETCD, &etcd, |cmd| {
            cmd.args(&args).current_dir(&base);
        })?;
        members.push(Member {
            daemon,
            name: host.name.clone(),
            client_url,
            peer_url,
            data_dir,
            cert: pair.cert,
            key: pair.key,
        });
    }
    Ok(Cluster {
        members,
        ca: ca.cert.clone(),
        client,
    })
}

/// What every member needs: the etcd binary, the `--initial-cluster` value and the lab's
/// client certificate.
fn cluster_setup(hosts: &[Host], ca: &Ca) -> Result<(std::path::PathBuf, String, CertPair)> {
    if hosts.is_empty() {
        return Err(Error::Invalid("etcd: no hosts given".to_owned()));
    }
    let etcd = super::find_tool("etcd", None)?;
    let initial = hosts
        .iter()
        .map(|h| format!("{}=https://{}:{PEER_PORT}", h.name, h.address))
        .collect::<Vec<_>>()
        .join(",");
    Ok((etcd, initial, client_pair(ca)?))
}

/// One member's directories, certificate, URLs and etcd arguments.
struct MemberSetup {
    base: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    pair: CertPair,
    client_url: String,
    peer_url: String,
    args: Vec<std::ffi::OsString>,
}

/// Creates `host`'s member directory and certificate and builds its arguments.
fn member_setup(host: &Host, initial: &str, ca: &Ca) -> Result<MemberSetup> {
    let base = host.path("etcd");
    let data_dir = base.join("data");
    create_dir(&base)?;
    let pair = member_pair(host, &base, ca)?;
    let client_url = format!("https://{}:{CLIENT_PORT}", host.address);
    let peer_url = format!("https://{}:{PEER_PORT}", host.address);
    let args = member_args(host, &data_dir, &client_url, &peer_url, initial, &pair, ca);
    Ok(MemberSetup {
        base,
        data_dir,
        pair,
        client_url,
        peer_url,
        args,
    })
}

/// The client certificate every etcd client of the lab uses.
fn client_pair(ca: &Ca) -> Result<CertPair> {
    ca.issue(
        &ca.dir,
        CLIENT_CERT_NAME,
        &LeafSpec {
            common_name: "rackpipe-lab-etcd-client".to_owned(),
            ips: Vec::new(),
            dns: Vec::new(),
            usage: Usage::Client,
        },
    )
}

/// `host`'s member certificate (server and peer), under `base/tls`.
fn member_pair(host: &Host, base: &std::path::Path, ca: &Ca) -> Result<CertPair> {
    ca.issue(
        &base.join("tls"),
        "member",
        &server_spec(
            &host.name,
            IpAddr::V4(host.address),
            &[],
            &[],
            Usage::ServerAndClient,
        ),
    )
}

/// etcd's arguments for `host`'s member (TLS for clients and peers, client-cert auth).
fn member_args(
    host: &Host,
    data_dir: &std::path::Path,
    client_url: &str,
    peer_url: &str,
    initial: &str,
    pair: &CertPair,
    ca: &Ca,
) -> Vec<std::ffi::OsString> {
    let mut cmd = std::process::Command::new("etcd");
    cmd.args(["--name", &host.name])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen-client-urls", client_url])
        .args(["--advertise-client-urls", client_url])
        .args(["--listen-peer-urls", peer_url])
        // Plain-HTTP /metrics on the member's address, where the site's Prometheus scrapes it
        // (kubeadm's `--listen-metrics-urls` port, monitoring.targets.etcd).
        .arg("--listen-metrics-urls")
        .arg(format!("http://{}:{METRICS_PORT}", host.address))
        .args(["--initial-advertise-peer-urls", peer_url])
        .args(["--initial-cluster", initial])
        .args(["--initial-cluster-token", CLUSTER_TOKEN])
        .args(["--initial-cluster-state", "new"])
        .args(["--logger", "zap", "--log-outputs", "stderr"])
        .arg("--cert-file")
        .arg(&pair.cert)
        .arg("--key-file")
        .arg(&pair.key)
        .arg("--trusted-ca-file")
        .arg(&ca.cert)
        .arg("--client-cert-auth")
        .arg("--peer-cert-file")
        .arg(&pair.cert)
        .arg("--peer-key-file")
        .arg(&pair.key)
        .arg("--peer-trusted-ca-file")
        .arg(&ca.cert)
        .arg("--peer-client-cert-auth")
        .current_dir(data_dir);
    cmd.get_args().map(std::ffi::OsStr::to_os_string).collect()
}

/// Prepares `hosts`' members like [`start`] but starts none: each master gets
/// `bin/kubelet-standin` (first on its SSH PATH), which the kubeadm stand-in runs after
/// `kubeadm init` / a control-plane `join` (`start`) and `reset` (`stop`), as the kubelet
/// starts and stops kubeadm's etcd static pod. TEST DOUBLE of the kubelet, for the lab.
///
/// # Errors
/// etcd missing, certificates or files cannot be written.
pub fn prepare_for_kubeadm(hosts: &[Host], ca: &Ca) -> Result<CertPair> {
    let (etcd, initial, client) = cluster_setup(hosts, ca)?;
    for host in hosts {
        let MemberSetup { base, args, .. } = member_setup(host, &initial, ca)?;
        let quoted: Vec<String> = std::iter::once(etcd.as_os_str().to_os_string())
            .chain(args)
            .map(|a| crate::host::shell_quote(&a.to_string_lossy()))
            .collect();
        let pid = super::pid_file(host, ETCD);
        let log = super::log_file(host, ETCD);
        let script = format!(
            "#!/bin/sh\n\
             # TEST DOUBLE of the kubelet (rackpipe lab): starts/stops this master's etcd member\n\
             # when the kubeadm stand-in creates/removes the etcd static pod.\n\
             pid={pid}\nset -e\ncase \"$1\" in\n\
             start)\n  if [ -f \"$pid\" ] && kill -0 \"$(cat \"$pid\")\" 2>/dev/null; then exit 0; fi\n\
             \x20 mkdir -p {run} {logs}\n  cd {base}\n\
             \x20 setsid {cmd} >>{log} 2>&1 </dev/null &\n  echo $! > \"$pid\" ;;\n\
             stop)\n  if [ -f \"$pid\" ]; then kill \"$(cat \"$pid\")\" 2>/dev/null || true; rm -f \"$pid\"; fi ;;\n\
             *) echo \"usage: kubelet-standin start|stop\" >&2; exit 64 ;;\nesac\n",
            pid = crate::host::shell_quote(&pid.display().to_string()),
            run = crate::host::shell_quote(&host.path(super::RUN_DIR).display().to_string()),
            logs = crate::host::shell_quote(&host.path(super::LOG_DIR).display().to_string()),
            base = crate::host::shell_quote(&base.display().to_string()),
            log = crate::host::shell_quote(&log.display().to_string()),
            cmd = quoted.join(" "),
        );
        let bin = host.path("bin");
        std::fs::create_dir_all(&bin).map_err(|e| Error::Io {
            path: bin.clone(),
            source: e,
        })?;
        let path = bin.join("kubelet-standin");
        std::fs::write(&path, script).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let mut perms = std::fs::metadata(&path)
            .map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).map_err(|e| Error::Io { path, source: e })?;
    }
    Ok(client)
}

/// Waits until `etcdctl endpoint health` reports every member healthy (run from `probe`'s
/// namespace, with the client certificate). Returns how long it took.
///
/// # Errors
/// [`Error::Exited`] when a member dies, [`Error::Timeout`] with etcdctl's last message.
pub fn wait_healthy(cluster: &Cluster, probe: &Host, timeout: Duration) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let out = cluster
            .etcdctl(probe)
            .args(["endpoint", "health"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| Error::Spawn {
                host: probe.name.clone(),
                program: "etcdctl".to_owned(),
                source,
            })?;
        if out.status.success() {
            return Ok(start.elapsed());
        }
        let last = first_line(&out.stderr);
        for m in &cluster.members {
            m.daemon.ensure_running()?;
        }
        if start.elapsed() >= timeout {
            return Err(Error::Timeout {
                host: probe.name.clone(),
                what: "etcd endpoint health".to_owned(),
                waited: timeout,
                detail: last,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
