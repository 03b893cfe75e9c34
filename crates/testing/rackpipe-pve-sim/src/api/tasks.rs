//! Task creation and the `/nodes/{node}/tasks` handlers (status, log).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{ApiError, ApiResult, Ctx, e400};
use crate::lock;
use crate::state::{self, State};

/// What a finished task does to the state.
type Work = Box<dyn FnOnce(&mut State, &mut Vec<String>) -> Result<(), String> + Send>;

pub(super) struct TaskSpec<'a> {
    pub(super) node: &'a str,
    pub(super) kind: &'a str,
    pub(super) id: String,
    /// Guest whose config file lock the task holds.
    pub(super) hold: Option<u32>,
    /// Remove the guest and its volumes when the task fails (create/clone).
    pub(super) cleanup_on_fail: bool,
    pub(super) log: Vec<String>,
}

pub(super) fn spawn_task(c: &Ctx, st: &mut State, spec: TaskSpec<'_>, work: Work) -> String {
    let upid = st.new_task(spec.node, spec.kind, &spec.id, &c.token.tokenid);
    if let Some(t) = st.tasks.get_mut(&upid) {
        t.log.extend(spec.log);
    }
    if let Some(vmid) = spec.hold
        && let Some(g) = st.guests.get_mut(&vmid)
    {
        g.flock = Some(upid.clone());
    }
    let sh = Arc::clone(&c.sh);
    let task_upid = upid.clone();
    let (kind, id, hold, cleanup) = (
        spec.kind.to_owned(),
        spec.id,
        spec.hold,
        spec.cleanup_on_fail,
    );
    let duration = sh.task_duration;
    tokio::spawn(async move {
        tokio::time::sleep(duration).await;
        let mut st = lock(&sh.state);
        let mut log = Vec::new();
        let result = match st.take_failure(&kind, &id) {
            Some(message) => {
                log.push("simulated failure injected by the test".to_owned());
                Err(message)
            }
            None => work(&mut st, &mut log),
        };
        if let Some(vmid) = hold {
            if let Some(g) = st.guests.get_mut(&vmid)
                && g.flock.as_deref() == Some(task_upid.as_str())
            {
                g.flock = None;
            }
            if result.is_err()
                && cleanup
                && let Some(g) = st.guests.remove(&vmid)
            {
                let node = g.node.clone();
                for v in st.guest_volids(vmid) {
                    st.remove_volume(&node, &v);
                }
            }
        }
        if let Some(t) = st.tasks.get_mut(&task_upid) {
            t.log.extend(log);
            t.running = false;
            match result {
                Ok(()) => {
                    t.log.push("TASK OK".to_owned());
                    t.exitstatus = Some("OK".to_owned());
                }
                Err(e) => {
                    t.log.push(format!("TASK ERROR: {e}"));
                    t.exitstatus = Some(e);
                }
            }
        }
    });
    upid
}

pub(super) fn find_task(c: &Ctx) -> Result<state::Task, ApiError> {
    let upid = c.req("upid");
    let parts: Vec<&str> = upid.split(':').collect();
    if parts.len() != 9 || parts[0] != "UPID" {
        return Err(e400("upid", "unable to parse worker upid"));
    }
    let st = lock(&c.sh.state);
    st.tasks
        .get(&upid)
        .cloned()
        .ok_or_else(|| e400("upid", "no such task"))
}

pub(super) fn task_status(c: &Ctx) -> ApiResult {
    let t = find_task(c)?;
    let mut o = json!({"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart, "starttime": t.starttime,
        "type": t.kind, "id": t.id, "user": t.user, "status": if t.running { "running" } else { "stopped" }});
    if let Some(e) = t.exitstatus {
        o["exitstatus"] = json!(e);
    }
    if let Some(tok) = t.tokenid {
        o["tokenid"] = json!(tok.split('!').nth(1).unwrap_or_default());
    }
    Ok(o)
}

pub(super) fn task_log(c: &Ctx) -> ApiResult {
    let t = find_task(c)?;
    let start = usize::try_from(c.i("start").unwrap_or(0)).unwrap_or(0);
    let limit = usize::try_from(c.i("limit").unwrap_or(50)).unwrap_or(50);
    let lines: Vec<Value> = t
        .log
        .iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, l)| json!({"n": i + 1, "t": l}))
        .collect();
    Ok(Value::Array(lines))
}
