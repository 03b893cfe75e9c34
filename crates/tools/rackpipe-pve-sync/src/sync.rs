//! plan, apply and facts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use rackpipe_model::Site;
use rackpipe_model::documents::{Action, ApplyResult, Change, ChangeCounts, Plan, digest};
use rackpipe_model::facts::{ApplyResultWithSite, FactsDocument, GuestFacts};
use rackpipe_proxmox::normalize::parse_property_string;
use rackpipe_proxmox::serial::{KeyedLocks, retry_transient};
use rackpipe_proxmox::{
    Client, ClusterResource, Error as PveError, GuestConfig, GuestRef, GuestType, Params,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::desired::{Desired, DesiredGuest, DesiredSource, SecretSource, desired};
use crate::observe::{Observed, match_guest, observe, pool_params};
use crate::ops::{GuestOps, HaOp, describe, guest_ops};
use crate::{Error, TOOL};

/// How plan and apply run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests in flight at most (config reads; guests applied in parallel).
    pub concurrency: usize,
    /// Delete guests that carry the ownership tag ([`crate::OWNER_TAG`]) and are no longer in
    /// the site (never protected ones, never guests without the tag).
    pub allow_destroy: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            concurrency: 8,
            allow_destroy: false,
        }
    }
}

pub use rackpipe_model::facts::{GuestFact, NicFact};

/// Outcome of one guest's apply.
type GuestResult = Result<(Change, GuestRef, GuestConfig), Error>;

/// What one guest needs.
#[derive(Debug, Clone)]
enum Work {
    Create,
    Update { gref: GuestRef, ops: Box<GuestOps> },
}

/// The analysed difference between site and cluster.
#[derive(Debug)]
struct Analysis {
    desired: Desired,
    observed: Observed,
    desired_digest: String,
    observed_digest: String,
    pools: Vec<(String, String)>,
    downloads: Vec<usize>,
    guests: Vec<(usize, Work)>,
    deletes: Vec<GuestRef>,
    unmanaged: Vec<String>,
}

fn proxmox(site: &Site) -> Result<&rackpipe_model::proxmox::Proxmox, Error> {
    site.proxmox.as_ref().ok_or(Error::NoProxmox)
}

fn guest_label(g: &DesiredGuest, vmid: Option<u32>) -> String {
    match vmid {
        Some(v) => format!("guest {} ({} {v} on {})", g.name, g.kind, g.node),
        None => format!("guest {} ({} on {})", g.name, g.kind, g.node),
    }
}

async fn analyse(
    site: &Site,
    client: &Client,
    opts: &Options,
    secrets: &dyn SecretSource,
) -> Result<Analysis, Error> {
    let pve = proxmox(site)?;
    let desired = desired(pve, secrets)?;
    let observed = observe(client, &desired, opts.concurrency).await?;
    let desired_digest = digest(pve);
    let observed_digest = digest(&observed.digest_value());
    let pools = match &observed.pools {
        Some(have) => desired
            .pools
            .iter()
            .filter(|(p, _)| !have.contains(*p))
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect(),
        None => Vec::new(),
    };
    let downloads = desired
        .templates
        .iter()
        .enumerate()
        .filter(|(_, t)| !observed.volumes.contains(&t.volid))
        .map(|(i, _)| i)
        .collect();
    let mut guests = Vec::new();
    let mut managed = BTreeSet::new();
    for (i, g) in desired.guests.iter().enumerate() {
        let work = match match_guest(&observed, g)? {
            None => {
                check_creatable(g, &observed)?;
                Work::Create
            }
            Some(r) => {
                let vmid = r.vmid.unwrap_or_default();
                managed.insert(vmid);
                check_same_guest(g, r)?;
                let gref = r.guest_ref().ok_or_else(|| Error::Site {
                    field: g.field(),
                    message: format!("VMID {vmid}: cluster entry has no node"),
                })?;
                let config = observed.configs.get(&vmid).cloned().unwrap_or_default();
                let ops = guest_ops(g, r, &config, &observed.ha)?;
                if ops.is_empty() {
                    continue;
                }
                Work::Update {
                    gref,
                    ops: Box::new(ops),
                }
            }
        };
        guests.push((i, work));
    }
    let clone_sources: BTreeSet<u32> = desired
        .guests
        .iter()
        .filter_map(|g| match g.source {
            DesiredSource::Clone { vmid, .. } => Some(vmid),
            DesiredSource::OsTemplate { .. } => None,
        })
        .collect();
    let mut deletes = Vec::new();
    let mut unmanaged = Vec::new();
    for (vmid, r) in &observed.guests {
        if managed.contains(vmid) || r.template || clone_sources.contains(vmid) {
            continue;
        }
        let Some(gref) = r.guest_ref() else { continue };
        let protected = observed
            .configs
            .get(vmid)
            .and_then(|c| c.get("protection"))
            .is_some_and(|p| p == "1");
        let name = r.name.clone().unwrap_or_default();
        let tags = observed
            .configs
            .get(vmid)
            .and_then(|c| c.get("tags"))
            .or(r.tags.as_deref());
        if protected {
            unmanaged.push(format!(
                "{} {vmid} ({name}) on {}: protected, never deleted",
                gref.kind, gref.node
            ));
        } else if !tags.is_some_and(crate::has_owner_tag) {
            unmanaged.push(format!(
                "{} {vmid} ({name}) on {}: unmanaged, left alone (no `{}` tag: not created by rackpipe)",
                gref.kind,
                gref.node,
                crate::OWNER_TAG
            ));
        } else {
            unmanaged.push(format!(
                "{} {vmid} ({name}) on {}: deleted by apply --allow-destroy",
                gref.kind, gref.node
            ));
            deletes.push(gref);
        }
    }
    Ok(Analysis {
        desired,
        observed,
        desired_digest,
        observed_digest,
        pools,
        downloads,
        guests,
        deletes,
        unmanaged,
    })
}

fn check_same_guest(g: &DesiredGuest, r: &ClusterResource) -> Result<(), Error> {
    let vmid = r.vmid.unwrap_or_default();
    let kind_ok = r.kind == g.kind.as_str();
    let name_ok = r.name.as_deref().is_none_or(|n| n == g.name);
    if !kind_ok || !name_ok || r.template {
        return Err(Error::Site {
            field: format!("{}.vmid", g.field()),
            message: format!(
                "VMID {vmid} clash: the cluster has {} {vmid} \"{}\"{} on {}, not {} \"{}\"",
                r.kind,
                r.name.as_deref().unwrap_or("?"),
                if r.template { " (a template)" } else { "" },
                r.node.as_deref().unwrap_or("?"),
                g.kind,
                g.name
            ),
        });
    }
    if r.node.as_deref() != Some(g.node.as_str()) {
        return Err(Error::Refused {
            field: format!("{}.node", g.field()),
            message: format!(
                "guest {} ({vmid}) is on node {}, the site says {}; pve-sync does not migrate guests",
                g.name,
                r.node.as_deref().unwrap_or("?"),
                g.node
            ),
        });
    }
    Ok(())
}

fn check_creatable(g: &DesiredGuest, observed: &Observed) -> Result<(), Error> {
    if let DesiredSource::Clone { vmid, full } = g.source {
        let Some(t) = observed.guests.get(&vmid) else {
            return Err(Error::Site {
                field: format!("{}.source.clone.vmid", g.field()),
                message: format!(
                    "guest {}: template VM {vmid} does not exist in the cluster",
                    g.name
                ),
            });
        };
        if t.kind != "qemu" {
            return Err(Error::Site {
                field: format!("{}.source.clone.vmid", g.field()),
                message: format!("guest {}: {vmid} is a container, not a VM template", g.name),
            });
        }
        if !full && (!t.template || t.node.as_deref() != Some(g.node.as_str())) {
            return Err(Error::Site {
                field: format!("{}.source.clone.full", g.field()),
                message: format!(
                    "guest {}: a linked clone needs VM {vmid} to be a template on node {}",
                    g.name, g.node
                ),
            });
        }
    }
    Ok(())
}

fn create_change(g: &DesiredGuest) -> Change {
    let mut after = serde_json::Map::new();
    for (k, v) in g.config.iter().chain(g.create_only.iter()) {
        after.insert(k.clone(), crate::ops::shown(k, v));
    }
    for d in &g.disks {
        after.insert(d.slot.clone(), json!(d.create_value()));
    }
    if let Some(p) = &g.pool {
        after.insert("pool".into(), json!(p));
    }
    after.insert("running".into(), json!(g.running));
    after.insert("ha".into(), json!(g.ha));
    let vmid = g
        .vmid
        .map_or_else(|| "<nextid>".to_owned(), |v| v.to_string());
    let command = match &g.source {
        DesiredSource::OsTemplate { volid, .. } => {
            format!(
                "POST /nodes/{}/lxc vmid={vmid} ostemplate={volid} ...",
                g.node
            )
        }
        DesiredSource::Clone { vmid: t, full } => format!(
            "POST /nodes/<template node>/qemu/{t}/clone newid={vmid} full={} target={}, then PUT config, resize",
            u8::from(*full),
            g.node
        ),
    };
    Change {
        action: Action::Create,
        target: format!("{}/{vmid}", g.node),
        resource: format!("guest/{}", g.name),
        before: None,
        after: Some(Value::Object(after)),
        diff: None,
        commands: vec![command],
    }
}

fn changes(a: &Analysis) -> Vec<Change> {
    let mut out = Vec::new();
    for (p, c) in &a.pools {
        out.push(Change {
            action: Action::Create,
            target: "/pools".into(),
            resource: format!("pool/{p}"),
            before: None,
            after: Some(json!({"poolid": p, "comment": c})),
            diff: None,
            commands: vec![format!("POST /pools poolid={p}")],
        });
    }
    for &i in &a.downloads {
        let t = &a.desired.templates[i];
        out.push(Change {
            action: Action::Create,
            target: format!("{}/{}", t.node, t.storage),
            resource: format!("template/{}", t.volid),
            before: None,
            after: Some(json!({"url": t.url, "volid": t.volid, "checksum": t.checksum.is_some()})),
            diff: None,
            commands: vec![format!(
                "POST /nodes/{}/storage/{}/download-url filename={} content={}",
                t.node, t.storage, t.file_name, t.content
            )],
        });
    }
    for (i, work) in &a.guests {
        let g = &a.desired.guests[*i];
        match work {
            Work::Create => out.push(create_change(g)),
            Work::Update { gref, ops } => {
                let (before, after, commands) = describe(&gref.path(), ops);
                out.push(Change {
                    action: Action::Update,
                    target: format!("{}/{}", gref.node, gref.vmid),
                    resource: format!("guest/{}", g.name),
                    before: Some(Value::Object(before)),
                    after: Some(Value::Object(after)),
                    diff: None,
                    commands,
                });
            }
        }
    }
    out
}

/// Plans: one inventory call, config reads for existing guests, a normalised diff.
///
/// # Errors
/// Bad site references, refused changes (shrinks), API failures.
pub async fn plan(
    site: &Site,
    client: &Client,
    opts: &Options,
    secrets: &dyn SecretSource,
) -> Result<Plan, Error> {
    let a = analyse(site, client, opts, secrets).await?;
    let mut plan = Plan::new(
        TOOL,
        site.metadata.name.as_str(),
        a.desired_digest.clone(),
        a.observed_digest.clone(),
        changes(&a),
    );
    plan.unmanaged.clone_from(&a.unmanaged);
    Ok(plan)
}

/// Shared state of one apply run.
struct Run<'a> {
    client: &'a Client,
    observed: &'a Observed,
    clone_locks: KeyedLocks,
    vmids: Mutex<BTreeSet<u32>>,
}

fn retry_delay() -> Duration {
    Duration::from_millis(300)
}

impl Run<'_> {
    /// A VMID: declared, or the next free one not handed out in this run. `/cluster/nextid`
    /// reserves nothing, so creation itself is the arbiter: "already exists" → next id.
    async fn allocate(&self, g: &DesiredGuest, taken: &BTreeSet<u32>) -> Result<u32, Error> {
        let mut claimed = self.vmids.lock().await;
        let label = guest_label(g, None);
        let mut candidate = self
            .client
            .next_vmid()
            .await
            .map_err(|e| Error::api(format!("{label}: /cluster/nextid"), e))?;
        for _ in 0..1000 {
            if !claimed.contains(&candidate) && !taken.contains(&candidate) {
                let free = self
                    .client
                    .vmid_is_free(candidate)
                    .await
                    .map_err(|e| Error::api(format!("{label}: /cluster/nextid"), e))?;
                if free {
                    claimed.insert(candidate);
                    return Ok(candidate);
                }
            }
            candidate += 1;
        }
        Err(Error::Site {
            field: format!("{}.vmid", g.field()),
            message: "no free VMID found after 1000 tries; declare one".into(),
        })
    }

    async fn create(
        &self,
        g: &DesiredGuest,
        taken: &BTreeSet<u32>,
    ) -> Result<(GuestRef, u32), Error> {
        for _attempt in 0..5 {
            let vmid = match g.vmid {
                Some(v) => v,
                None => self.allocate(g, taken).await?,
            };
            let label = guest_label(g, Some(vmid));
            let res = match &g.source {
                DesiredSource::OsTemplate { volid, .. } => self.create_lxc(g, vmid, volid).await,
                DesiredSource::Clone { vmid: t, full } => self.clone_vm(g, vmid, *t, *full).await,
            };
            match res {
                Ok(()) => {
                    return Ok((
                        GuestRef {
                            node: g.node.clone(),
                            kind: g.kind,
                            vmid,
                        },
                        vmid,
                    ));
                }
                Err(e) if g.vmid.is_none() && already_exists(&e) => {
                    tracing::info!(vmid, "VMID taken meanwhile, allocating another");
                }
                Err(e) if already_exists(&e) => {
                    return Err(Error::Site {
                        field: format!("{}.vmid", g.field()),
                        message: format!("{label}: VMID clash: {e}"),
                    });
                }
                Err(e) => return Err(Error::api(label, e)),
            }
        }
        Err(Error::Site {
            field: format!("{}.vmid", g.field()),
            message: format!(
                "guest {}: every allocated VMID was taken by someone else",
                g.name
            ),
        })
    }

    async fn create_lxc(&self, g: &DesiredGuest, vmid: u32, volid: &str) -> Result<(), PveError> {
        let mut params = Params::new()
            .with("vmid", vmid)
            .with("ostemplate", volid)
            .flag("start", false);
        for (k, v) in g.config.iter().chain(g.create_only.iter()) {
            params.push(k, v);
        }
        for d in &g.disks {
            params.push(&d.slot, d.create_value());
        }
        if let Some(p) = &g.pool {
            params.push("pool", p);
        }
        retry_transient(3, retry_delay(), || async {
            let upid = self
                .client
                .create_guest(&g.node, GuestType::Lxc, &params)
                .await?;
            self.client.wait_task(&upid).await.map(|_| ())
        })
        .await
    }

    async fn clone_vm(
        &self,
        g: &DesiredGuest,
        vmid: u32,
        template: u32,
        full: bool,
    ) -> Result<(), PveError> {
        let tnode = self
            .observed
            .guests
            .get(&template)
            .and_then(|r| r.node.clone())
            .unwrap_or_else(|| g.node.clone());
        let mut params = Params::new()
            .with("newid", vmid)
            .with("name", &g.name)
            .flag("full", full);
        if tnode != g.node {
            params.push("target", &g.node);
        }
        if let Some(p) = &g.pool {
            params.push("pool", p);
        }
        if full && let Some(d) = g.disks.first() {
            params.push("storage", &d.storage);
        }
        let tkey = format!("template/{template}");
        let nkey = format!("node/{}", g.node);
        let skey = format!("node/{tnode}");
        let _guard = self.clone_locks.lock(&[&tkey, &nkey, &skey]).await;
        let step = format!("clone {template} -> {vmid} on {}", g.node);
        tracing::info!(target: "progress", step);
        retry_transient(3, retry_delay(), || async {
            let upid = self.client.clone_vm(&tnode, template, &params).await?;
            self.client.wait_task(&upid).await.map(|_| ())
        })
        .await
    }

    async fn execute(
        &self,
        g: &DesiredGuest,
        gref: &GuestRef,
        ops: &GuestOps,
    ) -> Result<(), PveError> {
        let c = self.client;
        if !ops.set.is_empty() || !ops.delete.is_empty() {
            let mut params = Params::new();
            for (k, v) in &ops.set {
                params.push(k, v);
            }
            if !ops.delete.is_empty() {
                params.push("delete", ops.delete.join(","));
            }
            if let Some(d) = &ops.digest {
                params.push("digest", d);
            }
            retry_transient(3, retry_delay(), || c.update_config(gref, &params)).await?;
        }
        for (slot, size) in &ops.resize {
            retry_transient(3, retry_delay(), || async {
                let upid = c.resize(gref, slot, size, None).await?;
                c.wait_task(&upid).await.map(|_| ())
            })
            .await?;
        }
        if let Some(pool) = &ops.pool {
            c.put("/pools", &pool_params(pool, gref.vmid)).await?;
        }
        let sid = g.ha_sid(gref.vmid);
        match &ops.ha {
            Some(HaOp::Create(state)) => {
                let p = Params::new().with("sid", &sid).with("state", state);
                c.post("/cluster/ha/resources", &p).await?;
            }
            Some(HaOp::Update(state)) => {
                let p = Params::new().with("state", state);
                c.put(&format!("/cluster/ha/resources/{sid}"), &p).await?;
            }
            Some(HaOp::Remove) => {
                c.delete(&format!("/cluster/ha/resources/{sid}"), &Params::new())
                    .await?;
            }
            None => {}
        }
        if let Some(action) = ops.power {
            retry_transient(3, retry_delay(), || async {
                let upid = c.power(gref, action).await?;
                c.wait_task(&upid).await.map(|_| ())
            })
            .await?;
        }
        Ok(())
    }

    /// Creates or updates one guest; returns its change and fresh config.
    async fn guest(
        &self,
        g: &DesiredGuest,
        work: &Work,
        taken: &BTreeSet<u32>,
    ) -> Result<(Change, GuestRef, GuestConfig), Error> {
        let (change, gref, ops) = match work {
            Work::Create => {
                let (gref, vmid) = self.create(g, taken).await?;
                let label = guest_label(g, Some(vmid));
                let config = self
                    .client
                    .guest_config(&gref)
                    .await
                    .map_err(|e| Error::api(&label, e))?;
                let resource = ClusterResource {
                    id: format!("{}/{vmid}", g.kind),
                    kind: g.kind.as_str().to_owned(),
                    vmid: Some(vmid),
                    node: Some(g.node.clone()),
                    name: Some(g.name.clone()),
                    status: Some("stopped".into()),
                    template: false,
                    tags: None,
                    lock: None,
                    pool: g.pool.clone(),
                    hastate: None,
                    storage: None,
                    content: None,
                    maxmem: None,
                    maxdisk: None,
                };
                let ops = guest_ops(g, &resource, &config, &self.observed.ha)?;
                let mut change = create_change(g);
                change.target = format!("{}/{vmid}", g.node);
                (change, gref, ops)
            }
            Work::Update { gref, ops } => {
                let (before, after, commands) = describe(&gref.path(), ops);
                let change = Change {
                    action: Action::Update,
                    target: format!("{}/{}", gref.node, gref.vmid),
                    resource: format!("guest/{}", g.name),
                    before: Some(Value::Object(before)),
                    after: Some(Value::Object(after)),
                    diff: None,
                    commands,
                };
                (change, gref.clone(), (**ops).clone())
            }
        };
        let label = guest_label(g, Some(gref.vmid));
        self.execute(g, &gref, &ops)
            .await
            .map_err(|e| Error::api(&label, e))?;
        let config = self
            .client
            .guest_config(&gref)
            .await
            .map_err(|e| Error::api(&label, e))?;
        Ok((change, gref, config))
    }
}

fn already_exists(e: &PveError) -> bool {
    let text = e.to_string();
    text.contains("already exists") || text.contains("config file already exists")
}

/// Facts of one guest from its config.
fn fact(g: Option<&DesiredGuest>, name: &str, gref: &GuestRef, config: &GuestConfig) -> GuestFact {
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

fn facts_value(facts: &[GuestFact]) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    map.insert("guests".to_owned(), json!(facts));
    map
}

/// Applies: re-plans (refusing a stale `expected` plan), then pools, template downloads,
/// guests in parallel (bounded; clones serialised per template and node), and deletions
/// of unmanaged, unprotected guests only with `allow_destroy`.
///
/// # Errors
/// A stale plan, bad site references, refused changes, API or task failures (after every
/// independent guest was attempted).
#[allow(clippy::too_many_lines)]
pub async fn apply(
    site: &Site,
    client: &Client,
    opts: &Options,
    secrets: &dyn SecretSource,
    expected: Option<&Plan>,
) -> Result<ApplyResult, Error> {
    let a = analyse(site, client, opts, secrets).await?;
    rackpipe_model::documents::check_digests(
        expected,
        &a.desired_digest,
        &a.observed_digest,
        "the Proxmox cluster",
    )?;
    let mut applied = Vec::new();
    let planned = changes(&a);
    for (p, comment) in &a.pools {
        let params = Params::new()
            .with("poolid", p)
            .opt("comment", Some(comment).filter(|c| !c.is_empty()));
        client
            .post("/pools", &params)
            .await
            .map_err(|e| Error::api(format!("pool {p}"), e))?;
        if let Some(c) = planned.iter().find(|c| c.resource == format!("pool/{p}")) {
            applied.push(c.clone());
        }
    }
    let downloads = a.downloads.iter().map(|&i| {
        let t = &a.desired.templates[i];
        async move {
            let mut params = Params::new()
                .with("url", &t.url)
                .with("content", &t.content)
                .with("filename", &t.file_name);
            if let Some((sum, algo)) = &t.checksum {
                params.push("checksum", sum);
                params.push("checksum-algorithm", algo);
            }
            let upid = client
                .download_url(&t.node, &t.storage, &params)
                .await
                .map_err(|e| {
                    Error::api(format!("proxmox.templates[{}] ({})", t.index, t.volid), e)
                })?;
            client.wait_task(&upid).await.map_err(|e| {
                Error::api(format!("proxmox.templates[{}] ({})", t.index, t.volid), e)
            })?;
            Ok::<_, Error>(t.volid.clone())
        }
    });
    for res in futures_util::future::join_all(downloads).await {
        let volid = res?;
        if let Some(c) = planned
            .iter()
            .find(|c| c.resource == format!("template/{volid}"))
        {
            applied.push(c.clone());
        }
    }
    let run = Arc::new(Run {
        client,
        observed: &a.observed,
        clone_locks: KeyedLocks::new(),
        vmids: Mutex::new(BTreeSet::new()),
    });
    let taken: BTreeSet<u32> = a
        .desired
        .guests
        .iter()
        .filter_map(|g| g.vmid)
        .chain(a.observed.guests.keys().copied())
        .collect();
    let touched: BTreeSet<usize> = a.guests.iter().map(|(i, _)| *i).collect();
    let mut guests = stream::iter(a.guests.iter())
        .map(|(i, work)| {
            let run = Arc::clone(&run);
            let g = &a.desired.guests[*i];
            let taken = &taken;
            async move { (*i, run.guest(g, work, taken).await) }
        })
        .buffer_unordered(opts.concurrency.max(1));
    // Progress (rackpipe_cli::progress): guests done of those to create or change.
    let total = a.guests.len() as u64;
    if total > 0 {
        tracing::info!(target: "progress", step = "guests", done = 0u64, total);
    }
    let mut results: Vec<(usize, GuestResult)> = Vec::new();
    while let Some(result) = guests.next().await {
        results.push(result);
        tracing::info!(target: "progress", step = "guests", done = results.len() as u64, total);
    }
    let mut errors = Vec::new();
    let mut facts_by_index: BTreeMap<usize, GuestFact> = BTreeMap::new();
    let mut sorted = results;
    sorted.sort_by_key(|(i, _)| *i);
    for (i, res) in sorted {
        match res {
            Ok((change, gref, config)) => {
                applied.push(change);
                let g = &a.desired.guests[i];
                facts_by_index.insert(i, fact(Some(g), &g.name, &gref, &config));
            }
            Err(e) => errors.push(e),
        }
    }
    for (i, g) in a.desired.guests.iter().enumerate() {
        if touched.contains(&i) {
            continue;
        }
        if let Ok(Some(r)) = match_guest(&a.observed, g)
            && let (Some(gref), Some(vmid)) = (r.guest_ref(), r.vmid)
            && let Some(config) = a.observed.configs.get(&vmid)
        {
            facts_by_index.insert(i, fact(Some(g), &g.name, &gref, config));
        }
    }
    if opts.allow_destroy {
        for gref in &a.deletes {
            match destroy(client, gref, &a.observed).await {
                Ok(()) => applied.push(Change {
                    action: Action::Delete,
                    target: format!("{}/{}", gref.node, gref.vmid),
                    resource: format!(
                        "guest/{}",
                        a.observed
                            .guests
                            .get(&gref.vmid)
                            .and_then(|r| r.name.clone())
                            .unwrap_or_default()
                    ),
                    before: Some(json!({"vmid": gref.vmid, "kind": gref.kind})),
                    after: None,
                    diff: None,
                    commands: vec![format!("DELETE {} purge=1", gref.path())],
                }),
                Err(e) => errors.push(Error::api(
                    format!("{} {} on {}", gref.kind, gref.vmid, gref.node),
                    e,
                )),
            }
        }
    } else if !a.deletes.is_empty() {
        tracing::warn!(
            count = a.deletes.len(),
            "unmanaged guests left alone (use --allow-destroy)"
        );
    }
    if !errors.is_empty() {
        let more = errors.len() - 1;
        let first = errors.swap_remove(0);
        return Err(if more == 0 {
            first
        } else {
            Error::Many {
                first: Box::new(first),
                more,
            }
        });
    }
    let facts: Vec<GuestFact> = facts_by_index.into_values().collect();
    Ok(ApplyResult {
        api_version: rackpipe_model::API_VERSION.to_owned(),
        kind: "ApplyResult".to_owned(),
        tool: TOOL.to_owned(),
        site: site.metadata.name.to_string(),
        summary: ChangeCounts::of(&applied),
        applied,
        facts: facts_value(&facts),
    })
}

async fn destroy(client: &Client, gref: &GuestRef, observed: &Observed) -> Result<(), PveError> {
    // Protection is checked by PVE too; never ask for a protected guest.
    if observed
        .configs
        .get(&gref.vmid)
        .and_then(|c| c.get("protection"))
        .is_some_and(|p| p == "1")
    {
        return Ok(());
    }
    if observed
        .guests
        .get(&gref.vmid)
        .and_then(|r| r.status.as_deref())
        == Some("running")
    {
        let upid = client.power(gref, "stop").await?;
        client.wait_task(&upid).await?;
    }
    let upid = client.delete_guest(gref, true).await?;
    client.wait_task(&upid).await.map(|_| ())
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
