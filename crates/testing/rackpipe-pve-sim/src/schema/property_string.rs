//! Property strings (`key=value,...` with an inline format), parsed like
//! `PVE::JSONSchema::parse_property_string`: `default_key`, `alias` and `keyAlias`, every
//! value checked against its own schema.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ParamErrors;
use super::params::{check_value, is_optional, value_text};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
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
}
