//! The official PVE API schema (`apidoc.json`), loaded at start-up, and the request
//! validator built on it.
//!
//! Validation follows pve-common's `JSONSchema.pm`: anchored Perl patterns (with `(?^:`
//! rewritten), `additionalProperties: 0`, indexed keys (`net[n]`) expanded with the
//! code-defined index limits, booleans `1`/`0` at the top level, property strings parsed
//! with `default_key`, `alias` and `keyAlias`, and the named formats pve-sync's requests
//! use. Named formats the simulator does not know are accepted (see [`KNOWN_FORMATS`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

use crate::SimError;

/// Per-parameter error messages, as in PVE's `{"errors": {...}}` body.
pub type ParamErrors = BTreeMap<String, String>;

/// One segment of a path template.
#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Placeholder(String),
}

/// One API path with its methods.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The template, e.g. `/nodes/{node}/qemu/{vmid}/config`.
    pub path: String,
    segments: Vec<Segment>,
    /// HTTP method → the method's `info` object (parameters, permissions, returns).
    pub methods: BTreeMap<String, Value>,
}

/// The loaded schema: every path of the apidoc tree (or of the flat subset file).
#[derive(Debug, Clone)]
pub struct Schema {
    endpoints: Vec<Endpoint>,
}

impl Schema {
    /// Loads `pve-8.4-apidoc.json` (tree with `children`) or the flat subset file.
    ///
    /// # Errors
    /// When the file cannot be read or is not an apidoc array.
    pub fn load(path: &Path) -> Result<Self, SimError> {
        let bytes = std::fs::read(path).map_err(|source| SimError::SchemaRead {
            path: path.display().to_string(),
            source,
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| SimError::SchemaParse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_value(&value).ok_or_else(|| SimError::SchemaParse {
            path: path.display().to_string(),
            message: "expected a JSON array of apidoc nodes".to_owned(),
        })
    }

    /// Builds the schema from the parsed apidoc array.
    #[must_use]
    pub fn from_value(value: &Value) -> Option<Self> {
        let nodes = value.as_array()?;
        let mut endpoints = Vec::new();
        for node in nodes {
            flatten(node, &mut endpoints);
        }
        Some(Self { endpoints })
    }

    /// Number of paths known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether no path is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Finds the endpoint for a concrete path (without `/api2/json`), preferring the
    /// template with the most literal segments, and returns the placeholder values.
    #[must_use]
    pub fn route(&self, path: &str) -> Option<(&Endpoint, BTreeMap<String, String>)> {
        let parts: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        let mut best: Option<(&Endpoint, BTreeMap<String, String>, usize)> = None;
        for endpoint in &self.endpoints {
            if endpoint.segments.len() != parts.len() {
                continue;
            }
            let mut vars = BTreeMap::new();
            let mut literals = 0;
            let matched = endpoint
                .segments
                .iter()
                .zip(&parts)
                .all(|(seg, part)| match seg {
                    Segment::Literal(lit) => {
                        literals += 1;
                        lit == part
                    }
                    Segment::Placeholder(name) => {
                        vars.insert(name.clone(), (*part).to_owned());
                        true
                    }
                });
            if matched && best.as_ref().is_none_or(|(_, _, l)| literals > *l) {
                best = Some((endpoint, vars, literals));
            }
        }
        best.map(|(e, v, _)| (e, v))
    }
}

fn flatten(node: &Value, out: &mut Vec<Endpoint>) {
    if let Some(path) = node.get("path").and_then(Value::as_str) {
        let segments = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Segment::Placeholder(name.to_owned())
                } else {
                    Segment::Literal(s.to_owned())
                }
            })
            .collect();
        let methods = node
            .get("info")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        out.push(Endpoint {
            path: path.to_owned(),
            segments,
            methods,
        });
    }
    if let Some(children) = node.get("children").and_then(Value::as_array) {
        for child in children {
            flatten(child, out);
        }
    }
}

/// Named formats the validator checks; every other named format is accepted unchecked.
pub const KNOWN_FORMATS: &[&str] = &[
    "pve-vmid",
    "pve-vmid-list",
    "pve-node",
    "pve-node-list",
    "pve-storage-id",
    "pve-storage-id-list",
    "pve-configid",
    "pve-configid-list",
    "pve-poolid",
    "dns-name",
    "pve-tag-list",
    "mac-addr",
    "ipv4",
    "ipv6",
    "ip",
    "CIDR",
    "CIDRv4",
    "CIDRv6",
    "pve-ipv4-config",
    "pve-ipv6-config",
    "pve-qm-ipconfig",
    "disk-size",
    "urlencoded",
    "pve-volume-id",
    "pve-volume-id-or-qm-path",
    "pve-volume-id-or-absolute-path",
    "pve-bridge-id",
    "pve-storage-content",
    "pve-storage-content-list",
    "pve-ha-resource-or-vm-id",
];

/// Highest index (inclusive) of an indexed option, from qemu-server / pve-container code
/// (the schema only says `[n]`).
fn index_limit(base: &str, lxc: bool) -> u32 {
    match base {
        "net" | "ipconfig" => 31,
        "scsi" => 30,
        "virtio" | "hostpci" => 15,
        "sata" => 5,
        "ide" | "serial" => 3,
        "usb" => 13,
        "parallel" => 2,
        "numa" => 7,
        "virtiofs" => 9,
        "mp" | "unused" | "dev" => 255,
        _ if lxc => 255,
        _ => 255,
    }
}

/// Looks a parameter name up in a `properties` map, expanding `name[n]` keys.
#[must_use]
pub fn lookup_property<'a>(
    props: &'a serde_json::Map<String, Value>,
    key: &str,
    lxc: bool,
) -> Option<&'a Value> {
    if let Some(schema) = props.get(key)
        && !key.ends_with("[n]")
    {
        return Some(schema);
    }
    let digits = key.len() - key.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits == key.len() {
        return None;
    }
    let (base, index) = key.split_at(key.len() - digits);
    if index.len() > 1 && index.starts_with('0') {
        return None;
    }
    let index: u32 = index.parse().ok()?;
    if index > index_limit(base, lxc) {
        return None;
    }
    props.get(&format!("{base}[n]"))
}

/// Validates request parameters against a method's `parameters` schema.
///
/// Returns the parameters with booleans/integers normalised (strings `"1"` → `1`).
///
/// # Errors
/// The PVE-style per-parameter messages.
pub fn validate_params(
    schema: &Value,
    params: &BTreeMap<String, Value>,
    lxc: bool,
) -> Result<BTreeMap<String, Value>, ParamErrors> {
    let mut errors = ParamErrors::new();
    let empty = serde_json::Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = BTreeMap::new();
    for (key, value) in params {
        let Some(prop) = lookup_property(props, key, lxc) else {
            errors.insert(
                key.clone(),
                "property is not defined in schema and the schema does not allow additional properties".to_owned(),
            );
            continue;
        };
        match check_value(prop, value, key, true) {
            Ok(v) => {
                out.insert(key.clone(), v);
            }
            Err(msg) => {
                errors.insert(key.clone(), msg);
            }
        }
    }
    for (key, prop) in props {
        if key.ends_with("[n]") || is_optional(prop) {
            continue;
        }
        if !params.contains_key(key) {
            errors.insert(
                key.clone(),
                "property is missing and it is not optional".to_owned(),
            );
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn is_optional(prop: &Value) -> bool {
    match prop.get("optional") {
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::Bool(b)) => *b,
        _ => false,
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses a boolean the way PVE does: strictly `1`/`0` at the top level, and also
/// `on|off|yes|no|true|false` (any case) inside property strings.
#[must_use]
pub fn parse_bool(value: &Value, top_level: bool) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.as_str() {
            "1" => Some(true),
            "0" => Some(false),
            _ if top_level => None,
            _ => match s.to_ascii_lowercase().as_str() {
                "on" | "yes" | "true" => Some(true),
                "off" | "no" | "false" => Some(false),
                _ => None,
            },
        },
        _ => None,
    }
}

fn parse_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let t = s.strip_prefix('+').unwrap_or(s);
            if !t.is_empty()
                && t.trim_start_matches('-')
                    .chars()
                    .all(|c| c.is_ascii_digit())
                && t != "-"
            {
                t.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

fn parse_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            static RE: OnceLock<Option<Regex>> = OnceLock::new();
            let re = RE
                .get_or_init(|| Regex::new(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$").ok());
            if re.as_ref().is_some_and(|re| re.is_match(s)) {
                s.trim().parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

fn num_field(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        // Integral bound: print without a fraction, like Perl.
        #[allow(clippy::cast_possible_truncation)]
        let i = n as i64;
        i.to_string()
    } else {
        n.to_string()
    }
}

/// Compiles an anchored Perl pattern from the schema (cached).
fn anchored_regex(pattern: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<BTreeMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut guard = cache.lock().ok()?;
    guard
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(&format!("^(?:{})$", pattern.replace("(?^:", "(?:"))).ok())
        .clone()
}

/// Checks one value against a property schema; `path` names it in nested errors.
///
/// # Errors
/// The PVE message for the first failed check.
pub fn check_value(
    schema: &Value,
    value: &Value,
    path: &str,
    top_level: bool,
) -> Result<Value, String> {
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    let text = value_text(value);
    let normalised = match ty {
        "boolean" => match parse_bool(value, top_level) {
            Some(b) => Value::from(i64::from(b)),
            None => return Err(format!("type check ('boolean') failed - got '{text}'")),
        },
        "integer" => {
            let Some(i) = parse_int(value) else {
                return Err(format!("type check ('integer') failed - got '{text}'"));
            };
            #[allow(clippy::cast_precision_loss)]
            check_range(schema, i as f64)?;
            Value::from(i)
        }
        "number" => {
            let Some(n) = parse_number(value) else {
                return Err(format!("type check ('number') failed - got '{text}'"));
            };
            check_range(schema, n)?;
            value.clone()
        }
        "string" => {
            if matches!(value, Value::Array(_) | Value::Object(_) | Value::Null) {
                return Err(format!("type check ('string') failed - got '{text}'"));
            }
            Value::String(text.clone())
        }
        "array" | "object" => value.clone(),
        _ => value.clone(),
    };
    if ty == "string" {
        let len = text.chars().count();
        if let Some(max) = num_field(schema, "maxLength") {
            #[allow(clippy::cast_precision_loss)]
            if len as f64 > max {
                return Err(format!(
                    "value may only be {} characters long",
                    fmt_num(max)
                ));
            }
        }
        if let Some(min) = num_field(schema, "minLength") {
            #[allow(clippy::cast_precision_loss)]
            if (len as f64) < min {
                return Err(format!(
                    "value must be at least {} characters long",
                    fmt_num(min)
                ));
            }
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        let allowed: Vec<String> = options.iter().map(value_text).collect();
        if !allowed.contains(&text) {
            return Err(format!(
                "value '{text}' does not have a value in the enumeration '{}'",
                allowed.join(", ")
            ));
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match anchored_regex(pattern) {
            Some(re) if re.is_match(&text) => {}
            Some(_) => return Err("value does not match the regex pattern".to_owned()),
            None => {}
        }
    }
    match schema.get("format") {
        Some(Value::String(name)) => {
            check_named_format(name, &text)
                .map_err(|detail| format!("invalid format - {detail}"))?;
        }
        Some(Value::Object(format)) => {
            if let Err(errors) = parse_property_string(format, &text, path) {
                let lines: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                return Err(format!(
                    "invalid format - format error\n{}\n",
                    lines.join("\n")
                ));
            }
        }
        _ => {}
    }
    Ok(normalised)
}

fn check_range(schema: &Value, n: f64) -> Result<(), String> {
    if let Some(min) = num_field(schema, "minimum")
        && n < min
    {
        return Err(format!(
            "value must have a minimum value of {}",
            fmt_num(min)
        ));
    }
    if let Some(max) = num_field(schema, "maximum")
        && n > max
    {
        return Err(format!(
            "value must have a maximum value of {}",
            fmt_num(max)
        ));
    }
    Ok(())
}

/// Parses a property string (`key=value,...`) with an inline format, like
/// `PVE::JSONSchema::parse_property_string`, returning canonical key → value (aliases
/// resolved, booleans as `1`/`0`).
///
/// # Errors
/// `"<path>.<key>" → message` for every problem.
pub fn parse_property_string(
    format: &serde_json::Map<String, Value>,
    data: &str,
    path: &str,
) -> Result<BTreeMap<String, String>, ParamErrors> {
    let mut errors = ParamErrors::new();
    let mut res: BTreeMap<String, String> = BTreeMap::new();
    let default_key = format
        .iter()
        .find(|(_, v)| v.get("default_key").and_then(Value::as_i64) == Some(1))
        .map(|(k, _)| k.clone());
    for part in data.split(',') {
        if part.is_empty() {
            continue;
        }
        if let Some((k, v)) = part.split_once('=') {
            let mut key = k.to_owned();
            let mut value = v.to_owned();
            if let Some(schema) = format.get(&key) {
                if let Some(alias) = schema.get("alias").and_then(Value::as_str) {
                    if let Some(key_alias) = schema.get("keyAlias").and_then(Value::as_str) {
                        if res.contains_key(key_alias) {
                            errors.insert(
                                format!("{path}.{key_alias}"),
                                format!(
                                    "duplicate key in comma-separated list property: {key_alias}"
                                ),
                            );
                        }
                        res.insert(key_alias.to_owned(), key.clone());
                    }
                    key = alias.to_owned();
                }
            } else {
                errors.insert(
                    format!("{path}.{key}"),
                    format!("invalid key in comma-separated list property: {key}"),
                );
                continue;
            }
            if res.contains_key(&key) {
                errors.insert(
                    format!("{path}.{key}"),
                    format!("duplicate key in comma-separated list property: {key}"),
                );
                continue;
            }
            if let Some(schema) = format.get(&key) {
                match check_value(
                    schema,
                    &Value::String(value.clone()),
                    &format!("{path}.{key}"),
                    false,
                ) {
                    Ok(v) => value = value_text(&v),
                    Err(msg) => {
                        errors.insert(format!("{path}.{key}"), msg);
                    }
                }
            }
            res.insert(key, value);
        } else if let Some(dk) = &default_key {
            if res.contains_key(dk) {
                errors.insert(
                    format!("{path}.{dk}"),
                    format!("duplicate key in comma-separated list property: {dk}"),
                );
                continue;
            }
            let mut value = part.to_owned();
            if let Some(schema) = format.get(dk) {
                match check_value(
                    schema,
                    &Value::String(value.clone()),
                    &format!("{path}.{dk}"),
                    false,
                ) {
                    Ok(v) => value = value_text(&v),
                    Err(msg) => {
                        errors.insert(format!("{path}.{dk}"), msg);
                    }
                }
            }
            res.insert(dk.clone(), value);
        } else {
            errors.insert(
                path.to_owned(),
                "value without key, but schema does not define a default key".to_owned(),
            );
        }
    }
    for (key, schema) in format {
        if schema.get("alias").is_some() || is_optional(schema) {
            continue;
        }
        if !res.contains_key(key) {
            errors.insert(
                format!("{path}.{key}"),
                "property is missing and it is not optional".to_owned(),
            );
        }
    }
    if errors.is_empty() {
        Ok(res)
    } else {
        Err(errors)
    }
}

fn re(pattern: &str) -> Option<Regex> {
    anchored_regex(pattern)
}

fn matches(pattern: &str, text: &str) -> bool {
    re(pattern).is_some_and(|r| r.is_match(text))
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

fn is_cidr(text: &str, v4: bool, v6: bool) -> bool {
    let Some((addr, mask)) = text.split_once('/') else {
        return false;
    };
    let Ok(mask) = mask.parse::<u8>() else {
        return false;
    };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => v4 && mask <= 32,
        Ok(IpAddr::V6(_)) => v6 && mask <= 128,
        Err(_) => false,
    }
}

/// Checks a named PVE format.
///
/// # Errors
/// The detail text PVE prints after `invalid format - `.
pub fn check_named_format(name: &str, text: &str) -> Result<(), String> {
    if let Some(base) = name.strip_suffix("-list")
        && KNOWN_FORMATS.contains(&base)
        && base != "pve-tag"
    {
        for item in split_list(text) {
            check_named_format(base, item)?;
        }
        return Ok(());
    }
    let ok = match name {
        "pve-vmid" => {
            return if matches(r"[1-9][0-9]{2,8}", text) {
                Ok(())
            } else {
                Err("value does not look like a valid VM ID".to_owned())
            };
        }
        "pve-node" => {
            return if matches(r"(?i:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)", text) {
                Ok(())
            } else {
                Err("value does not look like a valid node name".to_string())
            };
        }
        "pve-storage-id" => {
            return if matches(r"(?i:[a-z][a-z0-9\-_.]*[a-z0-9])", text) {
                Ok(())
            } else {
                Err(format!("storage ID '{text}' contains illegal characters"))
            };
        }
        "pve-configid" => {
            return if matches(r"(?i:[a-z][a-z0-9_-]+)", text) {
                Ok(())
            } else {
                Err(format!("invalid configuration ID '{text}'"))
            };
        }
        "pve-poolid" => {
            return if matches(r"[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+){0,2}", text) {
                Ok(())
            } else {
                Err(format!("invalid pool ID '{text}'"))
            };
        }
        "dns-name" => {
            return if matches(
                r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)\.)*(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)",
                text,
            ) {
                Ok(())
            } else {
                Err("value does not look like a valid DNS name".to_string())
            };
        }
        "pve-tag-list" => {
            for tag in split_list(text) {
                if !matches(r"(?i:[a-z0-9_][a-z0-9_\-+.]*)", tag) {
                    return Err(format!("invalid tag '{tag}'"));
                }
            }
            return Ok(());
        }
        "mac-addr" => {
            return if matches(r"(?i:[a-f0-9][02468ace](?::[a-f0-9]{2}){5})", text) {
                Ok(())
            } else {
                Err("value does not look like a valid unicast MAC address".to_string())
            };
        }
        "ipv4" => text.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<Ipv6Addr>().is_ok(),
        "ip" => text.parse::<IpAddr>().is_ok(),
        "CIDR" => is_cidr(text, true, true),
        "CIDRv4" => is_cidr(text, true, false),
        "CIDRv6" => is_cidr(text, false, true),
        "pve-ipv4-config" => matches!(text, "dhcp" | "manual") || is_cidr(text, true, false),
        "pve-ipv6-config" => {
            matches!(text, "dhcp" | "manual" | "auto") || is_cidr(text, false, true)
        }
        "pve-qm-ipconfig" => return check_ipconfig(text),
        "disk-size" => {
            return if matches(r"\d+(?:\.\d+)?[KMGT]?", text) {
                Ok(())
            } else {
                Err(format!("unable to parse size '{text}'"))
            };
        }
        "urlencoded" => {
            return if matches(r"[-%a-zA-Z0-9_.!~*'()]*", text) {
                Ok(())
            } else {
                Err(format!("value '{text}' is not urlencoded"))
            };
        }
        "pve-volume-id" => {
            return if is_volume_id(text) {
                Ok(())
            } else {
                Err(format!("unable to parse volume ID '{text}'"))
            };
        }
        "pve-volume-id-or-qm-path" | "pve-volume-id-or-absolute-path" => {
            return if is_volume_id(text)
                || text.starts_with('/')
                || matches!(text, "none" | "cdrom")
            {
                Ok(())
            } else {
                Err(format!("unable to parse volume ID '{text}'"))
            };
        }
        "pve-bridge-id" => matches(r"[-_.\w\d]+", text),
        "pve-storage-content" => {
            matches!(
                text,
                "images" | "rootdir" | "vztmpl" | "iso" | "backup" | "snippets" | "import" | "none"
            )
        }
        "pve-ha-resource-or-vm-id" => matches(r"(?:(?:vm|ct):)?[1-9][0-9]{2,8}", text),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("value '{text}' does not match format '{name}'"))
    }
}

fn is_volume_id(text: &str) -> bool {
    matches(r"(?i:[a-z][a-z0-9\-_.]*[a-z0-9]):.+", text)
}

fn check_ipconfig(text: &str) -> Result<(), String> {
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(
                "format error\nvalue without key, but schema does not define a default key"
                    .to_owned(),
            );
        };
        let ok = match k {
            "ip" => v == "dhcp" || is_cidr(v, true, false),
            "gw" => v.parse::<Ipv4Addr>().is_ok(),
            "ip6" => matches!(v, "dhcp" | "auto") || is_cidr(v, false, true),
            "gw6" => v.parse::<Ipv6Addr>().is_ok(),
            _ => {
                return Err(format!(
                    "format error\n{k}: invalid key in comma-separated list property: {k}"
                ));
            }
        };
        if !ok {
            return Err(format!("format error\n{k}: invalid value '{v}'"));
        }
    }
    Ok(())
}

/// A permission this request lacks: `(path, privilege)`.
pub type MissingPermission = (String, String);

/// Evaluates a method's `permissions.check` expression (`perm`, `and`, `or`) with the
/// request parameters substituted into paths. Unknown forms are allowed.
///
/// # Errors
/// The first missing `(path, privilege)`.
pub fn eval_check(
    check: &Value,
    params: &BTreeMap<String, Value>,
    has: &dyn Fn(&str, &str) -> bool,
) -> Result<(), MissingPermission> {
    let Some(items) = check.as_array() else {
        return Ok(());
    };
    match items.first().and_then(Value::as_str) {
        Some("perm") => {
            let raw_path = items.get(1).and_then(Value::as_str).unwrap_or("/");
            let privs: Vec<&str> = items
                .get(2)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut any = false;
            let mut i = 3;
            while i + 1 < items.len() {
                match items[i].as_str() {
                    Some("any") => any = items[i + 1].as_i64() == Some(1),
                    Some("require_param") => {
                        let name = items[i + 1].as_str().unwrap_or_default();
                        if !params.contains_key(name) {
                            return Err((
                                substitute(raw_path, params),
                                privs.first().copied().unwrap_or("").to_owned(),
                            ));
                        }
                    }
                    _ => {}
                }
                i += 2;
            }
            let path = substitute(raw_path, params);
            if any {
                if privs.iter().any(|p| has(&path, p)) {
                    Ok(())
                } else {
                    Err((path, privs.join("|")))
                }
            } else {
                match privs.iter().find(|p| !has(&path, p)) {
                    None => Ok(()),
                    Some(p) => Err((path, (*p).to_owned())),
                }
            }
        }
        Some("and") => {
            for sub in &items[1..] {
                eval_check(sub, params, has)?;
            }
            Ok(())
        }
        Some("or") => {
            let mut first = None;
            for sub in &items[1..] {
                match eval_check(sub, params, has) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        first.get_or_insert(e);
                    }
                }
            }
            first.map_or(Ok(()), Err)
        }
        _ => Ok(()),
    }
}

fn substitute(path: &str, params: &BTreeMap<String, Value>) -> String {
    let mut out = path.to_owned();
    for (k, v) in params {
        out = out.replace(&format!("{{{k}}}"), &value_text(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn indexed_keys_respect_limits() {
        let p =
            props(serde_json::json!({"net[n]": {"type": "string"}, "scsi[n]": {"type":"string"}}));
        assert!(lookup_property(&p, "net0", false).is_some());
        assert!(lookup_property(&p, "net31", false).is_some());
        assert!(lookup_property(&p, "net32", false).is_none());
        assert!(lookup_property(&p, "scsi31", false).is_none());
        assert!(lookup_property(&p, "net01", false).is_none());
        assert!(lookup_property(&p, "net", false).is_none());
    }

    #[test]
    fn booleans_are_strict_at_top_level() {
        let s = serde_json::json!({"type": "boolean"});
        assert!(check_value(&s, &Value::from("1"), "x", true).is_ok());
        assert_eq!(
            check_value(&s, &Value::from("true"), "x", true).unwrap_err(),
            "type check ('boolean') failed - got 'true'"
        );
        assert_eq!(
            check_value(&s, &Value::from("on"), "x", false).unwrap(),
            Value::from(1)
        );
    }

    #[test]
    fn property_string_with_key_alias() {
        let f = props(serde_json::json!({
            "model": {"default_key": 1, "type": "string", "enum": ["virtio", "e1000"]},
            "virtio": {"alias": "macaddr", "keyAlias": "model"},
            "macaddr": {"type": "string", "optional": 1, "format": "mac-addr"},
            "tag": {"type": "integer", "optional": 1, "minimum": 1, "maximum": 4094},
            "firewall": {"type": "boolean", "optional": 1}
        }));
        let r = parse_property_string(&f, "virtio=BC:24:11:00:00:01,tag=10,firewall=true", "net0")
            .unwrap();
        assert_eq!(r["model"], "virtio");
        assert_eq!(r["macaddr"], "BC:24:11:00:00:01");
        assert_eq!(r["firewall"], "1");
        let e = parse_property_string(&f, "virtio,tag=5000", "net0").unwrap_err();
        assert_eq!(e["net0.tag"], "value must have a maximum value of 4094");
        let e = parse_property_string(&f, "virtio,bogus=1", "net0").unwrap_err();
        assert!(e["net0.bogus"].contains("invalid key"));
    }

    proptest::proptest! {
        #[test]
        fn validation_never_panics(key in "[a-z]{1,6}[0-9]{0,3}", value in ".*") {
            let f = props(serde_json::json!({
                "model": {"default_key": 1, "type": "string", "enum": ["virtio"]},
                "virtio": {"alias": "macaddr", "keyAlias": "model"},
                "macaddr": {"type": "string", "optional": 1, "format": "mac-addr"},
                "size": {"type": "string", "optional": 1, "format": "disk-size"},
                "tag": {"type": "integer", "optional": 1, "minimum": 1, "maximum": 4094}
            }));
            let _ = parse_property_string(&f, &value, &key);
            let schema = serde_json::json!({"properties": {
                "net[n]": {"type": "string", "optional": 1, "format": f},
                "vmid": {"type": "integer", "format": "pve-vmid", "minimum": 100},
                "tags": {"type": "string", "optional": 1, "format": "pve-tag-list"},
                "x": {"type": "string", "optional": 1, "pattern": "(?^:[a-z]+)"}
            }});
            let mut params = BTreeMap::new();
            params.insert(key.clone(), Value::String(value.clone()));
            params.insert("vmid".to_owned(), Value::String(value.clone()));
            let _ = validate_params(&schema, &params, false);
            for name in KNOWN_FORMATS {
                let _ = check_named_format(name, &value);
            }
        }
    }
}
