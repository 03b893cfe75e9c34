//! **A SIMULATOR of the MikroTik RouterOS v7 REST API**, for tests only. It is not
//! RouterOS: it forwards no packets, and models only the menus `ros-render` manages.
//!
//! `rackpipe-ros-sim` serves `/rest/...` on a loopback port with in-memory state, following
//! the documented semantics collected in `shared/reference/routeros.md` §3:
//!
//! - **Auth**: HTTP Basic against the router's own `/user` table (seeded from
//!   [`SimConfig::users`], group `full`); wrong or missing credentials, or a user the router
//!   no longer has → `401 {"error":401,"message":"Unauthorized"}`.
//! - **What survives what** (`docs/reference/routeros-revert.md`): `/user` (passwords
//!   write-only, never shown), `/user/ssh-keys`, `/certificate` (private keys never shown;
//!   with HTTPS the certificate the listener serves is installed as `sim-https`, and the API
//!   answers only while `/certificate` still holds it with its private key) and the
//!   sensitive values (`/interface/wireguard private-key`, generated when not given;
//!   `/ip/ipsec/identity secret`). `/export` never prints users, SSH keys, certificates or
//!   files, and prints sensitive values only with `show-sensitive`. `/system
//!   reset-configuration` goes back to the factory state (one user `admin` with an empty
//!   password) unless `keep-users=yes` keeps `/user` and `/user/ssh-keys`; certificates and
//!   keys are gone; files stay; then it reboots. `/system backup save name=x [password=p]`
//!   writes everything to `x.backup` (encrypted with `p`: a SHA-256 keystream standing in for
//!   AES, so the file holds no plaintext secret); `load` restores it all, or fails with a
//!   wrong password changing nothing, and reboots. A **reboot** ([`SimConfig::reboot_time`])
//!   answers nothing for a while, keeps the configuration, drops dynamic entries and
//!   scheduler run counts and, with [`SimConfig::flash`], every file outside `flash/`.
//! - **Verbs**: `GET /rest/<menu>` (array; a bare object for singleton menus such as
//!   `/ip/dns`, `/system/identity`), `GET /rest/<menu>/<id|name>`, `PUT /rest/<menu>`
//!   (add; returns the created object with its `.id`, e.g. `*1A`; `place-before` inserts),
//!   `PATCH /rest/<menu>/<id>` (set; returns the object; also on singletons), `DELETE
//!   /rest/<menu>/<id>` (204; a second delete → `404 {"error":404,"message":"Not Found"}`),
//!   `POST /rest/<menu>/{set,remove,move,print,add,enable,disable}` with `.id`/`numbers`
//!   (comma lists), `destination`, `.proplist`, `.query` (API query stack with `#|`, `#&`,
//!   `#!`). `HEAD` → 501.
//! - **Queries**: `GET /rest/<menu>?k=v&k2=v2` filters by equality (AND);
//!   `?.proplist=a,b` limits fields (`.id` only when asked for, as in the docs example).
//! - **Values are strings** in replies (`"1500"`, `"true"`/`"false"`). Requests may send
//!   strings or JSON numbers (`0x..` hex strings for integers); booleans are written as
//!   `yes`/`no` (or `true`/`false`) and read back as `"true"`/`"false"`; `"!prop": ""`
//!   unsets. Other JSON types are refused.
//! - **Errors**: `{"error":400,"message":"Bad Request","detail":"..."}` with RouterOS
//!   texts: `unknown parameter x`, `missing value(s) of argument(s) x`, `value of pvid out
//!   of range (1..4094)`, `input does not match any value of interface`, `invalid value for
//!   argument address`, `failure: already have interface with such name`, `failure: device
//!   already added as bridge port`, `no such command or directory (x)`, `no such command
//!   prefix` (GET by a non-name key), `406 no such command or directory (remove)` (removing
//!   an ethernet port).
//! - **Defaults and built-ins**: ethernet ports exist from the start (`default-name`,
//!   cannot be added or removed), as do `/ip/service` rows, the four default
//!   `/system/logging/action` rows, the four default `/system/logging` rules (`info`,
//!   `error`, `warning` to `memory`, `critical` to `echo`; `default=yes`, changeable but not
//!   removable, exported by print index: `set 0 topics=info,!debug`) and the singletons
//!   (`/system/ntp/server` among them). Replies include defaults
//!   (`"disabled":"false"`) except that `comment` is omitted when empty and firewall rules
//!   only show what was written (plus `action`, counters, `dynamic`, `invalid`).
//! - **Dynamic entries** (`"dynamic":"true"`; address-list entries with `timeout`, and
//!   whatever a test injects with `POST /__sim/dynamic`) are read-only and not exported.
//! - **`.id`** values are `*<hex>` from one counter for the whole device, never reused.
//!   Renaming an interface renames every reference to it (RouterOS stores ids).
//! - **Generic menus** (a site's `router.menus`): with [`Simulator::accept_generic_menus`],
//!   or in a simulator [`Simulator::start_from_export`] loaded from an `/export` file, a menu
//!   the simulator does not model is accepted with any property and value, stored as written;
//!   `docs/reference/routeros-sim.md` lists every way this is more permissive than a router.
//! - **Export**: `POST /rest/export` (`{"file":"x"}` writes `x.rsc` to `/file`, else the
//!   text comes back as `{"ret": "..."}`; `{"terse":""}` prints the menu path on every
//!   line, as `/export terse` does): compact export (non-default values only, in
//!   dependency order, properties sorted) printed with `rackpipe_routeros`.
//! - **Import, backup, reset, scripts**: `POST /rest/import {"file-name":"x.rsc"}`,
//!   `POST /rest/system/backup/save {"name":"x"}` (an opaque `x.backup` file) and
//!   `/load`, `POST /rest/system/reset-configuration {"no-defaults":"yes",
//!   "run-after-reset":"x.rsc"}`, `POST /rest/execute {"script":"..."}` (with
//!   `"as-string":""` a failing script still answers 200 `{"ret":"<error>"}`).
//! - **Scheduler**: `/system/scheduler` entries fire on their own: the first run is at
//!   `start-date`/`start-time` (UTC) when that is in the future, otherwise one `interval`
//!   after creation; then every `interval`. `start-time=startup` never fires. `on-event`
//!   runs as a script (see [`Simulator::run_script`]): `/import file-name=x.rsc`, `/system
//!   reset-configuration no-defaults=yes run-after-reset=x.rsc`, `/system backup load
//!   name=x`, and `add`/`set`/`remove`/`enable`/`disable` lines on modelled menus (v6 or v7
//!   spelling, `[ find ... ]` selectors). So a "revert unless confirmed" is: save an export
//!   (or backup), add a scheduler entry that restores it after N seconds, apply, and
//!   remove the entry once the router still answers.
//! - **Lock-out**: with [`SimConfig::management`] set, the API answers only while the
//!   management client can reach it: an enabled `/ip/address` in the client's subnet on
//!   an interface that carries the client's frames from the management port (direct, via
//!   a bond, through a bridge honouring `vlan-filtering`, `pvid`, `frame-types`,
//!   `ingress-filtering` and the bridge VLAN table, or a VLAN interface when the client is
//!   tagged), the `www`/`www-ssl` service enabled with an `address` list that admits the
//!   client, and no `input` filter rule dropping a new TCP connection to the service port
//!   ahead of an accept (matchers evaluated: `src-address`, `protocol`, `dst-port`,
//!   `connection-state`, `in-interface`, `src-address-list`; others never match). While
//!   unreachable, requests hang (as dropped packets would) until the router is reachable
//!   again or [`SimConfig::unreachable_timeout`] passes (then the connection gets 504).
//!   Tests can also force it with `POST /__sim/reachable {"reachable":false}`.
//! - **Performance**: requests are handled one at a time (RouterOS's www server is
//!   serial), each after an optional [`SimConfig::latency`].
//!
//! [`Simulator::fail_next`] makes chosen requests fail (without changing the router).
//!
//! Test-only control endpoints live under `/__sim/` (no auth, always answering):
//! `GET /__sim/stats`, `POST /__sim/reset-stats`, `GET|POST /__sim/reachable`,
//! `POST /__sim/dynamic {"menu":"/ip/dhcp-server/lease","props":{...}}`,
//! `POST /__sim/populate {"filter_rules":2000,"leases":500}`, `GET /__sim/export`
//! (export text), `GET /__sim/log` (scheduler runs and script errors).
//!
//! Simplifications (deliberate): no `/user group` (every user may do everything);
//! `/user/ssh-keys` and `/certificate` accept `add` (RouterOS imports keys and signs or
//! imports certificates; an added certificate has no private key); the `www-ssl` binding
//! survives a reset (the missing certificate, not the binding, stops HTTPS); a service's
//! `certificate` may name a certificate the router does not have (RouterOS refuses it with
//! `input does not match any value of certificate`; the example sites name theirs), and the
//! listener serves its one identity whatever name `www-ssl` gives: what decides HTTPS is
//! whether `/certificate` still holds that certificate with its key; no
//! `/interface/list`; bridge/VLAN reachability ignores STP and hardware offload;
//! removing an interface leaves references by name (RouterOS would show `*2C`); backups are
//! JSON inside the simulator's own envelope; `/system/clock` is UTC; IPv4 only.

mod api;
pub mod schema;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rackpipe_routeros::Config;
use serde::Serialize;

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the loopback listener failed.
    #[error("127.0.0.1: cannot bind the simulator's listener: {0}")]
    Bind(std::io::Error),
    /// The TLS identity is unusable.
    #[error("tls identity: {0}")]
    Tls(String),
    /// A test hook was given bad input.
    #[error("{0}")]
    Hook(String),
}

/// A password or private key: rackpipe's one secret type (never shown by `Debug` or
/// `Display`, zeroed on drop).
pub use rackpipe_secret_value::Secret;

/// Certificate chain and key (PEM) for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// PEM certificate chain, leaf first.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: Secret,
}

/// Where the management client sits, for the lock-out rule.
#[derive(Debug, Clone)]
pub struct Management {
    /// `default-name` of the ethernet port the client is plugged into (`ether1`).
    pub port: String,
    /// The router's factory address on that port (`192.168.88.1/24`), part of the
    /// default configuration (`reset-configuration no-defaults=yes` removes it).
    pub address: String,
    /// The client's IPv4 address (`192.168.88.10`). Only used for rule evaluation; the
    /// simulator itself listens on 127.0.0.1.
    pub client: String,
    /// VLAN id the client's frames are tagged with (`None`: untagged).
    pub vlan: Option<u16>,
}

impl Default for Management {
    fn default() -> Self {
        Management {
            port: "ether1".to_owned(),
            address: "192.168.88.1/24".to_owned(),
            client: "192.168.88.10".to_owned(),
            vlan: None,
        }
    }
}

/// How to start the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Accepted `(user, password)` pairs.
    pub users: Vec<(String, Secret)>,
    /// `default-name`s of the ethernet ports present from the start.
    pub ethernet_ports: Vec<String>,
    /// The management client (lock-out rule); `None` = always reachable.
    pub management: Option<Management>,
    /// Latency added to every `/rest` request (requests are served one at a time).
    pub latency: Duration,
    /// Serve requests one at a time, as RouterOS's www server does.
    pub serial: bool,
    /// How long a request waits while the router is unreachable before 504.
    pub unreachable_timeout: Duration,
    /// Serve HTTPS with this identity instead of plain HTTP.
    pub tls: Option<TlsIdentity>,
    /// Version in the export header.
    pub routeros_version: String,
    /// Scheduler resolution.
    pub tick: Duration,
    /// How long a reboot (after `/system backup load`, `/system reset-configuration` or
    /// `/system reboot`) keeps the router from answering.
    pub reboot_time: Duration,
    /// The device has a `flash` directory in `/file`: only files under `flash/` survive a
    /// reboot (RouterBOARDs with NAND; a CHR has none).
    pub flash: bool,
}

impl Default for SimConfig {
    /// User `admin` / `sim-password`, ports `ether1`..`ether8` and `sfp-sfpplus1`,
    /// management client on `ether1` (`192.168.88.1/24`), no latency, serial, 60 s
    /// unreachable timeout, plain HTTP, RouterOS `7.16.2`, 20 ms scheduler tick, reboots
    /// taking 500 ms, no `flash` directory.
    fn default() -> Self {
        let mut ports: Vec<String> = (1..=8).map(|i| format!("ether{i}")).collect();
        ports.push("sfp-sfpplus1".to_owned());
        SimConfig {
            users: vec![("admin".to_owned(), Secret::new("sim-password"))],
            ethernet_ports: ports,
            management: Some(Management::default()),
            latency: Duration::ZERO,
            serial: true,
            unreachable_timeout: Duration::from_secs(60),
            tls: None,
            routeros_version: "7.16.2".to_owned(),
            tick: Duration::from_millis(20),
            reboot_time: Duration::from_millis(500),
            flash: false,
        }
    }
}

/// Request statistics (also served at `GET /__sim/stats`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// All `/rest` requests received.
    pub requests: u64,
    /// `"METHOD /menu"`, `"METHOD /menu/{id}"` or `"POST /menu/<command>"` → count.
    pub by_route: BTreeMap<String, u64>,
    /// Requests answered 4xx/5xx.
    pub errors: u64,
    /// Requests that arrived while the router was unreachable.
    pub while_unreachable: u64,
}

/// A running simulator; stopped when dropped.
pub struct Simulator {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<api::Shared>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds `127.0.0.1:0` and serves in the current tokio runtime.
    ///
    /// # Errors
    /// Bind or TLS identity problems.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SimError::Bind)?;
        let addr = listener.local_addr().map_err(SimError::Bind)?;
        let shared = Arc::new(api::Shared::new(&config));
        let router = api::router(Arc::clone(&shared));
        let tls = config.tls.is_some();
        let server = if let Some(identity) = &config.tls {
            let tls_listener = rackpipe_tls::TlsListener::new(
                listener,
                &identity.cert_pem,
                identity.key_pem.expose(),
            )
            .map_err(SimError::Tls)?;
            tokio::spawn(async move {
                let _ = axum::serve(tls_listener, router).await;
            })
        } else {
            tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            })
        };
        let ticker_shared = Arc::clone(&shared);
        let tick = config.tick;
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                ticker_shared.tick();
            }
        });
        Ok(Self {
            addr,
            tls,
            shared,
            handles: vec![server, ticker],
        })
    }

    /// `http://127.0.0.1:PORT` (or `https://`), without `/rest`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// `<base_url>/rest`.
    #[must_use]
    pub fn rest_url(&self) -> String {
        format!("{}/rest", self.base_url())
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first configured user and password (as configured at start; the router's own
    /// `/user` table decides who can log in).
    #[must_use]
    pub fn credentials(&self) -> (String, Secret) {
        self.shared
            .users
            .first()
            .cloned()
            .unwrap_or_else(|| (String::new(), Secret::new("")))
    }

    /// The rows of a modelled menu as `GET /rest/<menu>` shows them (passwords and private
    /// keys left out).
    #[must_use]
    pub fn rows(&self, menu: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.shared.with_router(|r| r.list(menu))
    }

    /// Makes the next `times` requests `method /rest<path_prefix>...` fail with `status`
    /// (and a RouterOS-shaped body) without touching the router: a test hook for errors a
    /// real router gives (a `500`, a `400` on a busy menu).
    pub fn fail_next(&self, method: &str, path_prefix: &str, times: u32, status: u16) {
        let method =
            axum::http::Method::from_bytes(method.as_bytes()).unwrap_or(axum::http::Method::GET);
        lock(&self.shared.failures).push((method, path_prefix.to_owned(), times, status));
    }

    /// Reboots the router now (see [`SimConfig::reboot_time`]).
    pub fn reboot(&self) {
        self.shared.with_router(state::Router::reboot);
    }

    /// A copy of the request statistics.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Zeroes the statistics.
    pub fn reset_stats(&self) {
        if let Ok(mut stats) = self.shared.stats.lock() {
            *stats = Stats::default();
        }
    }

    /// Forces the router unreachable (`false`) or back to the rule-based state (`true`).
    pub fn set_reachable(&self, reachable: bool) {
        self.shared
            .with_router(|r| r.forced_unreachable = !reachable);
    }

    /// Whether the API answers now, or why not.
    ///
    /// # Errors
    /// The reason the management client is locked out.
    pub fn reachable(&self) -> Result<(), String> {
        self.shared.with_router(|r| r.reachable())
    }

    /// The current configuration as `/export` would print it (compact).
    #[must_use]
    pub fn export_config(&self) -> Config {
        self.shared.with_router(|r| r.export())
    }

    /// The current `/export` text.
    #[must_use]
    pub fn export_text(&self) -> String {
        self.shared.with_router(|r| r.export_text())
    }

    /// The current `/export` text, with sensitive values when `show_sensitive` (as `/export
    /// show-sensitive`).
    #[must_use]
    pub fn export_text_with(&self, show_sensitive: bool) -> String {
        self.shared
            .with_router(|r| r.export_text_as(false, show_sensitive))
    }

    /// Runs console lines as the router would run a script (see the crate docs).
    ///
    /// # Errors
    /// The first failing line, as text.
    pub fn run_script(&self, script: &str) -> Result<(), String> {
        self.shared.with_router(|r| r.run_script(script))
    }

    /// Applies a parsed export (as `/import` would: on top of the current state, stopping at
    /// the first failing command). Useful to seed the router from a real export.
    ///
    /// # Errors
    /// `line N: <RouterOS error>` for the first failing command, or an unmodelled menu.
    pub fn import(&self, config: &Config) -> Result<(), String> {
        self.shared.with_router(|r| r.run_config(config))
    }

    /// Accepts the menus the simulator does not model over REST, as generic menus (see
    /// [`schema::generic`] and `docs/reference/routeros-sim.md`): what `ros-render` plans for
    /// a site's `router.menus`.
    pub fn accept_generic_menus(&self) {
        self.shared.with_router(|r| r.accept_generic = true);
    }

    /// Starts a simulator whose state is loaded from an `/export` file (parsed with
    /// [`rackpipe_routeros::export::parse`]) on top of the factory state of `config`: the
    /// menus it models take the export's commands (keeping, as written, properties and
    /// values they do not know, such as references to wireless interfaces the simulator
    /// lacks), every other menu becomes a generic menu, and generic menus are accepted over
    /// REST from then on.
    ///
    /// # Errors
    /// The text does not parse (`export:LINE:COL: ...`), or a command fails as it would on a
    /// router (`line N: <RouterOS error>`); the listener cannot start.
    pub async fn start_from_export(config: SimConfig, export: &str) -> Result<Self, SimError> {
        let parsed =
            rackpipe_routeros::export::parse(export).map_err(|e| SimError::Hook(e.to_string()))?;
        let sim = Self::start(config).await?;
        sim.shared
            .with_router(|r| {
                r.lenient = true;
                r.accept_generic = true;
                let loaded = r.run_config(&parsed);
                r.lenient = false;
                loaded
            })
            .map_err(SimError::Hook)?;
        Ok(sim)
    }

    /// Adds a dynamic (read-only, not exported) entry to a list menu, e.g. a DHCP lease.
    ///
    /// # Errors
    /// The menu is not a modelled list menu.
    pub fn add_dynamic(
        &self,
        menu: &str,
        props: rackpipe_routeros::Props,
    ) -> Result<String, SimError> {
        self.shared
            .with_router(|r| r.add_dynamic(menu, props))
            .map(|id| format!("*{id:X}"))
            .map_err(|e| SimError::Hook(format!("{menu}: {}", e.detail.unwrap_or_default())))
    }

    /// Fills the router with `filter_rules` input-chain firewall rules (accepting, so the
    /// router stays reachable) and `leases` static DHCP leases, for benchmarks.
    ///
    /// # Errors
    /// When the synthetic entries are rejected (a simulator bug).
    pub fn populate_synthetic(&self, filter_rules: usize, leases: usize) -> Result<(), SimError> {
        self.shared
            .with_router(|r| api::populate(r, filter_rules, leases))
            .map_err(SimError::Hook)
    }

    /// Scheduler runs and script errors so far.
    #[must_use]
    pub fn log(&self) -> Vec<String> {
        self.shared.with_router(|r| r.log.clone())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// Poison-tolerant lock.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
