//! The site's addressing plan: named segments (L3 networks) and hosts that are not guests.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use crate::types::{Hostname, MacAddress, Name, Network};

/// One L3 network of the site, e.g. the Proxmox management LAN or a VLAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Segment name, referenced by other sections (`segment: storage`).
    pub name: Name,
    /// The network, e.g. `10.3.0.0/24`.
    pub cidr: Network,
    /// Default gateway of the segment (usually the router's address on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// 802.1Q VLAN id carrying the segment, if tagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4094))]
    pub vlan: Option<u16>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A machine that is not a Proxmox guest (NAS, hypervisor, printer, access point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Short name, referenced by other sections.
    pub name: Name,
    /// Fully qualified name, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<Hostname>,
    /// Primary address.
    pub address: IpAddr,
    /// Segment the address belongs to.
    pub segment: Name,
    /// MAC address of the primary interface (for DHCP static leases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddress>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}
