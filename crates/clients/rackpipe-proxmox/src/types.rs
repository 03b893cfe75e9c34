//! Typed views of PVE answers. Numbers may arrive as strings and booleans as `0`/`1`,
//! so the deserialisers are lenient.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// QEMU VM or LXC container.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum GuestType {
    /// QEMU/KVM virtual machine (`qemu`).
    Qemu,
    /// LXC container (`lxc`).
    Lxc,
}

impl GuestType {
    /// `qemu` or `lxc`, as in URLs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qemu => "qemu",
            Self::Lxc => "lxc",
        }
    }
}

impl fmt::Display for GuestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a guest lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GuestRef {
    /// Node name.
    pub node: String,
    /// QEMU or LXC.
    pub kind: GuestType,
    /// VMID.
    pub vmid: u32,
}

impl GuestRef {
    /// The API path `/nodes/{node}/{qemu|lxc}/{vmid}`.
    #[must_use]
    pub fn path(&self) -> String {
        format!("/nodes/{}/{}/{}", self.node, self.kind, self.vmid)
    }
}

pub(crate) fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(lenient_u64(d)?.and_then(|v| u32::try_from(v).ok()))
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => crate::normalize::parse_bool(&s).unwrap_or(false),
        _ => false,
    })
}

/// One entry of `GET /cluster/resources`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterResource {
    /// `qemu/100`, `lxc/101`, `storage/pve1/local`, `node/pve1`, `/pool/x`.
    pub id: String,
    /// `qemu`, `lxc`, `storage`, `node`, `pool`, `sdn`.
    #[serde(rename = "type")]
    pub kind: String,
    /// VMID (guests).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub vmid: Option<u32>,
    /// Node.
    #[serde(default)]
    pub node: Option<String>,
    /// Guest name (may be missing right after create).
    #[serde(default)]
    pub name: Option<String>,
    /// `running`, `stopped`, `unknown`, `online`, `available`.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether the guest is a template.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub template: bool,
    /// `;`-joined tags.
    #[serde(default)]
    pub tags: Option<String>,
    /// Config lock (`clone`, `create`, `backup`, ...).
    #[serde(default)]
    pub lock: Option<String>,
    /// Pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// HA state when HA-managed.
    #[serde(default)]
    pub hastate: Option<String>,
    /// Storage id (storage entries).
    #[serde(default)]
    pub storage: Option<String>,
    /// Content types (storage entries).
    #[serde(default)]
    pub content: Option<String>,
    /// Maximum memory in bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxmem: Option<u64>,
    /// Maximum disk in bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxdisk: Option<u64>,
}

impl ClusterResource {
    /// The guest reference, for `qemu`/`lxc` entries.
    #[must_use]
    pub fn guest_ref(&self) -> Option<GuestRef> {
        let kind = match self.kind.as_str() {
            "qemu" => GuestType::Qemu,
            "lxc" => GuestType::Lxc,
            _ => return None,
        };
        Some(GuestRef {
            node: self.node.clone()?,
            kind,
            vmid: self.vmid?,
        })
    }
}

/// A guest config as returned by `GET .../config` (pending values included unless
/// `current=1` was asked), with every value as a string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestConfig {
    /// Key → value (numbers and booleans printed as PVE stores them: `2`, `1`).
    pub values: BTreeMap<String, String>,
    /// SHA-1 of the config file, for optimistic concurrency.
    pub digest: Option<String>,
}

impl GuestConfig {
    pub(crate) fn from_value(value: &Value) -> Option<Self> {
        let map = value.as_object()?;
        let mut out = Self::default();
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
                Value::Null => continue,
                other => other.to_string(),
            };
            if k == "digest" {
                out.digest = Some(text);
            } else {
                out.values.insert(k.clone(), text);
            }
        }
        Some(out)
    }

    /// A value by key.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// One entry of `GET .../pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingItem {
    /// Config key.
    pub key: String,
    /// Current value.
    pub value: Option<String>,
    /// Pending value (applied at next restart).
    pub pending: Option<String>,
    /// Pending deletion.
    pub delete: bool,
}

impl PendingItem {
    pub(crate) fn from_value(v: &Value) -> Option<Self> {
        let text = |x: &Value| match x {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        Some(Self {
            key: v.get("key")?.as_str()?.to_owned(),
            value: v.get("value").and_then(text),
            pending: v.get("pending").and_then(text),
            delete: v.get("delete").and_then(Value::as_i64).unwrap_or(0) > 0,
        })
    }
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, Deserialize)]
pub struct StorageVolume {
    /// Volume id, e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
    pub volid: String,
    /// Format (`raw`, `qcow2`, `tzst`, `iso`...).
    #[serde(default)]
    pub format: Option<String>,
    /// Size in bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub size: Option<u64>,
    /// Owner VMID.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub vmid: Option<u32>,
    /// Content type.
    #[serde(default)]
    pub content: Option<String>,
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskStatus {
    /// The UPID.
    pub upid: String,
    /// `running` or `stopped`.
    pub status: String,
    /// `OK`, `WARNINGS: n`, or the error text, once stopped.
    #[serde(default)]
    pub exitstatus: Option<String>,
    /// Worker type.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Worker id.
    #[serde(default)]
    pub id: Option<String>,
}

impl TaskStatus {
    /// Stopped with `OK` or `WARNINGS: n` (which PVE counts as success).
    #[must_use]
    pub fn succeeded(&self) -> bool {
        self.status == "stopped"
            && self
                .exitstatus
                .as_deref()
                .is_some_and(|e| e == "OK" || e.starts_with("WARNINGS:"))
    }
}

/// A parsed UPID `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    /// The full text.
    pub text: String,
    /// Node that runs the task.
    pub node: String,
    /// Worker type (`qmclone`, `vzcreate`, ...).
    pub kind: String,
    /// Worker id (vmid or file).
    pub id: String,
    /// User or token id.
    pub user: String,
}

impl Upid {
    /// Parses a UPID; `None` when it is not one.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() != 9 || parts[0] != "UPID" || parts[1].is_empty() || !parts[8].is_empty() {
            return None;
        }
        for hex_field in &parts[2..5] {
            if hex_field.is_empty() || !hex_field.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
        }
        Some(Self {
            text: text.to_owned(),
            node: parts[1].to_owned(),
            kind: parts[5].to_owned(),
            id: parts[6].to_owned(),
            user: parts[7].to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upid_parses_real_example() {
        let u =
            Upid::parse("UPID:pve1:0003A1B2:0123ABCD:6650F00D:qmclone:9000:ci@pve!sync:").unwrap();
        assert_eq!(
            (
                u.node.as_str(),
                u.kind.as_str(),
                u.id.as_str(),
                u.user.as_str()
            ),
            ("pve1", "qmclone", "9000", "ci@pve!sync")
        );
        assert!(Upid::parse("UPID:pve1:xyz:1:2:a:b:c:").is_none());
        assert!(Upid::parse("nope").is_none());
    }

    #[test]
    fn resource_accepts_strings_for_numbers() {
        let r: ClusterResource = serde_json::from_value(serde_json::json!({
            "id": "qemu/100", "type": "qemu", "vmid": "100", "node": "pve1", "template": 0, "maxmem": 2147483648u64
        }))
        .unwrap();
        assert_eq!(r.guest_ref().unwrap().path(), "/nodes/pve1/qemu/100");
        assert!(!r.template);
    }

    proptest::proptest! {
        #[test]
        fn upid_parse_never_panics(s in ".*") {
            let _ = Upid::parse(&s);
        }
    }
}
