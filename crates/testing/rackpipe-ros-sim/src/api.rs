//! HTTP layer: `/rest/...` with RouterOS semantics and the `/__sim/...` test hooks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router as AxumRouter;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use rackpipe_routeros::Props;
use serde_json::{Map, Value, json};

use crate::schema::{self, MenuKind};
use crate::state::{ApiError, Router};
use crate::{Secret, SimConfig, Stats, lock};

pub(crate) struct Shared {
    router: Mutex<Router>,
    pub users: Vec<(String, Secret)>,
    pub stats: Mutex<Stats>,
    /// Injected failures: `(method, path prefix below /rest, remaining, status)`.
    pub failures: Mutex<Vec<(Method, String, u32, u16)>>,
    gate: tokio::sync::Mutex<()>,
    latency: Duration,
    serial: bool,
    unreachable_timeout: Duration,
}

impl Shared {
    pub fn new(config: &SimConfig) -> Self {
        Shared {
            router: Mutex::new(Router::new(config)),
            users: config.users.clone(),
            stats: Mutex::new(Stats::default()),
            failures: Mutex::new(Vec::new()),
            gate: tokio::sync::Mutex::new(()),
            latency: config.latency,
            serial: config.serial,
            unreachable_timeout: config.unreachable_timeout,
        }
    }

    pub fn with_router<R>(&self, f: impl FnOnce(&mut Router) -> R) -> R {
        f(&mut lock(&self.router))
    }

    pub fn tick(&self) {
        self.with_router(Router::tick);
    }

    fn count(&self, route: String, error: bool) {
        let mut stats = lock(&self.stats);
        *stats.by_route.entry(route).or_default() += 1;
        if error {
            stats.errors += 1;
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> AxumRouter {
    AxumRouter::new()
        .route("/rest", any(rest_root))
        .route("/rest/{*path}", any(rest))
        .route("/__sim/stats", get(sim_stats))
        .route("/__sim/reset-stats", post(sim_reset_stats))
        .route(
            "/__sim/reachable",
            get(sim_reachable_get).post(sim_reachable_post),
        )
        .route("/__sim/dynamic", post(sim_dynamic))
        .route("/__sim/populate", post(sim_populate))
        .route("/__sim/export", get(sim_export))
        .route("/__sim/log", get(sim_log))
        .with_state(shared)
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        406 => "Not Acceptable",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Internal Server Error",
    }
}

fn error_response(e: &ApiError) -> Response {
    let mut body = Map::new();
    body.insert("error".to_owned(), json!(e.status));
    body.insert("message".to_owned(), json!(reason(e.status)));
    if let Some(detail) = &e.detail {
        body.insert("detail".to_owned(), json!(detail));
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(Value::Object(body))).into_response();
    if e.status == 401 {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"RouterOS\""),
        );
    }
    response
}

async fn rest_root(
    state: State<Arc<Shared>>,
    method: Method,
    query: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    rest(state, method, Path(String::new()), query, headers, body).await
}

async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lock(&shared.stats).requests += 1;
    // Network first: a locked-out router does not answer at all.
    let started = Instant::now();
    let mut counted = false;
    while shared.with_router(|r| r.reachable()).is_err() {
        if !counted {
            lock(&shared.stats).while_unreachable += 1;
            counted = true;
        }
        if started.elapsed() >= shared.unreachable_timeout {
            return error_response(&ApiError {
                status: 504,
                detail: Some("router unreachable (simulated lock-out)".to_owned()),
            });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _gate = if shared.serial {
        Some(shared.gate.lock().await)
    } else {
        None
    };
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    if !authorized(&shared, &headers) {
        shared.count(format!("{method} (unauthorized)"), true);
        return error_response(&ApiError {
            status: 401,
            detail: None,
        });
    }
    if let Some(status) = injected_failure(&shared, &method, &path) {
        shared.count(format!("{method} /{path} (injected)"), true);
        return error_response(&ApiError {
            status,
            detail: Some("injected failure (rackpipe-ros-sim test hook)".to_owned()),
        });
    }
    let (route, result) = shared.with_router(|r| {
        let out = handle(r, &method, &path, query.as_deref(), &body);
        r.cut_if_scheduled();
        out
    });
    shared.count(route, result.is_err());
    match result {
        Ok(Reply::Json(value)) => axum::Json(value).into_response(),
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e),
    }
}

/// Consumes one matching injected failure, if any: its status.
fn injected_failure(shared: &Shared, method: &Method, path: &str) -> Option<u16> {
    let full = format!("/{path}");
    let mut failures = lock(&shared.failures);
    let rule = failures.iter_mut().find(|(m, prefix, left, _)| {
        m == method && full.starts_with(prefix.as_str()) && *left > 0
    })?;
    rule.2 -= 1;
    Some(rule.3)
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, password)) = decoded.split_once(':') else {
        return false;
    };
    shared.with_router(|r| r.login_ok(user, password))
}

enum Reply {
    Json(Value),
    NoContent,
}

/// Decodes `%XX` and `+` in a query component.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON body as properties (strings and numbers only).
fn body_props(body: &[u8]) -> Result<(Props, Map<String, Value>), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((Props::new(), Map::new()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("JSON parse error: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad("JSON body must be an object"));
    };
    let mut props = Props::new();
    for (k, v) in &map {
        match v {
            Value::String(s) => {
                props.insert(k.clone(), s.clone());
            }
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                props.insert(k.clone(), n.to_string());
            }
            _ if k.starts_with('.') => {}
            _ => {
                return Err(ApiError::bad(format!(
                    "value of {k} must be a string or an integer"
                )));
            }
        }
    }
    Ok((props, map))
}

fn ids_of(r: &Router, path: &str, props: &Props) -> Result<Vec<usize>, ApiError> {
    let list = props
        .get(".id")
        .or_else(|| props.get("numbers"))
        .ok_or_else(|| ApiError::bad("missing value(s) of argument(s) numbers"))?;
    list.split(',')
        .map(|key| {
            r.resolve(path, key.trim())
                .map_err(|_| ApiError::bad("no such item"))
        })
        .collect()
}

fn strip(props: &Props, keys: &[&str]) -> Props {
    Props::from_pairs(props.iter().filter(|(k, _)| !keys.contains(k)))
}

fn proplist(rows: Vec<Map<String, Value>>, list: Option<Vec<String>>) -> Vec<Map<String, Value>> {
    match list {
        None => rows,
        Some(keys) => rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .filter(|(k, _)| keys.iter().any(|w| w == k))
                    .collect()
            })
            .collect(),
    }
}

/// Evaluates an API `.query` stack on one row.
fn query_matches(row: &Map<String, Value>, query: &[String]) -> Result<bool, ApiError> {
    let mut stack: Vec<bool> = Vec::new();
    let get = |k: &str| row.get(k).and_then(Value::as_str);
    for word in query {
        let result = if let Some(ops) = word.strip_prefix('#') {
            for op in ops.chars() {
                match op {
                    '!' => {
                        let a = stack.pop().ok_or_else(|| ApiError::bad("invalid query"))?;
                        stack.push(!a);
                    }
                    '|' | '&' => {
                        let b = stack.pop().ok_or_else(|| ApiError::bad("invalid query"))?;
                        let a = stack.pop().ok_or_else(|| ApiError::bad("invalid query"))?;
                        stack.push(if op == '|' { a || b } else { a && b });
                    }
                    _ => return Err(ApiError::bad("invalid query")),
                }
            }
            continue;
        } else if let Some(k) = word.strip_prefix('-') {
            get(k).is_none()
        } else if let Some((k, v)) = word.split_once('=') {
            get(k) == Some(v)
        } else if let Some((k, v)) = word.split_once('<') {
            matches!((get(k).and_then(|x| x.parse::<i64>().ok()), v.parse::<i64>()), (Some(a), Ok(b)) if a < b)
        } else if let Some((k, v)) = word.split_once('>') {
            matches!((get(k).and_then(|x| x.parse::<i64>().ok()), v.parse::<i64>()), (Some(a), Ok(b)) if a > b)
        } else {
            get(word).is_some()
        };
        stack.push(result);
    }
    Ok(stack.into_iter().all(|b| b))
}

fn string_list(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(s.split(',').map(str::to_owned).collect()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

/// Commands a generic menu's REST path may end with (`POST /rest<menu>/<command>`).
const GENERIC_COMMANDS: &[&str] = &[
    "add", "set", "remove", "move", "print", "enable", "disable", "unset",
];

/// With generic menus accepted: the menu a request names, when the simulator does not model
/// it, becomes a generic menu (a list; a singleton when its first write is a `set` without
/// `numbers`). A path one word below a modelled named menu whose entry has that name is a
/// `GET` by name, not a menu.
fn accept_generic(r: &mut Router, method: &Method, segments: &[&str], body: &[u8]) {
    let Some(last) = segments.last() else {
        return;
    };
    let keyed =
        last.starts_with('*') || (*method == Method::POST && GENERIC_COMMANDS.contains(last));
    let menu_segments = if keyed {
        &segments[..segments.len() - 1]
    } else {
        segments
    };
    if menu_segments.is_empty() {
        return;
    }
    let candidate = format!("/{}", menu_segments.join("/"));
    if !schema::is_generic_path(&candidate) {
        return;
    }
    if let Some(spec) = r.spec(&candidate)
        && !spec.generic
    {
        return;
    }
    let parent = format!("/{}", menu_segments[..menu_segments.len() - 1].join("/"));
    let by_name = r.spec(&parent).is_some_and(|s| !s.generic && s.named)
        && r.list(&parent)
            .iter()
            .any(|row| row.get("name").and_then(Value::as_str) == menu_segments.last().copied());
    if by_name {
        return;
    }
    let bare_set = *method == Method::POST
        && *last == "set"
        && body_props(body).is_ok_and(|(p, _)| !p.contains("numbers") && !p.contains(".id"));
    let kind = if bare_set {
        MenuKind::Singleton
    } else {
        MenuKind::List
    };
    if r.spec(&candidate).is_none() || bare_set {
        r.register_generic(&candidate, kind);
    }
}

/// Handles one `/rest` request; returns the stats route and the reply.
fn handle(
    r: &mut Router,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> (String, Result<Reply, ApiError>) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if method == Method::HEAD {
        return (
            format!("HEAD /{path}"),
            Err(ApiError {
                status: 501,
                detail: None,
            }),
        );
    }
    // Commands outside the modelled menus.
    let joined = format!("/{}", segments.join("/"));
    if method == Method::POST {
        let special = matches!(
            joined.as_str(),
            "/export"
                | "/execute"
                | "/import"
                | "/system/backup/save"
                | "/system/backup/load"
                | "/system/reset-configuration"
                | "/system/reboot"
        );
        if special {
            return (format!("POST {joined}"), special_command(r, &joined, body));
        }
    }
    if joined == "/interface" && method == Method::GET {
        return (
            "GET /interface".to_owned(),
            Ok(Reply::Json(Value::Array(
                r.interfaces().into_iter().map(Value::Object).collect(),
            ))),
        );
    }
    if r.accept_generic {
        accept_generic(r, method, &segments, body);
    }
    // Longest modelled menu prefix.
    let Some((menu_len, menu)) = (1..=segments.len())
        .rev()
        .map(|n| (n, format!("/{}", segments[..n].join("/"))))
        .find(|(_, candidate)| r.spec(candidate).is_some())
    else {
        let unknown = segments.iter().rev().find(|_| true).copied().unwrap_or("");
        let first_unknown = segments.first().copied().unwrap_or(unknown);
        return (
            format!("{method} /{path}"),
            Err(ApiError::bad(format!(
                "no such command or directory ({first_unknown})"
            ))),
        );
    };
    let rest = &segments[menu_len..];
    let Some(kind) = r.spec(&menu).map(|s| s.kind) else {
        return (format!("{method} {menu}"), Err(ApiError::not_found()));
    };
    if rest.len() > 1 {
        return (
            format!("{method} {menu}/..."),
            Err(ApiError::bad(format!(
                "no such command or directory ({})",
                rest[0]
            ))),
        );
    }
    let key = rest.first().copied();
    let route = match (method, key) {
        (&Method::POST, Some(cmd)) => format!("POST {menu}/{cmd}"),
        (_, Some(_)) => format!("{method} {menu}/{{id}}"),
        (_, None) => format!("{method} {menu}"),
    };
    let result = (|| -> Result<Reply, ApiError> {
        match (method.clone(), key) {
            (Method::GET, None) => {
                let mut filters = Vec::new();
                let mut props_wanted = None;
                for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let (k, v) = (percent_decode(k), percent_decode(v));
                    if k == ".proplist" {
                        props_wanted = Some(v.split(',').map(str::to_owned).collect());
                    } else {
                        filters.push((k, v));
                    }
                }
                if kind == MenuKind::Singleton {
                    let rows = proplist(r.list(&menu), props_wanted);
                    return Ok(Reply::Json(
                        rows.into_iter().next().map_or(Value::Null, Value::Object),
                    ));
                }
                // A `.id` filter needs no scan (the common terraform read).
                let candidates = match filters.iter().find(|(k, _)| k == ".id") {
                    Some((_, id)) => match r.resolve(&menu, id) {
                        Ok(index) => vec![r.entry_view(&menu, index)],
                        Err(_) => Vec::new(),
                    },
                    None => r.list(&menu),
                };
                let rows: Vec<Map<String, Value>> = candidates
                    .into_iter()
                    .filter(|row| {
                        filters
                            .iter()
                            .all(|(k, v)| row.get(k).and_then(Value::as_str) == Some(v.as_str()))
                    })
                    .collect();
                Ok(Reply::Json(Value::Array(
                    proplist(rows, props_wanted)
                        .into_iter()
                        .map(Value::Object)
                        .collect(),
                )))
            }
            (Method::GET, Some(key)) => {
                let index = r.resolve(&menu, key)?;
                Ok(Reply::Json(Value::Object(r.entry_view(&menu, index))))
            }
            (Method::PUT, None) => {
                let (props, _) = body_props(body)?;
                let id = r.add(&menu, &props)?;
                let index = r.index_of_id(&menu, id).ok_or_else(ApiError::not_found)?;
                Ok(Reply::Json(Value::Object(r.entry_view(&menu, index))))
            }
            (Method::PATCH, None) if kind == MenuKind::Singleton => {
                let (props, _) = body_props(body)?;
                r.set_singleton(&menu, &props)?;
                Ok(Reply::Json(Value::Object(r.entry_view(&menu, 0))))
            }
            (Method::PATCH, Some(key)) => {
                let (props, _) = body_props(body)?;
                let index = r.resolve(&menu, key)?;
                let id = r.set(&menu, index, &props)?;
                let index = r.index_of_id(&menu, id).ok_or_else(ApiError::not_found)?;
                Ok(Reply::Json(Value::Object(r.entry_view(&menu, index))))
            }
            (Method::DELETE, Some(key)) => {
                let index = r.resolve(&menu, key)?;
                r.remove(&menu, index)?;
                Ok(Reply::NoContent)
            }
            (Method::POST, Some(command)) => {
                let (props, raw) = body_props(body)?;
                post_command(r, &menu, kind, command, &props, &raw)
            }
            (method, _) => Err(ApiError::bad(format!(
                "no such command or directory ({})",
                method.as_str().to_ascii_lowercase()
            ))),
        }
    })();
    (route, result)
}

fn post_command(
    r: &mut Router,
    menu: &str,
    kind: MenuKind,
    command: &str,
    props: &Props,
    raw: &Map<String, Value>,
) -> Result<Reply, ApiError> {
    let empty = || Ok(Reply::Json(Value::Array(Vec::new())));
    match command {
        "print" => {
            let query = string_list(raw.get(".query")).unwrap_or_default();
            let mut rows = Vec::new();
            for row in r.list(menu) {
                if query_matches(&row, &query)? {
                    rows.push(row);
                }
            }
            let rows = proplist(rows, string_list(raw.get(".proplist")));
            Ok(Reply::Json(Value::Array(
                rows.into_iter().map(Value::Object).collect(),
            )))
        }
        "set" if kind == MenuKind::Singleton => {
            r.set_singleton(menu, props)?;
            empty()
        }
        "set" => {
            let values = strip(props, &[".id", "numbers"]);
            for index in ids_of(r, menu, props)? {
                r.set(menu, index, &values)?;
            }
            empty()
        }
        "enable" | "disable" => {
            let value = if command == "enable" { "no" } else { "yes" };
            for index in ids_of(r, menu, props)? {
                r.set(menu, index, &Props::from_pairs([("disabled", value)]))?;
            }
            empty()
        }
        "remove" => {
            let mut ids: Vec<u32> = ids_of(r, menu, props)?
                .into_iter()
                .map(|i| r.id_of(menu, i))
                .collect();
            ids.dedup();
            for id in ids {
                if let Some(index) = r.index_of_id(menu, id) {
                    r.remove(menu, index)?;
                }
            }
            empty()
        }
        "move" => {
            let indexes = ids_of(r, menu, props)?;
            let destination = match props.get("destination") {
                Some(d) => Some(
                    r.resolve(menu, d)
                        .map_err(|_| ApiError::bad("no such item"))?,
                ),
                None => None,
            };
            r.move_items(menu, &indexes, destination)?;
            empty()
        }
        "add" => {
            let id = r.add(menu, props)?;
            Ok(Reply::Json(json!({ "ret": format!("*{id:X}") })))
        }
        other => Err(ApiError::bad(format!(
            "no such command or directory ({other})"
        ))),
    }
}

fn special_command(r: &mut Router, command: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let (props, _) = body_props(body)?;
    let empty = Ok(Reply::Json(Value::Array(Vec::new())));
    match command {
        "/export" => {
            let text = r.export_text_as(props.contains("terse"), props.contains("show-sensitive"));
            match props.get("file") {
                Some(file) => {
                    let name = if file.ends_with(".rsc") {
                        file.to_owned()
                    } else {
                        format!("{file}.rsc")
                    };
                    r.write_file(&name, &text);
                    empty
                }
                None => Ok(Reply::Json(json!({ "ret": text }))),
            }
        }
        "/execute" => {
            let script = props
                .get("script")
                .ok_or_else(|| ApiError::bad("missing value(s) of argument(s) script"))?;
            match (r.run_script(script), props.contains("as-string")) {
                (Ok(()), true) => Ok(Reply::Json(json!({ "ret": "" }))),
                (Ok(()), false) => empty,
                (Err(e), true) => Ok(Reply::Json(json!({ "ret": e }))),
                (Err(e), false) => Err(ApiError::bad(e)),
            }
        }
        "/import" => {
            let file = props
                .get("file-name")
                .ok_or_else(|| ApiError::bad("missing value(s) of argument(s) file-name"))?;
            r.import_file(file).map_err(ApiError::bad)?;
            empty
        }
        "/system/backup/save" => {
            let password = props
                .get("password")
                .filter(|_| props.get("dont-encrypt") != Some("yes"));
            r.backup_save(props.get("name").unwrap_or("backup"), password);
            empty
        }
        "/system/backup/load" => {
            let name = props
                .get("name")
                .ok_or_else(|| ApiError::bad("missing value(s) of argument(s) name"))?;
            r.backup_load(name, props.get("password"))
                .map_err(ApiError::bad)?;
            empty
        }
        "/system/reboot" => {
            r.reboot();
            empty
        }
        "/system/reset-configuration" => {
            let mut script = "/system reset-configuration".to_owned();
            for (k, v) in props.iter() {
                script.push_str(&format!(" {k}={}", rackpipe_routeros::export::quote(v)));
            }
            r.run_script(&script).map_err(ApiError::bad)?;
            empty
        }
        _ => Err(ApiError::bad("no such command or directory")),
    }
}

/// Synthetic bulk data for benchmarks.
pub(crate) fn populate(r: &mut Router, filter_rules: usize, leases: usize) -> Result<(), String> {
    let err = |e: ApiError| e.detail.unwrap_or_default();
    for i in 0..filter_rules {
        let props = Props::from_pairs([
            ("chain", "input".to_owned()),
            ("action", "accept".to_owned()),
            ("protocol", "tcp".to_owned()),
            (
                "src-address",
                format!("10.{}.{}.0/24", (i / 256) % 256, i % 256),
            ),
            ("dst-port", format!("{}", 10_000 + i % 50_000)),
            ("comment", format!("synthetic rule {i}")),
        ]);
        r.add("/ip/firewall/filter", &props).map_err(err)?;
    }
    for i in 0..leases {
        let n = u32::try_from(i).unwrap_or(0);
        let props = Props::from_pairs([
            ("address", format!("10.200.{}.{}", n / 250, n % 250 + 2)),
            (
                "mac-address",
                format!("02:00:00:00:{:02X}:{:02X}", n / 256, n % 256),
            ),
            ("comment", format!("synthetic lease {i}")),
        ]);
        r.add("/ip/dhcp-server/lease", &props).map_err(err)?;
    }
    Ok(())
}

async fn sim_stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(lock(&shared.stats).clone()).into_response()
}

async fn sim_reset_stats(State(shared): State<Arc<Shared>>) -> Response {
    *lock(&shared.stats) = Stats::default();
    StatusCode::NO_CONTENT.into_response()
}

async fn sim_reachable_get(State(shared): State<Arc<Shared>>) -> Response {
    let result = shared.with_router(|r| r.reachable());
    axum::Json(json!({ "reachable": result.is_ok(), "reason": result.err() })).into_response()
}

async fn sim_reachable_post(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "body must be {\"reachable\": bool}",
        )
            .into_response();
    };
    let Some(reachable) = value.get("reachable").and_then(Value::as_bool) else {
        return (
            StatusCode::BAD_REQUEST,
            "body must be {\"reachable\": bool}",
        )
            .into_response();
    };
    // `{"reachable": false, "when_scheduled": NAME}`: cut later, right after the request that
    // adds the scheduler entry NAME (see `Router::cut_when_scheduled`).
    if let Some(name) = value.get("when_scheduled").and_then(Value::as_str) {
        if reachable {
            return (
                StatusCode::BAD_REQUEST,
                "when_scheduled goes with reachable: false",
            )
                .into_response();
        }
        let name = name.to_owned();
        shared.with_router(|r| r.cut_when_scheduled = Some(name));
    } else {
        shared.with_router(|r| {
            r.forced_unreachable = !reachable;
            r.cut_when_scheduled = None;
        });
    }
    sim_reachable_get(State(shared)).await
}

async fn sim_dynamic(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed: Result<(String, Props), String> = serde_json::from_slice::<Value>(&body)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            let menu = v
                .get("menu")
                .and_then(Value::as_str)
                .ok_or("missing menu")?
                .to_owned();
            let props: Props = serde_json::from_value(v.get("props").cloned().unwrap_or(json!({})))
                .map_err(|e| e.to_string())?;
            Ok((menu, props))
        });
    match parsed {
        Ok((menu, props)) => match shared.with_router(|r| r.add_dynamic(&menu, props)) {
            Ok(id) => axum::Json(json!({ ".id": format!("*{id:X}") })).into_response(),
            Err(e) => error_response(&e),
        },
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn sim_populate(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let count = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    };
    match shared.with_router(|r| populate(r, count("filter_rules"), count("leases"))) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn sim_export(State(shared): State<Arc<Shared>>) -> Response {
    shared.with_router(|r| r.export_text()).into_response()
}

async fn sim_log(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.with_router(|r| r.log.clone())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode() {
        assert_eq!(percent_decode("a%3Db+c"), "a=b c");
        assert_eq!(percent_decode("%2A1A"), "*1A");
        assert_eq!(percent_decode("100%"), "100%");
    }

    use proptest::prelude::*;

    const PATHS: &[&str] = &[
        "interface/ethernet",
        "interface/bridge",
        "interface/bridge/port",
        "interface/bridge/vlan",
        "interface/vlan",
        "interface/bonding",
        "ip/address",
        "ip/dns",
        "ip/firewall/filter",
        "ip/service",
        "system/identity",
        "system/scheduler",
        "export",
        "execute",
        "import",
        "system/backup/save",
        "system/backup/load",
        "system/reset-configuration",
        "nope",
    ];
    const SUFFIXES: &[&str] = &[
        "", "/*1", "/*5", "/*20", "/ether1", "/br0", "/set", "/move", "/remove", "/print", "/add",
        "/x/y",
    ];
    const KEYS: &[&str] = &[
        "name",
        "interface",
        "bridge",
        "vlan-id",
        "vlan-ids",
        "tagged",
        "address",
        "chain",
        "action",
        "disabled",
        ".id",
        "numbers",
        "destination",
        "place-before",
        "!comment",
        "comment",
        "slaves",
        "pvid",
        "interval",
        "on-event",
        "start-time",
        "file",
        "file-name",
        "script",
        "vlan-filtering",
        "src-address",
        "no-defaults",
        "run-after-reset",
    ];
    const VALUES: &[&str] = &[
        "",
        "ether1",
        "ether2",
        "br0",
        "*1",
        "*3",
        "*1,*2",
        "yes",
        "no",
        "10",
        "0x10",
        "99999",
        "10.0.0.1/24",
        "192.168.88.1/24",
        "input",
        "drop",
        "1s",
        "startup",
        "/import file-name=x.rsc",
        "x",
        "x.rsc",
        "/system reset-configuration no-defaults=yes run-after-reset=x.rsc",
        "[",
        "\"",
        "00:00:01",
    ];

    fn request() -> impl Strategy<Value = (usize, usize, usize, Vec<(usize, usize)>, Option<String>)>
    {
        (
            0..5usize,
            0..PATHS.len(),
            0..SUFFIXES.len(),
            proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..5),
            proptest::option::of(".{0,12}"),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Random request sequences never panic, and the export always parses.
        #[test]
        fn random_requests_never_panic(requests in proptest::collection::vec(request(), 1..40)) {
            let mut r = Router::new(&SimConfig::default());
            for (m, p, s, pairs, raw) in requests {
                let method = [Method::GET, Method::PUT, Method::PATCH, Method::DELETE, Method::POST][m].clone();
                let path = format!("{}{}", PATHS[p], SUFFIXES[s]);
                let body = match raw {
                    Some(raw) if pairs.is_empty() => raw.into_bytes(),
                    _ => {
                        let map: Map<String, Value> = pairs.iter().map(|(k, v)| (KEYS[*k].to_owned(), json!(VALUES[*v]))).collect();
                        serde_json::to_vec(&map).unwrap()
                    }
                };
                let _ = handle(&mut r, &method, &path, Some(".proplist=name&disabled=false"), &body);
                let _ = r.reachable();
                r.tick();
                let text = r.export_text();
                prop_assert!(rackpipe_routeros::parse(&text).is_ok(), "{}", text);
            }
        }

        /// Random scripts never panic.
        #[test]
        fn random_scripts_never_panic(script in "[/a-z =\\[\\]\"*0-9.;\n-]{0,80}") {
            let mut r = Router::new(&SimConfig::default());
            let _ = r.run_script(&script);
            let _ = r.reachable();
        }
    }

    #[test]
    #[allow(clippy::print_stderr)]
    fn export_sample() {
        let mut r = Router::new(&SimConfig::default());
        r.run_script("/interface ethernet set [ find default-name=ether2 ] name=uplink comment=\"a b\"\n/ip dns set servers=1.1.1.1 allow-remote-requests=yes\n/ip firewall filter add chain=input action=drop comment=last").unwrap();
        let text = r.export_text();
        eprintln!("{text}");
        assert!(text.contains("/interface ethernet\nset [ find default-name=ether2 ] comment=\"a b\" name=uplink\n"), "{text}");
        assert!(
            text.contains("/ip dns\nset allow-remote-requests=yes servers=1.1.1.1\n"),
            "{text}"
        );
        assert!(
            text.contains("/ip firewall filter\nadd action=drop chain=input comment=last\n"),
            "{text}"
        );
        assert!(
            !text.contains("/ip service") && !text.contains("/system logging action"),
            "{text}"
        );
        r.run_script("/ip service set www-ssl disabled=no port=8443")
            .unwrap();
        assert!(
            r.export_text()
                .contains("/ip service\nset www-ssl disabled=no port=8443\n")
        );
    }

    #[test]
    fn export_then_import_is_identity() {
        let mut r = Router::new(&SimConfig::default());
        let (_, result) = handle(
            &mut r,
            &Method::PUT,
            "interface/bridge",
            None,
            br#"{"name":"br0","vlan-filtering":"yes"}"#,
        );
        assert!(result.is_ok());
        let before = r.export();
        let text = r.export_text();
        r.reset(true, true);
        r.run_config(&rackpipe_routeros::parse(&text).unwrap())
            .unwrap();
        assert_eq!(r.export(), before);
    }

    #[test]
    fn query_stack() {
        let row: Map<String, Value> =
            serde_json::from_str(r#"{"type":"vlan","mtu":"1500"}"#).unwrap();
        let q = |words: &[&str]| {
            query_matches(
                &row,
                &words.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            )
            .unwrap()
        };
        assert!(q(&["type=ether", "type=vlan", "#|"]));
        assert!(!q(&["type=ether", "type=vlan", "#&"]));
        assert!(q(&["type=ether", "#!"]));
        assert!(q(&["mtu>1000", "-comment"]));
    }
}
