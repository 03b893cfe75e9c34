//! Router services and automation: the DHCP client (`/ip/dhcp-client`), neighbor discovery
//! (`/ip/neighbor/discovery-settings`), NTP client servers (`/system/ntp/client/servers`),
//! scripts (`/system/script`) and the scheduler (`/system/scheduler`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::YesNo;
use crate::types::{Duration, Name};

/// An `/ip/dhcp-client`: the router takes an address (a WAN uplink) by DHCP on `interface`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpClient {
    /// The interface (its identity: one client per interface).
    pub interface: Name,
    /// Use the DNS servers the lease gives (RouterOS default yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_peer_dns: Option<YesNo>,
    /// Use the NTP servers the lease gives (RouterOS default yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_peer_ntp: Option<YesNo>,
    /// Whether to add a default route: `yes`, `no` or `special-classless` (default yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_default_route: Option<String>,
    /// Distance of that default route (RouterOS default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_route_distance: Option<u8>,
    /// Script run on lease changes (RouterOS script source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Client disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// `/ip/neighbor/discovery-settings`: where the router announces itself (MNDP, CDP, LLDP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NeighborDiscovery {
    /// The interface list discovery runs on (RouterOS default `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discover_interface_list: Option<Name>,
    /// Protocols, e.g. `cdp,lldp,mndp`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocol: Vec<String>,
}

/// An `/system/ntp/client/servers` entry (RouterOS 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NtpClientServer {
    /// Server address or host name (its identity).
    pub address: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Server disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// An `/system/script`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Script name (its identity).
    pub name: String,
    /// The RouterOS script source.
    #[serde(default)]
    pub source: String,
    /// Owner (the user that made it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Policies the script runs with (`read`, `write`, `policy`, `test`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<String>,
    /// Run without checking the caller's permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dont_require_permissions: Option<YesNo>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An `/system/scheduler` task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scheduler {
    /// Task name (its identity).
    pub name: String,
    /// What it runs: a script's name or script source.
    pub on_event: String,
    /// First run date (`2024-01-31` or `jan/31/2024`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// First run time (`03:00:00`, or `startup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Repeat interval (none or `0s`: once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Policies the task runs with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Task disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}
