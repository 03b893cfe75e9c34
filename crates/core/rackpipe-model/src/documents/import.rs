//! The one report of every `import` verb (ros-render, pve-sync, nfs-export, vault-bootstrap):
//! what was read, where each thing went (typed fields, the generic section, partly, not at all,
//! with why and where), the secret references the user must store, and the paths that could
//! not be read. Never a secret value.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Things read, by where they went. What a thing is depends on the tool (see
/// [`ImportReport::unit`]: RouterOS commands, guests, NFS clients, Vault objects).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportCounts {
    /// All things read.
    pub total: usize,
    /// In the site's typed fields, fully.
    pub typed: usize,
    /// In the site's generic (per-menu) section: kept, but not as typed fields.
    pub generic: usize,
    /// In the site, with some settings left out (listed in [`ImportReport::entries`]).
    pub partly: usize,
    /// Not in the site (listed in [`ImportReport::entries`]).
    pub not_imported: usize,
}

/// Where a listed thing went.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Kept in the generic (per-menu) section, not as typed fields.
    Generic,
    /// In the site, with what [`ImportEntry::reasons`] names left out.
    Partly,
    /// Not in the site.
    NotImported,
}

/// A thing that is not (fully) in the site's typed fields, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportEntry {
    /// Where it went.
    pub status: ImportStatus,
    /// What it is: a RouterOS menu (`/ip/firewall/filter`), a guest (`vm-a (qemu 301)`), an
    /// NFS client or option (`option no_wdelay of 198.18.0.0/24 on /srv/media`), an API path
    /// (`sys/auth/ldap`).
    pub what: String,
    /// Where in the source: `FILE:LINE` when known, else what the source calls it
    /// (`share media`); absent when the source has no place to name (an API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Why it is not (fully) typed: what is missing, what the model cannot say.
    pub reasons: Vec<String>,
    /// How many things of the source this entry stands for, when more than one (the entries
    /// of a menu kept in the generic section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

/// A secret the import replaced by a reference (or named without reading it): the user must
/// store its value there before plan or apply. Only the reference, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretToStore {
    /// The reference (`env:ROS_USER_NAME_ADMIN_PASSWORD`, `vault:kv/router#...`).
    pub reference: String,
    /// What it stands for: the place in the source and the property
    /// (`/user name=admin password`, `vm-a (qemu 301) sshkeys`,
    /// `auth/userpass/users/ops password`).
    pub stands_for: String,
    /// Where in the source (`FILE:LINE`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Whether the reference is written into the site (`false`: the model has no field for
    /// the setting; the reference is the one to use when adding it).
    pub in_site: bool,
}

/// What an `import` verb produced: the site, its YAML (with the comments on each choice and
/// on what was not imported; what `import` prints) and the tool's own report, which it turns
/// into an [`ImportReport`].
#[derive(Debug, Clone)]
pub struct Imported<R> {
    /// The site (validated).
    pub site: crate::site::Site,
    /// The site as YAML with comments.
    pub yaml: String,
    /// What the import did.
    pub report: R,
}

/// Result of `TOOL import`: written as JSON to `--report FILE`, else printed as text
/// ([`ImportReport::human`]) on stderr. It never holds a secret value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportReport {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `ImportReport`.
    pub kind: String,
    /// The tool that imported.
    pub tool: String,
    /// The imported site's name (`metadata.name`).
    pub site: String,
    /// What was read: a file name, `<stdin>`, a URL, a host.
    pub source: String,
    /// The source system's version, when it says (the RouterOS version of an export's header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// The site sections the import describes (`router`, `proxmox`, `nas`, `vault`): what
    /// `--into FILE` replaces.
    pub sections: Vec<String>,
    /// What [`ImportReport::counts`] counts: `commands`, `guests`, `clients`, `objects`.
    pub unit: String,
    /// Things read, by where they went.
    pub counts: ImportCounts,
    /// What the site holds now, by kind (`mounts`, `policies`, `exports`, `templates`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, usize>,
    /// Every thing that is not (fully) in the typed fields: generic, partly, not imported.
    pub entries: Vec<ImportEntry>,
    /// Every secret reference the user must store.
    pub secrets: Vec<SecretToStore>,
    /// Choices the import made (a placeholder, a default left out), one line each; each is
    /// also a `#` comment in the site.
    pub choices: Vec<String>,
    /// Paths the credentials may not read (HTTP 403): what is behind them is not in the site.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// Changes the plan of the imported site still shows against the source (empty: checked,
    /// none); absent: not checked (some path was unreadable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_changes: Option<Vec<String>>,
    /// Every path was readable and the plan of the imported site is empty (else the import
    /// exits non-zero after printing what it could).
    pub complete: bool,
}

impl ImportReport {
    /// An empty report in the standard envelope: nothing read yet, complete.
    #[must_use]
    pub fn new(tool: &str, site: &str, source: &str, unit: &str, sections: &[&str]) -> Self {
        Self {
            api_version: crate::API_VERSION.to_owned(),
            kind: "ImportReport".to_owned(),
            tool: tool.to_owned(),
            site: site.to_owned(),
            source: source.to_owned(),
            source_version: None,
            sections: sections.iter().map(|s| (*s).to_owned()).collect(),
            unit: unit.to_owned(),
            counts: ImportCounts::default(),
            objects: BTreeMap::new(),
            entries: Vec::new(),
            secrets: Vec::new(),
            choices: Vec::new(),
            unreadable: Vec::new(),
            plan_changes: None,
            complete: true,
        }
    }

    /// The report as lines for a person (stderr): the counts, the secrets to store, the
    /// unreadable paths, the choices, then every entry not fully typed.
    #[must_use]
    pub fn human(&self) -> String {
        let c = &self.counts;
        let version = self
            .source_version
            .as_ref()
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default();
        let mut s = format!(
            "imported {}{version}: {} {}, {} typed, {} generic, {} partly, {} not imported\n",
            self.source, c.total, self.unit, c.typed, c.generic, c.partly, c.not_imported
        );
        if !self.objects.is_empty() {
            let list: Vec<String> = self
                .objects
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            let _ = writeln!(s, "in the site: {}", list.join(", "));
        }
        s.push_str(&secrets_to_store(&self.secrets));
        for path in &self.unreadable {
            let _ = writeln!(s, "unreadable: {path}: permission denied (not imported)");
        }
        for c in &self.choices {
            let _ = writeln!(s, "note: {c}");
        }
        for e in &self.entries {
            let label = match e.status {
                ImportStatus::Generic => "generic",
                ImportStatus::Partly => "partly imported",
                ImportStatus::NotImported => "not imported",
            };
            let at = e
                .location
                .as_ref()
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            let count = e.count.map(|n| format!(" ({n})")).unwrap_or_default();
            let _ = writeln!(
                s,
                "{label}: {at}{}{count}: {}",
                e.what,
                e.reasons.join("; ")
            );
        }
        match &self.plan_changes {
            None => {}
            Some(changes) => {
                for change in changes {
                    let _ = writeln!(s, "plan of the imported site still changes: {change}");
                }
            }
        }
        if !self.unreadable.is_empty() && self.plan_changes.is_none() {
            s.push_str("plan of the imported site: not checked (unreadable paths)\n");
        }
        s
    }
}

/// The secret references to store, for a person: a line saying what to do, then one line
/// each, `  REFERENCE  <- WHAT (LOCATION)`; empty when there are none. The one listing of
/// every import's secrets.
#[must_use]
pub fn secrets_to_store(secrets: &[SecretToStore]) -> String {
    let mut s = String::new();
    if secrets.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "{} secrets are references; store each value there before plan/apply:",
        secrets.len()
    );
    for e in secrets {
        let at = e
            .location
            .as_ref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        let note = if e.in_site { "" } else { " (not in the site)" };
        let _ = writeln!(s, "  {}  <- {}{at}{note}", e.reference, e.stands_for);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_as_lines_and_lists_references_only() {
        let mut r = ImportReport::new("ros-render", "lab", "x.rsc", "commands", &["router"]);
        r.counts = ImportCounts {
            total: 3,
            typed: 1,
            generic: 1,
            partly: 0,
            not_imported: 1,
        };
        r.secrets.push(SecretToStore {
            reference: "env:ROS_USER_NAME_OPS_PASSWORD".into(),
            stands_for: "/user name=ops password".into(),
            location: Some("x.rsc:4".into()),
            in_site: true,
        });
        r.entries.push(ImportEntry {
            status: ImportStatus::NotImported,
            what: "/interface ethernet".into(),
            location: Some("x.rsc:9".into()),
            reasons: vec!["a set by position".into()],
            count: None,
        });
        let text = r.human();
        assert_eq!(
            text,
            "imported x.rsc: 3 commands, 1 typed, 1 generic, 0 partly, 1 not imported\n\
             1 secrets are references; store each value there before plan/apply:\n\
             \x20 env:ROS_USER_NAME_OPS_PASSWORD  <- /user name=ops password (x.rsc:4)\n\
             not imported: x.rsc:9: /interface ethernet: a set by position\n"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["kind"], "ImportReport");
        assert_eq!(json["apiVersion"], "rackpipe/v1");
        assert_eq!(json["entries"][0]["status"], "not_imported");
    }
}
