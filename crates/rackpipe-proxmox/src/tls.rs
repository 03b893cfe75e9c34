//! TLS set-up: a CA file, or a pinned SHA-256 fingerprint of the leaf certificate.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::Error;

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Parses `AB:CD:...` (as the PVE GUI shows it) or 64 hex digits, any case.
    ///
    /// # Errors
    /// When it is not 32 bytes of hex.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let hex_text: String = text.trim().chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(&hex_text).map_err(|e| Error::Config {
            what: "TLS fingerprint".to_owned(),
            message: format!("not hex: {e}"),
        })?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| Error::Config {
            what: "TLS fingerprint".to_owned(),
            message: "a SHA-256 fingerprint has 32 bytes".to_owned(),
        })?;
        Ok(Self(arr))
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

/// A verifier that pins the end-entity certificate and delegates signature checks.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl PinnedVerifier {
    pub(crate) fn client_config(pin: Fingerprint) -> rustls::ClientConfig {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(Self {
            pin,
            provider: Arc::clone(&provider),
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| {
                rustls::ClientConfig::builder_with_protocol_versions(rustls::DEFAULT_VERSIONS)
            });
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth()
    }
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
            Err(rustls::Error::General(format!(
                "certificate fingerprint mismatch: server presented {got}"
            )))
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
        let hex64 = "ab".repeat(32);
        let a = Fingerprint::parse(&hex64).unwrap();
        let b = Fingerprint::parse(&a.to_string()).unwrap();
        assert_eq!(a, b);
        assert!(Fingerprint::parse("AB:CD").is_err());
        assert!(Fingerprint::parse("zz").is_err());
    }
}
