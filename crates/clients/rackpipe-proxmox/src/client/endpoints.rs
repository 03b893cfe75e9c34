//! The API calls, one per endpoint the tools use: versions and inventory, guest configs and
//! pending changes, creating, cloning, configuring, resizing, powering and deleting guests,
//! storage, HA, permissions, pools, and tasks (status, log, waiting for one).

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use crate::Error;
use crate::types::{
    ClusterResource, GuestConfig, GuestRef, GuestType, PendingItem, StorageVolume, TaskStatus, Upid,
};

use super::{Client, Params};

impl Client {
    /// `GET /version`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn version(&self) -> Result<Value, Error> {
        self.get("/version", &Params::new()).await
    }

    /// `GET /cluster/resources`, optionally filtered (`vm`, `storage`, `node`, `sdn`).
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn cluster_resources(
        &self,
        kind: Option<&str>,
    ) -> Result<Vec<ClusterResource>, Error> {
        let data = self
            .get("/cluster/resources", &Params::new().opt("type", kind))
            .await?;
        self.decode("/cluster/resources", data)
    }

    /// The guest inventory in ONE request (`/cluster/resources?type=vm`).
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn inventory(&self) -> Result<Vec<ClusterResource>, Error> {
        self.cluster_resources(Some("vm")).await
    }

    /// `GET .../config` (pending values included, as PVE does by default).
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn guest_config(&self, guest: &GuestRef) -> Result<GuestConfig, Error> {
        let path = format!("{}/config", guest.path());
        let data = self.get(&path, &Params::new()).await?;
        GuestConfig::from_value(&data).ok_or_else(|| Error::Decode {
            url: format!("{}{path}", self.api),
            message: "config is not an object".into(),
        })
    }

    /// Reads many configs with at most `concurrency` requests in flight; results are in
    /// the order of `guests`.
    pub async fn guest_configs(
        &self,
        guests: &[GuestRef],
        concurrency: usize,
    ) -> Vec<(GuestRef, Result<GuestConfig, Error>)> {
        let mut out: Vec<(usize, GuestRef, Result<GuestConfig, Error>)> =
            stream::iter(guests.iter().cloned().enumerate())
                .map(|(i, g)| async move {
                    let res = self.guest_config(&g).await;
                    (i, g, res)
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        out.sort_by_key(|(i, _, _)| *i);
        out.into_iter().map(|(_, g, r)| (g, r)).collect()
    }

    /// `GET .../pending`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn pending(&self, guest: &GuestRef) -> Result<Vec<PendingItem>, Error> {
        let path = format!("{}/pending", guest.path());
        let data = self.get(&path, &Params::new()).await?;
        Ok(data
            .as_array()
            .map(|a| a.iter().filter_map(PendingItem::from_value).collect())
            .unwrap_or_default())
    }

    /// Whether `vmid` is unused right now (`/cluster/nextid?vmid=N`). This reserves
    /// nothing: the caller must still treat "already exists" on create as a conflict.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn vmid_is_free(&self, vmid: u32) -> Result<bool, Error> {
        match self
            .get("/cluster/nextid", &Params::new().with("vmid", vmid))
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::InvalidParameters { errors, .. })
                if errors
                    .get("vmid")
                    .is_some_and(|m| m.contains("already exists")) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The first free VMID (not reserved).
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn next_vmid(&self) -> Result<u32, Error> {
        let data = self.get("/cluster/nextid", &Params::new()).await?;
        data.as_u64()
            .or_else(|| data.as_str().and_then(|s| s.parse().ok()))
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| Error::Decode {
                url: format!("{}/cluster/nextid", self.api),
                message: format!("not a VMID: {data}"),
            })
    }

    /// `POST /nodes/{node}/{qemu|lxc}`: create a guest; returns the task.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn create_guest(
        &self,
        node: &str,
        kind: GuestType,
        params: &Params,
    ) -> Result<Upid, Error> {
        let path = format!("/nodes/{node}/{kind}");
        let data = self.post(&path, params).await?;
        self.upid_from(&path, &data)
    }

    /// `POST /nodes/{node}/qemu/{vmid}/clone`; returns the task.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn clone_vm(&self, node: &str, vmid: u32, params: &Params) -> Result<Upid, Error> {
        let path = format!("/nodes/{node}/qemu/{vmid}/clone");
        let data = self.post(&path, params).await?;
        self.upid_from(&path, &data)
    }

    /// `PUT .../config` (synchronous). Pass `digest` in `params` for optimistic concurrency.
    ///
    /// # Errors
    /// See [`Client::request`]; a stale digest is [`Error::DigestMismatch`].
    pub async fn update_config(&self, guest: &GuestRef, params: &Params) -> Result<(), Error> {
        self.put(&format!("{}/config", guest.path()), params)
            .await
            .map(|_| ())
    }

    /// `POST .../config` (QEMU, asynchronous); returns the task, or `None` when PVE
    /// finished within `background_delay`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn update_config_async(
        &self,
        guest: &GuestRef,
        params: &Params,
    ) -> Result<Option<Upid>, Error> {
        let path = format!("{}/config", guest.path());
        let data = self.post(&path, params).await?;
        if data.is_null() {
            Ok(None)
        } else {
            self.upid_from(&path, &data).map(Some)
        }
    }

    /// `PUT .../resize` to an absolute size (e.g. `40G`) or a delta (`+8G`); returns the task.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn resize(
        &self,
        guest: &GuestRef,
        disk: &str,
        size: &str,
        digest: Option<&str>,
    ) -> Result<Upid, Error> {
        let path = format!("{}/resize", guest.path());
        let params = Params::new()
            .with("disk", disk)
            .with("size", size)
            .opt("digest", digest);
        let data = self.put(&path, &params).await?;
        self.upid_from(&path, &data)
    }

    /// `POST .../status/{start|stop|shutdown|reboot}`; returns the task.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn power(&self, guest: &GuestRef, action: &str) -> Result<Upid, Error> {
        let path = format!("{}/status/{action}", guest.path());
        let data = self.post(&path, &Params::new()).await?;
        self.upid_from(&path, &data)
    }

    /// `GET .../status/current`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn status(&self, guest: &GuestRef) -> Result<Value, Error> {
        self.get(&format!("{}/status/current", guest.path()), &Params::new())
            .await
    }

    /// `DELETE /nodes/{node}/{kind}/{vmid}`; returns the task. PVE itself refuses
    /// protected and running guests.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn delete_guest(&self, guest: &GuestRef, purge: bool) -> Result<Upid, Error> {
        let path = guest.path();
        let params = if purge {
            Params::new()
                .flag("purge", true)
                .flag("destroy-unreferenced-disks", true)
        } else {
            Params::new()
        };
        let data = self.delete(&path, &params).await?;
        self.upid_from(&path, &data)
    }

    /// `GET /nodes/{node}/storage/{storage}/content`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>, Error> {
        let path = format!("/nodes/{node}/storage/{storage}/content");
        let data = self
            .get(&path, &Params::new().opt("content", content))
            .await?;
        self.decode(&path, data)
    }

    /// `POST /nodes/{node}/storage/{storage}/download-url`; returns the task.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn download_url(
        &self,
        node: &str,
        storage: &str,
        params: &Params,
    ) -> Result<Upid, Error> {
        let path = format!("/nodes/{node}/storage/{storage}/download-url");
        let data = self.post(&path, params).await?;
        self.upid_from(&path, &data)
    }

    /// `GET /cluster/ha/resources`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn ha_resources(&self) -> Result<Vec<Value>, Error> {
        let data = self.get("/cluster/ha/resources", &Params::new()).await?;
        Ok(data.as_array().cloned().unwrap_or_default())
    }

    /// `GET /access/permissions` (optionally for one path): path → privileges the token
    /// has. A cheap pre-flight check before apply.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn permissions(
        &self,
        path: Option<&str>,
    ) -> Result<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>, Error> {
        let data = self
            .get("/access/permissions", &Params::new().opt("path", path))
            .await?;
        Ok(data
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(p, privs)| {
                        let set = privs
                            .as_object()
                            .map(|o| {
                                o.iter()
                                    .filter(|(_, v)| v.as_i64() != Some(0))
                                    .map(|(k, _)| k.clone())
                                    .collect()
                            })
                            .unwrap_or_default();
                        (p.clone(), set)
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `GET /pools`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn pools(&self) -> Result<Vec<Value>, Error> {
        let data = self.get("/pools", &Params::new()).await?;
        Ok(data.as_array().cloned().unwrap_or_default())
    }

    /// `GET /nodes/{node}/tasks/{upid}/status`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn task_status(&self, upid: &Upid) -> Result<TaskStatus, Error> {
        let path = format!("/nodes/{}/tasks/{}/status", upid.node, upid.text);
        let data = self.get(&path, &Params::new()).await?;
        self.decode(&path, data)
    }

    /// The task log lines from `start` (at most `limit`).
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn task_log(
        &self,
        upid: &Upid,
        start: u64,
        limit: u64,
    ) -> Result<Vec<String>, Error> {
        let path = format!("/nodes/{}/tasks/{}/log", upid.node, upid.text);
        let data = self
            .get(
                &path,
                &Params::new().with("start", start).with("limit", limit),
            )
            .await?;
        Ok(data
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.get("t").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Polls a task until it stops, within [`ClientOptions::task_timeout`]. Success is
    /// `OK` or `WARNINGS: n`; anything else is [`Error::TaskFailed`] with the log tail.
    /// Transient errors while polling are retried until the deadline.
    ///
    /// # Errors
    /// [`Error::TaskFailed`], [`Error::TaskTimeout`], or a non-transient request error.
    pub async fn wait_task(&self, upid: &Upid) -> Result<TaskStatus, Error> {
        let started = Instant::now();
        let deadline = started + self.opts.task_timeout;
        let mut interval = self.opts.task_poll_interval;
        loop {
            let step = format!("Proxmox task {} {} on {}", upid.kind, upid.id, upid.node);
            tracing::info!(target: "progress", step, done = started.elapsed().as_secs(), unit = "s");
            match self.task_status(upid).await {
                Ok(st) if st.status == "stopped" => {
                    if st.succeeded() {
                        return Ok(st);
                    }
                    let log = self.task_log(upid, 0, 10_000).await.unwrap_or_default();
                    let skip = log.len().saturating_sub(self.opts.log_tail_lines);
                    return Err(Error::TaskFailed {
                        upid: upid.text.clone(),
                        exitstatus: st.exitstatus.unwrap_or_else(|| "unknown".to_owned()),
                        log_tail: log.into_iter().skip(skip).collect(),
                    });
                }
                Ok(_) => {}
                Err(e) if e.is_transient() => {
                    tracing::debug!(error = %e, "task poll failed, retrying")
                }
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::TaskTimeout {
                    upid: upid.text.clone(),
                    waited: now - started,
                });
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval * 3 / 2).min(Duration::from_secs(2));
        }
    }
}
