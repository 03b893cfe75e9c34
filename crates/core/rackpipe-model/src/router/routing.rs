//! Static routes (`/ip/route`, `/ipv6/route`) and VRRP interfaces (`/interface/vrrp`).

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::{Name, Network};

/// A static route. Its identity is the destination, the gateway and the routing table
/// (RouterOS's defaults: `0.0.0.0/0` or `::/0`, and `main`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination network (RouterOS default: the default route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_address: Option<Network>,
    /// Gateway: an address, an interface name, or `address%interface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Administrative distance (RouterOS default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 255))]
    pub distance: Option<u8>,
    /// Routing table (RouterOS default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_table: Option<Name>,
    /// Route scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
    /// Scope of the gateway lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_scope: Option<u8>,
    /// Preferred source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pref_src: Option<IpAddr>,
    /// Keep the route out of the switch chip's hardware offload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_hw_offload: Option<YesNo>,
    /// How the gateway is checked (`ping`, `arp`, `bfd`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_gateway: Option<String>,
    /// Drop the traffic instead of forwarding it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blackhole: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Route disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// An `/interface/vrrp` virtual router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vrrp {
    /// Interface name.
    pub name: Name,
    /// Interface VRRP runs on.
    pub interface: Name,
    /// Virtual router id (RouterOS default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 255))]
    pub vrid: Option<u8>,
    /// Priority (RouterOS default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 255))]
    pub priority: Option<u8>,
    /// VRRP version, 2 or 3 (RouterOS default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 3))]
    pub version: Option<u8>,
    /// Protocol of a version 3 router: `ipv4` (default) or `ipv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v3_protocol: Option<VrrpProtocol>,
    /// The VRRP interface that decides this one's state (`self`: it decides itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_authority: Option<Name>,
    /// Authentication (`none`, `simple`, `ah`; version 2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<VrrpAuthentication>,
    /// L3 MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 9216))]
    pub mtu: Option<u16>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Interface disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// The address family of a VRRP version 3 router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VrrpProtocol {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// VRRP version 2 authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VrrpAuthentication {
    /// None (default).
    None,
    /// Plain-text password.
    Simple,
    /// IPsec authentication header.
    Ah,
}

/// A RouterOS `yes`/`no` a site gives explicitly (an absent one is the router's default).
/// Written `yes` or `no` (so that an explicit `no` is kept when the site is written back);
/// `true` and `false` are read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YesNo {
    /// `yes`.
    Yes,
    /// `no`.
    No,
}

impl YesNo {
    /// As a boolean.
    #[must_use]
    pub fn is_yes(self) -> bool {
        self == Self::Yes
    }

    /// The RouterOS word.
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
        }
    }
}

impl From<bool> for YesNo {
    fn from(b: bool) -> Self {
        if b { Self::Yes } else { Self::No }
    }
}

impl std::fmt::Display for YesNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

impl Serialize for YesNo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.word())
    }
}

impl<'de> Deserialize<'de> for YesNo {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = YesNo;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("yes or no")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<YesNo, E> {
                Ok(v.into())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<YesNo, E> {
                match v {
                    "yes" | "true" => Ok(YesNo::Yes),
                    "no" | "false" => Ok(YesNo::No),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl JsonSchema for YesNo {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "YesNo".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "yes or no (true and false are read too); absent: the router's default.",
            "anyOf": [
                { "type": "boolean" },
                { "type": "string", "enum": ["yes", "no", "true", "false"] }
            ]
        })
    }
}
