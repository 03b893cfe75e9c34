//! `/pools`: list, create, update membership.

use serde_json::{Value, json};

use super::cluster::guest_resource;
use super::{ApiResult, Ctx, e400, e500};
use crate::lock;
use crate::state::State;

fn pool_json(st: &State, id: &str, members: bool) -> Value {
    let Some(p) = st.pools.get(id) else {
        return Value::Null;
    };
    let mut o = json!({"poolid": id, "comment": p.comment});
    if members {
        o["members"] = Value::Array(
            p.members
                .iter()
                .filter_map(|vmid| st.guests.get(vmid).map(|g| (vmid, g)))
                .map(|(vmid, g)| guest_resource(st, *vmid, g))
                .collect(),
        );
    }
    o
}

pub(super) fn pools_list(c: &Ctx) -> ApiResult {
    let st = lock(&c.sh.state);
    if let Some(id) = c.s("poolid") {
        if !st.pools.contains_key(&id) {
            return Err(e500(format!("pool '{id}' does not exist")));
        }
        return Ok(json!([pool_json(&st, &id, true)]));
    }
    Ok(Value::Array(
        st.pools
            .keys()
            .map(|id| pool_json(&st, id, false))
            .collect(),
    ))
}

pub(super) fn pools_create(c: &Ctx) -> ApiResult {
    let id = c.req("poolid");
    let mut st = lock(&c.sh.state);
    if st.pools.contains_key(&id) {
        return Err(e500(format!(
            "create pool failed: pool '{id}' already exists"
        )));
    }
    st.add_pool(&id, &c.s("comment").unwrap_or_default());
    Ok(Value::Null)
}

pub(super) fn pools_update(c: &Ctx) -> ApiResult {
    let id = c.req("poolid");
    let mut st = lock(&c.sh.state);
    if !st.pools.contains_key(&id) {
        return Err(e500(format!("pool '{id}' does not exist")));
    }
    let delete = c.b("delete");
    let allow_move = c.b("allow-move");
    if let Some(vms) = c.s("vms") {
        for v in vms
            .split(|ch: char| ch == ',' || ch == ';' || ch.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let vmid: u32 = v
                .parse()
                .map_err(|_| e400("vms", format!("invalid VMID '{v}'")))?;
            if !st.guests.contains_key(&vmid) {
                return Err(e500(format!("no such VM '{vmid}'")));
            }
            if delete {
                if let Some(p) = st.pools.get_mut(&id) {
                    p.members.remove(&vmid);
                }
                continue;
            }
            if let Some(other) = st.pool_of(vmid).map(str::to_owned)
                && other != id
            {
                if !allow_move {
                    return Err(e500(format!(
                        "VM {vmid} belongs already to pool '{other}' and allow-move is not set"
                    )));
                }
                if let Some(p) = st.pools.get_mut(&other) {
                    p.members.remove(&vmid);
                }
            }
            if let Some(p) = st.pools.get_mut(&id) {
                p.members.insert(vmid);
            }
        }
    }
    if let Some(comment) = c.s("comment")
        && let Some(p) = st.pools.get_mut(&id)
    {
        p.comment = comment;
    }
    Ok(Value::Null)
}
