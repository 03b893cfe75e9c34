//! The Vault/OpenBao API as vault-bootstrap uses it, on the one shared client
//! ([`rackpipe_secrets::vault`]: TLS verified by the given CA or the system roots, the
//! transport rule, bounded timeouts, a request counter): `LIST`, reads that treat 404 as
//! absent, errors that name the node, and longer timeouts for key generation.

use std::time::Duration;

use rackpipe_secrets::vault::{self, CallError, HttpOptions, LoginError};
use rackpipe_tls::transport::{self, PlainHttp};
use reqwest::Method;
use serde_json::Value;

pub use rackpipe_secrets::vault::Reply;

use crate::error::{Error, Result};
use rackpipe_secrets::Secret;

/// How to reach the API.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// PEM CA bundle that signs the servers' certificates. `None`: the system roots.
    pub ca_pem: Option<String>,
    /// Per-request timeout (default 10 s); requests that make the server generate a private
    /// key get at least [`KEYGEN_TIMEOUT`].
    pub timeout: Option<Duration>,
}

/// The least time a request that generates a private key gets (a CA's RSA-4096 key takes the
/// server seconds, and tens of seconds on a small or busy host). Giving up earlier reports a
/// transient failure for a key the server is still making.
pub const KEYGEN_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether `path` is a PKI endpoint that generates a private key on the server.
fn generates_key(path: &str) -> bool {
    let path = path.trim_matches('/');
    [
        "/root/generate/",
        "/intermediate/generate/",
        "/issuers/generate/",
        "/keys/generate/",
        "/issue/",
    ]
    .iter()
    .any(|p| path.contains(p))
}

/// A shared HTTP connection pool and request counter; cheap to clone.
#[derive(Debug, Clone)]
pub struct Http {
    inner: vault::Http,
}

impl Http {
    /// Builds the pool. TLS is always verified: by `ca_pem` when given, else the system roots;
    /// plain `http://` only to a literal loopback address.
    ///
    /// # Errors
    /// [`Error::Input`] when the CA bundle is not PEM.
    pub fn new(options: &ClientOptions) -> Result<Self> {
        let options = HttpOptions {
            ca_pem: options.ca_pem.as_ref().map(|pem| pem.as_bytes().to_vec()),
            timeout: options.timeout.unwrap_or(Duration::from_secs(10)),
            connect_timeout: Duration::from_secs(3),
            plain_http: PlainHttp::Loopback,
            keep_alive: true,
            user_agent: concat!("rackpipe-vault-bootstrap/", env!("CARGO_PKG_VERSION")),
            body_limit: transport::API_BODY_LIMIT,
            namespace: None,
        };
        let inner = vault::Http::new(&options).map_err(|e| match e {
            vault::SetupError::Client(e) => Error::Input(format!("HTTP client: {e}")),
            other => Error::Input(format!("CA bundle: {other}")),
        })?;
        Ok(Self { inner })
    }

    /// Number of API requests sent so far through this pool (and every clone of it).
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.inner.requests()
    }

    /// A client for one node (or the cluster address). A URL the transport rule refuses
    /// (see [`Http::checked_node`]) makes every call of this client fail before sending.
    #[must_use]
    pub fn node(&self, name: impl Into<String>, url: impl Into<String>) -> Client {
        Client {
            http: self.clone(),
            inner: self.inner.node(name, url),
        }
    }

    /// A client for one node, its URL checked first: `https://`, or plain `http://` only to a
    /// literal loopback address (`rackpipe_tls::transport::check_url`).
    ///
    /// # Errors
    /// [`Error::Input`], one line naming the node and the host.
    pub fn checked_node(&self, name: impl Into<String>, url: impl Into<String>) -> Result<Client> {
        let client = self.node(name, url);
        client.check_url()?;
        Ok(client)
    }
}

/// One node's (or the cluster address's) API.
#[derive(Debug, Clone)]
pub struct Client {
    http: Http,
    inner: vault::Client,
}

impl Client {
    /// Same node, authenticated with `token`.
    #[must_use]
    pub fn with_token(mut self, token: Secret) -> Self {
        self.inner = self.inner.with_token(token);
        self
    }

    /// The node name used in errors.
    #[must_use]
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The base URL (`https://host:8200`).
    #[must_use]
    pub fn url(&self) -> &str {
        self.inner.url()
    }

    /// The shared pool.
    #[must_use]
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// Sends one request to `/v1/<path>`; any HTTP status is a `Reply`, only transport
    /// failures are errors. `LIST` is sent as `GET ?list=true`.
    ///
    /// # Errors
    /// [`Error::Unreachable`] on connect errors and timeouts.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply> {
        let (http_method, query) = match method {
            "GET" => (Method::GET, ""),
            "LIST" => (Method::GET, "?list=true"),
            "PUT" => (Method::PUT, ""),
            "POST" => (Method::POST, ""),
            "DELETE" => (Method::DELETE, ""),
            other => return Err(Error::Input(format!("unsupported HTTP method {other}"))),
        };
        let timeout = generates_key(path).then(|| self.http.inner.timeout().max(KEYGEN_TIMEOUT));
        tracing::debug!(node = %self.name(), %method, %path, "vault request");
        let reply = self
            .inner
            .send(http_method, path, query, body, timeout)
            .await
            .map_err(|e| self.call_error(path, e))?;
        tracing::debug!(node = %self.name(), %method, %path, status = reply.status, "vault reply");
        Ok(reply)
    }

    /// The transport rule for this client's URL.
    fn check_url(&self) -> Result<()> {
        self.inner.check_url().map_err(|e| self.call_error("", e))
    }

    fn call_error(&self, path: &str, e: CallError) -> Error {
        let node = self.name().to_owned();
        match e {
            CallError::Url(reason) => Error::Input(format!("{node}: {reason}")),
            CallError::Token => Error::Input(format!("{node}: {e}")),
            CallError::Transport { url, source } => {
                use std::error::Error as _;
                let mut reason = source.to_string();
                let mut next = source.source();
                while let Some(s) = next {
                    reason.push_str(": ");
                    reason.push_str(&s.to_string());
                    next = s.source();
                }
                Error::Unreachable { node, url, reason }
            }
            CallError::Body { reason, .. } => Error::Protocol {
                node,
                path: path.to_owned(),
                reason,
            },
        }
    }

    /// Like [`Client::call`] but any non-2xx status is an error (503 sealed → [`Error::Sealed`]).
    ///
    /// # Errors
    /// Transport errors and error statuses.
    pub async fn expect(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let reply = self.call(method, path, body).await?;
        if reply.ok() {
            return Ok(reply.body);
        }
        Err(self.api_error(method, path, &reply))
    }

    /// The error for a non-2xx reply.
    #[must_use]
    pub fn api_error(&self, method: &str, path: &str, reply: &Reply) -> Error {
        let message = reply.errors();
        if reply.status == 503 && message.contains("sealed") {
            return Error::Sealed {
                node: self.name().to_owned(),
            };
        }
        Error::Api {
            node: self.name().to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            status: reply.status,
            message,
        }
    }

    /// GET returning `None` for 404 (absent object).
    ///
    /// # Errors
    /// Transport errors and other error statuses.
    pub async fn read(&self, path: &str) -> Result<Option<Value>> {
        let reply = self.call("GET", path, None).await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => Ok(Some(reply.body)),
            _ => Err(self.api_error("GET", path, &reply)),
        }
    }

    /// LIST returning the `keys` (empty for 404).
    ///
    /// # Errors
    /// Transport errors and other error statuses.
    pub async fn list(&self, path: &str) -> Result<Vec<String>> {
        let reply = self.call("LIST", path, None).await?;
        if reply.status == 404 {
            return Ok(Vec::new());
        }
        if !reply.ok() {
            return Err(self.api_error("LIST", path, &reply));
        }
        Ok(keys_of(&reply.body))
    }

    /// Logs in with a JWT (a GitLab CI `id_tokens` token) at `auth/MOUNT/login` through the
    /// shared login ([`vault::Client::login_jwt`]) and returns the client token.
    ///
    /// # Errors
    /// Transport errors; the server's refusal as [`Error::Api`] naming the login path;
    /// [`Error::Protocol`] for a reply without a token.
    pub async fn login_jwt(&self, mount: &str, role: &str, jwt: &Secret) -> Result<Secret> {
        self.inner
            .login_jwt(mount, role, jwt)
            .await
            .map_err(|e| match e {
                LoginError::Call(e) => self.call_error(&format!("auth/{mount}/login"), e),
                LoginError::Refused { path, reply } => self.api_error("POST", &path, &reply),
                LoginError::NotJson { path, .. } | LoginError::NoToken { path } => {
                    Error::Protocol {
                        node: self.name().to_owned(),
                        path,
                        reason: "no auth.client_token".into(),
                    }
                }
            })
    }
}

/// The `data.keys` strings of a LIST reply.
#[must_use]
pub fn keys_of(body: &Value) -> Vec<String> {
    body.pointer("/data/keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use rackpipe_testkit::http::{Reply, StubServer};

    use super::*;
    use crate::cluster::Cluster;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The shared URL rule, before any request: a cluster whose node URL is plain HTTP to a
    /// name or a non-loopback address is refused when built, and a client made without the
    /// check (`--api`) fails its first call without connecting.
    #[test]
    fn plain_http_only_to_a_literal_loopback_address() {
        let stub = StubServer::start(Reply::status("200 OK", "{}"));
        let options = ClientOptions::default();
        for (url, host) in [
            (format!("http://localhost:{}", stub.port()), "localhost"),
            (
                format!("http://127.0.0.1@vault.example:{}", stub.port()),
                "",
            ),
            (
                "http://vault-1.lab.example:8200".to_owned(),
                "vault-1.lab.example",
            ),
            ("http://10.3.0.31:8200".to_owned(), "10.3.0.31"),
        ] {
            let nodes = [("vault-1".to_owned(), url.clone())];
            let err = Cluster::new(&nodes, &options).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("vault-1: "), "{text}");
            assert!(
                text.contains(&format!("plain http:// to {host} refused")) || host.is_empty(),
                "{text}"
            );
            assert!(!text.contains('\n') && !err.is_transient(), "{text}");
            let api = Http::new(&options).unwrap().node("api", url);
            let err = runtime()
                .block_on(
                    api.with_token(Secret::new("s.hunter2"))
                        .call("GET", "sys/health", None),
                )
                .unwrap_err();
            assert!(err.to_string().starts_with("api: "), "{err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert_eq!(stub.connections(), 0, "a refused URL was contacted");
        let nodes = [("vault-1".to_owned(), stub.url())];
        let cluster = Cluster::new(&nodes, &options).unwrap();
        let reply = runtime()
            .block_on(cluster.nodes()[0].call("GET", "sys/health", None))
            .unwrap();
        assert_eq!(reply.status, 200);
    }

    /// A hostile node: a 2 GiB reply, a redirect to another host (the token would have
    /// followed it: reqwest strips only the standard authorization headers), a 500 with a
    /// huge body. One line naming the node, and the right retry class.
    #[test]
    fn hostile_replies_are_one_line_errors() {
        let rt = runtime();
        let http = Http::new(&ClientOptions::default()).unwrap();
        let huge = StubServer::start(Reply::Announced(2 << 30));
        let node = http
            .node("vault-1", huge.url())
            .with_token(Secret::new("s.hunter2"));
        let err = rt.block_on(node.read("secret/data/x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "vault-1: secret/data/x: unexpected response: {}: reply larger than 64 MiB, refused (not read further)",
                huge.url()
            )
        );
        assert!(!err.is_transient());

        let redirect = StubServer::start(Reply::Raw(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: https://127.0.0.2:9/v1/sys/health\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        ));
        let node = http
            .node("vault-2", redirect.url())
            .with_token(Secret::new("s.hunter2"));
        let err = rt.block_on(node.read("sys/health")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "vault-2: sys/health: unexpected response: {}: HTTP 307 redirect to https://127.0.0.2:9 refused (credentials are never sent to another host)",
                redirect.url()
            )
        );

        let body = format!("{{\"errors\":[\"{}\"]}}", "internal error ".repeat(1000));
        let failing = StubServer::start(Reply::status("500 Internal Server Error", &body));
        let node = http
            .node("vault-3", failing.url())
            .with_token(Secret::new("s.hunter2"));
        let err = rt.block_on(node.read("sys/mounts")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("vault-3: GET sys/mounts: HTTP 500: internal error"),
            "{text}"
        );
        assert!(!text.contains('\n') && !text.contains("hunter2"), "{text}");
        // The node's 15 kB message is cut to one short line.
        assert!(
            text.ends_with("more characters)") && text.len() < 500,
            "{text}"
        );
        assert!(err.is_transient());
    }

    #[test]
    fn key_generating_endpoints_are_recognised() {
        for path in [
            "pki-root/root/generate/internal",
            "pki-int/intermediate/generate/internal",
            "pki/issuers/generate/root/internal",
            "pki/keys/generate/internal",
            "pki-int-prod/issue/web-proxy",
        ] {
            assert!(generates_key(path), "{path}");
        }
        for path in [
            "sys/mounts",
            "pki/roles/web",
            "pki/issuer/default",
            "pki/config/urls",
        ] {
            assert!(!generates_key(path), "{path}");
        }
    }
}
