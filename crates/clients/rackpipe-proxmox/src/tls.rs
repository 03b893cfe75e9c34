//! TLS set-up: a CA file, or a pinned SHA-256 fingerprint of the leaf certificate.

use std::path::PathBuf;

pub use rackpipe_tls::Fingerprint;

/// How the server certificate is verified.
#[derive(Debug, Clone, Default)]
pub enum TlsMode {
    /// The platform's trust store (rustls-platform-verifier via reqwest).
    #[default]
    System,
    /// Only the CA certificates in this PEM file (PVE's `pve-root-ca.pem`).
    CaFile(PathBuf),
    /// Accept exactly the leaf certificate with this SHA-256 fingerprint (self-signed
    /// node certificates). Handshake signatures are still verified.
    Pinned(Fingerprint),
}
