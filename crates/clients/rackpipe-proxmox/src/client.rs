//! The HTTP client.

use std::fmt;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use rackpipe_model::wait::{self, Failed};
use rackpipe_tls::transport::{self, BodyError, PlainHttp};

use crate::error::one_line;
use crate::types::{
    ClusterResource, GuestConfig, GuestRef, GuestType, PendingItem, StorageVolume, TaskStatus, Upid,
};
use crate::{ApiToken, Error, TlsMode};

/// Request parameters, encoded as PVE expects (booleans `1`/`0`). `Debug` redacts
/// password-like values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

const SECRET_PARAMS: &[&str] = &["password", "cipassword"];

impl Params {
    /// No parameters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.push(key, value);
        self
    }

    /// Adds a boolean as `1`/`0` (PVE rejects `true`/`false` at the top level).
    #[must_use]
    pub fn flag(self, key: &str, value: bool) -> Self {
        self.with(key, if value { "1" } else { "0" })
    }

    /// Adds `key=value` when `value` is `Some`.
    #[must_use]
    pub fn opt(self, key: &str, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// Adds `key=value` in place (replacing an earlier value of the same key).
    pub fn push(&mut self, key: &str, value: impl fmt::Display) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_owned(), value.to_string()));
    }

    /// The pairs.
    #[must_use]
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// A value by key.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether there are no parameters.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.0 {
            if SECRET_PARAMS.contains(&k.as_str()) {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// How to reach and talk to the cluster.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `https://host:8006` (no `/api2/json`).
    pub base_url: String,
    /// The API token.
    pub token: ApiToken,
    /// Certificate verification.
    pub tls: TlsMode,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// First interval between task status polls (grows ×1.5 up to 2 s).
    pub task_poll_interval: Duration,
    /// How long [`Client::wait_task`] waits before [`Error::TaskTimeout`].
    pub task_timeout: Duration,
    /// Log lines kept in [`Error::TaskFailed`].
    pub log_tail_lines: usize,
}

impl ClientOptions {
    /// Defaults: system trust store, 5 s connect, 30 s request, 100 ms first poll,
    /// 10 min task timeout, 20 log lines.
    #[must_use]
    pub fn new(base_url: &str, token: ApiToken) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            tls: TlsMode::System,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            task_poll_interval: Duration::from_millis(100),
            task_timeout: Duration::from_secs(600),
            log_tail_lines: 20,
        }
    }
}

/// Statuses after which a read is repeated: a gateway's (502, 503, 504) and pveproxy's 596
/// (forwarding to the node timed out or broke). Not 500 (the handler ran and failed) nor 501
/// (no such method).
const RETRY_STATUSES: &[u16] = &[502, 503, 504, 596];

/// An async Proxmox VE API client (cheap to clone; connections are pooled).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    api: String,
    auth: HeaderValue,
    opts: ClientOptions,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api", &self.api)
            .field("token", &self.opts.token)
            .finish_non_exhaustive()
    }
}

fn chain(err: &dyn std::error::Error) -> String {
    one_line(&transport::error_chain(err))
}

impl Client {
    /// Builds the client (TLS material is read here).
    ///
    /// # Errors
    /// Unreadable CA file, bad URL or TLS set-up.
    pub fn new(opts: ClientOptions) -> Result<Self, Error> {
        transport::check_url(&opts.base_url, PlainHttp::Loopback).map_err(|e| Error::Config {
            what: "Proxmox API URL".to_owned(),
            message: e.to_string(),
        })?;
        let http = rackpipe_tls::http_client(&opts.tls, |builder| {
            builder
                .connect_timeout(opts.connect_timeout)
                .timeout(opts.request_timeout)
                // pveproxy closes idle keep-alive connections after 5 s.
                .pool_idle_timeout(Duration::from_secs(4))
                .user_agent(concat!("rackpipe-proxmox/", env!("CARGO_PKG_VERSION")))
        })
        .map_err(|e| Error::Config {
            what: e.subject().to_owned(),
            message: e.reason(),
        })?;
        let mut auth =
            HeaderValue::from_str(&opts.token.header_value()).map_err(|_| Error::Token {
                source_name: opts.token.tokenid().to_owned(),
                message: "token contains characters not allowed in an HTTP header".to_owned(),
            })?;
        auth.set_sensitive(true);
        Ok(Self {
            http,
            api: format!("{}/api2/json", opts.base_url),
            auth,
            opts,
        })
    }

    /// The options this client was built with.
    #[must_use]
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// Sends a request and returns the `data` member. A read (`GET`) that fails transiently
    /// (no connection, a timeout, HTTP 502, 503, 504 or pveproxy's 596) is repeated with the
    /// shared backoff ([`wait::retry_read`]), at most [`wait::READ_ATTEMPTS`] times
    /// and all within [`ClientOptions::request_timeout`]; then [`Error::GaveUp`] states the attempts
    /// and the time waited. Writes are sent once (a 596 does not say whether a forwarded write
    /// happened). See `docs/reference/transport.md`.
    ///
    /// # Errors
    /// Transport errors, timeouts and PVE error statuses, classified.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        params: &Params,
    ) -> Result<Value, Error> {
        let timeout = self.opts.request_timeout;
        if method != Method::GET {
            return self
                .send(method, path, params, timeout)
                .await
                .map_err(|f| f.error);
        }
        wait::retry_read(
            timeout,
            |left| self.send(Method::GET, path, params, left),
            tokio::time::sleep,
        )
        .await
        .map_err(|g| g.into_error(Error::GaveUp))
    }

    /// One attempt within `timeout`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        params: &Params,
        timeout: Duration,
    ) -> Result<Value, Failed<Error>> {
        let url = format!("{}{path}", self.api);
        tracing::debug!(%method, %url, "pve request");
        let mut req = self
            .http
            .request(method.clone(), &url)
            .timeout(timeout)
            .header(AUTHORIZATION, self.auth.clone());
        if method == Method::GET || method == Method::DELETE {
            if !params.is_empty() {
                req = req.query(params.pairs());
            }
        } else {
            req = req.form(params.pairs());
        }
        let started = Instant::now();
        // A handshake that failed (pin, CA) fails again; a refused or reset connection may not.
        let transport = |e: &reqwest::Error| Failed {
            retry: !rackpipe_tls::handshake_failure(e),
            error: self.transport_error(&url, e, started),
        };
        let resp = req.send().await.map_err(|e| transport(&e))?;
        let status = resp.status();
        let reason = status.canonical_reason().unwrap_or("").to_owned();
        let body: Value = match transport::read_body_limited(resp, transport::API_BODY_LIMIT).await
        {
            Ok(b) if b.is_empty() => Value::Null,
            Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
            Err(BodyError::Transport(e)) => return Err(transport(&e)),
            Err(e) => {
                return Err(Failed {
                    retry: false,
                    error: Error::Decode {
                        url,
                        message: e.to_string(),
                    },
                });
            }
        };
        if status.is_success() {
            return Ok(body.get("data").cloned().unwrap_or(Value::Null));
        }
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .map_or(reason, |m| transport::peer_text(&one_line(m)));
        Err(Failed {
            retry: RETRY_STATUSES.contains(&status.as_u16()),
            error: classify(url, status, message, &body),
        })
    }

    fn transport_error(&self, url: &str, e: &reqwest::Error, started: Instant) -> Error {
        if let Some(failure) = rackpipe_tls::reqwest_trust_failure(e) {
            Error::Trust(failure)
        } else if e.is_timeout() {
            Error::Timeout {
                url: url.to_owned(),
                waited: started.elapsed(),
            }
        } else {
            Error::Unreachable {
                url: url.to_owned(),
                message: chain(e),
            }
        }
    }

    /// `GET path`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn get(&self, path: &str, params: &Params) -> Result<Value, Error> {
        self.request(Method::GET, path, params).await
    }

    /// `POST path`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn post(&self, path: &str, params: &Params) -> Result<Value, Error> {
        self.request(Method::POST, path, params).await
    }

    /// `PUT path`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn put(&self, path: &str, params: &Params) -> Result<Value, Error> {
        self.request(Method::PUT, path, params).await
    }

    /// `DELETE path`.
    ///
    /// # Errors
    /// See [`Client::request`].
    pub async fn delete(&self, path: &str, params: &Params) -> Result<Value, Error> {
        self.request(Method::DELETE, path, params).await
    }

    fn upid_from(&self, path: &str, data: &Value) -> Result<Upid, Error> {
        data.as_str()
            .and_then(Upid::parse)
            .ok_or_else(|| Error::Decode {
                url: format!("{}{path}", self.api),
                message: format!("expected a UPID, got {data}"),
            })
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, path: &str, data: Value) -> Result<T, Error> {
        serde_json::from_value(data).map_err(|e| Error::Decode {
            url: format!("{}{path}", self.api),
            message: e.to_string(),
        })
    }

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

fn classify(url: String, status: StatusCode, message: String, body: &Value) -> Error {
    match status.as_u16() {
        401 => Error::Unauthorized { url, message },
        403 => {
            let (path, privilege) =
                parse_permission(&message).unwrap_or_else(|| ("?".to_owned(), "?".to_owned()));
            Error::Forbidden {
                url,
                path,
                privilege,
            }
        }
        400 => match body.get("errors").and_then(Value::as_object) {
            Some(errors) if !errors.is_empty() => Error::InvalidParameters {
                url,
                errors: errors
                    .iter()
                    .map(|(k, v)| {
                        let text = one_line(v.as_str().unwrap_or(&v.to_string()));
                        (k.clone(), transport::peer_text(&text))
                    })
                    .collect(),
            },
            _ => Error::Api {
                url,
                status: 400,
                message,
            },
        },
        500 if message.contains("can't lock file") || message.contains("is locked") => {
            Error::Locked { url, message }
        }
        500 if message.contains("checksum mismatch")
            || message.contains("detected modified configuration") =>
        {
            Error::DigestMismatch { url, message }
        }
        s => Error::Api {
            url,
            status: s,
            message,
        },
    }
}

/// `Permission check failed (/vms/100, VM.Config.Disk)` → (`/vms/100`, `VM.Config.Disk`).
fn parse_permission(message: &str) -> Option<(String, String)> {
    let inner = message.split_once('(')?.1.rsplit_once(')')?.0;
    let (path, privilege) = inner.rsplit_once(", ")?;
    Some((path.trim().to_owned(), privilege.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> ClientOptions {
        let token = ApiToken::parse("root@pam!ci=5e3f0000-aaaa-bbbb-cccc-hunter2hunter2").unwrap();
        ClientOptions::new(url, token)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The shared URL rule: plain HTTP to anything but a literal loopback address is refused
    /// when the client is built, before any connection (before this, any `http://` base URL
    /// was accepted and the token went out in clear).
    #[test]
    fn plain_http_only_to_a_literal_loopback_address() {
        use rackpipe_testkit::http::{Reply, StubServer};
        let stub = StubServer::start(Reply::status("200 OK", "{\"data\":[]}"));
        for (url, host) in [
            (format!("http://localhost:{}", stub.port()), "localhost"),
            (format!("http://2130706433:{}", stub.port()), "127.0.0.1"),
            (
                "http://pve1.lab.example:8006".to_owned(),
                "pve1.lab.example",
            ),
            ("http://10.3.0.11:8006".to_owned(), "10.3.0.11"),
        ] {
            let err = Client::new(options(&url)).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("Proxmox API URL: plain http:// to {host} refused")),
                "{text}"
            );
            assert!(!text.contains('\n') && !text.contains("hunter2"), "{text}");
        }
        assert_eq!(stub.connections(), 0, "a refused URL was contacted");
        let client = Client::new(options(&stub.url())).unwrap();
        let data = runtime()
            .block_on(client.get("/nodes", &Params::new()))
            .unwrap();
        assert_eq!(data, serde_json::json!([]));
    }

    /// A hostile peer: a 2 GiB reply, a 500 with a huge body, a redirect to another host.
    /// Each is one line naming the peer, with the right retry class; no token in it.
    #[test]
    fn hostile_replies_are_one_line_errors() {
        use rackpipe_testkit::http::{Reply, StubServer};
        let rt = runtime();
        let huge = StubServer::start(Reply::Announced(2 << 30));
        let client = Client::new(options(&huge.url())).unwrap();
        let err = rt
            .block_on(client.get("/cluster/resources", &Params::new()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}/api2/json/cluster/resources: unexpected response: {}: reply larger than 64 MiB, refused (not read further)",
                huge.url(),
                huge.url()
            )
        );
        assert!(!err.is_transient());

        let endless = StubServer::start(Reply::Endless);
        let client = Client::new(options(&endless.url())).unwrap();
        let err = rt
            .block_on(client.get("/cluster/resources", &Params::new()))
            .unwrap_err();
        assert!(
            err.to_string().contains("reply larger than 64 MiB"),
            "{err}"
        );

        let body = format!("{{\"message\":\"{}\"}}", "x".repeat(100));
        let failing = StubServer::start(Reply::status("500 Internal Server Error", &body));
        let client = Client::new(options(&failing.url())).unwrap();
        let err = rt
            .block_on(client.get("/nodes", &Params::new()))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{}/api2/json/nodes: HTTP 500", failing.url())),
            "{text}"
        );
        assert!(!text.contains('\n') && !text.contains("hunter2"), "{text}");

        let redirect = StubServer::start(Reply::Raw(
            b"HTTP/1.1 302 Found\r\nLocation: https://127.0.0.2:9/api2/json/nodes\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        ));
        let client = Client::new(options(&redirect.url())).unwrap();
        let err = rt
            .block_on(client.get("/nodes", &Params::new()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}/api2/json/nodes: unexpected response: {}: HTTP 302 redirect to https://127.0.0.2:9 refused (credentials are never sent to another host)",
                redirect.url(),
                redirect.url()
            )
        );
        assert!(!err.is_transient());
    }

    /// A read that times out is not repeated past the one request timeout: the first attempt
    /// used it all, so the error is that attempt's, after about the timeout (not 5 times it).
    #[test]
    fn a_read_never_outlasts_the_request_timeout() {
        use rackpipe_testkit::http::{Reply, StubServer};
        // A 200 announcing 100 bytes that never come.
        let silent = StubServer::start(Reply::Announced(100));
        let mut opts = options(&silent.url());
        opts.request_timeout = Duration::from_millis(800);
        let client = Client::new(opts).unwrap();
        let started = Instant::now();
        let err = runtime()
            .block_on(client.get("/cluster/resources", &Params::new()))
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert!(
            elapsed >= Duration::from_millis(800) && elapsed < Duration::from_millis(1600),
            "{elapsed:?}"
        );
        assert_eq!(silent.connections(), 1);
    }

    #[test]
    fn params_encode_flags_and_redact() {
        let p = Params::new()
            .flag("onboot", true)
            .with("password", "hunter22")
            .with("cores", 2);
        assert_eq!(p.get("onboot"), Some("1"));
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("hunter22"), "{dbg}");
        assert!(dbg.contains("cores"));
    }

    #[test]
    fn permission_message_parsed() {
        assert_eq!(
            parse_permission("Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"),
            Some((
                "/sdn/zones/localnetwork/vmbr0".to_owned(),
                "SDN.Use".to_owned()
            ))
        );
        assert_eq!(parse_permission("nope"), None);
    }

    #[test]
    fn lock_and_digest_errors_classified() {
        let e = classify(
            "u".into(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout".into(),
            &Value::Null,
        );
        assert!(matches!(e, Error::Locked { .. }) && e.is_transient());
        let e = classify(
            "u".into(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "checksum mismatch (file change by other user?)".into(),
            &Value::Null,
        );
        assert!(matches!(e, Error::DigestMismatch { .. }) && !e.is_transient());
        let e = classify(
            "u".into(),
            StatusCode::from_u16(596).unwrap(),
            "Connection timed out".into(),
            &Value::Null,
        );
        assert!(e.is_transient());
    }
}
