//! The simulated router: tables of entries, validation, export/import, backup, scheduler
//! and the reachability rule.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rackpipe_routeros::config::{Command, Config, Header, Props, Selector, Verb, is_internal_id};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::schema::{self, MenuKind, MenuSpec, Ty};
use crate::{Management, SimConfig};

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
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// (year, month, day, hh, mm, ss) in UTC.
fn civil(unix: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    let h = u32::try_from(secs / 3600).unwrap_or(0);
    let mi = u32::try_from(secs % 3600 / 60).unwrap_or(0);
    let s = u32::try_from(secs % 60).unwrap_or(0);
    (y, m, d, h, mi, s)
}

/// Years 1970–9999, months 1–12, days 1–31.
fn plausible(y: i64, m: u32, d: u32) -> Option<()> {
    ((1970..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)).then_some(())
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn today() -> String {
    let (y, m, d, ..) = civil(now_unix());
    format!("{y:04}-{m:02}-{d:02}")
}

fn time_now() -> String {
    let (_, _, _, h, mi, s) = civil(now_unix());
    format!("{h:02}:{mi:02}:{s:02}")
}

/// Parses `start-date` (`2024-07-18`, `jul/18/2024`) + `start-time` (`HH:MM:SS`) as UTC.
fn wall_clock(date: Option<&str>, time: &str) -> Option<u64> {
    let mut t = time.split(':').map(|x| x.parse::<u64>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next().unwrap_or(Some(0))?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let day = match date {
        None => i64::try_from(now_unix() / 86_400).ok()?,
        Some(date) if date.contains('-') => {
            let mut parts = date.split('-');
            let y: i64 = parts.next()?.parse().ok()?;
            let mo: u32 = parts.next()?.parse().ok()?;
            let d: u32 = parts.next()?.parse().ok()?;
            plausible(y, mo, d)?;
            days_from_civil(y, mo, d)
        }
        Some(date) => {
            const MONTHS: [&str; 12] = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            let mut parts = date.split('/');
            let month = parts.next()?;
            let mo = MONTHS.iter().position(|m| *m == month)?;
            let d: u32 = parts.next()?.parse().ok()?;
            let y: i64 = parts.next()?.parse().ok()?;
            let mo = u32::try_from(mo + 1).ok()?;
            plausible(y, mo, d)?;
            days_from_civil(y, mo, d)
        }
    };
    u64::try_from(day)
        .ok()
        .map(|day| day * 86_400 + h * 3600 + m * 60 + s)
}

/// Name of the certificate the simulator's `www-ssl` serves.
pub(crate) const SIM_CERTIFICATE: &str = "sim-https";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// SHA-256 of the first certificate's DER in `pem` (hex), as `/certificate print` shows it.
fn pem_fingerprint(pem: &str) -> String {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .unwrap_or_default();
    sha256_hex(&der)
}

/// Generated key material (a stand-in for a WireGuard key: 32 bytes, base64).
fn generated_key(seed: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let digest = sha2::Sha256::digest(format!("{seed}/{nanos}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The public half of a [`generated_key`] (stand-in derivation, not Curve25519).
fn public_of(private: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("public/{private}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Header of a simulated binary backup file.
const BACKUP_MAGIC: &str = "RACKPIPE-ROS-SIM-BACKUP";

/// A keystream from SHA-256(password, salt, counter), XORed over the data. The simulator
/// stands in for RouterOS's AES encryption so a saved file never holds plaintext secrets; it
/// is not a cipher to rely on outside tests.
fn keystream_xor(password: &str, salt: &str, data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let mut out = Vec::with_capacity(data.len());
    for (block, chunk) in data.chunks(32).enumerate() {
        let pad = sha2::Sha256::digest(format!("{password}\0{salt}\0{block}").as_bytes());
        out.extend(chunk.iter().zip(pad.iter()).map(|(a, b)| a ^ b));
    }
    out
}

fn backup_tag(password: &str, salt: &str, plain: &[u8]) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("tag\0{password}\0{salt}\0").as_bytes());
    hasher.update(plain);
    hex::encode(hasher.finalize())
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

    /// Resolves `*1A`, a name (named menus) or a print index to a row index.
    pub fn resolve(&self, path: &str, key: &str) -> Result<usize, ApiError> {
        let spec = self.spec(path).ok_or_else(ApiError::not_found)?;
        let table = self.table(path);
        if is_internal_id(key) {
            let id = u32::from_str_radix(&key[1..], 16).map_err(|_| ApiError::not_found())?;
            return table
                .iter()
                .position(|e| e.id == id)
                .ok_or_else(ApiError::not_found);
        }
        if spec.named {
            return table
                .iter()
                .position(|e| e.props.get("name") == Some(key))
                .ok_or_else(ApiError::not_found);
        }
        Err(ApiError::bad("no such command prefix"))
    }

    /// Normalises one input value for `prop` of `spec` (type checks and references).
    fn normalize(&self, spec: &MenuSpec, name: &str, raw: &str) -> Result<String, ApiError> {
        let Some(prop) = spec.prop(name) else {
            return Err(ApiError::bad(format!("unknown parameter {name}")));
        };
        let invalid = || ApiError::bad(format!("invalid value for argument {name}"));
        let nomatch = || ApiError::bad(format!("input does not match any value of {name}"));
        Ok(match prop.ty {
            Ty::Str => raw.to_owned(),
            Ty::Name => {
                if raw.is_empty() || raw.chars().any(char::is_control) {
                    return Err(invalid());
                }
                raw.to_owned()
            }
            Ty::Bool => match raw {
                "yes" | "true" => "true".to_owned(),
                "no" | "false" => "false".to_owned(),
                _ => return Err(ApiError::bad(format!("value of {name} must be yes or no"))),
            },
            Ty::Int(min, max) => {
                let n = parse_int(raw).ok_or_else(invalid)?;
                if n < min || n > max {
                    return Err(ApiError::bad(format!(
                        "value of {name} out of range ({min}..{max})"
                    )));
                }
                n.to_string()
            }
            Ty::Enum(values) => {
                if !values.contains(&raw) {
                    return Err(nomatch());
                }
                raw.to_owned()
            }
            Ty::Addr => {
                if !raw.contains('/') || schema::parse_cidr(raw).is_none() {
                    return Err(invalid());
                }
                raw.to_owned()
            }
            Ty::Prefix => match schema::parse_cidr(raw) {
                Some((ip, len)) if raw.contains('/') && schema::network_of(ip, len) == ip => {
                    raw.to_owned()
                }
                _ => return Err(invalid()),
            },
            Ty::Ip => {
                schema::parse_ip(raw).ok_or_else(invalid)?;
                raw.to_owned()
            }
            Ty::IpList => {
                if !raw.is_empty() && raw.split(',').any(|ip| schema::parse_ip(ip).is_none()) {
                    return Err(invalid());
                }
                raw.to_owned()
            }
            Ty::Duration => {
                schema::parse_duration_ms(raw).ok_or_else(invalid)?;
                raw.to_owned()
            }
            Ty::Mac => {
                let ok = raw.split(':').count() == 6
                    && raw
                        .split(':')
                        .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
                if !ok {
                    return Err(invalid());
                }
                raw.to_ascii_uppercase()
            }
            Ty::Iface => {
                if !self.interface_names().iter().any(|n| n == raw) {
                    return Err(nomatch());
                }
                raw.to_owned()
            }
            Ty::Bridge => {
                if !self
                    .table("/interface/bridge")
                    .iter()
                    .any(|e| e.props.get("name") == Some(raw))
                {
                    return Err(nomatch());
                }
                raw.to_owned()
            }
            Ty::IfaceList => {
                let names = self.interface_names();
                if !raw.is_empty() && raw.split(',').any(|n| !names.iter().any(|x| x == n)) {
                    return Err(nomatch());
                }
                raw.to_owned()
            }
            Ty::VlanIds => {
                let ok = raw.split(',').all(|part| {
                    let (a, b) = part.split_once('-').unwrap_or((part, part));
                    matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if (1..=4094).contains(&a) && (a..=4094).contains(&b))
                });
                if !ok {
                    return Err(invalid());
                }
                raw.to_owned()
            }
            Ty::EnumList(values) => {
                if raw.is_empty() || raw.split(',').any(|w| !values.contains(&w)) {
                    return Err(nomatch());
                }
                raw.to_owned()
            }
            Ty::Topics => {
                let known =
                    |t: &str| schema::LOG_TOPICS.contains(&t.strip_prefix('!').unwrap_or(t));
                if raw.is_empty() || !raw.split(',').all(known) {
                    return Err(nomatch());
                }
                raw.to_owned()
            }
            Ty::LogAction => {
                if !self
                    .table("/system/logging/action")
                    .iter()
                    .any(|e| e.props.get("name") == Some(raw))
                {
                    return Err(nomatch());
                }
                raw.to_owned()
            }
        })
    }

    /// Validates and applies `input` onto `current` (add when `index` is `None`).
    fn write(&mut self, path: &str, index: Option<usize>, input: &Props) -> Result<u32, ApiError> {
        let spec = self
            .spec(path)
            .ok_or_else(|| ApiError::bad(format!("no such command or directory ({path})")))?
            .clone();
        let mut props = match index {
            Some(i) => self.table(path)[i].props.clone(),
            None => Props::new(),
        };
        if let Some(i) = index {
            let entry = &self.table(path)[i];
            if entry.dynamic {
                return Err(ApiError::bad("failure: can not change dynamic"));
            }
        }
        let mut place_before = None;
        let old_name = props.get("name").map(str::to_owned);
        for (key, raw) in input.iter() {
            if key == ".id" {
                continue;
            }
            if key == "place-before" && index.is_none() && spec.kind == MenuKind::List {
                place_before = Some(self.resolve(path, raw)?);
                continue;
            }
            if let Some(unset) = key.strip_prefix('!') {
                let prop = spec
                    .prop(unset)
                    .ok_or_else(|| ApiError::bad(format!("unknown parameter {unset}")))?;
                if prop.read_only || prop.required {
                    return Err(ApiError::bad(format!("failure: can not unset {unset}")));
                }
                props.remove(unset);
                continue;
            }
            let prop = spec
                .prop(key)
                .ok_or_else(|| ApiError::bad(format!("unknown parameter {key}")))?;
            if prop.read_only {
                return Err(ApiError::bad(format!("failure: {key} is read-only")));
            }
            let value = self.normalize(&spec, key, raw)?;
            props.insert(key, value);
        }
        if index.is_none() {
            if let Some(missing) = spec
                .props
                .iter()
                .find(|p| p.required && !props.contains(p.name))
            {
                return Err(ApiError::bad(format!(
                    "missing value(s) of argument(s) {}",
                    missing.name
                )));
            }
            if path == "/ip/dns/static" && !props.contains("name") && !props.contains("regexp") {
                return Err(ApiError::bad("missing value(s) of argument(s) name"));
            }
        }
        // Uniqueness.
        let others = || {
            self.table(path)
                .iter()
                .enumerate()
                .filter(move |(i, _)| Some(*i) != index)
                .map(|(_, e)| e)
        };
        if let Some(name) = props.get("name") {
            let clash = if spec.interface {
                self.interface_names()
                    .iter()
                    .filter(|n| n.as_str() == name)
                    .count()
                    > usize::from(old_name.as_deref() == Some(name))
            } else {
                spec.named && others().any(|e| e.props.get("name") == Some(name))
            };
            if clash {
                let what = if spec.interface { "interface" } else { "item" };
                return Err(ApiError::bad(format!(
                    "failure: already have {what} with such name"
                )));
            }
        }
        if !spec.unique.is_empty()
            && spec.unique.iter().all(|k| props.contains(k))
            && others().any(|e| spec.unique.iter().all(|k| e.props.get(k) == props.get(k)))
        {
            let detail = if path == "/interface/bridge/port" {
                "failure: device already added as bridge port".to_owned()
            } else {
                format!(
                    "failure: already have such entry ({})",
                    spec.unique.join(", ")
                )
            };
            return Err(ApiError::bad(detail));
        }
        // Computed read-only values.
        if path == "/interface/wireguard" {
            if !props.contains("private-key") {
                let seed = format!("{}/{}", self.state.next_id, props.get("name").unwrap_or(""));
                props.insert("private-key", generated_key(&seed));
            }
            let public = public_of(props.get("private-key").unwrap_or(""));
            props.insert("public-key", public);
        }
        if path == "/user/ssh-keys" {
            let owner = props
                .get("key")
                .and_then(|k| k.split_whitespace().nth(2))
                .unwrap_or("")
                .to_owned();
            props.insert("key-owner", owner);
        }
        if path == "/ip/address" {
            if let Some((ip, len)) = props.get("address").and_then(schema::parse_cidr)
                && !input.contains("network")
            {
                props.insert("network", schema::network_of(ip, len).to_string());
            }
            if let Some(iface) = props.get("interface").map(str::to_owned) {
                props.insert("actual-interface", iface);
            }
        }
        if path == "/ip/firewall/address-list" && index.is_none() {
            props.insert("creation-time", format!("{} {}", today(), time_now()));
        }
        if path == "/system/scheduler" && index.is_none() {
            props.insert("owner", "admin");
            if !props.contains("start-date") && !props.contains("start-time") {
                props.insert("start-date", today());
                props.insert("start-time", time_now());
            }
        }
        if path == "/file" {
            let size = props.get("contents").map_or(0, str::len);
            props.insert("size", size.to_string());
            props.insert(
                "type",
                if props.get("name").is_some_and(|n| n.ends_with(".rsc")) {
                    "script"
                } else {
                    "file"
                },
            );
            if index.is_none() {
                props.insert("creation-time", format!("{} {}", today(), time_now()));
            }
        }
        let dynamic = path == "/ip/firewall/address-list" && props.contains("timeout");
        let id = match index {
            Some(i) => {
                let entry = &mut self.table_mut(path)[i];
                entry.props = props;
                entry.id
            }
            None => {
                let id = self.state.next_id;
                self.state.next_id += 1;
                let entry = Entry {
                    id,
                    props,
                    dynamic,
                    builtin: false,
                };
                let table = self.table_mut(path);
                match place_before {
                    Some(at) => table.insert(at, entry),
                    None => table.push(entry),
                }
                id
            }
        };
        if spec.interface
            && let (Some(old), Some(new)) = (
                old_name,
                self.table(path)
                    .iter()
                    .find(|e| e.id == id)
                    .and_then(|e| e.props.get("name"))
                    .map(str::to_owned),
            )
            && old != new
        {
            self.rename_interface(&old, &new);
        }
        if path == "/system/scheduler" {
            self.schedule(id);
        }
        Ok(id)
    }

    /// RouterOS stores references by id, so renaming an interface renames every reference.
    fn rename_interface(&mut self, old: &str, new: &str) {
        let specs = Arc::clone(&self.specs);
        for spec in specs.iter() {
            let ref_props: Vec<&str> = spec
                .props
                .iter()
                .filter(|p| matches!(p.ty, Ty::Iface | Ty::Bridge | Ty::IfaceList))
                .map(|p| p.name)
                .chain(if spec.path == "/ip/address" {
                    Some("actual-interface")
                } else {
                    None
                })
                .collect();
            if ref_props.is_empty() {
                continue;
            }
            for entry in self.table_mut(spec.path) {
                for key in &ref_props {
                    if let Some(value) = entry.props.get(key) {
                        let renamed: Vec<&str> = value
                            .split(',')
                            .map(|n| if n == old { new } else { n })
                            .collect();
                        let renamed = renamed.join(",");
                        if renamed != value {
                            entry.props.insert(*key, renamed);
                        }
                    }
                }
            }
        }
    }

    pub fn add(&mut self, path: &str, input: &Props) -> Result<u32, ApiError> {
        let spec = self
            .spec(path)
            .ok_or_else(|| ApiError::bad(format!("no such command or directory ({path})")))?;
        if spec.kind != MenuKind::List {
            return Err(ApiError::bad("no such command or directory (add)"));
        }
        self.write(path, None, input)
    }

    pub fn set(&mut self, path: &str, index: usize, input: &Props) -> Result<u32, ApiError> {
        self.write(path, Some(index), input)
    }

    pub fn set_singleton(&mut self, path: &str, input: &Props) -> Result<(), ApiError> {
        if self.table(path).is_empty() {
            return Err(ApiError::bad("no such item"));
        }
        self.write(path, Some(0), input).map(|_| ())
    }

    pub fn remove(&mut self, path: &str, index: usize) -> Result<(), ApiError> {
        let spec = self.spec(path).ok_or_else(ApiError::not_found)?;
        if spec.kind != MenuKind::List {
            return Err(ApiError {
                status: 406,
                detail: Some("no such command or directory (remove)".to_owned()),
            });
        }
        let entry = &self.table(path)[index];
        if entry.dynamic {
            return Err(ApiError::bad("failure: can not remove dynamic item"));
        }
        if entry.builtin {
            return Err(ApiError::bad("failure: can not remove default item"));
        }
        let id = entry.id;
        self.table_mut(path).remove(index);
        self.next_runs.remove(&id);
        Ok(())
    }

    /// Moves the rows `ids` (in order) in front of `destination` (or to the end).
    pub fn move_items(
        &mut self,
        path: &str,
        ids: &[usize],
        destination: Option<usize>,
    ) -> Result<(), ApiError> {
        let table = self.table(path);
        let dest_id = destination.map(|d| table[d].id);
        let moving: Vec<u32> = ids.iter().map(|&i| table[i].id).collect();
        let table = self.table_mut(path);
        let mut taken = Vec::new();
        for id in &moving {
            if let Some(pos) = table.iter().position(|e| e.id == *id) {
                taken.push(table.remove(pos));
            }
        }
        let at = dest_id
            .and_then(|d| table.iter().position(|e| e.id == d))
            .unwrap_or(table.len());
        for (offset, entry) in taken.into_iter().enumerate() {
            table.insert(at + offset, entry);
        }
        Ok(())
    }

    /// Injects a dynamic entry (test hook), unchecked except for the menu.
    pub fn add_dynamic(&mut self, path: &str, props: Props) -> Result<u32, ApiError> {
        if self.spec(path).is_none_or(|s| s.kind != MenuKind::List) {
            return Err(ApiError::bad(format!(
                "no such command or directory ({path})"
            )));
        }
        let id = self.state.next_id;
        self.state.next_id += 1;
        self.table_mut(path).push(Entry {
            id,
            props,
            dynamic: true,
            builtin: false,
        });
        Ok(id)
    }

    /// The JSON object clients see for one row.
    pub fn view(&self, spec: &MenuSpec, entry: &Entry) -> Map<String, Value> {
        let mut out = Map::new();
        if spec.kind != MenuKind::Singleton {
            out.insert(".id".to_owned(), Value::String(format!("*{:X}", entry.id)));
        }
        for prop in spec.props.iter().filter(|p| !p.hidden) {
            let value = match (entry.props.get(prop.name), prop.name) {
                (Some(""), "comment") => continue,
                (Some(v), _) => v.to_owned(),
                (None, "dynamic") => entry.dynamic.to_string(),
                (None, "default")
                    if spec.path == "/system/logging/action" || spec.path == "/system/logging" =>
                {
                    entry.builtin.to_string()
                }
                (None, "date") if spec.path == "/system/clock" => today(),
                (None, "time") if spec.path == "/system/clock" => time_now(),
                (None, "next-run") if spec.path == "/system/scheduler" => {
                    match self.next_runs.get(&entry.id) {
                        Some(at) => {
                            let secs = at.saturating_duration_since(Instant::now()).as_secs();
                            let (y, m, d, h, mi, s) = civil(now_unix() + secs);
                            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
                        }
                        None => continue,
                    }
                }
                (None, _) => match prop.default {
                    Some(d) if !spec.sparse || prop.read_only || prop.name == "action" => {
                        d.to_owned()
                    }
                    _ => continue,
                },
            };
            out.insert(prop.name.to_owned(), Value::String(value));
        }
        out
    }

    pub fn list(&self, path: &str) -> Vec<Map<String, Value>> {
        let Some(spec) = self.spec(path) else {
            return Vec::new();
        };
        self.table(path)
            .iter()
            .map(|e| self.view(spec, e))
            .collect()
    }

    pub fn entry_view(&self, path: &str, index: usize) -> Map<String, Value> {
        match self.spec(path) {
            Some(spec) => self.view(spec, &self.table(path)[index]),
            None => Map::new(),
        }
    }

    pub fn id_of(&self, path: &str, index: usize) -> u32 {
        self.table(path)[index].id
    }

    pub fn index_of_id(&self, path: &str, id: u32) -> Option<usize> {
        self.table(path).iter().position(|e| e.id == id)
    }

    /// The `/interface` overview (read-only, all interface menus).
    pub fn interfaces(&self) -> Vec<Map<String, Value>> {
        let mut rows: Vec<(u32, Map<String, Value>)> = Vec::new();
        for spec in self.specs.iter().filter(|s| s.interface) {
            let kind = spec.path.rsplit('/').next().unwrap_or("ether");
            let kind = if kind == "ethernet" {
                "ether"
            } else if kind == "bonding" {
                "bond"
            } else {
                kind
            };
            for entry in self.table(spec.path) {
                let full = self.view(spec, entry);
                let mut row = Map::new();
                for key in [".id", "name", "default-name"] {
                    if let Some(v) = full.get(key) {
                        row.insert(key.to_owned(), v.clone());
                    }
                }
                row.insert("type".to_owned(), Value::String(kind.to_owned()));
                for key in ["mtu", "mac-address", "running", "disabled", "comment"] {
                    if let Some(v) = full.get(key) {
                        row.insert(key.to_owned(), v.clone());
                    }
                }
                rows.push((entry.id, row));
            }
        }
        rows.sort_by_key(|(id, _)| *id);
        rows.into_iter().map(|(_, r)| r).collect()
    }

    // ---------------------------------------------------------------- export / import

    /// `/export` (compact): only values that differ from the defaults; no users, no
    /// certificates, no sensitive values.
    pub fn export(&self) -> Config {
        self.export_with(false)
    }

    /// `/export [show-sensitive]`: sensitive values (WireGuard private keys, IPsec secrets)
    /// only with `show_sensitive`; users, passwords and private keys never.
    pub fn export_with(&self, show_sensitive: bool) -> Config {
        let mut config = Config {
            header: Header {
                routeros_version: Some(self.version.clone()),
                model: Some("CHR (rackpipe-ros-sim)".to_owned()),
            },
            menus: Vec::new(),
        };
        for spec in self.specs.iter().filter(|s| s.exported) {
            for (index, entry) in self
                .table(spec.path)
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.dynamic)
            {
                // Built-in rows are compared with their factory values.
                let factory = if entry.builtin {
                    self.factory_no_defaults
                        .tables
                        .get(spec.path)
                        .and_then(|t| t.iter().find(|f| f.id == entry.id))
                } else {
                    None
                };
                let differs = |k: &str, v: &str, default: Option<&str>| match factory {
                    Some(f) => match f.props.get(k) {
                        Some(fv) => fv != v,
                        None => default != Some(v),
                    },
                    None => default != Some(v),
                };
                let mut changed: Vec<(&str, &str)> = entry
                    .props
                    .iter()
                    .filter(|(k, v)| {
                        spec.prop(k).is_some_and(|p| {
                            !p.read_only
                                && !p.hidden
                                && (show_sensitive || !p.sensitive)
                                && (differs(k, v, p.default)
                                    || (spec.sparse && entry.props.contains(k)))
                                && !(spec.path == "/interface/ethernet"
                                    && *k == "mac-address"
                                    && entry.props.get("orig-mac-address") == Some(*v))
                                && !(spec.path == "/ip/address" && *k == "network")
                        })
                    })
                    .collect();
                // Factory values the user unset are back at their defaults.
                if let Some(f) = factory {
                    for (k, _) in f.props.iter() {
                        if !entry.props.contains(k)
                            && let Some(default) = spec
                                .prop(k)
                                .filter(|p| !p.read_only)
                                .and_then(|p| p.default)
                        {
                            changed.push((k, default));
                        }
                    }
                }
                changed.sort_by(|a, b| a.0.cmp(b.0));
                // Exports write booleans as yes/no.
                let props = Props::from_pairs(changed.iter().map(|(k, v)| {
                    let value = match (spec.prop(k).map(|p| p.ty), *v) {
                        (Some(Ty::Bool), "true") => "yes",
                        (Some(Ty::Bool), "false") => "no",
                        (_, v) => v,
                    };
                    (*k, value)
                }));
                let command = match spec.kind {
                    MenuKind::Singleton => {
                        if props.is_empty() {
                            continue;
                        }
                        Command::set(None, props)
                    }
                    MenuKind::Fixed | MenuKind::List if entry.builtin => {
                        let props =
                            Props::from_pairs(props.into_iter().filter(|(k, _)| k != "name"));
                        let selector = if spec.path == "/interface/ethernet" {
                            Selector::find(
                                "default-name",
                                entry.props.get("default-name").unwrap_or(""),
                            )
                        } else if spec.path == "/ip/service" {
                            Selector::Item(entry.props.get("name").unwrap_or("").to_owned())
                        } else if spec.path == "/system/logging" {
                            // Unnamed built-in rules: by print index, as RouterOS exports them.
                            Selector::Item(index.to_string())
                        } else {
                            Selector::find("name", entry.props.get("name").unwrap_or(""))
                        };
                        let rename = spec.path == "/interface/ethernet"
                            && entry.props.get("name") != entry.props.get("default-name");
                        let mut props = props;
                        if rename && let Some(name) = entry.props.get("name") {
                            props.insert("name", name);
                            let mut sorted: Vec<(String, String)> = props.into_iter().collect();
                            sorted.sort();
                            props = Props::from_pairs(sorted);
                        }
                        if props.is_empty() {
                            continue;
                        }
                        Command::set(Some(selector), props)
                    }
                    _ => Command::add(props),
                };
                config.push(spec.path, command);
            }
        }
        config
    }

    /// Export text with a dated header.
    pub fn export_text(&self) -> String {
        self.export_text_as(false, false)
    }

    /// Export text, standard or `terse` (full menu path on every line).
    pub fn export_text_as(&self, terse: bool, show_sensitive: bool) -> String {
        let (y, m, d, h, mi, s) = civil(now_unix());
        let config = self.export_with(show_sensitive);
        let body = if terse {
            rackpipe_routeros::print_terse(&config)
        } else {
            rackpipe_routeros::print_standard(&config)
        };
        let body = body
            .lines()
            .filter(|l| !l.starts_with("# by RouterOS"))
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "# {y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02} by RouterOS {}\n# software id = SIM0-0000\n#\n{body}\n",
            self.version
        )
    }

    /// Selects rows for an import/script command.
    fn select(&self, path: &str, selector: &Selector) -> Result<Vec<usize>, ApiError> {
        let spec = self.spec(path).ok_or_else(ApiError::not_found)?;
        match selector {
            Selector::Find(conditions) => {
                let mut wanted = Props::new();
                for (k, v) in conditions.iter() {
                    let value = match spec.prop(k).map(|p| p.ty) {
                        Some(Ty::Bool) => {
                            self.normalize(spec, k, v).unwrap_or_else(|_| v.to_owned())
                        }
                        _ => v.to_owned(),
                    };
                    wanted.insert(k, value);
                }
                Ok(self
                    .table(path)
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| {
                        let view = self.view(spec, e);
                        wanted
                            .iter()
                            .all(|(k, v)| view.get(k).and_then(Value::as_str) == Some(v))
                    })
                    .map(|(i, _)| i)
                    .collect())
            }
            Selector::Item(item) => {
                if let Ok(index) = item.parse::<usize>() {
                    return if index < self.table(path).len() {
                        Ok(vec![index])
                    } else {
                        Err(ApiError::bad("no such item"))
                    };
                }
                self.resolve(path, item)
                    .map(|i| vec![i])
                    .map_err(|_| ApiError::bad("no such item"))
            }
        }
    }

    /// Runs parsed console commands (an imported file or a script), stopping at the first
    /// error: `line N: <detail>`.
    pub fn run_config(&mut self, config: &Config) -> Result<(), String> {
        for menu in &config.menus {
            if self.spec(&menu.path).is_none() {
                let line = menu.commands.first().map_or(0, |c| c.line);
                return Err(format!(
                    "line {line}: no such command or directory ({})",
                    menu.path
                ));
            }
            for command in &menu.commands {
                self.run_command(&menu.path, command).map_err(|e| {
                    format!(
                        "line {}: {}",
                        command.line,
                        e.detail.unwrap_or_else(|| "failure".to_owned())
                    )
                })?;
            }
        }
        Ok(())
    }

    fn run_command(&mut self, path: &str, command: &Command) -> Result<(), ApiError> {
        if let Some(flag) = command.flags.first() {
            return Err(ApiError::bad(format!("unknown parameter {flag}")));
        }
        let singleton = self
            .spec(path)
            .is_some_and(|s| s.kind == MenuKind::Singleton);
        match (command.verb, &command.selector) {
            (Verb::Add, _) => self.add(path, &command.props).map(|_| ()),
            (Verb::Set, None) if singleton => self.set_singleton(path, &command.props),
            (Verb::Set | Verb::Remove | Verb::Enable | Verb::Disable, Some(selector)) => {
                let mut ids: Vec<u32> = self
                    .select(path, selector)?
                    .into_iter()
                    .map(|i| self.id_of(path, i))
                    .collect();
                if command.verb == Verb::Remove {
                    ids.reverse();
                }
                for id in ids {
                    let Some(index) = self.index_of_id(path, id) else {
                        continue;
                    };
                    match command.verb {
                        Verb::Remove => self.remove(path, index)?,
                        Verb::Enable => self
                            .set(path, index, &Props::from_pairs([("disabled", "no")]))
                            .map(|_| ())?,
                        Verb::Disable => self
                            .set(path, index, &Props::from_pairs([("disabled", "yes")]))
                            .map(|_| ())?,
                        _ => self.set(path, index, &command.props).map(|_| ())?,
                    }
                }
                Ok(())
            }
            (verb, _) => Err(ApiError::bad(format!("expected item selector for {verb}"))),
        }
    }

    /// `/system/reset-configuration`: back to the factory state (without the default
    /// configuration with `no-defaults`). Users (with their passwords and SSH keys) survive
    /// only with `keep_users`; certificates and every key are gone; files stay. The router
    /// then reboots ([`Router::reboot`]).
    pub fn reset(&mut self, no_defaults: bool, keep_users: bool) {
        let next_id = self.state.next_id;
        let files = self.state.tables.get("/file").cloned().unwrap_or_default();
        let users: Vec<(String, Vec<Entry>)> = ["/user", "/user/ssh-keys"]
            .iter()
            .map(|m| ((*m).to_owned(), self.table(m).to_vec()))
            .collect();
        self.reach_cache.replace(None);
        self.state = if no_defaults {
            self.factory_no_defaults.clone()
        } else {
            self.factory.clone()
        };
        // Ids are never reused, also across a reset (files survive it).
        self.state.next_id = self.state.next_id.max(next_id);
        self.state.tables.insert("/file".to_owned(), files);
        if keep_users {
            for (menu, rows) in users {
                self.state.tables.insert(menu, rows);
            }
        }
        self.next_runs.clear();
        self.reboot();
    }

    /// A reboot: the router answers nothing for [`SimConfig::reboot_time`]; the saved
    /// configuration stays; dynamic entries, scheduler run counts and (on a device with a
    /// `flash` directory) every file outside `flash/` are lost; scheduler entries start
    /// counting again from the boot.
    pub fn reboot(&mut self) {
        self.reach_cache.replace(None);
        let flash = self.flash;
        for (menu, rows) in &mut self.state.tables {
            rows.retain(|e| !e.dynamic);
            if menu == "/file" && flash {
                rows.retain(|e| {
                    e.builtin || e.props.get("name").is_some_and(|n| n.starts_with("flash/"))
                });
            }
            if menu == "/system/scheduler" {
                for row in rows.iter_mut() {
                    row.props.remove("run-count");
                }
            }
        }
        self.down_until = Some(Instant::now() + self.reboot_time);
        self.reschedule_all();
        let delay = self.reboot_time;
        for at in self.next_runs.values_mut() {
            *at += delay;
        }
        self.log.push("system: rebooted".to_owned());
    }

    /// Whether `user` may log in with `password` (an enabled `/user` row).
    pub fn login_ok(&self, user: &str, password: &str) -> bool {
        self.table("/user").iter().any(|e| {
            e.props.get("name") == Some(user)
                && e.props.get("password").unwrap_or("") == password
                && e.props.get("disabled") != Some("true")
        })
    }

    /// Whether the router is still booting.
    pub fn rebooting(&self) -> bool {
        self.down_until.is_some_and(|t| Instant::now() < t)
    }

    pub fn file_contents(&self, name: &str) -> Option<String> {
        let table = self.table("/file");
        table
            .iter()
            .find(|e| e.props.get("name") == Some(name))
            .or_else(|| {
                table.iter().find(|e| {
                    e.props
                        .get("name")
                        .is_some_and(|n| n.strip_suffix(".rsc") == Some(name))
                })
            })
            .map(|e| e.props.get("contents").unwrap_or("").to_owned())
    }

    pub fn write_file(&mut self, name: &str, contents: &str) {
        let input = Props::from_pairs([("contents", contents)]);
        let existing = self
            .table("/file")
            .iter()
            .position(|e| e.props.get("name") == Some(name));
        let result = match existing {
            Some(i) => self.set("/file", i, &input),
            None => self.add(
                "/file",
                &Props::from_pairs([("name", name), ("contents", contents)]),
            ),
        };
        if let Err(e) = result {
            self.log.push(format!("file {name}: {e:?}"));
        }
    }

    /// `/import file-name=...`.
    pub fn import_file(&mut self, name: &str) -> Result<(), String> {
        let text = self
            .file_contents(name)
            .ok_or_else(|| format!("failure: no such file {name}"))?;
        let config =
            rackpipe_routeros::export::parse_named(name, &text).map_err(|e| e.to_string())?;
        self.run_config(&config)
    }

    /// `/system/backup/save`: the whole state (users with passwords and SSH keys,
    /// certificates with private keys, every sensitive value) as one file, encrypted when a
    /// `password` is given (see [`keystream_xor`]).
    pub fn backup_save(&mut self, name: &str, password: Option<&str>) {
        let name = if name.ends_with(".backup") {
            name.to_owned()
        } else {
            format!("{name}.backup")
        };
        let mut snapshot = self.state.clone();
        snapshot.tables.remove("/file");
        let plain = serde_json::to_string(&snapshot).unwrap_or_default();
        let contents = match password.filter(|p| !p.is_empty()) {
            None => format!("{BACKUP_MAGIC} plain\n{plain}"),
            Some(password) => {
                use base64::Engine as _;
                let salt = sha256_hex(format!("{}/{}", self.state.next_id, now_unix()).as_bytes())
                    [..32]
                    .to_owned();
                let tag = backup_tag(password, &salt, plain.as_bytes());
                let sealed = keystream_xor(password, &salt, plain.as_bytes());
                format!(
                    "{BACKUP_MAGIC} encrypted\n{salt}\n{tag}\n{}",
                    base64::engine::general_purpose::STANDARD.encode(sealed)
                )
            }
        };
        self.write_file(&name, &contents);
    }

    /// `/system/backup/load`: restores everything the backup holds (files stay as they are)
    /// and reboots. An encrypted backup needs its password; a wrong one changes nothing.
    pub fn backup_load(&mut self, name: &str, password: Option<&str>) -> Result<(), String> {
        let with_ext = if name.ends_with(".backup") {
            name.to_owned()
        } else {
            format!("{name}.backup")
        };
        let text = self
            .file_contents(&with_ext)
            .ok_or_else(|| format!("failure: no such file {with_ext}"))?;
        let bad = || "failure: bad backup file".to_owned();
        let (kind, rest) = text
            .strip_prefix(BACKUP_MAGIC)
            .and_then(|t| t.trim_start_matches(' ').split_once('\n'))
            .ok_or_else(bad)?;
        let plain = match kind {
            "plain" => rest.as_bytes().to_vec(),
            "encrypted" => {
                use base64::Engine as _;
                let mut lines = rest.splitn(3, '\n');
                let (salt, tag, body) = (
                    lines.next().ok_or_else(bad)?,
                    lines.next().ok_or_else(bad)?,
                    lines.next().ok_or_else(bad)?,
                );
                let password = password.unwrap_or("");
                let sealed = base64::engine::general_purpose::STANDARD
                    .decode(body.trim())
                    .map_err(|_| bad())?;
                let plain = keystream_xor(password, salt, &sealed);
                if backup_tag(password, salt, &plain) != tag {
                    return Err("failure: wrong password or damaged backup file".to_owned());
                }
                plain
            }
            _ => return Err(bad()),
        };
        let mut snapshot: Snapshot = serde_json::from_slice(&plain).map_err(|_| bad())?;
        let files = self.state.tables.get("/file").cloned().unwrap_or_default();
        snapshot.tables.insert("/file".to_owned(), files);
        snapshot.next_id = snapshot.next_id.max(self.state.next_id);
        self.reach_cache.replace(None);
        self.state = snapshot;
        self.reboot();
        Ok(())
    }

    // ---------------------------------------------------------------- scripts & scheduler

    /// Runs a script: console lines separated by newlines or `;`. Understands `/import`,
    /// `/system reset-configuration`, `/system backup load|save`, `:delay`/`:log`/`/log`
    /// (ignored) and any `add`/`set`/`remove`/`enable`/`disable` on a modelled menu.
    pub fn run_script(&mut self, script: &str) -> Result<(), String> {
        for raw in split_script(script) {
            let line = raw.trim();
            if line.is_empty()
                || line.starts_with('#')
                || line.starts_with(":delay")
                || line.starts_with(":log")
                || line.starts_with("/log")
            {
                continue;
            }
            let line = glue_v7_verb(line);
            let config = rackpipe_routeros::parse(&line).map_err(|e| format!("{line}: {e}"))?;
            let Some(menu) = config.menus.first() else {
                continue;
            };
            let Some(command) = menu.commands.first() else {
                continue;
            };
            let flags_and_props = |command: &Command| {
                let mut props = command.props.clone();
                for flag in &command.flags {
                    props.insert(flag.clone(), "");
                }
                if let Some(Selector::Item(item)) = &command.selector {
                    props.insert("file-name", item.clone());
                }
                props
            };
            match menu.path.as_str() {
                "/import" => {
                    let props = flags_and_props(command);
                    let file = props.get("file-name").unwrap_or("").to_owned();
                    self.import_file(&file)?;
                }
                "/system/reset-configuration" => {
                    let props = flags_and_props(command);
                    let yes = |k: &str| props.get(k).is_some_and(|v| v == "yes");
                    let run_after = props.get("run-after-reset").map(str::to_owned);
                    // The script file survives the reset (it lives on the flash).
                    self.reset(yes("no-defaults"), yes("keep-users"));
                    if let Some(file) = run_after {
                        self.import_file(&file)?;
                    }
                }
                "/system/backup" => {
                    let props = flags_and_props(command);
                    let name = props.get("name").unwrap_or("backup").to_owned();
                    let password = props.get("password").map(str::to_owned);
                    if props.contains("load")
                        || command.selector == Some(Selector::Item("load".to_owned()))
                    {
                        self.backup_load(&name, password.as_deref())?;
                    } else {
                        self.backup_save(&name, password.as_deref());
                    }
                }
                _ => self.run_config(&config)?,
            }
        }
        Ok(())
    }

    fn schedule(&mut self, id: u32) {
        self.next_runs.remove(&id);
        let Some(entry) = self.table("/system/scheduler").iter().find(|e| e.id == id) else {
            return;
        };
        if entry.props.get("disabled") == Some("true") {
            return;
        }
        let interval = entry
            .props
            .get("interval")
            .and_then(schema::parse_duration_ms)
            .unwrap_or(0);
        let start_time = entry.props.get("start-time").unwrap_or("");
        if start_time == "startup" {
            return;
        }
        let now = now_unix();
        let start = wall_clock(entry.props.get("start-date"), start_time).unwrap_or(now);
        let interval_d = Duration::from_millis(interval);
        let at = if start > now {
            Instant::now() + Duration::from_secs(start - now)
        } else if let Some(periods) = ((now - start) * 1000).checked_div(interval) {
            // First run one interval after the (past) start, as RouterOS counts from start.
            let elapsed_ms = (now - start) * 1000;
            let periods = periods + 1;
            let due_ms = periods * interval - elapsed_ms;
            Instant::now() + Duration::from_millis(due_ms.max(1)).min(interval_d)
        } else {
            return;
        };
        self.next_runs.insert(id, at);
    }

    fn reschedule_all(&mut self) {
        self.next_runs.clear();
        let ids: Vec<u32> = self
            .table("/system/scheduler")
            .iter()
            .map(|e| e.id)
            .collect();
        for id in ids {
            self.schedule(id);
        }
    }

    /// Fires due scheduler entries; returns how many ran.
    pub fn tick(&mut self) -> usize {
        if self.rebooting() {
            return 0;
        }
        let now = Instant::now();
        let due: Vec<u32> = self
            .next_runs
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.next_runs.remove(id);
            let Some(index) = self.index_of_id("/system/scheduler", *id) else {
                continue;
            };
            let entry = &mut self.table_mut("/system/scheduler")[index];
            let count: u64 = entry
                .props
                .get("run-count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            entry.props.insert("run-count", (count + 1).to_string());
            let script = entry.props.get("on-event").unwrap_or("").to_owned();
            let name = entry.props.get("name").unwrap_or("").to_owned();
            let interval = entry
                .props
                .get("interval")
                .and_then(schema::parse_duration_ms)
                .unwrap_or(0);
            if interval > 0 {
                self.next_runs
                    .insert(*id, now + Duration::from_millis(interval));
            }
            match self.run_script(&script) {
                Ok(()) => {
                    tracing::debug!(scheduler = %name, "ran on-event");
                    self.log.push(format!("scheduler {name}: ran"));
                }
                Err(e) => {
                    tracing::debug!(scheduler = %name, error = %e, "on-event failed");
                    self.log.push(format!("scheduler {name}: {e}"));
                }
            }
        }
        due.len()
    }

    // ---------------------------------------------------------------- reachability

    /// Whether the management client can still reach the REST API (see the crate docs).
    pub fn reachable(&self) -> Result<(), String> {
        if self.forced_unreachable {
            return Err("forced unreachable by /__sim/reachable".to_owned());
        }
        if self.rebooting() {
            return Err("rebooting".to_owned());
        }
        if let Some(cached) = self.reach_cache.borrow().as_ref() {
            return cached.clone();
        }
        let result = self.compute_reachable();
        self.reach_cache.replace(Some(result.clone()));
        result
    }

    fn compute_reachable(&self) -> Result<(), String> {
        if let Some(served) = &self.tls_fingerprint {
            // HTTPS needs the certificate the simulator serves, with its private key, in
            // /certificate (whatever name www-ssl gives it: the simulator has one identity).
            let usable = self.table("/certificate").iter().any(|e| {
                e.props.get("fingerprint") == Some(served.as_str())
                    && e.props.get("private-key") == Some("true")
            });
            if !usable {
                return Err(format!(
                    "/ip/service www-ssl: the certificate it serves ({SIM_CERTIFICATE}, sha256 {served}) is no longer in /certificate with its private key (no TLS handshake)"
                ));
            }
        }
        let Some(mgmt) = &self.management else {
            return Ok(());
        };
        let Some(client) = schema::parse_ip(&mgmt.client) else {
            return Ok(());
        };
        self.path_to_client(mgmt, client)?;
        let service = if self.tls { "www-ssl" } else { "www" };
        let svc = self
            .table("/ip/service")
            .iter()
            .find(|e| e.props.get("name") == Some(service));
        if let Some(svc) = svc {
            if svc.props.get("disabled") == Some("true") {
                return Err(format!("/ip/service {service} is disabled"));
            }

            if let Some(allowed) = svc.props.get("address").filter(|a| !a.is_empty())
                && !allowed
                    .split(',')
                    .any(|cidr| schema::cidr_contains(cidr, client))
            {
                return Err(format!(
                    "/ip/service {service} address={allowed} excludes {client}"
                ));
            }
        }
        self.firewall_allows(mgmt, client)
    }

    fn enabled(entry: &Entry) -> bool {
        entry.props.get("disabled") != Some("true")
    }

    /// An enabled address in the client's subnet on an interface that carries the client's
    /// frames (untagged, or tagged with `mgmt.vlan`) from the management port.
    fn path_to_client(&self, mgmt: &Management, client: Ipv4Addr) -> Result<(), String> {
        let port = self
            .table("/interface/ethernet")
            .iter()
            .find(|e| e.props.get("default-name") == Some(mgmt.port.as_str()))
            .ok_or_else(|| format!("management port {} does not exist", mgmt.port))?;
        if !Self::enabled(port) {
            return Err(format!("management port {} is disabled", mgmt.port));
        }
        let port_name = port.props.get("name").unwrap_or("").to_owned();
        // The port may be a bond slave: frames then arrive on the bond.
        let bond = self.table("/interface/bonding").iter().find(|b| {
            Self::enabled(b)
                && b.props
                    .get("slaves")
                    .is_some_and(|s| s.split(',').any(|n| n == port_name))
        });
        let ingress = bond
            .and_then(|b| b.props.get("name"))
            .unwrap_or(&port_name)
            .to_owned();
        let bridge_port = self
            .table("/interface/bridge/port")
            .iter()
            .find(|p| Self::enabled(p) && p.props.get("interface") == Some(ingress.as_str()));
        let candidates = self.table("/ip/address").iter().filter(|a| {
            Self::enabled(a)
                && a.props
                    .get("address")
                    .and_then(schema::parse_cidr)
                    .is_some_and(|(ip, len)| {
                        schema::network_of(ip, len) == schema::network_of(client, len)
                            && ip != client
                    })
        });
        for address in candidates {
            let iface = address.props.get("interface").unwrap_or("");
            if self.l3_reaches(iface, &ingress, bridge_port, mgmt.vlan) {
                return Ok(());
            }
        }
        Err(format!(
            "no enabled /ip/address in {}'s subnet on an interface reachable from {}{}",
            client,
            mgmt.port,
            mgmt.vlan
                .map(|v| format!(" (vlan {v})"))
                .unwrap_or_default()
        ))
    }

    fn l3_reaches(
        &self,
        iface: &str,
        ingress: &str,
        bridge_port: Option<&Entry>,
        vlan: Option<u16>,
    ) -> bool {
        let Some((kind, entry)) = self.interface_kind(iface) else {
            return false;
        };
        if !Self::enabled(entry) {
            return false;
        }
        match (kind, vlan) {
            // Untagged frames straight on the port (or bond) that is not a bridge port.
            ("/interface/ethernet" | "/interface/bonding", None) => {
                iface == ingress && bridge_port.is_none()
            }
            ("/interface/bridge", None) => self.bridge_carries(entry, bridge_port, None),
            ("/interface/vlan", Some(tag)) => {
                if entry.props.get("vlan-id") != Some(tag.to_string().as_str()) {
                    return false;
                }
                let parent = entry.props.get("interface").unwrap_or("");
                match self.interface_kind(parent) {
                    Some(("/interface/bridge", bridge)) => {
                        Self::enabled(bridge) && self.bridge_carries(bridge, bridge_port, Some(tag))
                    }
                    Some((_, p)) => Self::enabled(p) && parent == ingress && bridge_port.is_none(),
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// Whether `bridge` passes the client's frames (untagged or `tag`) from `port` to the
    /// bridge's own interface, honouring `vlan-filtering`.
    fn bridge_carries(&self, bridge: &Entry, port: Option<&Entry>, tag: Option<u16>) -> bool {
        let Some(port) = port else { return false };
        let name = bridge.props.get("name").unwrap_or("");
        if port.props.get("bridge") != Some(name) {
            return false;
        }
        if bridge.props.get("vlan-filtering") != Some("true") {
            return true;
        }
        let port_iface = port.props.get("interface").unwrap_or("");
        let pvid: u16 = port
            .props
            .get("pvid")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let bridge_pvid: u16 = bridge
            .props
            .get("pvid")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let frame_types = port.props.get("frame-types").unwrap_or("admit-all");
        let vid = match tag {
            None if frame_types == "admit-only-vlan-tagged" => return false,
            None => pvid,
            Some(_) if frame_types == "admit-only-untagged-and-priority-tagged" => return false,
            Some(t) => t,
        };
        let member =
            |list: Option<&str>, who: &str| list.is_some_and(|l| l.split(',').any(|n| n == who));
        let vlan_rows: Vec<&Entry> = self
            .table("/interface/bridge/vlan")
            .iter()
            .filter(|v| {
                Self::enabled(v)
                    && v.props.get("bridge") == Some(name)
                    && vlan_ids_contain(v.props.get("vlan-ids").unwrap_or(""), vid)
            })
            .collect();
        // Ingress filtering: the port must be a member of the VLAN (pvid counts as dynamic untagged).
        let port_member = tag.is_none() && vid == pvid
            || vlan_rows.iter().any(|v| {
                member(v.props.get("tagged"), port_iface)
                    || member(v.props.get("untagged"), port_iface)
            });
        if !port_member && port.props.get("ingress-filtering") != Some("false") {
            return false;
        }
        // The bridge interface itself: untagged when vid is its pvid, else it must be tagged.
        if tag.is_none() {
            vid == bridge_pvid
        } else {
            vlan_rows
                .iter()
                .any(|v| member(v.props.get("tagged"), name))
        }
    }

    /// Walks the input chain for a new TCP connection from the client to the API port.
    fn firewall_allows(&self, mgmt: &Management, client: Ipv4Addr) -> Result<(), String> {
        let port = if self.tls { "443" } else { "80" };
        let svc_port = self
            .table("/ip/service")
            .iter()
            .find(|e| e.props.get("name") == Some(if self.tls { "www-ssl" } else { "www" }))
            .and_then(|e| e.props.get("port"))
            .unwrap_or(port)
            .to_owned();
        let in_iface = self.ingress_l3_name(mgmt);
        for (index, rule) in self.table("/ip/firewall/filter").iter().enumerate() {
            if !Self::enabled(rule) || rule.props.get("chain") != Some("input") {
                continue;
            }
            let mut matches = true;
            for (key, value) in rule.props.iter() {
                let (negated, value) = match value.strip_prefix('!') {
                    Some(v) => (true, v),
                    None => (false, value),
                };
                let hit = match key {
                    "chain" | "action" | "comment" | "disabled" | "log" | "log-prefix" | "reject-with" | "jump-target" => continue,
                    "src-address" => schema::cidr_contains(value, client),
                    "protocol" => value == "tcp" || value == "6",
                    "dst-port" | "port" => value.split(',').any(|p| match p.split_once('-') {
                        Some((a, b)) => (a..=b).contains(&svc_port.as_str()) || matches!((a.parse::<u16>(), b.parse::<u16>(), svc_port.parse::<u16>()), (Ok(a), Ok(b), Ok(s)) if (a..=b).contains(&s)),
                        None => p == svc_port,
                    }),
                    "connection-state" => value.split(',').any(|s| s == "new"),
                    "in-interface" => in_iface.as_deref() == Some(value),
                    "src-address-list" => self.table("/ip/firewall/address-list").iter().any(|e| {
                        Self::enabled(e) && e.props.get("list") == Some(value) && e.props.get("address").is_some_and(|a| schema::cidr_contains(a, client))
                    }),
                    // Matchers the simulator does not evaluate never match.
                    _ => false,
                };
                if hit == negated {
                    matches = false;
                    break;
                }
            }
            if !matches {
                continue;
            }
            match rule.props.get("action").unwrap_or("accept") {
                "accept" => return Ok(()),
                "drop" | "reject" | "tarpit" => {
                    return Err(format!(
                        "/ip/firewall/filter rule {index} (*{:X}) drops the API connection",
                        rule.id
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The L3 interface name the client's packets arrive on (best effort).
    fn ingress_l3_name(&self, mgmt: &Management) -> Option<String> {
        let client = schema::parse_ip(&mgmt.client)?;
        self.table("/ip/address")
            .iter()
            .find(|a| {
                Self::enabled(a)
                    && a.props
                        .get("address")
                        .and_then(schema::parse_cidr)
                        .is_some_and(|(ip, len)| {
                            schema::network_of(ip, len) == schema::network_of(client, len)
                        })
            })
            .and_then(|a| a.props.get("interface").map(str::to_owned))
    }
}

fn vlan_ids_contain(list: &str, vid: u16) -> bool {
    list.split(',').any(|part| {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&vid))
    })
}

/// Decimal, or `0x` hex.
fn parse_int(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Some(hex) = raw.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    raw.parse().ok()
}

/// Splits a script on newlines and on `;` outside quotes and brackets.
fn split_script(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut depth = 0usize;
    let mut escaped = false;
    for c in script.chars() {
        if escaped {
            escaped = false;
            current.push(c);
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            '[' if !quoted => {
                depth += 1;
                current.push(c);
            }
            ']' if !quoted => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            '\n' | ';' if !quoted && depth == 0 => out.push(std::mem::take(&mut current)),
            '\r' if !quoted => {}
            _ => current.push(c),
        }
    }
    out.push(current);
    out
}

/// `/ip/address/add x=1` (v7 script style) → `/ip/address add x=1`; also `/import x.rsc`
/// → `/import add file-name=x.rsc` and `/system/backup/load name=x` → `/system backup add load name=x`
/// so the export parser can read them.
fn glue_v7_verb(line: &str) -> String {
    let (head, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    let segments: Vec<&str> = head.split('/').filter(|s| !s.is_empty()).collect();
    let words: Vec<&str> = rest.split_whitespace().collect();
    let mut all: Vec<&str> = segments.clone();
    let mut consumed = 0;
    for w in &words {
        if w.contains('=')
            || w.starts_with('[')
            || Verb::from_word(w).is_some()
            || w.starts_with('"')
        {
            break;
        }
        all.push(w);
        consumed += 1;
    }
    let tail: String = {
        let mut t = rest;
        for _ in 0..consumed {
            t = t.trim_start();
            t = t.split_once(char::is_whitespace).map_or("", |(_, r)| r);
        }
        t.trim_start().to_owned()
    };
    match all.as_slice() {
        ["import", file] if !file.contains('=') => format!("/import add file-name={file} {tail}"),
        ["import"] => format!("/import add {tail}"),
        ["system", "reset-configuration"] => format!("/system reset-configuration add {tail}"),
        ["system", "backup", action @ ("load" | "save")] => {
            format!("/system backup add {action} {tail}")
        }
        [menu @ .., verb] if Verb::from_word(verb).is_some() && !menu.is_empty() => {
            format!("/{} {verb} {tail}", menu.join(" "))
        }
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue() {
        assert_eq!(
            glue_v7_verb("/ip/address/add address=1.2.3.4/24"),
            "/ip address add address=1.2.3.4/24"
        );
        assert_eq!(
            glue_v7_verb("/import file-name=a.rsc"),
            "/import add file-name=a.rsc"
        );
        assert_eq!(
            glue_v7_verb("/import a.rsc"),
            "/import add file-name=a.rsc "
        );
        assert_eq!(
            glue_v7_verb("/system/backup/load name=x"),
            "/system backup add load name=x"
        );
        assert_eq!(
            glue_v7_verb("/system scheduler remove [find name=x]"),
            "/system scheduler remove [find name=x]"
        );
    }

    #[test]
    fn script_split() {
        assert_eq!(
            split_script("a; b \"x;y\"\n[c;d]"),
            ["a", " b \"x;y\"", "[c;d]"]
        );
    }

    #[test]
    fn calendar() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(days_from_civil(2024, 7, 18) * 86_400, 1_721_260_800);
        assert_eq!(
            wall_clock(Some("jul/18/2024"), "00:00:10"),
            Some(1_721_260_810)
        );
        assert_eq!(
            wall_clock(Some("2024-07-18"), "00:00:10"),
            Some(1_721_260_810)
        );
    }
}
