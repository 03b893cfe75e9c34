//! The PKI side: each CA's mount, issuer, default issuer, URLs and roles, and the leaf
//! certificates kept in KV entries (issued again when missing, unusable, renamed, from another
//! issuer or inside their renewal margin).

use rackpipe_model::documents::Action;
use serde_json::{Map, Value, json};

use super::compare::{differences, fingerprint};
use super::{Planner, Step};
use crate::certificate::{self, Inspected, Issuer, Reason};
use crate::desired::CertSpec;
use crate::error::{Error, Result};

impl Planner<'_> {
    pub(super) async fn pki(&mut self, mounts: &Map<String, Value>) -> Result<()> {
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

    /// Leaf certificates: read each KV entry and the mount's current issuer, and plan an
    /// issue + write when the entry is missing, unusable, renamed, from another issuer or
    /// inside its renewal margin. Planned after the mounts and CAs, so apply creates those
    /// first. The observed digest holds only the serial and the decision (no clock values).
    pub(super) async fn certificates(&mut self, mounts: &Map<String, Value>) -> Result<()> {
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
            if let Some(s) = &stored {
                rackpipe_cli::metrics::certificate_expiry(&cert.pki, &cert.name, s.not_after);
            }
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
}
