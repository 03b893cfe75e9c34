//! Interface lists (`/interface/list`) and their members (`/interface/list/member`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::Name;

/// The lists RouterOS always has (`all`, `none`, `dynamic`, `static`): a member or a firewall
/// matcher may name them without the site defining them.
pub const BUILTIN_INTERFACE_LISTS: &[&str] = &["all", "none", "dynamic", "static"];

/// An `/interface/list`: a named set of interfaces that firewall rules, neighbor discovery
/// and MAC server settings refer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceList {
    /// List name, e.g. `LAN`.
    pub name: Name,
    /// Other lists whose interfaces this one includes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<Name>,
    /// Other lists whose interfaces this one leaves out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<Name>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An `/interface/list/member`: one interface in one list (the pair is its identity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceListMember {
    /// The list (one of `router.interface_lists` or a built-in list).
    pub list: Name,
    /// The interface (any interface name on the router, or another list's name).
    pub interface: Name,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Membership disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}
