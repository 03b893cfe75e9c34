//! The one trust policy of every HTTP client ([`Trust`]), the one function that builds a
//! client from it ([`http_client`]), and the one way a refused pin is told apart from an
//! unreachable host ([`trust_failure`]).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Fingerprint;
use crate::transport::PlainHttp;

/// How a client verifies the server it sends credentials to.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Trust {
    /// The system's roots.
    #[default]
    System,
    /// Only the CA certificates in this PEM file (read when the client is built).
    CaFile(PathBuf),
    /// Only the CA certificates in this PEM bundle (already read).
    CaPem(Vec<u8>),
    /// Exactly the leaf certificate with this SHA-256 fingerprint (self-signed appliance
    /// certificates); the handshake signatures are still verified.
    Pinned(Fingerprint),
    /// No TLS: plain `http://`, and only to a literal loopback address (the simulators and the
    /// loopback daemons of the tests; see [`crate::transport::check_url`]).
    LoopbackHttp,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => f.write_str("System"),
            Self::CaFile(path) => write!(f, "CaFile({})", path.display()),
            Self::CaPem(pem) => write!(f, "CaPem({} bytes)", pem.len()),
            Self::Pinned(fp) => write!(f, "Pinned({fp})"),
            Self::LoopbackHttp => f.write_str("LoopbackHttp"),
        }
    }
}

impl Trust {
    /// The policy the trust flags ask for: a pinned `fingerprint` (`AB:CD:…` or 64 hex digits)
    /// wins over a `ca_file`; `None` when neither is given (the caller falls back to the site's
    /// settings or the system's roots).
    ///
    /// # Errors
    /// [`TrustError::Fingerprint`] when the fingerprint does not parse.
    pub fn from_options(
        ca_file: Option<&Path>,
        fingerprint: Option<&str>,
    ) -> Result<Option<Self>, TrustError> {
        if let Some(text) = fingerprint {
            return Fingerprint::parse(text)
                .map(|fp| Some(Self::Pinned(fp)))
                .map_err(|e| TrustError::Fingerprint {
                    text: text.to_owned(),
                    reason: e.to_string(),
                });
        }
        Ok(ca_file.map(|path| Self::CaFile(path.to_owned())))
    }

    /// Whether URLs under this policy may be plain `http://` ([`PlainHttp::Loopback`] only for
    /// [`Trust::LoopbackHttp`]).
    #[must_use]
    pub fn plain_http(&self) -> PlainHttp {
        match self {
            Self::LoopbackHttp => PlainHttp::Loopback,
            _ => PlainHttp::Refuse,
        }
    }
}

/// Why a client could not be built. One line each; `what` names the file or the bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The CA file could not be read.
    #[error("{path}: cannot read CA file: {reason}")]
    CaFileUnreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The CA file or bundle is not PEM certificates.
    #[error("{what}: not a PEM certificate bundle: {reason}")]
    CaNotPem {
        /// The file, or `CA bundle`.
        what: String,
        /// Why.
        reason: String,
    },
    /// The CA file or bundle holds no certificate.
    #[error("{what}: no certificate in CA file")]
    CaEmpty {
        /// The file, or `CA bundle`.
        what: String,
    },
    /// A pinned fingerprint that does not parse.
    #[error("{text:?} is not a SHA-256 fingerprint (64 hex digits, colons optional): {reason}")]
    Fingerprint {
        /// The text given.
        text: String,
        /// Why.
        reason: String,
    },
    /// reqwest refused the configuration.
    #[error("HTTP client: {0}")]
    Build(String),
}

impl TrustError {
    /// What the error is about: the CA file, `CA bundle`, `fingerprint` or `HTTP client` (for
    /// callers whose errors read `WHAT: REASON`).
    #[must_use]
    pub fn subject(&self) -> &str {
        match self {
            Self::CaFileUnreadable { path: what, .. }
            | Self::CaNotPem { what, .. }
            | Self::CaEmpty { what } => what,
            Self::Fingerprint { .. } => "fingerprint",
            Self::Build(_) => "HTTP client",
        }
    }

    /// The message without [`TrustError::subject`].
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            Self::CaFileUnreadable { reason, .. } => format!("cannot read CA file: {reason}"),
            Self::CaNotPem { reason, .. } => format!("not a PEM certificate bundle: {reason}"),
            Self::CaEmpty { .. } => "no certificate in CA file".to_owned(),
            Self::Fingerprint { text, reason } => format!(
                "{text:?} is not a SHA-256 fingerprint (64 hex digits, colons optional): {reason}"
            ),
            Self::Build(reason) => reason.clone(),
        }
    }
}

/// The one HTTP client builder: [`crate::transport::client_builder`] (redirects only to the
/// same origin), the certificate verification `trust` asks for, then whatever the caller adds
/// (`configure`: timeouts, user agent, pool), built.
///
/// # Errors
/// [`TrustError`]: an unreadable, non-PEM or empty CA file or bundle; a configuration reqwest
/// refuses.
pub fn http_client(
    trust: &Trust,
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> Result<reqwest::Client, TrustError> {
    let builder = crate::transport::client_builder();
    let builder = match trust {
        Trust::System | Trust::LoopbackHttp => builder,
        Trust::CaFile(path) => {
            let what = path.display().to_string();
            let pem = std::fs::read(path).map_err(|e| TrustError::CaFileUnreadable {
                path: what.clone(),
                reason: e.to_string(),
            })?;
            builder.tls_certs_only(ca_certificates(&pem, what)?)
        }
        Trust::CaPem(pem) => builder.tls_certs_only(ca_certificates(pem, "CA bundle".to_owned())?),
        Trust::Pinned(pin) => builder.tls_backend_preconfigured(crate::pinned_client_config(*pin)),
    };
    configure(builder)
        .build()
        .map_err(|e| TrustError::Build(crate::transport::error_chain(&e)))
}

fn ca_certificates(pem: &[u8], what: String) -> Result<Vec<reqwest::Certificate>, TrustError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| TrustError::CaNotPem {
        what: what.clone(),
        reason: crate::transport::error_chain(&e),
    })?;
    if certs.is_empty() {
        return Err(TrustError::CaEmpty { what });
    }
    Ok(certs)
}

/// The server presented a certificate other than the pinned one: what the pinning verifier
/// ([`crate::pinned_client_config`]) refuses a handshake with. `Debug` prints the message
/// (rustls shows the refusal with `Debug`).
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("certificate fingerprint mismatch: server presented {seen}, pinned {expected}")]
pub struct PinMismatch {
    /// The pinned fingerprint.
    pub expected: Fingerprint,
    /// The server certificate's fingerprint.
    pub seen: Fingerprint,
}

impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A TLS trust failure: the server is not the one pinned (or its certificate changed). Not
/// transient: retrying reaches the same server with the same certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{host}: TLS trust failure: certificate fingerprint mismatch: the server presented {seen}, the pinned one is {expected}"
)]
pub struct TrustFailure {
    /// `scheme://host:port`.
    pub host: String,
    /// The pinned fingerprint.
    pub expected: Fingerprint,
    /// The server certificate's fingerprint.
    pub seen: Fingerprint,
}

impl TrustFailure {
    /// The message without the host (for callers whose errors name it already).
    #[must_use]
    pub fn reason(&self) -> String {
        format!(
            "TLS trust failure: certificate fingerprint mismatch: the server presented {}, the pinned one is {}",
            self.seen, self.expected
        )
    }
}

/// The first `T` in `err`'s source chain (reqwest → hyper → `io::Error` → rustls), if any.
fn find_in_chain<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        // An `io::Error` hides the error it wraps from `source()` (it returns the wrapped
        // error's own source): step into it instead; hyper wraps one `io::Error` in another.
        cur = match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The [`PinMismatch`] in `err`'s source chain (reqwest → hyper → `io::Error` → rustls), if
/// the handshake failed on the pin.
#[must_use]
pub fn pin_mismatch(err: &(dyn std::error::Error + 'static)) -> Option<PinMismatch> {
    if let Some(found) = find_in_chain::<PinMismatch>(err) {
        return Some(*found);
    }
    match find_in_chain::<rustls::Error>(err) {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
            let inner: &(dyn std::error::Error + 'static) = &*other.0;
            inner.downcast_ref::<PinMismatch>().copied()
        }
        _ => None,
    }
}

/// Whether the TLS handshake failed in `err`'s source chain (a certificate that does not
/// verify, a pin mismatch, a protocol the peer refuses): a failure that trying again will not
/// fix, unlike a refused or reset connection. Clients never repeat a request that failed so.
#[must_use]
pub fn handshake_failure(err: &(dyn std::error::Error + 'static)) -> bool {
    find_in_chain::<rustls::Error>(err).is_some()
}

/// `err` as a [`TrustFailure`] naming `host` when the handshake failed on the pin; `None` for
/// any other failure (which the caller classifies as before: unreachable, timeout, ...).
#[must_use]
pub fn trust_failure(
    host: impl Into<String>,
    err: &(dyn std::error::Error + 'static),
) -> Option<TrustFailure> {
    pin_mismatch(err).map(|m| TrustFailure {
        host: host.into(),
        expected: m.expected,
        seen: m.seen,
    })
}

/// [`trust_failure`] for a reqwest error, naming the origin of the URL it failed on.
#[must_use]
pub fn reqwest_trust_failure(err: &reqwest::Error) -> Option<TrustFailure> {
    let host = err
        .url()
        .map_or_else(String::new, crate::transport::origin_of);
    trust_failure(host, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_options() {
        let fp = "ab".repeat(32);
        assert_eq!(
            Trust::from_options(Some(Path::new("/ca.pem")), Some(&fp)).unwrap(),
            Some(Trust::Pinned(Fingerprint::parse(&fp).unwrap()))
        );
        assert_eq!(
            Trust::from_options(Some(Path::new("/ca.pem")), None).unwrap(),
            Some(Trust::CaFile("/ca.pem".into()))
        );
        assert_eq!(Trust::from_options(None, None).unwrap(), None);
        let e = Trust::from_options(None, Some("AB:CD")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"AB:CD\" is not a SHA-256 fingerprint (64 hex digits, colons optional): a SHA-256 fingerprint has 32 bytes, not 2"
        );
        assert_eq!(Trust::LoopbackHttp.plain_http(), PlainHttp::Loopback);
        assert_eq!(Trust::System.plain_http(), PlainHttp::Refuse);
    }

    #[test]
    fn bad_ca_material_is_one_line() {
        let e = http_client(&Trust::CaPem(b"no pem here".to_vec()), |b| b).unwrap_err();
        assert_eq!(
            e,
            TrustError::CaEmpty {
                what: "CA bundle".to_owned()
            }
        );
        assert_eq!(format!("{}: {}", e.subject(), e.reason()), e.to_string());
        let e = http_client(&Trust::CaFile("/nonexistent/ca.pem".into()), |b| b).unwrap_err();
        assert_eq!(format!("{}: {}", e.subject(), e.reason()), e.to_string());
        assert!(
            e.to_string()
                .starts_with("/nonexistent/ca.pem: cannot read CA file: "),
            "{e}"
        );
    }

    #[test]
    fn pin_mismatch_is_found_through_io_errors() {
        let m = PinMismatch {
            expected: Fingerprint([1; 32]),
            seen: Fingerprint([2; 32]),
        };
        let rustls_error = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
            rustls::OtherError(std::sync::Arc::new(m)),
        ));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error);
        let f = trust_failure("https://127.0.0.1:8006", &io).unwrap();
        assert_eq!(f.expected, m.expected);
        assert_eq!(f.seen, m.seen);
        assert!(f.to_string().starts_with(
            "https://127.0.0.1:8006: TLS trust failure: certificate fingerprint mismatch: the server presented 02:02:"
        ));
        assert_eq!(f.to_string(), format!("{}: {}", f.host, f.reason()));
        assert!(handshake_failure(&io));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(trust_failure("h", &other).is_none());
        assert!(!handshake_failure(&other));
    }
}
