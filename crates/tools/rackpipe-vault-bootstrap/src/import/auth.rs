//! Auth methods (`sys/auth`): JWT config and roles, AppRoles and userpass users as site entries.

use serde_json::{Value, json};

use super::{Reader, SecretEntry, duration, lost_fields, strings};
use crate::error::Result;

impl Reader<'_> {
    /// `sys/auth`: the JWT method (one), AppRole and userpass; others are listed.
    pub(crate) async fn auth(&mut self, prefix: &str) -> Result<Value> {
        let mut auth = json!({});
        let Some(body) = self.get("GET", "sys/auth").await? else {
            return Ok(auth);
        };
        let methods: Vec<(String, String)> = body["data"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.trim_end_matches('/').to_owned(),
                    v["type"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        for (path, kind) in methods {
            let at = format!("sys/auth/{path}");
            let denied = self.report.unreadable.len();
            match (kind.as_str(), path.as_str()) {
                ("token", "token") => {}
                ("jwt", _) if auth.get("gitlab_jwt").is_none() => {
                    if let Some(jwt) = self.jwt(&path).await? {
                        auth["gitlab_jwt"] = jwt;
                    }
                }
                ("approle", "approle") => {
                    let roles = self.approles().await?;
                    if roles.is_empty() && self.report.unreadable.len() == denied {
                        self.skip(
                            at,
                            "no roles (the model enables AppRole with its first role)",
                        );
                    } else {
                        auth["approles"] = json!(roles);
                    }
                }
                ("userpass", "userpass") => {
                    let users = self.users(prefix).await?;
                    if users.is_empty() && self.report.unreadable.len() == denied {
                        self.skip(
                            at,
                            "no users (the model enables userpass with its first user)",
                        );
                    } else {
                        auth["users"] = json!(users);
                    }
                }
                ("jwt", _) => self.skip(at, "a second JWT method (the model has one)"),
                ("approle" | "userpass", _) => {
                    self.skip(
                        at,
                        format!("{kind} at another path than {kind}/ (the model mounts it there)"),
                    );
                }
                _ => self.skip(
                    at,
                    format!("a {kind} auth method; the model has jwt, approle and userpass"),
                ),
            }
        }
        Ok(auth)
    }

    async fn jwt(&mut self, path: &str) -> Result<Option<Value>> {
        let config_path = format!("auth/{path}/config");
        let Some(config) = self.data(&config_path).await? else {
            return Ok(None);
        };
        let Some(issuer) = config["bound_issuer"].as_str().filter(|s| !s.is_empty()) else {
            self.skip(
                config_path,
                "no bound_issuer (the model's gitlab_jwt.issuer)",
            );
            return Ok(None);
        };
        let mut jwt = json!({"path": path, "issuer": issuer});
        let keys: Vec<String> = strings(&config["jwt_validation_pubkeys"]);
        let jwks = config["jwks_url"].as_str().filter(|s| !s.is_empty());
        match (keys.is_empty(), jwks) {
            (false, Some(_)) => {
                self.skip(config_path, "both jwks_url and jwt_validation_pubkeys");
                return Ok(None);
            }
            (false, None) => jwt["validation_pubkeys"] = json!(keys),
            (true, Some(url)) => {
                if url != format!("{}/oauth/discovery/keys", issuer.trim_end_matches('/')) {
                    jwt["jwks_url"] = json!(url);
                }
            }
            (true, None) => {
                self.skip(config_path, "neither jwks_url nor jwt_validation_pubkeys (OIDC discovery is not in the model)");
                return Ok(None);
            }
        }
        let mut roles = Vec::new();
        for role in self.list(&format!("auth/{path}/role")).await? {
            let role_path = format!("auth/{path}/role/{role}");
            if let Some(data) = self.data(&role_path).await? {
                match jwt_role(&role, &data) {
                    Ok(value) => roles.push(value),
                    Err(why) => self.skip(role_path, why),
                }
            }
        }
        jwt["roles"] = json!(roles);
        Ok(Some(jwt))
    }

    async fn approles(&mut self) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for role in self.list("auth/approle/role").await? {
            let path = format!("auth/approle/role/{role}");
            let Some(data) = self.data(&path).await? else {
                continue;
            };
            let mut value = json!({"name": role, "policies": strings(&data["token_policies"])});
            for k in ["token_ttl", "token_max_ttl", "secret_id_ttl"] {
                if let Some(s) = data[k].as_u64().filter(|s| *s > 0) {
                    value[k] = json!(duration(s));
                }
            }
            let lost = lost_fields(
                &data,
                &[
                    ("bind_secret_id", json!(true)),
                    ("secret_id_bound_cidrs", Value::Null),
                    ("secret_id_num_uses", json!(0)),
                    ("token_bound_cidrs", Value::Null),
                    ("token_num_uses", json!(0)),
                    ("token_period", json!(0)),
                    ("token_explicit_max_ttl", json!(0)),
                    ("token_no_default_policy", json!(false)),
                ],
            );
            if !lost.is_empty() {
                self.skip(path, format!("role imported without {} (no model field; an apply that changes this role resets them)", lost.join(", ")));
            }
            out.push(value);
        }
        Ok(out)
    }

    async fn users(&mut self, prefix: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for user in self.list("auth/userpass/users").await? {
            let path = format!("auth/userpass/users/{user}");
            let Some(data) = self.data(&path).await? else {
                continue;
            };
            let variable: String = user
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let reference = format!("env:{prefix}_{variable}");
            self.report.secrets.push(SecretEntry {
                reference: reference.clone(),
                path: format!("{path} password"),
            });
            out.push(json!({"name": user, "policies": strings(&data["token_policies"]), "password": reference}));
        }
        Ok(out)
    }
}

fn jwt_role(name: &str, data: &Value) -> std::result::Result<Value, String> {
    if data["role_type"].as_str().is_some_and(|t| t != "jwt") {
        return Err(format!(
            "role_type {} (the model has jwt roles)",
            data["role_type"]
        ));
    }
    let mut role = json!({
        "name": name,
        "bound_audiences": strings(&data["bound_audiences"]),
        "policies": strings(&data["token_policies"]),
    });
    let claims = data["bound_claims"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (k, v) in &claims {
        match k.as_str() {
            "project_path" => role["project_paths"] = json!(strings(v)),
            "project_id" => {
                let ids: Option<Vec<u64>> = strings(v).iter().map(|s| s.parse().ok()).collect();
                role["project_ids"] = json!(ids.ok_or("a project_id claim that is not a number")?);
            }
            "ref_protected" if strings(v) == ["true"] => role["protected_refs_only"] = json!(true),
            "ref" => role["refs"] = json!(strings(v)),
            other => {
                return Err(format!(
                    "bound claim {other} (the model binds project_path, project_id, ref_protected=true and ref)"
                ));
            }
        }
    }
    let glob = claims
        .iter()
        .filter(|(k, _)| *k == "project_path" || *k == "ref")
        .flat_map(|(_, v)| strings(v))
        .any(|s| s.contains('*'));
    let kind = data["bound_claims_type"].as_str().unwrap_or("string");
    if kind != if glob { "glob" } else { "string" } && !claims.is_empty() {
        return Err(format!(
            "bound_claims_type {kind} (the model uses glob exactly when a bound value has a *)"
        ));
    }
    if let Some(claim) = data["user_claim"].as_str()
        && claim != "user_email"
    {
        role["user_claim"] = json!(claim);
    }
    if let Some(s) = data["token_ttl"].as_u64().filter(|s| *s > 0) {
        role["token_ttl"] = json!(duration(s));
    }
    let lost = lost_fields(
        data,
        &[
            ("bound_subject", Value::Null),
            ("bound_cidrs", Value::Null),
            ("claim_mappings", Value::Null),
            ("groups_claim", Value::Null),
            ("token_bound_cidrs", Value::Null),
            ("token_max_ttl", json!(0)),
            ("token_explicit_max_ttl", json!(0)),
            ("token_num_uses", json!(0)),
            ("token_period", json!(0)),
            ("token_no_default_policy", json!(false)),
        ],
    );
    if !lost.is_empty() {
        return Err(format!("{} (no model field)", lost.join(", ")));
    }
    Ok(role)
}
