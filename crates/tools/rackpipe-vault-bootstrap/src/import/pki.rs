//! PKI mounts: the default issuer's certificate, `config/urls` and roles as site entries.

use serde_json::{Map, Value, json};
use x509_parser::prelude::{FromDer as _, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::{Reader, duration, lost_fields, strings};
use crate::error::Result;

impl Reader<'_> {
    /// Each PKI mount's default issuer (with what its certificate says), URLs and roles.
    pub(crate) async fn pki(&mut self, mounts: &[String]) -> Result<Vec<Value>> {
        let mut cas: Vec<(Value, Vec<u8>, Vec<u8>)> = Vec::new();
        for mount in mounts {
            let denied = self.report.unreadable.len();
            let Some(issuer) = self.data(&format!("{mount}/issuer/default")).await? else {
                if self.report.unreadable.len() > denied {
                    continue;
                }
                self.skip(
                    format!("{mount}/issuer/default"),
                    "no default issuer: no CA imported for this mount",
                );
                continue;
            };
            let name = issuer["issuer_name"].as_str().unwrap_or_default();
            if name.is_empty() {
                self.skip(
                    format!("{mount}/issuer/default"),
                    "the default issuer has no name (the plan finds a CA by its issuer name)",
                );
                continue;
            }
            let pem = issuer["certificate"].as_str().unwrap_or_default();
            let Some(cert) = ca_facts(pem) else {
                self.skip(
                    format!("{mount}/issuer/default"),
                    "its certificate does not parse",
                );
                continue;
            };
            let mut ca = json!({
                "mount": mount,
                "common_name": cert.common_name,
                "key_type": cert.key_type,
                "key_bits": cert.key_bits,
                "ttl": duration(cert.validity),
            });
            if name != mount.replace('/', "-") {
                ca["issuer_name"] = json!(name);
            }
            if let Some(o) = cert.organization {
                ca["organization"] = json!(o);
            }
            if let Some(c) = cert.country {
                ca["country"] = json!(c);
            }
            let urls_path = format!("{mount}/config/urls");
            if let Some(urls) = self.data(&urls_path).await? {
                match urls_base(mount, &urls) {
                    Ok(Some(base)) => ca["urls_base"] = json!(base),
                    Ok(None) => {}
                    Err(why) => self.skip(urls_path, why),
                }
            }
            let mut roles = Vec::new();
            for role in self.list(&format!("{mount}/roles")).await? {
                let path = format!("{mount}/roles/{role}");
                if let Some(data) = self.data(&path).await? {
                    match pki_role(&role, &data) {
                        Ok((value, lost)) => {
                            if !lost.is_empty() {
                                self.skip(path, format!("role imported without {} (no model field; an apply that changes this role resets them)", lost.join(", ")));
                            }
                            roles.push(value);
                        }
                        Err(why) => self.skip(path, why),
                    }
                }
            }
            ca["roles"] = json!(roles);
            cas.push((ca, cert.subject, cert.issuer));
        }
        // An intermediate names the CA of this cluster whose subject is its issuer.
        let subjects: Vec<(String, Vec<u8>)> = cas
            .iter()
            .map(|(ca, subject, _)| {
                (
                    ca["mount"].as_str().unwrap_or_default().to_owned(),
                    subject.clone(),
                )
            })
            .collect();
        let mut out = Vec::new();
        for (mut ca, subject, issuer) in cas {
            if issuer != subject {
                let mount = ca["mount"].as_str().unwrap_or_default().to_owned();
                match subjects.iter().find(|(m, s)| *s == issuer && *m != mount) {
                    Some((parent, _)) => ca["signed_by"] = json!(parent),
                    None => self.report.choices.push(format!(
                        "vault.pki {mount}: signed by a CA outside this cluster; imported as a root (the plan only checks the issuer exists)"
                    )),
                }
            }
            out.push(ca);
        }
        Ok(out)
    }
}

/// `config/urls` as the model's `urls_base` (`BASE/v1/MOUNT/ca` and `.../crl`); `Ok(None)`
/// when no URL is set.
fn urls_base(mount: &str, urls: &Value) -> std::result::Result<Option<String>, String> {
    let issuing = strings(&urls["issuing_certificates"]);
    let crl = strings(&urls["crl_distribution_points"]);
    let ocsp = strings(&urls["ocsp_servers"]);
    if issuing.is_empty() && crl.is_empty() && ocsp.is_empty() {
        return Ok(None);
    }
    let suffix = format!("/v1/{mount}/ca");
    if let ([one], [crl_one], []) = (&issuing[..], &crl[..], &ocsp[..])
        && let Some(base) = one.strip_suffix(&suffix)
        && *crl_one == format!("{base}/v1/{mount}/crl")
    {
        return Ok(Some(base.to_owned()));
    }
    Err("URLs the model cannot say (it writes one BASE/v1/MOUNT/ca and one BASE/v1/MOUNT/crl, no OCSP); the plan leaves them as they are".to_owned())
}

fn pki_role(name: &str, data: &Value) -> std::result::Result<(Value, Vec<String>), String> {
    let secs = |k: &str| data[k].as_u64().unwrap_or(0);
    let (ttl, max_ttl) = (secs("ttl"), secs("max_ttl"));
    if max_ttl == 0 {
        return Err(
            "no max_ttl (the model needs one; the mount's default is not in the site)".to_owned(),
        );
    }
    let flag = |k: &str| data[k].as_bool().unwrap_or(false);
    let role = json!({
        "name": name,
        "allowed_domains": strings(&data["allowed_domains"]),
        "allow_subdomains": flag("allow_subdomains"),
        "allow_bare_domains": flag("allow_bare_domains"),
        "allow_ip_sans": flag("allow_ip_sans"),
        "server_flag": flag("server_flag"),
        "client_flag": flag("client_flag"),
        "ttl": duration(ttl),
        "max_ttl": duration(max_ttl),
    });
    let lost = lost_fields(
        data,
        &[
            ("allow_any_name", json!(false)),
            ("allow_glob_domains", json!(false)),
            ("allow_localhost", json!(true)),
            ("enforce_hostnames", json!(true)),
            ("code_signing_flag", json!(false)),
            ("email_protection_flag", json!(false)),
            ("key_type", json!("rsa")),
            ("key_bits", json!(2048)),
            ("no_store", json!(false)),
            ("require_cn", json!(true)),
            ("ou", Value::Null),
            ("organization", Value::Null),
            ("country", Value::Null),
            ("allowed_uri_sans", Value::Null),
            ("allowed_other_sans", Value::Null),
            ("ext_key_usage", Value::Null),
        ],
    );
    Ok((role, lost))
}

/// What a CA certificate says that the model holds.
struct CaFacts {
    common_name: String,
    organization: Option<String>,
    country: Option<String>,
    key_type: String,
    key_bits: usize,
    validity: u64,
    subject: Vec<u8>,
    issuer: Vec<u8>,
}

fn ca_facts(pem: &str) -> Option<CaFacts> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.trim().as_bytes()).ok()?;
    let (_, cert) = X509Certificate::from_der(&pem.contents).ok()?;
    let first = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
        it.next().and_then(|a| a.as_str().ok()).map(str::to_owned)
    };
    let subject = cert.subject();
    let (key_type, key_bits) = match cert.public_key().parsed().ok()? {
        PublicKey::RSA(k) => ("rsa", k.key_size()),
        PublicKey::EC(p) => ("ec", p.key_size()),
        _ => ("ed25519", 0),
    };
    let validity = cert.validity();
    Some(CaFacts {
        common_name: first(&mut subject.iter_common_name())?,
        organization: first(&mut subject.iter_organization()),
        country: first(&mut subject.iter_country()),
        key_type: key_type.to_owned(),
        key_bits,
        validity: u64::try_from(validity.not_after.timestamp() - validity.not_before.timestamp())
            .unwrap_or(0),
        subject: subject.as_raw().to_vec(),
        issuer: cert.issuer().as_raw().to_vec(),
    })
}

/// The domain every PKI role's allowed domains lie in (the shortest of them), else
/// `example.invalid`.
pub(crate) fn shared_domain(vault: &Map<String, Value>) -> String {
    let domains: Vec<String> = vault["pki"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|ca| ca["roles"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| strings(&r["allowed_domains"]))
        .map(|d| d.trim_start_matches("*.").to_ascii_lowercase())
        .collect();
    let Some(shortest) = domains.iter().min_by_key(|d| d.len()) else {
        return "example.invalid".to_owned();
    };
    let inside = |d: &String| d == shortest || d.ends_with(&format!(".{shortest}"));
    if domains.iter().all(inside) {
        shortest.clone()
    } else {
        "example.invalid".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_a_base_or_a_reason() {
        let urls = json!({"issuing_certificates": ["https://v.x/v1/pki/ca"],
            "crl_distribution_points": ["https://v.x/v1/pki/crl"], "ocsp_servers": []});
        assert_eq!(urls_base("pki", &urls), Ok(Some("https://v.x".to_owned())));
        assert_eq!(urls_base("pki", &json!({})), Ok(None));
        let other = json!({"issuing_certificates": ["https://other/ca.pem"]});
        assert!(urls_base("pki", &other).is_err());
    }

    #[test]
    fn the_domain_is_the_one_all_roles_share() {
        let vault = json!({"pki": [{"roles": [{"allowed_domains": ["a.x.pl", "x.pl"]}]}]});
        assert_eq!(shared_domain(vault.as_object().unwrap()), "x.pl");
        let vault = json!({"pki": [{"roles": [{"allowed_domains": ["a.pl", "b.pl"]}]}]});
        assert_eq!(shared_domain(vault.as_object().unwrap()), "example.invalid");
    }
}
