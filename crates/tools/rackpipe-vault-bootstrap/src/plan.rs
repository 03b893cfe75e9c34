//! `plan` and `apply`: read the current configuration back through GET/LIST, diff it against
//! the [`Desired`] state, and make only the writes that change something. Objects that cannot
//! be read back (CA keys, passwords) are created once and left alone unless asked. Leaf
//! certificates are read from their KV entries and issued again when missing, expiring,
//! renamed or signed by a CA that is no longer the mount's issuer.
//!
//! The reads and diffs are one module per kind of object: `sys` (policies, mounts, auth
//! methods, audit devices), `pki` (CAs, issuers and leaf certificates), `access` (JWT,
//! AppRole and userpass logins); `compare` holds how values are compared, `execute` how
//! the planned steps are written.

mod access;
mod compare;
mod execute;
mod metrics;
mod pki;
mod sys;

use std::collections::BTreeMap;

use rackpipe_model::documents::{Action, ApplyResult, Change, ChangeCounts, Plan};
use rackpipe_secrets::Secret;
use serde_json::{Map, Value};

use crate::client::Client;
use crate::desired::{CaSpec, CertSpec, Desired};
use crate::error::{Error, Result};
use compare::digest;
use execute::run;

/// Options of [`plan`].
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Plan deletes of unmanaged objects (otherwise they are only listed).
    pub allow_destroy: bool,
    /// Rewrite userpass passwords of existing users.
    pub rotate_passwords: bool,
    /// Password values resolved before the run (by the CLI's driver: the `env:` and `file:`
    /// references of [`crate::tool::secret_refs`]), by reference as written. Plan and apply
    /// use these instead of reading the reference again; a reference not here (a `vault:`
    /// one, read from this cluster's KV) is read when it is needed.
    pub resolved: BTreeMap<String, Secret>,
}

/// Options of [`apply`].
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Same as for the plan.
    pub plan: PlanOptions,
    /// A plan made earlier: apply refuses when its digests no longer match.
    pub expected: Option<Plan>,
}

/// One executable step behind a [`Change`].
#[derive(Debug, Clone)]
enum Step {
    Write {
        method: &'static str,
        path: String,
        body: Value,
    },
    Delete {
        path: String,
    },
    Root {
        mount: String,
        body: Value,
    },
    Intermediate {
        ca: Box<CaSpec>,
    },
    User {
        name: String,
        policies: Vec<String>,
        password_ref: Option<String>,
    },
    Certificate {
        cert: Box<CertSpec>,
    },
    /// The metrics token ([`crate::metrics`]); its value is read from `reference` when run.
    Token {
        reference: String,
        step: TokenStep,
    },
}

/// What is done to the metrics token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenStep {
    /// Create it with the referenced value.
    Create,
    /// Revoke it and create it again (its policies or period differ).
    Recreate,
    /// Renew it (less than half of its period left).
    Renew,
}

struct Planner<'a> {
    api: &'a Client,
    desired: &'a Desired,
    options: &'a PlanOptions,
    observed: Map<String, Value>,
    changes: Vec<(Change, Step)>,
    unmanaged: Vec<String>,
    /// Default issuer certificates already read, by PKI mount.
    default_pems: std::collections::BTreeMap<String, String>,
}

/// Reads the current state and returns the plan (nothing is written).
///
/// # Errors
/// [`Error::Sealed`], [`Error::NotInitialized`], API and transport errors, and plan-time
/// problems such as a mount whose type differs.
pub async fn plan(api: &Client, desired: &Desired, options: &PlanOptions) -> Result<Plan> {
    Ok(compute(api, desired, options).await?.0)
}

async fn compute(
    api: &Client,
    desired: &Desired,
    options: &PlanOptions,
) -> Result<(Plan, Vec<Step>)> {
    let mut p = Planner {
        api,
        desired,
        options,
        observed: Map::new(),
        changes: Vec::new(),
        unmanaged: Vec::new(),
        default_pems: std::collections::BTreeMap::new(),
    };
    let started = std::time::Instant::now();
    let requests_before = api.http().requests();
    // No separate seal check: the first read fails on a sealed or uninitialized node, and
    // only then is `sys/seal-status` asked for the precise error.
    if let Err(e) = p.policies().await {
        if matches!(e, Error::Sealed { .. } | Error::Api { status: 503, .. }) {
            p.preflight().await?;
        }
        return Err(e);
    }
    let mounts = p.mounts().await?;
    let auths = p.auth().await?;
    p.pki(&mounts).await?;
    p.jwt(&auths).await?;
    p.approles(&auths).await?;
    p.users(&auths).await?;
    p.metrics_token().await?;
    p.audit().await?;
    p.certificates(&mounts).await?;
    let requests = api.http().requests() - requests_before;
    crate::wait::phase("plan.read", api.name(), started);
    tracing::info!(requests, "plan read the cluster");
    let desired_digest = digest(&serde_json::to_value(desired).unwrap_or(Value::Null));
    let observed_digest = digest(&Value::Object(p.observed.clone()));
    let (changes, steps): (Vec<Change>, Vec<Step>) = p.changes.into_iter().unzip();
    let mut plan = Plan::new(
        "vault-bootstrap",
        &desired.site,
        desired_digest,
        observed_digest,
        changes,
    );
    plan.unmanaged = p.unmanaged;
    plan.requests = Some(requests);
    Ok((plan, steps))
}

/// Plans, checks the expected plan's digests, then makes the changes in order. Stops at the
/// first failed write (plan-time checks catch bad input before anything is written).
///
/// # Errors
/// Those of [`plan`], [`Error::StalePlan`], and the first failed write.
pub async fn apply(api: &Client, desired: &Desired, options: &ApplyOptions) -> Result<ApplyResult> {
    let (plan, steps) = compute(api, desired, &options.plan).await?;
    // The saved plan's digests must still be those of the site and the cluster.
    plan.check_fresh(options.expected.as_ref(), "the cluster")
        .map_err(Error::StalePlan)?;
    let mut applied = Vec::new();
    let mut facts = std::collections::BTreeMap::new();
    let writes = std::time::Instant::now();
    for (mut change, step) in plan.changes.into_iter().zip(steps) {
        let t = std::time::Instant::now();
        let outcome = run(api, &step, &options.plan.resolved).await?;
        crate::wait::phase(step_kind(&step), &change.resource, t);
        if let Some((name, issued)) = outcome {
            if let (Some(after), Some(extra)) = (
                change.after.as_mut().and_then(Value::as_object_mut),
                issued.as_object(),
            ) {
                after.extend(extra.clone());
            }
            facts.insert(format!("certificates.{name}"), issued);
        }
        tracing::info!(action = ?change.action, resource = %change.resource, "applied");
        applied.push(change);
    }
    crate::wait::phase("apply.write", api.name(), writes);
    Ok(ApplyResult {
        api_version: "rackpipe/v1".into(),
        kind: "ApplyResult".into(),
        tool: "vault-bootstrap".into(),
        site: desired.site.clone(),
        summary: ChangeCounts::of(&applied),
        applied,
        facts,
    })
}

/// The phase name of a step in the `-v` breakdown.
fn step_kind(step: &Step) -> &'static str {
    match step {
        Step::Write { .. } => "apply.write_one",
        Step::Delete { .. } => "apply.delete",
        Step::Root { .. } => "apply.root_ca",
        Step::Intermediate { .. } => "apply.intermediate_ca",
        Step::User { .. } => "apply.user",
        Step::Certificate { .. } => "apply.certificate",
        Step::Token { .. } => "apply.token",
    }
}

impl Planner<'_> {
    fn push(
        &mut self,
        action: Action,
        resource: String,
        before: Option<Value>,
        after: Option<Value>,
        step: Step,
    ) {
        let commands = match &step {
            Step::Write { method, path, .. } => vec![format!("{method} {path}")],
            Step::Delete { path } => vec![format!("DELETE {path}")],
            Step::Root { mount, .. } => vec![format!("POST {mount}/root/generate/internal")],
            Step::Intermediate { ca } => {
                let (parent, issuer) = ca.signed_by.clone().unwrap_or_default();
                vec![
                    format!("POST {}/intermediate/generate/internal", ca.mount),
                    format!("POST {parent}/issuer/{issuer}/sign-intermediate"),
                    format!("POST {}/intermediate/set-signed", ca.mount),
                    format!("POST {}/issuer/<new>", ca.mount),
                    format!("POST {}/config/issuers", ca.mount),
                ]
            }
            Step::User { name, .. } => vec![format!("POST auth/userpass/users/{name}")],
            Step::Certificate { cert } => vec![
                format!("POST {}", cert.issue_path()),
                format!("POST {}", cert.kv_path()),
            ],
            Step::Token { step, .. } => match step {
                TokenStep::Create => vec!["POST auth/token/create-orphan".to_owned()],
                TokenStep::Recreate => vec![
                    "POST auth/token/revoke".to_owned(),
                    "POST auth/token/create-orphan".to_owned(),
                ],
                TokenStep::Renew => vec!["POST auth/token/renew".to_owned()],
            },
        };
        let change = Change {
            action,
            target: self.api.url().to_owned(),
            resource,
            before,
            after,
            diff: None,
            commands,
        };
        self.changes.push((change, step));
    }

    fn write(
        &mut self,
        action: Action,
        path: &str,
        before: Option<Value>,
        after: Value,
        body: Value,
    ) {
        self.push(
            action,
            path.to_owned(),
            before,
            Some(after),
            Step::Write {
                method: "POST",
                path: path.to_owned(),
                body,
            },
        );
    }

    fn unmanaged(&mut self, path: String) {
        if self.options.allow_destroy {
            self.push(
                Action::Delete,
                path.clone(),
                None,
                None,
                Step::Delete { path },
            );
        } else {
            self.unmanaged.push(path);
        }
    }

    async fn preflight(&mut self) -> Result<()> {
        let reply = self.api.call("GET", "sys/seal-status", None).await?;
        if !reply.ok() {
            return Err(self.api.api_error("GET", "sys/seal-status", &reply));
        }
        if reply.body.get("initialized") == Some(&Value::Bool(false)) {
            return Err(Error::NotInitialized {
                node: self.api.name().to_owned(),
            });
        }
        if reply.body.get("sealed") == Some(&Value::Bool(true)) {
            return Err(Error::Sealed {
                node: self.api.name().to_owned(),
            });
        }
        Ok(())
    }
}
