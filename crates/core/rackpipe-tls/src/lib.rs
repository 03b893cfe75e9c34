//! Pinned TLS for appliances with self-signed certificates (Proxmox VE nodes, RouterOS,
//! Synology DSM): the server's leaf certificate must have one SHA-256 [`Fingerprint`]; the
//! handshake signatures are still verified by the crypto provider (aws-lc-rs). Everything
//! else (CA files, the system's roots) is ordinary rustls/reqwest configuration.
//!
//! [`Trust`] is the one trust policy of every HTTP client (system roots, a CA file, a pinned
//! fingerprint, or plain HTTP to a literal loopback address), [`http_client`] the one function
//! that builds a client from it, and [`trust_failure`] tells a refused pin (a
//! [`TrustFailure`], never retried) from an unreachable host.
//!
//! [`transport`] holds the rules every HTTP client follows: plain HTTP only to a literal
//! loopback address, no redirect to another host, reply bodies read with a size limit.
//!
//! With the `listener` feature, [`TlsListener`] serves axum over TLS (the simulators).

#[cfg(feature = "listener")]
mod listener;
#[cfg(feature = "listener")]
pub use listener::TlsListener;

pub mod transport;
mod trust;

pub use trust::{
    PinMismatch, Trust, TrustError, TrustFailure, handshake_failure, http_client, pin_mismatch,
    reqwest_trust_failure, trust_failure,
};

use std::fmt;
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

/// Why a fingerprint did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// Not hexadecimal (colons aside).
    #[error("not hex")]
    NotHex,
    /// Hex, but not 32 bytes.
    #[error("a SHA-256 fingerprint has 32 bytes, not {0}")]
    Length(usize),
}

impl Fingerprint {
    /// Parses `AB:CD:...` (as the appliances' web interfaces show it) or 64 hex digits, any
    /// case.
    ///
    /// # Errors
    /// When it is not 32 bytes of hex.
    pub fn parse(text: &str) -> Result<Self, FingerprintError> {
        let hex_text: String = text.trim().chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(&hex_text).map_err(|_| FingerprintError::NotHex)?;
        let len = bytes.len();
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| FingerprintError::Length(len))
    }

    /// The fingerprint of a DER certificate.
    #[must_use]
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        f.write_str(&parts.join(":"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A rustls client configuration (aws-lc-rs, safe default protocol versions, no client
/// certificate) that accepts exactly the leaf certificate with fingerprint `pin`.
#[must_use]
pub fn pinned_client_config(pin: Fingerprint) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedVerifier {
        pin,
        provider: Arc::clone(&provider),
    });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder_with_protocol_versions(rustls::DEFAULT_VERSIONS)
        })
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// Pins the end-entity certificate and delegates signature checks to the provider.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of_der(end_entity.as_ref());
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch {
                    expected: self.pin,
                    seen: got,
                }))),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_formats() {
        let a = Fingerprint::parse(&"ab".repeat(32)).unwrap();
        assert_eq!(Fingerprint::parse(&a.to_string()).unwrap(), a);
        assert_eq!(
            Fingerprint::parse(" ab:AB ").unwrap_err(),
            FingerprintError::Length(2)
        );
        assert_eq!(
            Fingerprint::parse("zz").unwrap_err(),
            FingerprintError::NotHex
        );
    }

    #[test]
    fn only_the_pinned_leaf_is_accepted() {
        let der = CertificateDer::from(b"not really DER, only hashed".to_vec());
        let verifier = PinnedVerifier {
            pin: Fingerprint::of_der(der.as_ref()),
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        };
        let name = ServerName::try_from("router.example").unwrap();
        let now = UnixTime::now();
        assert!(
            verifier
                .verify_server_cert(&der, &[], &name, &[], now)
                .is_ok()
        );
        let other = CertificateDer::from(b"another certificate".to_vec());
        let err = verifier
            .verify_server_cert(&other, &[], &name, &[], now)
            .unwrap_err();
        assert!(err.to_string().contains("fingerprint mismatch"), "{err}");
    }
}
