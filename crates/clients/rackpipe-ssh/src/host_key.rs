//! Host-key verification: the [`HostKeyPolicy`] (a pinned fingerprint or a `known_hosts`
//! file, never trust on first use unless asked), fingerprints, and russh's callback that
//! applies the policy during the handshake.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};

use crate::Error;

/// How the server's host key is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// The key's SHA-256 fingerprint must equal this one (`SHA256:base64`, as printed by
    /// `ssh-keygen -lf key.pub`).
    Fingerprint(String),
    /// The key must be listed for the host in this `known_hosts` file.
    KnownHosts {
        /// The file (`[host]:port` entries for ports other than 22; hashed entries work).
        path: PathBuf,
        /// Add an unknown host's key to the file instead of failing (trust on first use).
        /// A *changed* key is still an error.
        accept_new: bool,
    },
}

impl HostKeyPolicy {
    /// The one way a tool turns its host-key flags and the site into a policy (no trust on
    /// first use): a pinned `fingerprint` given on the command line wins, then the host's key
    /// pinned in the site or an inventory (`site_pin`), then the `known_hosts` file. A
    /// fingerprint must read `SHA256:<base64>`, as `ssh-keygen -lf` prints it.
    ///
    /// # Errors
    /// [`Error::BadFingerprint`] for a malformed fingerprint, [`Error::NoHostKeyPolicy`] when
    /// none of the three is given (callers name their own flags in the usage message).
    pub fn from_options(
        fingerprint: Option<&str>,
        known_hosts: Option<&Path>,
        site_pin: Option<&str>,
    ) -> Result<Self, Error> {
        if let Some(fp) = fingerprint.or(site_pin) {
            check_fingerprint_syntax(fp)?;
            return Ok(Self::Fingerprint(fp.to_owned()));
        }
        known_hosts
            .map(|path| Self::KnownHosts {
                path: path.to_owned(),
                accept_new: false,
            })
            .ok_or(Error::NoHostKeyPolicy)
    }

    /// This policy, or the fingerprint `pin` when one is given for this host (the site's or an
    /// inventory's pinned key overrides the tool-wide policy).
    #[must_use]
    pub fn pinned_or(self, pin: Option<&str>) -> Self {
        pin.map_or(self, |fp| Self::Fingerprint(fp.to_owned()))
    }
}

/// SHA-256 fingerprint of a public key, `SHA256:<base64 without padding>`.
#[must_use]
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Reads the public key next to a private key file (`<key>.pub`) or a `.pub` file itself and
/// returns its fingerprint; handy for pinning.
///
/// # Errors
/// [`Error::Key`] when the file is not an OpenSSH public key.
pub fn fingerprint_of_file(path: &Path) -> Result<String, Error> {
    russh::keys::load_public_key(path)
        .map(|k| fingerprint(&k))
        .map_err(|e| Error::Key {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

pub(crate) fn check_fingerprint_syntax(fp: &str) -> Result<(), Error> {
    let ok = fp.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    });
    if ok {
        Ok(())
    } else {
        Err(Error::BadFingerprint(fp.to_owned()))
    }
}

/// russh's callback object: verifies the host key and records why it said no.
pub(crate) struct Verifier {
    pub(crate) label: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) policy: HostKeyPolicy,
    pub(crate) rejection: Arc<Mutex<Option<Error>>>,
}

impl Verifier {
    fn verdict(&self, key: &PublicKey) -> Result<(), Error> {
        let actual = fingerprint(key);
        match &self.policy {
            HostKeyPolicy::Fingerprint(expected) => {
                if &actual == expected {
                    Ok(())
                } else {
                    Err(Error::HostKeyMismatch {
                        host: self.label.clone(),
                        actual,
                        expected: expected.clone(),
                    })
                }
            }
            HostKeyPolicy::KnownHosts { path, accept_new } => {
                let known_hosts = path.display().to_string();
                if !path.exists() && !accept_new {
                    return Err(Error::UnknownHostKey {
                        host: self.label.clone(),
                        actual,
                        known_hosts,
                    });
                }
                let found = if path.exists() {
                    russh::keys::check_known_hosts_path(&self.host, self.port, key, path)
                } else {
                    Ok(false)
                };
                match found {
                    Ok(true) => Ok(()),
                    Ok(false) if *accept_new => {
                        tracing::warn!(host = %self.label, fingerprint = %actual, file = %known_hosts, "accepting new host key");
                        russh::keys::known_hosts::learn_known_hosts_path(
                            &self.host, self.port, key, path,
                        )
                        .map_err(|e| Error::KnownHosts {
                            host: self.label.clone(),
                            path: known_hosts,
                            message: e.to_string(),
                        })
                    }
                    Ok(false) => Err(Error::UnknownHostKey {
                        host: self.label.clone(),
                        actual,
                        known_hosts,
                    }),
                    Err(russh::keys::Error::KeyChanged { line }) => Err(Error::HostKeyChanged {
                        host: self.label.clone(),
                        actual,
                        known_hosts,
                        line,
                    }),
                    Err(e) => Err(Error::KnownHosts {
                        host: self.label.clone(),
                        path: known_hosts,
                        message: e.to_string(),
                    }),
                }
            }
        }
    }
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verdict(key),
            PublicKeyOrCertificate::Certificate(_) => Err(Error::Ssh {
                host: self.label.clone(),
                message:
                    "the server offered a host certificate; only plain host keys are supported"
                        .to_owned(),
            }),
        };
        match verdict {
            Ok(()) => Ok(true),
            Err(err) => {
                if let Ok(mut slot) = self.rejection.lock() {
                    *slot = Some(err);
                }
                Ok(false)
            }
        }
    }
}
