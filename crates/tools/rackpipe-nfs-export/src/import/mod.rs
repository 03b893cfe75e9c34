//! `nfs-export import`: a site document whose `nas` section describes the exports a NAS
//! serves now, so that `nfs-export plan` of it shows no changes.
//!
//! The sources are read the way `plan` reads them:
//!
//! - a Linux NAS: the `*.exports` files of the exports directory (and `/etc/exports` when
//!   that directory is `/etc/exports.d`), parsed by [`crate::exports::parse`] ([`from_linux`],
//!   or [`from_exports_files`] for files already read);
//! - a Synology NAS: the rules of the named shared folders, read with
//!   [`DsmClient::load`] ([`from_synology`]).
//!
//! An option the model has no field for (`no_wdelay`, `nohide`, `mountpoint`, ...) or a client
//! it cannot name (a netgroup, a DSM rule mapping root to admin) is listed as *not imported*,
//! in the report and as a `# not imported: ...` comment in the YAML, never dropped silently. A
//! choice the import made (a placeholder, an option left out because it is exportfs's default,
//! a file the plan will rewrite in rackpipe's layout) is a `#` comment and a report line too.
//!
//! Nothing is printed when anything fails: the caller gets one [`Error`] line (a line the
//! parser refuses: `FILE:LINE:COL: what`).

pub mod ganesha;
mod verb;

use std::net::IpAddr;

use rackpipe_model::Site;
use rackpipe_model::documents::{ImportCounts, ImportEntry, ImportReport, ImportStatus};
use rackpipe_model::nas::{Export, ExportClient, NfsServer, Squash};
use rackpipe_model::types::{Name, Network};
use serde::Serialize;

pub use verb::{ImportArgs, ServerKind, run};

use crate::Error;
use crate::exports::{ClientKind, ExportLine, classify_client};
use crate::linux::{LinuxTarget, Remote};
use crate::synology::{DsmClient, DsmRule};

/// What the imported site says about things the NAS cannot tell: the site's name and domain,
/// the NAS's host entry and how it is reached.
#[derive(Debug, Clone)]
pub struct Skeleton {
    /// The site's name (`None`: the managed file's rackpipe header, else its base name, else
    /// `imported`).
    pub name: Option<String>,
    /// The site's domain (`None`: a placeholder, marked).
    pub domain: Option<String>,
    /// The NAS's address (`None`: a placeholder, marked).
    pub address: Option<IpAddr>,
    /// The NAS's host name, when it was reached by name.
    pub fqdn: Option<String>,
    /// The server section (kind, SSH user or DSM account).
    pub server: NfsServer,
}

/// A client or export that is not (fully) in the site, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotImported {
    /// `FILE:LINE` or `share NAME`.
    pub location: String,
    /// What was left out (`option no_wdelay of 198.18.0.0/24`, `client @trusted`).
    pub what: String,
    /// Why.
    pub reason: String,
}

/// What the import did: printed on stderr, or written as JSON with `--report FILE`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The host, URL or files read.
    pub source: String,
    /// Exports in the site.
    pub exports: usize,
    /// Clients in the site.
    pub clients: usize,
    /// Choices the import made, one line each.
    pub choices: Vec<String>,
    /// What is not in the site.
    pub not_imported: Vec<NotImported>,
}

impl Report {
    /// The report as the one import document ([`ImportReport`], `--report FILE`) of the site
    /// named `site`: NFS clients by destination (a client with an option left out is
    /// *partly* imported, a client the model cannot name is not), each with `FILE:LINE`.
    #[must_use]
    pub fn document(&self, site: &str) -> ImportReport {
        let mut d = ImportReport::new("nfs-export", site, &self.source, "clients", &["nas"]);
        let mut partly = std::collections::BTreeSet::new();
        d.entries = self
            .not_imported
            .iter()
            .map(|n| {
                // `option no_wdelay of CLIENT on PATH`: the client is in the site.
                let option = n.what.strip_prefix("option ");
                if let Some(rest) = option {
                    let client = rest.split_once(" of ").map_or(rest, |(_, c)| c);
                    partly.insert((n.location.clone(), client.to_owned()));
                }
                ImportEntry {
                    status: if option.is_some() {
                        ImportStatus::Partly
                    } else {
                        ImportStatus::NotImported
                    },
                    what: n.what.clone(),
                    location: Some(n.location.clone()),
                    reasons: vec![n.reason.clone()],
                    count: None,
                }
            })
            .collect();
        let not_imported = d
            .entries
            .iter()
            .filter(|e| e.status == ImportStatus::NotImported)
            .count();
        d.counts = ImportCounts {
            total: self.clients + not_imported,
            typed: self.clients.saturating_sub(partly.len()),
            generic: 0,
            partly: partly.len().min(self.clients),
            not_imported,
        };
        d.objects.insert("exports".to_owned(), self.exports);
        d.objects.insert("clients".to_owned(), self.clients);
        d.choices.clone_from(&self.choices);
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

/// The site being built: exports, comments by site path, the report's lists.
#[derive(Debug, Default)]
struct Builder {
    exports: Vec<Export>,
    comments: Vec<(String, String)>,
    choices: Vec<String>,
    not_imported: Vec<NotImported>,
}

impl Builder {
    fn not_imported(
        &mut self,
        field: Option<String>,
        location: String,
        what: String,
        reason: &str,
    ) {
        if let Some(field) = field {
            self.comments.push((
                field,
                format!("not imported: {what} ({location}): {reason}"),
            ));
        }
        self.not_imported.push(NotImported {
            location,
            what,
            reason: reason.to_owned(),
        });
    }

    /// The export of `path`, created as `name` when it is new; its index.
    fn export(&mut self, path: &str, name: &str) -> usize {
        if let Some(i) = self.exports.iter().position(|e| e.path == path) {
            return i;
        }
        let mut unique = name.to_owned();
        let mut n = 2;
        while self.exports.iter().any(|e| e.name == *unique.as_str()) {
            unique = format!("{name}-{n}");
            n += 1;
        }
        self.exports.push(Export {
            name: unique.parse().unwrap_or_else(|_| fallback_name()),
            path: path.to_owned(),
            clients: Vec::new(),
            export_id: None,
            pseudo: None,
        });
        self.exports.len() - 1
    }
}

fn fallback_name() -> Name {
    "export"
        .parse()
        .unwrap_or_else(|_| unreachable!("a valid name"))
}

/// An export name from a path: its last component, reduced to the characters a name allows.
fn name_from_path(path: &str) -> String {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches(['.', '_', '-']);
    let cleaned: String = cleaned.chars().take(63).collect();
    if cleaned.is_empty() {
        "root".to_owned()
    } else {
        cleaned
    }
}

/// The plain client of the model: every option at its default.
fn client(kind: &ClientKind) -> Option<ExportClient> {
    let mut c = ExportClient {
        segment: None,
        network: None,
        address: None,
        host: None,
        rw: false,
        sync: true,
        squash: Squash::Root,
        anonuid: None,
        anongid: None,
        subtree_check: false,
        insecure: false,
        sec: Vec::new(),
        fsid: None,
        crossmnt: false,
    };
    match kind {
        ClientKind::World => c.host = Some("*".to_owned()),
        ClientKind::Network(net) => c.network = Some(Network(*net)),
        ClientKind::Address(ip) => c.address = Some(*ip),
        ClientKind::Host(h) | ClientKind::Wildcard(h) => c.host = Some(h.clone()),
        ClientKind::Netgroup(_) => return None,
    }
    Some(c)
}

/// exportfs options that only restate exportfs's default: the render leaves them out.
const DEFAULT_OPTIONS: &[&str] = &[
    "secure",
    "no_all_squash",
    "wdelay",
    "hide",
    "nocrossmnt",
    "secure_locks",
    "auth_nlm",
    "no_pnfs",
];

/// Applies one exports(5) option to `c`; `Err(reason)` when the model cannot hold it.
fn apply_option(c: &mut ExportClient, option: &str) -> Result<(), &'static str> {
    let (key, value) = match option.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (option, None),
    };
    match (key, value) {
        ("rw", None) => c.rw = true,
        ("ro", None) => c.rw = false,
        ("sync", None) => c.sync = true,
        ("async", None) => c.sync = false,
        ("subtree_check", None) => c.subtree_check = true,
        ("no_subtree_check", None) => c.subtree_check = false,
        ("root_squash", None) => {
            if c.squash != Squash::All {
                c.squash = Squash::Root;
            }
        }
        ("no_root_squash", None) => {
            if c.squash != Squash::All {
                c.squash = Squash::None;
            }
        }
        ("all_squash", None) => c.squash = Squash::All,
        ("insecure", None) => c.insecure = true,
        ("secure", None) => c.insecure = false,
        ("crossmnt", None) => c.crossmnt = true,
        ("nocrossmnt", None) => c.crossmnt = false,
        ("anonuid", Some(v)) => {
            c.anonuid = Some(v.parse().map_err(|_| "anonuid is not a number")?);
        }
        ("anongid", Some(v)) => {
            c.anongid = Some(v.parse().map_err(|_| "anongid is not a number")?);
        }
        ("sec", Some(v)) => {
            let flavours: Vec<String> = v.split(':').map(str::to_owned).collect();
            if flavours
                .iter()
                .any(|f| !crate::exports::SEC_FLAVOURS.contains(&f.as_str()))
            {
                return Err("a security flavour exportfs does not know");
            }
            c.sec = flavours;
        }
        ("fsid", Some(v)) => {
            if !crate::exports::valid_fsid(v) {
                return Err("fsid is not a number, 'root' or a UUID");
            }
            c.fsid = Some(v.to_owned());
        }
        (k, None) if DEFAULT_OPTIONS.contains(&k) => {}
        _ => return Err("the model has no field for it; the plan's render leaves it out"),
    }
    Ok(())
}

/// The rackpipe header of a rendered exports file: the site it was rendered for.
fn rendered_for(text: &str) -> Option<String> {
    let rest = text
        .lines()
        .next()?
        .strip_prefix("# Managed by rackpipe nfs-export for site ")?;
    Some(rest.split(':').next()?.trim().to_owned())
}

/// The export name rackpipe's render writes above an entry: `# NAME (nas.exports[I])`.
fn rendered_name(lines: &[&str], entry_line: usize) -> Option<String> {
    let above = lines.get(entry_line.checked_sub(2)?)?.trim();
    let rest = above.strip_prefix("# ")?;
    let (name, field) = rest.split_once(" (nas.exports[")?;
    (field.ends_with("])") && name.parse::<Name>().is_ok()).then(|| name.to_owned())
}

fn map_line(b: &mut Builder, file: &str, lines: &[&str], entry: &ExportLine) -> Result<(), Error> {
    let location = format!("{file}:{}", entry.line);
    if let Err(message) = rackpipe_model::types::check_file_path(&entry.path) {
        b.not_imported(
            None,
            location,
            format!("export {:?}", entry.path),
            &format!("the model cannot hold the path: {message}"),
        );
        return Ok(());
    }
    let name = rendered_name(lines, entry.line).unwrap_or_else(|| name_from_path(&entry.path));
    let index = b.export(&entry.path, &name);
    if entry.clients.is_empty() {
        // `/path` alone: exportfs exports it to the world with its defaults.
        let c = client(&ClientKind::World).unwrap_or_else(|| unreachable!("world is a client"));
        b.choices.push(format!(
            "{location}: {} names no client: exportfs exports it to the whole world, imported as host \"*\"",
            entry.path
        ));
        b.exports[index].clients.push(c);
    }
    for entry_client in &entry.clients {
        let at = format!("{file}:{}:{}", entry_client.line, entry_client.column);
        let kind = classify_client(&entry_client.spec).map_err(|message| Error::Invalid {
            path: at.clone(),
            message,
        })?;
        let shown = if entry_client.spec.is_empty() {
            "*".to_owned()
        } else {
            entry_client.spec.clone()
        };
        let Some(mut c) = client(&kind) else {
            b.not_imported(
                Some(format!("nas.exports[{index}]")),
                format!("{file}:{}", entry_client.line),
                format!("client {shown} of {}", entry.path),
                "the model has no netgroup client",
            );
            continue;
        };
        let field = format!(
            "nas.exports[{index}].clients[{}]",
            b.exports[index].clients.len()
        );
        if entry_client.detached {
            b.choices.push(format!(
                "{at}: \"({})\" after a space is exportfs's whole world: imported as host \"*\"",
                entry_client.options.join(",")
            ));
        }
        for option in entry.defaults.iter().chain(&entry_client.options) {
            let option = option.trim();
            if option.is_empty() {
                continue;
            }
            if let Err(reason) = apply_option(&mut c, option) {
                b.not_imported(
                    Some(field.clone()),
                    format!("{file}:{}", entry_client.line),
                    format!("option {option} of {shown} on {}", entry.path),
                    reason,
                );
            } else if DEFAULT_OPTIONS.contains(&option) {
                b.comments.push((
                    field.clone(),
                    format!("{option} is exportfs's default: not written"),
                ));
            }
        }
        b.exports[index].clients.push(c);
    }
    Ok(())
}

/// Imports exports files already read: `(file name, text)`; the first file under
/// `managed_dir` that holds exports becomes the file the site manages.
///
/// # Errors
/// A line the parser refuses or a client spec exportfs rejects (`FILE:LINE:COL: what`); no
/// exports at all; an imported site that does not validate.
pub fn from_exports_files(
    files: &[(String, String)],
    managed_dir: &str,
    skeleton: &Skeleton,
    source: &str,
) -> Result<Imported, Error> {
    let mut b = Builder::default();
    let mut used: Vec<&(String, String)> = Vec::new();
    for entry in files {
        let (file, text) = entry;
        let parsed = crate::exports::parse(text);
        if let Some(issue) = parsed.issues.first() {
            return Err(Error::Invalid {
                path: format!("{file}:{}:{}", issue.line, issue.column),
                message: issue.message.clone(),
            });
        }
        let lines: Vec<&str> = text.lines().collect();
        for line in &parsed.entries {
            map_line(&mut b, file, &lines, line)?;
        }
        if !parsed.entries.is_empty() {
            used.push(entry);
        }
    }
    // Exports whose every client was left out are not exports.
    let mut kept = Vec::new();
    for (i, e) in std::mem::take(&mut b.exports).into_iter().enumerate() {
        if e.clients.is_empty() {
            b.not_imported(
                None,
                source.to_owned(),
                format!("export {}", e.path),
                "none of its clients could be imported",
            );
        } else {
            let from = format!("nas.exports[{i}]");
            let to = format!("nas.exports[{}]", kept.len());
            for (path, _) in &mut b.comments {
                if path.starts_with(&from)
                    && path[from.len()..].chars().next().is_none_or(|c| c == '.')
                {
                    *path = format!("{to}{}", &path[from.len()..]);
                }
            }
            kept.push(e);
        }
    }
    b.exports = kept;
    let dir = managed_dir.trim_end_matches('/');
    let managed = used.iter().find(|(f, _)| {
        f.strip_prefix(dir)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|r| !r.contains('/') && r.ends_with(".exports"))
    });
    let file_base = managed.and_then(|(f, _)| {
        f.rsplit('/')
            .next()?
            .strip_suffix(".exports")
            .map(str::to_owned)
    });
    let name = skeleton
        .name
        .clone()
        .or_else(|| managed.and_then(|(_, text)| rendered_for(text)))
        .or_else(|| file_base.clone())
        .unwrap_or_else(|| "imported".to_owned());
    let others: Vec<&str> = used
        .iter()
        .filter(|u| managed.is_none_or(|m| m.0 != u.0))
        .map(|u| u.0.as_str())
        .collect();
    let base = file_base.clone().unwrap_or_else(|| name.clone());
    if !others.is_empty() {
        b.choices.push(format!(
            "exports read from {}: the plan writes them to {dir}/{base}.exports; remove them there before apply (the plan refuses an export two files define)",
            others.join(", ")
        ));
    }
    let mut imported = finish(b, skeleton, &name, file_base.filter(|f| *f != name), source)?;
    if let Some((file, text)) = managed {
        let desired = crate::resolve(&imported.site)?;
        let rendered =
            crate::render::render_linux_exports(&desired, &crate::render::environment(None)?)?;
        if rendered != *text {
            imported.report.choices.push(format!(
                "{file} is not laid out as rackpipe renders it: the first plan rewrites it (the same exports) and reloads exportfs"
            ));
        }
    }
    Ok(imported)
}

/// Imports a Linux NAS: the `*.exports` files of `target.exports_dir` (and `/etc/exports` when
/// that is `/etc/exports.d`), read as `plan` reads them.
///
/// # Errors
/// A failing remote command (unreachable host, no permission), a line the parser refuses,
/// no exports at all, an imported site that does not validate.
pub async fn from_linux(
    remote: &impl Remote,
    target: &LinuxTarget,
    skeleton: &Skeleton,
) -> Result<Imported, Error> {
    let files = crate::linux::other_exports_files(remote, "", target).await?;
    from_exports_files(&files, &target.exports_dir, skeleton, remote.host())
}

/// The model's client for a DSM rule; `Err(reason)` when the model cannot hold it.
fn dsm_client(rule: &DsmRule) -> Result<ExportClient, String> {
    let kind = classify_client(&rule.client)?;
    let mut c = client(&kind).ok_or("the model has no netgroup client")?;
    let rule = rule.normalised();
    c.rw = match rule.privilege.as_str() {
        "rw" => true,
        "ro" => false,
        other => return Err(format!("privilege {other:?} is neither rw nor ro")),
    };
    c.squash = match rule.root_squash.as_str() {
        "root" => Squash::None,
        "guest" => Squash::Root,
        "all_guest" => Squash::All,
        other => {
            return Err(format!(
                "squash {other:?} maps to DSM's admin account; the model squashes to guest only"
            ));
        }
    };
    c.sync = !rule.is_async;
    c.insecure = rule.insecure;
    c.crossmnt = rule.crossmnt;
    let f = rule.security_flavor;
    let named = [
        (f.sys, "sys"),
        (f.kerberos, "krb5"),
        (f.kerberos_integrity, "krb5i"),
        (f.kerberos_privacy, "krb5p"),
    ];
    c.sec = if f.sys && !(f.kerberos || f.kerberos_integrity || f.kerberos_privacy) {
        Vec::new()
    } else {
        named
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| (*n).to_owned())
            .collect()
    };
    if c.sec.is_empty() && !f.sys {
        return Err("no security flavour is enabled".to_owned());
    }
    Ok(c)
}

/// Imports a Synology NAS: the NFS rules of each of `shares`, read with [`DsmClient::load`]
/// as `plan` reads them.
///
/// # Errors
/// A failing DSM call (naming the share), no exports at all, an imported site that does not
/// validate.
pub async fn from_synology(
    client: &DsmClient,
    shares: &[String],
    skeleton: &Skeleton,
) -> Result<Imported, Error> {
    let NfsServer::Synology { volume, .. } = &skeleton.server else {
        return Err(Error::Invalid {
            path: "nas.server.kind".to_owned(),
            message: "the NAS is not a Synology".to_owned(),
        });
    };
    let mut read = Vec::new();
    for share in shares {
        read.push((share.clone(), client.load(share).await?));
    }
    let mut b = Builder::default();
    for (share, rules) in &read {
        let path = format!("{}/{share}", volume.trim_end_matches('/'));
        let location = format!("share {share}");
        if let Err(message) = rackpipe_model::types::check_file_path(&path) {
            b.not_imported(
                None,
                location,
                format!("share {share}"),
                &format!("the model cannot hold the path: {message}"),
            );
            continue;
        }
        let mut clients = Vec::new();
        let mut left_out = Vec::new();
        for rule in rules {
            match dsm_client(rule) {
                Ok(c) => clients.push(c),
                Err(reason) => left_out.push((format!("rule for {}", rule.client), reason)),
            }
        }
        if clients.is_empty() {
            let reason = if rules.is_empty() {
                "it has no NFS rules".to_owned()
            } else {
                "none of its rules could be imported".to_owned()
            };
            b.not_imported(None, location.clone(), format!("share {share}"), &reason);
        } else {
            let index = b.export(&path, &name_from_path(&path));
            b.exports[index].clients = clients;
        }
        for (what, reason) in left_out {
            let field = (!b.exports.is_empty() && b.exports.last().is_some_and(|e| e.path == path))
                .then(|| format!("nas.exports[{}]", b.exports.len() - 1));
            b.not_imported(field, location.clone(), what, &reason);
        }
    }
    let name = skeleton
        .name
        .clone()
        .unwrap_or_else(|| "imported".to_owned());
    finish(b, skeleton, &name, None, client.base_url())
}

/// The site around the exports, written as YAML and checked: it reads back as the same site,
/// validates, and resolves as `plan` resolves it.
fn finish(
    mut b: Builder,
    skeleton: &Skeleton,
    name: &str,
    exports_file: Option<String>,
    source: &str,
) -> Result<Imported, Error> {
    if b.exports.is_empty() {
        return Err(Error::Invalid {
            path: source.to_owned(),
            message: "no export found that the site could hold; no site printed".to_owned(),
        });
    }
    let mut header = vec![
        format!("Imported by nfs-export import from {source}."),
        "Placeholders and choices are marked with a comment; review them before the first plan."
            .to_owned(),
    ];
    for n in &b.not_imported {
        header.push(format!(
            "not imported: {}: {}: {}",
            n.location, n.what, n.reason
        ));
    }
    let mut site = base_site(skeleton, name, &mut b.comments)?;
    if let Some(nas) = site.nas.as_mut() {
        nas.exports = b.exports;
        nas.exports_file = exports_file
            .map(|f| f.parse())
            .transpose()
            .map_err(|message| Error::Invalid {
                path: "nas.exports_file".to_owned(),
                message,
            })?;
    }
    let invalid = |message: String| Error::Invalid {
        path: "import".to_owned(),
        message,
    };
    let yaml = rackpipe_model::site_yaml::write(&site, &b.comments, &header);
    let loaded = rackpipe_model::load::load_and_validate("import", yaml.as_bytes())
        .map_err(|e| invalid(format!("the imported site does not validate: {e}")))?;
    if loaded.site != site {
        return Err(invalid(
            "the YAML written does not read back as the imported site".to_owned(),
        ));
    }
    crate::resolve(&site)?;
    let nas = site.nas.as_ref();
    let report = Report {
        source: source.to_owned(),
        exports: nas.map_or(0, |n| n.exports.len()),
        clients: nas.map_or(0, |n| n.exports.iter().map(|e| e.clients.len()).sum()),
        choices: b.choices,
        not_imported: b.not_imported,
    };
    Ok(Imported { site, yaml, report })
}

/// The site around the NAS, without exports: name, domain, the NAS's segment and host entry
/// (placeholders marked in `comments`), its `nas.server`.
pub(crate) fn base_site(
    skeleton: &Skeleton,
    name: &str,
    comments: &mut Vec<(String, String)>,
) -> Result<Site, Error> {
    let domain = skeleton.domain.clone().unwrap_or_else(|| {
        comments.push((
            "metadata".to_owned(),
            "placeholder: the NAS does not know the site's domain".to_owned(),
        ));
        "example.internal".to_owned()
    });
    let address = skeleton.address.unwrap_or_else(|| {
        comments.push((
            "hosts[0]".to_owned(),
            "placeholder: the NAS was reached by name; set its address and segment".to_owned(),
        ));
        IpAddr::from([192, 0, 2, 1])
    });
    let cidr = match address {
        IpAddr::V4(_) => format!("{address}/32"),
        IpAddr::V6(_) => format!("{address}/128"),
    };
    comments.push((
        "segments[0]".to_owned(),
        "placeholder: the NAS's own address only; widen it to its real network".to_owned(),
    ));
    let mut host = serde_json::json!({
        "name": "nas", "address": address.to_string(), "segment": "storage",
    });
    if let Some(fqdn) = &skeleton.fqdn {
        host["fqdn"] = serde_json::Value::String(fqdn.clone());
    }
    let value = serde_json::json!({
        "apiVersion": rackpipe_model::API_VERSION,
        "kind": "Site",
        "metadata": { "name": name, "domain": domain },
        "segments": [{ "name": "storage", "cidr": cidr }],
        "hosts": [host],
    });
    let mut site: Site = serde_json::from_value(value).map_err(|e| Error::Invalid {
        path: "import".to_owned(),
        message: format!("the site's name, domain or host: {e}"),
    })?;
    site.nas = Some(rackpipe_model::nas::Nas {
        host: "nas".parse().map_err(|message| Error::Invalid {
            path: "nas.host".to_owned(),
            message,
        })?,
        server: skeleton.server.clone(),
        exports: Vec::new(),
        exports_file: None,
    });
    Ok(site)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux() -> Skeleton {
        Skeleton {
            name: None,
            domain: Some("lab.example".to_owned()),
            address: Some(IpAddr::from([198, 18, 10, 11])),
            fqdn: None,
            server: NfsServer::Linux {
                ssh_user: "root".to_owned(),
            },
        }
    }

    #[test]
    fn options_the_model_lacks_are_listed() {
        let files = vec![(
            "/etc/exports.d/hand.exports".to_owned(),
            "/srv/a 198.18.0.0/24(rw,sync,no_subtree_check,no_wdelay) @trusted(ro)\n".to_owned(),
        )];
        let i = from_exports_files(&files, "/etc/exports.d", &linux(), "t").unwrap();
        let what: Vec<&str> = i
            .report
            .not_imported
            .iter()
            .map(|n| n.what.as_str())
            .collect();
        assert_eq!(
            what,
            [
                "option no_wdelay of 198.18.0.0/24 on /srv/a",
                "client @trusted of /srv/a"
            ]
        );
        assert!(
            i.yaml.contains("# not imported: option no_wdelay"),
            "{}",
            i.yaml
        );
        assert_eq!(i.site.metadata.name.as_str(), "hand");
    }

    #[test]
    fn a_refused_line_names_file_and_line() {
        let files = vec![("x.exports".to_owned(), "/a h(rw\n/b h(ro)x\n".to_owned())];
        let e = from_exports_files(&files, "/etc/exports.d", &linux(), "t").unwrap_err();
        assert!(e.to_string().starts_with("x.exports:1:"), "{e}");
    }
}
