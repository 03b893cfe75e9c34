//! The `sys/` objects: ACL policies, secret engine mounts, auth methods and (HashiCorp Vault
//! only) audit devices, read back and diffed against the site.

use rackpipe_model::documents::Action;
use serde_json::{Map, Value, json};

use super::compare::differences;
use super::{Planner, Step};
use crate::error::{Error, Result};

const BUILTIN_MOUNTS: &[&str] = &["sys", "cubbyhole", "identity"];
const BUILTIN_AUTH: &[&str] = &["token"];
const BUILTIN_POLICIES: &[&str] = &["root", "default", "default-ceiling"];

impl Planner<'_> {
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

    pub(super) async fn policies(&mut self) -> Result<()> {
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

    pub(super) async fn mounts(&mut self) -> Result<Map<String, Value>> {
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

    pub(super) async fn auth(&mut self) -> Result<Map<String, Value>> {
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

    /// HashiCorp Vault takes audit devices through the API; OpenBao only from its config file
    /// (rendered by `render`), so nothing is planned for it.
    pub(super) async fn audit(&mut self) -> Result<()> {
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
