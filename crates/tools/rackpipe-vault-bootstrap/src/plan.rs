//! `plan` and `apply`: read the current configuration back through GET/LIST, diff it against
//! the [`Desired`] state, and make only the writes that change something. Objects that cannot
//! be read back (CA keys, passwords) are created once and left alone unless asked. Leaf
//! certificates are read from their KV entries and issued again when missing, expiring,
//! renamed or signed by a CA that is no longer the mount's issuer.

use rackpipe_model::documents::{Action, ApplyResult, Change, ChangeCounts, Plan};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::certificate::{self, Inspected, Issuer, Reason};
use crate::client::Client;
use crate::desired::{CaSpec, CertSpec, Desired};
use crate::error::{Error, Result};
use rackpipe_secrets::Secret;

const BUILTIN_MOUNTS: &[&str] = &["sys", "cubbyhole", "identity"];
const BUILTIN_AUTH: &[&str] = &["token"];
const BUILTIN_POLICIES: &[&str] = &["root", "default", "default-ceiling"];

/// Options of [`plan`].
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Plan deletes of unmanaged objects (otherwise they are only listed).
    pub allow_destroy: bool,
    /// Rewrite userpass passwords of existing users.
    pub rotate_passwords: bool,
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
        let outcome = run(api, &step).await?;
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
    }
}

fn digest(v: &Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// Normalises for comparison: arrays of scalars sorted, a lone string equals a one-element list.
fn norm(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::Array(vec![Value::String(s.trim().to_owned())]),
        other => norm_inner(other),
    }
}

fn norm_inner(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(norm_inner).collect();
            items.sort_by_key(ToString::to_string);
            Value::Array(items)
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), norm(v))).collect()),
        Value::String(s) => Value::String(s.trim().to_owned()),
        other => other.clone(),
    }
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Keys of `desired` whose observed value differs; returns (before, after) of those keys only.
fn differences(desired: &Value, observed: &Value) -> Option<(Value, Value)> {
    let mut before = Map::new();
    let mut after = Map::new();
    for (k, want) in desired.as_object().into_iter().flatten() {
        let have = observed.get(k).unwrap_or(&Value::Null);
        let same = if empty(want) && empty(have) {
            true
        } else {
            norm(want) == norm(have)
        };
        if !same {
            before.insert(k.clone(), have.clone());
            after.insert(k.clone(), want.clone());
        }
    }
    (!after.is_empty()).then(|| (Value::Object(before), Value::Object(after)))
}

fn body_keys(body: &Value) -> Value {
    body.clone()
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

    /// The ACL policy names and, on OpenBao, their texts in the same request
    /// (`LIST sys/policies/detailed/acl`); `None` texts are read one by one.
    async fn policy_list(&self) -> Result<(Vec<String>, Option<Map<String, Value>>)> {
        if self.desired.implementation == "openbao" {
            let reply = self
                .api
                .call("LIST", "sys/policies/detailed/acl", None)
                .await?;
            if reply.ok()
                && let Some(info) = reply
                    .body
                    .pointer("/data/key_info")
                    .and_then(Value::as_object)
            {
                return Ok((crate::client::keys_of(&reply.body), Some(info.clone())));
            }
            // An OpenBao without the detailed list (404/405): fall back to one read each.
            if !matches!(reply.status, 404 | 405) {
                return Err(self
                    .api
                    .api_error("LIST", "sys/policies/detailed/acl", &reply));
            }
        }
        Ok((self.api.list("sys/policies/acl").await?, None))
    }

    async fn policies(&mut self) -> Result<()> {
        let (names, detailed) = self.policy_list().await?;
        let mut seen = Map::new();
        for p in &self.desired.policies {
            let path = format!("sys/policies/acl/{}", p.name);
            let current = if !names.contains(&p.name) {
                None
            } else if let Some(info) = &detailed {
                info.get(&p.name).map(|i| json!({"data": i}))
            } else {
                self.api.read(&path).await?
            };
            let text = current
                .as_ref()
                .and_then(|c| c.pointer("/data/policy"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            seen.insert(p.name.clone(), json!(text));
            match text {
                None => self.push(
                    Action::Create,
                    path.clone(),
                    None,
                    Some(json!({"policy": p.text})),
                    Step::Write {
                        method: "PUT",
                        path,
                        body: json!({"policy": p.text}),
                    },
                ),
                Some(t) if t.trim() != p.text.trim() => self.push(
                    Action::Update,
                    path.clone(),
                    Some(json!({"policy": t})),
                    Some(json!({"policy": p.text})),
                    Step::Write {
                        method: "PUT",
                        path,
                        body: json!({"policy": p.text}),
                    },
                ),
                Some(_) => {}
            }
        }
        for name in &names {
            if !BUILTIN_POLICIES.contains(&name.as_str())
                && !self.desired.policies.iter().any(|p| &p.name == name)
            {
                self.unmanaged(format!("sys/policies/acl/{name}"));
            }
        }
        seen.insert("_names".into(), json!(names));
        self.observed.insert("policies".into(), Value::Object(seen));
        Ok(())
    }

    async fn mounts(&mut self) -> Result<Map<String, Value>> {
        let body = self.api.expect("GET", "sys/mounts", None).await?;
        let all = body
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut current = Map::new();
        for (k, v) in &all {
            current.insert(k.trim_end_matches('/').to_owned(), v.clone());
        }
        let mut obs = Map::new();
        for (k, v) in &current {
            obs.insert(k.clone(), json!({"type": v.get("type"), "options": v.get("options"),
                "description": v.get("description"), "max_lease_ttl": v.pointer("/config/max_lease_ttl")}));
        }
        self.observed.insert("mounts".into(), Value::Object(obs));
        for (i, m) in self.desired.mounts.iter().enumerate() {
            match current.get(&m.path) {
                None => {
                    let mut body =
                        json!({"type": m.kind, "description": m.description, "options": m.options});
                    if let Some(ttl) = m.max_lease_ttl {
                        body["config"] = json!({"max_lease_ttl": ttl});
                    }
                    self.write(
                        Action::Create,
                        &format!("sys/mounts/{}", m.path),
                        None,
                        body.clone(),
                        body,
                    );
                }
                Some(have) => {
                    let kind = have.get("type").and_then(Value::as_str).unwrap_or_default();
                    let version = have
                        .pointer("/options/version")
                        .and_then(Value::as_str)
                        .unwrap_or("1");
                    let want_version = m
                        .options
                        .get("version")
                        .and_then(Value::as_str)
                        .unwrap_or("1");
                    if kind != m.kind || (kind == "kv" && version != want_version) {
                        return Err(Error::Site {
                            path: format!("vault.mounts[{i}].type"),
                            message: format!(
                                "mount {}/ is {kind} (version {version}) on the server; changing the type needs an explicit delete",
                                m.path
                            ),
                        });
                    }
                    let mut want = json!({"description": m.description});
                    let mut have_view = json!({"description": have.get("description")});
                    if let Some(ttl) = m.max_lease_ttl {
                        want["max_lease_ttl"] = json!(ttl);
                        have_view["max_lease_ttl"] = have
                            .pointer("/config/max_lease_ttl")
                            .cloned()
                            .unwrap_or(Value::Null);
                    }
                    if let Some((before, after)) = differences(&want, &have_view) {
                        self.write(
                            Action::Update,
                            &format!("sys/mounts/{}/tune", m.path),
                            Some(before),
                            after,
                            want,
                        );
                    }
                }
            }
        }
        for (path, v) in &current {
            let builtin = BUILTIN_MOUNTS.contains(&path.as_str());
            if !builtin && !self.desired.mounts.iter().any(|m| &m.path == path) {
                let _ = v;
                self.unmanaged(format!("sys/mounts/{path}"));
            }
        }
        Ok(current)
    }

    async fn auth(&mut self) -> Result<Map<String, Value>> {
        let body = self.api.expect("GET", "sys/auth", None).await?;
        let all = body
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut current = Map::new();
        for (k, v) in &all {
            current.insert(k.trim_end_matches('/').to_owned(), v.clone());
        }
        let obs: Map<String, Value> = current
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.get("type"))))
            .collect();
        self.observed.insert("auth".into(), Value::Object(obs));
        for (i, a) in self.desired.auth.iter().enumerate() {
            match current
                .get(&a.path)
                .and_then(|v| v.get("type"))
                .and_then(Value::as_str)
            {
                None => {
                    let body = json!({"type": a.kind});
                    self.write(
                        Action::Create,
                        &format!("sys/auth/{}", a.path),
                        None,
                        body.clone(),
                        body,
                    );
                }
                Some(kind) if kind != a.kind => {
                    return Err(Error::Site {
                        path: format!("vault.auth[{i}]"),
                        message: format!(
                            "auth/{}/ is a {kind} method on the server, not {}",
                            a.path, a.kind
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        for path in current.keys() {
            if !BUILTIN_AUTH.contains(&path.as_str())
                && !self.desired.auth.iter().any(|a| &a.path == path)
            {
                self.unmanaged(format!("sys/auth/{path}"));
            }
        }
        Ok(current)
    }

    /// Diffs named objects under `base` (roles, users) against their desired bodies.
    async fn objects(
        &mut self,
        key: &str,
        base: &str,
        mounted: bool,
        wanted: &[(String, Value)],
    ) -> Result<()> {
        let names = if mounted {
            self.api.list(base).await?
        } else {
            Vec::new()
        };
        let mut obs = Map::new();
        for (name, body) in wanted {
            let path = format!("{base}/{name}");
            let current = if names.contains(name) {
                self.api.read(&path).await?
            } else {
                None
            };
            match current {
                None => self.write(Action::Create, &path, None, body_keys(body), body.clone()),
                Some(have) => {
                    let data = have.get("data").cloned().unwrap_or(Value::Null);
                    let view: Map<String, Value> = body
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| (k.clone(), data.get(k).cloned().unwrap_or(Value::Null)))
                        .collect();
                    obs.insert(name.clone(), Value::Object(view.clone()));
                    if let Some((before, after)) = differences(body, &Value::Object(view)) {
                        self.write(Action::Update, &path, Some(before), after, body.clone());
                    }
                }
            }
        }
        for name in &names {
            if !wanted.iter().any(|(n, _)| n == name) {
                self.unmanaged(format!("{base}/{name}"));
            }
        }
        obs.insert("_names".into(), json!(names));
        self.observed.insert(key.to_owned(), Value::Object(obs));
        Ok(())
    }

    async fn pki(&mut self, mounts: &Map<String, Value>) -> Result<()> {
        let cas = self.desired.pki.clone();
        for ca in &cas {
            let mounted = mounts.contains_key(&ca.mount);
            let mut issuers = Map::new();
            // One read answers the usual case: the site's issuer is the mount's default (its
            // certificate is kept for the leaf certificates). Otherwise list the issuers.
            if mounted
                && let Some(default) = self.default_issuer(&ca.mount).await?
                && default.get("issuer_name").and_then(Value::as_str)
                    == Some(ca.issuer_name.as_str())
            {
                issuers.insert(
                    ca.issuer_name.clone(),
                    json!({"issuer_name": ca.issuer_name, "is_default": true}),
                );
                if let Some(pem) = default.get("certificate").and_then(Value::as_str) {
                    self.default_pems.insert(ca.mount.clone(), pem.to_owned());
                }
            }
            if mounted && issuers.is_empty() {
                let reply = self
                    .api
                    .call("LIST", &format!("{}/issuers", ca.mount), None)
                    .await?;
                if reply.ok() {
                    issuers = reply
                        .body
                        .pointer("/data/key_info")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                } else if reply.status != 404 {
                    return Err(self.api.api_error(
                        "LIST",
                        &format!("{}/issuers", ca.mount),
                        &reply,
                    ));
                }
            }
            let named = issuers.values().find(|i| {
                i.get("issuer_name").and_then(Value::as_str) == Some(ca.issuer_name.as_str())
            });
            self.observed.insert(
                format!("pki:{}", ca.mount),
                json!(
                    issuers
                        .values()
                        .map(|i| json!([i.get("issuer_name"), i.get("is_default")]))
                        .collect::<Vec<_>>()
                ),
            );
            let resource = format!("{}/issuer/{}", ca.mount, ca.issuer_name);
            match named {
                None => {
                    let after = json!({"common_name": ca.generate["common_name"], "key_type": ca.generate["key_type"],
                        "key_bits": ca.generate["key_bits"], "signed_by": ca.signed_by.as_ref().map(|s| &s.0)});
                    let step = if ca.signed_by.is_some() {
                        Step::Intermediate {
                            ca: Box::new(ca.clone()),
                        }
                    } else {
                        Step::Root {
                            mount: ca.mount.clone(),
                            body: ca.generate.clone(),
                        }
                    };
                    self.push(Action::Create, resource, None, Some(after), step);
                }
                Some(issuer) if issuer.get("is_default") != Some(&Value::Bool(true)) => {
                    let path = format!("{}/config/issuers", ca.mount);
                    let body = json!({"default": ca.issuer_name});
                    self.write(
                        Action::Update,
                        &path,
                        Some(json!({"default": "another issuer"})),
                        body.clone(),
                        body,
                    );
                }
                Some(_) => {}
            }
            if let Some(urls) = &ca.urls {
                let path = format!("{}/config/urls", ca.mount);
                let have = if mounted {
                    self.api
                        .read(&path)
                        .await?
                        .and_then(|v| v.get("data").cloned())
                } else {
                    None
                };
                let have = have.unwrap_or(Value::Null);
                self.observed.insert(path.clone(), have.clone());
                if let Some((before, after)) = differences(urls, &have) {
                    let action = if mounted {
                        Action::Update
                    } else {
                        Action::Create
                    };
                    self.write(action, &path, Some(before), after, urls.clone());
                }
            }
            self.objects(
                &format!("pki-roles:{}", ca.mount),
                &format!("{}/roles", ca.mount),
                mounted,
                &ca.roles,
            )
            .await?;
        }
        Ok(())
    }

    async fn jwt(&mut self, auths: &Map<String, Value>) -> Result<()> {
        let Some(jwt) = self.desired.jwt.clone() else {
            return Ok(());
        };
        let mounted = auths.contains_key(&jwt.path);
        let path = format!("auth/{}/config", jwt.path);
        let have = if mounted {
            self.api
                .read(&path)
                .await?
                .and_then(|v| v.get("data").cloned())
        } else {
            None
        };
        let have = have.unwrap_or(Value::Null);
        let view: Map<String, Value> = ["bound_issuer", "jwks_url", "jwt_validation_pubkeys"]
            .iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    have.get(*k).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        self.observed
            .insert(path.clone(), Value::Object(view.clone()));
        let mut want = jwt.config.clone();
        for k in ["jwks_url", "jwt_validation_pubkeys"] {
            if want.get(k).is_none() {
                want[k] = Value::Null;
            }
        }
        if let Some((before, after)) = differences(&want, &Value::Object(view)) {
            let action = if mounted && !empty(&have) {
                Action::Update
            } else {
                Action::Create
            };
            self.write(action, &path, Some(before), after, jwt.config.clone());
        }
        self.objects(
            "jwt-roles",
            &format!("auth/{}/role", jwt.path),
            mounted,
            &jwt.roles,
        )
        .await
    }

    async fn approles(&mut self, auths: &Map<String, Value>) -> Result<()> {
        if self.desired.approles.is_empty() {
            return Ok(());
        }
        let roles = self.desired.approles.clone();
        self.objects(
            "approles",
            "auth/approle/role",
            auths.contains_key("approle"),
            &roles,
        )
        .await
    }

    async fn users(&mut self, auths: &Map<String, Value>) -> Result<()> {
        if self.desired.users.is_empty() {
            return Ok(());
        }
        let mounted = auths.contains_key("userpass");
        let names = if mounted {
            self.api.list("auth/userpass/users").await?
        } else {
            Vec::new()
        };
        let mut obs = Map::new();
        for u in self.desired.users.clone() {
            let path = format!("auth/userpass/users/{}", u.name);
            let have = if names.contains(&u.name) {
                self.api.read(&path).await?
            } else {
                None
            };
            let needs_password = have.is_none() || self.options.rotate_passwords;
            // Fails at plan time for env:/file: problems; a vault: secret not written yet only
            // holds this user back (it may live in a mount this very apply creates).
            if needs_password && resolve(self.api, &u.password_ref).await?.is_none() {
                tracing::warn!(user = %u.name, reference = %u.password_ref, "password not readable yet; user skipped");
                self.unmanaged.push(format!(
                    "{path} (pending: password {} not readable yet)",
                    u.password_ref
                ));
                continue;
            }
            match have {
                None => self.push(
                    Action::Create,
                    path,
                    None,
                    Some(json!({"token_policies": u.token_policies, "password": "(set from reference)"})),
                    Step::User { name: u.name.clone(), policies: u.token_policies.clone(), password_ref: Some(u.password_ref.clone()) },
                ),
                Some(h) => {
                    let policies = h.pointer("/data/token_policies").cloned().unwrap_or(Value::Null);
                    obs.insert(u.name.clone(), policies.clone());
                    let want = json!({"token_policies": u.token_policies});
                    let diff = differences(&want, &json!({"token_policies": policies}));
                    if diff.is_some() || self.options.rotate_passwords {
                        let (before, mut after) = diff.unwrap_or((json!({}), json!({})));
                        let password_ref = self.options.rotate_passwords.then(|| u.password_ref.clone());
                        if password_ref.is_some() {
                            after["password"] = json!("(rotated from reference)");
                        }
                        self.push(
                            Action::Update,
                            path,
                            Some(before),
                            Some(after),
                            Step::User { name: u.name.clone(), policies: u.token_policies.clone(), password_ref },
                        );
                    }
                }
            }
        }
        for name in &names {
            if !self.desired.users.iter().any(|u| &u.name == name) {
                self.unmanaged(format!("auth/userpass/users/{name}"));
            }
        }
        self.observed.insert("users".into(), Value::Object(obs));
        Ok(())
    }

    /// Leaf certificates: read each KV entry and the mount's current issuer, and plan an
    /// issue + write when the entry is missing, unusable, renamed, from another issuer or
    /// inside its renewal margin. Planned after the mounts and CAs, so apply creates those
    /// first. The observed digest holds only the serial and the decision (no clock values).
    async fn certificates(&mut self, mounts: &Map<String, Value>) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut issuers: Map<String, Value> = Map::new();
        let mut current_issuers: std::collections::BTreeMap<String, Option<Issuer>> =
            std::collections::BTreeMap::new();
        for cert in self.desired.certificates.clone() {
            if !current_issuers.contains_key(&cert.pki) {
                let (pem, ca) = self.current_issuer(&cert.pki, mounts).await?;
                issuers.insert(cert.pki.clone(), json!(pem.as_deref().map(fingerprint)));
                current_issuers.insert(cert.pki.clone(), ca);
            }
            let current = current_issuers.get(&cert.pki).cloned().flatten();
            // A CA created, replaced or re-defaulted by this plan issues something else.
            let ca_replaced = self.changes.iter().any(|(c, _)| {
                c.resource.starts_with(&format!("{}/issuer/", cert.pki))
                    || c.resource == format!("{}/config/issuers", cert.pki)
            });
            let (stored, unusable) = self.stored_certificate(&cert, mounts).await?;
            let reason = match unusable {
                Some(why) => Some(Reason::Unusable(why)),
                None => {
                    certificate::decide(&cert, stored.as_ref(), current.as_ref(), ca_replaced, now)
                }
            };
            let serial = stored.as_ref().map(|s| s.serial.clone());
            self.observed.insert(
                format!("certificate:{}", cert.name),
                json!({"serial": serial, "decision": reason.as_ref().map_or("valid", Reason::kind)}),
            );
            let Some(reason) = reason else { continue };
            tracing::info!(certificate = %cert.name, %reason, "certificate to issue");
            let before = stored.as_ref().map(|s| {
                json!({"name": cert.name, "serial": s.serial,
                    "not_after": certificate::rfc3339(s.not_after)})
            });
            let after = json!({
                "name": cert.name,
                "reason": reason.to_string(),
                "pki": cert.pki,
                "role": cert.role,
                "common_name": cert.common_name,
                "alt_names": cert.alt_names,
                "ip_sans": cert.ip_sans,
            });
            let action = if stored.is_some() {
                Action::Update
            } else {
                Action::Create
            };
            self.push(
                action,
                cert.kv_path(),
                before,
                Some(after),
                Step::Certificate {
                    cert: Box::new(cert.clone()),
                },
            );
        }
        self.observed
            .insert("certificate-issuers".into(), Value::Object(issuers));
        Ok(())
    }

    /// `GET <mount>/issuer/default` (`None` when there is none, or the server answers with an
    /// error: the caller then lists the issuers and reports from that).
    async fn default_issuer(&self, mount: &str) -> Result<Option<Value>> {
        let reply = self
            .api
            .call("GET", &format!("{mount}/issuer/default"), None)
            .await?;
        Ok(reply.ok().then(|| reply.data().clone()))
    }

    /// The default issuer's certificate of a PKI mount (`None` when the mount or its CA does
    /// not exist yet).
    async fn current_issuer(
        &self,
        mount: &str,
        mounts: &Map<String, Value>,
    ) -> Result<(Option<String>, Option<Issuer>)> {
        if !mounts.contains_key(mount) {
            return Ok((None, None));
        }
        let path = format!("{mount}/cert/ca");
        let pem = if let Some(pem) = self.default_pems.get(mount) {
            Some(pem.clone()).filter(|p| !p.trim().is_empty())
        } else {
            let reply = self.api.call("GET", &path, None).await?;
            if matches!(reply.status, 400 | 404) {
                return Ok((None, None));
            }
            if !reply.ok() {
                return Err(self.api.api_error("GET", &path, &reply));
            }
            reply
                .data()
                .get("certificate")
                .and_then(Value::as_str)
                .filter(|p| !p.trim().is_empty())
                .map(str::to_owned)
        };
        let ca = match &pem {
            Some(p) => Some(certificate::issuer(p).map_err(|reason| Error::Protocol {
                node: self.api.name().to_owned(),
                path: path.clone(),
                reason,
            })?),
            None => None,
        };
        Ok((pem, ca))
    }

    /// The certificate of a KV entry, or why the entry cannot be used (no key, no bundle,
    /// unparseable). Only the public certificate leaves this function.
    async fn stored_certificate(
        &self,
        cert: &CertSpec,
        mounts: &Map<String, Value>,
    ) -> Result<(Option<Inspected>, Option<String>)> {
        if !mounts.contains_key(&cert.store_mount) {
            return Ok((None, None));
        }
        let path = cert.kv_path();
        let reply = self.api.call("GET", &path, None).await?;
        if reply.status == 404 {
            return Ok((None, None));
        }
        if !reply.ok() {
            return Err(self.api.api_error("GET", &path, &reply));
        }
        let data = reply.body.pointer("/data/data");
        let field = |k: &str| {
            data.and_then(|d| d.get(k))
                .and_then(Value::as_str)
                .filter(|v| !v.trim().is_empty())
        };
        let Some(pem) = field("certificate") else {
            return Ok((None, None));
        };
        let stored = match certificate::inspect(pem) {
            Ok(s) => s,
            Err(why) => return Ok((None, Some(format!("certificate: {why}")))),
        };
        let missing: Vec<&str> = ["private_key", "pem", "ca_chain"]
            .into_iter()
            .filter(|k| field(k).is_none())
            .collect();
        let unusable = (!missing.is_empty()).then(|| format!("no {}", missing.join(", no ")));
        Ok((Some(stored), unusable))
    }

    /// HashiCorp Vault takes audit devices through the API; OpenBao only from its config file
    /// (rendered by `render`), so nothing is planned for it.
    async fn audit(&mut self) -> Result<()> {
        if self.desired.implementation != "vault" || self.desired.audit.is_empty() {
            return Ok(());
        }
        let body = self.api.expect("GET", "sys/audit", None).await?;
        let have = body
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        self.observed
            .insert("audit".into(), json!(have.keys().collect::<Vec<_>>()));
        for (name, file) in self.desired.audit.clone() {
            if !have.contains_key(&format!("{name}/")) {
                let path = format!("sys/audit/{name}");
                let body = json!({"type": "file", "options": {"file_path": file}});
                self.push(
                    Action::Create,
                    path.clone(),
                    None,
                    Some(body.clone()),
                    Step::Write {
                        method: "PUT",
                        path,
                        body,
                    },
                );
            }
        }
        Ok(())
    }
}

/// Resolves an `env:`, `file:` or `vault:MOUNT/PATH#KEY` (KV v2 on the same cluster) reference.
/// `Ok(None)`: a `vault:` secret that does not exist (yet).
async fn resolve(api: &Client, reference: &str) -> Result<Option<Secret>> {
    let bad = |reason: &str| Error::SecretRef {
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(var) = reference.strip_prefix("env:") {
        let v = std::env::var(var).map_err(|_| bad("environment variable is not set"))?;
        if v.is_empty() {
            return Err(bad("environment variable is empty"));
        }
        return Ok(Some(Secret::new(v)));
    }
    if let Some(path) = reference.strip_prefix("file:") {
        let v = Secret::new(std::fs::read_to_string(path).map_err(|e| bad(&e.to_string()))?);
        let v = v.expose().trim_end_matches(['\n', '\r']);
        if v.is_empty() {
            return Err(bad("file is empty"));
        }
        return Ok(Some(Secret::new(v)));
    }
    if let Some(rest) = reference.strip_prefix("vault:") {
        let (path, key) = rest
            .split_once('#')
            .ok_or_else(|| bad("expected vault:MOUNT/PATH#KEY"))?;
        let (mount, sub) = path
            .trim_matches('/')
            .split_once('/')
            .ok_or_else(|| bad("expected vault:MOUNT/PATH#KEY"))?;
        let reply = api
            .call("GET", &format!("{mount}/data/{sub}"), None)
            .await?;
        // 404: no such secret; 400/403 on a mount that does not exist yet.
        if matches!(reply.status, 400 | 403 | 404) {
            return Ok(None);
        }
        if !reply.ok() {
            return Err(bad(&format!("HTTP {}: {}", reply.status, reply.errors())));
        }
        let value = reply
            .body
            .pointer("/data/data")
            .and_then(|d| d.get(key))
            .and_then(Value::as_str);
        return Ok(value.filter(|v| !v.is_empty()).map(Secret::new));
    }
    Err(bad("not an env:, file: or vault: reference"))
}

/// Runs one step; a certificate step returns its name and public facts (serial, not_after).
async fn run(api: &Client, step: &Step) -> Result<Option<(String, Value)>> {
    match step {
        Step::Write { method, path, body } => {
            api.expect(method, path, Some(body)).await?;
        }
        Step::Delete { path } => {
            api.expect("DELETE", path, None).await?;
        }
        Step::Root { mount, body } => {
            api.expect(
                "POST",
                &format!("{mount}/root/generate/internal"),
                Some(body),
            )
            .await?;
        }
        Step::Intermediate { ca } => intermediate(api, ca).await?,
        Step::User {
            name,
            policies,
            password_ref,
        } => {
            let mut body = json!({"token_policies": policies});
            if let Some(reference) = password_ref {
                let password = resolve(api, reference)
                    .await?
                    .ok_or_else(|| Error::SecretRef {
                        reference: reference.clone(),
                        reason: "secret disappeared between plan and apply".into(),
                    })?;
                body["password"] = json!(password.expose());
            }
            api.expect("POST", &format!("auth/userpass/users/{name}"), Some(&body))
                .await?;
        }
        Step::Certificate { cert } => {
            let facts = issue(api, cert).await?;
            return Ok(Some((cert.name.clone(), facts)));
        }
    }
    Ok(None)
}

/// A hex SHA-256 of a PEM text (for the observed state: which CA certificate was seen).
fn fingerprint(pem: &str) -> String {
    hex::encode(Sha256::digest(pem.trim().as_bytes()))
}

fn with_newline(pem: &str) -> String {
    let mut s = pem.trim().to_owned();
    s.push('\n');
    s
}

/// Issues a certificate from its PKI role and writes the KV v2 entry: `certificate`,
/// `ca_chain`, `private_key`, `pem` (certificate + chain + key, what HAProxy's `crt` loads),
/// `serial` and `not_after` (RFC 3339). The key only lives in [`Secret`]s and the request body.
async fn issue(api: &Client, cert: &CertSpec) -> Result<Value> {
    let path = cert.issue_path();
    let mut body = json!({
        "common_name": cert.common_name,
        "alt_names": cert.alt_names.join(","),
        "ip_sans": cert.ip_sans.join(","),
        "format": "pem",
    });
    if let Some(ttl) = cert.ttl {
        body["ttl"] = json!(format!("{ttl}s"));
    }
    let mut issued = api.expect("POST", &path, Some(&body)).await?;
    let data = issued
        .get_mut("data")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::Protocol {
            node: api.name().to_owned(),
            path: path.clone(),
            reason: "no data in the reply".into(),
        })?;
    let key = match data.remove("private_key") {
        Some(Value::String(k)) if !k.trim().is_empty() => Secret::new(k),
        _ => {
            return Err(Error::Protocol {
                node: api.name().to_owned(),
                path,
                reason: "no private_key in the reply".into(),
            });
        }
    };
    let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or_default();
    let certificate_pem = with_newline(text("certificate"));
    let inspected = certificate::inspect(&certificate_pem).map_err(|reason| Error::Protocol {
        node: api.name().to_owned(),
        path: path.clone(),
        reason,
    })?;
    let mut chain: Vec<String> = data
        .get("ca_chain")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .filter(|p| !p.trim().is_empty())
                .map(with_newline)
                .collect()
        })
        .unwrap_or_default();
    if chain.is_empty() && !text("issuing_ca").trim().is_empty() {
        chain.push(with_newline(text("issuing_ca")));
    }
    let chain = chain.concat();
    let serial = data
        .get("serial_number")
        .and_then(Value::as_str)
        .map_or_else(|| inspected.serial.clone(), str::to_owned);
    let not_after = certificate::rfc3339(inspected.not_after);
    let bundle = Secret::new(format!(
        "{certificate_pem}{chain}{}",
        with_newline(key.expose())
    ));
    let entry = json!({"data": {
        "certificate": certificate_pem,
        "ca_chain": chain,
        "private_key": key.expose(),
        "pem": bundle.expose(),
        "serial": serial,
        "not_after": not_after,
    }});
    api.expect("POST", &cert.kv_path(), Some(&entry)).await?;
    tracing::info!(certificate = %cert.name, %serial, %not_after, "certificate issued and stored");
    Ok(json!({"serial": serial, "not_after": not_after}))
}

async fn intermediate(api: &Client, ca: &CaSpec) -> Result<()> {
    let (parent, parent_issuer) = ca.signed_by.clone().unwrap_or_default();
    let mut gen_body = ca.generate.clone();
    if let Some(o) = gen_body.as_object_mut() {
        o.remove("issuer_name");
        o.remove("ttl");
    }
    let csr_path = format!("{}/intermediate/generate/internal", ca.mount);
    let generated = api.expect("POST", &csr_path, Some(&gen_body)).await?;
    let csr = generated
        .pointer("/data/csr")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key_id = generated
        .pointer("/data/key_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let sign_path = format!("{parent}/issuer/{parent_issuer}/sign-intermediate");
    let sign_body = json!({"csr": csr, "format": "pem_bundle", "ttl": ca.ttl,
        "common_name": ca.generate["common_name"], "use_csr_values": true});
    let signed = api.expect("POST", &sign_path, Some(&sign_body)).await?;
    let certificate = signed
        .pointer("/data/certificate")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let set_path = format!("{}/intermediate/set-signed", ca.mount);
    let set = api
        .expect(
            "POST",
            &set_path,
            Some(&json!({"certificate": certificate})),
        )
        .await?;
    let imported: Vec<String> = set
        .pointer("/data/imported_issuers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut ours = None;
    for id in &imported {
        let issuer = api
            .expect("GET", &format!("{}/issuer/{id}", ca.mount), None)
            .await?;
        if issuer.pointer("/data/key_id").and_then(Value::as_str) == Some(key_id.as_str()) {
            ours = Some(id.clone());
        }
    }
    let ours = ours.ok_or_else(|| Error::Protocol {
        node: api.name().to_owned(),
        path: set_path.clone(),
        reason: "no imported issuer carries the generated key".into(),
    })?;
    api.expect(
        "POST",
        &format!("{}/issuer/{ours}", ca.mount),
        Some(&json!({"issuer_name": ca.issuer_name})),
    )
    .await?;
    api.expect(
        "POST",
        &format!("{}/config/issuers", ca.mount),
        Some(&json!({"default": ca.issuer_name})),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_compare_only_managed_keys() {
        let want = json!({"a": ["x", "y"], "b": 0, "c": "t"});
        let have = json!({"a": ["y", "x"], "b": null, "c": ["t"], "extra": 5});
        assert!(differences(&want, &have).is_none());
        let have = json!({"a": ["y"], "c": "t"});
        let (before, after) = differences(&want, &have).unwrap();
        assert_eq!(before, json!({"a": ["y"]}));
        assert_eq!(after, json!({"a": ["x", "y"]}));
    }

    #[tokio::test]
    async fn resolve_env_and_file() {
        let api = crate::client::Http::new(&crate::client::ClientOptions::default())
            .unwrap()
            .node("x", "https://127.0.0.1:1");
        let e = resolve(&api, "env:RACKPIPE_SURELY_UNSET_VARIABLE")
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "env:RACKPIPE_SURELY_UNSET_VARIABLE: environment variable is not set"
        );
        let dir =
            std::env::temp_dir().join(format!("rackpipe-vault-resolve-{}", std::process::id()));
        std::fs::write(&dir, "pw\n").unwrap();
        let got = resolve(&api, &format!("file:{}", dir.display()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.expose(), "pw");
        let _ = std::fs::remove_file(&dir);
        assert_eq!(api.http().requests(), 0);
    }
}
