//! `/cluster` and `/nodes` views: resources, next free VMID, node list, HA resources.

use serde_json::{Value, json};

use super::{ApiError, ApiResult, Ctx, e400, e500};
use crate::lock;
use crate::state::{self, GuestKind, HaResource, State, truthy};

pub(super) fn guest_resource(st: &State, vmid: u32, g: &state::Guest) -> Value {
    let mut r = json!({
        "id": format!("{}/{vmid}", g.kind.as_str()),
        "type": g.kind.as_str(),
        "vmid": vmid,
        "node": g.node,
        "status": if g.running { "running" } else { "stopped" },
        "template": i64::from(truthy(g.config.get("template"))),
        "maxcpu": g.config.get("cores").and_then(|c| c.parse::<i64>().ok()).unwrap_or(1),
        "maxmem": g.config.get("memory").and_then(|m| m.split(',').next()).and_then(|m| m.trim_start_matches("current=").parse::<i64>().ok()).unwrap_or(512) * (1 << 20),
        "maxdisk": 0,
        "cpu": 0,
        "mem": 0,
        "disk": 0,
        "uptime": if g.running { 3600 } else { 0 },
        "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
    });
    let name = g.config.get(if g.kind == GuestKind::Lxc {
        "hostname"
    } else {
        "name"
    });
    if let Some(name) = name {
        r["name"] = json!(name);
    }
    if let Some(tags) = g.config.get("tags") {
        r["tags"] = json!(tags);
    }
    if let Some(l) = g.config.get("lock") {
        r["lock"] = json!(l);
    }
    if let Some(pool) = st.pool_of(vmid) {
        r["pool"] = json!(pool);
    }
    if let Some(ha) = st.ha.get(&format!("{}:{vmid}", g.kind.ha_prefix())) {
        r["hastate"] = json!(ha.state);
    }
    r
}

pub(super) fn cluster_resources(c: &Ctx) -> ApiResult {
    let st = lock(&c.sh.state);
    let filter = c.s("type");
    let want = |t: &str| filter.as_deref().is_none_or(|f| f == t);
    let mut out = Vec::new();
    if want("node") {
        for n in &st.nodes {
            out.push(json!({"id": format!("node/{n}"), "type": "node", "node": n, "status": "online",
                "maxcpu": 16, "maxmem": 68_719_476_736_i64, "cpu": 0.05, "mem": 8_589_934_592_i64,
                "maxdisk": 107_374_182_400_i64, "disk": 10_737_418_240_i64, "uptime": 86400, "level": "", "cgroup-mode": 2}));
        }
    }
    if want("vm") {
        for (vmid, g) in &st.guests {
            if c.has(&format!("/vms/{vmid}"), "VM.Audit") {
                out.push(guest_resource(&st, *vmid, g));
            }
        }
    }
    if want("storage") {
        for n in &st.nodes {
            for s in &st.storages {
                let used: u64 = st.volumes_of(n, &s.id).iter().map(|v| v.size).sum();
                out.push(json!({"id": format!("storage/{n}/{}", s.id), "type": "storage", "node": n,
                    "storage": s.id, "status": "available", "plugintype": s.plugin, "content": s.content.join(","),
                    "shared": i64::from(s.shared), "maxdisk": 1_099_511_627_776_i64, "disk": used}));
            }
        }
    }
    if filter.is_none() {
        for p in st.pools.keys() {
            out.push(json!({"id": format!("/pool/{p}"), "type": "pool", "pool": p}));
        }
    }
    Ok(Value::Array(out))
}

pub(super) fn nextid(c: &Ctx) -> ApiResult {
    let st = lock(&c.sh.state);
    if let Some(v) = c.i("vmid") {
        let vmid = u32::try_from(v).unwrap_or(0);
        if st.guests.contains_key(&vmid) {
            return Err(e400("vmid", format!("VM {vmid} already exists")));
        }
        return Ok(json!(vmid.to_string()));
    }
    (100..1_000_000u32)
        .find(|id| !st.guests.contains_key(id))
        .map(|id| json!(id.to_string()))
        .ok_or_else(|| e500("unable to get any free VMID in range [100, 999999]"))
}

pub(super) fn nodes(c: &Ctx) -> ApiResult {
    let st = lock(&c.sh.state);
    Ok(Value::Array(
        st.nodes
            .iter()
            .map(|n| {
                json!({"node": n, "id": format!("node/{n}"), "type": "node", "status": "online",
                "maxcpu": 16, "maxmem": 68_719_476_736_i64, "cpu": 0.05, "mem": 8_589_934_592_i64,
                "uptime": 86400, "level": "", "ssl_fingerprint": "00:11"})
            })
            .collect(),
    ))
}

// /cluster/ha/resources

fn ha_json(sid: &str, h: &HaResource) -> Value {
    let mut o = json!({"sid": sid, "state": h.state, "type": sid.split(':').next().unwrap_or("vm"),
        "max_restart": h.max_restart, "max_relocate": h.max_relocate, "digest": h.digest(sid)});
    if let Some(g) = &h.group {
        o["group"] = json!(g);
    }
    if let Some(cm) = &h.comment {
        o["comment"] = json!(cm);
    }
    o
}

fn ha_sid(st: &State, raw: &str) -> Result<String, ApiError> {
    if raw.contains(':') {
        return Ok(raw.to_owned());
    }
    let vmid: u32 = raw
        .parse()
        .map_err(|_| e400("sid", format!("unable to parse service id '{raw}'")))?;
    let g = st
        .guests
        .get(&vmid)
        .ok_or_else(|| e500(format!("unable to find VM/CT {vmid}")))?;
    Ok(format!("{}:{vmid}", g.kind.ha_prefix()))
}

pub(super) fn ha_list(c: &Ctx) -> ApiResult {
    let st = lock(&c.sh.state);
    let filter = c.s("type");
    Ok(Value::Array(
        st.ha
            .iter()
            .filter(|(sid, _)| {
                filter
                    .as_deref()
                    .is_none_or(|t| sid.starts_with(&format!("{t}:")))
            })
            .map(|(sid, h)| ha_json(sid, h))
            .collect(),
    ))
}

pub(super) fn ha_create(c: &Ctx) -> ApiResult {
    let mut st = lock(&c.sh.state);
    let sid = ha_sid(&st, &c.req("sid"))?;
    let vmid: u32 = sid
        .split(':')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if !st.guests.contains_key(&vmid) {
        return Err(e500(format!("unable to find VM/CT {vmid}")));
    }
    if st.ha.contains_key(&sid) {
        return Err(e500(format!("resource ID '{sid}' already defined")));
    }
    if let Some(g) = c.s("group") {
        return Err(e500(format!("HA group '{g}' does not exist")));
    }
    let state = c.s("state").unwrap_or_else(|| "started".to_owned());
    if let Some(g) = st.guests.get_mut(&vmid) {
        match state.as_str() {
            "started" => g.running = true,
            "stopped" | "disabled" => g.running = false,
            _ => {}
        }
    }
    st.ha.insert(
        sid,
        HaResource {
            state,
            group: None,
            comment: c.s("comment"),
            max_restart: c.i("max_restart").unwrap_or(1),
            max_relocate: c.i("max_relocate").unwrap_or(1),
        },
    );
    Ok(Value::Null)
}

pub(super) fn ha_get(c: &Ctx) -> ApiResult {
    let st = lock(&c.sh.state);
    let sid = ha_sid(&st, &c.req("sid"))?;
    st.ha
        .get(&sid)
        .map(|h| ha_json(&sid, h))
        .ok_or_else(|| e500(format!("no such resource '{sid}'")))
}

pub(super) fn ha_update(c: &Ctx) -> ApiResult {
    let mut st = lock(&c.sh.state);
    let sid = ha_sid(&st, &c.req("sid"))?;
    let Some(h) = st.ha.get(&sid).cloned() else {
        return Err(e500(format!("no such resource '{sid}'")));
    };
    if let Some(d) = c.s("digest")
        && d != h.digest(&sid)
    {
        return Err(e500(
            "detected modified configuration - file changed by other user? Try again.",
        ));
    }
    if let Some(g) = c.s("group") {
        return Err(e500(format!("HA group '{g}' does not exist")));
    }
    let mut h = h;
    if let Some(s) = c.s("state") {
        h.state = s;
    }
    if let Some(cm) = c.s("comment") {
        h.comment = Some(cm);
    }
    if let Some(v) = c.i("max_restart") {
        h.max_restart = v;
    }
    if let Some(v) = c.i("max_relocate") {
        h.max_relocate = v;
    }
    if let Some(del) = c.s("delete") {
        for k in del.split(',') {
            match k {
                "comment" => h.comment = None,
                "group" => h.group = None,
                _ => {}
            }
        }
    }
    let vmid: u32 = sid
        .split(':')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if let Some(g) = st.guests.get_mut(&vmid) {
        match h.state.as_str() {
            "started" => g.running = true,
            "stopped" | "disabled" => g.running = false,
            _ => {}
        }
    }
    st.ha.insert(sid, h);
    Ok(Value::Null)
}

pub(super) fn ha_delete(c: &Ctx) -> ApiResult {
    let mut st = lock(&c.sh.state);
    let sid = ha_sid(&st, &c.req("sid"))?;
    if st.ha.remove(&sid).is_none() {
        return Err(e500(format!(
            "cannot delete service '{sid}', not HA managed!"
        )));
    }
    Ok(Value::Null)
}
