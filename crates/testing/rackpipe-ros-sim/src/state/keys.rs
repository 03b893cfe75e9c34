//! Certificates and keys: fingerprints and generated key material.

use std::time::SystemTime;

/// Name of the certificate the simulator's `www-ssl` serves.
pub(crate) const SIM_CERTIFICATE: &str = "sim-https";

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// SHA-256 of the first certificate's DER in `pem` (hex), as `/certificate print` shows it.
pub(super) fn pem_fingerprint(pem: &str) -> String {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .unwrap_or_default();
    sha256_hex(&der)
}

/// Generated key material (a stand-in for a WireGuard key: 32 bytes, base64).
pub(super) fn generated_key(seed: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let digest = sha2::Sha256::digest(format!("{seed}/{nanos}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The public half of a [`generated_key`] (stand-in derivation, not Curve25519).
pub(super) fn public_of(private: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("public/{private}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}
