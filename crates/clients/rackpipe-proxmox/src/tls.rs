//! TLS set-up: the one trust policy of rackpipe's clients ([`rackpipe_tls::Trust`]): the
//! system's roots, a CA file (PVE's `pve-root-ca.pem`), or a pinned SHA-256 fingerprint of the
//! leaf certificate (self-signed node certificates).

pub use rackpipe_tls::Fingerprint;

/// How the server certificate is verified: [`rackpipe_tls::Trust`] under the name this crate
/// has always used.
pub type TlsMode = rackpipe_tls::Trust;
