//! Facts: what only the live system knows, passed from one tool to the next.
//!
//! `pve-sync facts` (and `pve-sync apply`) print the guests as Proxmox has them (VMIDs, nodes,
//! NICs with their real MACs); `ros-render` reads them to add DHCP static leases for the
//! guests. The documents carry the whole site under `site` (so `pve-sync facts | ros-render
//! plan -` reads it as its site; see [`crate::load`]) and its name under `site_name`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Site;
use crate::documents::{ApplyResult, Change, ChangeCounts};

/// The `facts` section: the guests as pve-sync found them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestFacts {
    /// Every site guest that exists, in site order.
    pub guests: Vec<GuestFact>,
}

/// A guest as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestFact {
    /// Guest name (as in `proxmox.guests[].name`).
    pub name: String,
    /// VMID.
    pub vmid: u32,
    /// Proxmox node it is on.
    pub node: String,
    /// `qemu` or `lxc`.
    pub kind: String,
    /// Its NICs.
    #[serde(default)]
    pub nics: Vec<NicFact>,
}

/// One NIC of a guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NicFact {
    /// `net0`.
    pub slot: String,
    /// MAC address (upper-case), as Proxmox has it.
    #[serde(default)]
    pub mac: Option<String>,
    /// IPv4/IPv6 address (no prefix) when known (from the site or a static LXC `ip=`).
    #[serde(default)]
    pub address: Option<String>,
    /// Bridge.
    #[serde(default)]
    pub bridge: Option<String>,
    /// VLAN tag.
    #[serde(default)]
    pub vlan: Option<u16>,
}

/// `pve-sync facts`: the guests' facts with the whole site, for the next tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FactsDocument {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `Facts`.
    pub kind: String,
    /// The tool that found them (`pve-sync`).
    pub tool: String,
    /// The whole site (a tool reading this document reads it as its site).
    #[schemars(schema_with = "embedded_site")]
    pub site: Site,
    /// The site's name.
    pub site_name: String,
    /// The facts.
    pub facts: GuestFacts,
}

impl FactsDocument {
    /// The facts document of `tool` for `site`.
    #[must_use]
    pub fn new(tool: &str, site: &Site, guests: Vec<GuestFact>) -> Self {
        Self {
            api_version: crate::API_VERSION.to_owned(),
            kind: "Facts".to_owned(),
            tool: tool.to_owned(),
            site: site.clone(),
            site_name: site.metadata.name.to_string(),
            facts: GuestFacts { guests },
        }
    }
}

/// `pve-sync apply`'s result: an [`ApplyResult`] that carries the whole site under `site`
/// (its name under `site_name`) and the guests' facts, so `pve-sync apply | ros-render plan -`
/// works. Published in `apply-result.schema.json` beside the plain result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApplyResultWithSite {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `ApplyResult`.
    pub kind: String,
    /// The tool that applied.
    pub tool: String,
    /// The whole site (a tool reading this document reads it as its site).
    #[schemars(schema_with = "embedded_site")]
    pub site: Site,
    /// The site's name.
    pub site_name: String,
    /// Changes made.
    pub applied: Vec<Change>,
    /// Counts of what was made.
    pub summary: ChangeCounts,
    /// The guests as they are after the apply.
    pub facts: GuestFacts,
}

impl ApplyResultWithSite {
    /// `result` (whose `facts` are replaced by `facts`) with `site` embedded.
    #[must_use]
    pub fn new(result: ApplyResult, site: &Site, facts: GuestFacts) -> Self {
        Self {
            api_version: result.api_version,
            kind: result.kind,
            tool: result.tool,
            site: site.clone(),
            site_name: result.site,
            applied: result.applied,
            summary: result.summary,
            facts,
        }
    }
}

/// `site` of a document that embeds the site: the site schema, by reference (it is the one
/// published beside this one, `site.schema.json`).
fn embedded_site(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "The whole site, as in site.schema.json.",
        "$ref": "site.schema.json"
    })
}

/// What `TOOL apply` prints: the result, or pve-sync's result, which also carries the whole
/// site and the guests' facts for the next tool in a pipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ApplyOutput {
    /// Every tool but pve-sync.
    Result(ApplyResult),
    /// pve-sync.
    WithSite(Box<ApplyResultWithSite>),
}
