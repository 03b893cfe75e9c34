//! IPv6: addresses (`/ipv6/address`) and routes (`/ipv6/route`); the IPv6 firewall is
//! still a generic menu (`router.menus`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Route, YesNo};
use crate::types::{InterfaceAddress, Name};

/// The IPv6 part of the router.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ipv6 {
    /// `/ipv6/address` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Ipv6Address>,
    /// `/ipv6/route` static routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

impl Ipv6 {
    /// Nothing IPv6 is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.routes.is_empty()
    }
}

/// An `/ipv6/address` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ipv6Address {
    /// Address with prefix, e.g. `2001:db8:1::1/64`.
    pub address: InterfaceAddress,
    /// Interface carrying it.
    pub interface: Name,
    /// Whether the prefix is advertised in router advertisements (RouterOS default: yes for
    /// a /64, so only an explicit value is written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<YesNo>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Address disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}
