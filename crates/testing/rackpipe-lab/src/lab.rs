//! [`Lab`]: bring the whole lab up, check it, take it down.
//!
//! What `up` starts besides the network and sshd lives beside this module: the simulators
//! (`simulators`), the real daemons (`real_daemons`), and what the CI jobs are given
//! (`ci_variables`: tool arguments and secret values).

mod ci_variables;
mod real_daemons;
mod simulators;

use ci_variables::secret_values;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::error::LabError;
use crate::health::{self, ComponentHealth};
use crate::host::Host;
use crate::labsite::{self, LabSiteOptions};
use crate::process;
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
