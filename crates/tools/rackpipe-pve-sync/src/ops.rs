//! What must change on one existing guest, computed from its config the way Proxmox
//! normalises it.

use std::collections::BTreeMap;

use rackpipe_proxmox::normalize::{diff_config, format_size, parse_property_string, parse_size};
use rackpipe_proxmox::{ClusterResource, GuestConfig, GuestType};
use serde_json::{Map, Value, json};

use crate::Error;
use crate::desired::DesiredGuest;

/// A change of the guest's HA resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaOp {
    /// Add it with this state.
    Create(String),
    /// Set its state.
    Update(String),
    /// Remove it (the site no longer wants HA).
    Remove,
}

/// Everything to do on an existing guest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestOps {
    /// Config keys to set (canonical values), new disks included.
    pub set: BTreeMap<String, String>,
    /// Their current values (for the plan).
    pub before: BTreeMap<String, Option<String>>,
    /// Keys to delete (NICs the site removed).
    pub delete: Vec<String>,
    /// Config digest of the read that produced these ops.
    pub digest: Option<String>,
    /// Disk grows: slot → new size (`40G`).
    pub resize: BTreeMap<String, String>,
    /// Current sizes of the disks in `resize`.
    pub resize_from: BTreeMap<String, String>,
    /// Pool to move into.
    pub pool: Option<String>,
    /// HA change.
    pub ha: Option<HaOp>,
    /// `start` or `shutdown`.
    pub power: Option<&'static str>,
}

impl GuestOps {
    /// Nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.delete.is_empty()
            && self.resize.is_empty()
            && self.pool.is_none()
            && self.ha.is_none()
            && self.power.is_none()
    }
}

/// Hides values that must not be printed in full (SSH keys are public but long).
pub(crate) fn shown(key: &str, value: &str) -> Value {
    if key == "sshkeys" {
        let n = rackpipe_proxmox::normalize::decode_percent(value)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
        json!(format!("<{n} ssh keys>"))
    } else {
        json!(value)
    }
}

fn indexed(key: &str, base: &str) -> bool {
    key.strip_prefix(base)
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
}

/// Computes the operations that bring `actual` to `g`.
///
/// # Errors
/// [`Error::Refused`] for a disk shrink or a disk on another storage; [`Error::Site`] for a
/// value that does not parse.
pub fn guest_ops(
    g: &DesiredGuest,
    resource: &ClusterResource,
    config: &GuestConfig,
    ha: &BTreeMap<String, String>,
) -> Result<GuestOps, Error> {
    let field = g.field();
    let mut ops = GuestOps {
        digest: config.digest.clone(),
        ..GuestOps::default()
    };
    let diffs = diff_config(g.kind, &g.config, &config.values).map_err(|e| Error::Site {
        field: field.clone(),
        message: e.to_string(),
    })?;
    for d in diffs {
        ops.before.insert(d.key.clone(), d.before);
        ops.set.insert(d.key, d.after);
    }
    for key in config.values.keys() {
        let managed_family = indexed(key, "net")
            || (g.kind == GuestType::Qemu
                && indexed(key, "ipconfig")
                && g.config.contains_key("ciuser"));
        if managed_family && !g.config.contains_key(key) {
            ops.delete.push(key.clone());
            ops.before
                .insert(key.clone(), config.values.get(key).cloned());
        }
    }
    let volume_key = match g.kind {
        GuestType::Lxc => "volume",
        GuestType::Qemu => "file",
    };
    for (di, d) in g.disks.iter().enumerate() {
        let dfield = format!("{field}.disks[{di}]");
        let Some(actual) = config.values.get(&d.slot) else {
            ops.before.insert(d.slot.clone(), None);
            ops.set.insert(d.slot.clone(), d.create_value());
            continue;
        };
        let map = parse_property_string(g.kind, &d.slot, actual).map_err(|e| Error::Site {
            field: dfield.clone(),
            message: format!("guest {}: cannot parse {}: {e}", g.name, d.slot),
        })?;
        let storage = map
            .get(volume_key)
            .and_then(|v| v.split_once(':'))
            .map_or("", |(s, _)| s);
        if storage != d.storage {
            return Err(Error::Refused {
                field: format!("{dfield}.storage"),
                message: format!(
                    "guest {}: {} is on storage \"{storage}\", the site says \"{}\"; pve-sync does not move disks",
                    g.name, d.slot, d.storage
                ),
            });
        }
        let have = map
            .get("size")
            .and_then(|s| parse_size(s).ok())
            .unwrap_or(0);
        if d.bytes < have {
            return Err(Error::Refused {
                field: format!("{dfield}.size"),
                message: format!(
                    "guest {}: {} is {} and the site asks for {}; disks are never shrunk",
                    g.name,
                    d.slot,
                    format_size(have),
                    format_size(d.bytes)
                ),
            });
        }
        if d.bytes > have {
            ops.resize.insert(d.slot.clone(), format_size(d.bytes));
            ops.resize_from.insert(d.slot.clone(), format_size(have));
        }
        if let Some(mp) = &d.mountpoint
            && map.get("mp") != Some(mp)
        {
            return Err(Error::Refused {
                field: format!("{dfield}.mountpoint"),
                message: format!(
                    "guest {}: {} is mounted at {}, the site says {mp}; change it by hand",
                    g.name,
                    d.slot,
                    map.get("mp").map_or("(none)", String::as_str)
                ),
            });
        }
    }
    if let Some(pool) = &g.pool
        && resource.pool.as_deref() != Some(pool.as_str())
    {
        ops.pool = Some(pool.clone());
    }
    let vmid = resource.vmid.unwrap_or_default();
    let sid = g.ha_sid(vmid);
    let want_state = if g.running { "started" } else { "stopped" };
    match (g.ha, ha.get(&sid)) {
        (true, None) => ops.ha = Some(HaOp::Create(want_state.to_owned())),
        (true, Some(s)) if s != want_state => ops.ha = Some(HaOp::Update(want_state.to_owned())),
        (false, Some(_)) => ops.ha = Some(HaOp::Remove),
        _ => {}
    }
    if !g.ha {
        let running = resource.status.as_deref() == Some("running");
        if g.running && !running {
            ops.power = Some("start");
        } else if !g.running && running {
            ops.power = Some("shutdown");
        }
    }
    Ok(ops)
}

/// Whether `ops` adopt a guest rackpipe did not make: the only change of its tags is adding
/// the ownership tag ([`crate::OWNER_TAG`]). Adoption tags the guest so that, like the
/// guests rackpipe creates, `apply --allow-destroy` deletes it once it leaves the site.
#[must_use]
pub fn adopts(ops: &GuestOps) -> bool {
    ops.set.get("tags").is_some_and(|t| {
        let b = ops
            .before
            .get("tags")
            .cloned()
            .flatten()
            .unwrap_or_default();
        !crate::has_owner_tag(&b)
            && rackpipe_proxmox::normalize::normalize_tags(&format!("{b};{}", crate::OWNER_TAG))
                == *t
    })
}

/// The `before`/`after` objects and human-readable API calls of a guest's ops.
pub(crate) fn describe(
    path: &str,
    ops: &GuestOps,
) -> (Map<String, Value>, Map<String, Value>, Vec<String>) {
    let mut before = Map::new();
    let mut after = Map::new();
    let mut commands = Vec::new();
    if adopts(ops) {
        commands.push(format!(
            "adoption: the guest was not made by rackpipe; its tag `{}` marks it as managed, so apply --allow-destroy deletes it once it leaves the site",
            crate::OWNER_TAG
        ));
    }
    for (k, v) in &ops.set {
        before.insert(
            k.clone(),
            ops.before
                .get(k)
                .and_then(Option::as_deref)
                .map_or(Value::Null, |b| shown(k, b)),
        );
        after.insert(k.clone(), shown(k, v));
    }
    for k in &ops.delete {
        before.insert(
            k.clone(),
            ops.before
                .get(k)
                .and_then(Option::as_deref)
                .map_or(Value::Null, |b| shown(k, b)),
        );
        after.insert(k.clone(), Value::Null);
    }
    if !ops.set.is_empty() || !ops.delete.is_empty() {
        let mut parts: Vec<String> = ops
            .set
            .iter()
            .map(|(k, v)| match shown(k, v) {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        if !ops.delete.is_empty() {
            parts.push(format!("delete={}", ops.delete.join(",")));
        }
        commands.push(format!(
            "PUT {path}/config {} (digest-checked)",
            parts.join(" ")
        ));
    }
    for (slot, size) in &ops.resize {
        before.insert(
            format!("{slot}.size"),
            ops.resize_from.get(slot).map_or(Value::Null, |s| json!(s)),
        );
        after.insert(format!("{slot}.size"), json!(size));
        commands.push(format!("PUT {path}/resize disk={slot} size={size}"));
    }
    if let Some(pool) = &ops.pool {
        after.insert("pool".into(), json!(pool));
        commands.push(format!("PUT /pools poolid={pool} vms=<vmid> allow-move=1"));
    }
    match &ops.ha {
        Some(HaOp::Create(s)) => {
            after.insert("ha".into(), json!(s));
            commands.push(format!("POST /cluster/ha/resources state={s}"));
        }
        Some(HaOp::Update(s)) => {
            after.insert("ha".into(), json!(s));
            commands.push(format!("PUT /cluster/ha/resources/<sid> state={s}"));
        }
        Some(HaOp::Remove) => {
            after.insert("ha".into(), Value::Null);
            commands.push("DELETE /cluster/ha/resources/<sid>".into());
        }
        None => {}
    }
    if let Some(p) = ops.power {
        after.insert(
            "status".into(),
            json!(if p == "start" { "running" } else { "stopped" }),
        );
        commands.push(format!("POST {path}/status/{p}"));
    }
    (before, after, commands)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{DesiredDisk, DesiredSource};

    fn guest() -> DesiredGuest {
        let mut config = BTreeMap::new();
        config.insert("cores".to_owned(), "2".to_owned());
        config.insert("tags".to_owned(), "Web;db;web".to_owned());
        config.insert(
            "net0".to_owned(),
            "name=eth0,bridge=vmbr0,hwaddr=bc:24:11:aa:00:01,ip=dhcp,type=veth,firewall=1,tag=10"
                .to_owned(),
        );
        DesiredGuest {
            index: 4,
            name: "ct-a".into(),
            kind: GuestType::Lxc,
            vmid: Some(201),
            node: "pve1".into(),
            pool: None,
            config,
            create_only: BTreeMap::new(),
            disks: vec![DesiredDisk {
                slot: "rootfs".into(),
                storage: "local-lvm".into(),
                bytes: 8 << 30,
                mountpoint: None,
            }],
            source: DesiredSource::Clone {
                vmid: 1,
                full: true,
            },
            running: true,
            ha: false,
            addresses: BTreeMap::new(),
        }
    }

    fn actual(rootfs: &str) -> (ClusterResource, GuestConfig) {
        let r: ClusterResource = serde_json::from_value(json!({
            "id": "lxc/201", "type": "lxc", "vmid": 201, "node": "pve1", "status": "running"
        }))
        .unwrap();
        let mut c = GuestConfig::default();
        for (k, v) in [
            ("cores", "2"),
            ("tags", "db;web"),
            (
                "net0",
                "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:AA:00:01,ip=dhcp,tag=10,type=veth",
            ),
            (
                "net1",
                "name=eth1,bridge=vmbr0,hwaddr=BC:24:11:AA:00:02,type=veth",
            ),
            ("rootfs", rootfs),
        ] {
            c.values.insert(k.to_owned(), v.to_owned());
        }
        c.digest = Some("abc".into());
        (r, c)
    }

    #[test]
    fn converged_except_extra_nic() {
        let (r, c) = actual("local-lvm:vm-201-disk-0,size=8G");
        let ops = guest_ops(&guest(), &r, &c, &BTreeMap::new()).unwrap();
        assert!(ops.set.is_empty(), "{:?}", ops.set);
        assert_eq!(ops.delete, vec!["net1".to_owned()]);
        assert_eq!(ops.digest.as_deref(), Some("abc"));
        assert!(ops.resize.is_empty() && ops.power.is_none());
    }

    #[test]
    fn shrink_refused_with_field_path_and_grow_planned() {
        let (r, c) = actual("local-lvm:vm-201-disk-0,size=10G");
        let err = guest_ops(&guest(), &r, &c, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "proxmox.guests[4].disks[0].size: guest ct-a: rootfs is 10G and the site asks for 8G; disks are never shrunk"
        );
        let (r, c) = actual("local-lvm:vm-201-disk-0,size=4G");
        let ops = guest_ops(&guest(), &r, &c, &BTreeMap::new()).unwrap();
        assert_eq!(ops.resize["rootfs"], "8G");
        let (_, _, commands) = describe("/nodes/pve1/lxc/201", &ops);
        assert!(
            commands
                .iter()
                .any(|c| c == "PUT /nodes/pve1/lxc/201/resize disk=rootfs size=8G")
        );
    }

    #[test]
    fn other_storage_refused() {
        let (r, c) = actual("nfs:201/vm-201-disk-0.raw,size=8G");
        let err = guest_ops(&guest(), &r, &c, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("does not move disks"), "{err}");
    }
}
