//! The simulated router: tables of entries, validation, export/import, backup, scheduler
//! and the reachability rule.

mod backup;
mod clock;
mod export;
mod keys;
mod reach;
mod scheduler;
mod system;
mod table;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rackpipe_routeros::config::Props;
use serde::{Deserialize, Serialize};

use crate::schema::{self, MenuKind, MenuSpec};
use crate::{Management, SimConfig};
use keys::{SIM_CERTIFICATE, pem_fingerprint, sha256_hex};

/// A RouterOS-shaped API error: status plus `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub detail: Option<String>,
}

impl ApiError {
    pub fn bad(detail: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            detail: Some(detail.into()),
        }
    }
    pub fn not_found() -> Self {
        ApiError {
            status: 404,
            detail: None,
        }
    }
}

/// One row of a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub id: u32,
    /// Written and read-only values (defaults are filled in when viewed).
    pub props: Props,
    #[serde(default)]
    pub dynamic: bool,
    #[serde(default)]
    pub builtin: bool,
}

/// Everything a backup holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub tables: BTreeMap<String, Vec<Entry>>,
    pub next_id: u32,
}

pub(crate) struct Router {
    pub specs: Arc<Vec<MenuSpec>>,
    pub state: Snapshot,
    factory: Snapshot,
    factory_no_defaults: Snapshot,
    /// Scheduler entry id → next run.
    next_runs: BTreeMap<u32, Instant>,
    pub forced_unreachable: bool,
    /// Test hook: the management connection goes away (as `forced_unreachable`) right after
    /// the request that leaves a `/system/scheduler` entry with this name (a lock-out drill
    /// cuts the router the moment apply has armed its revert, whatever the timing).
    pub cut_when_scheduled: Option<String>,
    pub management: Option<Management>,
    pub tls: bool,
    pub version: String,
    /// Human-readable log of scheduler runs and script failures (for tests).
    pub log: Vec<String>,
    /// Reachability, computed once per state change (cleared by every mutation).
    reach_cache: std::cell::RefCell<Option<Result<(), String>>>,
    /// How long a reboot keeps the router away.
    reboot_time: Duration,
    /// The device has a `flash` directory: only files under `flash/` survive a reboot.
    flash: bool,
    /// Set while rebooting: the router answers nothing until then.
    down_until: Option<Instant>,
    /// SHA-256 of the certificate the HTTPS listener serves (with TLS).
    tls_fingerprint: Option<String>,
    /// Menus the simulator does not model are accepted over REST as generic menus (see
    /// [`schema::generic`]).
    pub accept_generic: bool,
    /// Loading an export: properties and values a modelled menu does not know are stored as
    /// written instead of refused (the export came from a real router).
    pub lenient: bool,
}

fn mac_for(n: u32) -> String {
    let b = n.to_be_bytes();
    format!("02:52:53:{:02X}:{:02X}:{:02X}", b[1], b[2], b[3])
}

impl Router {
    pub fn new(config: &SimConfig) -> Router {
        let specs = Arc::new(schema::menus());
        let mut router = Router {
            specs,
            state: Snapshot::default(),
            factory: Snapshot::default(),
            factory_no_defaults: Snapshot::default(),
            next_runs: BTreeMap::new(),
            forced_unreachable: false,
            cut_when_scheduled: None,
            management: config.management.clone(),
            tls: config.tls.is_some(),
            version: config.routeros_version.clone(),
            log: Vec::new(),
            reach_cache: std::cell::RefCell::new(None),
            reboot_time: config.reboot_time,
            flash: config.flash,
            down_until: None,
            tls_fingerprint: config.tls.as_ref().map(|t| pem_fingerprint(&t.cert_pem)),
            accept_generic: false,
            lenient: false,
        };
        router.build_factory(config);
        router.state = router.factory.clone();
        router.install(config);
        router
    }

    /// What an operator set up on top of the factory state before the tests start: the
    /// configured users (group `full`) and, with HTTPS, the certificate `www-ssl` serves
    /// (with its private key).
    fn install(&mut self, config: &SimConfig) {
        let mut users = Vec::new();
        for (name, password) in &config.users {
            let id = self.state.next_id;
            self.state.next_id += 1;
            users.push(Entry {
                id,
                props: Props::from_pairs([
                    ("name", name.as_str()),
                    ("group", "full"),
                    ("password", password.expose()),
                ]),
                dynamic: false,
                builtin: false,
            });
        }
        self.state.tables.insert("/user".to_owned(), users);
        if let Some(tls) = &config.tls {
            let id = self.state.next_id;
            self.state.next_id += 1;
            let key = sha256_hex(tls.key_pem.expose().as_bytes());
            self.state
                .tables
                .entry("/certificate".to_owned())
                .or_default()
                .push(Entry {
                    id,
                    props: Props::from_pairs([
                        ("name", SIM_CERTIFICATE),
                        ("common-name", "rackpipe-ros-sim"),
                        ("fingerprint", pem_fingerprint(&tls.cert_pem).as_str()),
                        ("private-key", "true"),
                        ("key", key.as_str()),
                    ]),
                    dynamic: false,
                    builtin: false,
                });
        }
    }

    fn build_factory(&mut self, config: &SimConfig) {
        let mut snap = Snapshot {
            tables: BTreeMap::new(),
            next_id: 1,
        };
        for spec in self.specs.iter() {
            snap.tables.insert(spec.path.to_owned(), Vec::new());
        }
        let push = |snap: &mut Snapshot, path: &str, props: Props, builtin: bool| {
            let id = snap.next_id;
            snap.next_id += 1;
            if let Some(table) = snap.tables.get_mut(path) {
                table.push(Entry {
                    id,
                    props,
                    dynamic: false,
                    builtin,
                });
            }
        };
        for (i, port) in config.ethernet_ports.iter().enumerate() {
            let mac = mac_for(u32::try_from(i).unwrap_or(0) + 1);
            let props = Props::from_pairs([
                ("name", port.as_str()),
                ("default-name", port.as_str()),
                ("mac-address", mac.as_str()),
                ("orig-mac-address", mac.as_str()),
            ]);
            push(&mut snap, "/interface/ethernet", props, true);
        }
        for (name, port) in [
            ("telnet", "23"),
            ("ftp", "21"),
            ("www", "80"),
            ("ssh", "22"),
            ("www-ssl", "443"),
            ("api", "8728"),
            ("winbox", "8291"),
            ("api-ssl", "8729"),
        ] {
            let mut props = Props::from_pairs([("name", name), ("port", port)]);
            if name == "www-ssl" || name == "api-ssl" {
                props.insert("certificate", if self.tls { "sim-https" } else { "none" });
                props.insert(
                    "disabled",
                    if self.tls && name == "www-ssl" {
                        "false"
                    } else {
                        "true"
                    },
                );
            }
            if name == "www" {
                props.insert("disabled", if self.tls { "true" } else { "false" });
            }
            push(&mut snap, "/ip/service", props, true);
        }
        for (name, target) in [
            ("memory", "memory"),
            ("disk", "disk"),
            ("echo", "echo"),
            ("remote", "remote"),
        ] {
            let props =
                Props::from_pairs([("name", name), ("target", target), ("default", "true")]);
            push(&mut snap, "/system/logging/action", props, true);
        }
        // RouterOS's factory logging rules (`/system logging print`: 0-3, `default=yes`).
        for (topics, action) in [
            ("info", "memory"),
            ("error", "memory"),
            ("warning", "memory"),
            ("critical", "echo"),
        ] {
            let props = Props::from_pairs([("topics", topics), ("action", action)]);
            push(&mut snap, "/system/logging", props, true);
        }
        for spec in self.specs.iter().filter(|s| s.kind == MenuKind::Singleton) {
            push(&mut snap, spec.path, Props::new(), true);
        }
        // The factory user: `admin`, group full, empty password (RouterOS before 6.49.8/7.x
        // stickers; the simulator does not model per-device default passwords).
        push(
            &mut snap,
            "/user",
            Props::from_pairs([("name", "admin"), ("group", "full"), ("password", "")]),
            false,
        );
        if config.flash {
            push(
                &mut snap,
                "/file",
                Props::from_pairs([("name", "flash"), ("type", "directory")]),
                true,
            );
        }
        self.factory_no_defaults = snap.clone();
        if let Some(mgmt) = &config.management {
            let iface = mgmt.port.clone();
            let props = Props::from_pairs([
                ("address", mgmt.address.as_str()),
                ("interface", iface.as_str()),
            ]);
            let mut props = props;
            if let Some((ip, len)) = schema::parse_cidr(&mgmt.address) {
                props.insert("network", schema::network_of(ip, len).to_string());
            }
            props.insert("actual-interface", iface.as_str());
            props.insert("comment", "defconf");
            push(&mut snap, "/ip/address", props, false);
        }
        self.factory = snap;
    }

    pub fn spec(&self, path: &str) -> Option<&MenuSpec> {
        self.specs.iter().find(|s| s.path == path)
    }

    /// Registers `path` as a generic menu of `kind` (a singleton gets its one row); a
    /// generic list that is still empty becomes a singleton when `kind` says so.
    pub fn register_generic(&mut self, path: &str, kind: MenuKind) {
        match self.spec(path) {
            Some(spec) if !spec.generic || spec.kind == kind => return,
            Some(_) if !self.table(path).is_empty() => return,
            _ => {}
        }
        let specs = Arc::make_mut(&mut self.specs);
        specs.retain(|s| s.path != path);
        specs.push(schema::generic(path, kind));
        if kind == MenuKind::Singleton && self.table(path).is_empty() {
            let id = self.state.next_id;
            self.state.next_id += 1;
            self.table_mut(path).push(Entry {
                id,
                props: Props::new(),
                dynamic: false,
                builtin: true,
            });
        }
    }

    /// The [`Router::cut_when_scheduled`] hook, run after each REST request: cuts the
    /// connection once the named scheduler entry exists (that request is still answered).
    pub fn cut_if_scheduled(&mut self) {
        let Some(name) = self.cut_when_scheduled.as_deref() else {
            return;
        };
        let scheduled = self
            .table("/system/scheduler")
            .iter()
            .any(|e| e.props.get("name") == Some(name));
        if scheduled {
            self.cut_when_scheduled = None;
            self.forced_unreachable = true;
            self.reach_cache.replace(None);
        }
    }

    fn table(&self, path: &str) -> &[Entry] {
        self.state.tables.get(path).map_or(&[], Vec::as_slice)
    }

    fn table_mut(&mut self, path: &str) -> &mut Vec<Entry> {
        self.reach_cache.replace(None);
        self.state.tables.entry(path.to_owned()).or_default()
    }

    /// Names of all interfaces (ethernet, bonding, bridge, vlan).
    fn interface_names(&self) -> Vec<String> {
        self.specs
            .iter()
            .filter(|s| s.interface)
            .flat_map(|s| {
                self.table(s.path)
                    .iter()
                    .filter_map(|e| e.props.get("name").map(str::to_owned))
            })
            .collect()
    }

    fn interface_kind(&self, name: &str) -> Option<(&'static str, &Entry)> {
        self.specs.iter().filter(|s| s.interface).find_map(|s| {
            self.table(s.path)
                .iter()
                .find(|e| e.props.get("name") == Some(name))
                .map(|e| (s.path, e))
        })
    }
}
