//! Cluster lifecycle: `init`, `unseal` (with raft joins) and `status`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::client::{Client, ClientOptions, Http};
use crate::error::{Error, Result};
use crate::wait::{Backoff, join_all, phase};
use rackpipe_secrets::Secret;

/// The nodes of one cluster, each with its API client (all sharing one pool and counter).
#[derive(Debug, Clone)]
pub struct Cluster {
    http: Http,
    nodes: Vec<Client>,
}

impl Cluster {
    /// A cluster of `(name, url)` nodes.
    ///
    /// # Errors
    /// A bad CA bundle, no node, or a node URL the transport rule refuses.
    pub fn new(nodes: &[(String, String)], options: &ClientOptions) -> Result<Self> {
        if nodes.is_empty() {
            return Err(Error::Input("no Vault node given".to_owned()));
        }
        let http = Http::new(options)?;
        let nodes = nodes
            .iter()
            .map(|(name, url)| http.checked_node(name.clone(), url.clone()))
            .collect::<Result<_>>()?;
        Ok(Self { http, nodes })
    }

    /// The node clients, in order.
    #[must_use]
    pub fn nodes(&self) -> &[Client] {
        &self.nodes
    }

    /// The shared pool (request counter).
    #[must_use]
    pub fn http(&self) -> &Http {
        &self.http
    }
}

/// A node's state from `sys/health` (plus `sys/seal-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Unsealed and active (200).
    Active,
    /// Unsealed standby (429).
    Standby,
    /// Initialized but sealed (503).
    Sealed,
    /// Not initialized (501).
    Uninitialized,
    /// Did not answer.
    Unreachable,
}

/// `GET sys/health` interpreted by status code.
async fn health(node: &Client) -> Result<(NodeState, Value)> {
    let reply = node.call("GET", "sys/health", None).await?;
    let state = match reply.status {
        200 => NodeState::Active,
        429 | 472 | 473 => NodeState::Standby,
        503 => NodeState::Sealed,
        501 => NodeState::Uninitialized,
        _ => return Err(node.api_error("GET", "sys/health", &reply)),
    };
    Ok((state, reply.body))
}

async fn state(node: &Client) -> NodeState {
    match health(node).await {
        Ok((s, _)) => s,
        Err(_) => NodeState::Unreachable,
    }
}

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

/// Reads unseal keys from a keys file written by [`init`] (`keys_base64`) or a text file with
/// one key per line.
///
/// # Errors
/// Unreadable file, or no key in it.
pub fn keys_from_file(path: &Path) -> Result<Vec<Secret>> {
    let text = Secret::new(std::fs::read_to_string(path).map_err(|e| Error::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?);
    let keys = parse_keys(text.expose());
    if keys.is_empty() {
        return Err(Error::File {
            path: path.to_owned(),
            reason: "no unseal key in it".to_owned(),
        });
    }
    Ok(keys)
}

/// Reads the root token from a keys file written by [`init`].
///
/// # Errors
/// Unreadable file, or no `root_token` in it.
pub fn root_token_from_file(path: &Path) -> Result<Secret> {
    let text = Secret::new(std::fs::read_to_string(path).map_err(|e| Error::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?);
    serde_json::from_str::<Value>(text.expose())
        .ok()
        .and_then(|v| v.get("root_token").and_then(Value::as_str).map(Secret::new))
        .ok_or_else(|| Error::File {
            path: path.to_owned(),
            reason: "no root_token in it".to_owned(),
        })
}

/// Reads unseal keys from an environment variable (separated by commas or whitespace).
///
/// # Errors
/// The variable is unset or empty.
pub fn keys_from_env(var: &str) -> Result<Vec<Secret>> {
    let value = Secret::new(std::env::var(var).unwrap_or_default());
    let keys = parse_keys(value.expose());
    if keys.is_empty() {
        return Err(Error::Input(format!("${var}: no unseal key in it")));
    }
    Ok(keys)
}

fn parse_keys(text: &str) -> Vec<Secret> {
    if let Ok(doc) = serde_json::from_str::<Value>(text) {
        let list = doc
            .get("keys_base64")
            .or_else(|| doc.get("keys"))
            .and_then(Value::as_array);
        return list
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(Secret::new)
                    .collect()
            })
            .unwrap_or_default();
    }
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .map(Secret::new)
        .collect()
}

/// Options of [`unseal`].
#[derive(Debug, Clone)]
pub struct UnsealOptions {
    /// PEM CA of the leader, sent with raft join requests (`leader_ca_cert`).
    pub leader_ca_pem: Option<String>,
    /// How long a follower may take to join, unseal and become standby (default 60 s).
    pub timeout: Duration,
    /// How long, counted from the moment the leader is active, an uninitialized follower is
    /// left to its `retry_join` before the join API is called (default 3 s: OpenBao and Vault
    /// retry every 2 s). Zero for followers without `retry_join`.
    pub retry_join_grace: Duration,
}

impl Default for UnsealOptions {
    fn default() -> Self {
        Self {
            leader_ca_pem: None,
            timeout: Duration::from_secs(60),
            retry_join_grace: Duration::from_secs(3),
        }
    }
}

/// What [`unseal`] did to one node.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct NodeUnseal {
    /// Node name.
    pub node: String,
    /// State before.
    pub before: NodeState,
    /// State after.
    pub after: NodeState,
    /// Whether it was joined to the raft cluster through the join API.
    pub joined: bool,
}

/// The result of [`unseal`].
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UnsealReport {
    /// Per node, in order.
    pub nodes: Vec<NodeUnseal>,
}

/// A node's state from `sys/seal-status` (and `sys/health` when it is unsealed), with the
/// seal status itself.
async fn observe(node: &Client) -> Result<(NodeState, Value)> {
    let Some(status) = node.read("sys/seal-status").await? else {
        return Err(Error::Protocol {
            node: node.name().to_owned(),
            path: "sys/seal-status".into(),
            reason: "404".into(),
        });
    };
    let state = if status.get("initialized") != Some(&Value::Bool(true)) {
        NodeState::Uninitialized
    } else if status.get("sealed") == Some(&Value::Bool(true)) {
        NodeState::Sealed
    } else {
        state(node).await
    };
    Ok((state, status))
}

/// Unseals every sealed node; joins uninitialized raft followers to the active node first.
/// Idempotent: unsealed nodes are left alone. Unreachable nodes do not stop the others, but
/// make the result an error afterwards.
///
/// The nodes are read at the same time; sealed members get their keys at the same time;
/// then, while they come up, the followers wait for the active node and join and unseal
/// side by side. Every wait is a poll with backoff, bounded by `options.timeout`. With `-v`
/// each step's duration is logged (`phase`).
///
/// # Errors
/// Too few or wrong keys, no initialized node, join failures, timeouts, unreachable nodes.
pub async fn unseal(
    cluster: &Cluster,
    keys: &[Secret],
    options: &UnsealOptions,
) -> Result<UnsealReport> {
    let started = Instant::now();
    let observed = join_all(cluster.nodes().iter().map(observe).collect()).await;
    let mut before = Vec::new();
    let mut seal = Vec::new();
    for result in observed {
        match result {
            Ok((state, status)) => {
                before.push(state);
                seal.push(Some(status));
            }
            Err(e @ Error::Unreachable { .. }) => {
                tracing::warn!(error = %e, "node unreachable");
                before.push(NodeState::Unreachable);
                seal.push(None);
            }
            Err(e) => return Err(e),
        }
    }
    phase("unseal.status", "-", started);
    let Some(init_index) = before.iter().position(|s| {
        matches!(
            s,
            NodeState::Active | NodeState::Standby | NodeState::Sealed
        )
    }) else {
        if let Some(i) = before.iter().position(|s| *s == NodeState::Uninitialized) {
            return Err(Error::NotInitialized {
                node: cluster.nodes()[i].name().to_owned(),
            });
        }
        return Err(unreachable_error(cluster, &before));
    };
    let status = seal[init_index].clone().unwrap_or(Value::Null);
    let threshold = status.get("t").and_then(Value::as_u64).unwrap_or(1);
    let storage = status
        .get("storage_type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let needs_keys = before
        .iter()
        .any(|s| matches!(s, NodeState::Sealed | NodeState::Uninitialized));
    if needs_keys && (keys.len() as u64) < threshold {
        return Err(Error::Unseal {
            node: cluster.nodes()[init_index].name().to_owned(),
            reason: format!(
                "too few unseal keys: {} given, threshold is {threshold}",
                keys.len()
            ),
        });
    }
    let sealed: Vec<usize> = (0..before.len())
        .filter(|&i| before[i] == NodeState::Sealed)
        .collect();
    let followers: Vec<usize> = (0..before.len())
        .filter(|&i| before[i] == NodeState::Uninitialized)
        .collect();
    if let Some(&i) = followers.first()
        && storage != "raft"
    {
        return Err(Error::NotInitialized {
            node: cluster.nodes()[i].name().to_owned(),
        });
    }
    // 1. Initialized, sealed nodes (the leader after init, or restarted members), all at once.
    let submitted = join_all(
        sealed
            .iter()
            .map(|&i| {
                let node = &cluster.nodes()[i];
                let status = seal[i].as_ref();
                async move {
                    let t = Instant::now();
                    let result = submit_keys(node, keys, false, status).await;
                    phase("unseal.keys", node.name(), t);
                    result
                }
            })
            .collect(),
    )
    .await;
    for result in submitted {
        result?;
    }
    // 2. While those come up: uninitialized raft followers wait for the active node, then
    //    join (retry_join, else the join API) and get their keys, side by side.
    let members = join_all(
        sealed
            .iter()
            .map(|&i| {
                let node = &cluster.nodes()[i];
                async move {
                    let t = Instant::now();
                    let result = wait_unsealed(node, keys, options.timeout).await;
                    phase("unseal.up", node.name(), t);
                    result
                }
            })
            .collect(),
    );
    let joiners = async {
        if followers.is_empty() {
            return Ok(Vec::new());
        }
        let t = Instant::now();
        let leader = wait_active(cluster, options.timeout).await?;
        let leader_node = &cluster.nodes()[leader];
        phase("unseal.leader_active", leader_node.name(), t);
        let active_since = Instant::now();
        Ok(join_all(
            followers
                .iter()
                .map(|&i| {
                    follow(
                        &cluster.nodes()[i],
                        leader_node.url(),
                        active_since,
                        keys,
                        options,
                    )
                })
                .collect(),
        )
        .await)
    };
    let (members, joiners) = tokio::join!(members, joiners);
    let joiners: Vec<Result<(bool, NodeState)>> = joiners?;
    let mut after = before.clone();
    let mut joined = vec![false; before.len()];
    for (&i, result) in followers.iter().zip(joiners) {
        let (j, state) = result?;
        joined[i] = j;
        after[i] = state;
    }
    for (&i, result) in sealed.iter().zip(members) {
        after[i] = result?;
    }
    // A node just unsealed answers standby until it wins the election; report where the
    // nodes stand now that every one is up.
    let touched: Vec<usize> = sealed.iter().chain(&followers).copied().collect();
    let now = join_all(
        touched
            .iter()
            .map(|&i| state(&cluster.nodes()[i]))
            .collect(),
    )
    .await;
    for (&i, state) in touched.iter().zip(now) {
        if matches!(state, NodeState::Active | NodeState::Standby) {
            after[i] = state;
        }
    }
    phase("unseal", "-", started);
    if after.contains(&NodeState::Unreachable) {
        return Err(unreachable_error(cluster, &after));
    }
    let nodes = cluster
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, n)| NodeUnseal {
            node: n.name().to_owned(),
            before: before[i],
            after: after[i],
            joined: joined[i],
        })
        .collect();
    Ok(UnsealReport { nodes })
}

/// One uninitialized follower: join (or let `retry_join` do it), send the keys, wait until it
/// is standby. Returns whether the join API was used, and the state reached.
async fn follow(
    node: &Client,
    leader_url: &str,
    active_since: Instant,
    keys: &[Secret],
    options: &UnsealOptions,
) -> Result<(bool, NodeState)> {
    let t = Instant::now();
    let (joined, status) = join_if_needed(node, leader_url, active_since, options).await?;
    phase(
        if joined {
            "unseal.join_api"
        } else {
            "unseal.retry_join"
        },
        node.name(),
        t,
    );
    let t = Instant::now();
    submit_keys(node, keys, true, Some(&status)).await?;
    phase("unseal.keys", node.name(), t);
    let t = Instant::now();
    let state = wait_unsealed(node, keys, options.timeout).await?;
    phase("unseal.up", node.name(), t);
    Ok((joined, state))
}

fn unreachable_error(cluster: &Cluster, states: &[NodeState]) -> Error {
    let names: Vec<&str> = cluster
        .nodes()
        .iter()
        .zip(states)
        .filter(|(_, s)| **s == NodeState::Unreachable)
        .map(|(n, _)| n.name())
        .collect();
    let first = states
        .iter()
        .position(|s| *s == NodeState::Unreachable)
        .unwrap_or(0);
    Error::Unreachable {
        node: names.join(","),
        url: cluster
            .nodes()
            .get(first)
            .map(|n| n.url().to_owned())
            .unwrap_or_default(),
        reason: "did not answer".to_owned(),
    }
}

/// Sends keys until the node reports unsealed. A fresh raft follower may still say sealed with
/// progress 0 after the last key (the join finishes asynchronously); the caller polls.
/// `known` is a `sys/seal-status` just read (saves a request).
async fn submit_keys(
    node: &Client,
    keys: &[Secret],
    fresh_follower: bool,
    known: Option<&Value>,
) -> Result<()> {
    let status = match known {
        Some(status) => status.clone(),
        None => node.expect("GET", "sys/seal-status", None).await?,
    };
    if status.get("sealed") == Some(&Value::Bool(false)) {
        return Ok(());
    }
    if status.get("progress").and_then(Value::as_u64).unwrap_or(0) > 0 {
        node.expect("PUT", "sys/unseal", Some(&json!({"reset": true})))
            .await?;
    }
    let threshold = status.get("t").and_then(Value::as_u64).unwrap_or(1);
    for (n, key) in keys.iter().enumerate() {
        let step = format!("unseal {}", node.name());
        tracing::info!(target: "progress", step, done = n as u64, total = threshold);
        let reply = node
            .call("PUT", "sys/unseal", Some(&json!({"key": key.expose()})))
            .await?;
        if !reply.ok() {
            if reply.status == 503
                || reply.status >= 500 && reply.errors().contains("not initialized")
            {
                return Err(node.api_error("PUT", "sys/unseal", &reply));
            }
            return Err(Error::Unseal {
                node: node.name().to_owned(),
                reason: format!("key {} rejected: {}", n + 1, reply.errors()),
            });
        }
        if reply.body.get("sealed") == Some(&Value::Bool(false)) {
            tracing::info!(node = %node.name(), "unsealed");
            return Ok(());
        }
        let progress = reply
            .body
            .get("progress")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if progress == 0 && (n as u64 + 1) >= threshold && !fresh_follower {
            return Err(Error::Unseal {
                node: node.name().to_owned(),
                reason: format!(
                    "wrong unseal keys: {threshold} keys accepted but the node stayed sealed"
                ),
            });
        }
        if progress == 0 && fresh_follower && (n as u64 + 1) >= threshold {
            return Ok(());
        }
    }
    Err(Error::Unseal {
        node: node.name().to_owned(),
        reason: format!(
            "still sealed after {} keys (threshold {threshold})",
            keys.len()
        ),
    })
}

/// Polls every node at once until one is active; returns its index.
async fn wait_active(cluster: &Cluster, timeout: Duration) -> Result<usize> {
    let mut backoff = Backoff::new(timeout);
    loop {
        let states = join_all(cluster.nodes().iter().map(state).collect()).await;
        if let Some(i) = states.iter().position(|s| *s == NodeState::Active) {
            return Ok(i);
        }
        if !backoff.wait().await {
            return Err(Error::Timeout {
                node: "cluster".to_owned(),
                what: "an active node".to_owned(),
                seconds: timeout.as_secs(),
            });
        }
    }
}

fn initialized(status: &Value) -> bool {
    status
        .get("initialized")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

async fn seal_status(node: &Client) -> Result<Value> {
    Ok(node.read("sys/seal-status").await?.unwrap_or(Value::Null))
}

/// Joins an uninitialized follower unless its `retry_join` does: the follower counts as
/// joined once it reports `initialized` (it holds the leader's challenge and waits for the
/// keys). `retry_join` retries every 2 s, so it is given `retry_join_grace` from the moment
/// the leader became active; after that the join API is called. Both may meet: OpenBao and
/// Vault hand out one answer per node id, so whichever challenge the node holds when the keys
/// arrive is answered correctly. Returns whether the join API was used, and the last
/// `sys/seal-status`.
async fn join_if_needed(
    node: &Client,
    leader_url: &str,
    active_since: Instant,
    options: &UnsealOptions,
) -> Result<(bool, Value)> {
    let mut grace = Backoff::until(active_since + options.retry_join_grace);
    loop {
        let status = seal_status(node).await?;
        if initialized(&status) {
            return Ok((false, status));
        }
        if !grace.wait().await {
            break;
        }
    }
    let mut body = json!({"leader_api_addr": leader_url});
    if let Some(ca) = &options.leader_ca_pem {
        body["leader_ca_cert"] = json!(ca);
    }
    let reply = node
        .call("POST", "sys/storage/raft/join", Some(&body))
        .await?;
    if !reply.ok() {
        // A retry_join that completed meanwhile makes the API join fail; check before failing.
        let status = seal_status(node).await?;
        if initialized(&status) {
            return Ok((false, status));
        }
        return Err(Error::Join {
            node: node.name().to_owned(),
            leader: leader_url.to_owned(),
            reason: reply.errors(),
        });
    }
    if reply.body.get("joined") != Some(&Value::Bool(true)) {
        return Err(Error::Join {
            node: node.name().to_owned(),
            leader: leader_url.to_owned(),
            reason: "the node answered joined=false".to_owned(),
        });
    }
    tracing::info!(node = %node.name(), leader = %leader_url, "joined raft cluster");
    let mut backoff = Backoff::new(options.timeout);
    loop {
        let status = seal_status(node).await?;
        if initialized(&status) {
            return Ok((true, status));
        }
        if !backoff.wait().await {
            return Err(Error::Timeout {
                node: node.name().to_owned(),
                what: "initialized after raft join".to_owned(),
                seconds: options.timeout.as_secs(),
            });
        }
    }
}

/// Polls until the node is active or standby; re-sends the keys if a follower lost them.
async fn wait_unsealed(node: &Client, keys: &[Secret], timeout: Duration) -> Result<NodeState> {
    let mut backoff = Backoff::new(timeout);
    let mut last_submit = Instant::now();
    loop {
        match state(node).await {
            s @ (NodeState::Active | NodeState::Standby) => return Ok(s),
            NodeState::Sealed if last_submit.elapsed() > Duration::from_secs(10) => {
                let status = node.expect("GET", "sys/seal-status", None).await?;
                if status.get("progress").and_then(Value::as_u64) == Some(0) {
                    tracing::info!(node = %node.name(), "still sealed; sending the keys again");
                    submit_keys(node, keys, true, Some(&status)).await?;
                }
                last_submit = Instant::now();
            }
            _ => {}
        }
        if !backoff.wait().await {
            return Err(Error::Timeout {
                node: node.name().to_owned(),
                what: "active or standby after unseal".to_owned(),
                seconds: timeout.as_secs(),
            });
        }
    }
}

/// One node in [`StatusReport`].
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct NodeStatus {
    /// Node name.
    pub name: String,
    /// API URL.
    pub url: String,
    /// State from `sys/health`.
    pub state: NodeState,
    /// Initialized.
    pub initialized: bool,
    /// Sealed.
    pub sealed: bool,
    /// Active.
    pub active: bool,
    /// Standby.
    pub standby: bool,
    /// Server version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Storage type (`raft`, `consul`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    /// Why it is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A raft peer from `sys/storage/raft/configuration`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RaftPeer {
    /// Raft node id.
    pub node_id: String,
    /// Cluster address.
    pub address: String,
    /// Whether it is the leader.
    pub leader: bool,
    /// Whether it votes.
    pub voter: bool,
}

/// `vault-bootstrap status`: the body of a `VaultStatus` document
/// ([`crate::documents::document`]).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StatusReport {
    /// Per node.
    pub nodes: Vec<NodeStatus>,
    /// Name of the active node, if any.
    pub leader: Option<String>,
    /// Raft peers (needs a token; empty without one or for other storage).
    pub raft_peers: Vec<RaftPeer>,
}

/// The state of every node from `sys/health`, all asked at once (one request per node).
/// Cheaper than [`status`] when only the active node is wanted.
pub async fn states(cluster: &Cluster) -> Vec<NodeState> {
    join_all(cluster.nodes().iter().map(state).collect()).await
}

async fn node_status(node: &Client) -> NodeStatus {
    let mut st = NodeStatus {
        name: node.name().to_owned(),
        url: node.url().to_owned(),
        state: NodeState::Unreachable,
        initialized: false,
        sealed: true,
        active: false,
        standby: false,
        version: None,
        storage_type: None,
        error: None,
    };
    match health(node).await {
        Ok((state, body)) => {
            st.state = state;
            st.initialized = body
                .get("initialized")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            st.sealed = body.get("sealed").and_then(Value::as_bool).unwrap_or(true);
            st.standby = state == NodeState::Standby;
            st.active = state == NodeState::Active;
            st.version = body
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Ok(Some(seal)) = node.read("sys/seal-status").await {
                st.storage_type = seal
                    .get("storage_type")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
        Err(e) => st.error = Some(e.to_string()),
    }
    st
}

/// Reads every node's health, the leader and (with a token) the raft peers. Unreachable
/// nodes are reported, not errors.
///
/// # Errors
/// None in practice for node problems; only unexpected API statuses.
pub async fn status(cluster: &Cluster, token: Option<&Secret>) -> Result<StatusReport> {
    let nodes = join_all(cluster.nodes().iter().map(node_status).collect()).await;
    let peers_from = nodes
        .iter()
        .position(|n| n.active)
        .and_then(|i| cluster.nodes().get(i));
    let leader = nodes.iter().find(|n| n.active).map(|n| n.name.clone());
    let mut raft_peers = Vec::new();
    if let (Some(node), Some(token)) = (peers_from, token) {
        let authed = node.clone().with_token(token.clone());
        if let Some(body) = authed
            .read("sys/storage/raft/configuration")
            .await
            .ok()
            .flatten()
        {
            let servers = body
                .pointer("/data/config/servers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for s in servers {
                raft_peers.push(RaftPeer {
                    node_id: s
                        .get("node_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    address: s
                        .get("address")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    leader: s.get("leader").and_then(Value::as_bool).unwrap_or(false),
                    voter: s.get("voter").and_then(Value::as_bool).unwrap_or(false),
                });
            }
        }
    }
    Ok(StatusReport {
        nodes,
        leader,
        raft_peers,
    })
}

/// Logs in with a JWT (a GitLab CI `id_tokens` token) and returns the client token.
///
/// # Errors
/// API errors (wrong role, audience, claims) and transport errors.
pub async fn login_jwt(api: &Client, mount: &str, role: &str, jwt: &Secret) -> Result<Secret> {
    api.login_jwt(mount, role, jwt).await
}

/// Maps node names to URLs for callers that take `--node name=url` overrides.
#[must_use]
pub fn override_urls(
    nodes: Vec<(String, String)>,
    overrides: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    nodes
        .into_iter()
        .map(|(name, url)| {
            let url = overrides.get(&name).cloned().unwrap_or(url);
            (name, url)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_json_lines_and_commas() {
        let k = parse_keys(r#"{"keys_base64": ["a", "b"], "root_token": "s.x"}"#);
        assert_eq!(k.iter().map(Secret::expose).collect::<Vec<_>>(), ["a", "b"]);
        let k = parse_keys("a\nb, c\n\n");
        assert_eq!(
            k.iter().map(Secret::expose).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(parse_keys("").is_empty());
        assert!(parse_keys("{}").is_empty());
    }

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
