//! `ros-render import`: a site document that describes a running router.
//!
//! The input is an `/export` file ([`from_export`], parsed by
//! [`rackpipe_routeros::export::parse_named`]) or the live router ([`from_router`]: the REST
//! read-back, one `GET` per menu). Both become the same [`source::Source`]: per menu, the
//! entries and the singleton settings the router holds, dynamic and built-in entries left
//! out as the plan leaves them out. Then:
//!
//! - [`typed`] maps the entries of the menus the site models to typed fields (`router.ethernet`,
//!   `router.bridges`, `router.firewall`, ...), where they fit losslessly; every other entry
//!   goes to the generic per-menu section, with a comment saying why;
//! - [`secrets`] replaces every secret value (passwords, keys, SNMP communities) by a secret
//!   reference (`env:ROS_...` or `vault:PATH#KEY`) and lists what the user must store;
//! - the result is checked the way it will be used: the plan of the typed part against the
//!   entries it came from must be empty ([`crate::plan::diff`]), and the site must validate
//!   ([`rackpipe_model::load::load_and_validate`]); an entry that fails either goes to the
//!   generic section instead, until both hold;
//! - [`yaml`] writes the site as YAML a person would write, with a `#` comment wherever the
//!   import made a choice.
//!
//! Nothing is printed when anything fails: the caller gets one [`Error`] line. Secret values
//! are never written anywhere: not in the site, the report, an error, or a log line.

mod export;
mod live;
mod secrets;
mod source;
mod typed;
mod verb;
mod yaml;

use std::net::IpAddr;

use rackpipe_model::documents::{
    ImportCounts, ImportEntry, ImportReport, ImportStatus, SecretToStore,
};
use rackpipe_model::router::TlsTrust;
use rackpipe_model::types::SecretRef;
use serde::Serialize;

pub use live::{GENERIC_MENUS, live_menus};
pub use secrets::SecretPrefix;
pub use verb::{ImportArgs, run};

use crate::rest::RestClient;

/// Why an import failed. Each displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The export does not parse (`FILE:LINE:COL: what`).
    #[error(transparent)]
    Parse(#[from] rackpipe_routeros::ParseError),
    /// A menu of another RouterOS major version than the export's header names.
    #[error(
        "{source_name}:{line}: {menu} is a RouterOS {menu_major} menu, but the export was written by RouterOS {version}"
    )]
    OtherVersion {
        /// File name or `<stdin>`.
        source_name: String,
        /// 1-based line of the menu's first command.
        line: u32,
        /// The menu (v7 spelling).
        menu: String,
        /// The major version the menu belongs to.
        menu_major: u8,
        /// The version in the export's header.
        version: String,
    },
    /// The live read-back stopped (timeout, refused, ...): nothing is printed.
    #[error(
        "import stopped at GET /rest{menu} (menu {index} of {total}): {source}; no site printed"
    )]
    Read {
        /// The menu being read.
        menu: String,
        /// 1-based number of the menu.
        index: usize,
        /// Menus to read in all.
        total: usize,
        /// What failed.
        source: Box<crate::rest::Error>,
    },
    /// Bad options (a secret prefix that is neither `env:` nor `vault:`).
    #[error("{0}")]
    Usage(String),
    /// The imported site did not validate, even with every failing entry in the generic
    /// section: a bug of the import, reported instead of printing a site that fails.
    #[error("the imported site does not validate: {0}")]
    Invalid(String),
}

impl Error {
    /// Whether retrying later may succeed (a live read that timed out or found the router
    /// unreachable).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Read { source, .. } if source.is_transient())
    }
}

/// How the router is reached, for the imported site's `router.management` (the live import
/// knows it from its connection flags; an export does not say, so it gets placeholders).
#[derive(Debug, Clone)]
pub struct ManagementHint {
    /// Address the tools connect to.
    pub address: IpAddr,
    /// REST port.
    pub rest_port: u16,
    /// API user.
    pub user: String,
    /// Where the API password comes from.
    pub password: SecretRef,
    /// TLS trust, as given to the import.
    pub tls: Option<TlsTrust>,
}

/// What the import is told.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How secret references are named (`env:ROS` by default).
    pub secret_prefix: SecretPrefix,
    /// How the router was reached (live import); `None`: placeholders, marked in the site.
    pub management: Option<ManagementHint>,
}

/// Commands (export lines, or rows read back) by where they went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Became typed site fields.
    pub typed: usize,
    /// Went to the generic per-menu section.
    pub generic: usize,
    /// Neither: commands that hold no configuration a site can state (a `remove` of a
    /// built-in entry, a `set` by position), each listed in [`Report::not_imported`].
    pub not_imported: usize,
    /// All commands read.
    pub total: usize,
}

/// A secret the import replaced by a reference: the user must store its value there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretEntry {
    /// The reference written into the site.
    pub reference: String,
    /// Menu it came from (`/user`).
    pub menu: String,
    /// The entry, by its natural key (`name=admin`), or `settings`.
    pub entry: String,
    /// The property (`password`).
    pub property: String,
    /// 1-based line in the export (0 for a live import).
    #[serde(skip_serializing_if = "is_zero")]
    pub line: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A command that is in neither the typed nor the generic section, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotImported {
    /// Menu.
    pub menu: String,
    /// 1-based line in the export (0 for a live import).
    #[serde(skip_serializing_if = "is_zero")]
    pub line: u32,
    /// Why.
    pub reason: String,
}

/// What the import did: printed on stderr, or written as JSON with `--report FILE`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file name, `<stdin>`, or the router's URL.
    pub source: String,
    /// RouterOS version (export header; `None` for a live import).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routeros_version: Option<String>,
    /// Commands by destination.
    pub counts: Counts,
    /// Menus whose entries went (partly) to the generic section, with their count.
    pub generic_menus: Vec<(String, usize)>,
    /// Every secret reference the user must store.
    pub secrets: Vec<SecretEntry>,
    /// Choices the import made (a value defaulted, an entry left to the generic section, a
    /// placeholder), one line each.
    pub choices: Vec<String>,
    /// Commands not imported, with why.
    pub not_imported: Vec<NotImported>,
}

impl Report {
    /// The report as the one import document ([`ImportReport`], `--report FILE`) of the site
    /// named `site`: commands by destination, each generic menu and each command not imported
    /// (with `FILE:LINE` for an export), the secret references.
    #[must_use]
    pub fn document(&self, site: &str) -> ImportReport {
        let at = |line: u32| (line > 0).then(|| format!("{}:{line}", self.source));
        let c = &self.counts;
        let mut d = ImportReport::new("ros-render", site, &self.source, "commands", &["router"]);
        d.source_version.clone_from(&self.routeros_version);
        d.counts = ImportCounts {
            total: c.total,
            typed: c.typed,
            generic: c.generic,
            partly: 0,
            not_imported: c.not_imported,
        };
        d.entries = self
            .generic_menus
            .iter()
            .map(|(menu, n)| ImportEntry {
                status: ImportStatus::Generic,
                what: menu.clone(),
                location: None,
                reasons: vec![
                    "entries no typed field holds as they are: kept in the generic per-menu section"
                        .to_owned(),
                ],
                count: Some(*n),
            })
            .chain(self.not_imported.iter().map(|n| ImportEntry {
                status: ImportStatus::NotImported,
                what: n.menu.clone(),
                location: at(n.line),
                reasons: vec![n.reason.clone()],
                count: None,
            }))
            .collect();
        d.secrets = self
            .secrets
            .iter()
            .map(|e| SecretToStore {
                reference: e.reference.clone(),
                stands_for: format!("{} {} {}", e.menu, e.entry, e.property),
                location: at(e.line),
                in_site: true,
            })
            .collect();
        d.choices.clone_from(&self.choices);
        // The import fails unless the plan of the typed part against its entries is empty.
        d.plan_changes = Some(Vec::new());
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

/// Imports an `/export` (v6 or v7, standard or terse). `source_name` names the input in
/// errors (`FILE:LINE:COL: ...`).
///
/// # Errors
/// Syntax the parser refuses; a menu of another major version than the header's; an
/// import that does not validate (a bug, reported rather than printed).
pub fn from_export(source_name: &str, text: &str, options: &Options) -> Result<Imported, Error> {
    let config = rackpipe_routeros::export::parse_named(source_name, text)?;
    let source = export::source(source_name, &config)?;
    finish(source, options)
}

/// Imports the live router: one `GET` per menu of [`live_menus`] (a menu the router does not
/// have, such as a package not installed, is skipped).
///
/// # Errors
/// The first failing read ([`Error::Read`]: which menu, how far); an import that does not
/// validate.
pub async fn from_router(client: &RestClient, options: &Options) -> Result<Imported, Error> {
    let source = live::source(client, &live_menus()).await?;
    finish(source, options)
}

fn finish(source: source::Source, options: &Options) -> Result<Imported, Error> {
    let mapped = typed::import(&source, options)?;
    let yaml = yaml::write(&mapped.site, &mapped.comments, &mapped.header);
    // The YAML is what the user gets: it must read back as the same site.
    let loaded = rackpipe_model::load::load_and_validate("import", yaml.as_bytes())
        .map_err(|e| Error::Invalid(e.to_string()))?;
    if loaded.site != mapped.site {
        return Err(Error::Invalid(
            "the YAML written does not read back as the imported site".to_owned(),
        ));
    }
    Ok(Imported {
        site: mapped.site,
        yaml,
        report: mapped.report,
    })
}
