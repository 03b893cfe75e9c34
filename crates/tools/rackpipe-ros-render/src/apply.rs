//! Applying a plan over the REST API with a safety net against lock-out that restores
//! everything (see `docs/reference/routeros-revert.md` for the vendor facts behind it):
//!
//! 1. re-plan and refuse a stale plan (desired or observed digest, or the changes, differ);
//! 2. remove any leftover `rackpipe-revert` scheduler entry, then `/system backup save
//!    name=[flash/]rackpipe-revert password=<one-time>`: a binary backup holds users and their
//!    passwords and SSH keys, certificates with private keys and every WireGuard/IPsec key,
//!    which an export never does; it goes under `flash/` when the router has that directory
//!    (only files there survive the reboot); the password is random, made for this apply
//!    only, never logged or printed;
//! 3. add `/system scheduler` entry `rackpipe-revert` that runs, after `revert_after`,
//!    `/system backup load name=... password=...` (the router restores it and reboots);
//! 4. run the operations; on a RouterOS error, load the backup at once (same command) and
//!    wait for the router to come back; on a lost connection, wait for the scheduled load;
//! 5. check over a new connection that the router still answers, then remove the scheduler
//!    entry (retried a few times, never past 3/4 of the delay) and the backup file. When the
//!    entry cannot be removed, [`Error::RevertArmed`] says that a revert is armed and when it
//!    fires (the CLI exits 3, never 75: a retry would find nothing to change).
//!
//! After a failure the router is read back and compared (content, not ids) with the state
//! before apply, and the error says whether it was restored.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rackpipe_model::documents::{ApplyResult, ChangeCounts, Plan};
use rackpipe_routeros::{Config, Props};
use serde_json::{Value, json};

use crate::plan::{Op, OwnedRows, PlanOptions, Planned, Ref, desired_router, plan_config_with};
use crate::readback::read_back;
use crate::rest::{Error, RestClient};

/// Name of the backup file (`rackpipe-revert.backup`) and of the scheduler entry of the
/// safety net.
pub const REVERT_NAME: &str = "rackpipe-revert";

/// How many times a failed disarm is tried in all.
const DISARM_ATTEMPTS: u32 = 5;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Delete unmanaged rows too.
    pub allow_destroy: bool,
    /// When the router reverts itself unless apply confirms.
    pub revert_after: Duration,
    /// Timeout of the "still answers" check after the changes.
    pub verify_timeout: Duration,
    /// Extra time to wait for the router after the revert was due.
    pub revert_grace: Duration,
    /// Apply exactly this plan (refused when stale).
    pub expected: Option<Plan>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            allow_destroy: false,
            revert_after: Duration::from_secs(120),
            verify_timeout: Duration::from_secs(10),
            revert_grace: Duration::from_secs(60),
            expected: None,
        }
    }
}

/// The armed revert: where the backup is, its one-time password, and when it fires.
struct Armed {
    /// `rackpipe-revert.backup` or `flash/rackpipe-revert.backup`.
    file: String,
    /// The backup's one-time password (never logged; see the module docs).
    password: crate::rest::Password,
    /// When the scheduler entry was added (monotonic).
    at: Instant,
    /// When it fires (wall clock).
    fires_at: std::time::SystemTime,
}

impl Armed {
    /// The console command that restores the backup (and reboots the router).
    fn load_script(&self) -> String {
        format!(
            "/system backup load name={} password={}",
            self.file,
            self.password.expose()
        )
    }

    /// `(UTC time, seconds from now)` of the scheduled load.
    fn fires(&self) -> (String, u64) {
        let in_secs = self
            .fires_at
            .duration_since(std::time::SystemTime::now())
            .map_or(0, |d| d.as_secs());
        let when = jiff::Timestamp::try_from(self.fires_at)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|_| "(unknown time)".to_owned());
        (when, in_secs)
    }
}

/// 32 hex digits from the OS random source: the backup's one-time password.
fn one_time_password() -> Result<crate::rest::Password, Error> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::Io {
            path: "/dev/urandom".to_owned(),
            message: format!("cannot read random bytes for the revert backup's password: {e}"),
        })?;
    Ok(crate::rest::Password::new(hex::encode(bytes)))
}

/// Applies the site's router section.
///
/// # Errors
/// See [`apply_config`].
pub async fn apply(
    site: &rackpipe_model::Site,
    client: &RestClient,
    opts: &ApplyOptions,
) -> Result<ApplyResult, Error> {
    apply_with_facts(site, None, client, opts).await
}

/// Applies the site's router section with the leases guest facts add (and, with facts,
/// deletes leases from earlier facts that these no longer produce; see [`crate::facts`]).
///
/// # Errors
/// Facts that contradict the site; see [`apply_config`].
pub async fn apply_with_facts(
    site: &rackpipe_model::Site,
    facts: Option<&crate::GuestFacts>,
    client: &RestClient,
    opts: &ApplyOptions,
) -> Result<ApplyResult, Error> {
    let (desired, identity, owned) = desired_router(site, facts)?;
    apply_config_with(
        site.metadata.name.as_str(),
        &identity,
        &desired,
        client,
        opts,
        owned,
    )
    .await
}

/// Plans `desired` and applies it with the safety net described in the module docs.
///
/// # Errors
/// Stale plan; REST failures (the router is reverted and the error says so).
pub async fn apply_config(
    site: &str,
    target: &str,
    desired: &Config,
    client: &RestClient,
    opts: &ApplyOptions,
) -> Result<ApplyResult, Error> {
    apply_config_with(site, target, desired, client, opts, &[]).await
}

/// [`apply_config`] that also deletes the `owned` rows no longer desired (see
/// [`OwnedRows`]).
///
/// # Errors
/// Stale plan; REST failures (the router is reverted and the error says so).
pub async fn apply_config_with(
    site: &str,
    target: &str,
    desired: &Config,
    client: &RestClient,
    opts: &ApplyOptions,
    owned: &[OwnedRows],
) -> Result<ApplyResult, Error> {
    let plan_opts = PlanOptions {
        allow_destroy: opts.allow_destroy,
    };
    let planned = plan_config_with(site, target, desired, client, plan_opts, owned).await?;
    let menus: Vec<String> = planned
        .observed
        .menus
        .iter()
        .map(|m| m.path.clone())
        .collect();
    planned
        .plan
        .check_same(opts.expected.as_ref(), "the router")?;
    let mut result = ApplyResult {
        api_version: rackpipe_model::API_VERSION.to_owned(),
        kind: "ApplyResult".to_owned(),
        tool: "ros-render".to_owned(),
        site: site.to_owned(),
        applied: Vec::new(),
        summary: ChangeCounts::default(),
        facts: std::collections::BTreeMap::new(),
    };
    if planned.ops.is_empty() {
        result
            .facts
            .insert("requests".to_owned(), json!(client.requests()));
        return Ok(result);
    }
    let armed = arm(client, opts.revert_after).await?;
    let baseline = planned.observed.content_digest();
    let budget = opts.revert_after.mul_f32(0.75);
    if let Err((index, cause)) = run_ops(client, &planned, armed.at, budget).await {
        let resource = planned
            .plan
            .changes
            .get(index)
            .map(|c| c.resource.clone())
            .unwrap_or_default();
        let outcome = recover(client, &menus, &baseline, &cause, &armed, opts).await;
        return Err(Error::ApplyFailed {
            index: index + 1,
            resource,
            cause: Box::new(cause),
            outcome,
        });
    }
    // Still answering over a new connection?
    let fresh = client.with_timeout(opts.verify_timeout);
    let fresh = RestClient::clone_fresh(&fresh);
    if let Err(cause) = fresh.list("/system/identity").await {
        let outcome = recover(client, &menus, &baseline, &cause, &armed, opts).await;
        return Err(Error::ApplyFailed {
            index: planned.ops.len(),
            resource: "verify: the router no longer answers".to_owned(),
            cause: Box::new(cause),
            outcome,
        });
    }
    disarm_confirmed(client, &armed, budget).await?;
    result.applied = planned.plan.changes.clone();
    result.summary = planned.plan.summary;
    result
        .facts
        .insert("requests".to_owned(), json!(client.requests()));
    Ok(result)
}

/// Saves the binary backup and schedules its load (module docs, steps 2 and 3).
async fn arm(client: &RestClient, after: Duration) -> Result<Armed, Error> {
    disarm(client).await?;
    let flash = client
        .list("/file?name=flash")
        .await?
        .iter()
        .any(|f| f.get("type").and_then(Value::as_str) == Some("directory"));
    let base = if flash {
        format!("flash/{REVERT_NAME}")
    } else {
        REVERT_NAME.to_owned()
    };
    let password = one_time_password()?;
    client
        .post(
            "/system/backup/save",
            &json!({ "name": base, "password": password.expose(), "encryption": "aes-sha256" }),
        )
        .await?;
    let file = format!("{base}.backup");
    if client.list(&format!("/file?name={file}")).await?.is_empty() {
        return Err(Error::BadReply {
            path: "/system/backup/save".to_owned(),
            message: format!("the router did not write {file}; nothing was changed"),
        });
    }
    let secs = after.as_secs().max(1);
    // Taken before the request: the router starts counting when it adds the entry, so the
    // revert fires at the latest `secs` after this (reported times err on the early side).
    let armed = Armed {
        file,
        password,
        at: Instant::now(),
        fires_at: std::time::SystemTime::now() + Duration::from_secs(secs),
    };
    let added = client
        .add(
            "/system/scheduler",
            &Props::from_pairs([
                ("name", REVERT_NAME.to_owned()),
                ("interval", format!("{secs}s")),
                ("on-event", armed.load_script()),
                (
                    "comment",
                    "rackpipe: restore the pre-apply backup unless apply confirms".to_owned(),
                ),
            ]),
        )
        .await;
    if let Err(e) = added {
        // Nothing was changed yet: leave nothing armed and no backup behind.
        if let Err(still) = disarm(client).await {
            tracing::warn!(error = %still, "could not check that no revert was armed");
        }
        remove_backup(client, &armed.file).await;
        return Err(e);
    }
    Ok(armed)
}

/// Removes the revert entry (if any).
async fn disarm(client: &RestClient) -> Result<(), Error> {
    for row in client.list("/system/scheduler").await? {
        if row.get("name").and_then(Value::as_str) == Some(REVERT_NAME)
            && let Some(id) = row.get(".id").and_then(Value::as_str)
        {
            client.remove("/system/scheduler", id).await?;
        }
    }
    Ok(())
}

/// Removes the backup file (best effort: it is encrypted with a password nobody keeps).
async fn remove_backup(client: &RestClient, file: &str) {
    let removed = async {
        for row in client.list(&format!("/file?name={file}")).await? {
            if let Some(id) = row.get(".id").and_then(Value::as_str) {
                client.remove("/file", id).await?;
            }
        }
        Ok::<_, Error>(())
    }
    .await;
    if let Err(e) = removed {
        tracing::warn!(file, error = %e, "could not remove the revert backup from the router");
    }
}

/// After a good apply: disarm, retried up to [`DISARM_ATTEMPTS`] times with back-off
/// (0.5 s, 1 s, 2 s, ...) while less than `budget` has passed since arming; then remove the
/// backup. Still armed: [`Error::RevertArmed`] with the time it fires.
async fn disarm_confirmed(
    client: &RestClient,
    armed: &Armed,
    budget: Duration,
) -> Result<(), Error> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match disarm(client).await {
            Ok(()) => {
                remove_backup(client, &armed.file).await;
                return Ok(());
            }
            Err(cause) => {
                let out_of_time = armed.at.elapsed() + delay > budget;
                if attempt >= DISARM_ATTEMPTS || out_of_time {
                    let (fires_at, in_secs) = armed.fires();
                    return Err(Error::RevertArmed {
                        fires_at,
                        in_secs,
                        attempts: attempt,
                        cause: Box::new(cause),
                    });
                }
                tracing::info!(attempt, error = %cause, "disarming the revert failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
        }
    }
}

/// Runs the operations in order; stops (to revert) when `budget` since `armed_at` is used
/// up, so the scheduled revert never fires in the middle of a successful apply.
async fn run_ops(
    client: &RestClient,
    planned: &Planned,
    armed_at: Instant,
    budget: Duration,
) -> Result<(), (usize, Error)> {
    let mut created: HashMap<usize, String> = HashMap::new();
    let resolve = |r: &Ref, created: &HashMap<usize, String>| match r {
        Ref::Id(id) => Some(id.clone()),
        Ref::New(slot) => created.get(slot).cloned(),
    };
    for (index, op) in planned.ops.iter().enumerate() {
        if armed_at.elapsed() > budget {
            return Err((
                index,
                Error::Config {
                    what: "--revert-after".to_owned(),
                    message: format!(
                        "apply used 3/4 of the revert delay ({}s) after {index} of {} changes; raise --revert-after",
                        budget.as_secs(),
                        planned.ops.len()
                    ),
                },
            ));
        }
        let result = match op {
            Op::Add { menu, props, slot } => client.add(menu, props).await.map(|id| {
                created.insert(*slot, id);
            }),
            Op::Set {
                menu, id: Some(id), ..
            } if id.starts_with('[') => Err(Error::BadReply {
                path: menu.clone(),
                message: format!("no built-in entry {id} on the router"),
            }),
            Op::Set {
                menu,
                id: Some(id),
                props,
            } => client.set(menu, id, props).await,
            Op::Set {
                menu,
                id: None,
                props,
            } => client.set_singleton(menu, props).await,
            Op::Remove { menu, id } => client.remove(menu, id).await,
            Op::Move { menu, item, before } => {
                match (resolve(item, &created), resolve(before, &created)) {
                    (Some(item), Some(before)) => client
                        .post(
                            &format!("{menu}/move"),
                            &json!({ "numbers": item, "destination": before }),
                        )
                        .await
                        .map(drop),
                    _ => Err(Error::BadReply {
                        path: menu.clone(),
                        message: "a moved rule was not created".to_owned(),
                    }),
                }
            }
        };
        result.map_err(|e| (index, e))?;
    }
    Ok(())
}

/// After a failure: make sure the router is back at the pre-apply state; returns a
/// sentence for the error message.
async fn recover(
    client: &RestClient,
    menus: &[String],
    baseline: &str,
    cause: &Error,
    armed: &Armed,
    opts: &ApplyOptions,
) -> String {
    let answered = !matches!(cause, Error::Unreachable { .. } | Error::Timeout { .. });
    if answered {
        // The router answered with an error: restore now rather than wait (it reboots).
        let body = json!({ "name": armed.file, "password": armed.password.expose() });
        if let Err(e) = client.post("/system/backup/load", &body).await {
            tracing::warn!(error = %e, "immediate restore failed; waiting for the scheduled one");
        }
    }
    let deadline = armed.at + opts.revert_after + opts.revert_grace;
    let probe = RestClient::clone_fresh(&client.with_timeout(Duration::from_secs(3)));
    let mut back = false;
    // Bounded: one probe per second (or per timeout) until the deadline.
    while Instant::now() < deadline {
        if probe.list("/system/identity").await.is_ok() {
            // Answering again: reverted yet? (the scheduler entry is gone after a reset)
            match read_back(&probe, menus).await {
                Ok(now) if now.content_digest() == baseline => {
                    back = true;
                    break;
                }
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let waited = armed.at.elapsed().as_secs();
    if back {
        // Restored and rebooted: the backup predates the scheduler entry, so only the file
        // is left to remove.
        remove_backup(&probe, &armed.file).await;
    }
    match (back, answered) {
        (true, true) => {
            "the router was reverted: it loaded the pre-apply backup (users, certificates and keys included) and rebooted".to_owned()
        }
        (true, false) => format!(
            "the router lost the management connection and reverted itself by loading the pre-apply backup ({waited}s after apply started)"
        ),
        (false, _) => format!(
            "the router did not return to the pre-apply state within {}s; check it by hand (backup {} is on the router; /system scheduler {REVERT_NAME} loads it)",
            (opts.revert_after + opts.revert_grace).as_secs(),
            armed.file
        ),
    }
}

impl RestClient {
    /// A copy with its own connection pool (a new TCP/TLS connection, as a new management
    /// session would open), sharing the request counter.
    #[must_use]
    pub fn clone_fresh(&self) -> Self {
        self.rebuilt()
    }
}
