//! A **SIMULATOR** of the Synology DSM Web API, for tests only. It is not DSM and knows
//! nothing of DSM beyond the shapes below, which follow what Synology's own CSI driver
//! (SynologyOpenSource/synology-csi, `pkg/dsm/webapi`) and community tools rely on:
//!
//! - `SYNO.API.Info` `query` (`/webapi/query.cgi` or `entry.cgi`): which APIs exist, with
//!   their path and versions.
//! - `SYNO.API.Auth` `login`/`logout` (v3..v7, `/webapi/auth.cgi` or `entry.cgi`): `account`,
//!   `passwd`, `format=sid`, `enable_syno_token=yes` → `{sid, synotoken}`. Wrong password:
//!   error 400.
//! - `SYNO.Core.FileServ.NFS.SharePrivilege` v1 `load`/`save` (`entry.cgi`): `share_name`
//!   as a JSON-quoted string (a bare name is accepted too); a `name` parameter instead gives
//!   error 2301; an unknown share gives 2370. `save` takes `rule` (a JSON array) and
//!   **replaces the whole list**; it needs the SynoToken (`X-SYNO-TOKEN` header or
//!   `SynoToken` parameter), else error 119 like a missing session.
//! - Every answer is the DSM envelope `{"success":true,"data":..}` or
//!   `{"success":false,"error":{"code":N}}` with HTTP 200.
//!
//! **The lost-save defect.** Real DSM can answer `success: true` to concurrent saves without
//! writing them. The simulator reproduces it: a save that arrives while another save is in
//! flight (each save holds the "write" for [`SimConfig::save_latency`]) answers success and is
//! dropped. Tests can also force the next N saves to be lost ([`DsmSim::lose_next_saves`]).
//!
//! Parameters are read from the query string and from a form body, as DSM does.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::any;
use serde_json::{Value, json};

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Accounts: user → password.
    pub users: BTreeMap<String, String>,
    /// Shared folders that exist, with their initial rules.
    pub shares: BTreeMap<String, Vec<Value>>,
    /// How long a save holds the write; saves overlapping it are lost.
    pub save_latency: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            users: BTreeMap::new(),
            shares: BTreeMap::new(),
            save_latency: Duration::from_millis(50),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    shares: BTreeMap<String, Vec<Value>>,
    sessions: HashMap<String, String>,
    saves_in_flight: u32,
    lose_next: u32,
    log: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    config: SimConfig,
    inner: Mutex<Inner>,
    counter: AtomicU64,
    lost: AtomicU64,
    applied: AtomicU64,
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct DsmSim {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DsmSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the loopback port failed.
    #[error("cannot bind 127.0.0.1:0: {0}")]
    Bind(std::io::Error),
    /// The certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
}

/// A certificate chain and key in PEM, for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsPem {
    /// Leaf first, then intermediates.
    pub cert_chain_pem: String,
    /// PKCS#8 private key.
    pub key_pem: String,
}

impl DsmSim {
    /// Starts a plain-HTTP simulator on 127.0.0.1 (a free port).
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        Self::start_inner(config, None).await
    }

    /// Starts an HTTPS simulator on 127.0.0.1 with the given certificate.
    pub async fn start_tls(config: SimConfig, tls: TlsPem) -> Result<Self, SimError> {
        Self::start_inner(config, Some(tls)).await
    }

    async fn start_inner(config: SimConfig, tls: Option<TlsPem>) -> Result<Self, SimError> {
        let inner = Inner {
            shares: config.shares.clone(),
            ..Inner::default()
        };
        let shared = Arc::new(Shared {
            config,
            inner: Mutex::new(inner),
            counter: AtomicU64::new(1),
            lost: AtomicU64::new(0),
            applied: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/webapi/entry.cgi", any(handle))
            .route("/webapi/auth.cgi", any(handle))
            .route("/webapi/query.cgi", any(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SimError::Bind)?;
        let addr = listener.local_addr().map_err(SimError::Bind)?;
        let is_tls = tls.is_some();
        let task = match tls {
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }),
            Some(pem) => {
                let listener =
                    rackpipe_tls::TlsListener::new(listener, &pem.cert_chain_pem, &pem.key_pem)
                        .map_err(SimError::Tls)?;
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                })
            }
        };
        Ok(Self {
            addr,
            tls: is_tls,
            shared,
            task,
        })
    }

    /// `http(s)://127.0.0.1:PORT`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The rules of a share as stored (None: no such share).
    #[must_use]
    pub fn rules(&self, share: &str) -> Option<Vec<Value>> {
        self.shared.inner.lock().ok()?.shares.get(share).cloned()
    }

    /// Replaces a share's rules directly (as if changed in the DSM UI).
    pub fn set_rules(&self, share: &str, rules: Vec<Value>) {
        if let Ok(mut inner) = self.shared.inner.lock() {
            inner.shares.insert(share.to_owned(), rules);
        }
    }

    /// The next `n` saves answer success and are dropped.
    pub fn lose_next_saves(&self, n: u32) {
        if let Ok(mut inner) = self.shared.inner.lock() {
            inner.lose_next = n;
        }
    }

    /// Saves that answered success but were dropped.
    #[must_use]
    pub fn lost_saves(&self) -> u64 {
        self.shared.lost.load(Ordering::SeqCst)
    }

    /// Saves that were written.
    #[must_use]
    pub fn applied_saves(&self) -> u64 {
        self.shared.applied.load(Ordering::SeqCst)
    }

    /// Requests seen, as `API.method` lines (no secrets).
    #[must_use]
    pub fn log(&self) -> Vec<String> {
        self.shared
            .inner
            .lock()
            .map(|i| i.log.clone())
            .unwrap_or_default()
    }
}

fn ok(data: Value) -> Response {
    Json(json!({ "success": true, "data": data })).into_response()
}

fn err(code: i64) -> Response {
    Json(json!({ "success": false, "error": { "code": code } })).into_response()
}

/// DSM parameters often arrive JSON-encoded (`"\"name\""`); accept both forms.
fn unquote(value: &str) -> String {
    match serde_json::from_str::<Value>(value) {
        Ok(Value::String(s)) => s,
        _ => value.to_owned(),
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut params = query;
    for (k, v) in form_pairs(&body) {
        params.insert(k, v);
    }
    let get = |k: &str| params.get(k).map(String::as_str);
    let api = get("api").unwrap_or_default().to_owned();
    let method = get("method").unwrap_or_default().to_owned();
    if let Ok(mut inner) = shared.inner.lock() {
        inner.log.push(format!("{api}.{method}"));
    }
    let version: u32 = get("version").and_then(|v| v.parse().ok()).unwrap_or(0);
    match api.as_str() {
        "" => err(101),
        "SYNO.API.Info" => {
            if method != "query" {
                return err(103);
            }
            let all = json!({
                "SYNO.API.Info": { "path": "query.cgi", "minVersion": 1, "maxVersion": 1 },
                "SYNO.API.Auth": { "path": "entry.cgi", "minVersion": 1, "maxVersion": 7 },
                "SYNO.Core.FileServ.NFS.SharePrivilege": { "path": "entry.cgi", "minVersion": 1, "maxVersion": 1 },
            });
            let wanted = get("query").unwrap_or("all");
            if wanted == "all" {
                return ok(all);
            }
            let mut out = serde_json::Map::new();
            for name in wanted.split(',') {
                if let Some(v) = all.get(name.trim()) {
                    out.insert(name.trim().to_owned(), v.clone());
                }
            }
            ok(Value::Object(out))
        }
        "SYNO.API.Auth" => {
            if !(1..=7).contains(&version) {
                return err(104);
            }
            match method.as_str() {
                "login" => {
                    let (Some(account), Some(passwd)) = (get("account"), get("passwd")) else {
                        return err(114);
                    };
                    if shared.config.users.get(account).map(String::as_str) != Some(passwd) {
                        return err(400);
                    }
                    let n = shared.counter.fetch_add(1, Ordering::SeqCst);
                    let sid = format!("sim-sid-{n:08x}-{}", hex::encode(n.to_le_bytes()));
                    let token = format!("sim-token-{}", hex::encode((n * 7919).to_be_bytes()));
                    if let Ok(mut inner) = shared.inner.lock() {
                        inner.sessions.insert(sid.clone(), token.clone());
                    }
                    ok(
                        json!({ "sid": sid, "synotoken": token, "did": "sim-device", "is_portal_port": false }),
                    )
                }
                "logout" => {
                    if let (Some(sid), Ok(mut inner)) = (get("_sid"), shared.inner.lock()) {
                        inner.sessions.remove(sid);
                    }
                    ok(Value::Null)
                }
                _ => err(103),
            }
        }
        "SYNO.Core.FileServ.NFS.SharePrivilege" => {
            if version != 1 {
                return err(104);
            }
            let sid = get("_sid")
                .map(str::to_owned)
                .or_else(|| cookie(&headers, "id"));
            let token = headers
                .get("x-syno-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .or_else(|| get("SynoToken").map(str::to_owned));
            let session_token = sid
                .as_ref()
                .and_then(|s| shared.inner.lock().ok()?.sessions.get(s).cloned());
            let Some(session_token) = session_token else {
                return err(119);
            };
            if get("name").is_some() && get("share_name").is_none() {
                return err(2301);
            }
            let Some(share) = get("share_name").map(unquote) else {
                return err(114);
            };
            match method.as_str() {
                "load" => {
                    let rules = shared
                        .inner
                        .lock()
                        .ok()
                        .and_then(|i| i.shares.get(&share).cloned());
                    match rules {
                        Some(rules) => ok(json!({ "share_name": share, "rule": rules })),
                        None => err(2370),
                    }
                }
                "save" => {
                    if token.as_deref() != Some(session_token.as_str()) {
                        return err(119);
                    }
                    let Some(rule_text) = get("rule") else {
                        return err(114);
                    };
                    let Ok(Value::Array(rules)) = serde_json::from_str::<Value>(rule_text) else {
                        return err(120);
                    };
                    if !rules.iter().all(valid_rule) {
                        return err(2301);
                    }
                    save(&shared, &share, rules).await
                }
                _ => err(103),
            }
        }
        _ => err(102),
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let raw = headers.get("cookie")?.to_str().ok()?;
    raw.split(';')
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
}

fn valid_rule(rule: &Value) -> bool {
    let s = |k: &str| rule.get(k).and_then(Value::as_str);
    let privilege_ok =
        s("privilege").is_some_and(|p| ["rw", "ro"].contains(&p.to_ascii_lowercase().as_str()));
    let squash_ok = s("root_squash")
        .is_some_and(|p| ["root", "admin", "guest", "all_admin", "all_guest"].contains(&p));
    let client_ok = s("client").is_some_and(|c| !c.is_empty() && !c.contains(char::is_whitespace));
    privilege_ok && squash_ok && client_ok
}

async fn save(shared: &Arc<Shared>, share: &str, rules: Vec<Value>) -> Response {
    // Decide under the lock whether this save is lost (another in flight, or forced).
    let lost = {
        let Ok(mut inner) = shared.inner.lock() else {
            return err(100);
        };
        if !inner.shares.contains_key(share) {
            return err(2370);
        }
        let lost = inner.saves_in_flight > 0 || inner.lose_next > 0;
        if inner.lose_next > 0 {
            inner.lose_next -= 1;
        }
        inner.saves_in_flight += 1;
        lost
    };
    tokio::time::sleep(shared.config.save_latency).await;
    if let Ok(mut inner) = shared.inner.lock() {
        inner.saves_in_flight = inner.saves_in_flight.saturating_sub(1);
        if lost {
            shared.lost.fetch_add(1, Ordering::SeqCst);
        } else {
            let normalised = rules
                .into_iter()
                .map(|mut r| {
                    if let Some(p) = r
                        .get("privilege")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase)
                    {
                        r["privilege"] = Value::String(p);
                    }
                    r
                })
                .collect();
            inner.shares.insert(share.to_owned(), normalised);
            shared.applied.fetch_add(1, Ordering::SeqCst);
        }
    }
    ok(Value::Null)
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if bytes.get(i + 1..i + 3).is_some() => {
                let hexpair = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hexpair {
                    out.push(b);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{decode, unquote};

    #[test]
    fn decoding() {
        assert_eq!(decode("a%22b+c"), "a\"b c");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(unquote("\"X\""), "X");
        assert_eq!(unquote("X"), "X");
    }
}
