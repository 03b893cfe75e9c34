//! A small RouterOS v7 REST client: HTTP Basic auth, HTTPS with a CA file or a pinned
//! SHA-256 leaf fingerprint (plain HTTP only for loopback simulators), typed errors.
//!
//! Every request is counted ([`RestClient::requests`]), so callers can show how many round
//! trips a plan took; a read that fails transiently is repeated within the one timeout
//! ([`RestClient::request`]). Bodies and replies are JSON objects of strings, as RouterOS speaks them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rackpipe_model::types::SecretRef;
use rackpipe_model::wait::{self, Failed};
use rackpipe_routeros::Props;
pub use rackpipe_tls::Fingerprint;
use rackpipe_tls::transport::{self, BodyError};
use reqwest::Method;
use serde_json::{Map, Value};

/// Why talking to the router failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The site could not be turned into configuration.
    #[error(transparent)]
    Render(#[from] crate::Error),
    /// Bad connection settings (URL, CA file, fingerprint).
    #[error("{what}: {message}")]
    Config {
        /// What was wrong.
        what: String,
        /// Why.
        message: String,
    },
    /// The router's certificate is not the pinned one: a trust failure, not retried.
    #[error(transparent)]
    Trust(#[from] rackpipe_tls::TrustFailure),
    /// No TCP/TLS connection.
    #[error("{url}: router unreachable: {message}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Transport error chain.
        message: String,
    },
    /// The request timed out (connecting gives up sooner than the request timeout).
    #[error("{url}: no answer after {}", rackpipe_model::wait::human(*waited))]
    Timeout {
        /// The URL.
        url: String,
        /// How long the request actually waited.
        waited: Duration,
    },
    /// A read (`GET`) failed transiently on every attempt ([`RestClient::request`]): the last
    /// attempt's error, how many attempts were made and the time actually waited.
    #[error("{0}")]
    GaveUp(rackpipe_model::wait::GaveUp<Box<Error>>),
    /// 401: wrong user or password.
    #[error("{url}: 401 Unauthorized: wrong user or password for {user:?}")]
    Unauthorized {
        /// The URL.
        url: String,
        /// The user name.
        user: String,
    },
    /// RouterOS answered with an error body.
    #[error("{method} {path}: {status} {message}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Api {
        /// HTTP method.
        method: String,
        /// Path below `/rest`.
        path: String,
        /// HTTP status.
        status: u16,
        /// `message` of the error body.
        message: String,
        /// `detail` of the error body (RouterOS's own text).
        detail: Option<String>,
    },
    /// The reply was not the JSON expected.
    #[error("{path}: unexpected reply: {message}")]
    BadReply {
        /// Path below `/rest`.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// `apply --plan` was given a plan that no longer matches the site or the router.
    #[error(transparent)]
    StalePlan(#[from] rackpipe_model::documents::StalePlan),
    /// A change failed; the router was put back to the pre-apply export.
    #[error("apply stopped at change {index} ({resource}): {cause}; {outcome}")]
    ApplyFailed {
        /// 1-based index of the failing change.
        index: usize,
        /// The change's resource.
        resource: String,
        /// The cause.
        cause: Box<Error>,
        /// What happened to the router afterwards.
        outcome: String,
    },
    /// The changes were applied but the scheduled revert could not be removed: the router
    /// will load the pre-apply backup (undoing the apply, and rebooting) at `fires_at`
    /// unless someone removes the scheduler entry first. Never transient: a retry would find
    /// nothing to change and leave the revert armed.
    #[error(
        "the changes were applied but a revert is still ARMED: the router loads the pre-apply backup (undoing them, with a reboot) at {fires_at} (in {in_secs}s) unless /system scheduler {entry} is removed first; disarming failed {attempts} times: {cause}",
        entry = crate::apply::REVERT_NAME
    )]
    RevertArmed {
        /// When the revert fires (UTC, RFC 3339).
        fires_at: String,
        /// Seconds from the error until it fires.
        in_secs: u64,
        /// How many times disarming was tried.
        attempts: u32,
        /// The last disarm failure.
        cause: Box<Error>,
    },
    /// Reading or writing a local file.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Whether retrying later may succeed: unreachable, timeout, 5xx (the CLI exits 75).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Timeout { .. } => true,
            Error::Api { status, .. } => *status >= 500,
            Error::GaveUp(g) => g.last.is_transient(),
            _ => false,
        }
    }
}

/// A password: the one secret type ([`rackpipe_secrets::Secret`]), never shown by `Debug` or
/// `Display`.
pub type Password = rackpipe_secrets::Secret;

/// Site field path of the API password's secret reference.
pub const PASSWORD_FIELD: &str = "router.management.password";

/// Site field path of the binary backups' password reference (optional in the site).
pub const BACKUP_PASSWORD_FIELD: &str = "router.management.backup_password";

/// The secret references ros-render reads, each with its site field path:
/// [`PASSWORD_FIELD`], and [`BACKUP_PASSWORD_FIELD`] when the site sets it. The caller resolves
/// them all at once (the CLI's driver), so every one that fails is named in one run.
#[must_use]
pub fn secret_refs(site: &rackpipe_model::Site) -> Vec<(&SecretRef, String)> {
    let Some(router) = site.router.as_ref() else {
        return Vec::new();
    };
    let m = &router.management;
    std::iter::once((&m.password, PASSWORD_FIELD))
        .chain(m.backup_password.iter().map(|r| (r, BACKUP_PASSWORD_FIELD)))
        .map(|(reference, field)| (reference, field.to_owned()))
        .chain(crate::menus::secret_refs(router))
        .collect()
}

/// How the router's certificate is verified: the one trust policy of rackpipe's clients (a CA
/// file, a pinned fingerprint, or plain `http://` to a literal loopback address for the
/// simulator tests).
pub use rackpipe_tls::Trust;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `https://host:port` (no `/rest`).
    pub url: String,
    /// API user.
    pub user: String,
    /// API password.
    pub password: Password,
    /// Certificate verification.
    pub trust: Trust,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Connection {
    /// The connection the site describes (`router.management`), with optional overrides:
    /// `url` replaces the management address, `trust` the site's TLS settings. `password` is
    /// the value resolved for [`PASSWORD_FIELD`] (see [`secret_refs`]).
    ///
    /// # Errors
    /// No router section, no TLS trust configured, or a URL refused for its trust.
    pub fn from_site(
        site: &rackpipe_model::Site,
        url: Option<&str>,
        trust: Option<Trust>,
        password: Password,
    ) -> Result<Self, Error> {
        let router = site.router.as_ref().ok_or(crate::Error::NoRouter)?;
        let m = &router.management;
        let url = match url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => match m.address {
                std::net::IpAddr::V4(a) => format!("https://{a}:{}", m.rest_port),
                std::net::IpAddr::V6(a) => format!("https://[{a}]:{}", m.rest_port),
            },
        };
        let trust = match trust {
            Some(t) => t,
            None => match &m.tls {
                Some(tls) if tls.fingerprint_sha256.is_some() => Trust::Pinned(
                    Fingerprint::parse(tls.fingerprint_sha256.as_deref().unwrap_or_default())
                        .map_err(|e| Error::Config {
                            what: "router.management.tls.fingerprint_sha256".to_owned(),
                            message: e.to_string(),
                        })?,
                ),
                Some(tls) if tls.ca_file.is_some() => Trust::CaFile(std::path::PathBuf::from(
                    tls.ca_file.as_deref().unwrap_or_default(),
                )),
                _ => {
                    return Err(Error::Config {
                        what: "router.management.tls".to_owned(),
                        message:
                            "no ca_file or fingerprint_sha256; pass --ca-file or --fingerprint"
                                .to_owned(),
                    });
                }
            },
        };
        // `RestClient::new` checks the URL again.
        check_router_url(&url, &trust)?;
        Ok(Self {
            url,
            user: m.user.clone(),
            password,
            trust,
            timeout: Duration::from_secs(30),
        })
    }
}

/// A RouterOS REST client.
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    conn: Connection,
    base: String,
    user: String,
    password: Password,
    timeout: Duration,
    requests: Arc<AtomicU64>,
}

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.base)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn chain(err: &dyn std::error::Error) -> String {
    transport::error_chain(err)
}

impl RestClient {
    /// Builds the client (no request is sent).
    ///
    /// # Errors
    /// Bad URL scheme, unreadable CA file, `LoopbackHttp` for a non-loopback URL.
    pub fn new(conn: &Connection) -> Result<Self, Error> {
        Ok(Self {
            http: build_http(conn)?,
            conn: conn.clone(),
            base: format!("{}/rest", conn.url),
            user: conn.user.clone(),
            password: conn.password.clone(),
            timeout: conn.timeout,
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The same client with a new connection pool (falls back to sharing the pool if the
    /// HTTP client cannot be rebuilt).
    pub(crate) fn rebuilt(&self) -> Self {
        let mut conn = self.conn.clone();
        conn.timeout = self.timeout;
        let mut copy = self.clone();
        if let Ok(http) = build_http(&conn) {
            copy.http = http;
        }
        copy
    }

    /// Requests sent so far (by this client and its clones).
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `https://host:port/rest`.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A copy with another per-request timeout (shares the request counter).
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        let mut copy = self.clone();
        copy.timeout = timeout;
        copy
    }

    /// Sends a request; `path` is below `/rest` and starts with `/`. A read (`GET`, RouterOS's
    /// `print`) that fails transiently (no connection, a timeout, HTTP 502, 503 or 504 from a
    /// proxy in front) is repeated with the shared backoff ([`wait::retry_read`]), at most
    /// [`wait::READ_ATTEMPTS`] times and all within the client's timeout; then
    /// [`Error::GaveUp`] states the attempts and the time waited. Anything else (`add`, `set`,
    /// `remove`, commands) is sent once. Every request sent is counted ([`Self::requests`]),
    /// retries included. See `docs/reference/transport.md`.
    ///
    /// # Errors
    /// Transport errors, timeouts, 401 and RouterOS error bodies, classified.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        if method != Method::GET {
            return self
                .send(method, path, body, self.timeout)
                .await
                .map_err(|f| f.error);
        }
        let read = |left| self.send(Method::GET, path, body, left);
        wait::retry_read(self.timeout, read, tokio::time::sleep)
            .await
            .map_err(|g| g.into_error(Error::GaveUp))
    }

    /// One request (counted), answered within `timeout` or given up.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, Failed<Error>> {
        let url = format!("{}{path}", self.base);
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%method, %url, "routeros request");
        let mut req = self
            .http
            .request(method.clone(), &url)
            .timeout(timeout)
            .basic_auth(&self.user, Some(self.password.expose()));
        if let Some(body) = body {
            req = req.json(body);
        }
        let started = std::time::Instant::now();
        // A handshake that failed (pin, CA) fails again; a refused or reset connection may not.
        let transport = |e: &reqwest::Error| Failed {
            retry: !rackpipe_tls::handshake_failure(e),
            error: self.transport(&url, e, started),
        };
        let once = |error| Failed {
            error,
            retry: false,
        };
        let resp = req.send().await.map_err(|e| transport(&e))?;
        let status = resp.status();
        let bytes = transport::read_body_limited(resp, transport::API_BODY_LIMIT)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => transport(&e),
                other => once(Error::BadReply {
                    path: path.to_owned(),
                    message: other.to_string(),
                }),
            })?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(once(Error::Unauthorized {
                url,
                user: self.user.clone(),
            }));
        }
        let parsed: Option<Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
            Some(Value::Null)
        } else {
            parse_json_lenient(&bytes)
        };
        if status.is_success() {
            return parsed.ok_or_else(|| {
                once(Error::BadReply {
                    path: path.to_owned(),
                    message: format!(
                        "not JSON ({} bytes; is this the REST API and not WebFig?)",
                        bytes.len()
                    ),
                })
            });
        }
        let body = parsed.unwrap_or(Value::Null);
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(one_line);
        Err(Failed {
            // A proxy's or a busy router's answer, not one about the request.
            retry: matches!(status.as_u16(), 502..=504),
            error: Error::Api {
                method: method.to_string(),
                path: path.to_owned(),
                status: status.as_u16(),
                message: text("message")
                    .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned()),
                detail: text("detail"),
            },
        })
    }

    fn transport(&self, url: &str, e: &reqwest::Error, started: std::time::Instant) -> Error {
        if let Some(failure) = rackpipe_tls::reqwest_trust_failure(e) {
            Error::Trust(failure)
        } else if e.is_timeout() {
            Error::Timeout {
                url: url.to_owned(),
                waited: started.elapsed(),
            }
        } else {
            Error::Unreachable {
                url: url.to_owned(),
                message: chain(e),
            }
        }
    }

    /// `GET /rest<menu>`: a list menu's rows (a singleton's object as one row).
    ///
    /// # Errors
    /// See [`RestClient::request`]; a reply that is neither an array nor an object.
    pub async fn list(&self, menu: &str) -> Result<Vec<Map<String, Value>>, Error> {
        match self.request(Method::GET, menu, None).await? {
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(m),
                    _ => Err(Error::BadReply {
                        path: menu.to_owned(),
                        message: "a row is not an object".to_owned(),
                    }),
                })
                .collect(),
            Value::Object(m) => Ok(vec![m]),
            Value::Null => Ok(Vec::new()),
            _ => Err(Error::BadReply {
                path: menu.to_owned(),
                message: "expected an array".to_owned(),
            }),
        }
    }

    /// `PUT /rest<menu>` (add); returns the new `.id`.
    ///
    /// # Errors
    /// See [`RestClient::request`].
    pub async fn add(&self, menu: &str, props: &Props) -> Result<String, Error> {
        let reply = self
            .request(Method::PUT, menu, Some(&props_json(props)))
            .await?;
        reply
            .get(".id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::BadReply {
                path: menu.to_owned(),
                message: "the created object has no .id".to_owned(),
            })
    }

    /// `PATCH /rest<menu>/<id>` (set).
    ///
    /// # Errors
    /// See [`RestClient::request`].
    pub async fn set(&self, menu: &str, id: &str, props: &Props) -> Result<(), Error> {
        self.request(
            Method::PATCH,
            &format!("{menu}/{id}"),
            Some(&props_json(props)),
        )
        .await
        .map(drop)
    }

    /// `POST /rest<menu>/set` on a singleton menu.
    ///
    /// # Errors
    /// See [`RestClient::request`].
    pub async fn set_singleton(&self, menu: &str, props: &Props) -> Result<(), Error> {
        self.request(
            Method::POST,
            &format!("{menu}/set"),
            Some(&props_json(props)),
        )
        .await
        .map(drop)
    }

    /// `DELETE /rest<menu>/<id>`.
    ///
    /// # Errors
    /// See [`RestClient::request`].
    pub async fn remove(&self, menu: &str, id: &str) -> Result<(), Error> {
        self.request(Method::DELETE, &format!("{menu}/{id}"), None)
            .await
            .map(drop)
    }

    /// `POST /rest<path>` with a JSON body (any console command).
    ///
    /// # Errors
    /// See [`RestClient::request`].
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.request(Method::POST, path, Some(body)).await
    }
}

/// Props as a JSON object of strings.
#[must_use]
pub fn props_json(props: &Props) -> Value {
    Value::Object(
        props
            .iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect(),
    )
}

/// RouterOS's own text (`message`, `detail`) for an error line: one line, control characters
/// out, cut at `PEER_TEXT_LIMIT` characters.
fn one_line(s: &str) -> String {
    transport::peer_text(s)
}

/// Parses JSON, re-escaping raw control characters inside strings once if needed
/// (RouterOS can emit them, e.g. in DHCP host names).
fn parse_json_lenient(bytes: &[u8]) -> Option<Value> {
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Some(v);
    }
    let mut fixed = Vec::with_capacity(bytes.len() + 16);
    for &b in bytes {
        if b < 0x20 && b != b'\n' && b != b'\r' && b != b'\t' {
            fixed.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            fixed.push(b);
        }
    }
    serde_json::from_slice(&fixed).ok()
}

/// The shared transport rule for the router's URL: plain HTTP only with
/// [`Trust::LoopbackHttp`] and only to a literal loopback address.
fn check_router_url(url: &str, trust: &Trust) -> Result<reqwest::Url, Error> {
    transport::check_url(url, trust.plain_http()).map_err(|e| Error::Config {
        what: "router URL".to_owned(),
        message: e.to_string(),
    })
}

fn build_http(conn: &Connection) -> Result<reqwest::Client, Error> {
    let url = check_router_url(&conn.url, &conn.trust)?;
    if conn.trust == Trust::LoopbackHttp && url.scheme() != "http" {
        return Err(Error::Config {
            what: conn.url.clone(),
            message: "--insecure-http is for a plain http:// URL to a loopback address".to_owned(),
        });
    }
    rackpipe_tls::http_client(&conn.trust, |builder| {
        builder
            .connect_timeout(conn.timeout.min(Duration::from_secs(10)))
            .timeout(conn.timeout)
            .pool_idle_timeout(Duration::from_secs(4))
            .user_agent(concat!("rackpipe-ros-render/", env!("CARGO_PKG_VERSION")))
    })
    .map_err(|e| match e {
        rackpipe_tls::TrustError::Build(message) => Error::Config {
            what: conn.url.clone(),
            message: format!("HTTP client: {message}"),
        },
        e => Error::Config {
            what: e.subject().to_owned(),
            message: e.reason(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_formats() {
        let a = Fingerprint::parse(&"ab".repeat(32)).unwrap();
        assert_eq!(Fingerprint::parse(&a.to_string()).unwrap(), a);
        assert!(Fingerprint::parse("AB:CD").is_err());
        assert!(Fingerprint::parse("zz").is_err());
    }

    #[test]
    fn password_is_redacted() {
        let p = Password::new("hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    /// The API password always, the backup password only when the site sets one; no router
    /// section, no references.
    #[test]
    fn secret_refs_name_the_router_passwords() {
        let (path, bytes) = rackpipe_testkit::example_site("rachuna-net");
        let (mut site, _) = rackpipe_model::load(&path.display().to_string(), &bytes).unwrap();
        let fields = |site: &rackpipe_model::Site| -> Vec<String> {
            secret_refs(site).into_iter().map(|(_, f)| f).collect()
        };
        let m = &mut site.router.as_mut().unwrap().management;
        m.backup_password = None;
        let password = m.password.clone();
        assert_eq!(fields(&site), [PASSWORD_FIELD]);
        assert_eq!(secret_refs(&site)[0].0, &password);
        let backup: SecretRef = "env:RACKPIPE_TEST_BACKUP".parse().unwrap();
        site.router.as_mut().unwrap().management.backup_password = Some(backup.clone());
        assert_eq!(fields(&site), [PASSWORD_FIELD, BACKUP_PASSWORD_FIELD]);
        assert_eq!(secret_refs(&site)[1].0, &backup);
        site.router = None;
        assert!(secret_refs(&site).is_empty());
    }

    /// The URL rule and the reply limit of `rackpipe_tls::transport`, through this client:
    /// plain HTTP to a name or a non-loopback host is refused before any connection (a
    /// `localhost` URL to a listening stub stays unanswered); a 2 GiB reply is a one-line
    /// error, not an allocation.
    #[test]
    fn plain_http_refused_before_connecting_and_replies_bounded() {
        use rackpipe_testkit::http::{Reply, StubServer};
        let stub = StubServer::start(Reply::Announced(2 << 30));
        let conn = |url: String| Connection {
            url,
            user: "admin".to_owned(),
            password: Password::new("hunter2"),
            trust: Trust::LoopbackHttp,
            timeout: Duration::from_secs(5),
        };
        for (url, host) in [
            (format!("http://localhost:{}", stub.port()), "localhost"),
            (format!("http://0x7f.1:{}", stub.port()), "127.0.0.1"),
            ("http://127.evil.example".to_owned(), "127.evil.example"),
            ("http://198.18.0.1".to_owned(), "198.18.0.1"),
        ] {
            let err = RestClient::new(&conn(url.clone())).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&format!("plain http:// to {host} refused")),
                "{text}"
            );
            assert!(!text.contains('\n') && !text.contains("hunter2"), "{text}");
        }
        let err = RestClient::new(&conn(format!(
            "http://admin:hunter2@127.0.0.1:{}",
            stub.port()
        )))
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(stub.connections(), 0, "a refused URL was contacted");
        // From the site: the URL is refused before any connection.
        let (path, bytes) = rackpipe_testkit::example_site("rachuna-net");
        let (site, _) = rackpipe_model::load(&path.display().to_string(), &bytes).unwrap();
        let err = Connection::from_site(
            &site,
            Some(&format!("http://localhost:{}", stub.port())),
            Some(Trust::LoopbackHttp),
            Password::new("hunter2"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("router URL: plain http:// to localhost refused"),
            "{err}"
        );

        let client = RestClient::new(&conn(stub.url())).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(client.request(Method::GET, "/system/identity", None))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "/system/identity: unexpected reply: {}: reply larger than 64 MiB, refused (not read further)",
                stub.url()
            )
        );
        assert!(!err.is_transient());
    }

    #[test]
    fn lenient_json() {
        assert!(parse_json_lenient(b"[{\"host-name\":\"a\x1bb\"}]").is_some());
        assert!(parse_json_lenient(b"<html>").is_none());
    }
}
