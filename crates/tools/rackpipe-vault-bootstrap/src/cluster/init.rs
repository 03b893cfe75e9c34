//! `init`: refuses unless every node answers uninitialised and the keys have somewhere safe
//! to go (PGP-encrypted by the server, or a new 0600 file), then runs `sys/init` on the first
//! node.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use super::Cluster;
use crate::error::{Error, Result};
use crate::wait::{join_all, phase};
use rackpipe_secrets::Secret;

/// Options of [`init`].
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Number of key shares.
    pub shares: u8,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// Base64 PGP public keys (binary, not armored), one per share: the API encrypts each share
    /// to its key, so only ciphertext ever leaves the server.
    pub pgp_keys: Vec<String>,
    /// Base64 PGP public key the root token is encrypted to.
    pub root_token_pgp_key: Option<String>,
    /// File (created 0600, must not exist) for whatever is not PGP-encrypted. Without PGP keys
    /// this is required: plaintext keys are never returned or logged.
    pub keys_file: Option<PathBuf>,
}

/// The result of [`init`]: only ciphertext and file names, safe to print.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InitReport {
    /// Node that was initialized.
    pub node: String,
    /// Key shares.
    pub shares: u8,
    /// Threshold.
    pub threshold: u8,
    /// PGP-encrypted unseal keys (base64), in the order of the PGP keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encrypted_keys: Vec<String>,
    /// PGP-encrypted root token (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_root_token: Option<String>,
    /// File the plaintext parts went to (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_file: Option<String>,
}

/// Initializes the cluster on its first node. Refuses unless every node answers and says it is
/// not initialized (a node that is down or partitioned could hold a cluster, and init would
/// make a second one), and refuses before any request if the keys or the root token would
/// have nowhere safe to go.
///
/// # Errors
/// [`Error::AlreadyInitialized`], [`Error::Unreachable`] naming the first node that did not
/// answer (transient: retry when it is back), [`Error::Input`] for bad options, API and file
/// errors.
pub async fn init(cluster: &Cluster, options: &InitOptions) -> Result<InitReport> {
    if options.threshold == 0 || options.shares == 0 || options.threshold > options.shares {
        return Err(Error::Input(format!(
            "seal: threshold {} must be between 1 and shares {}",
            options.threshold, options.shares
        )));
    }
    if options.shares > 1 && options.threshold < 2 {
        return Err(Error::Input(
            "seal: threshold must be at least 2 when there are several shares".to_owned(),
        ));
    }
    let keys_encrypted = !options.pgp_keys.is_empty();
    if keys_encrypted && options.pgp_keys.len() != usize::from(options.shares) {
        return Err(Error::Input(format!(
            "seal.pgp_keys: {} keys given but shares is {}; give one PGP key per share",
            options.pgp_keys.len(),
            options.shares
        )));
    }
    let token_encrypted = options.root_token_pgp_key.is_some();
    if (!keys_encrypted || !token_encrypted) && options.keys_file.is_none() {
        return Err(Error::Input(
            "init: unseal keys and root token must be PGP-encrypted (pgp_keys and root_token_pgp_key) \
             or written to a keys file given explicitly; refusing to return them in plaintext"
                .to_owned(),
        ));
    }
    let t = Instant::now();
    let checks = join_all(cluster.nodes().iter().map(|n| n.read("sys/init")).collect()).await;
    phase("init.check", "-", t);
    // Every node must answer and say it is not initialised. A node that does not answer (down,
    // or partitioned from us but not from its peers) may hold an initialised cluster: init
    // would then make a second one, with its own keys, beside it.
    const REFUSED: &str = "init refused: every node must answer and be uninitialised (a node \
                           that does not could hold a cluster init would duplicate)";
    for (node, check) in cluster.nodes().iter().zip(checks) {
        let name = node.name().to_owned();
        match check {
            Ok(Some(body)) => match body.get("initialized") {
                Some(Value::Bool(true)) => return Err(Error::AlreadyInitialized { node: name }),
                Some(Value::Bool(false)) => {}
                _ => {
                    return Err(Error::Protocol {
                        node: name,
                        path: "sys/init".to_owned(),
                        reason: format!("no \"initialized\" in the answer; {REFUSED}"),
                    });
                }
            },
            Ok(None) => {
                return Err(Error::Protocol {
                    node: name,
                    path: "sys/init".to_owned(),
                    reason: format!("not found; {REFUSED}"),
                });
            }
            Err(Error::Unreachable { node, url, reason }) => {
                return Err(Error::Unreachable {
                    node,
                    url,
                    reason: format!("{reason}; {REFUSED}"),
                });
            }
            Err(e) => return Err(e),
        }
    }
    let first = cluster
        .nodes()
        .first()
        .ok_or_else(|| Error::Input("no Vault node given".to_owned()))?;
    // Create the file before init so a file problem cannot lose the only copy of the keys.
    let mut file = match &options.keys_file {
        Some(path) => Some((path.clone(), create_private(path)?)),
        None => None,
    };
    let mut body = json!({"secret_shares": options.shares, "secret_threshold": options.threshold});
    if keys_encrypted {
        body["pgp_keys"] = json!(options.pgp_keys);
    }
    if let Some(key) = &options.root_token_pgp_key {
        body["root_token_pgp_key"] = json!(key);
    }
    let t = Instant::now();
    let reply = first.call("PUT", "sys/init", Some(&body)).await?;
    phase("init", first.name(), t);
    if !reply.ok() {
        if let Some((path, _)) = file.take() {
            let _ = std::fs::remove_file(path);
        }
        let message = reply.errors();
        if message.contains("already initialized") {
            return Err(Error::AlreadyInitialized {
                node: first.name().to_owned(),
            });
        }
        return Err(first.api_error("PUT", "sys/init", &reply));
    }
    let keys: Vec<String> = reply
        .body
        .get("keys_base64")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let root = reply
        .body
        .get("root_token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let keys = keys.into_iter().map(Secret::new).collect::<Vec<_>>();
    let root = Secret::new(root);
    let mut report = InitReport {
        node: first.name().to_owned(),
        shares: options.shares,
        threshold: options.threshold,
        encrypted_keys: Vec::new(),
        encrypted_root_token: None,
        keys_file: None,
    };
    if keys_encrypted {
        report.encrypted_keys = keys.iter().map(|k| k.expose().to_owned()).collect();
    }
    if token_encrypted {
        report.encrypted_root_token = Some(root.expose().to_owned());
    }
    if let Some((path, mut handle)) = file {
        let mut doc = serde_json::Map::new();
        if !keys_encrypted {
            doc.insert(
                "keys_base64".into(),
                json!(keys.iter().map(Secret::expose).collect::<Vec<_>>()),
            );
        }
        if !token_encrypted {
            doc.insert("root_token".into(), json!(root.expose()));
        }
        let text = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
        handle
            .write_all(text.as_bytes())
            .and_then(|()| handle.sync_all())
            .map_err(|e| Error::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        report.keys_file = Some(path.display().to_string());
    }
    tracing::info!(node = %first.name(), shares = options.shares, threshold = options.threshold, "initialized");
    Ok(report)
}

/// A new file (it must not exist) with mode 0600 whatever the umask (`mode` at creation is
/// only masked by it, so the mode is also set explicitly).
fn create_private(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mode = rackpipe_model::files::PRIVATE_FILE;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|f| {
            f.set_permissions(std::fs::Permissions::from_mode(mode))
                .map(|()| f)
        })
        .map_err(|e| Error::File {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientOptions;

    #[tokio::test]
    async fn init_refuses_plaintext_and_bad_pgp_counts_before_any_request() {
        let cluster = Cluster::new(
            &[("n1".into(), "https://127.0.0.1:1".into())],
            &ClientOptions::default(),
        )
        .unwrap();
        let e = init(
            &cluster,
            &InitOptions {
                shares: 5,
                threshold: 3,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("refusing to return them in plaintext")
        );
        let opts = InitOptions {
            shares: 3,
            threshold: 2,
            pgp_keys: vec!["k".into()],
            ..Default::default()
        };
        let e = init(&cluster, &opts).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "seal.pgp_keys: 1 keys given but shares is 3; give one PGP key per share"
        );
        let opts = InitOptions {
            shares: 3,
            threshold: 1,
            ..Default::default()
        };
        assert!(
            init(&cluster, &opts)
                .await
                .unwrap_err()
                .to_string()
                .contains("at least 2")
        );
        assert_eq!(cluster.http().requests(), 0);
    }
}
