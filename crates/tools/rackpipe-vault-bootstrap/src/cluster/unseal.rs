//! `unseal`: reads every node at once, sends the keys to the sealed members, joins the
//! uninitialised raft followers to the active node and unseals them side by side, each wait a
//! poll with backoff bounded by the one timeout.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::{Cluster, NodeState, state};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::wait::{Backoff, join_all, phase};
use rackpipe_secrets::Secret;

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
            return Ok::<_, Error>(Vec::new());
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
        let step = crate::wait::sending_keys(node.name());
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
