//! Secrets-engine mounts (`sys/mounts`) and ACL policies (`sys/policies/acl`) as site entries.

use serde_json::{Value, json};

use super::{Reader, duration};
use crate::error::Result;

const BUILTIN_MOUNTS: &[&str] = &["sys", "cubbyhole", "identity"];
const BUILTIN_POLICIES: &[&str] = &["root", "default", "default-ceiling"];

impl Reader<'_> {
    /// `sys/mounts` (as the plan reads it): paths without slashes, built-ins left out.
    pub(crate) async fn mounts(&mut self) -> Result<Vec<Value>> {
        let Some(body) = self.get("GET", "sys/mounts").await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (key, m) in body["data"].as_object().into_iter().flatten() {
            let path = key.trim_end_matches('/').to_owned();
            if BUILTIN_MOUNTS.contains(&path.as_str()) {
                continue;
            }
            let at = format!("sys/mounts/{path}");
            let kind = m["type"].as_str().unwrap_or_default();
            let version = m.pointer("/options/version").and_then(Value::as_str);
            let kind = match (kind, version) {
                ("kv", Some("2")) => "kv-v2",
                ("kv", _) => "kv",
                ("pki", _) => "pki",
                ("transit", _) => "transit",
                (other, _) => {
                    self.skip(
                        at,
                        format!("a {other} engine; the model has kv, kv-v2, pki and transit"),
                    );
                    continue;
                }
            };
            let mut mount = json!({"path": path, "type": kind});
            if let Some(d) = m["description"].as_str().filter(|d| !d.is_empty()) {
                mount["description"] = json!(d);
            }
            if let Some(ttl) = m.pointer("/config/max_lease_ttl").and_then(Value::as_u64)
                && ttl > 0
            {
                mount["max_lease_ttl"] = json!(duration(ttl));
            }
            let mut lost = Vec::new();
            if let Some(ttl) = m
                .pointer("/config/default_lease_ttl")
                .and_then(Value::as_u64)
                && ttl > 0
            {
                lost.push(format!("default_lease_ttl {ttl}s"));
            }
            for (k, v) in m["options"].as_object().into_iter().flatten() {
                if k != "version" && !v.is_null() {
                    lost.push(format!("option {k}={v}"));
                }
            }
            for k in ["local", "seal_wrap", "external_entropy_access"] {
                if m[k] == Value::Bool(true) {
                    lost.push(k.to_owned());
                }
            }
            if !lost.is_empty() {
                self.skip(
                    at,
                    format!("mount imported without {} (the model has no field for it; the plan leaves it as it is)", lost.join(", ")),
                );
            }
            out.push(mount);
        }
        Ok(out)
    }

    /// ACL policies, each text kept as written (`sys/policies/acl/NAME`).
    pub(crate) async fn policies(&mut self) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for name in self.list("sys/policies/acl").await? {
            if BUILTIN_POLICIES.contains(&name.as_str()) {
                continue;
            }
            let path = format!("sys/policies/acl/{name}");
            let Some(data) = self.data(&path).await? else {
                continue;
            };
            let Some(text) = data["policy"].as_str() else {
                continue;
            };
            if let Err(e) = crate::hcl::check_policy(text) {
                self.skip(
                    path,
                    format!("rackpipe's policy check refuses its HCL: {e}"),
                );
                continue;
            }
            out.push(json!({"name": name, "hcl": text}));
        }
        Ok(out)
    }
}
