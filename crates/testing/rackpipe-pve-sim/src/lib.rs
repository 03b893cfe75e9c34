//! **A SIMULATOR of the Proxmox VE 8.4 API**, for tests only. It is not Proxmox VE, it
//! runs no guests and it downloads nothing.
//!
//! `rackpipe-pve-sim` serves the subset of `/api2/json/...` that `pve-sync` uses on a
//! loopback port, with in-memory state (nodes, storages and their volumes, pools, QEMU
//! VMs and LXC containers with config, digest and pending values, tasks, HA resources).
//!
//! Its point is fidelity at the boundary:
//!
//! - **Every request is validated against the official schema** (`pve-8.4-apidoc.json` or
//!   its subset; [`bundled_schema`] is the subset this crate carries in `data/`, see
//!   `data/SOURCES.md`; it is AGPL data, so it is loaded at run time and never embedded): path template, method, parameter types, enums, anchored patterns,
//!   min/max, lengths, required keys, indexed keys (`net0`..`net31`), property strings
//!   (`net0`, `scsi0`, `rootfs`, `mp0`, ...) and the named formats listed in
//!   [`schema::KNOWN_FORMATS`]. A rejected request gets PVE's 400 body
//!   `{"data":null,"errors":{...},"message":"Parameter verification failed.\n"}` and is
//!   recorded in [`Stats::rejected`], so a test can assert the client never sent
//!   anything real Proxmox would refuse.
//! - **Answers have the real shapes**: UPIDs (`UPID:node:PID:PSTART:STARTTIME:type:id:user:`),
//!   task status and logs (`TASK OK` / `TASK ERROR: ...`), 500 for locks (`can't lock
//!   file '/var/lock/qemu-server/lock-100.conf' - got timeout`, `VM is locked (clone)`)
//!   and digest mismatches, 403 `Permission check failed (/vms/100, VM.Config.Disk)`
//!   evaluated from the schema's permission checks, 401 for bad tokens, 501 for unknown
//!   paths, `/cluster/resources` fields, booleans and integers as JSON numbers, tags
//!   lower-cased/sorted/de-duplicated, property strings re-printed in PVE's order.
//!
//! Test-only extras live under `/__sim/` (no auth): `GET /__sim/stats` (request counts
//! per route, rejected and unimplemented requests) and `POST /__sim/reset-stats`.
//! Failures are injected with [`Simulator::fail_next_task`] (tasks) and
//! [`Simulator::fail_next`] (requests answered 502/503/504/596 as a loaded cluster does); latency with
//! [`SimConfig::latency`]; task duration with [`SimConfig::task_duration`].
//!
//! Endpoints simulated: `GET /version`, `/cluster/resources`, `/cluster/nextid`, `/nodes`,
//! `/access/permissions`; `/nodes/{node}/{qemu,lxc}` list and create; per guest `GET`
//! index, `DELETE`, `GET/PUT` (and QEMU async `POST`) `config`, `pending`, QEMU `clone`,
//! `resize`, `status/current`, `status/{start,stop,shutdown}`; storage `content` and
//! `download-url`; task `status` and `log`; `/pools` (GET/POST/PUT);
//! `/cluster/ha/resources[/{sid}]`. Anything else in the schema answers 501 and is
//! listed in [`Stats::unimplemented`].
//!
//! Simplifications (documented, deliberate): no 3 s delay on bad tokens; "downloads"
//! only succeed for URLs registered with [`Simulator::add_remote_file`]; HA start/stop
//! acts at once; RRD fields (`cpu`, `mem`, ...) are fixed numbers and a new guest's
//! `name`/`status` show at once (real PVE may lag up to 10 s); hot-plug follows PVE's
//! default `network,disk,usb` (QEMU CPU/memory changes on a running VM go pending, LXC
//! changes apply at once); HA groups do not exist (any `group` is "does not exist");
//! named formats not in [`schema::KNOWN_FORMATS`] are accepted unchecked.
//! [`SimConfig::strict_clone_locks`] is a deliberately stricter mode for testing that a
//! client serialises clones.

mod api;
pub mod schema;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

pub use state::GuestKind;

/// The Proxmox VE 8.4 API schema this crate carries (`data/pve-8.4-apidoc.subset.json`: the
/// official API-viewer data for every endpoint pve-sync uses, unedited; provenance, digest and
/// licence in `data/SOURCES.md`). Read at run time from the source tree, never embedded.
#[must_use]
pub fn bundled_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/pve-8.4-apidoc.subset.json")
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The schema file could not be read.
    #[error("{path}: cannot read the PVE API schema: {source}")]
    SchemaRead {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The schema file is not an apidoc array.
    #[error("{path}: not a PVE apidoc schema: {message}")]
    SchemaParse {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// Binding the listener failed.
    #[error("127.0.0.1: cannot bind the simulator port: {0}")]
    Bind(std::io::Error),
    /// The TLS identity is unusable.
    #[error("simulator TLS identity: {0}")]
    Tls(String),
    /// A seed call referred to something that does not exist or already exists.
    #[error("simulator seed: {0}")]
    Seed(String),
}

/// A storage the simulated cluster has (on every node).
#[derive(Debug, Clone)]
pub struct StorageSpec {
    /// Storage id, e.g. `local-lvm`.
    pub id: String,
    /// Plugin type, e.g. `dir`, `lvmthin`, `nfs`.
    pub plugin: String,
    /// Allowed content types (`images`, `rootdir`, `vztmpl`, `iso`, `import`, `backup`).
    pub content: Vec<String>,
    /// Shared between nodes (one volume list for all nodes).
    pub shared: bool,
}

impl StorageSpec {
    /// A storage with the given id, plugin and content types.
    #[must_use]
    pub fn new(id: &str, plugin: &str, content: &[&str], shared: bool) -> Self {
        Self {
            id: id.to_owned(),
            plugin: plugin.to_owned(),
            content: content.iter().map(|s| (*s).to_owned()).collect(),
            shared,
        }
    }
}

/// An API token the simulator accepts.
#[derive(Clone)]
pub struct TokenSpec {
    /// Full token id `USER@REALM!TOKENID`.
    pub tokenid: String,
    /// The secret (a UUID on real PVE).
    pub secret: String,
    /// `None`: every privilege everywhere. `Some`: only these `(path, privilege)` grants;
    /// a grant on a path propagates to the paths below it.
    pub privileges: Option<Vec<(String, String)>>,
}

impl std::fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSpec")
            .field("tokenid", &self.tokenid)
            .field("secret", &"<redacted>")
            .field("privileges", &self.privileges)
            .finish()
    }
}

/// PEM certificate chain and private key for the optional TLS listener.
#[derive(Clone)]
pub struct TlsIdentity {
    /// PEM certificate(s), leaf first.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// How to start the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Path of `pve-8.4-apidoc.json` (or the subset file).
    pub schema_path: PathBuf,
    /// Node names.
    pub nodes: Vec<String>,
    /// Storages present on every node.
    pub storages: Vec<StorageSpec>,
    /// Accepted tokens.
    pub tokens: Vec<TokenSpec>,
    /// Latency added to every request before it is handled.
    pub latency: Duration,
    /// How long each task runs.
    pub task_duration: Duration,
    /// How long a request waits for a config lock held by a task before failing with
    /// `can't lock file ... got timeout` (PVE waits 10 s).
    pub lock_wait: Duration,
    /// Stricter than PVE, to test that a client serialises clones: a clone while another
    /// clone task of the same template, or on the same node, is running fails at once with
    /// the storage-lock timeout real clusters show under load (`can't lock file
    /// '/var/lock/pve-manager/pve-storage-<id>' - got timeout`). Off by default.
    pub strict_clone_locks: bool,
    /// Serve HTTPS with this identity instead of plain HTTP.
    pub tls: Option<TlsIdentity>,
}

impl SimConfig {
    /// One node `pve1`, storages `local` (dir: vztmpl, iso, import, backup) and
    /// `local-lvm` (lvmthin: images, rootdir), token `root@pam!sim` with secret
    /// `00000000-0000-0000-0000-000000000000` and all privileges, no latency, 50 ms tasks,
    /// 10 s lock wait, plain HTTP.
    #[must_use]
    pub fn new(schema_path: impl Into<PathBuf>) -> Self {
        Self {
            schema_path: schema_path.into(),
            nodes: vec!["pve1".to_owned()],
            storages: vec![
                StorageSpec::new(
                    "local",
                    "dir",
                    &["vztmpl", "iso", "import", "backup", "snippets"],
                    false,
                ),
                StorageSpec::new("local-lvm", "lvmthin", &["images", "rootdir"], false),
            ],
            tokens: vec![TokenSpec {
                tokenid: "root@pam!sim".to_owned(),
                secret: "00000000-0000-0000-0000-000000000000".to_owned(),
                privileges: None,
            }],
            latency: Duration::ZERO,
            task_duration: Duration::from_millis(50),
            lock_wait: Duration::from_secs(10),
            strict_clone_locks: false,
            tls: None,
        }
    }
}

/// Request statistics (also served at `GET /__sim/stats`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// All API requests received (including rejected ones).
    pub requests: u64,
    /// `"METHOD /path/{template}"` → count.
    pub by_route: BTreeMap<String, u64>,
    /// Requests the schema rejected (each one a client bug).
    pub rejected: Vec<RejectedRequest>,
    /// Requests the schema allows but the simulator does not implement.
    pub unimplemented: Vec<String>,
    /// Most API requests ever handled at the same time (to check client concurrency bounds).
    pub max_in_flight: u64,
}

/// One request the schema rejected.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedRequest {
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Parameter → message.
    pub errors: BTreeMap<String, String>,
}

/// A task failure to inject: the next task matching `task_type` (and `id`, if given)
/// fails with `message` after writing a few log lines.
#[derive(Debug, Clone)]
pub struct FailRule {
    /// Worker type, e.g. `qmclone`, `vzcreate`, `resize`, `download`.
    pub task_type: String,
    /// Worker id (vmid or filename), or any.
    pub id: Option<String>,
    /// The error text (`TASK ERROR: <message>`).
    pub message: String,
}

/// A guest to put into the simulated cluster before a test.
#[derive(Debug, Clone)]
pub struct GuestSpec {
    /// VMID.
    pub vmid: u32,
    /// QEMU or LXC.
    pub kind: GuestKind,
    /// Node.
    pub node: String,
    /// Raw config lines as they would be in the config file (`cores` → `2`, `net0` →
    /// `virtio=...,bridge=vmbr0`). Volumes named in disk keys are created on their storage.
    pub config: Vec<(String, String)>,
    /// Whether it is running.
    pub running: bool,
}

/// A running simulator; stopped when dropped.
pub struct Simulator {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<api::Shared>,
    handle: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Loads the schema, binds `127.0.0.1:0` and serves in the current tokio runtime.
    ///
    /// # Errors
    /// Schema, bind or TLS identity problems.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        let schema = schema::Schema::load(&config.schema_path)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SimError::Bind)?;
        let addr = listener.local_addr().map_err(SimError::Bind)?;
        let shared = Arc::new(api::Shared::new(schema, &config));
        let router = api::router(Arc::clone(&shared));
        let tls = config.tls.is_some();
        let handle = if let Some(identity) = &config.tls {
            let tls_listener =
                rackpipe_tls::TlsListener::new(listener, &identity.cert_pem, &identity.key_pem)
                    .map_err(SimError::Tls)?;
            tokio::spawn(async move {
                let _ = axum::serve(tls_listener, router).await;
            })
        } else {
            tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            })
        };
        Ok(Self {
            addr,
            tls,
            shared,
            handle,
        })
    }

    /// `http://127.0.0.1:PORT` (or `https://`), without `/api2/json`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `PVEAPIToken=...` value of the default (first) token.
    #[must_use]
    pub fn auth_header(&self) -> String {
        self.shared
            .tokens
            .first()
            .map(|t| format!("PVEAPIToken={}={}", t.tokenid, t.secret))
            .unwrap_or_default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, state::State> {
        lock(&self.shared.state)
    }

    /// Adds a guest (and the volumes its disk keys name).
    ///
    /// # Errors
    /// Unknown node or a VMID already in use.
    pub fn add_guest(&self, spec: GuestSpec) -> Result<(), SimError> {
        self.state().add_guest(spec).map_err(SimError::Seed)
    }

    /// Adds a volume (e.g. a CT template `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`).
    ///
    /// # Errors
    /// Unknown node or storage.
    pub fn add_volume(
        &self,
        node: &str,
        volid: &str,
        content: &str,
        size: u64,
    ) -> Result<(), SimError> {
        self.state()
            .add_volume(node, volid, content, size, None)
            .map_err(SimError::Seed)
    }

    /// Adds a resource pool.
    pub fn add_pool(&self, poolid: &str, comment: &str) {
        self.state().add_pool(poolid, comment);
    }

    /// Registers a URL that `download-url` can "fetch": its size and checksums by
    /// algorithm (`sha256` → hex). Unregistered URLs fail the task with a 404.
    pub fn add_remote_file(&self, url: &str, size: u64, checksums: &[(&str, &str)]) {
        self.state().add_remote_file(url, size, checksums);
    }

    /// Makes the next matching task fail.
    pub fn fail_next_task(&self, rule: FailRule) {
        self.state().failures.push(rule);
    }

    /// Makes the next `times` requests `method /api2/json<path_prefix>...` fail with `status`
    /// (PVE's error body; `596` says `Connection timed out` as pveproxy does) without touching
    /// the cluster: a test hook for the transient failures of a loaded cluster. They count in
    /// [`Stats::requests`] and under `"METHOD /path (injected)"` in [`Stats::by_route`].
    pub fn fail_next(&self, method: &str, path_prefix: &str, times: u32, status: u16) {
        let method =
            axum::http::Method::from_bytes(method.as_bytes()).unwrap_or(axum::http::Method::GET);
        lock(&self.shared.failures).push((method, path_prefix.to_owned(), times, status));
    }

    /// The raw config (file view, without pending values) of a guest.
    #[must_use]
    pub fn guest_config(&self, vmid: u32) -> Option<BTreeMap<String, String>> {
        self.state().guests.get(&vmid).map(|g| g.config.clone())
    }

    /// Whether a guest is running.
    #[must_use]
    pub fn guest_running(&self, vmid: u32) -> Option<bool> {
        self.state().guests.get(&vmid).map(|g| g.running)
    }

    /// A copy of the request statistics.
    #[must_use]
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Clears the request statistics.
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats::default();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Locks a mutex, recovering from poisoning (a panicking test must not cascade).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
