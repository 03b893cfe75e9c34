//! How desired and observed values are compared (normalised, empty equals absent, only the
//! managed keys) and digested for the plan's freshness check.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

pub(super) fn digest(v: &Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// Normalises for comparison: arrays of scalars sorted, a lone string equals a one-element list.
fn norm(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::Array(vec![Value::String(s.trim().to_owned())]),
        other => norm_inner(other),
    }
}

fn norm_inner(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(norm_inner).collect();
            items.sort_by_key(ToString::to_string);
            Value::Array(items)
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), norm(v))).collect()),
        Value::String(s) => Value::String(s.trim().to_owned()),
        other => other.clone(),
    }
}

pub(super) fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Keys of `desired` whose observed value differs; returns (before, after) of those keys only.
pub(super) fn differences(desired: &Value, observed: &Value) -> Option<(Value, Value)> {
    let mut before = Map::new();
    let mut after = Map::new();
    for (k, want) in desired.as_object().into_iter().flatten() {
        let have = observed.get(k).unwrap_or(&Value::Null);
        let same = if empty(want) && empty(have) {
            true
        } else {
            norm(want) == norm(have)
        };
        if !same {
            before.insert(k.clone(), have.clone());
            after.insert(k.clone(), want.clone());
        }
    }
    (!after.is_empty()).then(|| (Value::Object(before), Value::Object(after)))
}

pub(super) fn body_keys(body: &Value) -> Value {
    body.clone()
}

/// A hex SHA-256 of a PEM text (for the observed state: which CA certificate was seen).
pub(super) fn fingerprint(pem: &str) -> String {
    hex::encode(Sha256::digest(pem.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_compare_only_managed_keys() {
        let want = json!({"a": ["x", "y"], "b": 0, "c": "t"});
        let have = json!({"a": ["y", "x"], "b": null, "c": ["t"], "extra": 5});
        assert!(differences(&want, &have).is_none());
        let have = json!({"a": ["y"], "c": "t"});
        let (before, after) = differences(&want, &have).unwrap();
        assert_eq!(before, json!({"a": ["y"]}));
        assert_eq!(after, json!({"a": ["x", "y"]}));
    }
}
