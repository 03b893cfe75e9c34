//! The one Vault/OpenBao HTTP client of rackpipe, and the `vault:MOUNT/PATH#KEY` reader built
//! on it.
//!
//! - [`Http`] / [`Client`]: one TLS setup over [`transport::client_builder`] (the servers
//!   verified by a CA bundle or the system roots, no proxy, redirects refused, replies read
//!   with a size limit), the transport rule checked before every request, `X-Vault-Token`
//!   marked sensitive, a request counter, and the one JWT login ([`Client::login_jwt`]).
//!   `vault-bootstrap` builds its cluster clients on it.
//! - The reader behind [`crate::Resolver`]: KV v2 then v1, a per-path cache and a one-time
//!   login; secrets are read only over verified TLS, even on loopback.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rackpipe_tls::transport::{self, BodyError, PlainHttp};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::{ErrorKind, Secret, VaultAuth, VaultRef, VaultSettings};

// ---------------------------------------------------------------------------------------------
// The one Vault HTTP client: TLS setup, the transport rule, requests, and the JWT login.
// ---------------------------------------------------------------------------------------------

/// How the one Vault HTTP client is set up ([`Http::new`]).
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// PEM CA bundle the servers' certificates are verified with; `None`: the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Per-request timeout (connect + reply).
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whether plain `http://` is allowed (only to a literal loopback address) or refused.
    pub plain_http: PlainHttp,
    /// Keep idle connections for reuse (off when each call may run on its own runtime).
    pub keep_alive: bool,
    /// The `User-Agent`.
    pub user_agent: &'static str,
    /// The largest reply read into memory.
    pub body_limit: u64,
    /// `X-Vault-Namespace` on every request (Vault Enterprise / HCP namespaces).
    pub namespace: Option<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            ca_pem: None,
            timeout: crate::DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(5),
            plain_http: PlainHttp::Refuse,
            keep_alive: true,
            user_agent: concat!("rackpipe/", env!("CARGO_PKG_VERSION")),
            body_limit: transport::API_BODY_LIMIT,
            namespace: None,
        }
    }
}

/// Why the client could not be set up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SetupError {
    /// The CA bundle is not PEM.
    #[error("not a PEM certificate bundle: {0}")]
    NotPem(String),
    /// The CA bundle holds no certificate.
    #[error("no certificate in it")]
    NoCertificate,
    /// The namespace cannot be sent as a header.
    #[error("namespace {0:?} is not a valid header value")]
    Namespace(String),
    /// reqwest refused the configuration.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// Why a request got no HTTP reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The URL breaks the transport rule (checked before anything is sent).
    #[error("{0}")]
    Url(String),
    /// The token cannot be sent as a header.
    #[error("the Vault token is not a valid header value")]
    Token,
    /// Connect error, TLS failure or timeout.
    #[error("{url}: {source}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What reqwest said.
        source: reqwest::Error,
    },
    /// The reply could not be used: too large, a redirect (refused), a broken body. The
    /// reason names the server.
    #[error("{reason}")]
    Body {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

/// Why a JWT login gave no token.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// No HTTP reply.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The server refused (any non-2xx status; the reply tells why).
    #[error("{path}: HTTP {}", reply.status)]
    Refused {
        /// `auth/MOUNT/login`.
        path: String,
        /// The reply.
        reply: Reply,
    },
    /// A reply that is not JSON.
    #[error("{path}: HTTP {status} with a reply that is not JSON")]
    NotJson {
        /// `auth/MOUNT/login`.
        path: String,
        /// HTTP status.
        status: u16,
    },
    /// A 2xx reply without `auth.client_token`.
    #[error("{path}: reply without auth.client_token")]
    NoToken {
        /// `auth/MOUNT/login`.
        path: String,
    },
}

/// The answer of one API call.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Parsed JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// Whether the body was JSON (or empty).
    pub json: bool,
}

impl Reply {
    /// Whether the status is 2xx.
    #[must_use]
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Vault's `errors` array joined with `; ` as one short line (the peer's text through
    /// [`transport::peer_text`]), or `(no error message)`.
    #[must_use]
    pub fn errors(&self) -> String {
        let list: Vec<String> = self
            .body
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if list.is_empty() {
            "(no error message)".to_owned()
        } else {
            transport::peer_text(&list.join("; "))
        }
    }

    /// The `data` object of a reply (`Null` if absent).
    #[must_use]
    pub fn data(&self) -> &Value {
        self.body.get("data").unwrap_or(&Value::Null)
    }
}

/// The HTTP pool (TLS always verified), its settings and a request counter; cheap to clone.
#[derive(Clone)]
pub struct Http {
    inner: reqwest::Client,
    timeout: Duration,
    plain_http: PlainHttp,
    body_limit: u64,
    namespace: Option<HeaderValue>,
    requests: Arc<AtomicU64>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl Http {
    /// Builds the pool with the one HTTP client builder ([`rackpipe_tls::http_client`]: no
    /// redirects off the origin): the servers verified by `ca_pem` when given, else the system
    /// roots; no proxy.
    ///
    /// # Errors
    /// [`SetupError`] for a bad CA bundle or namespace.
    pub fn new(options: &HttpOptions) -> Result<Self, SetupError> {
        let trust = match &options.ca_pem {
            Some(pem) => rackpipe_tls::Trust::CaPem(pem.clone()),
            None => rackpipe_tls::Trust::System,
        };
        let inner = rackpipe_tls::http_client(&trust, |builder| {
            let builder = builder
                .timeout(options.timeout)
                .connect_timeout(options.connect_timeout)
                .no_proxy()
                .https_only(options.plain_http == PlainHttp::Refuse)
                .user_agent(options.user_agent);
            if options.keep_alive {
                builder
            } else {
                builder.pool_max_idle_per_host(0)
            }
        })
        .map_err(|e| match e {
            rackpipe_tls::TrustError::CaNotPem { reason, .. } => SetupError::NotPem(reason),
            rackpipe_tls::TrustError::CaEmpty { .. } => SetupError::NoCertificate,
            other => SetupError::Client(other.to_string()),
        })?;
        let namespace = options
            .namespace
            .as_ref()
            .map(|ns| HeaderValue::from_str(ns).map_err(|_| SetupError::Namespace(ns.clone())))
            .transpose()?;
        Ok(Self {
            inner,
            timeout: options.timeout,
            plain_http: options.plain_http,
            body_limit: options.body_limit,
            namespace,
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Requests sent so far through this pool and every clone of it.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The per-request timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A client for one node (or the cluster address) named `name` in errors. Its URL is
    /// checked by [`Client::check_url`] before every request.
    #[must_use]
    pub fn node(&self, name: impl Into<String>, url: impl Into<String>) -> Client {
        Client {
            http: self.clone(),
            name: name.into(),
            base: url.into().trim_end_matches('/').to_owned(),
            token: None,
        }
    }
}

/// One node's (or the cluster address's) API, optionally with a token.
#[derive(Clone)]
pub struct Client {
    http: Http,
    name: String,
    base: String,
    token: Option<Secret>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("base", &self.base)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Same node, authenticated with `token`.
    #[must_use]
    pub fn with_token(mut self, token: Secret) -> Self {
        self.token = Some(token);
        self
    }

    /// The name used in errors.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base URL (`https://host:8200`).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The shared pool.
    #[must_use]
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The transport rule for this client's URL ([`transport::check_url`]).
    ///
    /// # Errors
    /// [`CallError::Url`] with the rule's one-line reason.
    pub fn check_url(&self) -> Result<(), CallError> {
        transport::check_url(&self.base, self.http.plain_http)
            .map(drop)
            .map_err(|e| CallError::Url(e.to_string()))
    }

    /// Sends one request to `/v1/<path><query>`; any HTTP status is a [`Reply`], only a
    /// missing reply is an error. `timeout` overrides the pool's for this request.
    ///
    /// # Errors
    /// [`CallError`].
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<Reply, CallError> {
        self.check_url()?;
        let url = format!("{}/v1/{}{query}", self.base, path.trim_start_matches('/'));
        let mut headers = HeaderMap::new();
        headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(token.expose()).map_err(|_| CallError::Token)?;
            value.set_sensitive(true);
            headers.insert("X-Vault-Token", value);
        }
        if let Some(ns) = &self.http.namespace {
            headers.insert("X-Vault-Namespace", ns.clone());
        }
        let mut request = self.http.inner.request(method, &url).headers(headers);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.http.requests.fetch_add(1, Ordering::Relaxed);
        let transport = |source| CallError::Transport {
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = transport::read_body_limited(response, self.http.body_limit)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => transport(e),
                other => CallError::Body {
                    url: url.clone(),
                    reason: other.to_string(),
                },
            })?;
        let (body, json) = if bytes.iter().all(u8::is_ascii_whitespace) {
            (Value::Null, true)
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(value) => (value, true),
                Err(_) => (Value::Null, false),
            }
        };
        Ok(Reply { status, body, json })
    }

    /// Logs in at `auth/MOUNT/login` with a JWT (a GitLab CI `id_tokens` token) as `role`
    /// and returns the client token. The JWT is sent in the body only.
    ///
    /// # Errors
    /// [`LoginError`].
    pub async fn login_jwt(
        &self,
        mount: &str,
        role: &str,
        jwt: &Secret,
    ) -> Result<Secret, LoginError> {
        let path = format!("auth/{}/login", mount.trim_matches('/'));
        let body = json!({"role": role, "jwt": jwt.expose()});
        let reply = self
            .send(reqwest::Method::POST, &path, "", Some(&body), None)
            .await?;
        if !reply.json {
            return Err(LoginError::NotJson {
                path,
                status: reply.status,
            });
        }
        if !reply.ok() {
            return Err(LoginError::Refused { path, reply });
        }
        reply
            .body
            .pointer("/auth/client_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or(LoginError::NoToken { path })
    }
}

/// The largest Vault reply read into memory: a KV entry (certificates and keys included) or a
/// login answer is a few KiB.
const SECRET_REPLY_LIMIT: u64 = 16 * 1024 * 1024;

/// A definitive outcome of reading one `MOUNT/PATH` (transient failures are not kept).
type Fetched = Result<Arc<Map<String, Value>>, ErrorKind>;

/// The Vault side of a resolver.
pub(crate) struct Vault {
    settings: VaultSettings,
    client: OnceLock<Result<Client, ErrorKind>>,
    token: OnceCell<Result<Secret, ErrorKind>>,
    paths: Mutex<HashMap<String, Arc<OnceCell<Fetched>>>>,
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
        }
    }

    pub(crate) fn settings(&self) -> &VaultSettings {
        &self.settings
    }

    pub(crate) fn requests(&self) -> u64 {
        match self.client.get() {
            Some(Ok(client)) => client.http().requests(),
            _ => 0,
        }
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

    fn client(&self) -> Result<&Client, ErrorKind> {
        self.client
            .get_or_init(|| {
                let addr = self.addr()?;
                Ok(build_http(&self.settings)?.node("vault", addr))
            })
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
                let addr = self.addr()?;
                self.client()?
                    .login_jwt(mount, role, jwt)
                    .await
                    .map_err(|e| match e {
                        LoginError::Call(e) => {
                            call_error(addr, self.settings.timeout, &format!("auth/{mount}/login"), e)
                        }
                        LoginError::Refused { path, reply } => match reply.status {
                            400 | 401 | 403 => ErrorKind::Denied(format!(
                                "JWT login as role {role:?} at {path} refused (HTTP {}): {}",
                                reply.status,
                                reply.errors()
                            )),
                            404 => ErrorKind::NotConfigured(format!(
                                "{path}: no such auth method (HTTP 404); set VAULT_JWT_PATH"
                            )),
                            _ => status_error(addr, &reply),
                        },
                        other @ (LoginError::NotJson { .. } | LoginError::NoToken { .. }) => {
                            ErrorKind::BadReply(other.to_string())
                        }
                    })
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
            let reply = self
                .send(reqwest::Method::GET, &api_path, Some(&token))
                .await?;
            let status = reply.status;
            tracing::debug!(mount, path, kv = version, status, "vault read");
            match status {
                200 => {
                    // KV v2: {"data": {"data": {...}, "metadata": {...}}}; KV v1: {"data": {...}}.
                    let data = reply.body.get("data");
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
                        reply.errors()
                    )));
                }
                _ => return Err(status_error(self.addr()?, &reply)),
            }
        }
        Err(ErrorKind::NotFound(format!(
            "no secret at {mount}/{path} (HTTP 404)"
        )))
    }

    /// One request through the shared client, its failures as [`ErrorKind`]s.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&Secret>,
    ) -> Result<Reply, ErrorKind> {
        let addr = self.addr()?;
        let mut client = self.client()?.clone();
        if let Some(token) = token {
            client = client.with_token(token.clone());
        }
        let reply = client
            .send(method, path, "", None, None)
            .await
            .map_err(|e| call_error(addr, self.settings.timeout, path, e))?;
        if !reply.json {
            return Err(ErrorKind::BadReply(format!(
                "{path}: HTTP {} with a reply that is not JSON",
                reply.status
            )));
        }
        Ok(reply)
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

/// The shared client set up for reading secrets: TLS only (even on loopback), no idle
/// connections (the blocking API runs each read on its own runtime), 16 MiB replies.
fn build_http(settings: &VaultSettings) -> Result<Http, ErrorKind> {
    let ca_pem = settings
        .ca_file
        .as_ref()
        .map(|ca| {
            std::fs::read(ca).map_err(|e| {
                ErrorKind::NotConfigured(format!("VAULT_CACERT {}: cannot read: {e}", ca.display()))
            })
        })
        .transpose()?;
    let options = HttpOptions {
        ca_pem,
        timeout: settings.timeout,
        connect_timeout: settings.timeout.min(Duration::from_secs(5)),
        plain_http: PlainHttp::Refuse,
        keep_alive: false,
        user_agent: concat!("rackpipe-secrets/", env!("CARGO_PKG_VERSION")),
        body_limit: SECRET_REPLY_LIMIT,
        namespace: settings.namespace.clone(),
    };
    Http::new(&options).map_err(|e| {
        let ca = || {
            settings
                .ca_file
                .as_ref()
                .map_or_else(String::new, |p| p.display().to_string())
        };
        ErrorKind::NotConfigured(match e {
            SetupError::NotPem(_) => format!("VAULT_CACERT {}: not a PEM certificate bundle", ca()),
            SetupError::NoCertificate => format!("VAULT_CACERT {}: no certificate in it", ca()),
            SetupError::Namespace(ns) => {
                format!("VAULT_NAMESPACE {ns:?} is not a valid header value")
            }
            SetupError::Client(e) => format!("HTTP client: {e}"),
        })
    })
}

/// A request that got no reply, as an [`ErrorKind`].
fn call_error(addr: &str, timeout: Duration, path: &str, e: CallError) -> ErrorKind {
    match e {
        CallError::Url(reason) => {
            ErrorKind::NotConfigured(format!("VAULT_ADDR: {reason} (TLS is never disabled)"))
        }
        CallError::Token => ErrorKind::NotConfigured(CallError::Token.to_string()),
        CallError::Transport { source, .. } => transport_error(addr, timeout, &source),
        CallError::Body { reason, .. } => ErrorKind::BadReply(format!("{path}: {reason}")),
    }
}

fn status_error(addr: &str, reply: &Reply) -> ErrorKind {
    let status = reply.status;
    if status >= 500 || status == 429 {
        ErrorKind::Unreachable {
            addr: addr.to_owned(),
            reason: format!("HTTP {status}: {}", reply.errors()),
        }
    } else {
        ErrorKind::Api {
            status,
            message: reply.errors(),
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
