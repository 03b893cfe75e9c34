//! [`Lab`]: bring the whole lab up, check it, take it down.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::LabError;
use crate::health::{self, ComponentHealth};
use crate::host::Host;
use crate::labsite::{self, LabSite, LabSiteOptions, SecretKind};
use crate::process;
use crate::sims::{SimKind, SimSpec, StorageDef, TemplateGuest};
use crate::sshd;
use crate::state::{Component, DaemonRecord, LabHost, LabState, Probe, Role};
use crate::tls::{self, LabCa};
use crate::topology;

/// How long `up` waits for a daemon's port.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings for [`Lab::up`].
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// State directory (created; must not hold a running lab).
    pub dir: PathBuf,
    /// The site to rehearse.
    pub site: PathBuf,
    /// The `rackpipe-lab` binary that serves the simulators (default: the running executable).
    pub lab_binary: Option<PathBuf>,
    /// The Proxmox API schema the simulator validates requests against; default: the one
    /// `rackpipe-pve-sim` carries ([`rackpipe_pve_sim::bundled_schema`]).
    pub pve_schema: Option<PathBuf>,
    /// The kubeadm stand-in script; default: `RACKPIPE_KUBEADM_STANDIN`, else the one in the
    /// source tree this binary was built from.
    pub kubeadm_standin: Option<PathBuf>,
    /// Also start the real daemons (OpenBao, HAProxy + keepalived, etcd, nfs-ganesha).
    pub daemons: bool,
}

impl LabOptions {
    /// Options for `dir` and `site`, everything else default.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>, site: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            site: site.into(),
            lab_binary: None,
            pve_schema: None,
            kubeadm_standin: None,
            daemons: true,
        }
    }
}

/// A running lab. Dropping it takes it down unless [`Lab::detach`] was called.
pub struct Lab {
    state: LabState,
    children: BTreeMap<(String, String), Child>,
    stopped: Vec<DaemonRecord>,
    ci_variables: BTreeMap<String, String>,
    downed: bool,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The CI variables hold secret values: only their names.
        f.debug_struct("Lab")
            .field("id", &self.state.id)
            .field("dir", &self.state.dir)
            .field("status", &self.state.status)
            .field(
                "ci_variables",
                &self.ci_variables.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn random_hex(bytes: usize) -> Result<String, LabError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| LabError::State(format!("randomness: {e}")))?;
    Ok(hex::encode(buf))
}

fn absolute(p: &Path) -> Result<PathBuf, LabError> {
    std::path::absolute(p).map_err(|e| LabError::io(p, &e))
}

impl Lab {
    /// Builds the lab: lab site, network, sshd everywhere, simulators and (with
    /// `options.daemons`) the real daemons. On failure everything created is removed again.
    ///
    /// # Errors
    /// The first step that fails.
    pub fn up(options: &LabOptions) -> Result<Self, LabError> {
        let dir = absolute(&options.dir)?;
        if dir.to_string_lossy().chars().any(char::is_whitespace) {
            return Err(LabError::State(format!(
                "{}: the lab directory must not contain white space (CI arguments are split on it)",
                dir.display()
            )));
        }
        if let Ok(old) = LabState::load(&dir)
            && old.status != "down"
        {
            return Err(LabError::State(format!(
                "{}: holds lab {} ({}); run `rackpipe-lab down --dir {}` first",
                dir.display(),
                old.id,
                old.status,
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir.join("creds")).map_err(|e| LabError::io(&dir, &e))?;
        let id = topology::new_id()?;
        let site = absolute(&options.site)?;
        let state = LabState::new(&id, &dir, &site);
        state.save()?;
        let mut lab = Self {
            state,
            children: BTreeMap::new(),
            stopped: Vec::new(),
            ci_variables: BTreeMap::new(),
            downed: false,
        };
        match lab.build(options) {
            Ok(()) => Ok(lab),
            Err(e) => {
                tracing::error!("lab up failed, tearing down: {e}");
                let _ = lab.down();
                Err(e)
            }
        }
    }

    fn creds(&self) -> PathBuf {
        self.state.dir.join("creds")
    }

    fn build(&mut self, options: &LabOptions) -> Result<(), LabError> {
        let creds = self.creds();
        set_mode(&creds, 0o700)?;
        tracing::info!(id = %self.state.id, "lab: CA and keys");
        let ca = LabCa::new(&self.state.id)?;
        ca.write(&creds)?;
        let ca_file = creds.join("ca.pem");
        self.state.creds.ca_file = Some(ca_file.clone());
        let (jwt_pub, jwt_key) = tls::key_pair()?;
        tls::write_file(
            &creds.join("jwt-signing-key.pem"),
            jwt_key.as_bytes(),
            0o600,
        )?;
        tls::write_file(&creds.join("jwt-public-key.pem"), jwt_pub.as_bytes(), 0o644)?;
        let ssh_key = creds.join("id_ed25519");
        sshd::keygen(&ssh_key, &format!("rackpipe-lab-{}", self.state.id))?;
        set_mode(&ssh_key, 0o600)?;
        let client_pub = sshd::public_key(&ssh_key)?;
        self.state.creds.ssh_key = Some(ssh_key.clone());

        tracing::info!("lab: site {}", self.state.source_site.display());
        let document = labsite::read(&self.state.source_site)?;
        let span = labsite::span_of(&document)?;
        let slot = crate::slots::claim(&self.state.id, span)?;
        self.state.slot = Some(slot);
        self.state.save()?;
        let site = labsite::rewrite(
            document,
            &LabSiteOptions {
                base: slot,
                ca_file: ca_file.display().to_string(),
                jwt_public_key_pem: Some(jwt_pub),
            },
        )?;
        site.write(&self.state.site)?;
        let bytes =
            std::fs::read(&self.state.site).map_err(|e| LabError::io(&self.state.site, &e))?;
        rackpipe_model::load_and_validate("site.yaml", &bytes).map_err(|e| {
            LabError::Site(format!(
                "the lab site {} does not validate: {}",
                self.state.site.display(),
                e.to_string().lines().next().unwrap_or_default()
            ))
        })?;
        self.state.segments.clone_from(&site.segments);
        self.state.secrets.clone_from(&site.secrets);
        let secrets = secret_values(&site, &client_pub)?;
        self.state.save()?;

        tracing::info!("lab: network");
        let planned = topology::plan_hosts(&site.document)?;
        topology::create(&mut self.state, &site, &planned)?;

        tracing::info!("lab: sshd on {} hosts", self.state.hosts.len());
        self.start_sshds(&client_pub, options)?;

        tracing::info!("lab: simulators");
        self.start_sims(&site, &ca, &secrets, options)?;

        if options.daemons {
            self.start_daemons(&site)?;
        }

        self.wait_components()?;
        self.ci_variables = self.build_ci_variables(&site, &secrets);
        let path = self.state.dir.join("ci-variables.json");
        let text = serde_json::to_string_pretty(&self.ci_variables)
            .map_err(|e| LabError::State(format!("ci variables: {e}")))?;
        tls::write_file(&path, text.as_bytes(), 0o600)?;
        self.state.status = "up".to_owned();
        self.state.save()?;
        Ok(())
    }

    fn start_sshds(&mut self, client_pub: &str, options: &LabOptions) -> Result<(), LabError> {
        let needs_standin = self.state.hosts.iter().any(|h| {
            h.roles
                .iter()
                .any(|r| matches!(r, Role::KubernetesMaster | Role::KubernetesWorker))
        });
        let standin = if needs_standin {
            let script = options
                .kubeadm_standin
                .clone()
                .or_else(|| std::env::var_os("RACKPIPE_KUBEADM_STANDIN").map(PathBuf::from))
                .unwrap_or_else(|| {
                    source_root()
                        .join("crates/tools/rackpipe-kubeadm-join/standin/kubeadm-standin.py")
                });
            if !script.is_file() {
                return Err(LabError::State(format!(
                    "{}: the kubeadm stand-in is missing (set RACKPIPE_KUBEADM_STANDIN)",
                    script.display()
                )));
            }
            let python = which("python3").ok_or_else(|| {
                LabError::State("python3 is not installed (kubeadm stand-in)".into())
            })?;
            let bin = self.state.dir.join("bin");
            std::fs::create_dir_all(&bin).map_err(|e| LabError::io(&bin, &e))?;
            let copy = bin.join("kubeadm-standin.py");
            std::fs::copy(&script, &copy).map_err(|e| LabError::io(&copy, &e))?;
            let state_dir = self.state.dir.join("k8s-cluster");
            std::fs::create_dir_all(&state_dir).map_err(|e| LabError::io(&state_dir, &e))?;
            Some(sshd::Standin {
                python,
                script: copy,
                state_dir,
            })
        } else {
            None
        };
        topology_ensure(&mut self.state, Path::new("/run/sshd"))?;
        let mut known = Vec::new();
        for i in 0..self.state.hosts.len() {
            let host = self.state.hosts[i].clone();
            let key = sshd::prepare(&host, client_pub, standin.as_ref())?;
            known.push((host.host.address.to_string(), key));
            self.spawn_daemon(&host.host, "sshd", sshd::command(&host.host))?;
            self.state.components.push(Component {
                host: host.host.name.clone(),
                address: host.host.address,
                kind: "sshd".into(),
                probe: Probe::Tcp { port: 22 },
            });
        }
        let kh = self.creds().join("known_hosts");
        sshd::write_known_hosts(&kh, &known)?;
        self.state.creds.known_hosts = Some(kh);
        self.state.save()
    }

    fn start_sims(
        &mut self,
        site: &LabSite,
        ca: &LabCa,
        secrets: &BTreeMap<String, String>,
        options: &LabOptions,
    ) -> Result<(), LabError> {
        let doc = &site.document;
        let lab_binary = match &options.lab_binary {
            Some(p) => p.clone(),
            None => {
                std::env::current_exe().map_err(|e| LabError::State(format!("current exe: {e}")))?
            }
        };
        let sims_dir = self.creds().join("sims");
        std::fs::create_dir_all(&sims_dir).map_err(|e| LabError::io(&sims_dir, &e))?;
        set_mode(&sims_dir, 0o700)?;
        let resolve = |v: Option<&Value>| -> Option<String> {
            let r = v?.as_str()?;
            r.strip_prefix("env:")
                .and_then(|var| secrets.get(var).cloned())
        };
        let mut sims: Vec<(String, SimSpec, u16)> = Vec::new();
        if let Some(router) = self.host_with(Role::Router) {
            let user = doc
                .pointer("/router/management/user")
                .and_then(Value::as_str)
                .unwrap_or("admin")
                .to_owned();
            let password = resolve(doc.pointer("/router/management/password"))
                .ok_or_else(|| LabError::Site("router.management.password: no lab value".into()))?;
            let port = doc
                .pointer("/router/management/rest_port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(443);
            let mut ports: Vec<String> = doc
                .pointer("/router/ethernet")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    e.get("default_name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect();
            if ports.is_empty() {
                ports = (1..=8).map(|i| format!("ether{i}")).collect();
            }
            let spec = self.sim_spec(SimKind::RosSim, ca, &router, &sims_dir)?;
            sims.push((
                router.host.name.clone(),
                SimSpec {
                    users: vec![(user, password)],
                    ethernet_ports: ports,
                    ..spec
                },
                port,
            ));
        }
        if let Some(pve) = self.host_with(Role::Proxmox) {
            let schema = options
                .pve_schema
                .clone()
                .unwrap_or_else(rackpipe_pve_sim::bundled_schema);
            if !schema.is_file() {
                return Err(LabError::State(format!(
                    "{}: missing (the Proxmox simulator's API schema)",
                    schema.display()
                )));
            }
            let token = resolve(doc.pointer("/proxmox/api/token"))
                .ok_or_else(|| LabError::Site("proxmox.api.token: no lab value".into()))?;
            let (tokenid, secret) = token
                .rsplit_once('=')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| {
                    LabError::Site("proxmox.api.token: not USER@REALM!ID=SECRET".into())
                })?;
            let port = doc
                .pointer("/proxmox/api/port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(8006);
            let arr = |p: &str| {
                doc.pointer(p)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let nodes: Vec<String> = arr("/proxmox/nodes")
                .iter()
                .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let storages = arr("/proxmox/storages")
                .iter()
                .map(|s| StorageDef {
                    id: s
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    plugin: s
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("dir")
                        .to_owned(),
                    content: s
                        .get("content")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect(),
                    shared: s.get("shared").and_then(Value::as_bool).unwrap_or(false),
                })
                .collect();
            let mut templates: Vec<TemplateGuest> = Vec::new();
            for g in arr("/proxmox/guests") {
                if let Some(vmid) = g.pointer("/source/clone/vmid").and_then(Value::as_u64)
                    && let Ok(vmid) = u32::try_from(vmid)
                    && !templates.iter().any(|t| t.vmid == vmid)
                {
                    templates.push(TemplateGuest {
                        vmid,
                        node: nodes.first().cloned().unwrap_or_default(),
                        storage: g
                            .pointer("/disks/0/storage")
                            .and_then(Value::as_str)
                            .unwrap_or("local-lvm")
                            .to_owned(),
                    });
                }
            }
            let remote_files = arr("/proxmox/templates")
                .iter()
                .filter_map(|t| t.get("url").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let spec = self.sim_spec(SimKind::PveSim, ca, &pve, &sims_dir)?;
            sims.push((
                pve.host.name.clone(),
                SimSpec {
                    schema: Some(schema),
                    nodes,
                    storages,
                    tokens: vec![(tokenid, secret)],
                    templates,
                    remote_files,
                    ..spec
                },
                port,
            ));
        }
        if let Some(nas) = self.host_with(Role::Nas)
            && doc.pointer("/nas/server/kind").and_then(Value::as_str) == Some("synology")
        {
            let user = doc
                .pointer("/nas/server/user")
                .and_then(Value::as_str)
                .unwrap_or("rackpipe")
                .to_owned();
            let password = resolve(doc.pointer("/nas/server/password")).unwrap_or_default();
            let port = doc
                .pointer("/nas/server/port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(5001);
            let shares = doc
                .pointer("/nas/exports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let spec = self.sim_spec(SimKind::DsmSim, ca, &nas, &sims_dir)?;
            sims.push((
                nas.host.name.clone(),
                SimSpec {
                    users: vec![(user, password)],
                    shares,
                    ..spec
                },
                port,
            ));
        }
        for (host_name, spec, port) in sims {
            let host = self
                .state
                .host(&host_name)
                .cloned()
                .ok_or_else(|| LabError::State(format!("{host_name}: no such lab host")))?;
            let kind = spec.kind;
            let spec_file = sims_dir.join(format!("{}.json", kind.name()));
            let text = serde_json::to_string_pretty(&spec)
                .map_err(|e| LabError::State(format!("sim spec: {e}")))?;
            tls::write_file(&spec_file, text.as_bytes(), 0o600)?;
            let listen = SocketAddr::from((host.host.address, port));
            let mut cmd = host.host.command(&lab_binary);
            cmd.args(["serve", kind.name(), "--listen"])
                .arg(listen.to_string())
                .arg("--spec")
                .arg(&spec_file);
            self.spawn_daemon(&host.host, kind.name(), cmd)?;
            self.state.components.push(Component {
                host: host.host.name.clone(),
                address: host.host.address,
                kind: kind.name().into(),
                probe: Probe::Https {
                    port,
                    path: match kind {
                        SimKind::RosSim => "/rest/system/resource".into(),
                        SimKind::PveSim => "/api2/json/version".into(),
                        SimKind::DsmSim => "/webapi/query.cgi".into(),
                    },
                },
            });
            self.state.save()?;
        }
        Ok(())
    }

    /// Issues the simulator's certificate and returns a spec with only the TLS files set.
    fn sim_spec(
        &mut self,
        kind: SimKind,
        ca: &LabCa,
        host: &LabHost,
        dir: &Path,
    ) -> Result<SimSpec, LabError> {
        let mut names = vec![host.host.address.to_string()];
        names.extend(host.fqdn.clone());
        names.push(host.host.name.clone());
        let issued = ca.issue(&names)?;
        let cert_file = dir.join(format!("{}.crt", kind.name()));
        let key_file = dir.join(format!("{}.key", kind.name()));
        tls::write_file(&cert_file, issued.cert_pem.as_bytes(), 0o644)?;
        tls::write_file(&key_file, issued.key_pem.as_bytes(), 0o600)?;
        self.state
            .creds
            .fingerprints
            .insert(kind.name().to_owned(), issued.fingerprint);
        Ok(SimSpec {
            kind,
            cert_file,
            key_file,
            users: Vec::new(),
            ethernet_ports: Vec::new(),
            schema: None,
            nodes: Vec::new(),
            storages: Vec::new(),
            tokens: Vec::new(),
            templates: Vec::new(),
            remote_files: Vec::new(),
            shares: Vec::new(),
        })
    }

    /// The real daemons of [`crate::daemons`]: OpenBao on the Vault guests, HAProxy and
    /// keepalived on the load balancers, etcd on the Kubernetes masters, nfs-ganesha on the
    /// NAS; all with certificates from the lab CA.
    fn start_daemons(&mut self, site: &LabSite) -> Result<(), LabError> {
        use crate::daemons::{self, etcd, ganesha, haproxy, openbao, pki};
        let creds = self.creds();
        let ca = pki::Ca::from_files(&creds.join("ca.pem"), &creds.join("ca-key.pem"));
        let doc = &site.document;
        let all_hosts = self.state.hosts.clone();
        let hosts_with = |role: Role| -> Vec<LabHost> {
            all_hosts
                .iter()
                .filter(|h| h.roles.contains(&role))
                .cloned()
                .collect()
        };
        let vault = hosts_with(Role::Vault);
        if !vault.is_empty() {
            tracing::info!("lab: OpenBao on {} hosts", vault.len());
            let options = openbao::Options {
                extra_ips: doc
                    .pointer("/load_balancer/vips")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.get("address")?.as_str()?.parse().ok())
                    .collect(),
                extra_dns: doc
                    .pointer("/vault/fqdn")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .into_iter()
                    .chain(vault.iter().filter_map(|h| h.fqdn.clone()))
                    .collect(),
                ..openbao::Options::default()
            };
            let hosts: Vec<Host> = vault.iter().map(|h| h.host.clone()).collect();
            let cluster = openbao::start(&hosts, &ca, &options)?;
            for (node, h) in cluster.nodes.iter().zip(&vault) {
                self.record_external(&node.daemon)?;
                self.component(
                    h,
                    "openbao",
                    Probe::Https {
                        port: openbao::API_PORT,
                        path: "/v1/sys/health".into(),
                    },
                );
            }
            self.state.extra.insert(
                "vault_ca_file".into(),
                Value::from(cluster.ca.display().to_string()),
            );
            self.state.extra.insert(
                "openbao".into(),
                serde_json::to_value(&cluster).unwrap_or_default(),
            );
            self.state.save()?;
        }
        for h in hosts_with(Role::LoadBalancer) {
            tracing::info!("lab: HAProxy and keepalived on {}", h.host.name);
            let hp = haproxy::start_haproxy(&h.host)?;
            self.record_external(&hp.daemon)?;
            self.component(
                &h,
                daemons::HAPROXY,
                Probe::Tcp {
                    port: haproxy::STATS_PORT,
                },
            );
            let ka = haproxy::start_keepalived(&h.host)?;
            self.record_external(&ka.daemon)?;
            self.component(
                &h,
                daemons::KEEPALIVED,
                Probe::Pid {
                    daemon: daemons::KEEPALIVED.into(),
                },
            );
            self.state.save()?;
        }
        let masters = hosts_with(Role::KubernetesMaster);
        if !masters.is_empty() {
            // kubeadm creates the masters' etcd (a static pod the kubelet starts), so it is
            // not running before `kubeadm init`: kubeadm's preflight wants 2379/2380 free.
            // The kubeadm stand-in runs each master's `kubelet-standin`, which starts it.
            tracing::info!(
                "lab: etcd on {} masters, started by kubeadm init/join (kubelet-standin)",
                masters.len()
            );
            let hosts: Vec<Host> = masters.iter().map(|h| h.host.clone()).collect();
            let client = etcd::prepare_for_kubeadm(&hosts, &ca)?;
            for (key, p) in [
                ("etcd_ca", &ca.cert),
                ("etcd_client_cert", &client.cert),
                ("etcd_client_key", &client.key),
            ] {
                self.state
                    .extra
                    .insert(key.into(), Value::from(p.display().to_string()));
            }
            self.state.save()?;
        }
        if let Some(nas) = self.host_with(Role::Nas)
            && doc.pointer("/nas/server/kind").and_then(Value::as_str) != Some("synology")
        {
            tracing::info!("lab: nfs-ganesha on {}", nas.host.name);
            let segments = &site.segments;
            // The root namespace runs the CI jobs (the lab's runner): its address on the
            // NAS's bridges may mount every export (`nfs-export sync` of the backup jobs).
            let runner: Vec<String> = self
                .state
                .bridges
                .iter()
                .map(|b| b.address.addr().to_string())
                .collect();
            let exports: Vec<ganesha::Export> = doc
                .pointer("/nas/exports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, e)| {
                    let name = e.get("name")?.as_str()?;
                    let clients = e
                        .get("clients")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|c| {
                            c.get("address")
                                .or_else(|| c.get("network"))
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                                .or_else(|| {
                                    let seg = c.get("segment")?.as_str()?;
                                    segments
                                        .iter()
                                        .find(|s| s.name == seg)
                                        .map(|s| s.lab.to_string())
                                })
                        })
                        .chain(runner.iter().cloned())
                        .collect();
                    let id = u16::try_from(i + 1).ok()?;
                    // Clients see the site's path (nfs-ganesha: its pseudo path), as on the
                    // real NAS; the data lives in the lab's directory.
                    let pseudo = e
                        .get("pseudo")
                        .or_else(|| e.get("path"))
                        .and_then(Value::as_str)
                        .unwrap_or("/");
                    Some(ganesha::Export::lab(&nas.host, id, name, clients).at(pseudo))
                })
                .collect();
            // Where each export's data lives, for checks of what clients wrote.
            let dirs: serde_json::Map<String, Value> = exports
                .iter()
                .filter_map(|e| {
                    let name = e.path.file_name()?.to_str()?.to_owned();
                    Some((name, Value::from(e.path.display().to_string())))
                })
                .collect();
            self.state
                .extra
                .insert("nas_exports".into(), Value::Object(dirs));
            let g = ganesha::start(
                &nas.host,
                &ganesha::Options {
                    exports,
                    includes: Vec::new(),
                },
            )?;
            self.record_external(&g.daemon)?;
            self.component(
                &nas,
                daemons::GANESHA,
                Probe::Tcp {
                    port: ganesha::NFS_PORT,
                },
            );
            self.state.save()?;
        }
        Ok(())
    }

    fn record_external(&mut self, d: &crate::daemons::Daemon) -> Result<(), LabError> {
        self.state.daemons.push(DaemonRecord {
            name: d.name.clone(),
            host: d.host.clone(),
            pid: d.pid,
            log: d.log.clone(),
            command: format!(
                "(started by crate::daemons; pid file {})",
                d.pid_file.display()
            ),
            argv: Vec::new(),
        });
        self.state.save()
    }

    fn component(&mut self, h: &LabHost, kind: &str, probe: Probe) {
        self.state.components.push(Component {
            host: h.host.name.clone(),
            address: h.host.address,
            kind: kind.to_owned(),
            probe,
        });
    }

    fn host_with(&self, role: Role) -> Option<LabHost> {
        self.state
            .hosts
            .iter()
            .find(|h| h.roles.contains(&role))
            .cloned()
    }

    fn spawn_daemon(&mut self, host: &Host, name: &str, cmd: Command) -> Result<(), LabError> {
        let (record, child) = process::spawn(host, name, cmd)?;
        self.children
            .insert((host.name.clone(), name.to_owned()), child);
        self.state.daemons.push(record);
        self.state.save()
    }

    /// Waits until every TCP/HTTPS component accepts connections (or its process died).
    fn wait_components(&mut self) -> Result<(), LabError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let components = self.state.components.clone();
        for c in &components {
            let port = match c.probe {
                Probe::Tcp { port } | Probe::Https { port, .. } => port,
                Probe::Pid { .. } => continue,
            };
            let addr = SocketAddr::from((c.address, port));
            loop {
                if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
                    break;
                }
                let record = self
                    .state
                    .daemons
                    .iter()
                    .find(|d| d.host == c.host && d.name == c.kind)
                    .cloned();
                let dead = record.as_ref().is_some_and(|d| {
                    self.children
                        .get_mut(&(d.host.clone(), d.name.clone()))
                        .map_or(!process::alive(d.pid), |ch| {
                            ch.try_wait().map(|s| s.is_some()).unwrap_or(true)
                        })
                });
                if dead || Instant::now() > deadline {
                    let log = record.map(|d| last_line(&d.log)).unwrap_or_default();
                    return Err(LabError::Daemon {
                        host: c.host.clone(),
                        daemon: c.kind.clone(),
                        message: format!(
                            "{} on {addr} ({log})",
                            if dead {
                                "exited before listening"
                            } else {
                                "not listening after 30 s"
                            }
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    fn build_ci_variables(
        &self,
        site: &LabSite,
        secrets: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut vars = secrets.clone();
        let creds = &self.state.creds;
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let ssh = format!(
            "--ssh-key {} --known-hosts {}",
            path(&creds.ssh_key),
            path(&creds.known_hosts)
        );
        for c in &self.state.components {
            let Probe::Https { port, .. } = c.probe else {
                continue;
            };
            let fp = creds.fingerprints.get(&c.kind).cloned().unwrap_or_default();
            let url = format!("https://{}:{port}", c.address);
            match c.kind.as_str() {
                "ros-sim" => {
                    vars.insert(
                        "RACKPIPE_ROS_RENDER_ARGS".into(),
                        format!("--url {url} --fingerprint {fp}"),
                    );
                }
                "pve-sim" => {
                    vars.insert(
                        "RACKPIPE_PVE_SYNC_ARGS".into(),
                        format!("--url {url} --fingerprint {fp}"),
                    );
                }
                "dsm-sim" => {
                    vars.insert("RACKPIPE_NFS_EXPORT_ARGS".into(), format!("--target {url}"));
                }
                _ => {}
            }
        }
        vars.entry("RACKPIPE_NFS_EXPORT_ARGS".into())
            .or_insert_with(|| ssh.clone());
        vars.insert("RACKPIPE_HAPROXY_GEN_ARGS".into(), ssh.clone());
        vars.insert("RACKPIPE_KUBEADM_JOIN_ARGS".into(), ssh);
        // vault-bootstrap: every node by its lab address; CA and token from the OpenBao module.
        let nodes: Vec<String> = site
            .document
            .pointer("/vault/nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|n| {
                let name = n.get("name")?.as_str()?;
                let guest = n.get("guest")?.as_str()?;
                let port = n.get("api_port").and_then(Value::as_u64).unwrap_or(8200);
                let h = self.state.host(guest)?;
                Some(format!("--node {name}=https://{}:{port}", h.host.address))
            })
            .collect();
        if !nodes.is_empty() {
            let ca = self
                .state
                .extra
                .get("vault_ca_file")
                .and_then(Value::as_str)
                .map_or_else(|| path(&creds.ca_file), str::to_owned);
            vars.insert(
                "RACKPIPE_VAULT_BOOTSTRAP_ARGS".into(),
                format!("{} --ca-file {ca}", nodes.join(" ")),
            );
        }
        // etcd-backup: the masters' client URLs; TLS files from the etcd module when it ran.
        let endpoints: Vec<String> = self
            .state
            .hosts
            .iter()
            .filter(|h| h.roles.contains(&Role::KubernetesMaster))
            .map(|h| format!("--endpoint https://{}:2379", h.host.address))
            .collect();
        if !endpoints.is_empty() {
            let mut args = endpoints.join(" ");
            for (flag, key) in [
                ("--cacert", "etcd_ca"),
                ("--cert", "etcd_client_cert"),
                ("--key", "etcd_client_key"),
            ] {
                if let Some(v) = self.state.extra.get(key).and_then(Value::as_str) {
                    args.push_str(&format!(" {flag} {v}"));
                }
            }
            vars.insert("RACKPIPE_ETCD_BACKUP_ARGS".into(), args);
        }
        vars
    }

    /// The lab state (what `lab.json` holds).
    #[must_use]
    pub fn state(&self) -> &LabState {
        &self.state
    }

    /// The lab id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The lab site file (`DIR/site.yaml`).
    #[must_use]
    pub fn site_path(&self) -> &Path {
        &self.state.site
    }

    /// The CI variables (`DIR/ci-variables.json`): tool arguments and secret values.
    #[must_use]
    pub fn ci_variables(&self) -> &BTreeMap<String, String> {
        &self.ci_variables
    }

    /// The lab's hosts.
    #[must_use]
    pub fn hosts(&self) -> Vec<&Host> {
        self.state.hosts.iter().map(|h| &h.host).collect()
    }

    /// The host named `name`.
    #[must_use]
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.state.host(name).map(|h| &h.host)
    }

    /// The lab address of an address of the original site.
    #[must_use]
    pub fn lab_address(&self, original: Ipv4Addr) -> Option<Ipv4Addr> {
        self.state
            .segments
            .iter()
            .find(|s| s.original.contains(&original))
            .map(|s| {
                Ipv4Addr::from(
                    u32::from(s.lab.network())
                        + (u32::from(original) - u32::from(s.original.network())),
                )
            })
    }

    /// Checks every component.
    #[must_use]
    pub fn health(&self) -> Vec<ComponentHealth> {
        health_of(&self.state)
    }

    /// Stops daemon `name` on `host` (a failure drill); [`Lab::start_daemon`] brings it back.
    ///
    /// # Errors
    /// No such daemon, or the state cannot be saved.
    pub fn stop_daemon(&mut self, host: &str, name: &str) -> Result<(), LabError> {
        let idx = self
            .state
            .daemons
            .iter()
            .position(|d| d.host == host && d.name == name)
            .ok_or_else(|| LabError::State(format!("{host}: no daemon {name} running")))?;
        let record = self.state.daemons.remove(idx);
        let mut child = self.children.remove(&(host.to_owned(), name.to_owned()));
        process::stop(&record, child.as_mut());
        self.stopped.push(record);
        self.state.save()
    }

    /// Starts daemon `name` on `host` again with the command it had (after
    /// [`Lab::stop_daemon`]), and waits for its port when it has one.
    ///
    /// # Errors
    /// Never stopped, cannot start, or its port does not open.
    pub fn start_daemon(&mut self, host: &str, name: &str) -> Result<(), LabError> {
        let idx = self
            .stopped
            .iter()
            .position(|d| d.host == host && d.name == name)
            .ok_or_else(|| {
                LabError::State(format!("{host}: daemon {name} was not stopped by this lab"))
            })?;
        if self.stopped[idx].argv.is_empty() && name != "sshd" {
            return Err(LabError::State(format!(
                "{host}: {name} was started by crate::daemons; start it again with that module"
            )));
        }
        let record = self.stopped.remove(idx);
        let lab_host = self
            .state
            .host(host)
            .map(|h| h.host.clone())
            .ok_or_else(|| LabError::State(format!("{host}: no such lab host")))?;
        let cmd = match name {
            "sshd" => sshd::command(&lab_host),
            _ => {
                let mut cmd = Command::new(record.argv.first().cloned().unwrap_or_default());
                cmd.args(record.argv.iter().skip(1));
                cmd
            }
        };
        self.spawn_daemon(&lab_host, name, cmd)?;
        let components: Vec<Component> = self
            .state
            .components
            .iter()
            .filter(|c| c.host == host && c.kind == name)
            .cloned()
            .collect();
        let saved = std::mem::replace(&mut self.state.components, components);
        let result = self.wait_components();
        self.state.components = saved;
        result
    }

    /// Starts another daemon on `host` with `cmd` (built with [`Host::command`]), recorded in
    /// `lab.json` and stopped by `down`.
    ///
    /// # Errors
    /// It cannot be started or the state cannot be saved.
    pub fn start_daemon_with(
        &mut self,
        host: &str,
        name: &str,
        cmd: Command,
    ) -> Result<(), LabError> {
        let lab_host = self
            .state
            .host(host)
            .map(|h| h.host.clone())
            .ok_or_else(|| LabError::State(format!("{host}: no such lab host")))?;
        self.spawn_daemon(&lab_host, name, cmd)
    }

    /// Takes the lab down: stops every daemon, removes namespaces, veths, bridges and the
    /// directories it created. Idempotent.
    ///
    /// # Errors
    /// Something that exists could not be removed (everything else still is).
    pub fn down(&mut self) -> Result<(), LabError> {
        self.downed = true;
        teardown(&mut self.state, &mut self.children)
    }

    /// Leaves the lab running after this value is dropped (the CLI's `up`); returns its state.
    #[must_use]
    pub fn detach(mut self) -> LabState {
        self.downed = true;
        self.children.clear();
        self.state.clone()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.downed {
            let _ = self.down();
        }
    }
}

/// Takes down the lab whose state is in `dir` (`rackpipe-lab down`). No `lab.json`: nothing
/// to do.
///
/// # Errors
/// An invalid `lab.json`, or something that exists could not be removed.
pub fn down_dir(dir: &Path) -> Result<Option<LabState>, LabError> {
    if !LabState::path(dir).exists() {
        return Ok(None);
    }
    let mut state = LabState::load(dir)?;
    teardown(&mut state, &mut BTreeMap::new())?;
    Ok(Some(state))
}

/// Checks the lab whose state is in `dir`.
///
/// # Errors
/// No or invalid `lab.json`.
pub fn health_dir(dir: &Path) -> Result<Vec<ComponentHealth>, LabError> {
    let state = LabState::load(dir)?;
    Ok(health_of(&state))
}

fn health_of(state: &LabState) -> Vec<ComponentHealth> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(health::check(state)),
        Err(e) => vec![ComponentHealth {
            host: "local".into(),
            address: Ipv4Addr::UNSPECIFIED,
            kind: "runtime".into(),
            up: false,
            detail: format!("cannot start an async runtime: {e}"),
        }],
    }
}

fn teardown(
    state: &mut LabState,
    children: &mut BTreeMap<(String, String), Child>,
) -> Result<(), LabError> {
    while let Some(record) = state.daemons.pop() {
        let mut child = children.remove(&(record.host.clone(), record.name.clone()));
        process::stop(&record, child.as_mut());
        state.save()?;
    }
    // Daemons started inside the lab by its own hosts (etcd, by kubeadm's kubelet-standin):
    // deleting a namespace does not stop the processes in it.
    for h in &state.hosts {
        let pid_file = crate::daemons::pid_file(&h.host, crate::daemons::ETCD);
        if pid_file.exists() {
            let _ = crate::daemons::stop(&pid_file, Duration::from_secs(5));
        }
    }
    let result = topology::destroy(state);
    if result.is_ok()
        && let Some(slot) = state.slot.take()
    {
        crate::slots::release(&state.id, slot);
    }
    state.status = if result.is_ok() { "down" } else { "partial" }.to_owned();
    state.save()?;
    result
}

fn topology_ensure(state: &mut LabState, dir: &Path) -> Result<(), LabError> {
    topology::ensure_dir(state, dir)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io(path, &e))
}

fn last_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("log {} empty", log.display()))
}

/// Values for the lab site's secret variables.
fn secret_values(site: &LabSite, client_pub: &str) -> Result<BTreeMap<String, String>, LabError> {
    let mut out = BTreeMap::new();
    for slot in &site.secrets {
        let value = match slot.kind {
            SecretKind::Password => random_hex(12)?,
            SecretKind::VrrpPassword => random_hex(4)?,
            SecretKind::ProxmoxToken => {
                let h = random_hex(16)?;
                format!(
                    "root@pam!rackpipe-lab={}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            }
            SecretKind::SshPublicKey => client_pub.to_owned(),
            SecretKind::Opaque => random_hex(16)?,
        };
        out.insert(slot.var.clone(), value);
    }
    Ok(out)
}
