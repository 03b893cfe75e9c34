//! Cluster lifecycle: `init`, `unseal` (with raft joins) and `status`.
//!
//! This module holds the [`Cluster`], the node states and `status`; `init` (with where its
//! keys go), the unseal keys' sources (`keys`) and `unseal` with the raft joins are in their
//! own modules, re-exported here.

mod init;
mod keys;
mod unseal;

pub use init::{InitOptions, InitReport, init};
pub use keys::{keys_from_env, keys_from_file, root_token_from_file};
pub use unseal::{NodeUnseal, UnsealOptions, UnsealReport, unseal};

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::client::{Client, ClientOptions, Http};
use crate::error::{Error, Result};
use crate::wait::join_all;
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
