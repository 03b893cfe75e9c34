//! Applying a plan over the REST API with a safety net against lock-out (RouterOS safe-mode
//! semantics, built from documented commands):
//!
//! 1. re-plan and refuse a stale plan (desired or observed digest, or the changes, differ);
//! 2. `/export file=rackpipe-revert` (the pre-apply configuration, kept on the router);
//! 3. add `/system scheduler` entry `rackpipe-revert` that runs, after `revert_after`,
//!    `/system reset-configuration no-defaults=yes skip-backup=yes
//!    run-after-reset=rackpipe-revert.rsc`;
//! 4. run the operations; on a RouterOS error, revert at once (same command) and wait for
//!    the router; on a lost connection, wait for the scheduled revert;
//! 5. check over a new connection that the router still answers, then remove the scheduler
//!    entry (the revert is cancelled).
//!
//! After a failure the router is read back and compared (content, not ids) with the state
//! before apply, and the error says whether it was restored.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rackpipe_model::documents::{ApplyResult, ChangeCounts, Plan};
use rackpipe_routeros::{Config, Props};
use serde_json::{Value, json};

use crate::plan::{Op, OwnedRows, PlanOptions, Planned, Ref, plan_config_with};
use crate::readback::read_back;
use crate::rest::{Error, RestClient};

/// Name of the export file and the scheduler entry of the safety net.
pub const REVERT_NAME: &str = "rackpipe-revert";

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

fn revert_script() -> String {
    format!(
        "/system reset-configuration no-defaults=yes skip-backup=yes run-after-reset={REVERT_NAME}.rsc"
    )
}

fn stale(expected: &Plan, fresh: &Plan) -> Option<String> {
    if expected.desired_digest != fresh.desired_digest {
        return Some("the site changed since the plan (desired digest differs)".to_owned());
    }
    if expected.observed_digest != fresh.observed_digest {
        return Some("the router changed since the plan (observed digest differs)".to_owned());
    }
    if expected.changes != fresh.changes {
        return Some("the plan was made with other options (its changes differ)".to_owned());
    }
    None
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
    let desired = crate::desired_with_facts(site, facts)?;
    let identity = site
        .router
        .as_ref()
        .map(|r| r.identity.clone())
        .unwrap_or_default();
    let owned: &[OwnedRows] = if facts.is_some() {
        &[crate::facts::OWNED_LEASES]
    } else {
        &[]
    };
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
    if let Some(expected) = &opts.expected
        && let Some(why) = stale(expected, &planned.plan)
    {
        return Err(Error::StalePlan(why));
    }
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
    arm(client, opts.revert_after).await?;
    let armed_at = Instant::now();
    let baseline = planned.observed.content_digest();
    let budget = opts.revert_after.mul_f32(0.75);
    if let Err((index, cause)) = run_ops(client, &planned, armed_at, budget).await {
        let resource = planned
            .plan
            .changes
            .get(index)
            .map(|c| c.resource.clone())
            .unwrap_or_default();
        let outcome = recover(client, &menus, &baseline, &cause, armed_at, opts).await;
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
        let outcome = recover(client, &menus, &baseline, &cause, armed_at, opts).await;
        return Err(Error::ApplyFailed {
            index: planned.ops.len(),
            resource: "verify: the router no longer answers".to_owned(),
            cause: Box::new(cause),
            outcome,
        });
    }
    disarm(client).await?;
    result.applied = planned.plan.changes.clone();
    result.summary = planned.plan.summary;
    result.facts.insert(
        "revert_export".to_owned(),
        json!(format!("{REVERT_NAME}.rsc")),
    );
    result
        .facts
        .insert("requests".to_owned(), json!(client.requests()));
    Ok(result)
}

/// Saves the export and schedules the revert.
async fn arm(client: &RestClient, after: Duration) -> Result<(), Error> {
    client
        .post("/export", &json!({ "file": REVERT_NAME }))
        .await?;
    disarm(client).await?;
    let secs = after.as_secs().max(1);
    client
        .add(
            "/system/scheduler",
            &Props::from_pairs([
                ("name", REVERT_NAME.to_owned()),
                ("interval", format!("{secs}s")),
                ("on-event", revert_script()),
                (
                    "comment",
                    "rackpipe: revert unless apply confirms".to_owned(),
                ),
            ]),
        )
        .await?;
    Ok(())
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
    armed_at: Instant,
    opts: &ApplyOptions,
) -> String {
    let answered = !matches!(cause, Error::Unreachable { .. } | Error::Timeout { .. });
    if answered {
        // The router answered with an error: revert now rather than wait.
        let body = json!({
            "no-defaults": "yes",
            "skip-backup": "yes",
            "run-after-reset": format!("{REVERT_NAME}.rsc"),
        });
        if let Err(e) = client.post("/system/reset-configuration", &body).await {
            tracing::warn!(error = %e, "immediate revert failed; waiting for the scheduled one");
        }
    }
    let deadline = armed_at + opts.revert_after + opts.revert_grace;
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
    let waited = armed_at.elapsed().as_secs();
    match (back, answered) {
        (true, true) => "the router was reverted to the pre-apply export".to_owned(),
        (true, false) => format!(
            "the router lost the management connection and reverted itself to the pre-apply export ({waited}s after apply started)"
        ),
        (false, _) => format!(
            "the router did not return to the pre-apply state within {}s; check it by hand (export {REVERT_NAME}.rsc is on the router)",
            (opts.revert_after + opts.revert_grace).as_secs()
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
