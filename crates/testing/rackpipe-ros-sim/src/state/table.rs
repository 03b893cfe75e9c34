//! The generic menu table: resolving, validating and writing rows, and their views.

use std::sync::Arc;
use std::time::Instant;

use rackpipe_routeros::config::{Props, is_internal_id};
use serde_json::{Map, Value};

use super::clock::{civil, now_unix, time_now, today};
use super::keys::{generated_key, public_of};
use super::{ApiError, Entry, Router};
use crate::schema::{self, MenuKind, MenuSpec, Ty};

impl Router {
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
    pub(super) fn normalize(
        &self,
        spec: &MenuSpec,
        name: &str,
        raw: &str,
    ) -> Result<String, ApiError> {
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
            let free =
                spec.generic || (self.lenient && spec.prop(key.trim_start_matches('!')).is_none());
            if free {
                if !rackpipe_routeros::export::is_property_name(key) {
                    return Err(ApiError::bad(format!("unknown parameter {key}")));
                }
                match key.strip_prefix('!') {
                    Some(unset) => {
                        props.remove(unset);
                    }
                    None => {
                        props.insert(key, generic_value(raw));
                    }
                }
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
            let value = match self.normalize(&spec, key, raw) {
                Ok(value) => value,
                // An export from a real router refers to what the simulator lacks (wireless
                // interfaces, certificates): kept as written.
                Err(_) if self.lenient => raw.to_owned(),
                Err(e) => return Err(e),
            };
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
                // A generic menu's names may repeat: the simulator does not know whether the
                // real menu allows it (an export of `/ip/smb/shares` repeats one).
                spec.named && !spec.generic && others().any(|e| e.props.get("name") == Some(name))
            };
            if clash {
                let what = if spec.interface { "interface" } else { "item" };
                return Err(ApiError::bad(format!(
                    "failure: already have {what} with such name"
                )));
            }
        }
        // Loading an export, the real router has accepted the entries already (it allows, for
        // example, two leases for one MAC with different client ids).
        if !spec.unique.is_empty()
            && !self.lenient
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
        // Generic menus, and properties an export gave that the spec lacks: as stored.
        for (key, value) in entry.props.iter() {
            if spec.prop(key).is_none() && !(key == "comment" && value.is_empty()) {
                out.insert(key.to_owned(), Value::String(value.to_owned()));
            }
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
}

/// A generic property's value as RouterOS's REST API shows it: `yes`/`no` as
/// `true`/`false` (the simulator cannot tell booleans from text in a menu it does not model;
/// RouterOS prints every boolean so), anything else as written.
fn generic_value(raw: &str) -> String {
    match raw {
        "yes" => "true".to_owned(),
        "no" => "false".to_owned(),
        other => other.to_owned(),
    }
}

/// Decimal, or `0x` hex.
fn parse_int(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Some(hex) = raw.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    raw.parse().ok()
}
