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

use crate::state::{ApiError, Router};
use crate::{Secret, SimConfig, Stats, lock};

mod commands;
mod hooks;

use commands::handle;
pub(crate) use hooks::populate;
use hooks::{
    sim_dynamic, sim_export, sim_log, sim_populate, sim_reachable_get, sim_reachable_post,
    sim_reset_stats, sim_stats,
};

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
