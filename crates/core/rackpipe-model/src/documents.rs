//! The documents the binaries print on stdout: validation reports, rendered files, plans,
//! apply results and errors. Every one carries `apiVersion` and `kind`.

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

    #[test]
    fn digest_ignores_key_order() {
        let a = serde_json::json!({"a": 1, "b": [1, {"x": 2, "y": 3}]});
        let b = serde_json::json!({"b": [1, {"y": 3, "x": 2}], "a": 1});
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&serde_json::json!({"a": 2})));
        assert_eq!(digest(&a).len(), 64);
    }
}
