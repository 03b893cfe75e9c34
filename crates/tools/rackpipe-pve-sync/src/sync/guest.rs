//! Applying one guest: a VMID allocated when the site declares none, the container created
//! or the VM cloned (clones serialised per template and node), then its config, disks, pool,
//! HA and power; and deleting a guest `--allow-destroy` removes.

use std::collections::BTreeSet;
use std::time::Duration;

use rackpipe_model::documents::Change;
use rackpipe_proxmox::serial::{KeyedLocks, retry_transient};
use rackpipe_proxmox::{
    Client, ClusterResource, Error as PveError, GuestConfig, GuestRef, GuestType, Params,
};
use tokio::sync::Mutex;

use super::analyse::{Work, create_change, guest_label, update_change};
use crate::Error;
use crate::desired::{DesiredGuest, DesiredSource};
use crate::observe::{Observed, pool_params};
use crate::ops::{GuestOps, HaOp, guest_ops};

/// Shared state of one apply run.
pub(super) struct Run<'a> {
    pub(super) client: &'a Client,
    pub(super) observed: &'a Observed,
    pub(super) clone_locks: KeyedLocks,
    pub(super) vmids: Mutex<BTreeSet<u32>>,
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
    pub(super) async fn guest(
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
                (update_change(g, gref, ops), gref.clone(), (**ops).clone())
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

pub(super) async fn destroy(
    client: &Client,
    gref: &GuestRef,
    observed: &Observed,
) -> Result<(), PveError> {
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
