//! Apply's side: runs each planned step against the API (writes, deletes, root and
//! intermediate CAs, users with their resolved passwords, certificate issue + KV write) and
//! resolves the secret references they need.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Step, TokenStep};
use crate::certificate;
use crate::client::Client;
use crate::desired::{CaSpec, CertSpec};
use crate::error::{Error, Result};
use rackpipe_secrets::Secret;

/// The value of `reference`: the one in `resolved` (resolved before the run, by reference as
/// written) when it is there, else read now ([`resolve`]).
pub(super) async fn resolve_with(
    api: &Client,
    reference: &str,
    resolved: &BTreeMap<String, Secret>,
) -> Result<Option<Secret>> {
    match resolved.get(reference) {
        Some(value) => Ok(Some(value.clone())),
        None => resolve(api, reference).await,
    }
}

/// Resolves an `env:` or `file:` reference (the shared reader, [`rackpipe_secrets::resolve_local`])
/// or a `vault:MOUNT/PATH#KEY` one (KV v2 on the same cluster).
/// `Ok(None)`: a `vault:` secret that does not exist (yet).
pub(super) async fn resolve(api: &Client, reference: &str) -> Result<Option<Secret>> {
    let bad = |reason: &str| Error::SecretRef {
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(local) = rackpipe_secrets::resolve_local(reference, reference) {
        return local.map(Some).map_err(|e| bad(&e.to_string()));
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

/// Runs one step (a user's password from `resolved` when it is there, see [`resolve`]); a
/// certificate step returns its name and public facts (serial, not_after).
pub(super) async fn run(
    api: &Client,
    step: &Step,
    resolved: &BTreeMap<String, Secret>,
) -> Result<Option<(String, Value)>> {
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
                let password = resolve_with(api, reference, resolved)
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
        Step::Token { reference, step } => token(api, reference, *step, resolved).await?,
    }
    Ok(None)
}

/// Creates, re-creates or renews the metrics token whose value `reference` holds. The replies
/// (which echo the token) are dropped unread.
async fn token(
    api: &Client,
    reference: &str,
    step: TokenStep,
    resolved: &BTreeMap<String, Secret>,
) -> Result<()> {
    let token = resolve_with(api, reference, resolved)
        .await?
        .ok_or_else(|| Error::SecretRef {
            reference: reference.to_owned(),
            reason: "secret disappeared between plan and apply".into(),
        })?;
    let by_value = json!({"token": token.expose()});
    if step == TokenStep::Renew {
        api.expect("POST", "auth/token/renew", Some(&by_value))
            .await?;
        return Ok(());
    }
    if step == TokenStep::Recreate {
        api.expect("POST", "auth/token/revoke", Some(&by_value))
            .await?;
    }
    let body = json!({
        "id": token.expose(),
        "policies": [crate::metrics::POLICY],
        "no_default_policy": true,
        "period": format!("{}s", crate::metrics::TOKEN_PERIOD_SECS),
        "display_name": crate::metrics::TOKEN_DISPLAY_NAME,
        "renewable": true,
    });
    api.expect("POST", "auth/token/create-orphan", Some(&body))
        .await?;
    Ok(())
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
    rackpipe_cli::metrics::certificate_expiry(&cert.pki, &cert.name, inspected.not_after);
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
            "env:RACKPIPE_SURELY_UNSET_VARIABLE: environment variable RACKPIPE_SURELY_UNSET_VARIABLE is not set"
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
