//! The desired state built from the site's `vault` section, with the semantic checks that
//! must pass before anything is written (PKI domains, JWT audiences, policy syntax,
//! certificate references, ...).

use rackpipe_model::vault::{MountType, PkiCa, Vault, VaultImplementation};
use rackpipe_model::{Diagnostic, Site};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::hcl;

/// A secret engine mount.
#[derive(Debug, Clone, Serialize)]
pub struct MountSpec {
    /// Path without slashes, e.g. `kv`.
    pub path: String,
    /// Engine type as the API names it (`kv`, `pki`, `transit`).
    pub kind: String,
    /// Engine options (`{"version":"2"}` for KV v2).
    pub options: Map<String, Value>,
    /// Description.
    pub description: String,
    /// Maximum lease TTL in seconds, when managed.
    pub max_lease_ttl: Option<u64>,
}

/// An auth method mount.
#[derive(Debug, Clone, Serialize)]
pub struct AuthSpec {
    /// Path without slashes.
    pub path: String,
    /// Method type (`jwt`, `approle`, `userpass`).
    pub kind: String,
}

/// An ACL policy with its exact HCL body.
#[derive(Debug, Clone, Serialize)]
pub struct PolicySpec {
    /// Name.
    pub name: String,
    /// HCL text.
    pub text: String,
}

/// A CA of the PKI hierarchy.
#[derive(Debug, Clone, Serialize)]
pub struct CaSpec {
    /// PKI mount.
    pub mount: String,
    /// Issuer name (idempotency key).
    pub issuer_name: String,
    /// Mount and issuer name of the signing CA (absent: a root).
    pub signed_by: Option<(String, String)>,
    /// Body for `root/generate/internal` or `intermediate/generate/internal`.
    pub generate: Value,
    /// Validity in seconds (for signing the intermediate).
    pub ttl: u64,
    /// `config/urls` body, when managed.
    pub urls: Option<Value>,
    /// Roles: name and body.
    pub roles: Vec<(String, Value)>,
}

/// A userpass user; the password stays a reference until apply.
#[derive(Debug, Clone, Serialize)]
pub struct UserSpec {
    /// User name.
    pub name: String,
    /// Policies.
    pub token_policies: Vec<String>,
    /// Password reference (`env:`, `file:`, or `vault:` read from KV v2 on the same cluster),
    /// never the password.
    pub password_ref: String,
}

/// JWT auth (GitLab CI `id_tokens`).
#[derive(Debug, Clone, Serialize)]
pub struct JwtSpec {
    /// Mount path.
    pub path: String,
    /// `auth/<path>/config` body.
    pub config: Value,
    /// Roles: name and body.
    pub roles: Vec<(String, Value)>,
}

/// A leaf certificate issued from a PKI role into a KV v2 entry.
#[derive(Debug, Clone, Serialize)]
pub struct CertSpec {
    /// Name (from the site).
    pub name: String,
    /// PKI mount that issues it.
    pub pki: String,
    /// Role of that mount.
    pub role: String,
    /// Subject common name.
    pub common_name: String,
    /// More DNS names.
    pub alt_names: Vec<String>,
    /// IP SANs.
    pub ip_sans: Vec<String>,
    /// Requested validity in seconds (`None`: the role's).
    pub ttl: Option<u64>,
    /// Renew when less than this many seconds are left.
    pub renew_before: u64,
    /// KV v2 mount of the entry.
    pub store_mount: String,
    /// Path of the entry below the mount.
    pub store_path: String,
}

impl CertSpec {
    /// The KV v2 API path of the entry (`MOUNT/data/PATH`).
    #[must_use]
    pub fn kv_path(&self) -> String {
        format!("{}/data/{}", self.store_mount, self.store_path)
    }

    /// The issue endpoint (`PKI/issue/ROLE`).
    #[must_use]
    pub fn issue_path(&self) -> String {
        format!("{}/issue/{}", self.pki, self.role)
    }
}

/// Everything plan/apply manages.
#[derive(Debug, Clone, Serialize)]
pub struct Desired {
    /// Site name.
    pub site: String,
    /// OpenBao or Vault.
    pub implementation: String,
    /// Secret engines.
    pub mounts: Vec<MountSpec>,
    /// Auth methods.
    pub auth: Vec<AuthSpec>,
    /// Policies.
    pub policies: Vec<PolicySpec>,
    /// CAs, roots before the intermediates they sign.
    pub pki: Vec<CaSpec>,
    /// JWT auth.
    pub jwt: Option<JwtSpec>,
    /// AppRole roles: name and body.
    pub approles: Vec<(String, Value)>,
    /// Userpass users.
    pub users: Vec<UserSpec>,
    /// Audit devices (name, file); applied through the API only for HashiCorp Vault.
    pub audit: Vec<(String, String)>,
    /// Leaf certificates kept in KV, issued after the mounts and CAs exist.
    pub certificates: Vec<CertSpec>,
    /// The reference (never the value) of the token Prometheus reads `sys/metrics` with
    /// (`monitoring.targets.vault.token`); apply keeps a token of that value with the
    /// [`crate::metrics::POLICY`] policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<String>,
}

/// Builds the desired state; the first problem is the error.
///
/// # Errors
/// [`Error::Site`] naming the field path.
pub fn desired(site: &Site) -> Result<Desired> {
    let (d, problems) = build(site);
    match problems.into_iter().next() {
        Some((path, message)) => Err(Error::Site { path, message }),
        None => d.ok_or_else(|| Error::Site {
            path: "vault".into(),
            message: "the site has no vault section".into(),
        }),
    }
}

/// Every semantic problem of the `vault` section, as diagnostics.
#[must_use]
pub fn check(site: &Site) -> Vec<Diagnostic> {
    let mut problems = build(site).1;
    if let Some(v) = &site.vault {
        problems.extend(crate::render::storage_problem(v));
    }
    problems
        .into_iter()
        .map(|(path, message)| Diagnostic::error("vault", path, message))
        .collect()
}

fn trim(p: &str) -> String {
    p.trim_matches('/').to_owned()
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn in_domain(name: &str, domain: &str) -> bool {
    let name = name.trim_start_matches("*.").to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    name == domain || name.ends_with(&format!(".{domain}"))
}

fn build(site: &Site) -> (Option<Desired>, Vec<(String, String)>) {
    let mut problems = Vec::new();
    let Some(v) = site.vault.as_ref() else {
        return (
            None,
            vec![("vault".into(), "the site has no vault section".into())],
        );
    };
    let domain = site.metadata.domain.as_str();
    let mounts = mounts(v, &mut problems);
    let mut policies = policies(v, &mut problems);
    let metrics_token = crate::metrics::token_ref(site).map(|(r, _)| r.as_str().to_owned());
    if metrics_token.is_some() && !policies.iter().any(|p| p.name == crate::metrics::POLICY) {
        policies.push(PolicySpec {
            name: crate::metrics::POLICY.to_owned(),
            text: crate::metrics::POLICY_HCL.to_owned(),
        });
    }
    let pki = pki(v, &mounts, domain, &mut problems);
    let certificates = certificates(v, &mounts, &mut problems);
    let mut auth = Vec::new();
    let jwt = v.auth.gitlab_jwt.as_ref().map(|j| {
        let path = trim(&j.path);
        auth.push(AuthSpec { path: path.clone(), kind: "jwt".into() });
        let mut config = json!({"bound_issuer": j.issuer});
        if j.validation_pubkeys.is_empty() {
            let url = j.jwks_url.clone().unwrap_or_else(|| format!("{}/oauth/discovery/keys", j.issuer.trim_end_matches('/')));
            config["jwks_url"] = json!(url);
        } else {
            if j.jwks_url.is_some() {
                problems.push(("vault.auth.gitlab_jwt.jwks_url".into(), "give jwks_url or validation_pubkeys, not both".into()));
            }
            config["jwt_validation_pubkeys"] = json!(j.validation_pubkeys.iter().map(|k| k.trim().to_owned()).collect::<Vec<_>>());
        }
        let mut roles = Vec::new();
        for (i, r) in j.roles.iter().enumerate() {
            let at = format!("vault.auth.gitlab_jwt.roles[{i}]");
            if r.bound_audiences.is_empty() {
                problems.push((
                    format!("{at}.bound_audiences"),
                    "a JWT role needs bound_audiences (GitLab id_tokens carry `aud`; login fails without them)".into(),
                ));
            }
            if r.project_paths.is_empty() && r.project_ids.is_empty() {
                problems.push((
                    format!("{at}.project_paths"),
                    "a JWT role must bind project_paths or project_ids (otherwise every project can log in)".into(),
                ));
            }
            let mut claims = Map::new();
            if !r.project_paths.is_empty() {
                claims.insert("project_path".into(), json!(r.project_paths));
            }
            if !r.project_ids.is_empty() {
                claims.insert("project_id".into(), json!(strings(&r.project_ids)));
            }
            if r.protected_refs_only {
                // GitLab sends the claim as the string "true".
                claims.insert("ref_protected".into(), json!("true"));
            }
            if !r.refs.is_empty() {
                claims.insert("ref".into(), json!(r.refs));
            }
            let glob = r.project_paths.iter().chain(&r.refs).any(|s| s.contains('*'));
            let mut body = json!({
                "role_type": "jwt",
                "bound_audiences": r.bound_audiences,
                "user_claim": r.user_claim.clone().unwrap_or_else(|| "user_email".into()),
                "bound_claims_type": if glob { "glob" } else { "string" },
                "bound_claims": claims,
                "token_policies": strings(&r.policies),
            });
            if let Some(ttl) = &r.token_ttl {
                body["token_ttl"] = json!(ttl.as_secs());
            }
            roles.push((r.name.to_string(), body));
        }
        JwtSpec { path, config, roles }
    });
    let mut approles = Vec::new();
    if !v.auth.approles.is_empty() {
        auth.push(AuthSpec {
            path: "approle".into(),
            kind: "approle".into(),
        });
        for r in &v.auth.approles {
            let mut body = json!({"token_policies": strings(&r.policies)});
            if let Some(t) = &r.token_ttl {
                body["token_ttl"] = json!(t.as_secs());
            }
            if let Some(t) = &r.token_max_ttl {
                body["token_max_ttl"] = json!(t.as_secs());
            }
            if let Some(t) = &r.secret_id_ttl {
                body["secret_id_ttl"] = json!(t.as_secs());
            }
            approles.push((r.name.to_string(), body));
        }
    }
    let mut users = Vec::new();
    if !v.auth.users.is_empty() {
        auth.push(AuthSpec {
            path: "userpass".into(),
            kind: "userpass".into(),
        });
        for u in &v.auth.users {
            users.push(UserSpec {
                name: u.name.to_string(),
                token_policies: strings(&u.policies),
                password_ref: u.password.as_str().to_owned(),
            });
        }
    }
    let d = Desired {
        site: site.metadata.name.to_string(),
        implementation: match v.implementation {
            VaultImplementation::Openbao => "openbao".into(),
            VaultImplementation::Vault => "vault".into(),
        },
        mounts,
        auth,
        policies,
        pki,
        jwt,
        approles,
        users,
        audit: v
            .audit
            .iter()
            .map(|a| (a.name.to_string(), a.file.clone()))
            .collect(),
        certificates,
        metrics_token,
    };
    (Some(d), problems)
}

fn mounts(v: &Vault, problems: &mut Vec<(String, String)>) -> Vec<MountSpec> {
    let mut out: Vec<MountSpec> = Vec::new();
    for (i, m) in v.mounts.iter().enumerate() {
        let path = trim(&m.path);
        if path.is_empty() || ["sys", "cubbyhole", "identity", "auth"].contains(&path.as_str()) {
            problems.push((
                format!("vault.mounts[{i}].path"),
                format!("{:?} is reserved or empty", m.path),
            ));
        }
        if out.iter().any(|o| o.path == path) {
            problems.push((
                format!("vault.mounts[{i}].path"),
                format!("mount {path:?} is declared twice"),
            ));
        }
        let (kind, options) = match m.kind {
            MountType::KvV2 => ("kv", json!({"version": "2"})),
            MountType::Kv => ("kv", json!({"version": "1"})),
            MountType::Pki => ("pki", json!({})),
            MountType::Transit => ("transit", json!({})),
        };
        out.push(MountSpec {
            path,
            kind: kind.into(),
            options: options.as_object().cloned().unwrap_or_default(),
            description: m.description.clone().unwrap_or_default(),
            max_lease_ttl: m
                .max_lease_ttl
                .as_ref()
                .map(rackpipe_model::types::Duration::as_secs),
        });
    }
    out
}

fn policies(v: &Vault, problems: &mut Vec<(String, String)>) -> Vec<PolicySpec> {
    let mut out = Vec::new();
    for (i, p) in v.policies.iter().enumerate() {
        let at = format!("vault.policies[{i}]");
        if ["root", "default", "default-ceiling"].contains(&p.name.as_str()) {
            problems.push((
                format!("{at}.name"),
                format!("{:?} is a built-in policy", p.name.as_str()),
            ));
        }
        let text = match (&p.hcl, p.paths.is_empty()) {
            (Some(_), false) => {
                problems.push((at.clone(), "give paths or hcl, not both".into()));
                continue;
            }
            (None, true) => {
                problems.push((
                    format!("{at}.paths"),
                    "a policy needs paths (or hcl)".into(),
                ));
                continue;
            }
            (Some(text), true) => {
                if let Err(e) = hcl::check_policy(text) {
                    problems.push((format!("{at}.hcl"), format!("invalid policy HCL: {e}")));
                }
                let mut t = text.trim().to_owned();
                t.push('\n');
                t
            }
            (None, false) => hcl::render_policy(&p.paths),
        };
        out.push(PolicySpec {
            name: p.name.to_string(),
            text,
        });
    }
    out
}

fn pki(
    v: &Vault,
    mounts: &[MountSpec],
    domain: &str,
    problems: &mut Vec<(String, String)>,
) -> Vec<CaSpec> {
    let issuer_of = |ca: &PkiCa| {
        ca.issuer_name
            .clone()
            .unwrap_or_else(|| trim(&ca.mount).replace('/', "-"))
    };
    let mut specs = Vec::new();
    for (i, ca) in v.pki.iter().enumerate() {
        let at = format!("vault.pki[{i}]");
        let mount = trim(&ca.mount);
        if !mounts.iter().any(|m| m.path == mount && m.kind == "pki") {
            problems.push((
                format!("{at}.mount"),
                format!("{mount:?} is not a pki mount in vault.mounts"),
            ));
        }
        let signed_by = match &ca.signed_by {
            None => None,
            Some(parent) => {
                let parent = trim(parent);
                match v.pki.iter().find(|p| trim(&p.mount) == parent) {
                    Some(p) if parent != mount => Some((parent, issuer_of(p))),
                    _ => {
                        problems.push((
                            format!("{at}.signed_by"),
                            format!("{parent:?} is not another CA of vault.pki"),
                        ));
                        None
                    }
                }
            }
        };
        let mut generate = json!({
            "common_name": ca.common_name,
            "issuer_name": issuer_of(ca),
            "key_type": ca.key_type,
            "key_bits": ca.key_bits,
            "ttl": ca.ttl.as_secs(),
        });
        if let Some(o) = &ca.organization {
            generate["organization"] = json!(o);
        }
        if let Some(c) = &ca.country {
            generate["country"] = json!(c);
        }
        let urls = ca.urls_base.as_ref().map(|base| {
            let base = base.trim_end_matches('/');
            json!({
                "issuing_certificates": [format!("{base}/v1/{mount}/ca")],
                "crl_distribution_points": [format!("{base}/v1/{mount}/crl")],
            })
        });
        let mut roles = Vec::new();
        for (j, r) in ca.roles.iter().enumerate() {
            for (k, d) in r.allowed_domains.iter().enumerate() {
                if !in_domain(d.as_str(), domain) {
                    problems.push((
                        format!("{at}.roles[{j}].allowed_domains[{k}]"),
                        format!("{:?} is outside the site's domain {domain:?}", d.as_str()),
                    ));
                }
            }
            if r.ttl.as_secs() > r.max_ttl.as_secs() {
                problems.push((
                    format!("{at}.roles[{j}].ttl"),
                    "ttl is longer than max_ttl".into(),
                ));
            }
            roles.push((
                r.name.to_string(),
                json!({
                    "allowed_domains": strings(&r.allowed_domains),
                    "allow_subdomains": r.allow_subdomains,
                    "allow_bare_domains": r.allow_bare_domains,
                    "allow_ip_sans": r.allow_ip_sans,
                    "server_flag": r.server_flag,
                    "client_flag": r.client_flag,
                    "ttl": r.ttl.as_secs(),
                    "max_ttl": r.max_ttl.as_secs(),
                }),
            ));
        }
        specs.push(CaSpec {
            mount,
            issuer_name: issuer_of(ca),
            signed_by,
            generate,
            ttl: ca.ttl.as_secs(),
            urls,
            roles,
        });
    }
    // Roots first, then CAs whose parent is already placed.
    let mut ordered: Vec<CaSpec> = Vec::new();
    let mut rest = specs;
    while !rest.is_empty() {
        let before = rest.len();
        let (ready, wait): (Vec<_>, Vec<_>) = rest.into_iter().partition(|c| match &c.signed_by {
            None => true,
            Some((parent, _)) => ordered.iter().any(|o| &o.mount == parent),
        });
        ordered.extend(ready);
        rest = wait;
        if rest.len() == before {
            problems.push(("vault.pki".into(), "signed_by forms a cycle".into()));
            break;
        }
    }
    ordered
}

fn certificates(
    v: &Vault,
    mounts: &[MountSpec],
    problems: &mut Vec<(String, String)>,
) -> Vec<CertSpec> {
    let mut out: Vec<CertSpec> = Vec::new();
    for (i, c) in v.certificates.iter().enumerate() {
        let at = format!("vault.certificates[{i}]");
        let pki = trim(&c.pki);
        if out.iter().any(|o| o.name == c.name.as_str()) {
            problems.push((
                format!("{at}.name"),
                format!("duplicate certificate name {:?}", c.name.as_str()),
            ));
        }
        let ca = v.pki.iter().find(|ca| trim(&ca.mount) == pki);
        let role = ca.and_then(|ca| ca.roles.iter().find(|r| r.name == c.role));
        if !mounts.iter().any(|m| m.path == pki && m.kind == "pki") {
            problems.push((
                format!("{at}.pki"),
                format!("{pki:?} is not a pki mount in vault.mounts"),
            ));
        } else if ca.is_none() {
            problems.push((
                format!("{at}.pki"),
                format!("no CA at mount {pki:?} in vault.pki"),
            ));
        } else if role.is_none() {
            problems.push((
                format!("{at}.role"),
                format!("unknown role {:?} in pki {pki:?}", c.role.as_str()),
            ));
        }
        let store_mount = trim(&c.store.mount);
        let store_path = trim(&c.store.path);
        match mounts.iter().find(|m| m.path == store_mount) {
            None => problems.push((
                format!("{at}.store.mount"),
                format!("no mount {store_mount:?} in vault.mounts"),
            )),
            Some(m) if m.kind != "kv" || m.options.get("version") != Some(&json!("2")) => {
                problems.push((
                    format!("{at}.store.mount"),
                    format!("{store_mount:?} is not a kv-v2 mount"),
                ));
            }
            Some(_) => {}
        }
        if store_path.is_empty() {
            problems.push((format!("{at}.store.path"), "the KV path is empty".into()));
        }
        if out
            .iter()
            .any(|o| o.store_mount == store_mount && o.store_path == store_path)
        {
            problems.push((
                format!("{at}.store.path"),
                format!("another certificate is stored at {store_mount}/{store_path}"),
            ));
        }
        let role_ttl = role.map(|r| &r.ttl);
        let renew_before = c.renew_before_secs(role_ttl);
        if let Some(ttl) = c.ttl_secs(role_ttl)
            && renew_before >= ttl
        {
            problems.push((
                format!("{at}.renew_before"),
                format!("renew_before ({renew_before}s) is not shorter than the validity ({ttl}s); every apply would renew"),
            ));
        }
        out.push(CertSpec {
            name: c.name.to_string(),
            pki,
            role: c.role.to_string(),
            common_name: c.common_name.trim().to_owned(),
            alt_names: c.alt_names.iter().map(|n| n.trim().to_owned()).collect(),
            ip_sans: strings(&c.ip_sans),
            ttl: c.ttl.as_ref().map(rackpipe_model::types::Duration::as_secs),
            renew_before,
            store_mount,
            store_path,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert!(in_domain("rachuna-net.pl", "rachuna-net.pl"));
        assert!(in_domain("svc.rachuna-net.pl", "rachuna-net.pl"));
        assert!(!in_domain("evilrachuna-net.pl", "rachuna-net.pl"));
        assert!(!in_domain("example.com", "rachuna-net.pl"));
    }
}
