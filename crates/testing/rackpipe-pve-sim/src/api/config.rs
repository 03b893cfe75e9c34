//! Guest config: `{qemu,lxc}/{vmid}/config` and `/pending`, and applying parameters to a config.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::tasks::{TaskSpec, spawn_task};
use super::{
    ApiError, ApiResult, Ctx, check_guest, check_lock_prop, e400, e500, guest_of, wait_flock,
};
use crate::lock;
use crate::schema;
use crate::state::{
    GuestKind, State, format_size, is_disk_key, normalise_tags, parse_size, truthy,
};

fn typed(props: &Map<String, Value>, kind: GuestKind, key: &str, value: &str) -> Value {
    let ty = schema::lookup_property(props, key, kind == GuestKind::Lxc)
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("string");
    match ty {
        "integer" => value
            .parse::<i64>()
            .map_or_else(|_| Value::from(value), Value::from),
        "boolean" => Value::from(i64::from(truthy(Some(&value.to_owned())))),
        "number" => value
            .parse::<f64>()
            .map_or_else(|_| Value::from(value), Value::from),
        _ => Value::from(value),
    }
}

/// Prints a property string in PVE order: default key (bare, or `keyAlias=alias`), then
/// required keys, then the rest alphabetically.
pub(super) fn print_property_string(
    format: &Map<String, Value>,
    map: &BTreeMap<String, String>,
) -> String {
    let mut parts = Vec::new();
    let mut done = BTreeSet::new();
    let default_key = format
        .iter()
        .find(|(_, v)| v.get("default_key").and_then(Value::as_i64) == Some(1))
        .map(|(k, _)| k.clone());
    if let Some(dk) = &default_key
        && let Some(v) = map.get(dk)
    {
        let alias = format
            .values()
            .find(|s| s.get("keyAlias").and_then(Value::as_str) == Some(dk.as_str()))
            .and_then(|s| s.get("alias").and_then(Value::as_str));
        match alias.and_then(|a| map.get(a).map(|av| (a, av))) {
            Some((a, av)) => {
                parts.push(format!("{v}={av}"));
                done.insert(a.to_owned());
            }
            None => parts.push(v.clone()),
        }
        done.insert(dk.clone());
    }
    let required: Vec<&String> = map
        .keys()
        .filter(|k| !done.contains(*k))
        .filter(|k| {
            format
                .get(*k)
                .is_some_and(|s| s.get("optional").and_then(Value::as_i64) != Some(1))
        })
        .collect();
    for k in required {
        parts.push(format!("{k}={}", map[k]));
        done.insert(k.clone());
    }
    for (k, v) in map {
        if !done.contains(k) {
            parts.push(format!("{k}={v}"));
        }
    }
    parts.join(",")
}

fn is_hotpluggable(kind: GuestKind, key: &str) -> bool {
    if kind == GuestKind::Lxc {
        return true;
    }
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    matches!(
        key,
        "name"
            | "tags"
            | "description"
            | "onboot"
            | "protection"
            | "startup"
            | "lock"
            | "hookscript"
            | "ciuser"
            | "cipassword"
            | "sshkeys"
            | "nameserver"
            | "searchdomain"
            | "citype"
            | "ciupgrade"
            | "cicustom"
    ) || is_disk_key(kind, key)
        || matches!(base, "net" | "ipconfig" | "unused")
}

/// The privilege a config key needs (qemu-server / pve-container `check_vm_modify_config_perm`).
fn config_privilege(kind: GuestKind, key: &str) -> &'static str {
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    if is_disk_key(kind, key) || base == "unused" {
        return "VM.Config.Disk";
    }
    match base {
        "net" => "VM.Config.Network",
        "cores" | "sockets" | "cpu" | "cpulimit" | "cpuunits" | "vcpus" | "numa" | "affinity" => {
            "VM.Config.CPU"
        }
        "memory" | "balloon" | "shares" | "swap" => "VM.Config.Memory",
        "ciuser" | "cipassword" | "sshkeys" | "ipconfig" | "nameserver" | "searchdomain"
        | "citype" | "ciupgrade" | "cicustom"
            if kind == GuestKind::Qemu =>
        {
            "VM.Config.Cloudinit"
        }
        _ => "VM.Config.Options",
    }
}

const NON_CONFIG: &[&str] = &[
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "background_delay",
    "force",
    "start",
    "storage",
    "password",
    "ssh-public-keys",
    "ostemplate",
    "pool",
    "unique",
    "restore",
    "ignore-unpack-errors",
    "bwlimit",
    "archive",
    "live-restore",
    "import-working-storage",
    "current",
];

/// Applies config parameters to a guest, normalising like PVE (tags, property strings,
/// sizes, MACs, new disks). `running` decides pending vs direct for QEMU.
#[allow(clippy::too_many_lines)]
pub(super) fn apply_config(
    c: &Ctx,
    st: &mut State,
    kind: GuestKind,
    vmid: u32,
) -> Result<(), ApiError> {
    let props = c.sh.props(kind).clone();
    let lxc = kind == GuestKind::Lxc;
    let Some(guest) = st.guests.get(&vmid) else {
        return Err(e500("guest vanished"));
    };
    let node = guest.node.clone();
    let running = guest.running;
    let deletes: Vec<String> = c
        .s("delete")
        .map(|d| {
            d.split(|ch: char| ch == ',' || ch == ';' || ch.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for d in &deletes {
        if c.p.contains_key(d) {
            return Err(e400(
                "delete",
                format!("cannot set and delete '{d}' at the same time"),
            ));
        }
        if schema::lookup_property(&props, d, lxc).is_none() {
            return Err(e400("delete", format!("unknown option '{d}'")));
        }
    }
    // Privileges per key.
    for key in
        c.p.keys()
            .filter(|k| !NON_CONFIG.contains(&k.as_str()))
            .chain(deletes.iter())
    {
        c.need(&format!("/vms/{vmid}"), config_privilege(kind, key))?;
    }
    let mut changes: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in &c.p {
        if NON_CONFIG.contains(&key.as_str()) {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let schema_for = schema::lookup_property(&props, key, lxc);
        let text = if key == "tags" {
            normalise_tags(&text)
        } else if let Some(format) = schema_for
            .and_then(|s| s.get("format"))
            .and_then(Value::as_object)
        {
            let mut map = schema::parse_property_string(format, &text, key).map_err(|errs| {
                e400(
                    key,
                    format!(
                        "invalid format - {}",
                        errs.values().cloned().collect::<Vec<_>>().join("; ")
                    ),
                )
            })?;
            let base = key.trim_end_matches(|ch: char| ch.is_ascii_digit());
            if base == "net" {
                if let Some(bridge) = map.get("bridge") {
                    c.need(&format!("/sdn/zones/localnetwork/{bridge}"), "SDN.Use")?;
                }
                if lxc {
                    if !map.contains_key("hwaddr") {
                        let mac = st.new_mac();
                        map.insert("hwaddr".to_owned(), mac);
                    }
                    map.entry("type".to_owned())
                        .or_insert_with(|| "veth".to_owned());
                } else if !map.contains_key("macaddr") {
                    let mac = st.new_mac();
                    map.insert("macaddr".to_owned(), mac);
                }
                if let Some(mac) = map.get_mut(if lxc { "hwaddr" } else { "macaddr" }) {
                    *mac = mac.to_ascii_uppercase();
                }
            }
            if is_disk_key(kind, key) {
                allocate_disk(c, st, kind, vmid, &node, key, &mut map)?;
            }
            if let Some(size) = map.get("size").and_then(|s| parse_size(s, 1)) {
                map.insert("size".to_owned(), format_size(size));
            }
            print_property_string(format, &map)
        } else if schema_for
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            == Some("boolean")
        {
            if truthy(Some(&text)) {
                "1".to_owned()
            } else {
                "0".to_owned()
            }
        } else {
            text
        };
        changes.insert(key.clone(), text);
    }
    let Some(guest) = st.guests.get_mut(&vmid) else {
        return Err(e500("guest vanished"));
    };
    let mut freed = Vec::new();
    for (key, value) in changes {
        if running && !is_hotpluggable(kind, &key) {
            guest.pending.insert(key, value);
        } else {
            guest.pending.remove(&key);
            guest.config.insert(key, value);
        }
    }
    for d in deletes {
        if running && !is_hotpluggable(kind, &d) {
            guest.pending_delete.insert(d);
            continue;
        }
        let Some(old) = guest.config.remove(&d) else {
            continue;
        };
        if is_disk_key(kind, &d) && !old.contains("media=cdrom") {
            let volid = old
                .split(',')
                .next()
                .unwrap_or_default()
                .trim_start_matches("volume=")
                .to_owned();
            if let Some(slot) = (0..256)
                .map(|n| format!("unused{n}"))
                .find(|k| !guest.config.contains_key(k))
            {
                guest.config.insert(slot, volid);
            }
        } else if d.starts_with("unused") {
            freed.push(old);
        }
    }
    for volid in freed {
        st.remove_volume(&node, &volid);
    }
    Ok(())
}

fn allocate_disk(
    c: &Ctx,
    st: &mut State,
    kind: GuestKind,
    vmid: u32,
    node: &str,
    key: &str,
    map: &mut BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let file_key = if kind == GuestKind::Lxc {
        "volume"
    } else {
        "file"
    };
    let Some(file) = map.get(file_key).cloned() else {
        return Ok(());
    };
    let Some((storage, rest)) = file.split_once(':') else {
        return Ok(());
    };
    let content = if kind == GuestKind::Lxc {
        "rootdir"
    } else {
        "images"
    };
    let new_size = if rest == "cloudinit" && kind == GuestKind::Qemu {
        let volid = format!("{storage}:vm-{vmid}-cloudinit");
        st.add_volume(node, &volid, content, 4 << 20, Some(vmid))
            .map_err(e500)?;
        map.insert(file_key.to_owned(), volid);
        map.insert("media".to_owned(), "cdrom".to_owned());
        return Ok(());
    } else if let Ok(gib) = rest.parse::<f64>() {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut bytes = (gib * f64::from(1u32 << 30)) as u64;
        if let Some(src) = map.remove("import-from") {
            bytes = st
                .find_volume(node, &src)
                .map(|v| v.size)
                .ok_or_else(|| e500(format!("{key}: import-from volume '{src}' does not exist")))?;
        }
        bytes
    } else {
        return Ok(());
    };
    let Some(spec) = st.storage(storage) else {
        return Err(e500(format!("storage '{storage}' does not exist")));
    };
    if !spec.content.iter().any(|ct| ct == content) {
        return Err(e500(format!(
            "storage '{storage}' does not support content-type '{content}'"
        )));
    }
    c.need(&format!("/storage/{storage}"), "Datastore.AllocateSpace")?;
    let volid = st.new_disk_name(node, storage, vmid);
    st.add_volume(node, &volid, content, new_size, Some(vmid))
        .map_err(e500)?;
    map.insert(file_key.to_owned(), volid);
    map.insert("size".to_owned(), format_size(new_size));
    Ok(())
}

pub(super) fn get_config(c: &Ctx, kind: GuestKind) -> ApiResult {
    let (node, vmid) = (c.req("node"), c.vmid());
    let st = lock(&c.sh.state);
    check_guest(&st, kind, &node, vmid)?;
    let g = guest_of(&st, vmid)?;
    let props = c.sh.props(kind);
    let mut merged = g.config.clone();
    if !c.b("current") {
        for (k, v) in &g.pending {
            merged.insert(k.clone(), v.clone());
        }
        for k in &g.pending_delete {
            merged.remove(k);
        }
    }
    let mut out = Map::new();
    for (k, v) in &merged {
        out.insert(k.clone(), typed(props, kind, k, v));
    }
    out.insert("digest".to_owned(), json!(g.digest()));
    Ok(Value::Object(out))
}

pub(super) fn get_pending(c: &Ctx, kind: GuestKind) -> ApiResult {
    let (node, vmid) = (c.req("node"), c.vmid());
    let st = lock(&c.sh.state);
    check_guest(&st, kind, &node, vmid)?;
    let g = guest_of(&st, vmid)?;
    let props = c.sh.props(kind);
    let keys: BTreeSet<&String> = g
        .config
        .keys()
        .chain(g.pending.keys())
        .chain(g.pending_delete.iter())
        .collect();
    Ok(Value::Array(
        keys.into_iter()
            .map(|k| {
                let mut o = json!({"key": k});
                if let Some(v) = g.config.get(k) {
                    o["value"] = typed(props, kind, k, v);
                }
                if let Some(v) = g.pending.get(k) {
                    o["pending"] = typed(props, kind, k, v);
                }
                if g.pending_delete.contains(k) {
                    o["delete"] = json!(1);
                }
                o
            })
            .collect(),
    ))
}

pub(super) async fn set_config(c: &Ctx, kind: GuestKind, is_async: bool) -> ApiResult {
    let (node, vmid) = (c.req("node"), c.vmid());
    if c.b("skiplock") && c.token.tokenid.split('!').next() != Some("root@pam") {
        return Err(e400("skiplock", "Only root may use this option."));
    }
    let mut st = wait_flock(c, kind, &node, vmid).await?;
    check_guest(&st, kind, &node, vmid)?;
    if !c.b("skiplock") {
        check_lock_prop(&st, vmid)?;
    }
    if let Some(digest) = c.s("digest")
        && guest_of(&st, vmid)?.digest() != digest
    {
        return Err(e500(match kind {
            GuestKind::Qemu => "checksum mismatch (file change by other user?)",
            GuestKind::Lxc => {
                "detected modified configuration - file changed by other user? Try again."
            }
        }));
    }
    apply_config(c, &mut st, kind, vmid)?;
    if is_async {
        let spec = TaskSpec {
            node: &node,
            kind: "qmconfig",
            id: vmid.to_string(),
            hold: Some(vmid),
            cleanup_on_fail: false,
            log: vec![format!(
                "update VM {vmid}: -{}",
                c.p.keys().cloned().collect::<Vec<_>>().join(" -")
            )],
        };
        let upid = spawn_task(c, &mut st, spec, Box::new(|_, _| Ok(())));
        return Ok(json!(upid));
    }
    Ok(Value::Null)
}
