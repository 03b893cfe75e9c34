//! The mapping: entries of the menus the site models become typed fields where they fit
//! without loss; everything else goes to the generic per-menu section.
//!
//! An entry fits when every property it has is one the typed field holds (or the RouterOS
//! default, e.g. `disabled=no`) and every value parses as the field's type. A live read-back
//! shows every property, defaults included, and does not say which are defaults: there,
//! properties the typed field does not hold are left out (the plan does not compare them),
//! except `comment` and `disabled`, which the plan always compares.
//!
//! The result is then checked twice, and every entry that fails a check goes to the generic
//! section, until both hold: the plan of the typed part against the entries it came from
//! must be empty ([`crate::plan::diff`]), and the site must validate.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::str::FromStr;

use rackpipe_model::Site;
use rackpipe_model::router::{
    Address, AddressListEntry, Bond, BondMode, Bridge, BridgePort, BridgeVlan, Clock, Dhcp,
    DhcpLease, DhcpNetwork, DhcpServer, Dns, DnsRecord, Ethernet, Firewall, FirewallRule,
    FrameTypes, IpService, Management, Menu, MenuEntry, MenuValue, Pool, Router, ServiceName,
    StpMode, SyslogTarget, Vlan, is_menu_path, is_menu_property,
};
use rackpipe_model::types::{Duration, Hostname, Name, RosPropertyName};
use rackpipe_routeros::Props;

use super::secrets::{Secrets, is_secret};
use super::source::{Entry, EntryKind, Source};
use super::{Counts, Error, NotImported, Options, Report};
use crate::plan::{MenuKind, Op, PlanOptions, diff, menu_kind};
use crate::readback::{Observed, ObservedMenu, Row};

/// One entry of the generic section.
#[derive(Debug, Clone, Default)]
pub(crate) struct GenericEntry {
    /// Index of the entry in its source menu.
    pub index: usize,
    /// Properties in router order.
    pub properties: Vec<(String, MenuValue)>,
    /// Why it is here, for the `#` comment.
    pub note: Option<String>,
}

/// One menu of the generic section.
#[derive(Debug, Clone, Default)]
pub(crate) struct GenericMenu {
    /// v7 path.
    pub path: String,
    /// Singleton settings.
    pub settings: Vec<(String, MenuValue)>,
    /// Why the settings are here.
    pub settings_note: Option<String>,
    /// List entries.
    pub entries: Vec<GenericEntry>,
}

/// The import's result before it is written.
#[derive(Debug, Clone)]
pub(crate) struct Mapped {
    pub site: Site,
    /// `#` comments by site path (`router.bridges[0]`).
    pub comments: Vec<(String, String)>,
    /// Lines of the header comment.
    pub header: Vec<String>,
    pub report: Report,
}

/// Index of the settings of a menu among "entries" (for demotion).
const SETTINGS: usize = usize::MAX;

/// Where a typed item came from.
type Origin = (String, usize);

/// Reads one entry's properties into typed values, remembering which it used.
struct Fit<'a> {
    props: &'a Props,
    live: bool,
    used: Vec<String>,
}

fn truthy(v: &str) -> Option<bool> {
    match v {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

impl<'a> Fit<'a> {
    fn new(props: &'a Props, live: bool) -> Self {
        Fit {
            props,
            live,
            used: Vec::new(),
        }
    }

    fn get(&mut self, k: &str) -> Option<&'a str> {
        self.used.push(k.to_owned());
        self.props.get(k)
    }

    /// `k`, left out when it equals the live default `default`.
    fn get_live(&mut self, k: &str, default: &str) -> Option<&'a str> {
        let v = self.get(k)?;
        (!(self.live && v == default)).then_some(v)
    }

    fn req(&mut self, k: &str) -> Result<&'a str, String> {
        self.get(k).ok_or_else(|| format!("no `{k}`"))
    }

    fn parse<T: FromStr>(&mut self, k: &str, v: Option<&str>) -> Result<Option<T>, String> {
        v.map(|v| T::from_str(v).map_err(|_| format!("`{k}={v}` does not fit the typed field")))
            .transpose()
    }

    fn opt<T: FromStr>(&mut self, k: &str) -> Result<Option<T>, String> {
        let v = self.get(k);
        self.parse(k, v)
    }

    fn need<T: FromStr>(&mut self, k: &str) -> Result<T, String> {
        let v = self.req(k)?;
        self.parse(k, Some(v))?.ok_or_else(|| format!("no `{k}`"))
    }

    fn flag(&mut self, k: &str) -> Result<bool, String> {
        match self.get(k) {
            None => Ok(false),
            Some(v) => truthy(v).ok_or_else(|| format!("`{k}={v}` is not yes or no")),
        }
    }

    fn comment(&mut self) -> Option<String> {
        self.get("comment")
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    }

    fn list<T: FromStr>(&mut self, k: &str) -> Result<Vec<T>, String> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(v) => v
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    T::from_str(s).map_err(|_| format!("`{k}={v}` does not fit the typed field"))
                })
                .collect(),
        }
    }

    fn mtu(&mut self) -> Result<Option<u16>, String> {
        match self.get_live("mtu", "1500") {
            None | Some("auto") => Ok(None),
            Some(v) => match v.parse::<u16>() {
                Ok(n) if (68..=9216).contains(&n) => Ok(Some(n)),
                _ => Err(format!("`mtu={v}` does not fit the typed field")),
            },
        }
    }

    /// Every property was used, or is a default, or (live) is one the plan does not compare.
    fn finish(self) -> Result<(), String> {
        for (k, v) in self.props.iter() {
            if self.used.iter().any(|u| u == k) {
                continue;
            }
            let default = match k {
                "disabled" => truthy(v) == Some(false),
                "comment" => v.is_empty(),
                _ => false,
            };
            if default || (self.live && k != "disabled" && k != "comment") {
                continue;
            }
            if k.starts_with('!') {
                return Err(format!(
                    "`{k}` unsets a property; the typed field cannot say so"
                ));
            }
            return Err(format!("`{k}` has no typed field"));
        }
        Ok(())
    }
}

fn enum_word<T: serde::de::DeserializeOwned>(word: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(word.to_owned()))
        .map_err(|_| format!("`{word}` is not a value the typed field knows"))
}

/// `00:30:00` or `30m` → the typed duration (`30m`).
fn duration(v: &str) -> Result<Duration, String> {
    let text = if v.contains(':') {
        let parts: Vec<u64> = v
            .split(':')
            .map(|p| p.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`{v}` is not a duration"))?;
        let [h, m, s] = parts[..] else {
            return Err(format!("`{v}` is not a duration"));
        };
        compact((h * 60 + m) * 60 + s)
    } else {
        v.to_owned()
    };
    Duration::from_str(&text).map_err(|_| format!("`{v}` is not a duration"))
}

fn compact(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// A short description of an entry that never holds a secret (`name=wg0`, `#3`).
fn describe(menu: &str, props: &Props, index: usize) -> String {
    for key in [
        "name",
        "default-name",
        "interface",
        "address",
        "list",
        "comment",
    ] {
        if let Some(v) = props.get(key)
            && !is_secret(menu, key)
            && !v.is_empty()
        {
            return format!("{key}={v}");
        }
    }
    format!("#{}", index + 1)
}

struct Mapper<'s> {
    source: &'s Source,
    live: bool,
    forced: &'s HashMap<Origin, String>,
    forced_menus: &'s HashMap<String, String>,
    secrets: Secrets,
    router: Router,
    generic: Vec<GenericMenu>,
    comments: Vec<(String, String)>,
    origins: Vec<(String, Origin)>,
    counts: Counts,
    choices: Vec<String>,
    not_imported: Vec<NotImported>,
}

impl Mapper<'_> {
    fn entries(&self, path: &str) -> &[Entry] {
        self.source.menu(path).map_or(&[], |m| m.entries.as_slice())
    }

    fn allowed(&self, path: &str, index: usize) -> Result<(), String> {
        if let Some(why) = self.forced_menus.get(path) {
            return Err(why.clone());
        }
        if let Some(why) = self.forced.get(&(path.to_owned(), index)) {
            return Err(why.clone());
        }
        Ok(())
    }

    /// Maps each entry of `path` with `f`; entries it refuses go to the generic section.
    fn each<T>(
        &mut self,
        path: &str,
        kind: EntryKind,
        mut f: impl FnMut(&mut Self, usize, &mut Fit<'_>) -> Result<T, String>,
    ) -> Vec<(usize, T)> {
        let source = self.source;
        let entries = source.menu(path).map_or(&[][..], |m| m.entries.as_slice());
        let mut out = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let result = self.allowed(path, i).and_then(|()| {
                if e.kind != kind {
                    return Err(match e.kind {
                        EntryKind::Existing => "it changes a built-in entry".to_owned(),
                        EntryKind::Add => {
                            "it adds an entry to a menu of built-in entries".to_owned()
                        }
                    });
                }
                if !e.flags.is_empty() {
                    return Err(format!("bare flag `{}`", e.flags.join(" ")));
                }
                let mut fit = Fit::new(&e.props, self.live);
                let value = f(self, i, &mut fit)?;
                fit.finish()?;
                Ok(value)
            });
            match result {
                Ok(v) => {
                    self.counts.typed += 1;
                    out.push((i, v));
                }
                Err(reason) => self.generic_entry(path, i, e, Some(reason)),
            }
        }
        out
    }

    fn generic_menu(&mut self, path: &str) -> &mut GenericMenu {
        if let Some(i) = self.generic.iter().position(|m| m.path == path) {
            return &mut self.generic[i];
        }
        self.generic.push(GenericMenu {
            path: path.to_owned(),
            ..GenericMenu::default()
        });
        let last = self.generic.len() - 1;
        &mut self.generic[last]
    }

    fn values(
        &mut self,
        path: &str,
        props: &Props,
        entry: &str,
        line: u32,
    ) -> Vec<(String, MenuValue)> {
        props
            .iter()
            .filter(|(k, _)| is_menu_property(k))
            .map(|(k, v)| {
                let value = if is_secret(path, k) && !v.is_empty() {
                    MenuValue::Secret(self.secrets.reference(path, entry, k, line))
                } else {
                    MenuValue::Text(v.to_owned())
                };
                (k.to_owned(), value)
            })
            .collect()
    }

    fn not_imported(&mut self, path: &str, line: u32, reason: String) {
        self.counts.not_imported += 1;
        self.not_imported.push(NotImported {
            menu: path.to_owned(),
            line,
            reason,
        });
    }

    fn generic_entry(&mut self, path: &str, index: usize, e: &Entry, reason: Option<String>) {
        if !crate::MENU_ORDER.contains(&path)
            && let Some(why) = self.forced.get(&(path.to_owned(), index))
        {
            let why = why.replace("as a typed field", "in the generic section");
            return self.not_imported(path, e.line, why);
        }
        if crate::MENU_ORDER.contains(&path) {
            // A menu the typed fields manage cannot also be a generic one.
            let reason = reason.unwrap_or_else(|| "the typed fields do not hold it".to_owned());
            return self.not_imported(path, e.line, format!("not typed: {reason}"));
        }
        if !is_menu_path(path) {
            return self.not_imported(
                path,
                e.line,
                "the menu's name is not one a site can hold".to_owned(),
            );
        }
        let mut props = e.props.clone();
        for flag in &e.flags {
            props.insert(flag.as_str(), "yes");
        }
        let dropped: Vec<&str> = props.keys().filter(|k| !is_menu_property(k)).collect();
        let mut notes: Vec<String> = Vec::new();
        if let Some(line) = (e.line > 0).then_some(e.line) {
            notes.push(format!("line {line}"));
        }
        if e.kind == EntryKind::Existing {
            notes.push("changes a built-in entry (the first properties select it)".to_owned());
        }
        if let Some(r) = reason {
            notes.push(format!("not typed: {r}"));
        }
        if !e.flags.is_empty() {
            notes.push(format!(
                "bare flag `{}` written as `=yes`",
                e.flags.join(" ")
            ));
        }
        if !dropped.is_empty() {
            notes.push(format!(
                "left out: {} (an unset is the default for a new entry)",
                dropped.join(" ")
            ));
        }
        let entry = describe(path, &props, index);
        let properties = self.values(path, &props, &entry, e.line);
        if properties.is_empty() {
            return self.not_imported(path, e.line, "an entry without properties".to_owned());
        }
        self.counts.generic += 1;
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        self.generic_menu(path).entries.push(GenericEntry {
            index,
            properties,
            note,
        });
    }

    /// Settings of `path` that the typed fields did not take go to the generic section.
    fn rest_of_settings(&mut self, path: &str, used: &[&str], reason: Option<&str>) -> bool {
        let Some(settings) = self.source.menu(path).and_then(|m| m.settings.clone()) else {
            return false;
        };
        let mut left = Props::new();
        for (k, v) in settings.props.iter() {
            let default = k == "disabled" && truthy(v) == Some(false);
            if used.contains(&k) || default || self.live && reason.is_none() {
                continue;
            }
            left.insert(k, v);
        }
        if left.is_empty() {
            self.counts.typed += settings.commands;
            return false;
        }
        let forced = self
            .forced
            .get(&(path.to_owned(), SETTINGS))
            .filter(|_| !crate::MENU_ORDER.contains(&path))
            .cloned();
        if crate::MENU_ORDER.contains(&path) || !is_menu_path(path) || forced.is_some() {
            let names: Vec<&str> = left.keys().collect();
            let why = forced
                .map(|f| f.replace("as a typed field", "in the generic section"))
                .or_else(|| reason.map(str::to_owned))
                .unwrap_or_else(|| "no typed field".to_owned());
            self.counts.not_imported += settings.commands;
            self.not_imported.push(NotImported {
                menu: path.to_owned(),
                line: settings.line,
                reason: format!("settings {}: {why}", names.join(", ")),
            });
            return true;
        }
        self.counts.generic += settings.commands;
        let values = self.values(path, &left, "settings", settings.line);
        let menu = self.generic_menu(path);
        menu.settings = values;
        menu.settings_note = Some(match reason {
            Some(r) => format!("not typed: {r}"),
            None if used.is_empty() => "no typed field for these settings".to_owned(),
            None => format!("the typed fields hold {}; not these", used.join(", ")),
        });
        true
    }

    fn origin(&mut self, site_path: String, menu: &str, index: usize) {
        self.origins.push((site_path, (menu.to_owned(), index)));
    }

    fn comment(&mut self, site_path: String, text: String) {
        self.comments.push((site_path, text));
    }
}

impl Mapper<'_> {
    fn interfaces(&mut self) {
        let ethernet = self.each("/interface/ethernet", EntryKind::Existing, |_, _, f| {
            let default_name: Name = f.need("default-name")?;
            let name: Option<Name> = f.opt("name")?;
            Ok(Ethernet {
                name: name.filter(|n| *n != default_name),
                default_name,
                comment: f.comment(),
                mtu: f.mtu()?,
                disabled: f.flag("disabled")?,
            })
        });
        for (i, e) in ethernet {
            self.origin(
                format!("router.ethernet[{}]", self.router.ethernet.len()),
                "/interface/ethernet",
                i,
            );
            self.router.ethernet.push(e);
        }
        let bonds = self.each("/interface/bonding", EntryKind::Add, |m, _, f| {
            let mode = match f.get("mode") {
                Some(v) => enum_word::<BondMode>(v)?,
                None => {
                    m.choices
                        .push("a bond without `mode` is balance-rr, RouterOS's default".to_owned());
                    BondMode::BalanceRr
                }
            };
            let slaves: Vec<Name> = f.list("slaves")?;
            if slaves.is_empty() {
                return Err("no `slaves`".to_owned());
            }
            Ok(Bond {
                name: f.need("name")?,
                slaves,
                mode,
                mtu: f.mtu()?,
                comment: f.comment(),
            })
        });
        for (i, b) in bonds {
            self.origin(
                format!("router.bonds[{}]", self.router.bonds.len()),
                "/interface/bonding",
                i,
            );
            self.router.bonds.push(b);
        }
        let bridges = self.each("/interface/bridge", EntryKind::Add, |_, _, f| {
            Ok(Bridge {
                name: f.need("name")?,
                comment: f.comment(),
                vlan_filtering: f.flag("vlan-filtering")?,
                protocol_mode: f
                    .get_live("protocol-mode", "rstp")
                    .map(enum_word::<StpMode>)
                    .transpose()?,
                dhcp_snooping: f.flag("dhcp-snooping")?,
                igmp_snooping: f.flag("igmp-snooping")?,
                mtu: f.mtu()?,
                ports: Vec::new(),
                vlans: Vec::new(),
            })
        });
        for (i, b) in bridges {
            self.origin(
                format!("router.bridges[{}]", self.router.bridges.len()),
                "/interface/bridge",
                i,
            );
            self.router.bridges.push(b);
        }
        let vlans = self.each("/interface/vlan", EntryKind::Add, |_, _, f| {
            Ok(Vlan {
                name: f.need("name")?,
                interface: f.need("interface")?,
                vlan_id: f.need("vlan-id")?,
                comment: f.comment(),
            })
        });
        for (i, v) in vlans {
            self.origin(
                format!("router.vlans[{}]", self.router.vlans.len()),
                "/interface/vlan",
                i,
            );
            self.router.vlans.push(v);
        }
        let bridge_names: Vec<String> = self
            .router
            .bridges
            .iter()
            .map(|b| b.name.to_string())
            .collect();
        let bridge_of = |f: &mut Fit<'_>| -> Result<usize, String> {
            let name = f.req("bridge")?;
            bridge_names
                .iter()
                .position(|b| b == name)
                .ok_or_else(|| format!("its bridge `{name}` is not a typed bridge"))
        };
        let ports = self.each("/interface/bridge/port", EntryKind::Add, |_, _, f| {
            let bridge = bridge_of(f)?;
            let frame_types = f
                .get_live("frame-types", "admit-all")
                .map(enum_word::<FrameTypes>)
                .transpose()?;
            let pvid = f.get_live("pvid", "1");
            Ok((
                bridge,
                BridgePort {
                    interface: f.need("interface")?,
                    pvid: f.parse("pvid", pvid)?,
                    frame_types,
                    trusted: f.flag("trusted")?,
                    comment: f.comment(),
                },
            ))
        });
        for (i, (b, p)) in ports {
            let bridge = &mut self.router.bridges[b];
            let path = format!("router.bridges[{b}].ports[{}]", bridge.ports.len());
            bridge.ports.push(p);
            self.origin(path, "/interface/bridge/port", i);
        }
        let vlans = self.each("/interface/bridge/vlan", EntryKind::Add, |_, _, f| {
            let bridge = bridge_of(f)?;
            Ok((
                bridge,
                BridgeVlan {
                    vlan_ids: f.list("vlan-ids")?,
                    tagged: f.list("tagged")?,
                    untagged: f.list("untagged")?,
                    comment: f.comment(),
                },
            ))
        });
        for (i, (b, v)) in vlans {
            if v.vlan_ids.is_empty() {
                continue;
            }
            let bridge = &mut self.router.bridges[b];
            let path = format!("router.bridges[{b}].vlans[{}]", bridge.vlans.len());
            bridge.vlans.push(v);
            self.origin(path, "/interface/bridge/vlan", i);
        }
    }

    fn addressing(&mut self) {
        let addresses = self.each("/ip/address", EntryKind::Add, |_, _, f| {
            let address: rackpipe_model::types::InterfaceAddress = f.need("address")?;
            if let Some(network) = f.get("network")
                && network != address.network().0.addr().to_string()
                && !f.live
            {
                return Err(format!(
                    "`network={network}` is not the address's own network"
                ));
            }
            Ok(Address {
                address,
                interface: f.need("interface")?,
                comment: f.comment(),
            })
        });
        for (i, a) in addresses {
            self.origin(
                format!("router.addresses[{}]", self.router.addresses.len()),
                "/ip/address",
                i,
            );
            self.router.addresses.push(a);
        }
        let pools = self.each("/ip/pool", EntryKind::Add, |_, _, f| {
            let ranges: Vec<rackpipe_model::types::AddressRange> = f.list("ranges")?;
            let text = f.props.get("ranges").unwrap_or_default();
            if ranges.is_empty() || crate::join(&ranges) != text {
                return Err(format!(
                    "`ranges={text}` is not written the way the typed field writes it"
                ));
            }
            Ok(Pool {
                name: f.need("name")?,
                ranges,
                comment: f.comment(),
            })
        });
        for (i, p) in pools {
            self.origin(
                format!("router.pools[{}]", self.router.pools.len()),
                "/ip/pool",
                i,
            );
            self.router.pools.push(p);
        }
        let default_lease = if self.source.is_v6() { "3d" } else { "30m" };
        let servers = self.each("/ip/dhcp-server", EntryKind::Add, |m, _, f| {
            let pool = match f.get("address-pool") {
                None | Some("static-only") => None,
                Some(p) => Some(Name::from_str(p).map_err(|e| e.to_string())?),
            };
            let lease_time = match f.get("lease-time") {
                Some(v) => duration(v)?,
                None => {
                    m.choices.push(format!(
                        "a DHCP server without `lease-time` gets RouterOS's default, {default_lease}"
                    ));
                    duration(default_lease)?
                }
            };
            Ok(DhcpServer {
                name: f.need("name")?,
                interface: f.need("interface")?,
                pool,
                lease_time,
                dynamic_lease_identifiers: f.get_live("dynamic-lease-identifiers", "client-mac,client-id").map(str::to_owned),
                comment: f.comment(),
            })
        });
        for (i, s) in servers {
            let path = format!("router.dhcp.servers[{}]", self.router.dhcp.servers.len());
            if self.entries("/ip/dhcp-server")[i]
                .props
                .get("lease-time")
                .is_none()
            {
                self.comment(
                    format!("{path}.lease_time"),
                    format!("not in the export: RouterOS's default, {default_lease}"),
                );
            }
            self.origin(path, "/ip/dhcp-server", i);
            self.router.dhcp.servers.push(s);
        }
        let networks = self.each("/ip/dhcp-server/network", EntryKind::Add, |_, _, f| {
            Ok(DhcpNetwork {
                address: f.need("address")?,
                gateway: f.need("gateway")?,
                dns_servers: f.list("dns-server")?,
                ntp_servers: f.list("ntp-server")?,
                domain: f
                    .get("domain")
                    .filter(|d| !d.is_empty())
                    .map(Hostname::from_str)
                    .transpose()
                    .map_err(|e| e.to_string())?,
                comment: f.comment(),
            })
        });
        for (i, n) in networks {
            self.origin(
                format!("router.dhcp.networks[{}]", self.router.dhcp.networks.len()),
                "/ip/dhcp-server/network",
                i,
            );
            self.router.dhcp.networks.push(n);
        }
        let leases = self.each("/ip/dhcp-server/lease", EntryKind::Add, |_, _, f| {
            Ok(DhcpLease {
                server: f
                    .opt("server")?
                    .unwrap_or_else(|| Name::from_str("all").unwrap_or_else(|_| unreachable!())),
                address: f.need("address")?,
                mac: f.need("mac-address")?,
                comment: f.comment(),
            })
        });
        for (i, l) in leases {
            self.origin(
                format!("router.dhcp.leases[{}]", self.router.dhcp.leases.len()),
                "/ip/dhcp-server/lease",
                i,
            );
            self.router.dhcp.leases.push(l);
        }
        self.dns();
        let lists = self.each("/ip/firewall/address-list", EntryKind::Add, |_, _, f| {
            let _ = f.get("creation-time");
            Ok(AddressListEntry {
                list: f.req("list")?.to_owned(),
                address: f.req("address")?.to_owned(),
                comment: f.comment(),
            })
        });
        for (i, a) in lists {
            self.origin(
                format!(
                    "router.firewall.address_lists[{}]",
                    self.router.firewall.address_lists.len()
                ),
                "/ip/firewall/address-list",
                i,
            );
            self.router.firewall.address_lists.push(a);
        }
        for (path, table) in [
            ("/ip/firewall/filter", "filter"),
            ("/ip/firewall/nat", "nat"),
        ] {
            self.rules(path, table);
        }
    }

    fn dns(&mut self) {
        let path = "/ip/dns";
        let settings = self.source.menu(path).and_then(|m| m.settings.clone());
        if let Some(settings) = settings {
            let typed = self.allowed(path, SETTINGS).and_then(|()| {
                let mut f = Fit::new(&settings.props, self.live);
                Ok(Dns {
                    servers: f.list("servers")?,
                    allow_remote_requests: f.flag("allow-remote-requests")?,
                    records: Vec::new(),
                })
            });
            match typed {
                Ok(dns) => {
                    self.origin("router.dns".to_owned(), path, SETTINGS);
                    self.router.dns = dns;
                    self.rest_of_settings(path, &["servers", "allow-remote-requests"], None);
                }
                Err(reason) => {
                    self.rest_of_settings(path, &[], Some(&reason));
                }
            }
        }
        let records = self.each("/ip/dns/static", EntryKind::Add, |_, _, f| {
            if let Some(t) = f.get("type")
                && t != "A"
                && t != "AAAA"
            {
                return Err(format!(
                    "`type={t}`: the typed field holds A and AAAA records"
                ));
            }
            let ttl = f.get_live("ttl", "1d");
            Ok(DnsRecord {
                name: f.need("name")?,
                address: f.need("address")?,
                ttl: ttl.map(duration).transpose()?,
                comment: f.comment(),
            })
        });
        for (i, r) in records {
            self.origin(
                format!("router.dns.records[{}]", self.router.dns.records.len()),
                "/ip/dns/static",
                i,
            );
            self.router.dns.records.push(r);
        }
    }

    fn rules(&mut self, path: &str, table: &str) {
        // The site matches rules by comment: a rule without one of its own cannot be typed
        // (the plan leaves it in place, as an unmanaged rule).
        let entries = self.entries(path);
        let mut count: HashMap<&str, usize> = HashMap::new();
        for e in entries {
            *count
                .entry(e.props.get("comment").unwrap_or_default())
                .or_default() += 1;
        }
        let unique: Vec<bool> = entries
            .iter()
            .map(|e| {
                let c = e.props.get("comment").unwrap_or_default();
                !c.is_empty() && count.get(c) == Some(&1)
            })
            .collect();
        let rules = self.each(path, EntryKind::Add, |m, i, f| {
            let own = unique.get(i).copied().unwrap_or(false);
            if !own {
                return Err(
                    "the site matches rules by comment, and this rule has none of its own"
                        .to_owned(),
                );
            }
            let action = match f.get("action") {
                Some(a) => a.to_owned(),
                None => {
                    m.choices.push(format!(
                        "{path}: a rule without `action` accepts (RouterOS's default)"
                    ));
                    "accept".to_owned()
                }
            };
            let chain = f.req("chain")?.to_owned();
            let comment = f.req("comment")?.to_owned();
            let disabled = f.flag("disabled")?;
            let mut properties = BTreeMap::new();
            for (k, v) in f.props.iter() {
                if ["chain", "action", "comment", "disabled"].contains(&k) {
                    continue;
                }
                if f.live
                    && (["bytes", "packets", "invalid", "dynamic", "builtin"].contains(&k)
                        || (k == "log" && v == "false")
                        || (k == "log-prefix" && v.is_empty()))
                {
                    f.used.push(k.to_owned());
                    continue;
                }
                let key = RosPropertyName::from_str(k)
                    .map_err(|_| format!("`{k}` is not a property name the site accepts"))?;
                f.used.push(k.to_owned());
                properties.insert(key, v.to_owned());
            }
            Ok(FirewallRule {
                comment,
                chain,
                action,
                properties,
                disabled,
            })
        });
        for (i, r) in rules {
            let list = if table == "filter" {
                &mut self.router.firewall.filter
            } else {
                &mut self.router.firewall.nat
            };
            let site_path = format!("router.firewall.{table}[{}]", list.len());
            list.push(r);
            self.origin(site_path, path, i);
        }
    }

    fn system(&mut self) {
        let services = self.each("/ip/service", EntryKind::Existing, |_, _, f| {
            let certificate = f
                .get("certificate")
                .filter(|c| *c != "none" && !c.is_empty())
                .map(str::to_owned);
            Ok(IpService {
                name: enum_word::<ServiceName>(f.req("name")?)?,
                port: f.opt("port")?,
                address: f.list("address")?,
                disabled: f.flag("disabled")?,
                certificate,
            })
        });
        for (i, s) in services {
            self.origin(
                format!("router.services[{}]", self.router.services.len()),
                "/ip/service",
                i,
            );
            self.router.services.push(s);
        }
        self.syslog();
        // Identity: required by the site.
        let identity = self
            .source
            .menu("/system/identity")
            .and_then(|m| m.settings.as_ref())
            .and_then(|s| s.props.get("name").map(str::to_owned));
        match identity {
            Some(name) if Hostname::from_str(&name).is_ok() => self.router.identity = name,
            Some(name) => {
                let fixed = host_name(&name);
                self.comment(
                    "router.identity".to_owned(),
                    "the router's identity is not a host name; renamed (the plan will set it)"
                        .to_owned(),
                );
                self.choices.push(format!(
                    "the identity {name:?} is not a host name; the site names the router {fixed} (the first plan sets it)"
                ));
                self.router.identity = fixed;
            }
            None => {
                self.comment(
                    "router.identity".to_owned(),
                    "not in the export: RouterOS's default name".to_owned(),
                );
                self.router.identity = "MikroTik".to_owned();
            }
        }
        self.rest_of_settings("/system/identity", &["name"], None);
        // Clock and NTP: typed only with a time zone.
        let clock = self
            .source
            .menu("/system/clock")
            .and_then(|m| m.settings.clone());
        let zone = clock
            .as_ref()
            .and_then(|c| c.props.get("time-zone-name").map(str::to_owned))
            .filter(|_| self.allowed("/system/clock", SETTINGS).is_ok());
        let Some(time_zone) = zone else {
            for path in ["/system/clock", "/system/ntp/client", "/system/ntp/server"] {
                self.rest_of_settings(path, &[], Some("the typed clock needs `time-zone-name`"));
            }
            return;
        };
        self.origin("router.clock".to_owned(), "/system/clock", SETTINGS);
        self.rest_of_settings("/system/clock", &["time-zone-name"], None);
        let client = self
            .source
            .menu("/system/ntp/client")
            .and_then(|m| m.settings.clone());
        let mut ntp_servers = Vec::new();
        if let Some(client) =
            client.filter(|_| self.allowed("/system/ntp/client", SETTINGS).is_ok())
        {
            let enabled = client.props.get("enabled").and_then(truthy) == Some(true);
            let servers: Vec<String> = client
                .props
                .get("servers")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if enabled && !servers.is_empty() {
                ntp_servers = servers;
                self.origin(
                    "router.clock.ntp_servers".to_owned(),
                    "/system/ntp/client",
                    SETTINGS,
                );
                self.rest_of_settings("/system/ntp/client", &["enabled", "servers"], None);
            } else {
                self.rest_of_settings(
                    "/system/ntp/client",
                    &[],
                    Some("the typed clock holds an enabled client with `servers`"),
                );
            }
        }
        let server = self
            .source
            .menu("/system/ntp/server")
            .and_then(|m| m.settings.clone());
        let ntp_server = server
            .as_ref()
            .and_then(|s| s.props.get("enabled"))
            .and_then(truthy)
            .unwrap_or(false);
        self.rest_of_settings("/system/ntp/server", &["enabled"], None);
        self.router.clock = Some(Clock {
            time_zone,
            ntp_servers,
            ntp_server,
        });
    }

    fn syslog(&mut self) {
        let targets = self.each("/system/logging/action", EntryKind::Add, |_, _, f| {
            let target = f.req("target")?;
            if target != "remote" {
                return Err(format!(
                    "`target={target}`: the typed syslog holds remote targets"
                ));
            }
            let port = match f.get_live("remote-port", "514") {
                None => 514,
                Some(v) => v
                    .parse::<u16>()
                    .map_err(|_| format!("`remote-port={v}` is not a port"))?,
            };
            Ok(SyslogTarget {
                name: f.need("name")?,
                remote: f.need("remote")?,
                port,
                topics: Vec::new(),
            })
        });
        for (i, t) in targets {
            self.origin(
                format!("router.syslog[{}]", self.router.syslog.len()),
                "/system/logging/action",
                i,
            );
            self.router.syslog.push(t);
        }
        let names: Vec<String> = self
            .router
            .syslog
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        let rules = self.each("/system/logging", EntryKind::Add, |_, _, f| {
            let action = f.get("action").unwrap_or("memory");
            let target = names
                .iter()
                .position(|n| n == action)
                .ok_or_else(|| format!("its action `{action}` is not a typed remote target"))?;
            let topics = f.req("topics")?;
            if topics.contains(',') || topics.is_empty() {
                return Err(format!(
                    "`topics={topics}`: the typed syslog holds one topic per rule"
                ));
            }
            Ok((target, topics.to_owned()))
        });
        for (i, (t, topic)) in rules {
            let target = &mut self.router.syslog[t];
            let path = format!("router.syslog[{t}].topics[{}]", target.topics.len());
            target.topics.push(topic);
            self.origin(path, "/system/logging", i);
        }
    }

    /// Every other menu, and the settings of typed menus nobody took, to the generic section.
    fn the_rest(&mut self) {
        let source = self.source;
        for menu in &source.menus {
            if crate::MENU_ORDER.contains(&menu.path.as_str()) {
                continue;
            }
            if menu.settings.is_some() {
                self.rest_of_settings(&menu.path, &[], None);
            }
            for (i, e) in menu.entries.iter().enumerate() {
                self.generic_entry(&menu.path, i, e, None);
            }
        }
    }

    /// Ethernet ports other typed fields name that the export does not list (it prints only
    /// changed ports): listed with their factory settings, so references resolve.
    fn factory_ports(&mut self) {
        if self.live {
            return;
        }
        let mut defined: HashSet<String> = HashSet::new();
        for e in &self.router.ethernet {
            defined.insert(e.interface_name().to_string());
            defined.insert(e.default_name.to_string());
        }
        for m in &self.source.menus {
            if m.path.starts_with("/interface/") && m.path.matches('/').count() == 2 {
                for e in &m.entries {
                    if let Some(n) = e.props.get("name") {
                        defined.insert(n.to_owned());
                    }
                }
            }
        }
        let r = &self.router;
        let mut wanted: Vec<String> = Vec::new();
        let mut want = |n: &Name| {
            if !wanted.iter().any(|w| w == n.as_str()) {
                wanted.push(n.to_string());
            }
        };
        r.bonds.iter().flat_map(|b| &b.slaves).for_each(&mut want);
        r.bridges
            .iter()
            .flat_map(|b| &b.ports)
            .for_each(|p| want(&p.interface));
        r.vlans.iter().for_each(|v| want(&v.interface));
        r.addresses.iter().for_each(|a| want(&a.interface));
        r.dhcp.servers.iter().for_each(|s| want(&s.interface));
        let factory = |n: &str| {
            ["ether", "sfp", "combo", "qsfp"]
                .iter()
                .any(|p| n.starts_with(p))
        };
        for name in wanted {
            if defined.contains(&name) || !factory(&name) {
                continue;
            }
            let Ok(default_name) = Name::from_str(&name) else {
                continue;
            };
            let path = format!("router.ethernet[{}]", self.router.ethernet.len());
            self.comment(
                path,
                "not in the export (factory settings); listed because other entries name it"
                    .to_owned(),
            );
            self.router.ethernet.push(Ethernet {
                default_name,
                name: None,
                comment: None,
                mtu: None,
                disabled: false,
            });
        }
    }
}

impl Mapper<'_> {
    /// The management ports the services give (validate checks that they agree): SSH, and
    /// the REST port (`www-ssl`), noted when the import reached the router elsewhere.
    fn ports_from_services(&mut self, placeholder: bool) {
        let port = |name: ServiceName| {
            self.router
                .services
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.port)
        };
        let (ssh, https) = (port(ServiceName::Ssh), port(ServiceName::WwwSsl));
        let m = &mut self.router.management;
        if let Some(p) = ssh {
            m.ssh_port = p;
        }
        if let Some(p) = https
            && p != m.rest_port
        {
            if !placeholder {
                self.comments.push((
                    "router.management.rest_port".to_owned(),
                    format!(
                        "the router's www-ssl port; the import reached it at port {}",
                        m.rest_port
                    ),
                ));
            }
            m.rest_port = p;
        }
    }
}

/// A host name made of `name` (invalid characters become `-`).
fn host_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let labels: Vec<String> = s
        .split('.')
        .map(|l| l.trim_matches('-').chars().take(63).collect::<String>())
        .filter(|l| !l.is_empty())
        .collect();
    let out = labels.join(".");
    if Hostname::from_str(&out).is_ok() {
        out
    } else {
        "router".to_owned()
    }
}

/// Rows as the plan would read them: the typed entries' own properties, plus the defaults
/// RouterOS reports for the ones an export leaves out.
fn observed_for(source: &Source, site: &Site, origins: &[(String, Origin)]) -> Observed {
    let mut observed = Observed::default();
    let v6 = source.is_v6();
    let fill = |path: &str, props: &mut Props| {
        if source.live {
            return;
        }
        let defaults: &[(&str, &str)] = match path {
            "/interface/ethernet" => &[("disabled", "false")],
            "/interface/bridge" => &[
                ("vlan-filtering", "false"),
                ("dhcp-snooping", "false"),
                ("igmp-snooping", "false"),
            ],
            "/interface/bridge/port" => &[("trusted", "false")],
            "/ip/dns" => &[("allow-remote-requests", "false"), ("servers", "")],
            "/ip/dhcp-server" => &[("lease-time", if v6 { "3d" } else { "30m" })],
            "/ip/firewall/filter" | "/ip/firewall/nat" => &[("action", "accept")],
            "/ip/service" => &[("disabled", "false")],
            "/system/ntp/server" => &[("enabled", "false")],
            _ => &[],
        };
        for (k, v) in defaults {
            if !props.contains(k) {
                props.insert(*k, *v);
            }
        }
        if path == "/interface/ethernet"
            && !props.contains("name")
            && let Some(d) = props.get("default-name").map(str::to_owned)
        {
            props.insert("name", d);
        }
    };
    let push = |observed: &mut Observed, path: &str, id: Option<String>, mut props: Props| {
        fill(path, &mut props);
        let row = Row {
            id,
            builtin: false,
            props,
        };
        match observed.menus.iter_mut().find(|m| m.path == path) {
            Some(m) => m.rows.push(row),
            None => observed.menus.push(ObservedMenu {
                path: path.to_owned(),
                rows: vec![row],
            }),
        }
    };
    let mut done: HashSet<&Origin> = HashSet::new();
    for (_, origin) in origins {
        if !done.insert(origin) {
            continue;
        }
        let (path, index) = origin;
        let Some(menu) = source.menu(path) else {
            continue;
        };
        if *index == SETTINGS {
            if let Some(s) = &menu.settings {
                push(&mut observed, path, None, s.props.clone());
            }
        } else if let Some(e) = menu.entries.get(*index) {
            push(
                &mut observed,
                path,
                Some(format!("*{index}")),
                e.props.clone(),
            );
        }
    }
    // Ports listed with factory settings, and the singletons the typed clock always writes.
    if let Some(r) = &site.router {
        for e in &r.ethernet {
            let known = observed
                .rows("/interface/ethernet")
                .iter()
                .any(|row| row.props.get("default-name") == Some(e.default_name.as_str()));
            if !known {
                push(
                    &mut observed,
                    "/interface/ethernet",
                    Some(format!("*port-{}", e.default_name)),
                    Props::from_pairs([("default-name", e.default_name.as_str())]),
                );
            }
        }
        if r.clock.is_some() && observed.rows("/system/ntp/server").is_empty() {
            let props = source
                .menu("/system/ntp/server")
                .and_then(|m| m.settings.as_ref())
                .map(|s| s.props.clone())
                .unwrap_or_default();
            push(&mut observed, "/system/ntp/server", None, props);
        }
        let identity = source
            .menu("/system/identity")
            .and_then(|m| m.settings.as_ref())
            .map(|s| s.props.clone())
            .unwrap_or_else(|| Props::from_pairs([("name", "MikroTik")]));
        push(&mut observed, "/system/identity", None, identity);
    }
    observed
}

/// Entries (and whole menus) to move out of the typed fields, each with why.
type Problems = (Vec<(Origin, String)>, Vec<(String, String)>);

/// The entries whose typed form does not plan to zero changes against where it came from.
fn plan_problems(source: &Source, site: &Site, origins: &[(String, Origin)]) -> Problems {
    let Ok(desired) = crate::desired(site) else {
        return (Vec::new(), Vec::new());
    };
    let observed = observed_for(source, site, origins);
    let d = diff("import", &desired, &observed, PlanOptions::default());
    let mut entries = Vec::new();
    let mut menus = Vec::new();
    for (op, change) in d.ops.iter().zip(&d.changes) {
        let why = format!(
            "as a typed field it would plan a change: {}",
            change.commands.join("; ")
        );
        match op {
            Op::Set { menu, id, .. } if menu != "/system/identity" => match id
                .as_deref()
                .and_then(|i| i.strip_prefix('*'))
                .and_then(|i| i.parse::<usize>().ok())
            {
                Some(i) => entries.push(((menu.clone(), i), why)),
                None if matches!(menu_kind(menu), MenuKind::Singleton) => {
                    entries.push(((menu.clone(), SETTINGS), why))
                }
                None => menus.push((menu.clone(), why)),
            },
            Op::Set { .. } => {}
            Op::Add { menu, .. } | Op::Move { menu, .. } | Op::Remove { menu, .. } => {
                menus.push((menu.clone(), why))
            }
        }
    }
    (entries, menus)
}

fn placeholder_site(router: Router, name: &str, domain: &str) -> Result<Site, Error> {
    let value = serde_json::json!({
        "apiVersion": "rackpipe/v1",
        "kind": "Site",
        "metadata": { "name": name, "domain": domain },
    });
    let mut site: Site =
        serde_json::from_value(value).map_err(|e| Error::Invalid(e.to_string()))?;
    site.router = Some(router);
    Ok(site)
}

/// One mapping attempt.
struct Attempt {
    site: Site,
    generic_menus: Vec<(String, usize)>,
    not_imported: Vec<NotImported>,
    comments: Vec<(String, String)>,
    origins: Vec<(String, Origin)>,
    counts: Counts,
    choices: Vec<String>,
    secrets: Vec<super::SecretEntry>,
}

fn attempt(
    source: &Source,
    options: &Options,
    forced: &HashMap<Origin, String>,
    forced_menus: &HashMap<String, String>,
) -> Result<Attempt, Error> {
    let mut secrets = Secrets::new(options.secret_prefix.clone());
    let mut comments: Vec<(String, String)> = Vec::new();
    let management = match &options.management {
        Some(m) => Management {
            address: m.address,
            rest_port: m.rest_port,
            ssh_port: 22,
            user: m.user.clone(),
            password: m.password.clone(),
            backup_password: None,
            tls: m.tls.clone(),
        },
        None => {
            comments.push((
                "router.management".to_owned(),
                "placeholder: an export does not say how rackpipe reaches the router; set the address, user and TLS trust".to_owned(),
            ));
            Management {
                address: IpAddr::from([192, 168, 88, 1]),
                rest_port: 443,
                ssh_port: 22,
                user: "admin".to_owned(),
                password: secrets.api_password(),
                backup_password: None,
                tls: None,
            }
        }
    };
    let mut m = Mapper {
        source,
        live: source.live,
        forced,
        forced_menus,
        secrets,
        router: Router {
            identity: String::new(),
            management,
            ethernet: Vec::new(),
            bonds: Vec::new(),
            bridges: Vec::new(),
            vlans: Vec::new(),
            addresses: Vec::new(),
            pools: Vec::new(),
            dhcp: Dhcp::default(),
            dns: Dns::default(),
            firewall: Firewall::default(),
            services: Vec::new(),
            clock: None,
            syslog: Vec::new(),
            menus: Vec::new(),
        },
        generic: Vec::new(),
        comments,
        origins: Vec::new(),
        counts: Counts::default(),
        choices: Vec::new(),
        not_imported: source.not_imported.clone(),
    };
    m.interfaces();
    m.addressing();
    m.system();
    m.the_rest();
    m.factory_ports();
    m.ports_from_services(options.management.is_none());
    m.counts.not_imported += source.not_imported.len();
    m.counts.total = source.total;
    let mut menus = Vec::new();
    for (i, g) in m.generic.iter().enumerate() {
        if let Some(n) = &g.settings_note {
            m.comments
                .push((format!("router.menus[{i}].settings"), n.clone()));
        }
        if !g.settings.is_empty() {
            m.origins.push((
                format!("router.menus[{i}].settings"),
                (g.path.clone(), SETTINGS),
            ));
        }
        for (j, e) in g.entries.iter().enumerate() {
            m.origins.push((
                format!("router.menus[{i}].entries[{j}]"),
                (g.path.clone(), e.index),
            ));
        }
        for (j, e) in g.entries.iter().enumerate() {
            if let Some(n) = &e.note {
                m.comments
                    .push((format!("router.menus[{i}].entries[{j}]"), n.clone()));
            }
        }
        menus.push(Menu {
            path: g.path.clone(),
            settings: g.settings.iter().cloned().collect(),
            entries: g
                .entries
                .iter()
                .map(|e| MenuEntry {
                    properties: e.properties.iter().cloned().collect(),
                })
                .collect(),
        });
    }
    m.router.menus = menus;
    let mut generic_menus: Vec<(String, usize)> = m
        .generic
        .iter()
        .map(|g| {
            (
                g.path.clone(),
                g.entries.len() + usize::from(!g.settings.is_empty()),
            )
        })
        .collect();
    generic_menus.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    let (name, domain) = header_fields(&m.router);
    let site = placeholder_site(m.router.clone(), &name, &domain)?;
    m.comments.push((
        "metadata".to_owned(),
        "placeholders: the router does not know the site's name and domain".to_owned(),
    ));
    Ok(Attempt {
        site,
        generic_menus,
        not_imported: m.not_imported,
        comments: m.comments,
        origins: m.origins,
        counts: m.counts,
        choices: m.choices,
        secrets: m.secrets.entries,
    })
}

/// Site name (from the identity's first label) and domain (the one DHCP domain, if one).
fn header_fields(r: &Router) -> (String, String) {
    let first = r.identity.split('.').next().unwrap_or_default();
    let name = if Name::from_str(first).is_ok() {
        first.to_owned()
    } else {
        "imported".to_owned()
    };
    let mut domains: Vec<String> = r
        .dhcp
        .networks
        .iter()
        .filter_map(|n| n.domain.as_ref().map(ToString::to_string))
        .collect();
    domains.sort();
    domains.dedup();
    let domain = match &domains[..] {
        [one] => one.clone(),
        _ => "example.invalid".to_owned(),
    };
    (name, domain)
}

fn origin_of<'o>(origins: &'o [(String, Origin)], path: &str) -> Option<&'o Origin> {
    origins
        .iter()
        .filter(|(p, _)| {
            path == p
                || path
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .max_by_key(|(p, _)| p.len())
        .map(|(_, o)| o)
}

/// Maps `source`, moving entries to the generic section until the typed part plans to zero
/// changes against its source and the site validates.
pub(crate) fn import(source: &Source, options: &Options) -> Result<Mapped, Error> {
    let mut forced: HashMap<Origin, String> = HashMap::new();
    let mut forced_menus: HashMap<String, String> = HashMap::new();
    let mut last_error = String::new();
    for _ in 0..40 {
        let a = attempt(source, options, &forced, &forced_menus)?;
        let (entries, menus) = plan_problems(source, &a.site, &a.origins);
        if !entries.is_empty() || !menus.is_empty() {
            let before = forced.len() + forced_menus.len();
            for (o, why) in entries {
                forced.entry(o).or_insert(why);
            }
            for (m, why) in menus {
                forced_menus.entry(m).or_insert(why);
            }
            if forced.len() + forced_menus.len() > before {
                continue;
            }
        }
        let header = header(source, &a);
        let yaml = super::yaml::write(&a.site, &a.comments, &header);
        match rackpipe_model::load::load_and_validate("import", yaml.as_bytes()) {
            Ok(_) => return Ok(finish(source, a, header)),
            Err(rackpipe_model::load::LoadError::Invalid { diagnostics, .. }) => {
                let before = forced.len();
                for d in diagnostics.iter().filter(|d| d.is_error()) {
                    // A finding about the router's own fields (its management ports) names
                    // the entry it disagrees with as the related field.
                    let related = d.related.as_ref().map(|r| r.path.as_str());
                    let origin = origin_of(&a.origins, &d.path)
                        .or_else(|| related.and_then(|r| origin_of(&a.origins, r)));
                    if let Some(o) = origin {
                        forced.entry(o.clone()).or_insert_with(|| {
                            format!(
                                "as a typed field it would not validate: {}: {}",
                                d.path, d.message
                            )
                        });
                    }
                }
                last_error = diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map(ToString::to_string)
                    .unwrap_or_default();
                if forced.len() == before {
                    return Err(Error::Invalid(last_error));
                }
            }
            Err(e) => return Err(Error::Invalid(e.to_string())),
        }
    }
    Err(Error::Invalid(last_error))
}

fn header(source: &Source, a: &Attempt) -> Vec<String> {
    let mut h = vec![
        "yaml-language-server: $schema=./site.schema.json".to_owned(),
        "(the schema: `ros-render schema > site.schema.json`)".to_owned(),
        String::new(),
    ];
    let what = match (&source.version, &source.model) {
        (Some(v), Some(m)) => format!(" (RouterOS {v}, {m})"),
        (Some(v), None) => format!(" (RouterOS {v})"),
        _ => String::new(),
    };
    h.push(format!(
        "Imported by `ros-render import` from {}{what}.",
        source.name
    ));
    let c = &a.counts;
    h.push(format!(
        "{} commands: {} in typed fields, {} in router.menus (the generic section), {} not imported.",
        c.total, c.typed, c.generic, c.not_imported
    ));
    if !a.secrets.is_empty() {
        h.push(format!(
            "secret values replaced by references (see the import report; store them before plan): {}",
            a.secrets.len()
        ));
    }
    for n in &a.not_imported {
        let at = if n.line > 0 {
            format!(" line {}", n.line)
        } else {
            String::new()
        };
        h.push(format!("not imported: {}{at}: {}", n.menu, n.reason));
    }
    for choice in &a.choices {
        h.push(format!("choice: {choice}"));
    }
    h
}

fn finish(source: &Source, a: Attempt, header: Vec<String>) -> Mapped {
    let mut choices = a.choices;
    choices.sort();
    choices.dedup();
    Mapped {
        site: a.site,
        comments: a.comments,
        header,
        report: Report {
            source: source.name.clone(),
            routeros_version: source.version.clone(),
            counts: a.counts,
            generic_menus: a.generic_menus,
            secrets: a.secrets,
            choices,
            not_imported: a.not_imported,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_host_names() {
        assert_eq!(duration("00:30:00").unwrap().to_string(), "30m");
        assert_eq!(duration("1d").unwrap().to_string(), "1d");
        assert_eq!(compact(90_061), "1d1h1m1s");
        assert_eq!(host_name("foxden router"), "foxden-router");
        assert_eq!(host_name("!!!"), "router");
    }
}
