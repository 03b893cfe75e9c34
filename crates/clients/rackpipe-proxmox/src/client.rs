//! The HTTP client.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use rackpipe_model::wait::{self, Failed};
use rackpipe_tls::transport::{self, BodyError, PlainHttp};

use crate::error::one_line;
use crate::types::Upid;
use crate::{ApiToken, Error, TlsMode};
mod endpoints;

/// Request parameters, encoded as PVE expects (booleans `1`/`0`). `Debug` redacts
/// password-like values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

const SECRET_PARAMS: &[&str] = &["password", "cipassword"];

impl Params {
    /// No parameters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.push(key, value);
        self
    }

    /// Adds a boolean as `1`/`0` (PVE rejects `true`/`false` at the top level).
    #[must_use]
    pub fn flag(self, key: &str, value: bool) -> Self {
        self.with(key, if value { "1" } else { "0" })
    }

    /// Adds `key=value` when `value` is `Some`.
    #[must_use]
    pub fn opt(self, key: &str, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// Adds `key=value` in place (replacing an earlier value of the same key).
    pub fn push(&mut self, key: &str, value: impl fmt::Display) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_owned(), value.to_string()));
    }

    /// The pairs.
    #[must_use]
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// A value by key.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether there are no parameters.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.0 {
            if SECRET_PARAMS.contains(&k.as_str()) {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// How to reach and talk to the cluster.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `https://host:8006` (no `/api2/json`).
    pub base_url: String,
    /// The API token.
    pub token: ApiToken,
    /// Certificate verification.
    pub tls: TlsMode,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// First interval between task status polls (grows ×1.5 up to 2 s).
    pub task_poll_interval: Duration,
    /// How long [`Client::wait_task`] waits before [`Error::TaskTimeout`].
    pub task_timeout: Duration,
    /// Log lines kept in [`Error::TaskFailed`].
    pub log_tail_lines: usize,
}

impl ClientOptions {
    /// Defaults: system trust store, 5 s connect, 30 s request, 100 ms first poll,
    /// 10 min task timeout, 20 log lines.
    #[must_use]
    pub fn new(base_url: &str, token: ApiToken) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            tls: TlsMode::System,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            task_poll_interval: Duration::from_millis(100),
            task_timeout: Duration::from_secs(600),
            log_tail_lines: 20,
        }
    }
}

/// Statuses after which a read is repeated: a gateway's (502, 503, 504) and pveproxy's 596
/// (forwarding to the node timed out or broke). Not 500 (the handler ran and failed) nor 501
/// (no such method).
const RETRY_STATUSES: &[u16] = &[502, 503, 504, 596];

/// An async Proxmox VE API client (cheap to clone; connections are pooled).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    api: String,
    auth: HeaderValue,
    opts: ClientOptions,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api", &self.api)
            .field("token", &self.opts.token)
            .finish_non_exhaustive()
    }
}

fn chain(err: &dyn std::error::Error) -> String {
    one_line(&transport::error_chain(err))
}

impl Client {
    /// Builds the client (TLS material is read here).
    ///
    /// # Errors
    /// Unreadable CA file, bad URL or TLS set-up.
    pub fn new(opts: ClientOptions) -> Result<Self, Error> {
        transport::check_url(&opts.base_url, PlainHttp::Loopback).map_err(|e| Error::Config {
            what: "Proxmox API URL".to_owned(),
            message: e.to_string(),
        })?;
        let http = rackpipe_tls::http_client(&opts.tls, |builder| {
            builder
                .connect_timeout(opts.connect_timeout)
                .timeout(opts.request_timeout)
                // pveproxy closes idle keep-alive connections after 5 s.
                .pool_idle_timeout(Duration::from_secs(4))
                .user_agent(concat!("rackpipe-proxmox/", env!("CARGO_PKG_VERSION")))
        })
        .map_err(|e| Error::Config {
            what: e.subject().to_owned(),
            message: e.reason(),
        })?;
        let mut auth =
            HeaderValue::from_str(&opts.token.header_value()).map_err(|_| Error::Token {
                source_name: opts.token.tokenid().to_owned(),
                message: "token contains characters not allowed in an HTTP header".to_owned(),
            })?;
        auth.set_sensitive(true);
        Ok(Self {
            http,
            api: format!("{}/api2/json", opts.base_url),
            auth,
            opts,
        })
    }

    /// The options this client was built with.
    #[must_use]
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// Sends a request and returns the `data` member. A read (`GET`) that fails transiently
    /// (no connection, a timeout, HTTP 502, 503, 504 or pveproxy's 596) is repeated with the
    /// shared backoff ([`wait::retry_read`]), at most [`wait::READ_ATTEMPTS`] times
    /// and all within [`ClientOptions::request_timeout`]; then [`Error::GaveUp`] states the attempts
    /// and the time waited. Writes are sent once (a 596 does not say whether a forwarded write
    /// happened). See `docs/reference/transport.md`.
    ///
    /// # Errors
    /// Transport errors, timeouts and PVE error statuses, classified.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        params: &Params,
    ) -> Result<Value, Error> {
        let timeout = self.opts.request_timeout;
        if method != Method::GET {
            return self
                .send(method, path, params, timeout)
                .await
                .map_err(|f| f.error);
        }
        wait::retry_read(
            timeout,
            |left| self.send(Method::GET, path, params, left),
            tokio::time::sleep,
        )
        .await
        .map_err(|g| g.into_error(Error::GaveUp))
    }

    /// One attempt within `timeout`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        params: &Params,
        timeout: Duration,
    ) -> Result<Value, Failed<Error>> {
        let url = format!("{}{path}", self.api);
        tracing::debug!(%method, %url, "pve request");
        let mut req = self
            .http
            .request(method.clone(), &url)
            .timeout(timeout)
            .header(AUTHORIZATION, self.auth.clone());
        if method == Method::GET || method == Method::DELETE {
            if !params.is_empty() {
                req = req.query(params.pairs());
            }
        } else {
            req = req.form(params.pairs());
        }
        let started = Instant::now();
        // A handshake that failed (pin, CA) fails again; a refused or reset connection may not.
        let transport = |e: &reqwest::Error| Failed {
            retry: !rackpipe_tls::handshake_failure(e),
            error: self.transport_error(&url, e, started),
        };
        let resp = req.send().await.map_err(|e| transport(&e))?;
        let status = resp.status();
        let reason = status.canonical_reason().unwrap_or("").to_owned();
        let body: Value = match transport::read_body_limited(resp, transport::API_BODY_LIMIT).await
        {
            Ok(b) if b.is_empty() => Value::Null,
            Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
            Err(BodyError::Transport(e)) => return Err(transport(&e)),
            Err(e) => {
                return Err(Failed {
                    retry: false,
                    error: Error::Decode {
                        url,
                        message: e.to_string(),
                    },
                });
            }
        };
        if status.is_success() {
            return Ok(body.get("data").cloned().unwrap_or(Value::Null));
        }
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .map_or(reason, |m| transport::peer_text(&one_line(m)));
        Err(Failed {
            retry: RETRY_STATUSES.contains(&status.as_u16()),
            error: classify(url, status, message, &body),
        })
    }

    fn transport_error(&self, url: &str, e: &reqwest::Error, started: Instant) -> Error {
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

    /// `GET path`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn get(&self, path: &str, params: &Params) -> Result<Value, Error> {
        self.request(Method::GET, path, params).await
    }

    /// `POST path`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn post(&self, path: &str, params: &Params) -> Result<Value, Error> {
        self.request(Method::POST, path, params).await
    }

    /// `PUT path`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn put(&self, path: &str, params: &Params) -> Result<Value, Error> {
        self.request(Method::PUT, path, params).await
    }

    /// `DELETE path`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn delete(&self, path: &str, params: &Params) -> Result<Value, Error> {
        self.request(Method::DELETE, path, params).await
    }

    fn upid_from(&self, path: &str, data: &Value) -> Result<Upid, Error> {
        data.as_str()
            .and_then(Upid::parse)
            .ok_or_else(|| Error::Decode {
                url: format!("{}{path}", self.api),
                message: format!("expected a UPID, got {data}"),
            })
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, path: &str, data: Value) -> Result<T, Error> {
        serde_json::from_value(data).map_err(|e| Error::Decode {
            url: format!("{}{path}", self.api),
            message: e.to_string(),
        })
    }
}

fn classify(url: String, status: StatusCode, message: String, body: &Value) -> Error {
    match status.as_u16() {
        401 => Error::Unauthorized { url, message },
        403 => {
            let (path, privilege) =
                parse_permission(&message).unwrap_or_else(|| ("?".to_owned(), "?".to_owned()));
            Error::Forbidden {
                url,
                path,
                privilege,
            }
        }
        400 => match body.get("errors").and_then(Value::as_object) {
            Some(errors) if !errors.is_empty() => Error::InvalidParameters {
                url,
                errors: errors
                    .iter()
                    .map(|(k, v)| {
                        let text = one_line(v.as_str().unwrap_or(&v.to_string()));
                        (k.clone(), transport::peer_text(&text))
                    })
                    .collect(),
            },
            _ => Error::Api {
                url,
                status: 400,
                message,
            },
        },
        500 if message.contains("can't lock file") || message.contains("is locked") => {
            Error::Locked { url, message }
        }
        500 if message.contains("checksum mismatch")
            || message.contains("detected modified configuration") =>
        {
            Error::DigestMismatch { url, message }
        }
        s => Error::Api {
            url,
            status: s,
            message,
        },
    }
}

/// `Permission check failed (/vms/100, VM.Config.Disk)` → (`/vms/100`, `VM.Config.Disk`).
fn parse_permission(message: &str) -> Option<(String, String)> {
    let inner = message.split_once('(')?.1.rsplit_once(')')?.0;
    let (path, privilege) = inner.rsplit_once(", ")?;
    Some((path.trim().to_owned(), privilege.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> ClientOptions {
        let token = ApiToken::parse("root@pam!ci=5e3f0000-aaaa-bbbb-cccc-hunter2hunter2").unwrap();
        ClientOptions::new(url, token)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The shared URL rule: plain HTTP to anything but a literal loopback address is refused
    /// when the client is built, before any connection (before this, any `http://` base URL
    /// was accepted and the token went out in clear).
    #[test]
    fn plain_http_only_to_a_literal_loopback_address() {
        use rackpipe_testkit::http::{Reply, StubServer};
        let stub = StubServer::start(Reply::status("200 OK", "{\"data\":[]}"));
        for (url, host) in [
            (format!("http://localhost:{}", stub.port()), "localhost"),
            (format!("http://2130706433:{}", stub.port()), "127.0.0.1"),
            (
                "http://pve1.lab.example:8006".to_owned(),
                "pve1.lab.example",
            ),
            ("http://10.3.0.11:8006".to_owned(), "10.3.0.11"),
        ] {
            let err = Client::new(options(&url)).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("Proxmox API URL: plain http:// to {host} refused")),
                "{text}"
            );
            assert!(!text.contains('\n') && !text.contains("hunter2"), "{text}");
        }
        assert_eq!(stub.connections(), 0, "a refused URL was contacted");
        let client = Client::new(options(&stub.url())).unwrap();
        let data = runtime()
            .block_on(client.get("/nodes", &Params::new()))
            .unwrap();
        assert_eq!(data, serde_json::json!([]));
    }

    /// A hostile peer: a 2 GiB reply, a 500 with a huge body, a redirect to another host.
    /// Each is one line naming the peer, with the right retry class; no token in it.
    #[test]
    fn hostile_replies_are_one_line_errors() {
        use rackpipe_testkit::http::{Reply, StubServer};
        let rt = runtime();
        let huge = StubServer::start(Reply::Announced(2 << 30));
        let client = Client::new(options(&huge.url())).unwrap();
        let err = rt
            .block_on(client.get("/cluster/resources", &Params::new()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}/api2/json/cluster/resources: unexpected response: {}: reply larger than 64 MiB, refused (not read further)",
                huge.url(),
                huge.url()
            )
        );
        assert!(!err.is_transient());

        let endless = StubServer::start(Reply::Endless);
        let client = Client::new(options(&endless.url())).unwrap();
        let err = rt
            .block_on(client.get("/cluster/resources", &Params::new()))
            .unwrap_err();
        assert!(
            err.to_string().contains("reply larger than 64 MiB"),
            "{err}"
        );

        let body = format!("{{\"message\":\"{}\"}}", "x".repeat(100));
        let failing = StubServer::start(Reply::status("500 Internal Server Error", &body));
        let client = Client::new(options(&failing.url())).unwrap();
        let err = rt
            .block_on(client.get("/nodes", &Params::new()))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{}/api2/json/nodes: HTTP 500", failing.url())),
            "{text}"
        );
        assert!(!text.contains('\n') && !text.contains("hunter2"), "{text}");

        let redirect = StubServer::start(Reply::Raw(
            b"HTTP/1.1 302 Found\r\nLocation: https://127.0.0.2:9/api2/json/nodes\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        ));
        let client = Client::new(options(&redirect.url())).unwrap();
        let err = rt
            .block_on(client.get("/nodes", &Params::new()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}/api2/json/nodes: unexpected response: {}: HTTP 302 redirect to https://127.0.0.2:9 refused (credentials are never sent to another host)",
                redirect.url(),
                redirect.url()
            )
        );
        assert!(!err.is_transient());
    }

    /// A read that times out is not repeated past the one request timeout: the first attempt
    /// used it all, so the error is that attempt's, after about the timeout (not 5 times it).
    #[test]
    fn a_read_never_outlasts_the_request_timeout() {
        use rackpipe_testkit::http::{Reply, StubServer};
        // A 200 announcing 100 bytes that never come.
        let silent = StubServer::start(Reply::Announced(100));
        let mut opts = options(&silent.url());
        opts.request_timeout = Duration::from_millis(800);
        let client = Client::new(opts).unwrap();
        let started = Instant::now();
        let err = runtime()
            .block_on(client.get("/cluster/resources", &Params::new()))
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert!(
            elapsed >= Duration::from_millis(800) && elapsed < Duration::from_millis(1600),
            "{elapsed:?}"
        );
        assert_eq!(silent.connections(), 1);
    }

    #[test]
    fn params_encode_flags_and_redact() {
        let p = Params::new()
            .flag("onboot", true)
            .with("password", "hunter22")
            .with("cores", 2);
        assert_eq!(p.get("onboot"), Some("1"));
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("hunter22"), "{dbg}");
        assert!(dbg.contains("cores"));
    }

    #[test]
    fn permission_message_parsed() {
        assert_eq!(
            parse_permission("Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"),
            Some((
                "/sdn/zones/localnetwork/vmbr0".to_owned(),
                "SDN.Use".to_owned()
            ))
        );
        assert_eq!(parse_permission("nope"), None);
    }

    #[test]
    fn lock_and_digest_errors_classified() {
        let e = classify(
            "u".into(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout".into(),
            &Value::Null,
        );
        assert!(matches!(e, Error::Locked { .. }) && e.is_transient());
        let e = classify(
            "u".into(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "checksum mismatch (file change by other user?)".into(),
            &Value::Null,
        );
        assert!(matches!(e, Error::DigestMismatch { .. }) && !e.is_transient());
        let e = classify(
            "u".into(),
            StatusCode::from_u16(596).unwrap(),
            "Connection timed out".into(),
            &Value::Null,
        );
        assert!(e.is_transient());
    }
}
