//! WireGuard interfaces (`/interface/wireguard`) and their peers
//! (`/interface/wireguard/peers`); keys that are secrets are secret references.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::YesNo;
use crate::types::{Name, SecretRef};

/// WireGuard interfaces and peers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WireGuard {
    /// `/interface/wireguard` interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<WireGuardInterface>,
    /// `/interface/wireguard/peers`, each on one of the interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<WireGuardPeer>,
}

impl WireGuard {
    /// No interfaces and no peers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.interfaces.is_empty() && self.peers.is_empty()
    }
}

/// A WireGuard interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WireGuardInterface {
    /// Interface name.
    pub name: Name,
    /// UDP port it listens on (RouterOS picks one when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// L3 MTU (RouterOS default 1420).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 9216))]
    pub mtu: Option<u16>,
    /// The interface's private key (RouterOS generates one when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<SecretRef>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Interface disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// A WireGuard peer; its identity is the interface and the peer's public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WireGuardPeer {
    /// The WireGuard interface (one of `router.wireguard.interfaces`).
    pub interface: Name,
    /// The peer's public key (base64; public, so written as text).
    pub public_key: String,
    /// Peer name (RouterOS 7.15 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Addresses the peer may send from and is routed to (comma list as RouterOS prints it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_address: Vec<String>,
    /// The peer's endpoint host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_address: Option<String>,
    /// The peer's endpoint port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_port: Option<u16>,
    /// Keepalive interval (`25s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_keepalive: Option<String>,
    /// Only answer; never initiate (RouterOS 7.15 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder: Option<YesNo>,
    /// Pre-shared key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preshared_key: Option<SecretRef>,
    /// The peer's private key, kept on the router to generate the peer's configuration
    /// (RouterOS 7.15 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<SecretRef>,
    /// Client configuration RouterOS generates for the peer: its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// Client configuration: DNS servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_dns: Option<String>,
    /// Client configuration: the endpoint the client connects to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_endpoint: Option<String>,
    /// Client configuration: keepalive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_keepalive: Option<String>,
    /// Client configuration: listen port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_listen_port: Option<u16>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Peer disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}
