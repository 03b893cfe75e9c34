//! Guest lifecycle under `/nodes/{node}/{qemu,lxc}`: list, create, clone, resize, power, destroy.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::cluster::guest_resource;
use super::config::{apply_config, print_property_string};
use super::tasks::{TaskSpec, spawn_task};
use super::{
    ApiResult, Ctx, check_guest, check_lock_prop, check_node, e400, e500, guest_of, wait_flock,
};
use crate::lock;
use crate::schema;
use crate::state::{self, GuestKind, format_size, is_disk_key, parse_size, truthy};

pub(super) fn list_guests(c: &Ctx, kind: GuestKind) -> ApiResult {
    let node = c.req("node");
    let st = lock(&c.sh.state);
    check_node(&st, &node)?;
    Ok(Value::Array(
        st.guests
            .iter()
            .filter(|(vmid, g)| g.kind == kind && g.node == node && c.has(&format!("/vms/{vmid}"), "VM.Audit"))
            .map(|(vmid, g)| {
                let r = guest_resource(&st, *vmid, g);
                let mut o = json!({"vmid": vmid, "status": r["status"], "maxmem": r["maxmem"], "cpus": r["maxcpu"],
                    "maxdisk": 0, "uptime": r["uptime"], "cpu": 0, "mem": 0, "disk": 0,
                    "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0});
                for k in ["name", "tags", "lock", "template"] {
                    if let Some(v) = r.get(k) {
                        o[k] = v.clone();
                    }
                }
                if kind == GuestKind::Lxc {
                    o["type"] = json!("lxc");
                    o["maxswap"] = json!(0);
                }
                o
            })
            .collect(),
    ))
}

pub(super) fn guest_index(c: &Ctx, kind: GuestKind) -> ApiResult {
    let st = lock(&c.sh.state);
    check_guest(&st, kind, &c.req("node"), c.vmid())?;
    Ok(json!([{"subdir": "config"}, {"subdir": "pending"}, {"subdir": "status"}]))
}

pub(super) fn create_guest(c: &Ctx, kind: GuestKind) -> ApiResult {
    let (node, vmid) = (c.req("node"), c.vmid());
    c.need(&format!("/vms/{vmid}"), "VM.Allocate")?;
    let mut st = lock(&c.sh.state);
    check_node(&st, &node)?;
    if let Some(g) = st.guests.get(&vmid) {
        let noun = kind.noun();
        return Err(e500(format!(
            "unable to create {noun} {vmid} - {noun} {vmid} already exists on node '{}'",
            g.node
        )));
    }
    if let Some(pool) = c.s("pool")
        && !st.pools.contains_key(&pool)
    {
        return Err(e500(format!("pool '{pool}' does not exist")));
    }
    let mut config = BTreeMap::new();
    if kind == GuestKind::Lxc {
        let ostemplate = c.req("ostemplate");
        if st.find_volume(&node, &ostemplate).is_none() {
            return Err(e500(format!("volume '{ostemplate}' does not exist")));
        }
        let ostype = [
            "debian",
            "ubuntu",
            "alpine",
            "centos",
            "fedora",
            "archlinux",
            "rocky",
            "almalinux",
        ]
        .into_iter()
        .find(|o| ostemplate.contains(o))
        .unwrap_or("unmanaged");
        config.insert("arch".to_owned(), "amd64".to_owned());
        config.insert("ostype".to_owned(), ostype.to_owned());
        config.insert("hostname".to_owned(), format!("CT{vmid}"));
        config.insert("memory".to_owned(), "512".to_owned());
        config.insert("swap".to_owned(), "512".to_owned());
    } else {
        config.insert(
            "meta".to_owned(),
            "creation-qemu=9.2.0,ctime=1717000000".to_owned(),
        );
    }
    config.insert("lock".to_owned(), "create".to_owned());
    st.guests.insert(
        vmid,
        state::Guest {
            kind,
            node: node.clone(),
            config,
            pending: BTreeMap::new(),
            pending_delete: BTreeSet::new(),
            running: false,
            flock: None,
        },
    );
    let mut params = c.p.clone();
    if kind == GuestKind::Lxc && !params.contains_key("rootfs") {
        params.insert(
            "rootfs".to_owned(),
            json!(format!(
                "{}:4",
                c.s("storage").unwrap_or_else(|| "local".to_owned())
            )),
        );
    }
    let sub = Ctx {
        sh: Arc::clone(&c.sh),
        token: c.token.clone(),
        p: params,
    };
    if let Err(e) = apply_config(&sub, &mut st, kind, vmid) {
        st.guests.remove(&vmid);
        return Err(e);
    }
    if let Some(pool) = c.s("pool") {
        st.pools.entry(pool).or_default().members.insert(vmid);
    }
    let start = c.b("start");
    let task_kind = if kind == GuestKind::Lxc {
        "vzcreate"
    } else {
        "qmcreate"
    };
    let spec = TaskSpec {
        node: &node,
        kind: task_kind,
        id: vmid.to_string(),
        hold: Some(vmid),
        cleanup_on_fail: true,
        log: vec![format!("create {} {vmid}", kind.noun())],
    };
    let upid = spawn_task(
        c,
        &mut st,
        spec,
        Box::new(move |st, log| {
            if let Some(g) = st.guests.get_mut(&vmid) {
                g.config.remove("lock");
                if start {
                    g.running = true;
                    log.push("starting guest".to_owned());
                }
            }
            Ok(())
        }),
    );
    Ok(json!(upid))
}

#[allow(clippy::too_many_lines)]
pub(super) fn clone_vm(c: &Ctx) -> ApiResult {
    let (node, vmid) = (c.req("node"), c.vmid());
    let newid = u32::try_from(c.i("newid").unwrap_or(0)).unwrap_or(0);
    let mut st = lock(&c.sh.state);
    check_guest(&st, GuestKind::Qemu, &node, vmid)?;
    let target = c.s("target").unwrap_or_else(|| node.clone());
    check_node(&st, &target)?;
    check_lock_prop(&st, vmid)?;
    if st.guests.contains_key(&newid) {
        return Err(e500(format!(
            "unable to create VM {newid}: config file already exists"
        )));
    }
    if c.sh.strict_clone_locks {
        let busy = st.tasks.values().any(|t| {
            t.running && t.kind == "qmclone" && (t.node == node || t.id == vmid.to_string())
        });
        if busy {
            let storage = guest_of(&st, vmid)?
                .config
                .iter()
                .filter(|(k, _)| is_disk_key(GuestKind::Qemu, k))
                .find_map(|(_, v)| v.split_once(':').map(|(s, _)| s.to_owned()))
                .unwrap_or_else(|| "local".to_owned());
            return Err(e500(format!(
                "can't lock file '/var/lock/pve-manager/pve-storage-{storage}' - got timeout"
            )));
        }
    }
    if let Some(pool) = c.s("pool")
        && !st.pools.contains_key(&pool)
    {
        return Err(e500(format!("pool '{pool}' does not exist")));
    }
    let source = guest_of(&st, vmid)?.clone();
    let is_template = truthy(source.config.get("template"));
    let full = c.i("full").map_or(!is_template, |f| f == 1);
    if !full {
        if !is_template {
            return Err(e500(
                "Linked clone feature is not supported for a VM that is not a template",
            ));
        }
        for p in ["storage", "format"] {
            if c.p.contains_key(p) {
                return Err(e500(format!(
                    "parameter '{p}' not allowed for linked clones"
                )));
            }
        }
    }
    if target != node && !full {
        return Err(e500(
            "Linked clone feature for migrating to another node is not supported",
        ));
    }
    let mut config = BTreeMap::new();
    let mut new_volumes = Vec::new();
    for (key, value) in &source.config {
        if matches!(key.as_str(), "template" | "lock") || key.starts_with("unused") {
            continue;
        }
        let base = key.trim_end_matches(|ch: char| ch.is_ascii_digit());
        let mut value = value.clone();
        if base == "net" {
            let mac = st.new_mac();
            value = value
                .split(',')
                .map(|part| match part.split_once('=') {
                    Some((k, v))
                        if v.len() == 17 && v.matches(':').count() == 5 && k != "bridge" =>
                    {
                        format!("{k}={mac}")
                    }
                    Some(("macaddr", _)) => format!("macaddr={mac}"),
                    _ => part.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(",");
        } else if is_disk_key(GuestKind::Qemu, key) {
            let mut parts: Vec<String> = value.split(',').map(str::to_owned).collect();
            let file = parts.first().cloned().unwrap_or_default();
            if let Some((src_storage, _)) = file.split_once(':') {
                let size = st.find_volume(&node, &file).map_or(0, |v| v.size);
                if file.ends_with("-cloudinit") {
                    let storage = c
                        .s("storage")
                        .filter(|_| full)
                        .unwrap_or_else(|| src_storage.to_owned());
                    let volid = format!("{storage}:vm-{newid}-cloudinit");
                    new_volumes.push((volid.clone(), size));
                    parts[0] = volid;
                } else if !value.contains("media=cdrom") {
                    let storage = c
                        .s("storage")
                        .filter(|_| full)
                        .unwrap_or_else(|| src_storage.to_owned());
                    if st.storage(&storage).is_none() {
                        return Err(e500(format!("storage '{storage}' does not exist")));
                    }
                    let n = new_volumes.len();
                    let name = format!("{storage}:vm-{newid}-disk-{n}");
                    let volid = if full {
                        name
                    } else {
                        let base_name = file.split_once(':').map_or("", |(_, n)| n);
                        format!("{storage}:{base_name}/vm-{newid}-disk-{n}")
                    };
                    new_volumes.push((volid.clone(), size));
                    parts[0] = volid;
                }
            }
            value = parts.join(",");
        }
        config.insert(key.clone(), value);
    }
    config.insert(
        "name".to_owned(),
        c.s("name").unwrap_or_else(|| {
            format!(
                "Copy-of-VM-{}",
                source.config.get("name").cloned().unwrap_or_default()
            )
        }),
    );
    if let Some(d) = c.s("description") {
        config.insert("description".to_owned(), d);
    }
    config.insert("lock".to_owned(), "clone".to_owned());
    for (volid, size) in &new_volumes {
        st.add_volume(&target, volid, "images", *size, Some(newid))
            .map_err(e500)?;
    }
    st.guests.insert(
        newid,
        state::Guest {
            kind: GuestKind::Qemu,
            node: target.clone(),
            config,
            pending: BTreeMap::new(),
            pending_delete: BTreeSet::new(),
            running: false,
            flock: None,
        },
    );
    if let Some(pool) = c.s("pool") {
        st.pools.entry(pool).or_default().members.insert(newid);
    }
    let spec = TaskSpec {
        node: &node,
        kind: "qmclone",
        id: vmid.to_string(),
        hold: Some(newid),
        cleanup_on_fail: true,
        log: vec![format!(
            "create {} clone of drive(s)",
            if full { "full" } else { "linked" }
        )],
    };
    let upid = spawn_task(
        c,
        &mut st,
        spec,
        Box::new(move |st, _| {
            if let Some(g) = st.guests.get_mut(&newid) {
                g.config.remove("lock");
            }
            Ok(())
        }),
    );
    Ok(json!(upid))
}

pub(super) async fn resize(c: &Ctx, kind: GuestKind) -> ApiResult {
    let (node, vmid) = (c.req("node"), c.vmid());
    if c.b("skiplock") && c.token.tokenid.split('!').next() != Some("root@pam") {
        return Err(e400("skiplock", "Only root may use this option."));
    }
    let mut st = wait_flock(c, kind, &node, vmid).await?;
    check_guest(&st, kind, &node, vmid)?;
    check_lock_prop(&st, vmid)?;
    let disk = c.req("disk");
    let size = c.req("size");
    let digest = c.s("digest");
    let props = c.sh.props(kind).clone();
    let spec = TaskSpec {
        node: &node,
        kind: "resize",
        id: vmid.to_string(),
        hold: Some(vmid),
        cleanup_on_fail: false,
        log: vec![format!("resize {disk} to {size}")],
    };
    let upid = spawn_task(
        c,
        &mut st,
        spec,
        Box::new(move |st, log| {
            let g = st
                .guests
                .get(&vmid)
                .ok_or_else(|| format!("VM {vmid} vanished"))?;
            if let Some(d) = digest
                && g.digest() != d
            {
                return Err("checksum mismatch (file change by other user?)".to_owned());
            }
            let value = g
                .config
                .get(&disk)
                .cloned()
                .ok_or_else(|| format!("disk '{disk}' does not exist"))?;
            let format = schema::lookup_property(&props, &disk, kind == GuestKind::Lxc)
                .and_then(|s| s.get("format"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut map = schema::parse_property_string(&format, &value, &disk)
                .map_err(|_| format!("unable to parse {disk}"))?;
            let current = map.get("size").and_then(|s| parse_size(s, 1)).unwrap_or(0);
            let (grow, text) = match size.strip_prefix('+') {
                Some(t) => (true, t),
                None => (false, size.as_str()),
            };
            let amount = parse_size(text, 1).ok_or_else(|| format!("invalid size '{size}'"))?;
            let new = if grow { current + amount } else { amount };
            if new < current {
                return Err(match kind {
                    GuestKind::Qemu => "shrinking disks is not supported".to_owned(),
                    GuestKind::Lxc => "unable to shrink disk size".to_owned(),
                });
            }
            if new == current {
                log.push("size unchanged".to_owned());
                return Ok(());
            }
            map.insert("size".to_owned(), format_size(new));
            let volid = map
                .get(if kind == GuestKind::Lxc {
                    "volume"
                } else {
                    "file"
                })
                .cloned()
                .unwrap_or_default();
            let node = g.node.clone();
            if let Some(v) = st.find_volume_mut(&node, &volid) {
                v.size = new;
            }
            if let Some(g) = st.guests.get_mut(&vmid) {
                g.config
                    .insert(disk.clone(), print_property_string(&format, &map));
            }
            log.push(format!("resized {volid} to {}", format_size(new)));
            Ok(())
        }),
    );
    Ok(json!(upid))
}

pub(super) fn status_current(c: &Ctx, kind: GuestKind) -> ApiResult {
    let (node, vmid) = (c.req("node"), c.vmid());
    let st = lock(&c.sh.state);
    check_guest(&st, kind, &node, vmid)?;
    let g = guest_of(&st, vmid)?;
    let r = guest_resource(&st, vmid, g);
    let sid = format!("{}:{vmid}", kind.ha_prefix());
    let ha = st.ha.get(&sid).map_or_else(
        || json!({"managed": 0}),
        |h| json!({"managed": 1, "state": h.state}),
    );
    let mut o = json!({"vmid": vmid, "status": r["status"], "cpus": r["maxcpu"], "maxmem": r["maxmem"],
        "uptime": r["uptime"], "ha": ha, "cpu": 0, "mem": 0, "disk": 0, "maxdisk": 0});
    if kind == GuestKind::Qemu {
        o["qmpstatus"] = r["status"].clone();
    }
    for k in ["name", "tags", "lock", "template"] {
        if let Some(v) = r.get(k) {
            o[k] = v.clone();
        }
    }
    Ok(o)
}

pub(super) async fn power(c: &Ctx, kind: GuestKind, action: &'static str) -> ApiResult {
    let (node, vmid) = (c.req("node"), c.vmid());
    if c.b("skiplock") && c.token.tokenid.split('!').next() != Some("root@pam") {
        return Err(e400("skiplock", "Only root may use this option."));
    }
    let sid = format!("{}:{vmid}", kind.ha_prefix());
    let ha_managed = {
        let st = lock(&c.sh.state);
        check_guest(&st, kind, &node, vmid)?;
        st.ha.contains_key(&sid)
    };
    let start = action == "start";
    if ha_managed {
        let mut st = lock(&c.sh.state);
        if let Some(h) = st.ha.get_mut(&sid) {
            h.state = if start { "started" } else { "stopped" }.to_owned();
        }
        if let Some(g) = st.guests.get_mut(&vmid) {
            g.running = start;
        }
        let spec = TaskSpec {
            node: &node,
            kind: if start { "hastart" } else { "hastop" },
            id: vmid.to_string(),
            hold: None,
            cleanup_on_fail: false,
            log: vec![format!(
                "Requesting HA {} for {sid}",
                if start { "start" } else { "stop" }
            )],
        };
        return Ok(json!(spawn_task(c, &mut st, spec, Box::new(|_, _| Ok(())))));
    }
    let mut st = wait_flock(c, kind, &node, vmid).await?;
    check_guest(&st, kind, &node, vmid)?;
    check_lock_prop(&st, vmid)?;
    if start && truthy(guest_of(&st, vmid)?.config.get("template")) {
        return Err(e500("you can't start a vm if it's a template"));
    }
    let prefix = if kind == GuestKind::Qemu { "qm" } else { "vz" };
    let noun = kind.noun();
    let spec = TaskSpec {
        node: &node,
        kind: &format!("{prefix}{action}"),
        id: vmid.to_string(),
        hold: Some(vmid),
        cleanup_on_fail: false,
        log: vec![],
    };
    let upid = spawn_task(
        c,
        &mut st,
        spec,
        Box::new(move |st, log| {
            let g = st
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{noun} {vmid} vanished"))?;
            if start {
                if g.running {
                    return Err(format!("{noun} {vmid} already running"));
                }
                g.apply_pending();
                g.running = true;
                log.push(format!("starting {noun} {vmid}"));
            } else {
                g.running = false;
                log.push(format!("stopping {noun} {vmid}"));
            }
            Ok(())
        }),
    );
    Ok(json!(upid))
}

pub(super) fn destroy_guest(c: &Ctx, kind: GuestKind) -> ApiResult {
    let (node, vmid) = (c.req("node"), c.vmid());
    let noun = kind.noun();
    let mut st = lock(&c.sh.state);
    check_guest(&st, kind, &node, vmid)?;
    let g = guest_of(&st, vmid)?;
    if g.flock.is_some() {
        return Err(e500(format!(
            "can't lock file '{}' - got timeout",
            kind.lock_file(vmid)
        )));
    }
    check_lock_prop(&st, vmid)?;
    let g = guest_of(&st, vmid)?;
    if truthy(g.config.get("protection")) {
        let verb = if kind == GuestKind::Qemu {
            "remove VM"
        } else {
            "remove CT"
        };
        return Err(e500(format!(
            "can't {verb} {vmid} - protection mode enabled"
        )));
    }
    if g.running {
        return Err(e500(format!("{noun} {vmid} is running - destroy failed")));
    }
    let sid = format!("{}:{vmid}", kind.ha_prefix());
    let purge = c.b("purge");
    if st.ha.contains_key(&sid) && !purge {
        return Err(e500(format!(
            "unable to remove {noun} {vmid} - used in HA resources and purge parameter not set."
        )));
    }
    let spec = TaskSpec {
        node: &node,
        kind: if kind == GuestKind::Qemu {
            "qmdestroy"
        } else {
            "vzdestroy"
        },
        id: vmid.to_string(),
        hold: Some(vmid),
        cleanup_on_fail: false,
        log: vec![],
    };
    let upid = spawn_task(
        c,
        &mut st,
        spec,
        Box::new(move |st, log| {
            let Some(g) = st.guests.remove(&vmid) else {
                return Ok(());
            };
            for v in st.guest_volids(vmid) {
                log.push(format!("Removing image: {v}"));
                st.remove_volume(&g.node, &v);
            }
            if purge {
                st.ha.remove(&sid);
                for p in st.pools.values_mut() {
                    p.members.remove(&vmid);
                }
            }
            log.push(format!(
                "purging {noun} {vmid} from related configurations.."
            ));
            Ok(())
        }),
    );
    Ok(json!(upid))
}
