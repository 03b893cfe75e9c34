//! What the guests are once applied or read: their facts (VMID, node, NICs with MACs and
//! addresses) and the documents that carry them with the site embedded.

use std::collections::BTreeMap;

use rackpipe_model::Site;
use rackpipe_model::documents::ApplyResult;
use rackpipe_model::facts::{ApplyResultWithSite, FactsDocument, GuestFacts};
use rackpipe_proxmox::normalize::parse_property_string;
use rackpipe_proxmox::{Client, GuestConfig, GuestRef, GuestType};
use serde_json::{Value, json};

use super::analyse::proxmox;
use super::{GuestFact, NicFact, Options};
use crate::desired::{DesiredGuest, SecretSource, desired};
use crate::observe::{match_guest, observe};
use crate::{Error, TOOL};

/// Facts of one guest from its config.
pub(super) fn fact(
    g: Option<&DesiredGuest>,
    name: &str,
    gref: &GuestRef,
    config: &GuestConfig,
) -> GuestFact {
    let mut nics = Vec::new();
    for (key, value) in &config.values {
        if !(key.starts_with("net")
            && key[3..].chars().all(|c| c.is_ascii_digit())
            && key.len() > 3)
        {
            continue;
        }
        let map = parse_property_string(gref.kind, key, value).unwrap_or_default();
        let mac = map
            .get(if gref.kind == GuestType::Lxc {
                "hwaddr"
            } else {
                "macaddr"
            })
            .cloned();
        let address = g.and_then(|g| g.addresses.get(key).cloned()).or_else(|| {
            map.get("ip")
                .filter(|ip| ip.as_str() != "dhcp" && ip.as_str() != "manual")
                .map(|ip| ip.split('/').next().unwrap_or_default().to_owned())
        });
        nics.push(NicFact {
            slot: key.clone(),
            mac,
            address,
            bridge: map.get("bridge").cloned(),
            vlan: map.get("tag").and_then(|t| t.parse().ok()),
        });
    }
    GuestFact {
        name: name.to_owned(),
        vmid: gref.vmid,
        node: gref.node.clone(),
        kind: gref.kind.as_str().to_owned(),
        nics,
    }
}

pub(super) fn facts_value(facts: &[GuestFact]) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    map.insert("guests".to_owned(), json!(facts));
    map
}

/// The guests as they are (name, VMID, node, NICs with MACs and known addresses).
///
/// # Errors
/// Bad site references or API failures.
pub async fn facts(
    site: &Site,
    client: &Client,
    opts: &Options,
    secrets: &dyn SecretSource,
) -> Result<Vec<GuestFact>, Error> {
    let pve = proxmox(site)?;
    let desired = desired(pve, secrets)?;
    let observed = observe(client, &desired, opts.concurrency).await?;
    let mut out = Vec::new();
    for g in &desired.guests {
        if let Some(r) = match_guest(&observed, g)?
            && let (Some(gref), Some(vmid)) = (r.guest_ref(), r.vmid)
            && let Some(config) = observed.configs.get(&vmid)
        {
            out.push(fact(Some(g), &g.name, &gref, config));
        }
    }
    Ok(out)
}

/// `apply`'s document: `result` with the whole site embedded under `site` (so `pve-sync apply
/// | ros-render plan` reads the site), the site name under `site_name`
/// ([`rackpipe_model::facts::ApplyResultWithSite`], in `apply-result.schema.json`).
#[must_use]
pub fn with_site(result: &ApplyResult, site: &Site) -> Value {
    let facts = result
        .facts
        .get("guests")
        .and_then(|g| serde_json::from_value(g.clone()).ok())
        .map(|guests| GuestFacts { guests })
        .unwrap_or_default();
    let mut result = result.clone();
    result.facts.clear();
    serde_json::to_value(ApplyResultWithSite::new(result, site, facts)).unwrap_or(Value::Null)
}

/// The `facts` verb's document ([`rackpipe_model::facts::FactsDocument`], in
/// `facts.schema.json`): the guests' facts with the whole site embedded.
#[must_use]
pub fn facts_document(site: &Site, facts: &[GuestFact]) -> Value {
    serde_json::to_value(FactsDocument::new(TOOL, site, facts.to_vec())).unwrap_or(Value::Null)
}
