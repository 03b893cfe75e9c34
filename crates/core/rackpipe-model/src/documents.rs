//! The documents the binaries print on stdout: validation reports, rendered files, plans,
//! apply results, import reports and errors. Every one carries `apiVersion` and `kind`.

pub mod import;

pub use import::{
    ImportCounts, ImportEntry, ImportReport, ImportStatus, SecretToStore, secrets_to_store,
};

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;

/// SHA-256 (hex) of a value's canonical JSON (object keys sorted), for plan digests: `apply`
/// recomputes the desired and observed digests and refuses a plan whose digests differ.
#[must_use]
pub fn digest<T: Serialize>(value: &T) -> String {
    use sha2::{Digest, Sha256};
    let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    let canonical = canonical_json(&value);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn canonical_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String(k.clone()),
                        canonical_json(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", body.join(","))
        }
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(canonical_json)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        other => other.to_string(),
    }
}

/// Result of `TOOL validate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ValidationReport {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `ValidationReport`.
    pub kind: String,
    /// The tool that validated.
    pub tool: String,
    /// File name or `<stdin>`.
    pub source: String,
    /// No errors found.
    pub valid: bool,
    /// Every finding.
    pub diagnostics: Vec<Diagnostic>,
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RenderedFile {
    /// Host (or instance) the file is for; empty for site-wide files.
    pub host: String,
    /// Path on that host (or relative path under `--out`).
    pub path: String,
    /// Unix mode, e.g. `0644`.
    pub mode: String,
    /// Content.
    pub content: String,
}

/// Result of `TOOL render`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RenderOutput {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `RenderOutput`.
    pub kind: String,
    /// The tool that rendered.
    pub tool: String,
    /// Site name.
    pub site: String,
    /// The files, sorted by host then path.
    pub files: Vec<RenderedFile>,
    /// Structured desired state, where the tool has one (e.g. RouterOS menus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<serde_json::Value>,
}

/// What a change does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create something missing.
    Create,
    /// Change something in place.
    Update,
    /// Delete something (needs an explicit flag at apply).
    Delete,
    /// Reorder (firewall rules).
    Move,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// What the change does.
    pub action: Action,
    /// Host or API endpoint the change is made on.
    pub target: String,
    /// What is changed: a file path, an API path, a guest, ...
    pub resource: String,
    /// Values before (absent for a create). Secrets are never included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// Values after (absent for a delete). Secrets are never included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
    /// Unified diff for file changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Commands the tool will run, for humans (RouterOS commands, API calls).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
}

/// Change counts in the shape GitLab's `reports:terraform` widget reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeCounts {
    /// Creates (and moves).
    pub create: usize,
    /// Updates.
    pub update: usize,
    /// Deletes.
    pub delete: usize,
}

impl ChangeCounts {
    /// Counts the changes of a plan.
    #[must_use]
    pub fn of(changes: &[Change]) -> Self {
        let mut c = Self::default();
        for change in changes {
            match change.action {
                Action::Create => c.create += 1,
                Action::Update | Action::Move => c.update += 1,
                Action::Delete => c.delete += 1,
            }
        }
        c
    }

    /// Total number of changes.
    #[must_use]
    pub fn total(&self) -> usize {
        self.create + self.update + self.delete
    }
}

/// Result of `TOOL plan`. `apply` recomputes both digests and refuses a plan whose digests
/// no longer match (the site or the remote state moved on since the plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `Plan`.
    pub kind: String,
    /// The tool that planned.
    pub tool: String,
    /// Site name.
    pub site: String,
    /// SHA-256 of the desired state the plan was made from.
    pub desired_digest: String,
    /// SHA-256 of the observed remote state the plan was made against.
    pub observed_digest: String,
    /// Counts per action.
    pub summary: ChangeCounts,
    /// The changes, in the order apply makes them.
    pub changes: Vec<Change>,
    /// Remote objects the site does not manage (removed only with `--allow-destroy`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<String>,
    /// API requests the tool made to read the remote state for this plan (set by tools that
    /// count them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
}

impl Plan {
    /// A plan in the standard envelope; `summary` is computed from `changes`.
    #[must_use]
    pub fn new(
        tool: &str,
        site: &str,
        desired_digest: String,
        observed_digest: String,
        changes: Vec<Change>,
    ) -> Self {
        Self {
            api_version: crate::API_VERSION.to_owned(),
            kind: "Plan".to_owned(),
            tool: tool.to_owned(),
            site: site.to_owned(),
            desired_digest,
            observed_digest,
            summary: ChangeCounts::of(&changes),
            changes,
            unmanaged: Vec::new(),
            requests: None,
        }
    }

    /// Refuses a saved plan (`expected`, e.g. `apply --plan FILE`) that no longer matches
    /// this plan, made now from the same site against the same remote: the site changed (the
    /// desired digests differ) or the remote did (the observed digests differ; `observed`
    /// names it for the message, e.g. `"the router"`, `"the exports on nas1"`). `None` (no
    /// saved plan) is always fresh. The one stale-plan check of every tool.
    ///
    /// # Errors
    /// [`StalePlan`] saying which side changed.
    pub fn check_fresh(&self, expected: Option<&Plan>, observed: &str) -> Result<(), StalePlan> {
        check_digests(
            expected,
            &self.desired_digest,
            &self.observed_digest,
            observed,
        )
    }

    /// As [`Plan::check_fresh`], and also refuses a saved plan whose changes differ from this
    /// plan's although both digests match: it was made with other options (e.g. without
    /// `--allow-destroy`), so applying it now would do something else than it shows.
    ///
    /// # Errors
    /// [`StalePlan`] saying which side changed.
    pub fn check_same(&self, expected: Option<&Plan>, observed: &str) -> Result<(), StalePlan> {
        self.check_fresh(expected, observed)?;
        match expected {
            Some(expected) if expected.changes != self.changes => Err(StalePlan {
                part: PlanPart::Changes,
                what: String::new(),
            }),
            _ => Ok(()),
        }
    }
}

/// The stale-plan check for a tool that computes the digests without building a whole plan:
/// refuses `expected` when its desired digest differs from `desired_digest` (the site
/// changed) or its observed digest from `observed_digest` (`observed`, e.g. `"the nodes"`,
/// changed). `None` is always fresh. [`Plan::check_fresh`] is this on a plan's digests.
///
/// # Errors
/// [`StalePlan`] saying which side changed.
pub fn check_digests(
    expected: Option<&Plan>,
    desired_digest: &str,
    observed_digest: &str,
    observed: &str,
) -> Result<(), StalePlan> {
    let Some(expected) = expected else {
        return Ok(());
    };
    if expected.desired_digest != desired_digest {
        return Err(StalePlan {
            part: PlanPart::Desired,
            what: "the site".to_owned(),
        });
    }
    if expected.observed_digest != observed_digest {
        return Err(StalePlan {
            part: PlanPart::Observed,
            what: observed.to_owned(),
        });
    }
    Ok(())
}

/// Which part of a saved plan no longer matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanPart {
    /// The desired state: the site (or the rendered files) changed.
    Desired,
    /// The observed remote state changed.
    Observed,
    /// Both digests match, but the changes differ (the plan was made with other options).
    Changes,
}

/// A saved plan refused because it no longer matches what apply would do now (exit 1: plan
/// again). One message for every tool:
/// `stale plan: the site changed since the plan was made; run plan again`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stale plan: {}; run plan again", self.reason())]
pub struct StalePlan {
    /// Which part differs.
    pub part: PlanPart,
    /// What changed, for the message: `the site`, or the remote (`the router`,
    /// `the remote files (lb2:/etc/haproxy/haproxy.cfg)`); empty for [`PlanPart::Changes`].
    pub what: String,
}

impl StalePlan {
    /// The reason, without the `stale plan:` prefix.
    #[must_use]
    pub fn reason(&self) -> String {
        match self.part {
            PlanPart::Desired | PlanPart::Observed => {
                format!("{} changed since the plan was made", self.what)
            }
            PlanPart::Changes => "its changes differ from what apply would do now (was it made \
                 with other options, e.g. --allow-destroy?)"
                .to_owned(),
        }
    }
}

/// Result of `TOOL apply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApplyResult {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `ApplyResult`.
    pub kind: String,
    /// The tool that applied.
    pub tool: String,
    /// Site name.
    pub site: String,
    /// Changes made.
    pub applied: Vec<Change>,
    /// Counts of what was made.
    pub summary: ChangeCounts,
    /// Facts learned while applying (addresses, MACs, VMIDs), for the next tool in a pipe.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, serde_json::Value>,
}

/// The body of a document of its own kind (a tool's report: `EtcdSnapshotList`,
/// `VaultInit`, ...), printed in a [`Document`].
pub trait Kind: Serialize {
    /// The document's `kind`.
    const KIND: &'static str;
}

/// The one envelope of the documents beside the standard ones (validation report, render
/// output, plan, apply result, error): `apiVersion`, `kind`, the tool and the site when the
/// document names them, and the body's fields beside them:
/// `{"apiVersion": "rackpipe/v1", "kind": "EtcdRestore", "snapshot": ..., ...}`. Its schema is
/// `schema::schema_of::<Document<Body>>(file)` (the body deriving `JsonSchema`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Document<T> {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// The body's [`Kind::KIND`].
    pub kind: String,
    /// The tool that printed it, when the document names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The site's name, when the document names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The body, its fields beside the envelope's.
    #[serde(flatten)]
    pub body: T,
}

impl<T: Kind> Document<T> {
    /// `body` in its envelope, naming neither tool nor site.
    #[must_use]
    pub fn new(body: T) -> Self {
        Self {
            api_version: crate::API_VERSION.to_owned(),
            kind: T::KIND.to_owned(),
            tool: None,
            site: None,
            body,
        }
    }

    /// `body` in its envelope, naming the tool and the site.
    #[must_use]
    pub fn of(tool: &str, site: &str, body: T) -> Self {
        Self {
            tool: Some(tool.to_owned()),
            site: Some(site.to_owned()),
            ..Self::new(body)
        }
    }
}

/// Printed on stdout when a command fails after parsing its arguments, so a pipe's next
/// stage sees a document rather than nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDocument {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `Error`.
    pub kind: String,
    /// The tool that failed.
    pub tool: String,
    /// Exit code the tool returns.
    pub exit_code: u8,
    /// One-line message.
    pub message: String,
    /// Findings, when the error is an invalid site.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(desired: &str, observed: &str, changes: Vec<Change>) -> Plan {
        Plan::new("t", "s", desired.to_owned(), observed.to_owned(), changes)
    }

    #[test]
    fn stale_plans_are_refused_with_one_message() {
        let now = plan("d", "o", Vec::new());
        assert_eq!(now.check_fresh(None, "the router"), Ok(()));
        assert_eq!(now.check_fresh(Some(&now.clone()), "the router"), Ok(()));
        let site = now.check_fresh(Some(&plan("d2", "o", Vec::new())), "the router");
        assert_eq!(
            site.unwrap_err().to_string(),
            "stale plan: the site changed since the plan was made; run plan again"
        );
        let remote = now
            .check_fresh(Some(&plan("d", "o2", Vec::new())), "the router")
            .unwrap_err();
        assert_eq!(remote.part, PlanPart::Observed);
        assert_eq!(
            remote.to_string(),
            "stale plan: the router changed since the plan was made; run plan again"
        );
        let other = plan(
            "d",
            "o",
            vec![Change {
                action: Action::Delete,
                target: "h".into(),
                resource: "r".into(),
                before: None,
                after: None,
                diff: None,
                commands: Vec::new(),
            }],
        );
        assert_eq!(other.check_fresh(Some(&now), "x"), Ok(()), "digests only");
        let changes = other.check_same(Some(&now), "x").unwrap_err();
        assert_eq!(changes.part, PlanPart::Changes);
        assert_eq!(
            changes.to_string(),
            "stale plan: its changes differ from what apply would do now (was it made with \
             other options, e.g. --allow-destroy?); run plan again"
        );
    }

    #[test]
    fn documents_put_the_body_beside_the_envelope() {
        #[derive(Serialize)]
        struct Restore {
            snapshot: String,
        }
        impl Kind for Restore {
            const KIND: &'static str = "EtcdRestore";
        }
        let body = || Restore {
            snapshot: "/b/s.db".into(),
        };
        assert_eq!(
            serde_json::to_value(Document::new(body())).unwrap(),
            serde_json::json!({"apiVersion": "rackpipe/v1", "kind": "EtcdRestore", "snapshot": "/b/s.db"})
        );
        let named = serde_json::to_string(&Document::of("etcd-backup", "lab", body())).unwrap();
        assert_eq!(
            named,
            r#"{"apiVersion":"rackpipe/v1","kind":"EtcdRestore","tool":"etcd-backup","site":"lab","snapshot":"/b/s.db"}"#
        );
    }

    #[test]
    fn digest_ignores_key_order() {
        let a = serde_json::json!({"a": 1, "b": [1, {"x": 2, "y": 3}]});
        let b = serde_json::json!({"b": [1, {"y": 3, "x": 2}], "a": 1});
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&serde_json::json!({"a": 2})));
        assert_eq!(digest(&a).len(), 64);
    }
}
