//! The simulators (RouterOS, Proxmox VE, Synology DSM) as lab daemons.
//!
//! The simulator crates bind 127.0.0.1 only, so `rackpipe-lab serve` (hidden subcommand, run in
//! the host's namespace) starts one on the namespace's loopback and forwards the host's lab
//! address and site port to it byte for byte: TLS ends in the simulator, with a certificate
//! from the lab CA. The spec file (`DIR/creds/sims/<name>.json`, 0600: it holds the password or
//! token) says what to seed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::LabError;

/// Which simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SimKind {
    /// The RouterOS REST simulator.
    RosSim,
    /// The Proxmox VE API simulator.
    PveSim,
    /// The Synology DSM simulator.
    DsmSim,
}

impl SimKind {
    /// Daemon name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::RosSim => "ros-sim",
            Self::PveSim => "pve-sim",
            Self::DsmSim => "dsm-sim",
        }
    }
}

/// A template guest the Proxmox simulator starts with (the site's clone sources).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateGuest {
    /// VMID.
    pub vmid: u32,
    /// Node.
    pub node: String,
    /// Storage of its disk.
    pub storage: String,
}

/// A storage of the simulated cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageDef {
    /// Storage id.
    pub id: String,
    /// Plugin type.
    pub plugin: String,
    /// Content types.
    pub content: Vec<String>,
    /// Shared.
    pub shared: bool,
}

/// What `serve` starts (written by the lab, 0600).
#[derive(Clone, Serialize, Deserialize)]
pub struct SimSpec {
    /// Which simulator.
    pub kind: SimKind,
    /// TLS certificate (PEM).
    pub cert_file: PathBuf,
    /// TLS key (PEM).
    pub key_file: PathBuf,
    /// RouterOS/DSM accounts `(user, password)`.
    #[serde(default)]
    pub users: Vec<(String, String)>,
    /// RouterOS ethernet ports.
    #[serde(default)]
    pub ethernet_ports: Vec<String>,
    /// Proxmox API schema file.
    #[serde(default)]
    pub schema: Option<PathBuf>,
    /// Proxmox nodes.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Proxmox storages.
    #[serde(default)]
    pub storages: Vec<StorageDef>,
    /// Proxmox tokens `(USER@REALM!ID, SECRET)`.
    #[serde(default)]
    pub tokens: Vec<(String, String)>,
    /// Proxmox template guests.
    #[serde(default)]
    pub templates: Vec<TemplateGuest>,
    /// Template download URLs the simulated nodes can fetch.
    #[serde(default)]
    pub remote_files: Vec<String>,
    /// DSM shares.
    #[serde(default)]
    pub shares: Vec<String>,
}

impl std::fmt::Debug for SimSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSpec")
            .field("kind", &self.kind)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

fn err(kind: SimKind, message: impl std::fmt::Display) -> LabError {
    LabError::Daemon {
        host: "local".into(),
        daemon: kind.name().into(),
        message: message.to_string(),
    }
}

fn read(path: &Path, kind: SimKind) -> Result<String, LabError> {
    std::fs::read_to_string(path).map_err(|e| err(kind, format!("{}: {e}", path.display())))
}

/// Runs a simulator for `spec` until the process is killed: starts it on 127.0.0.1 and
/// forwards `listen` to it.
///
/// # Errors
/// The spec, schema or certificate is unusable, or `listen` cannot be bound.
pub async fn serve(listen: SocketAddr, spec: SimSpec) -> Result<(), LabError> {
    let kind = spec.kind;
    let cert_pem = read(&spec.cert_file, kind)?;
    let key_pem = read(&spec.key_file, kind)?;
    // Hold the simulator for the life of the process.
    let (backend, _guard): (SocketAddr, Box<dyn std::any::Any + Send>) = match kind {
        SimKind::RosSim => {
            let config = rackpipe_ros_sim::SimConfig {
                users: spec
                    .users
                    .iter()
                    .map(|(u, p)| (u.clone(), rackpipe_ros_sim::Secret::new(p.clone())))
                    .collect(),
                ethernet_ports: spec.ethernet_ports.clone(),
                management: None,
                tls: Some(rackpipe_ros_sim::TlsIdentity {
                    cert_pem,
                    key_pem: rackpipe_ros_sim::Secret::new(key_pem),
                }),
                unreachable_timeout: Duration::from_secs(10),
                ..rackpipe_ros_sim::SimConfig::default()
            };
            let sim = rackpipe_ros_sim::Simulator::start(config)
                .await
                .map_err(|e| err(kind, e))?;
            (sim.addr(), Box::new(sim))
        }
        SimKind::PveSim => {
            let schema = spec
                .schema
                .clone()
                .ok_or_else(|| err(kind, "no Proxmox API schema in the spec"))?;
            let mut config = rackpipe_pve_sim::SimConfig::new(schema);
            config.nodes = spec.nodes.clone();
            config.storages = spec
                .storages
                .iter()
                .map(|s| {
                    let content: Vec<&str> = s.content.iter().map(String::as_str).collect();
                    rackpipe_pve_sim::StorageSpec::new(&s.id, &s.plugin, &content, s.shared)
                })
                .collect();
            config.tokens = spec
                .tokens
                .iter()
                .map(|(id, secret)| rackpipe_pve_sim::TokenSpec {
                    tokenid: id.clone(),
                    secret: secret.clone(),
                    privileges: None,
                })
                .collect();
            config.tls = Some(rackpipe_pve_sim::TlsIdentity { cert_pem, key_pem });
            let sim = rackpipe_pve_sim::Simulator::start(config)
                .await
                .map_err(|e| err(kind, e))?;
            for t in &spec.templates {
                sim.add_guest(template_guest(t)).map_err(|e| err(kind, e))?;
            }
            for url in &spec.remote_files {
                sim.add_remote_file(url, 200 << 20, &[]);
            }
            (sim.addr(), Box::new(sim))
        }
        SimKind::DsmSim => {
            let config = rackpipe_dsm_sim::SimConfig {
                users: spec.users.iter().cloned().collect(),
                shares: spec
                    .shares
                    .iter()
                    .map(|s| (s.clone(), Vec::<Value>::new()))
                    .collect(),
                ..rackpipe_dsm_sim::SimConfig::default()
            };
            let sim = rackpipe_dsm_sim::DsmSim::start_tls(
                config,
                rackpipe_dsm_sim::TlsPem {
                    cert_chain_pem: cert_pem,
                    key_pem,
                },
            )
            .await
            .map_err(|e| err(kind, e))?;
            (sim.addr(), Box::new(sim))
        }
    };
    forward(listen, backend).await.map_err(|e| err(kind, e))
}

fn template_guest(t: &TemplateGuest) -> rackpipe_pve_sim::GuestSpec {
    let vmid = t.vmid;
    let storage = &t.storage;
    rackpipe_pve_sim::GuestSpec {
        vmid,
        kind: rackpipe_pve_sim::GuestKind::Qemu,
        node: t.node.clone(),
        config: vec![
            ("template".into(), "1".into()),
            ("name".into(), format!("tmpl-{vmid}")),
            ("cores".into(), "1".into()),
            ("memory".into(), "1024".into()),
            (
                "scsi0".into(),
                format!("{storage}:base-{vmid}-disk-0,size=4G"),
            ),
            (
                "ide2".into(),
                format!("{storage}:vm-{vmid}-cloudinit,media=cdrom"),
            ),
            (
                "net0".into(),
                "virtio=BC:24:11:00:00:01,bridge=vmbr0".into(),
            ),
        ],
        running: false,
    }
}

/// Accepts on `listen` and copies bytes both ways to `backend` for each connection.
///
/// # Errors
/// `listen` cannot be bound.
pub async fn forward(listen: SocketAddr, backend: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, %backend, "forwarding");
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
