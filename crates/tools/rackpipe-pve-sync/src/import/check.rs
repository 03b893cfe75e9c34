//! The self-check: imported guests against the configs read, compared the way `plan` does.

use std::collections::{BTreeMap, BTreeSet};

use rackpipe_model::types::SecretRef;
use serde_json::Value;

use crate::OWNER_TAG;
use crate::desired::SecretSource;

/// Takes out of `ops` what adopting a guest rackpipe did not make changes and nothing else:
/// the ownership tag added (absent keys such as `onboot` already compare as PVE's default,
/// see [`rackpipe_proxmox::normalize::absent_value`]). Returns what the first apply will do
/// for them (empty when nothing).
pub(crate) fn adoption(ops: &mut crate::GuestOps) -> String {
    if crate::ops::adopts(ops) {
        ops.set.remove("tags");
        format!("adds the tag `{OWNER_TAG}`")
    } else {
        String::new()
    }
}

/// The SSH keys the import read, by the references it wrote (for the plan check).
pub(crate) struct ReadKeys(pub(crate) BTreeMap<String, String>);

impl SecretSource for ReadKeys {
    fn resolve(
        &self,
        reference: &SecretRef,
        field: &str,
    ) -> Result<rackpipe_secrets::Secret, rackpipe_secrets::Error> {
        self.0
            .get(reference.as_str())
            .map(|k| rackpipe_secrets::Secret::new(k.clone()))
            .ok_or_else(|| {
                rackpipe_secrets::Error::new(
                    field,
                    reference.as_str(),
                    rackpipe_secrets::ErrorKind::Internal("not read by the import".to_owned()),
                )
            })
    }
}

/// The path of the first value where `a` and `b` differ.
pub(crate) fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let null = Value::Null;
                first_difference(
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    format!("{path}.{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}
