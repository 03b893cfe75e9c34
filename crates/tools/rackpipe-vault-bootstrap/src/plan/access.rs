//! Who may log in: the JWT auth config and roles, AppRoles and userpass users (passwords are
//! resolved from their references, never read back), and the named-object diff they share
//! with the PKI roles.

use rackpipe_model::documents::Action;
use serde_json::{Map, Value, json};

use super::compare::{body_keys, differences, empty};
use super::execute::resolve_with;
use super::{Planner, Step};
use crate::error::Result;

impl Planner<'_> {
    /// Diffs named objects under `base` (roles, users) against their desired bodies.
    pub(super) async fn objects(
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

    pub(super) async fn jwt(&mut self, auths: &Map<String, Value>) -> Result<()> {
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

    pub(super) async fn approles(&mut self, auths: &Map<String, Value>) -> Result<()> {
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

    pub(super) async fn users(&mut self, auths: &Map<String, Value>) -> Result<()> {
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
            if needs_password
                && resolve_with(self.api, &u.password_ref, &self.options.resolved)
                    .await?
                    .is_none()
            {
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
}
