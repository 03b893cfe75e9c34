//! The official PVE API schema (`apidoc.json`), loaded at start-up, and the request
//! validator built on it.
//!
//! Validation follows pve-common's `JSONSchema.pm`: anchored Perl patterns (with `(?^:`
//! rewritten), `additionalProperties: 0`, indexed keys (`net[n]`) expanded with the
//! code-defined index limits, booleans `1`/`0` at the top level, property strings parsed
//! with `default_key`, `alias` and `keyAlias`, and the named formats pve-sync's requests
//! use. Named formats the simulator does not know are accepted (see [`KNOWN_FORMATS`]).
//!
//! This module loads the schema and routes a request path to its endpoint; the checks are
//! beside it: `params` (parameters and values against their property schemas),
//! `property_string` (`key=value,...` options), `formats` (the named formats) and
//! `permissions` (a method's `permissions.check`). Their public items are re-exported here.

mod formats;
mod params;
mod permissions;
mod property_string;

pub use formats::{KNOWN_FORMATS, check_named_format};
pub use params::{check_value, lookup_property, parse_bool, validate_params};
pub use permissions::{MissingPermission, eval_check};
pub use property_string::parse_property_string;

use std::collections::BTreeMap;
use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
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
