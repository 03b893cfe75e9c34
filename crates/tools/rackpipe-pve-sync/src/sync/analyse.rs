//! Reading the cluster against the site and planning: what each guest needs ([`Work`]), what
//! to create first (pools, template downloads), what `--allow-destroy` may delete, and the
//! plan's changes.

use std::collections::BTreeSet;

use rackpipe_model::Site;
use rackpipe_model::documents::{Action, Change, digest};
use rackpipe_proxmox::{Client, ClusterResource, GuestRef};
use serde_json::{Value, json};

use super::Options;
use crate::Error;
use crate::desired::{Desired, DesiredGuest, DesiredSource, SecretSource, desired};
use crate::observe::{Observed, match_guest, observe};
use crate::ops::{GuestOps, describe, guest_ops};

/// What one guest needs.
#[derive(Debug, Clone)]
pub(super) enum Work {
    Create,
    Update { gref: GuestRef, ops: Box<GuestOps> },
}

/// The analysed difference between site and cluster.
#[derive(Debug)]
pub(super) struct Analysis {
    pub(super) desired: Desired,
    pub(super) observed: Observed,
    pub(super) desired_digest: String,
    pub(super) observed_digest: String,
    pub(super) pools: Vec<(String, String)>,
    pub(super) downloads: Vec<usize>,
    pub(super) guests: Vec<(usize, Work)>,
    pub(super) deletes: Vec<GuestRef>,
    pub(super) unmanaged: Vec<String>,
}

pub(super) fn proxmox(site: &Site) -> Result<&rackpipe_model::proxmox::Proxmox, Error> {
    site.proxmox.as_ref().ok_or(Error::NoProxmox)
}

pub(super) fn guest_label(g: &DesiredGuest, vmid: Option<u32>) -> String {
    match vmid {
        Some(v) => format!("guest {} ({} {v} on {})", g.name, g.kind, g.node),
        None => format!("guest {} ({} on {})", g.name, g.kind, g.node),
    }
}

pub(super) async fn analyse(
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

pub(super) fn create_change(g: &DesiredGuest) -> Change {
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

pub(super) fn changes(a: &Analysis) -> Vec<Change> {
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
            Work::Update { gref, ops } => out.push(update_change(g, gref, ops)),
        }
    }
    out
}

/// The change of an existing guest: its fields before and after, and the requests.
pub(super) fn update_change(g: &DesiredGuest, gref: &GuestRef, ops: &GuestOps) -> Change {
    let (before, after, commands) = describe(&gref.path(), ops);
    Change {
        action: Action::Update,
        target: format!("{}/{}", gref.node, gref.vmid),
        resource: format!("guest/{}", g.name),
        before: Some(Value::Object(before)),
        after: Some(Value::Object(after)),
        diff: None,
        commands,
    }
}
