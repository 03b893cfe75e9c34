//! HTTP front end: routing through the schema, auth, validation, permissions and the
//! endpoint handlers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::schema::{self, ParamErrors, Schema};
use crate::state::{
    self, GuestKind, HaResource, State, format_size, is_disk_key, normalise_tags, parse_size,
    truthy,
};
use crate::{RejectedRequest, SimConfig, Stats, TokenSpec, lock};

/// Counts a request as in flight until dropped, recording the maximum in [`Stats`].
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(sh: &'a Shared) -> Self {
        let now = sh
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let mut stats = lock(&sh.stats);
        stats.max_in_flight = stats.max_in_flight.max(now);
        Self(sh)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Everything the handlers share.
pub(crate) struct Shared {
    in_flight: std::sync::atomic::AtomicU64,
    pub schema: Schema,
    pub state: Mutex<State>,
    pub stats: Mutex<Stats>,
    pub tokens: Vec<TokenSpec>,
    latency: Duration,
    task_duration: Duration,
    lock_wait: Duration,
    strict_clone_locks: bool,
    qemu_props: Map<String, Value>,
    lxc_props: Map<String, Value>,
}

impl Shared {
    pub fn new(schema: Schema, config: &SimConfig) -> Self {
        let props = |path: &str| {
            schema
                .route(path)
                .and_then(|(e, _)| e.methods.get("PUT").cloned())
                .and_then(|i| {
                    i.pointer("/parameters/properties")
                        .and_then(Value::as_object)
                        .cloned()
                })
                .unwrap_or_default()
        };
        let qemu_props = props("/nodes/n/qemu/100/config");
        let lxc_props = props("/nodes/n/lxc/100/config");
        Self {
            in_flight: std::sync::atomic::AtomicU64::new(0),
            state: Mutex::new(State::new(&config.nodes, &config.storages)),
            stats: Mutex::new(Stats::default()),
            tokens: config.tokens.clone(),
            latency: config.latency,
            task_duration: config.task_duration,
            lock_wait: config.lock_wait,
            strict_clone_locks: config.strict_clone_locks,
            qemu_props,
            lxc_props,
            schema,
        }
    }

    fn props(&self, kind: GuestKind) -> &Map<String, Value> {
        match kind {
            GuestKind::Qemu => &self.qemu_props,
            GuestKind::Lxc => &self.lxc_props,
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// An error answer.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    errors: Option<ParamErrors>,
}

type ApiResult = Result<Value, ApiError>;

fn e500(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: message.into(),
        errors: None,
    }
}

fn e400(param: &str, message: impl Into<String>) -> ApiError {
    let mut errors = ParamErrors::new();
    errors.insert(param.to_owned(), message.into());
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: "Parameter verification failed.".to_owned(),
        errors: Some(errors),
    }
}

fn reply(result: ApiResult) -> Response {
    reply_with_total(result, None)
}

/// Like [`reply`], with PVE's `total` beside `data` (task logs).
fn reply_with_total(result: ApiResult, total: Option<usize>) -> Response {
    match result {
        Ok(data) => {
            let mut body = json!({ "data": data });
            if let Some(total) = total {
                body["total"] = json!(total);
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(err) => {
            let mut body = json!({ "data": null, "message": format!("{}\n", err.message) });
            if let Some(errors) = err.errors {
                body["errors"] = json!(errors);
            }
            (err.status, axum::Json(body)).into_response()
        }
    }
}

/// The request after routing, auth and validation.
struct Ctx {
    sh: Arc<Shared>,
    token: TokenSpec,
    p: BTreeMap<String, Value>,
}

impl Ctx {
    fn s(&self, key: &str) -> Option<String> {
        self.p.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
    fn req(&self, key: &str) -> String {
        self.s(key).unwrap_or_default()
    }
    fn i(&self, key: &str) -> Option<i64> {
        self.p.get(key).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    }
    fn b(&self, key: &str) -> bool {
        self.i(key) == Some(1)
    }
    fn vmid(&self) -> u32 {
        u32::try_from(self.i("vmid").unwrap_or(0)).unwrap_or(0)
    }
    fn has(&self, path: &str, privilege: &str) -> bool {
        has_priv(&self.token, path, privilege)
    }
    fn need(&self, path: &str, privilege: &str) -> Result<(), ApiError> {
        if self.has(path, privilege) {
            Ok(())
        } else {
            Err(forbidden(path, privilege))
        }
    }
}

fn has_priv(token: &TokenSpec, path: &str, privilege: &str) -> bool {
    match &token.privileges {
        None => true,
        Some(grants) => grants.iter().any(|(gpath, gpriv)| {
            gpriv == privilege
                && (gpath == "/"
                    || gpath == path
                    || path.starts_with(&format!("{}/", gpath.trim_end_matches('/'))))
        }),
    }
}

fn forbidden(path: &str, privilege: &str) -> ApiError {
    ApiError {
        status: StatusCode::FORBIDDEN,
        message: format!("Permission check failed ({path}, {privilege})"),
        errors: None,
    }
}

async fn handle(
    AxState(sh): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if let Some(rest) = path.strip_prefix("/__sim/") {
        return sim_endpoint(&sh, &method, rest);
    }
    lock(&sh.stats).requests += 1;
    let _in_flight = InFlight::enter(&sh);
    if !sh.latency.is_zero() {
        tokio::time::sleep(sh.latency).await;
    }
    let Some(api_path) = path.strip_prefix("/api2/json") else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let not_implemented = || {
        reply(Err(ApiError {
            status: StatusCode::NOT_IMPLEMENTED,
            message: format!("Method '{method} {api_path}' not implemented"),
            errors: None,
        }))
    };
    let Some((endpoint, vars)) = sh.schema.route(api_path) else {
        return not_implemented();
    };
    let Some(info) = endpoint.methods.get(method.as_str()) else {
        return not_implemented();
    };
    let template = endpoint.path.clone();
    *lock(&sh.stats)
        .by_route
        .entry(format!("{method} {template}"))
        .or_default() += 1;

    let token = match authenticate(&sh, &headers) {
        Ok(t) => t,
        Err(resp) => return resp,
    };

    let mut params: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(q) = uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    if matches!(method, Method::POST | Method::PUT) && !body.is_empty() {
        let is_json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => params.extend(map),
                _ => return reply(Err(e400("body", "unable to parse JSON body"))),
            }
        } else {
            for (k, v) in form_urlencoded::parse(&body) {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    for (k, v) in &vars {
        if let Some(existing) = params.get(k) {
            let text = existing
                .as_str()
                .map_or_else(|| existing.to_string(), str::to_owned);
            if text != *v {
                return reply(Err(e400(
                    k,
                    "duplicate parameter (already defined in URI) with conflicting values!",
                )));
            }
        }
        params.insert(k.clone(), Value::String(v.clone()));
    }

    let lxc = template.contains("/lxc");
    let empty = json!({});
    let param_schema = info.get("parameters").unwrap_or(&empty);
    let params = match schema::validate_params(param_schema, &params, lxc) {
        Ok(p) => p,
        Err(errors) => {
            lock(&sh.stats).rejected.push(RejectedRequest {
                method: method.to_string(),
                path: api_path.to_owned(),
                errors: errors.clone(),
            });
            return reply(Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                message: "Parameter verification failed.".to_owned(),
                errors: Some(errors),
            }));
        }
    };
    if let Some(check) = info.pointer("/permissions/check")
        && let Err((p, privilege)) =
            schema::eval_check(check, &params, &|path, pr| has_priv(&token, path, pr))
    {
        return reply(Err(forbidden(&p, &privilege)));
    }
    let ctx = Ctx {
        sh: Arc::clone(&sh),
        token,
        p: params,
    };
    let result = dispatch(&ctx, method.as_str(), &template).await;
    if let Err(e) = &result
        && e.status == StatusCode::NOT_IMPLEMENTED
    {
        lock(&sh.stats)
            .unimplemented
            .push(format!("{method} {template}"));
    }
    let total = (template == "/nodes/{node}/tasks/{upid}/log")
        .then(|| find_task(&ctx).ok().map(|t| t.log.len()))
        .flatten();
    reply_with_total(result, total)
}

fn sim_endpoint(sh: &Shared, method: &Method, rest: &str) -> Response {
    match (method.as_str(), rest) {
        ("GET", "stats") => axum::Json(json!(lock(&sh.stats).clone())).into_response(),
        ("POST", "reset-stats") => {
            *lock(&sh.stats) = Stats::default();
            axum::Json(json!({ "data": null })).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "unknown simulator endpoint").into_response(),
    }
}

#[allow(clippy::result_large_err)]
fn authenticate(sh: &Shared, headers: &HeaderMap) -> Result<TokenSpec, Response> {
    let unauthorized = |msg: &str| {
        reply(Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: msg.to_owned(),
            errors: None,
        }))
    };
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized("No ticket"));
    };
    let Some(rest) = value.strip_prefix("PVEAPIToken=") else {
        return Err(unauthorized("No ticket"));
    };
    let Some((tokenid, secret)) = rest.rsplit_once('=') else {
        return Err(unauthorized("authentication failure"));
    };
    sh.tokens
        .iter()
        .find(|t| t.tokenid == tokenid && t.secret == secret)
        .cloned()
        .ok_or_else(|| unauthorized("authentication failure"))
}

async fn dispatch(c: &Ctx, method: &str, template: &str) -> ApiResult {
    let kind = if template.contains("/lxc") {
        GuestKind::Lxc
    } else {
        GuestKind::Qemu
    };
    let tail = template
        .strip_prefix("/nodes/{node}/qemu")
        .or_else(|| template.strip_prefix("/nodes/{node}/lxc"))
        .filter(|_| {
            template.starts_with("/nodes/{node}/qemu") || template.starts_with("/nodes/{node}/lxc")
        });
    if let Some(tail) = tail {
        return match (method, tail) {
            ("GET", "") => list_guests(c, kind),
            ("POST", "") => create_guest(c, kind),
            ("GET", "/{vmid}") => guest_index(c, kind),
            ("DELETE", "/{vmid}") => destroy_guest(c, kind),
            ("GET", "/{vmid}/config") => get_config(c, kind),
            ("PUT" | "POST", "/{vmid}/config") => set_config(c, kind, method == "POST").await,
            ("GET", "/{vmid}/pending") => get_pending(c, kind),
            ("POST", "/{vmid}/clone") if kind == GuestKind::Qemu => clone_vm(c),
            ("PUT", "/{vmid}/resize") => resize(c, kind).await,
            ("GET", "/{vmid}/status/current") => status_current(c, kind),
            ("POST", "/{vmid}/status/start") => power(c, kind, "start").await,
            ("POST", "/{vmid}/status/stop") => power(c, kind, "stop").await,
            ("POST", "/{vmid}/status/shutdown") => power(c, kind, "shutdown").await,
            _ => not_implemented(),
        };
    }
    match (method, template) {
        ("GET", "/access/permissions") => permissions(c),
        ("GET", "/version") => {
            Ok(json!({"version": "8.4.1", "release": "8.4", "repoid": "2a5fa54a8503f96d"}))
        }
        ("GET", "/cluster/resources") => cluster_resources(c),
        ("GET", "/cluster/nextid") => nextid(c),
        ("GET", "/nodes") => nodes(c),
        ("GET", "/nodes/{node}/storage/{storage}/content") => storage_content(c),
        ("POST", "/nodes/{node}/storage/{storage}/download-url") => download_url(c),
        ("GET", "/nodes/{node}/tasks/{upid}/status") => task_status(c),
        ("GET", "/nodes/{node}/tasks/{upid}/log") => task_log(c),
        ("GET", "/pools") => pools_list(c),
        ("POST", "/pools") => pools_create(c),
        ("PUT", "/pools") => pools_update(c),
        ("GET", "/cluster/ha/resources") => ha_list(c),
        ("POST", "/cluster/ha/resources") => ha_create(c),
        ("GET", "/cluster/ha/resources/{sid}") => ha_get(c),
        ("PUT", "/cluster/ha/resources/{sid}") => ha_update(c),
        ("DELETE", "/cluster/ha/resources/{sid}") => ha_delete(c),
        _ => not_implemented(),
    }
}

fn not_implemented() -> ApiResult {
    Err(ApiError {
        status: StatusCode::NOT_IMPLEMENTED,
        message: "simulator: this endpoint is in the schema but not simulated".to_owned(),
        errors: None,
    })
}

// ---------------------------------------------------------------------------------------
// helpers

fn check_node(st: &State, node: &str) -> Result<(), ApiError> {
    if st.nodes.iter().any(|n| n == node) {
        Ok(())
    } else {
        Err(e500(format!(
            "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
        )))
    }
}

fn conf_missing(kind: GuestKind, node: &str, vmid: u32) -> ApiError {
    let dir = match kind {
        GuestKind::Qemu => "qemu-server",
        GuestKind::Lxc => "lxc",
    };
    e500(format!(
        "Configuration file 'nodes/{node}/{dir}/{vmid}.conf' does not exist"
    ))
}

fn check_guest(st: &State, kind: GuestKind, node: &str, vmid: u32) -> Result<(), ApiError> {
    check_node(st, node)?;
    match st.guests.get(&vmid) {
        Some(g) if g.kind == kind && g.node == node => Ok(()),
        _ => Err(conf_missing(kind, node, vmid)),
    }
}

/// The guest, after [`check_guest`] (a 500 instead of a panic if it vanished).
fn guest_of(st: &State, vmid: u32) -> Result<&state::Guest, ApiError> {
    st.guests
        .get(&vmid)
        .ok_or_else(|| e500(format!("VM {vmid} does not exist")))
}

fn check_lock_prop(st: &State, vmid: u32) -> Result<(), ApiError> {
    if let Some(g) = st.guests.get(&vmid)
        && let Some(l) = g.config.get("lock")
    {
        return Err(e500(format!("{} is locked ({l})", g.kind.noun())));
    }
    Ok(())
}

/// Waits for the config file lock (held by a running task) like PVE's flock with timeout.
async fn wait_flock<'a>(
    c: &'a Ctx,
    kind: GuestKind,
    node: &str,
    vmid: u32,
) -> Result<std::sync::MutexGuard<'a, State>, ApiError> {
    let deadline = Instant::now() + c.sh.lock_wait;
    loop {
        {
            let st = lock(&c.sh.state);
            check_guest(&st, kind, node, vmid)?;
            if st.guests.get(&vmid).is_some_and(|g| g.flock.is_none()) {
                // Returned still locked, so no task can take the flock in between.
                return Ok(st);
            }
        }
        if Instant::now() >= deadline {
            return Err(e500(format!(
                "can't lock file '{}' - got timeout",
                kind.lock_file(vmid)
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a finished task does to the state.
type Work = Box<dyn FnOnce(&mut State, &mut Vec<String>) -> Result<(), String> + Send>;

struct TaskSpec<'a> {
    node: &'a str,
    kind: &'a str,
    id: String,
    /// Guest whose config file lock the task holds.
    hold: Option<u32>,
    /// Remove the guest and its volumes when the task fails (create/clone).
    cleanup_on_fail: bool,
    log: Vec<String>,
}

fn spawn_task(c: &Ctx, st: &mut State, spec: TaskSpec<'_>, work: Work) -> String {
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
                let vols: Vec<String> = st
                    .volumes
                    .values()
                    .flatten()
                    .filter(|v| v.vmid == Some(vmid))
                    .map(|v| v.volid.clone())
                    .collect();
                for v in vols {
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
fn print_property_string(format: &Map<String, Value>, map: &BTreeMap<String, String>) -> String {
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
fn apply_config(c: &Ctx, st: &mut State, kind: GuestKind, vmid: u32) -> Result<(), ApiError> {
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

// ---------------------------------------------------------------------------------------
// cluster and nodes

fn guest_resource(st: &State, vmid: u32, g: &state::Guest) -> Value {
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

fn cluster_resources(c: &Ctx) -> ApiResult {
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

fn nextid(c: &Ctx) -> ApiResult {
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

fn nodes(c: &Ctx) -> ApiResult {
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

fn list_guests(c: &Ctx, kind: GuestKind) -> ApiResult {
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

fn guest_index(c: &Ctx, kind: GuestKind) -> ApiResult {
    let st = lock(&c.sh.state);
    check_guest(&st, kind, &c.req("node"), c.vmid())?;
    Ok(json!([{"subdir": "config"}, {"subdir": "pending"}, {"subdir": "status"}]))
}

// ---------------------------------------------------------------------------------------
// config

fn get_config(c: &Ctx, kind: GuestKind) -> ApiResult {
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

fn get_pending(c: &Ctx, kind: GuestKind) -> ApiResult {
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

async fn set_config(c: &Ctx, kind: GuestKind, is_async: bool) -> ApiResult {
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

// ---------------------------------------------------------------------------------------
// create, clone, resize, power, destroy

fn create_guest(c: &Ctx, kind: GuestKind) -> ApiResult {
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
fn clone_vm(c: &Ctx) -> ApiResult {
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

async fn resize(c: &Ctx, kind: GuestKind) -> ApiResult {
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

fn status_current(c: &Ctx, kind: GuestKind) -> ApiResult {
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

async fn power(c: &Ctx, kind: GuestKind, action: &'static str) -> ApiResult {
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

fn destroy_guest(c: &Ctx, kind: GuestKind) -> ApiResult {
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
            let vols: Vec<String> = st
                .volumes
                .values()
                .flatten()
                .filter(|v| v.vmid == Some(vmid))
                .map(|v| v.volid.clone())
                .collect();
            for v in vols {
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

// ---------------------------------------------------------------------------------------
// storage

fn storage_content(c: &Ctx) -> ApiResult {
    let (node, storage) = (c.req("node"), c.req("storage"));
    let st = lock(&c.sh.state);
    check_node(&st, &node)?;
    if st.storage(&storage).is_none() {
        return Err(e500(format!("storage '{storage}' does not exist")));
    }
    let content = c.s("content");
    let vmid = c.i("vmid").and_then(|v| u32::try_from(v).ok());
    Ok(Value::Array(
        st.volumes_of(&node, &storage)
            .iter()
            .filter(|v| content.as_deref().is_none_or(|ct| ct == v.content))
            .filter(|v| vmid.is_none_or(|id| v.vmid == Some(id)))
            .map(|v| {
                let mut o = json!({"volid": v.volid, "content": v.content, "format": v.format, "size": v.size, "ctime": v.ctime});
                if let Some(id) = v.vmid {
                    o["vmid"] = json!(id);
                }
                o
            })
            .collect(),
    ))
}

fn download_url(c: &Ctx) -> ApiResult {
    let (node, storage) = (c.req("node"), c.req("storage"));
    let (content, filename, url) = (c.req("content"), c.req("filename"), c.req("url"));
    let ext_ok = match content.as_str() {
        "iso" => [".iso", ".img"].iter().any(|e| filename.ends_with(e)),
        "vztmpl" => [".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
            .iter()
            .any(|e| filename.ends_with(e)),
        "import" => [".ova", ".qcow2", ".raw", ".vmdk"]
            .iter()
            .any(|e| filename.ends_with(e)),
        _ => false,
    };
    if !ext_ok {
        return Err(e400("filename", "wrong file extension"));
    }
    if c.p.contains_key("checksum") != c.p.contains_key("checksum-algorithm") {
        return Err(e400(
            "checksum-algorithm",
            "'checksum-algorithm' is required when 'checksum' is set",
        ));
    }
    let mut st = lock(&c.sh.state);
    check_node(&st, &node)?;
    let Some(spec) = st.storage(&storage) else {
        return Err(e500(format!("storage '{storage}' does not exist")));
    };
    if !spec.content.contains(&content) {
        return Err(e500(format!(
            "storage '{storage}' is not configured for content-type '{content}'"
        )));
    }
    let dir = match content.as_str() {
        "vztmpl" => "template/cache",
        "iso" => "template/iso",
        _ => "import",
    };
    let volid = format!(
        "{storage}:{}/{filename}",
        if content == "import" {
            "import"
        } else {
            content.as_str()
        }
    );
    let path = format!("/var/lib/vz/{dir}/{filename}");
    let checksum = c.s("checksum").map(|s| s.to_ascii_lowercase());
    let algo = c.s("checksum-algorithm");
    let spec = TaskSpec {
        node: &node,
        kind: "download",
        id: filename.clone(),
        hold: None,
        cleanup_on_fail: false,
        log: vec![format!("downloading {url} to {path}")],
    };
    let task_node = node.clone();
    let upid = spawn_task(
        c,
        &mut st,
        spec,
        Box::new(move |st, log| {
            let remote = st.remote.get(&url).cloned();
            let matches_remote = |r: &state::RemoteFile| match (&algo, &checksum) {
                (Some(a), Some(sum)) => r.checksums.get(a).is_some_and(|h| h == sum),
                _ => false,
            };
            let node = task_node;
            if st.find_volume(&node, &volid).is_some() {
                if remote.as_ref().is_some_and(matches_remote) {
                    log.push(
                        "file already exists and checksum matches, no need to download".to_owned(),
                    );
                    return Ok(());
                }
                return Err(format!("refusing to override existing file '{path}'"));
            }
            let Some(remote) = remote else {
                return Err(format!("download failed: 404 Not Found ({url})"));
            };
            if let (Some(a), Some(sum)) = (&algo, &checksum) {
                let got = remote.checksums.get(a).cloned().unwrap_or_default();
                if &got != sum {
                    return Err(format!("checksum mismatch: got '{got}' != expect '{sum}'"));
                }
                log.push(format!("{a} checksum verified"));
            }
            st.add_volume(&node, &volid, &content, remote.size, None)?;
            log.push("download of file finished".to_owned());
            Ok(())
        }),
    );
    Ok(json!(upid))
}

// ---------------------------------------------------------------------------------------
// tasks

fn find_task(c: &Ctx) -> Result<state::Task, ApiError> {
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

fn task_status(c: &Ctx) -> ApiResult {
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

fn task_log(c: &Ctx) -> ApiResult {
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

// ---------------------------------------------------------------------------------------
// pools

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

fn pools_list(c: &Ctx) -> ApiResult {
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

fn pools_create(c: &Ctx) -> ApiResult {
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

fn pools_update(c: &Ctx) -> ApiResult {
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

// ---------------------------------------------------------------------------------------
// HA

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

fn ha_list(c: &Ctx) -> ApiResult {
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

fn ha_create(c: &Ctx) -> ApiResult {
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

fn ha_get(c: &Ctx) -> ApiResult {
    let st = lock(&c.sh.state);
    let sid = ha_sid(&st, &c.req("sid"))?;
    st.ha
        .get(&sid)
        .map(|h| ha_json(&sid, h))
        .ok_or_else(|| e500(format!("no such resource '{sid}'")))
}

fn ha_update(c: &Ctx) -> ApiResult {
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

fn ha_delete(c: &Ctx) -> ApiResult {
    let mut st = lock(&c.sh.state);
    let sid = ha_sid(&st, &c.req("sid"))?;
    if st.ha.remove(&sid).is_none() {
        return Err(e500(format!(
            "cannot delete service '{sid}', not HA managed!"
        )));
    }
    Ok(Value::Null)
}

// ---------------------------------------------------------------------------------------
// access

/// Privileges a full-access token reports (PVE's Administrator role, abridged).
const ALL_PRIVILEGES: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Pool.Allocate",
    "Pool.Audit",
    "SDN.Audit",
    "SDN.Use",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.PowerMgmt",
];

fn permissions(c: &Ctx) -> ApiResult {
    let grants: Vec<(String, String)> = match &c.token.privileges {
        None => ALL_PRIVILEGES
            .iter()
            .map(|p| ("/".to_owned(), (*p).to_owned()))
            .collect(),
        Some(g) => g.clone(),
    };
    let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    match c.s("path") {
        Some(path) => {
            let entry = out.entry(path.clone()).or_default();
            for (_, privilege) in &grants {
                if has_priv(&c.token, &path, privilege) {
                    entry.insert(privilege.clone(), 1);
                }
            }
        }
        None => {
            for (path, privilege) in grants {
                out.entry(path).or_default().insert(privilege, 1);
            }
        }
    }
    Ok(json!(out))
}
