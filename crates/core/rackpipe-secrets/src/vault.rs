//! `vault:MOUNT/PATH#KEY`: a small KV reader with a per-path cache and a one-time login.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rackpipe_tls::transport::{self, BodyError, PlainHttp};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::{ErrorKind, Secret, VaultAuth, VaultRef, VaultSettings};

/// The largest Vault reply read into memory: a KV entry (certificates and keys included) or a
/// login answer is a few KiB.
const SECRET_REPLY_LIMIT: u64 = 16 * 1024 * 1024;

/// A definitive outcome of reading one `MOUNT/PATH` (transient failures are not kept).
type Fetched = Result<Arc<Map<String, Value>>, ErrorKind>;

/// The Vault side of a resolver.
pub(crate) struct Vault {
    settings: VaultSettings,
    client: OnceLock<Result<reqwest::Client, ErrorKind>>,
    token: OnceCell<Result<Secret, ErrorKind>>,
    paths: Mutex<HashMap<String, Arc<OnceCell<Fetched>>>>,
    requests: AtomicU64,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("addr", &self.settings.addr)
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl Vault {
    pub(crate) fn new(settings: VaultSettings) -> Self {
        Self {
            settings,
            client: OnceLock::new(),
            token: OnceCell::new(),
            paths: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
        }
    }

    pub(crate) fn settings(&self) -> &VaultSettings {
        &self.settings
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn cell(&self, v: &VaultRef<'_>) -> Arc<OnceCell<Fetched>> {
        let key = format!("{}/{}", v.mount, v.path);
        let mut paths = self
            .paths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(paths.entry(key).or_default())
    }

    /// Stores an outcome for `MOUNT/PATH` as a read would (unit tests).
    #[cfg(test)]
    pub(crate) fn seed(&self, location: &str, fetched: Fetched) {
        let mut paths = self
            .paths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cell = OnceCell::new_with(Some(fetched));
        paths.insert(location.to_owned(), Arc::new(cell));
    }

    /// The value when `MOUNT/PATH` has already been read (no I/O).
    pub(crate) fn cached(&self, v: &VaultRef<'_>) -> Option<Result<Secret, ErrorKind>> {
        self.cell(v).get().map(|fetched| pick(fetched, v))
    }

    /// Reads `MOUNT/PATH` (once) and picks `KEY`.
    pub(crate) async fn read(&self, v: &VaultRef<'_>) -> Result<Secret, ErrorKind> {
        let cell = self.cell(v);
        let fetched = cell
            .get_or_try_init(|| async { definitive(self.fetch(v.mount, v.path).await) })
            .await?;
        pick(fetched, v)
    }

    fn addr(&self) -> Result<&str, ErrorKind> {
        let addr = self.settings.addr.as_deref().ok_or_else(|| {
            ErrorKind::NotConfigured(
                "VAULT_ADDR is not set (vault: references need Vault)".to_owned(),
            )
        })?;
        // The shared rule, stricter here: secrets are read only over verified TLS, even on
        // loopback (a local user could listen on a free loopback port and take the token).
        transport::check_url(addr, PlainHttp::Refuse).map_err(|e| {
            ErrorKind::NotConfigured(format!("VAULT_ADDR: {e} (TLS is never disabled)"))
        })?;
        Ok(addr.trim_end_matches('/'))
    }

    fn client(&self) -> Result<&reqwest::Client, ErrorKind> {
        self.client
            .get_or_init(|| build_client(&self.settings))
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn token(&self) -> Result<Secret, ErrorKind> {
        self.token
            .get_or_try_init(|| async { definitive(self.login().await) })
            .await?
            .clone()
    }

    async fn login(&self) -> Result<Secret, ErrorKind> {
        match &self.settings.auth {
            VaultAuth::None => Err(ErrorKind::NotConfigured(
                "no Vault credentials: set VAULT_TOKEN, or VAULT_JWT_ROLE with the JWT in VAULT_ID_TOKEN"
                    .to_owned(),
            )),
            VaultAuth::Token(token) => Ok(token.clone()),
            VaultAuth::Jwt { jwt: Err(var), role, .. } => Err(ErrorKind::NotConfigured(format!(
                "VAULT_JWT_ROLE is {role:?} but environment variable {var} (the JWT) is not set"
            ))),
            VaultAuth::Jwt {
                role,
                mount,
                jwt: Ok(jwt),
            } => {
                let path = format!("auth/{mount}/login");
                let body = json!({"role": role, "jwt": jwt.expose()});
                let (status, reply) = self.send(reqwest::Method::POST, &path, Some(&body), None).await?;
                match status {
                    200 => reply
                        .pointer("/auth/client_token")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(Secret::new)
                        .ok_or_else(|| {
                            ErrorKind::BadReply(format!("{path}: reply without auth.client_token"))
                        }),
                    400 | 401 | 403 => Err(ErrorKind::Denied(format!(
                        "JWT login as role {role:?} at {path} refused (HTTP {status}): {}",
                        errors(&reply)
                    ))),
                    404 => Err(ErrorKind::NotConfigured(format!(
                        "{path}: no such auth method (HTTP 404); set VAULT_JWT_PATH"
                    ))),
                    _ => Err(status_error(self.addr()?, status, &reply)),
                }
            }
        }
    }

    /// Reads KV v2 `MOUNT/data/PATH`; when that is 404, KV v1 `MOUNT/PATH`.
    async fn fetch(&self, mount: &str, path: &str) -> Result<Arc<Map<String, Value>>, ErrorKind> {
        // Settings first: a missing address or CA says so before the credentials do.
        self.addr()?;
        self.client()?;
        let token = self.token().await?;
        for (version, api_path) in [
            (2, format!("{mount}/data/{path}")),
            (1, format!("{mount}/{path}")),
        ] {
            let (status, reply) = self
                .send(reqwest::Method::GET, &api_path, None, Some(&token))
                .await?;
            tracing::debug!(mount, path, kv = version, status, "vault read");
            match status {
                200 => {
                    // KV v2: {"data": {"data": {...}, "metadata": {...}}}; KV v1: {"data": {...}}.
                    let data = reply.get("data");
                    let fields = data
                        .and_then(|d| d.get("data"))
                        .filter(|d| d.is_object())
                        .or(data)
                        .and_then(Value::as_object)
                        .ok_or_else(|| {
                            ErrorKind::BadReply(format!("{api_path}: reply without data"))
                        })?;
                    return Ok(Arc::new(fields.clone()));
                }
                404 => {}
                401 | 403 => {
                    return Err(ErrorKind::Denied(format!(
                        "permission denied reading {mount}/{path} (HTTP {status}): {}",
                        errors(&reply)
                    )));
                }
                _ => return Err(status_error(self.addr()?, status, &reply)),
            }
        }
        Err(ErrorKind::NotFound(format!(
            "no secret at {mount}/{path} (HTTP 404)"
        )))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&Secret>,
    ) -> Result<(u16, Value), ErrorKind> {
        let addr = self.addr()?;
        let client = self.client()?;
        let mut headers = HeaderMap::new();
        headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(token.expose()).map_err(|_| {
                ErrorKind::NotConfigured("the Vault token is not a valid header value".to_owned())
            })?;
            value.set_sensitive(true);
            headers.insert("X-Vault-Token", value);
        }
        if let Some(ns) = &self.settings.namespace {
            let value = HeaderValue::from_str(ns).map_err(|_| {
                ErrorKind::NotConfigured(format!(
                    "VAULT_NAMESPACE {ns:?} is not a valid header value"
                ))
            })?;
            headers.insert("X-Vault-Namespace", value);
        }
        let mut request = client
            .request(method, format!("{addr}/v1/{path}"))
            .headers(headers);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let reply = request
            .send()
            .await
            .map_err(|e| transport_error(addr, self.settings.timeout, &e))?;
        let status = reply.status().as_u16();
        let bytes = transport::read_body_limited(reply, SECRET_REPLY_LIMIT)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => transport_error(addr, self.settings.timeout, &e),
                other => ErrorKind::BadReply(format!("{path}: {other}")),
            })?;
        let value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| {
                ErrorKind::BadReply(format!(
                    "{path}: HTTP {status} with a reply that is not JSON"
                ))
            })?
        };
        Ok((status, value))
    }
}

/// Keeps definitive failures (cached), passes transient ones through (retried next time).
fn definitive<T>(result: Result<T, ErrorKind>) -> Result<Result<T, ErrorKind>, ErrorKind> {
    match result {
        Err(kind) if kind.is_transient() => Err(kind),
        other => Ok(other),
    }
}

fn pick(fetched: &Fetched, v: &VaultRef<'_>) -> Result<Secret, ErrorKind> {
    let fields = fetched.as_ref().map_err(Clone::clone)?;
    match fields.get(v.key) {
        None => Err(ErrorKind::NotFound(format!("key {:?} not found", v.key))),
        Some(Value::String(s)) if s.is_empty() => {
            Err(ErrorKind::NotFound(format!("key {:?} is empty", v.key)))
        }
        Some(Value::String(s)) => Ok(Secret::new(s.clone())),
        Some(n @ (Value::Number(_) | Value::Bool(_))) => Ok(Secret::new(n.to_string())),
        Some(_) => Err(ErrorKind::BadReply(format!(
            "key {:?} is not a string",
            v.key
        ))),
    }
}

fn build_client(settings: &VaultSettings) -> Result<reqwest::Client, ErrorKind> {
    let mut builder = transport::client_builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .no_proxy()
        .https_only(true)
        // Connections are not kept: the blocking API runs each read on its own runtime.
        .pool_max_idle_per_host(0)
        .user_agent(concat!("rackpipe-secrets/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &settings.ca_file {
        let bad = |reason: String| {
            ErrorKind::NotConfigured(format!("VAULT_CACERT {}: {reason}", ca.display()))
        };
        let pem = std::fs::read(ca).map_err(|e| bad(format!("cannot read: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| bad("not a PEM certificate bundle".to_owned()))?;
        if certs.is_empty() {
            return Err(bad("no certificate in it".to_owned()));
        }
        builder = builder.tls_certs_only(certs);
    }
    builder
        .build()
        .map_err(|e| ErrorKind::NotConfigured(format!("HTTP client: {e}")))
}

/// Vault's `errors` array, joined (`permission denied`).
fn errors(reply: &Value) -> String {
    let list: Vec<&str> = reply
        .get("errors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "no error message".to_owned()
    } else {
        // The peer's text: one short line (control characters out, cut), whatever it sent.
        transport::peer_text(&list.join("; "))
    }
}

fn status_error(addr: &str, status: u16, reply: &Value) -> ErrorKind {
    if status >= 500 || status == 429 {
        ErrorKind::Unreachable {
            addr: addr.to_owned(),
            reason: format!("HTTP {status}: {}", errors(reply)),
        }
    } else {
        ErrorKind::Api {
            status,
            message: errors(reply),
        }
    }
}

fn transport_error(addr: &str, timeout: Duration, e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Unreachable {
            addr: addr.to_owned(),
            reason: format!("no answer within {}s", timeout.as_secs_f32()),
        };
    }
    let mut chain = Vec::new();
    let mut tls = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !chain.contains(&text) {
            chain.push(text);
        }
        tls |= s.downcast_ref::<rustls::Error>().is_some()
            || s.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
        source = s.source();
    }
    let reason = chain.join(": ").replace('\n', " ");
    if tls || reason.contains("invalid peer certificate") {
        ErrorKind::Tls {
            addr: addr.to_owned(),
            reason,
        }
    } else {
        ErrorKind::Unreachable {
            addr: addr.to_owned(),
            reason,
        }
    }
}
