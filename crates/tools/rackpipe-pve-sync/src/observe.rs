//! Reading the cluster: one `/cluster/resources?type=vm` call, then config reads (bounded
//! concurrency) only for guests that exist, plus the few site-wide lists pve-sync manages
//! (template volumes, pools, HA resources).

use std::collections::{BTreeMap, BTreeSet};

use rackpipe_proxmox::{Client, ClusterResource, GuestConfig, GuestRef, Params};
use serde_json::{Value, json};

use crate::Error;
use crate::desired::Desired;

/// What the cluster has, as far as pve-sync looks.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Guests by VMID (`/cluster/resources?type=vm`).
    pub guests: BTreeMap<u32, ClusterResource>,
    /// Configs of the guests that matter (managed ones and deletion candidates).
    pub configs: BTreeMap<u32, GuestConfig>,
    /// Template volume ids found on their storages.
    pub volumes: BTreeSet<String>,
    /// Existing pool ids (`None` when the site declares no pools and they were not read).
    pub pools: Option<BTreeSet<String>>,
    /// HA resources: sid → requested state.
    pub ha: BTreeMap<String, String>,
}

impl Observed {
    /// The digest input: only what plans depend on (no RRD figures).
    #[must_use]
    pub fn digest_value(&self) -> Value {
        let guests: Vec<Value> = self
            .guests
            .values()
            .map(|r| {
                json!({"id": r.id, "node": r.node, "status": r.status, "pool": r.pool,
                       "hastate": r.hastate, "name": r.name, "template": r.template, "lock": r.lock})
            })
            .collect();
        let configs: BTreeMap<String, Option<&String>> = self
            .configs
            .iter()
            .map(|(k, c)| (k.to_string(), c.digest.as_ref()))
            .collect();
        json!({"guests": guests, "configs": configs, "volumes": self.volumes,
               "pools": self.pools, "ha": self.ha})
    }
}

/// Finds the cluster guest a desired guest is: by declared VMID, else by name and kind.
pub(crate) fn match_guest<'a>(
    observed: &'a Observed,
    g: &crate::desired::DesiredGuest,
) -> Result<Option<&'a ClusterResource>, Error> {
    if let Some(vmid) = g.vmid {
        return Ok(observed.guests.get(&vmid));
    }
    let found: Vec<&ClusterResource> = observed
        .guests
        .values()
        .filter(|r| !r.template && r.name.as_deref() == Some(g.name.as_str()))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(Error::Site {
            field: format!("{}.vmid", g.field()),
            message: format!(
                "no VMID declared and {} cluster guests are named \"{}\" ({}); declare the VMID",
                many.len(),
                g.name,
                many.iter()
                    .filter_map(|r| r.vmid.map(|v| v.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// Reads the cluster.
///
/// # Errors
/// [`Error::Api`] when a request fails.
pub async fn observe(
    client: &Client,
    desired: &Desired,
    concurrency: usize,
) -> Result<Observed, Error> {
    let inventory = client
        .inventory()
        .await
        .map_err(|e| Error::api("inventory (/cluster/resources)", e))?;
    let mut observed = Observed::default();
    for r in inventory {
        if let Some(vmid) = r.vmid
            && r.guest_ref().is_some()
        {
            observed.guests.insert(vmid, r);
        }
    }
    // Configs: managed guests that exist, and non-template guests nobody manages (their
    // `protection` decides whether they may ever be deleted).
    let mut managed = BTreeSet::new();
    for g in &desired.guests {
        if let Some(r) = match_guest(&observed, g)?
            && let Some(vmid) = r.vmid
        {
            managed.insert(vmid);
        }
    }
    let clone_sources: BTreeSet<u32> = desired
        .guests
        .iter()
        .filter_map(|g| match g.source {
            crate::desired::DesiredSource::Clone { vmid, .. } => Some(vmid),
            crate::desired::DesiredSource::OsTemplate { .. } => None,
        })
        .collect();
    let refs: Vec<GuestRef> = observed
        .guests
        .values()
        .filter(|r| {
            let vmid = r.vmid.unwrap_or_default();
            managed.contains(&vmid) || (!r.template && !clone_sources.contains(&vmid))
        })
        .filter_map(ClusterResource::guest_ref)
        .collect();
    for (gref, res) in client.guest_configs(&refs, concurrency).await {
        let config =
            res.map_err(|e| Error::api(format!("{} {} config", gref.kind, gref.vmid), e))?;
        observed.configs.insert(gref.vmid, config);
    }
    // Template volumes: one content listing per (node, storage).
    let mut listed: BTreeSet<(String, String)> = BTreeSet::new();
    for t in &desired.templates {
        if !listed.insert((t.node.clone(), t.storage.clone())) {
            continue;
        }
        let vols = client
            .storage_content(&t.node, &t.storage, Some(&t.content))
            .await
            .map_err(|e| Error::api(format!("storage {} on node {}", t.storage, t.node), e))?;
        observed.volumes.extend(vols.into_iter().map(|v| v.volid));
    }
    if !desired.pools.is_empty() {
        let pools = client
            .pools()
            .await
            .map_err(|e| Error::api("pools (/pools)", e))?;
        observed.pools = Some(
            pools
                .iter()
                .filter_map(|p| p.get("poolid").and_then(Value::as_str).map(str::to_owned))
                .collect(),
        );
    }
    let wants_ha = desired.guests.iter().any(|g| g.ha);
    let has_ha = observed.guests.values().any(|r| r.hastate.is_some());
    if wants_ha || has_ha {
        let ha = client
            .ha_resources()
            .await
            .map_err(|e| Error::api("HA resources (/cluster/ha/resources)", e))?;
        observed.ha = ha
            .iter()
            .filter_map(|h| {
                Some((
                    h.get("sid")?.as_str()?.to_owned(),
                    h.get("state")
                        .and_then(Value::as_str)
                        .unwrap_or("started")
                        .to_owned(),
                ))
            })
            .collect();
    }
    Ok(observed)
}

/// `PUT /pools` parameters that put a guest into a pool.
pub(crate) fn pool_params(pool: &str, vmid: u32) -> Params {
    Params::new()
        .with("poolid", pool)
        .with("vms", vmid)
        .flag("allow-move", true)
}
