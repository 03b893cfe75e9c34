//! Request parameters and values checked against their property schemas the way
//! `PVE::JSONSchema` does: indexed keys (`net[n]`) within the code-defined limits, types
//! with PVE's strict top-level booleans, ranges, enums, anchored Perl patterns, and the
//! property strings and named formats a value may carry.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

use super::ParamErrors;
use super::formats::check_named_format;
use super::property_string::parse_property_string;

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

pub(super) fn is_optional(prop: &Value) -> bool {
    match prop.get("optional") {
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::Bool(b)) => *b,
        _ => false,
    }
}

pub(super) fn value_text(value: &Value) -> String {
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
pub(super) fn anchored_regex(pattern: &str) -> Option<Regex> {
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
}
