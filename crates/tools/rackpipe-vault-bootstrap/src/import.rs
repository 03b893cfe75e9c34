//! `vault-bootstrap import`: a site whose `vault` section describes a running Vault or
//! OpenBao, so that `vault-bootstrap plan` of it against the same cluster shows no changes.
//!
//! It reads what the plan reads, through the same [`Client`] calls (`sys/mounts`, `sys/auth`,
//! the ACL policies, each PKI mount's default issuer, `config/urls` and roles, the JWT config
//! and roles, AppRoles, userpass users), and maps each object to the model's fields where it
//! fits. Then the result is checked the way it will be used: an object the site checks refuse
//! (`rackpipe_model::validate` and [`crate::check`]) is moved to *not imported*, with the
//! check's message, until the site validates; and the plan of the site against the cluster
//! it came from must be empty.
//!
//! Never a secret value: no KV data is read, no key or token is printed; a userpass user's
//! password becomes a secret reference (`env:VAULT_USERPASS_<USER>`), listed in the report.
//! A path the token may not read (HTTP 403) is named in the report; the rest is imported and
//! the command exits non-zero.

use rackpipe_model::Site;
use rackpipe_model::documents::{
    ImportCounts, ImportEntry, ImportReport, ImportStatus, SecretToStore,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::client::{Client, keys_of};
use crate::error::{Error, Result};
use crate::plan::{PlanOptions, plan};

use pki::shared_domain;

mod auth;
mod mounts;
mod pki;

/// What the import is told (the placeholders the cluster cannot tell).
#[derive(Debug, Clone)]
pub struct Options {
    /// `metadata.name` of the imported site.
    pub name: String,
    /// `metadata.domain`; `None`: the domain the PKI roles' allowed domains share.
    pub domain: Option<String>,
    /// `vault.fqdn`; `None`: the host of the URL read, when it is a name, else `vault.DOMAIN`.
    pub fqdn: Option<String>,
    /// The variable prefix of the userpass password references (`env:PREFIX_<USER>`).
    pub secret_prefix: String,
    /// `openbao` or `vault`.
    pub implementation: String,
    /// A site to import into: its sections and its `vault` nodes, storage, TLS, seal, audit
    /// and certificates are kept, the imported mounts, PKI, policies and auth replace its own.
    pub base: Option<Site>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name: "imported".to_owned(),
            domain: None,
            fqdn: None,
            secret_prefix: "VAULT_USERPASS".to_owned(),
            implementation: "openbao".to_owned(),
            base: None,
        }
    }
}

/// A secret the import replaced by a reference: the user must store the value there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretEntry {
    /// The reference written into the site.
    pub reference: String,
    /// The API path it stands for (`auth/userpass/users/NAME`), and the property.
    pub path: String,
}

/// An object that is not in the site, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotImported {
    /// API path of the object (`sys/auth/ldap`, `pki/roles/web`).
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Objects by kind that landed in the site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Secret engine mounts.
    pub mounts: usize,
    /// ACL policies.
    pub policies: usize,
    /// PKI CAs.
    pub cas: usize,
    /// Roles (PKI, JWT, AppRole) and userpass users.
    pub roles: usize,
}

/// What the import did: stderr, or JSON with `--report FILE`. Never holds a secret value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The API URL read.
    pub source: String,
    /// Objects in the site.
    pub counts: Counts,
    /// Every secret reference the user must store.
    pub secrets: Vec<SecretEntry>,
    /// Placeholders and choices the import made, one line each.
    pub choices: Vec<String>,
    /// API paths the token may not read (HTTP 403): what is behind them is not in the site.
    pub unreadable: Vec<String>,
    /// Objects not imported, with why (the plan leaves them as they are).
    pub not_imported: Vec<NotImported>,
    /// Changes the plan of the imported site still shows against the cluster (empty unless
    /// the model cannot say something the import did not notice); `None`: not checked
    /// (some path was unreadable).
    pub plan_changes: Option<Vec<String>>,
}

impl Report {
    /// Whether the import is complete: every path readable and the plan of the site empty.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.unreadable.is_empty() && self.plan_changes.as_ref().is_some_and(Vec::is_empty)
    }

    /// The report as the one import document ([`ImportReport`], `--report FILE`) of the site
    /// named `site`: objects in the site by kind, each object not imported with why, the
    /// unreadable paths, the secret references, the plan check.
    #[must_use]
    pub fn document(&self, site: &str) -> ImportReport {
        let c = &self.counts;
        let typed = c.mounts + c.policies + c.cas + c.roles;
        let mut d = ImportReport::new("vault-bootstrap", site, &self.source, "objects", &["vault"]);
        d.counts = ImportCounts {
            total: typed + self.not_imported.len(),
            typed,
            generic: 0,
            partly: 0,
            not_imported: self.not_imported.len(),
        };
        for (kind, n) in [
            ("mounts", c.mounts),
            ("policies", c.policies),
            ("CAs", c.cas),
            ("roles and users", c.roles),
        ] {
            d.objects.insert(kind.to_owned(), n);
        }
        d.entries = self
            .not_imported
            .iter()
            .map(|n| ImportEntry {
                status: ImportStatus::NotImported,
                what: n.path.clone(),
                location: None,
                reasons: vec![n.reason.clone()],
                count: None,
            })
            .collect();
        d.secrets = self
            .secrets
            .iter()
            .map(|e| SecretToStore {
                reference: e.reference.clone(),
                stands_for: e.path.clone(),
                location: None,
                in_site: true,
            })
            .collect();
        d.choices.clone_from(&self.choices);
        d.unreadable.clone_from(&self.unreadable);
        d.plan_changes.clone_from(&self.plan_changes);
        d.complete = self.complete();
        d
    }

    /// The report as lines for a person (stderr): [`ImportReport::human`].
    #[must_use]
    pub fn human(&self) -> String {
        self.document("").human()
    }
}

/// An imported site: the model, its YAML and this tool's report.
pub type Imported = rackpipe_model::documents::import::Imported<Report>;

/// Reads the cluster behind `api` (logged in) and returns the site describing it.
///
/// # Errors
/// Transport errors, a sealed or uninitialised cluster, an error status other than 403 and
/// 404, and an imported site that does not validate or read back (a bug, reported instead of
/// printing a broken site).
pub async fn import(api: &Client, options: &Options) -> Result<Imported> {
    let mut r = Reader {
        api,
        report: Report {
            source: api.url().to_owned(),
            ..Report::default()
        },
    };
    let mut vault = Map::new();
    vault.insert("implementation".into(), json!(options.implementation));
    vault.insert("mounts".into(), json!(r.mounts().await?));
    let pki_mounts: Vec<String> = vault["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"] == "pki")
        .filter_map(|m| m["path"].as_str().map(str::to_owned))
        .collect();
    vault.insert("pki".into(), json!(r.pki(&pki_mounts).await?));
    vault.insert("policies".into(), json!(r.policies().await?));
    vault.insert("auth".into(), r.auth(&options.secret_prefix).await?);
    let domain = options
        .domain
        .clone()
        .unwrap_or_else(|| shared_domain(&vault));
    let fqdn = options
        .fqdn
        .clone()
        .or_else(|| url_host(api.url()))
        .unwrap_or_else(|| format!("vault.{domain}"));
    let placeholders = json!({
        "fqdn": fqdn,
        "nodes": (1..=3).map(|n| json!({"name": format!("vault-{n}"), "guest": format!("vault-{n}")})).collect::<Vec<_>>(),
        "storage": {"backend": "raft", "path": "/opt/openbao/data"},
        "tls": {
            "cert_file": "/etc/openbao/tls/server.crt",
            "key_file": "/etc/openbao/tls/server.key",
            "ca_file": "/etc/openbao/tls/ca.crt",
        },
    });
    if options.base.is_none() {
        for (k, v) in placeholders.as_object().into_iter().flatten() {
            vault.insert(k.clone(), v.clone());
        }
    }
    let mut document = if let Some(base) = &options.base {
        let mut document =
            serde_json::to_value(base).map_err(|e| Error::Input(format!("internal: {e}")))?;
        if let Some(target) = document.get_mut("vault").and_then(Value::as_object_mut) {
            for (k, v) in vault {
                target.insert(k, v);
            }
        } else {
            return Err(Error::Usage(
                "--site: the site has no vault section to import into".to_owned(),
            ));
        }
        document
    } else {
        r.report.choices.push(
            "placeholders: metadata, vault.fqdn, vault.nodes, vault.storage and vault.tls (the API does not tell them); set them: `validate` reports vault.nodes[N].guest until the site's proxmox section has those guests (or import into it with --site)".to_owned(),
        );
        json!({
            "apiVersion": "rackpipe/v1",
            "kind": "Site",
            "metadata": {"name": options.name, "domain": domain},
            "vault": Value::Object(vault),
        })
    };
    let site = r.settle(&mut document)?;
    r.count(&document);
    let yaml = write_yaml(&site, &r.report, options.base.is_none());
    let read_back: Site = serde_saphyr::from_str(&yaml)
        .map_err(|e| Error::Input(format!("the imported YAML does not read back: {e}")))?;
    if read_back != site {
        return Err(Error::Input(
            "the imported site does not read back as itself (a bug of the import)".to_owned(),
        ));
    }
    r.report.plan_changes = if r.report.unreadable.is_empty() {
        let want = crate::desired::desired(&site)?;
        let p = plan(api, &want, &PlanOptions::default()).await?;
        Some(
            p.changes
                .iter()
                .map(|c| format!("{:?} {}", c.action, c.resource).to_lowercase())
                .collect(),
        )
    } else {
        None
    };
    Ok(Imported {
        site,
        yaml,
        report: r.report,
    })
}

struct Reader<'a> {
    api: &'a Client,
    report: Report,
}

impl Reader<'_> {
    fn skip(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.report.not_imported.push(NotImported {
            path: path.into(),
            reason: reason.into(),
        });
    }

    /// `method path`: `None` for 404, and for 403 (the path is then listed as unreadable).
    async fn get(&mut self, method: &str, path: &str) -> Result<Option<Value>> {
        let reply = self.api.call(method, path, None).await?;
        match reply.status {
            404 => Ok(None),
            403 => {
                self.report.unreadable.push(format!("{method} {path}"));
                Ok(None)
            }
            _ if reply.ok() => Ok(Some(reply.body)),
            _ => Err(self.api.api_error(method, path, &reply)),
        }
    }

    async fn list(&mut self, path: &str) -> Result<Vec<String>> {
        Ok(self
            .get("LIST", path)
            .await?
            .map(|body| keys_of(&body))
            .unwrap_or_default())
    }

    async fn data(&mut self, path: &str) -> Result<Option<Value>> {
        Ok(self.get("GET", path).await?.map(|b| b["data"].clone()))
    }

    /// Validates the document, moving every object a check refuses to *not imported*, until
    /// it validates.
    fn settle(&mut self, document: &mut Value) -> Result<Site> {
        for _ in 0..64 {
            let site: Site = serde_json::from_value(document.clone()).map_err(|e| {
                Error::Input(format!("the imported site does not fit the model: {e}"))
            })?;
            let mut problems: Vec<(String, String)> =
                rackpipe_model::validate::validate(&site, document)
                    .into_iter()
                    .chain(crate::check(&site))
                    .filter(|d| d.is_error() && !placeholder(&d.path))
                    .map(|d| (d.path, d.message))
                    .collect();
            let Some((path, message)) = problems.drain(..).next() else {
                return Ok(site);
            };
            let Some((pointer, api_path)) = removable(document, &path) else {
                return Err(Error::Input(format!(
                    "the imported site does not validate: {path}: {message}"
                )));
            };
            if let Some((list, index)) = pointer.rsplit_once('/')
                && let Ok(index) = index.parse::<usize>()
                && let Some(items) = document.pointer_mut(list).and_then(Value::as_array_mut)
            {
                items.remove(index);
            }
            self.skip(
                api_path,
                format!("the site check refuses it: {path}: {message}"),
            );
        }
        Err(Error::Input(
            "the imported site does not settle (a bug of the import)".to_owned(),
        ))
    }

    fn count(&mut self, document: &Value) {
        let len = |p: &str| {
            document
                .pointer(p)
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        };
        let pki_roles: usize = document
            .pointer("/vault/pki")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|ca| ca["roles"].as_array().map_or(0, Vec::len))
            .sum();
        self.report.counts = Counts {
            mounts: len("/vault/mounts"),
            policies: len("/vault/policies"),
            cas: len("/vault/pki"),
            roles: pki_roles
                + len("/vault/auth/gitlab_jwt/roles")
                + len("/vault/auth/approles")
                + len("/vault/auth/users"),
        };
    }
}

/// `vault-bootstrap import`'s flags: the connection and credentials of `plan` (`--url` is
/// required: there is no site to derive it from), the placeholders and the report file.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    connection: crate::tool::ConnectionArgs,
    #[command(flatten)]
    auth: crate::tool::Auth,
    /// `metadata.name` of the imported site.
    #[arg(long, value_name = "NAME", default_value = "imported")]
    name: String,
    /// `metadata.domain` (default: the domain the PKI roles' allowed domains share).
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,
    /// `vault.fqdn` (default: the `--url` host when it is a name, else `vault.DOMAIN`).
    #[arg(long, value_name = "FQDN")]
    fqdn: Option<String>,
    /// Import into this site: its other sections and its vault nodes, storage, TLS, seal,
    /// audit and certificates are kept; the whole site is printed.
    #[arg(long, value_name = "FILE")]
    site: Option<std::path::PathBuf>,
    /// Which server runs the cluster: `openbao` or `vault`.
    #[arg(long, value_name = "KIND", default_value = "openbao", value_parser = ["openbao", "vault"])]
    implementation: String,
    /// Userpass passwords become `env:PREFIX_<USER>` references.
    #[arg(long, value_name = "PREFIX", default_value = "VAULT_USERPASS")]
    secret_prefix: String,
    /// Where the site and the report go (`--report FILE`, `--into SITE_FILE`; with `--into`
    /// and no `--site`, that file is also the site imported into).
    #[command(flatten)]
    output: rackpipe_cli::ImportOutputArgs,
}

/// Runs `import`: the site on stdout (YAML), the report on stderr or in `--report FILE`.
/// Exits 1 (after printing the site) when a path was unreadable or the plan of the imported
/// site is not empty.
///
/// # Errors
/// Usage errors, connection and login errors, a failing read, an unwritable report.
pub async fn run(
    args: &ImportArgs,
) -> std::result::Result<rackpipe_cli::ExitStatus, rackpipe_cli::CliError> {
    use rackpipe_cli::CliError;
    let connection = args.connection.connection();
    if connection.url.is_none() {
        return Err(CliError::usage(
            "import needs --url URL (the cluster's API address)",
        ));
    }
    let credentials = args.auth.credentials();
    credentials.require()?;
    // The site is only needed to reach the cluster: one placeholder node, the --url.
    let reach: Site = serde_json::from_value(json!({
        "apiVersion": "rackpipe/v1", "kind": "Site",
        "metadata": {"name": args.name, "domain": "example.invalid"},
        "vault": {"fqdn": "vault.example.invalid", "nodes": [{"name": "vault-1", "guest": "vault-1"}],
            "storage": {"backend": "raft", "path": "/opt/openbao/data"},
            "tls": {"cert_file": "/c", "key_file": "/k", "ca_file": "/a"}},
    }))
    .map_err(|e| CliError::error(format!("internal: {e}")))?;
    let cluster = connection.cluster(&reach)?;
    let api = connection.api_client(&reach, &cluster).await?;
    let api = credentials.authenticate(&reach, api).await?;
    let options = Options {
        name: args.name.clone(),
        domain: args.domain.clone(),
        fqdn: args.fqdn.clone(),
        secret_prefix: args.secret_prefix.clone(),
        implementation: args.implementation.clone(),
        base: match args.site.as_ref().or(args.output.into.as_ref()) {
            Some(path) => {
                let (name, bytes) = rackpipe_cli::read_input(Some(path))?;
                let loaded = rackpipe_model::load::load_and_validate(&name, &bytes)
                    .map_err(|e| CliError::usage(e.to_string()))?;
                Some(loaded.site)
            }
            None => None,
        },
    };
    let imported = import(&api, &options).await?;
    rackpipe_cli::emit_import(
        &imported
            .report
            .document(imported.site.metadata.name.as_str()),
        &imported.yaml,
        &args.output,
    )?;
    if imported.report.complete() {
        Ok(rackpipe_cli::ExitStatus::Success)
    } else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "import incomplete: {} unreadable paths{}; the site above holds the rest",
                imported.report.unreadable.len(),
                if imported
                    .report
                    .plan_changes
                    .as_ref()
                    .is_some_and(|c| !c.is_empty())
                {
                    ", and its plan is not empty"
                } else {
                    ""
                }
            );
        }
        Ok(rackpipe_cli::ExitStatus::Error)
    }
}

/// Whether a finding is about the placeholders (the nodes' guests, which only the site's
/// `proxmox` section can supply): expected, and left to the user.
fn placeholder(path: &str) -> bool {
    path == "vault.nodes" || path.starts_with("vault.nodes[")
}

/// The list item (JSON pointer) a diagnostic at `path` is about, and its API path.
fn removable(document: &Value, path: &str) -> Option<(String, String)> {
    let segments: Vec<String> = path
        .replace('[', ".")
        .replace(']', "")
        .split('.')
        .map(str::to_owned)
        .collect();
    // Longest first: a role before its CA.
    let shapes: [&[&str]; 7] = [
        &["vault", "pki", "#", "roles", "#"],
        &["vault", "auth", "gitlab_jwt", "roles", "#"],
        &["vault", "auth", "approles", "#"],
        &["vault", "auth", "users", "#"],
        &["vault", "pki", "#"],
        &["vault", "mounts", "#"],
        &["vault", "policies", "#"],
    ];
    let shape = shapes.iter().find(|shape| {
        shape.len() <= segments.len()
            && shape.iter().zip(&segments).all(|(s, seg)| {
                if *s == "#" {
                    seg.parse::<usize>().is_ok()
                } else {
                    s == seg
                }
            })
    })?;
    let pointer = format!("/{}", segments[..shape.len()].join("/"));
    let item = document.pointer(&pointer)?;
    let name = |k: &str| item[k].as_str().unwrap_or_default().to_owned();
    let api = match shape[1..] {
        ["pki", "#", "roles", "#"] => {
            let mount = document.pointer(&format!("/vault/pki/{}/mount", segments[2]))?;
            format!("{}/roles/{}", mount.as_str()?, name("name"))
        }
        ["auth", "gitlab_jwt", ..] => {
            let jwt = document.pointer("/vault/auth/gitlab_jwt/path")?;
            format!("auth/{}/role/{}", jwt.as_str()?, name("name"))
        }
        ["auth", "approles", _] => format!("auth/approle/role/{}", name("name")),
        ["auth", "users", _] => format!("auth/userpass/users/{}", name("name")),
        ["pki", _] => format!("{}/issuer/default", name("mount")),
        ["mounts", _] => format!("sys/mounts/{}", name("path")),
        _ => format!("sys/policies/acl/{}", name("name")),
    };
    Some((pointer, api))
}

/// Seconds as a model duration (`720h`, `90m`, `45s`).
fn duration(secs: u64) -> String {
    if secs > 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs > 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// A string or list of strings as a list.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) if !s.is_empty() => s.split(',').map(|s| s.trim().to_owned()).collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The fields of `data` that differ from the server's default (`Null`: empty).
fn lost_fields(data: &Value, defaults: &[(&str, Value)]) -> Vec<String> {
    defaults
        .iter()
        .filter_map(|(k, default)| {
            let have = data.get(*k)?;
            let same = if default.is_null() {
                empty(have)
            } else {
                have == default
            };
            (!same).then(|| format!("{k}={have}"))
        })
        .collect()
}

/// The host of `url` when it is a name (not an IP address).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', ':']).next()?;
    (host.parse::<std::net::IpAddr>().is_err() && host.contains('.') && !host.starts_with('['))
        .then(|| host.to_owned())
}

/// The site as YAML (the shared writer, [`rackpipe_model::site_yaml`]): the choices, secrets
/// and what was not imported as `#` lines on top, a comment above each placeholder.
fn write_yaml(site: &Site, report: &Report, placeholders: bool) -> String {
    let mut header = vec!["Imported by `vault-bootstrap import`.".to_owned()];
    header.extend(report.choices.iter().cloned());
    for s in &report.secrets {
        header.push(format!(
            "secret: {} holds the password of {}",
            s.reference, s.path
        ));
    }
    for p in &report.unreadable {
        header.push(format!("not imported: {p}: permission denied"));
    }
    for n in &report.not_imported {
        header.push(format!("not imported: {}: {}", n.path, n.reason));
    }
    let placeholder = |path: &str, what: &str| (path.to_owned(), format!("placeholder: {what}"));
    let comments = [
        placeholder(
            "metadata",
            "the API does not tell the site's name and domain",
        ),
        placeholder(
            "vault.fqdn",
            "the name clients use (from the URL read, else vault.DOMAIN)",
        ),
        placeholder(
            "vault.nodes",
            "the cluster's members and the guests they run on",
        ),
        placeholder(
            "vault.storage",
            "the servers' storage (render writes it into their config)",
        ),
        placeholder("vault.tls", "the servers' TLS files"),
    ];
    let comments = if placeholders { &comments[..] } else { &[] };
    rackpipe_model::site_yaml::write(site, comments, &header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(duration(2_592_000), "720h");
        assert_eq!(duration(90), "90s");
        assert_eq!(duration(120), "2m");
        assert_eq!(duration(0), "0s");
    }
}
