//! One resolver for the site's secret references ([`SecretRef`]): `env:NAME`, `file:PATH`
//! and `vault:MOUNT/PATH#KEY`.
//!
//! - [`Secret`] holds a value; `Debug` and `Display` print `<redacted>`, only
//!   [`Secret::expose`] gives the value.
//! - [`Resolver::from_env`] reads the Vault settings the way the `vault`/`bao` CLIs and GitLab
//!   CI name them (`VAULT_ADDR`, `VAULT_CACERT`, `VAULT_TOKEN`, or a JWT login with
//!   `VAULT_JWT_ROLE` and the job's `id_tokens:` variable); [`Resolver::builder`] sets them
//!   explicitly. Vault is only contacted for `vault:` references.
//! - [`SecretSource`] is the one interface tools resolve through (the [`Resolver`], or a
//!   stand-in); [`resolve_all`] keeps going past a failure, so one run reports every missing
//!   reference ([`Unresolved`]: one line each, with its site field path).
//! - [`Resolver::resolve`] blocks (callable from anywhere, also inside an async runtime);
//!   [`Resolver::resolve_async`] is the same for async callers.
//! - `vault:` references are read from KV v2 (`GET /v1/MOUNT/data/PATH`, then KV v1's
//!   `GET /v1/MOUNT/PATH` when that is 404), over HTTPS with the certificate always verified.
//!   Each `MOUNT/PATH` is read once per resolver: 20 keys of one secret make one request.
//! - Every [`Error`] is one line: `field: reference: reason`, never the value.
//!   [`Error::is_transient`] tells "Vault unreachable / sealed / timed out" (retry later, exit
//!   75) from "not found / denied / misconfigured".

mod local;
mod source;
pub mod vault;

pub use source::{SecretSource, Unresolved, resolve_all};

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub use rackpipe_model::types::SecretRef;
/// The one secret value type (from `rackpipe-secret-value`, at the bottom of the workspace so
/// the clients and simulators share it).
pub use rackpipe_secret_value::Secret;

/// Default timeout of one Vault request (connect + reply).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default name of the environment variable holding the JWT for a Vault JWT login (GitLab's
/// `id_tokens: { VAULT_ID_TOKEN: { aud: ... } }`).
pub const DEFAULT_JWT_ENV: &str = "VAULT_ID_TOKEN";

/// Default mount of the JWT auth method (`auth/jwt/login`).
pub const DEFAULT_JWT_PATH: &str = "jwt";

/// Why a reference could not be resolved: `field: reference: reason` on one line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field}: {reference}: {kind}")]
pub struct Error {
    field: String,
    reference: String,
    kind: ErrorKind,
}

impl Error {
    /// An error for the reference `reference` at site field `field`.
    #[must_use]
    pub fn new(field: impl Into<String>, reference: impl Into<String>, kind: ErrorKind) -> Self {
        Self {
            field: field.into(),
            reference: reference.into(),
            kind,
        }
    }

    /// The site field path (`load_balancer.vips[0].auth_pass`).
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The reference as written (`vault:kv/x#y`; never the value).
    #[must_use]
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// `reference: reason`, without the field path, for callers whose errors add the field.
    #[must_use]
    pub fn reason(&self) -> String {
        format!("{}: {}", self.reference, self.kind)
    }

    /// Whether retrying later may succeed (Vault unreachable, timed out, sealed, 5xx): the
    /// CLI exits 75.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }
}

/// The kinds of [`Error`]. Messages name variables, files, paths and keys, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `env:NAME` with `NAME` unset.
    #[error("environment variable {name} is not set")]
    EnvUnset {
        /// The variable.
        name: String,
    },
    /// `env:NAME` with `NAME` set to the empty string.
    #[error("environment variable {name} is empty")]
    EnvEmpty {
        /// The variable.
        name: String,
    },
    /// `file:PATH` missing, unreadable or empty.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not a well-formed reference.
    #[error("{0}")]
    Malformed(String),
    /// Vault is not configured for a `vault:` reference (no `VAULT_ADDR`, no token, bad CA file).
    #[error("{0}")]
    NotConfigured(String),
    /// Vault could not be reached, did not answer in time, is sealed or answered 5xx.
    /// Transient: retry later.
    #[error("Vault at {addr} unreachable: {reason}")]
    Unreachable {
        /// `VAULT_ADDR`.
        addr: String,
        /// Transport error or HTTP status.
        reason: String,
    },
    /// The TLS handshake failed (certificate not trusted, wrong name). Not transient.
    #[error("TLS to Vault at {addr} failed: {reason}")]
    Tls {
        /// `VAULT_ADDR`.
        addr: String,
        /// The handshake error.
        reason: String,
    },
    /// Vault refused: bad or expired token, failed JWT login, no policy for the path.
    #[error("{0}")]
    Denied(String),
    /// No secret at the path, or no such key in it.
    #[error("{0}")]
    NotFound(String),
    /// Any other error status from Vault.
    #[error("HTTP {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Vault's `errors`, joined.
        message: String,
    },
    /// A reply that is not the JSON Vault sends, or a key that is not a string.
    #[error("{0}")]
    BadReply(String),
    /// The resolver could not run (no thread or runtime).
    #[error("internal: {0}")]
    Internal(String),
}

impl ErrorKind {
    /// Whether retrying later may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// How the resolver logs in to Vault.
#[derive(Debug, Clone, Default)]
pub enum VaultAuth {
    /// No credentials: `vault:` references fail with [`ErrorKind::NotConfigured`].
    #[default]
    None,
    /// A token (`VAULT_TOKEN`).
    Token(Secret),
    /// A JWT login at `auth/MOUNT/login` (`VAULT_JWT_ROLE`, `VAULT_JWT_PATH`).
    Jwt {
        /// The role.
        role: String,
        /// The auth mount (`jwt`).
        mount: String,
        /// The JWT, or the name of the environment variable that should have held it.
        jwt: Result<Secret, String>,
    },
}

/// Vault settings of a [`Resolver`].
#[derive(Debug, Clone)]
pub struct VaultSettings {
    /// `https://vault.example:8200` (`VAULT_ADDR`); `None`: not configured.
    pub addr: Option<String>,
    /// PEM CA bundle file to trust (`VAULT_CACERT`); `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// How to log in.
    pub auth: VaultAuth,
    /// Vault Enterprise namespace (`VAULT_NAMESPACE`), sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// Timeout of each request.
    pub timeout: Duration,
}

impl Default for VaultSettings {
    fn default() -> Self {
        Self {
            addr: None,
            ca_file: None,
            auth: VaultAuth::None,
            namespace: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl VaultSettings {
    /// The settings from the environment: `VAULT_ADDR`, `VAULT_CACERT`, `VAULT_NAMESPACE`,
    /// `VAULT_CLIENT_TIMEOUT` (seconds, `10` or `10s`), and `VAULT_TOKEN`, or else
    /// `VAULT_JWT_ROLE` with the JWT in the variable named by `RACKPIPE_VAULT_JWT_ENV`
    /// (default `VAULT_ID_TOKEN`) and the auth mount `VAULT_JWT_PATH` (default `jwt`).
    #[must_use]
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if var("VAULT_SKIP_VERIFY").is_some_and(|v| !matches!(v.trim(), "0" | "false")) {
            tracing::warn!(
                "VAULT_SKIP_VERIFY is ignored: rackpipe always verifies Vault's certificate"
            );
        }
        let auth = if let Some(token) = var("VAULT_TOKEN") {
            VaultAuth::Token(Secret::new(token.trim()))
        } else if let Some(role) = var("VAULT_JWT_ROLE") {
            let jwt_env = var("RACKPIPE_VAULT_JWT_ENV").unwrap_or_else(|| DEFAULT_JWT_ENV.into());
            VaultAuth::Jwt {
                role,
                mount: var("VAULT_JWT_PATH").map_or_else(
                    || DEFAULT_JWT_PATH.to_owned(),
                    |p| p.trim_matches('/').to_owned(),
                ),
                jwt: var(&jwt_env).map(|j| Secret::new(j.trim())).ok_or(jwt_env),
            }
        } else {
            VaultAuth::None
        };
        let timeout = var("VAULT_CLIENT_TIMEOUT")
            .and_then(|t| t.trim().trim_end_matches('s').parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        Self {
            addr: var("VAULT_ADDR"),
            ca_file: var("VAULT_CACERT").map(PathBuf::from),
            auth,
            namespace: var("VAULT_NAMESPACE"),
            timeout,
        }
    }
}

/// Resolves [`SecretRef`]s. Cheap to share (`&Resolver` is `Send + Sync`); one per process
/// (see [`Resolver::global`]) makes the Vault cache effective.
#[derive(Debug)]
pub struct Resolver {
    vault: vault::Vault,
}

impl Resolver {
    /// A resolver with the Vault settings from the environment ([`VaultSettings::from_env`]).
    /// Never fails: a missing or bad Vault setting is reported when a `vault:` reference is
    /// resolved.
    #[must_use]
    pub fn from_env() -> Self {
        Self::with_settings(VaultSettings::from_env())
    }

    /// A resolver with explicit Vault settings.
    #[must_use]
    pub fn with_settings(settings: VaultSettings) -> Self {
        Self {
            vault: vault::Vault::new(settings),
        }
    }

    /// A builder with no Vault configured.
    #[must_use]
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The process's resolver, made by [`Resolver::from_env`] on first use.
    #[must_use]
    pub fn global() -> &'static Resolver {
        static GLOBAL: OnceLock<Resolver> = OnceLock::new();
        GLOBAL.get_or_init(Resolver::from_env)
    }

    /// The Vault settings in use.
    #[must_use]
    pub fn settings(&self) -> &VaultSettings {
        self.vault.settings()
    }

    /// HTTP requests sent to Vault so far (logins included).
    #[must_use]
    pub fn vault_requests(&self) -> u64 {
        self.vault.requests()
    }

    /// Resolves `reference` (found at site field `field`). Blocks; safe to call inside an
    /// async runtime (a `vault:` read runs on its own thread).
    ///
    /// # Errors
    /// See [`ErrorKind`]; the message names `field` and `reference`, never the value.
    pub fn resolve(&self, reference: &SecretRef, field: &str) -> Result<Secret, Error> {
        let wrap = |kind| Error::new(field, reference.as_str(), kind);
        match Parsed::parse(reference.as_str()).map_err(wrap)? {
            Parsed::Env(name) => local::env(name).map_err(wrap),
            Parsed::File(path) => local::file(path, field).map_err(wrap),
            Parsed::Vault(v) => {
                if let Some(hit) = self.vault.cached(&v) {
                    return hit.map_err(wrap);
                }
                run_blocking(self.vault.read(&v)).map_err(wrap)
            }
        }
    }

    /// [`Resolver::resolve`] for async callers.
    ///
    /// # Errors
    /// As [`Resolver::resolve`].
    pub async fn resolve_async(&self, reference: &SecretRef, field: &str) -> Result<Secret, Error> {
        let wrap = |kind| Error::new(field, reference.as_str(), kind);
        match Parsed::parse(reference.as_str()).map_err(wrap)? {
            Parsed::Env(name) => local::env(name).map_err(wrap),
            Parsed::File(path) => local::file(path, field).map_err(wrap),
            Parsed::Vault(v) => self.vault.read(&v).await.map_err(wrap),
        }
    }
}

/// Reads an `env:NAME` or `file:PATH` reference (found at site field `field`) the way
/// [`Resolver::resolve`] does, for a caller that reads `vault:` references its own way
/// (vault-bootstrap reads them from the cluster it is bootstrapping); `None` when `reference`
/// is neither.
///
/// # Errors
/// Unset, empty or not UTF-8 variables; missing, unreadable or empty files.
pub fn resolve_local(reference: &str, field: &str) -> Option<Result<Secret, ErrorKind>> {
    match Parsed::parse(reference) {
        Ok(Parsed::Env(name)) => Some(local::env(name)),
        Ok(Parsed::File(path)) => Some(local::file(path, field)),
        Ok(Parsed::Vault(_)) | Err(_) => None,
    }
}

/// Explicit configuration of a [`Resolver`] (for tests and callers that do not use the
/// environment).
#[derive(Debug, Default)]
pub struct Builder {
    settings: VaultSettings,
}

impl Builder {
    /// Vault's address (`https://127.0.0.1:8200`).
    #[must_use]
    pub fn vault_addr(mut self, addr: impl Into<String>) -> Self {
        self.settings.addr = Some(addr.into());
        self
    }

    /// A PEM CA bundle file to trust instead of the system's roots.
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.settings.ca_file = Some(path.into());
        self
    }

    /// Log in with a token.
    #[must_use]
    pub fn token(mut self, token: Secret) -> Self {
        self.settings.auth = VaultAuth::Token(token);
        self
    }

    /// Log in with a JWT at `auth/MOUNT/login` as `role`.
    #[must_use]
    pub fn jwt_login(
        mut self,
        mount: impl Into<String>,
        role: impl Into<String>,
        jwt: Secret,
    ) -> Self {
        self.settings.auth = VaultAuth::Jwt {
            role: role.into(),
            mount: mount.into(),
            jwt: Ok(jwt),
        };
        self
    }

    /// A Vault Enterprise namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.settings.namespace = Some(namespace.into());
        self
    }

    /// Timeout of each request (default [`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// The resolver.
    #[must_use]
    pub fn build(self) -> Resolver {
        Resolver::with_settings(self.settings)
    }
}

/// A parsed `vault:MOUNT/PATH#KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VaultRef<'a> {
    pub(crate) mount: &'a str,
    pub(crate) path: &'a str,
    pub(crate) key: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed<'a> {
    Env(&'a str),
    File(&'a str),
    Vault(VaultRef<'a>),
}

impl<'a> Parsed<'a> {
    fn parse(text: &'a str) -> Result<Self, ErrorKind> {
        if let Some(name) = text.strip_prefix("env:").filter(|n| !n.is_empty()) {
            return Ok(Self::Env(name));
        }
        if let Some(path) = text.strip_prefix("file:").filter(|p| !p.is_empty()) {
            return Ok(Self::File(path));
        }
        if let Some(rest) = text.strip_prefix("vault:") {
            let shape = || ErrorKind::Malformed("expected vault:MOUNT/PATH#KEY".to_owned());
            let (location, key) = rest.rsplit_once('#').ok_or_else(shape)?;
            let (mount, path) = location
                .trim_matches('/')
                .split_once('/')
                .ok_or_else(shape)?;
            let path = path.trim_matches('/');
            if mount.is_empty()
                || path.is_empty()
                || key.is_empty()
                || location.contains(['?', ' '])
            {
                return Err(shape());
            }
            return Ok(Self::Vault(VaultRef { mount, path, key }));
        }
        Err(ErrorKind::Malformed(
            "not a secret reference (env:NAME, file:PATH or vault:MOUNT/PATH#KEY)".to_owned(),
        ))
    }
}

/// Runs `future` to completion on a fresh thread with its own current-thread runtime, so the
/// caller may itself be inside a runtime (where blocking on another runtime would panic).
fn run_blocking<F>(future: F) -> Result<Secret, ErrorKind>
where
    F: std::future::Future<Output = Result<Secret, ErrorKind>> + Send,
{
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("rackpipe-secrets".to_owned())
            .spawn_scoped(scope, || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ErrorKind::Internal(format!("cannot start a runtime: {e}")))?;
                runtime.block_on(future)
            })
            .map_err(|e| ErrorKind::Internal(format!("cannot start a thread: {e}")))?;
        worker
            .join()
            .unwrap_or_else(|_| Err(ErrorKind::Internal("the Vault reader panicked".to_owned())))
    })
}

#[cfg(test)]
mod tests;

#[cfg(feature = "testing")]
pub mod testing;
