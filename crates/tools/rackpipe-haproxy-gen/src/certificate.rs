//! TLS certificates deployed from secret references.
//!
//! A service whose `tls_certificate` is a secret reference gets its PEM (certificate, chain
//! and private key in one file, what HAProxy's `crt` loads) written to every instance.
//! [`inspect`] checks that PEM before anything is deployed: a certificate first, exactly one
//! unencrypted private key, and that key belongs to the first certificate (HAProxy pairs the
//! key with the first certificate of the file). [`describe`] is how such a file shows up in
//! diffs, digests and `render` output: the certificate's subject, serial and expiry and the
//! SHA-256 of the real content, never the key.

use std::fmt::Write as _;

use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use sha2::{Digest, Sha256};
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Mode of the deployed PEM files (they hold a private key).
pub const MODE: &str = "0600";

/// What a certificate PEM holds, without its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject of the first (server) certificate, e.g. `CN=apps.example.net`.
    pub subject: String,
    /// Its serial number in hex (`0a:1b:…`).
    pub serial: String,
    /// Its expiry (RFC 3339).
    pub not_after: String,
    /// How many CA certificates follow it.
    pub chain: usize,
    /// SHA-256 of the whole PEM (hex).
    pub sha256: String,
}

impl CertificateInfo {
    /// The one-line description used instead of the file's content in `render` output,
    /// diffs and digests.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "# certificate {}, serial {}, not after {}, {} chain certificate(s), private key withheld; sha256 {}\n",
            self.subject, self.serial, self.not_after, self.chain, self.sha256
        )
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

struct Blocks {
    certificates: Vec<Vec<u8>>,
    keys: Vec<(String, Vec<u8>)>,
    encrypted: bool,
}

fn blocks(pem: &str) -> Result<Blocks, String> {
    let mut out = Blocks {
        certificates: Vec::new(),
        keys: Vec::new(),
        encrypted: false,
    };
    if !pem.contains("-----BEGIN ") {
        return Err("not a PEM (no -----BEGIN line)".to_owned());
    }
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = match block {
            Ok(b) => b,
            // Trailing text after the last block.
            Err(x509_parser::error::PEMError::MissingHeader) => break,
            Err(e) => return Err(format!("the PEM does not parse: {e}")),
        };
        match block.label.as_str() {
            "CERTIFICATE" => out.certificates.push(block.contents),
            "ENCRYPTED PRIVATE KEY" => out.encrypted = true,
            label if label.ends_with("PRIVATE KEY") => {
                out.keys.push((label.to_owned(), block.contents));
            }
            _ => {}
        }
    }
    Ok(out)
}

fn info(pem: &str, blocks: &Blocks) -> Result<(CertificateInfo, Vec<u8>), String> {
    let first = blocks
        .certificates
        .first()
        .ok_or("no certificate in the PEM")?;
    let (_, cert) = X509Certificate::from_der(first)
        .map_err(|e| format!("the first certificate does not parse: {e}"))?;
    let t = cert.validity().not_after.to_datetime();
    let not_after = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let subject = cert.subject().to_string();
    Ok((
        CertificateInfo {
            subject: if subject.is_empty() {
                "(empty subject)".to_owned()
            } else {
                subject
            },
            serial: cert.raw_serial_as_string(),
            not_after,
            chain: blocks.certificates.len() - 1,
            sha256: sha256_hex(pem.as_bytes()),
        },
        cert.public_key().subject_public_key.data.to_vec(),
    ))
}

/// The public key (as in a certificate's `subjectPublicKey`) of a private key block, or
/// `None` when the key is not one aws-lc can load (RSA, ECDSA P-256/384/521, Ed25519).
fn public_key_of(label: &str, der: &[u8]) -> Option<Vec<u8>> {
    let ec_algs: [&'static signature::EcdsaSigningAlgorithm; 3] = [
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
    ];
    let ec = |der: &[u8]| {
        ec_algs
            .iter()
            .find_map(|alg| EcdsaKeyPair::from_private_key_der(alg, der).ok())
            .map(|k| k.public_key().as_ref().to_vec())
    };
    match label {
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(der)
            .ok()
            .map(|k| k.public_key().as_ref().to_vec()),
        "EC PRIVATE KEY" => ec(der),
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(der)
            .ok()
            .map(|k| k.public_key().as_ref().to_vec())
            .or_else(|| ec(der))
            .or_else(|| {
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .ok()
                    .map(|k| k.public_key().as_ref().to_vec())
            }),
        _ => None,
    }
}

/// Checks a PEM for HAProxy's `crt`: the server certificate first, then its chain, and
/// exactly one unencrypted private key that matches the first certificate. The error is one
/// line and never contains key material.
///
/// # Errors
/// When the PEM lacks a certificate or the key, the key is encrypted or does not match.
pub fn inspect(pem: &str) -> Result<CertificateInfo, String> {
    let blocks = blocks(pem)?;
    let (info, spki) = info(pem, &blocks)?;
    if blocks.encrypted {
        return Err(
            "the private key is encrypted; HAProxy cannot load it without a passphrase".to_owned(),
        );
    }
    let [(label, der)] = blocks.keys.as_slice() else {
        return Err(if blocks.keys.is_empty() {
            format!(
                "no private key in the PEM (certificate {}); HAProxy's crt needs the certificate, its chain and its key in one file",
                info.subject
            )
        } else {
            format!(
                "{} private keys in the PEM; expected one",
                blocks.keys.len()
            )
        });
    };
    let public = public_key_of(label, der).ok_or_else(|| {
        format!("the private key ({label}) does not parse as an RSA, ECDSA or Ed25519 key")
    })?;
    if public != spki {
        let other = blocks.certificates.iter().skip(1).any(|c| {
            X509Certificate::from_der(c)
                .is_ok_and(|(_, c)| c.public_key().subject_public_key.data.as_ref() == public)
        });
        return Err(if other {
            format!(
                "the private key belongs to a chain certificate, not to the first one ({}); put the server certificate first",
                info.subject
            )
        } else {
            format!(
                "the private key does not match the certificate ({}, serial {})",
                info.subject, info.serial
            )
        });
    }
    Ok(info)
}

/// How a text that holds PEM blocks is shown in `render` output, diffs and digests: the
/// first certificate's subject, serial and expiry, and the SHA-256 of the real content.
/// `None` when `text` holds no PEM block (it is shown as is).
#[must_use]
pub fn describe(text: &str) -> Option<String> {
    if !text.contains("-----BEGIN ") {
        return None;
    }
    let described = blocks(text)
        .ok()
        .and_then(|b| info(text, &b).ok())
        .map(|(info, _)| info.describe());
    Some(described.unwrap_or_else(|| {
        let mut out = String::from("# PEM without a readable certificate, content withheld");
        let _ = writeln!(out, "; sha256 {}", sha256_hex(text.as_bytes()));
        out
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn never_panics_and_never_echoes(noise in "\\PC{0,400}", body in "[A-Za-z0-9+/=\n]{0,300}") {
            let text = format!("{noise}-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n{noise}");
            let _ = inspect(&text);
            let _ = inspect(&noise);
            let shown = describe(&text).unwrap();
            proptest::prop_assert!(body.len() < 12 || !shown.contains(body.trim()));
        }
    }

    /// A CA and a server certificate for `cn` with a key of `alg`: (server cert, CA cert,
    /// server key, CA key) as PEM.
    fn pki(alg: &'static rcgen::SignatureAlgorithm, cn: &str) -> [String; 4] {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rackpipe test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &issuer).unwrap();
        [
            cert.pem(),
            ca.pem(),
            key.serialize_pem(),
            ca_key.serialize_pem(),
        ]
    }

    fn key_body(key: &str) -> String {
        key.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn accepts_matching_keys_of_every_kind() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
            &rcgen::PKCS_RSA_SHA256,
        ] {
            let [cert, ca, key, _] = pki(alg, "apps.test.example");
            let info = inspect(&format!("{cert}{ca}{key}")).unwrap();
            assert_eq!(info.subject, "CN=apps.test.example");
            assert_eq!(info.chain, 1);
            assert!(info.not_after.ends_with('Z'), "{info:?}");
            // The key may come first too (HAProxy reads it wherever it is).
            assert!(inspect(&format!("{key}{cert}{ca}")).is_ok());
            let shown = describe(&format!("{cert}{ca}{key}")).unwrap();
            assert!(
                shown.starts_with("# certificate CN=apps.test.example, serial "),
                "{shown}"
            );
            assert!(!shown.contains(&key_body(&key)[..40]), "{shown}");
        }
    }

    #[test]
    fn rejects_missing_foreign_and_misplaced_keys() {
        let [cert, ca, key, ca_key] = pki(&rcgen::PKCS_ECDSA_P256_SHA256, "apps.test.example");
        let [_, _, other_key, _] = pki(&rcgen::PKCS_ECDSA_P256_SHA256, "other.test.example");
        let cases = [
            (format!("{cert}{ca}"), "no private key in the PEM (certificate CN=apps.test.example); HAProxy's crt needs the certificate, its chain and its key in one file".to_owned()),
            (format!("{cert}{ca}{other_key}"), "the private key does not match the certificate (CN=apps.test.example, serial ".to_owned()),
            (format!("{cert}{ca}{ca_key}"), "the private key belongs to a chain certificate, not to the first one (CN=apps.test.example); put the server certificate first".to_owned()),
            (format!("{cert}{key}{other_key}"), "2 private keys in the PEM; expected one".to_owned()),
            (key.clone(), "no certificate in the PEM".to_owned()),
            (
                format!("{cert}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
                "the private key is encrypted; HAProxy cannot load it without a passphrase".to_owned(),
            ),
        ];
        for (pem, expected) in cases {
            let e = inspect(&pem).unwrap_err();
            assert!(e.starts_with(&expected), "{e}");
            assert!(!e.contains('\n'));
            for k in [&key, &other_key, &ca_key] {
                assert!(!e.contains(&key_body(k)[..40]), "{e}");
            }
        }
    }

    #[test]
    fn not_a_pem() {
        assert_eq!(
            inspect("hunter2").unwrap_err(),
            "not a PEM (no -----BEGIN line)"
        );
        assert_eq!(describe("global\n"), None);
        let e =
            inspect("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap_err();
        assert_eq!(e, "no certificate in the PEM");
        let shown =
            describe("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        assert!(
            shown.starts_with("# PEM without a readable certificate"),
            "{shown}"
        );
        assert!(!shown.contains("AAAA"));
    }
}
