//! `DIR/lab.json`: everything the lab created, written after every step so `down` can remove
//! exactly that, also after a partial failure.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::LabError;
use crate::host::Host;
use crate::labsite::{SecretSlot, SegmentMap};

/// What a lab host stands for in the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The RouterOS router (simulator).
    Router,
    /// The Proxmox API node (simulator).
    Proxmox,
    /// The NAS.
    Nas,
    /// A Vault/OpenBao server.
    Vault,
    /// An HAProxy + keepalived instance.
    LoadBalancer,
    /// A Kubernetes control-plane node.
    KubernetesMaster,
    /// A Kubernetes worker.
    KubernetesWorker,
}

/// A host of the lab with what the topology knows about it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabHost {
    /// The host as daemons see it.
    #[serde(flatten)]
    pub host: Host,
    /// The site's FQDN for it, when it has one.
    pub fqdn: Option<String>,
    /// The segment its address is in.
    pub segment: String,
    /// Its prefix length on that segment.
    pub prefix_len: u8,
    /// What it stands for (a guest can be several things).
    pub roles: Vec<Role>,
    /// Kubernetes node name, on Kubernetes nodes.
    pub kubernetes_node: Option<String>,
    /// The root-namespace end of its veth pair (`rp<id>h<N>`).
    pub veth: String,
}

/// A bridge in the root namespace mirroring one segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bridge {
    /// Interface name (`rp<id>b<N>`).
    pub name: String,
    /// The segment it mirrors.
    pub segment: String,
    /// The root namespace's address on it.
    pub address: Ipv4Net,
}

/// A daemon the lab started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonRecord {
    /// Name, unique per host (`sshd`, `ros-sim`, `haproxy`).
    pub name: String,
    /// The lab host it runs on.
    pub host: String,
    /// Process id (also its process group id).
    pub pid: u32,
    /// Log file (stdout and stderr).
    pub log: PathBuf,
    /// The command line, for humans.
    pub command: String,
    /// The program and its arguments (to start it again).
    #[serde(default)]
    pub argv: Vec<String>,
}

/// How `health` checks a component.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Probe {
    /// A TCP connect to `address:port`.
    Tcp {
        /// Port.
        port: u16,
    },
    /// An HTTPS GET of `path` (any HTTP status counts: the server answered).
    Https {
        /// Port.
        port: u16,
        /// Path.
        path: String,
    },
    /// The recorded daemon's process is alive.
    Pid {
        /// Daemon name.
        daemon: String,
    },
}

/// Something `health` checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Component {
    /// The lab host.
    pub host: String,
    /// Its address.
    pub address: Ipv4Addr,
    /// What it is (`sshd`, `ros-sim`, `pve-sim`, ...).
    pub kind: String,
    /// How it is checked.
    pub probe: Probe,
}

/// Credentials and trust files under `DIR/creds`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Creds {
    /// The lab CA certificate (PEM).
    pub ca_file: Option<PathBuf>,
    /// The lab SSH client private key (0600).
    pub ssh_key: Option<PathBuf>,
    /// `known_hosts` with every lab host's address and key.
    pub known_hosts: Option<PathBuf>,
    /// SHA-256 fingerprints of the simulators' leaf certificates, by component.
    pub fingerprints: BTreeMap<String, String>,
}

/// The whole lab state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    /// Lab id (4 hex digits), in every interface and namespace name.
    pub id: String,
    /// The state directory.
    pub dir: PathBuf,
    /// The site the lab was built from.
    pub source_site: PathBuf,
    /// The lab site (`DIR/site.yaml`).
    pub site: PathBuf,
    /// `up` once everything started; `partial` while starting or after a failure.
    pub status: String,
    /// The block of 198.18.0.0/15 this lab claimed (released on down).
    #[serde(default)]
    pub slot: Option<Ipv4Net>,
    /// Segment mapping.
    pub segments: Vec<SegmentMap>,
    /// Secret variables the lab site references (values are only in `ci-variables.json`).
    pub secrets: Vec<SecretSlot>,
    /// Hosts (one network namespace each).
    pub hosts: Vec<LabHost>,
    /// Network namespaces created.
    pub netns: Vec<String>,
    /// Bridges created.
    pub bridges: Vec<Bridge>,
    /// Root-namespace veth ends created.
    pub veths: Vec<String>,
    /// Directories created on the machine as bind targets (removed on down).
    pub created_dirs: Vec<PathBuf>,
    /// Empty files created on the machine as bind targets (removed on down).
    #[serde(default)]
    pub created_files: Vec<PathBuf>,
    /// Daemons running.
    pub daemons: Vec<DaemonRecord>,
    /// What `health` checks.
    pub components: Vec<Component>,
    /// Credential files.
    pub creds: Creds,
    /// Set by the daemon modules' callers: anything they want recorded (paths, URLs).
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl LabState {
    /// A new, empty state.
    #[must_use]
    pub fn new(id: &str, dir: &Path, source_site: &Path) -> Self {
        Self {
            id: id.to_owned(),
            dir: dir.to_owned(),
            source_site: source_site.to_owned(),
            site: dir.join("site.yaml"),
            status: "partial".to_owned(),
            slot: None,
            segments: Vec::new(),
            secrets: Vec::new(),
            hosts: Vec::new(),
            netns: Vec::new(),
            bridges: Vec::new(),
            veths: Vec::new(),
            created_dirs: Vec::new(),
            created_files: Vec::new(),
            daemons: Vec::new(),
            components: Vec::new(),
            creds: Creds::default(),
            extra: BTreeMap::new(),
        }
    }

    /// `DIR/lab.json`.
    #[must_use]
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("lab.json")
    }

    /// Reads `DIR/lab.json`.
    ///
    /// # Errors
    /// Missing or invalid file.
    pub fn load(dir: &Path) -> Result<Self, LabError> {
        let path = Self::path(dir);
        let text = std::fs::read_to_string(&path).map_err(|e| LabError::io(&path, &e))?;
        serde_json::from_str(&text).map_err(|e| LabError::State(format!("{}: {e}", path.display())))
    }

    /// Writes `DIR/lab.json` atomically.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self) -> Result<(), LabError> {
        let path = Self::path(&self.dir);
        let tmp = self.dir.join(".lab.json.tmp");
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| LabError::State(format!("serialise lab state: {e}")))?;
        std::fs::write(&tmp, text + "\n").map_err(|e| LabError::io(&tmp, &e))?;
        std::fs::rename(&tmp, &path).map_err(|e| LabError::io(&path, &e))
    }

    /// The host named `name`.
    #[must_use]
    pub fn host(&self, name: &str) -> Option<&LabHost> {
        self.hosts.iter().find(|h| h.host.name == name)
    }
}
