//! HTTP front end: routing through the schema, auth, validation and permissions, shared
//! helpers, and dispatch to the endpoint handlers in the submodules (one per API menu).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::schema::{self, ParamErrors, Schema};
use crate::state::{self, GuestKind, State};
use crate::{RejectedRequest, SimConfig, Stats, TokenSpec, lock};

mod access;
mod cluster;
mod config;
mod guests;
mod pools;
mod storage;
mod tasks;

use access::permissions;
use cluster::{cluster_resources, ha_create, ha_delete, ha_get, ha_list, ha_update, nextid, nodes};
use config::{get_config, get_pending, set_config};
use guests::{
    clone_vm, create_guest, destroy_guest, guest_index, list_guests, power, resize, status_current,
};
use pools::{pools_create, pools_list, pools_update};
use storage::{download_url, storage_content};
use tasks::{find_task, task_log, task_status};

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
    /// Injected failures: `(method, path prefix below /api2/json, remaining, status)`.
    pub failures: Mutex<Vec<(Method, String, u32, u16)>>,
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
            failures: Mutex::new(Vec::new()),
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
    if let Some(failure) = injected_failure(&sh, &method, api_path) {
        *lock(&sh.stats)
            .by_route
            .entry(format!("{method} {api_path} (injected)"))
            .or_default() += 1;
        return reply(Err(failure));
    }
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

/// Consumes one matching injected failure ([`crate::Simulator::fail_next`]), if any.
fn injected_failure(sh: &Shared, method: &Method, api_path: &str) -> Option<ApiError> {
    let mut failures = lock(&sh.failures);
    let rule = failures.iter_mut().find(|(m, prefix, left, _)| {
        m == method && api_path.starts_with(prefix.as_str()) && *left > 0
    })?;
    rule.2 -= 1;
    let status = StatusCode::from_u16(rule.3).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status.as_u16() {
        // What pveproxy says when forwarding to a node times out.
        596 => "Connection timed out",
        _ => status.canonical_reason().unwrap_or("injected failure"),
    };
    Some(ApiError {
        status,
        message: message.to_owned(),
        errors: None,
    })
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
