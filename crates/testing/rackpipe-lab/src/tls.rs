//! The lab CA (`DIR/creds/ca.pem`, key 0600 beside it) and the certificates it issues to the
//! simulators (IP and DNS subject alternative names), with their SHA-256 fingerprints.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::LabError;

/// The lab's certificate authority, alive while the lab is being built.
pub struct LabCa {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    /// The CA certificate (PEM).
    pub cert_pem: String,
}

impl std::fmt::Debug for LabCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabCa").finish_non_exhaustive()
    }
}

/// An issued certificate.
pub struct Issued {
    /// Leaf certificate, PEM.
    pub cert_pem: String,
    /// Private key, PEM (a secret: never logged).
    pub key_pem: String,
    /// SHA-256 of the leaf's DER, lowercase hex.
    pub fingerprint: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("fingerprint", &self.fingerprint)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn tls_err(e: impl std::fmt::Display) -> LabError {
    LabError::Tls(e.to_string())
}

impl LabCa {
    /// A new CA named after the lab id.
    ///
    /// # Errors
    /// Key generation or signing fails.
    pub fn new(lab_id: &str) -> Result<Self, LabError> {
        let key = rcgen::KeyPair::generate().map_err(tls_err)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("rackpipe lab {lab_id} CA"),
        );
        let cert = params.self_signed(&key).map_err(tls_err)?;
        Ok(Self {
            params,
            key,
            cert_pem: cert.pem(),
        })
    }

    /// Writes `ca.pem` (0644) and `ca-key.pem` (0600) into `creds`.
    ///
    /// # Errors
    /// Files cannot be written.
    pub fn write(&self, creds: &Path) -> Result<(), LabError> {
        write_file(&creds.join("ca.pem"), self.cert_pem.as_bytes(), 0o644)?;
        write_file(
            &creds.join("ca-key.pem"),
            self.key.serialize_pem().as_bytes(),
            0o600,
        )
    }

    /// Issues a server certificate for `names` (IP addresses become IP SANs).
    ///
    /// # Errors
    /// Key generation or signing fails.
    pub fn issue(&self, names: &[String]) -> Result<Issued, LabError> {
        let key = rcgen::KeyPair::generate().map_err(tls_err)?;
        let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(tls_err)?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, first.clone());
        }
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(tls_err)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            fingerprint: hex::encode(Sha256::digest(cert.der())),
        })
    }
}

/// A new key pair's public key (PEM) and private key (PEM), e.g. for JWT signing.
///
/// # Errors
/// Key generation fails.
pub fn key_pair() -> Result<(String, String), LabError> {
    let key = rcgen::KeyPair::generate().map_err(tls_err)?;
    Ok((key.public_key_pem(), key.serialize_pem()))
}

/// Writes `bytes` to `path` with `mode` (set before any content is written).
///
/// # Errors
/// The file cannot be created or written.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), LabError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| LabError::io(path, &e))?;
    f.write_all(bytes).map_err(|e| LabError::io(path, &e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io(path, &e))
}
