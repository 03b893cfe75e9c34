//! Semantic checks no schema can express.
pub(crate) mod checks;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::site::Site;

/// The rule ids of the warnings the generic checks (every tool's) can report. An
/// acknowledgement of one of them that matches nothing is stale in every tool; an
/// acknowledgement of a tool's own warning (haproxy-gen's `lb-check-unverified`) is stale only
/// where that tool reports the rule elsewhere, so the other tools do not call it unused.
pub const GENERIC_WARNINGS: &[&str] = &[
    "copy-paste",
    "unknown-section",
    "unused",
    "segment-gateway",
    "management-address",
    "backend-node-port",
    "monitoring-no-storage",
    "monitoring-no-receiver",
    "backup-max-age",
];

/// Runs every semantic check and returns all findings, errors and warnings, in document order.
#[must_use]
pub fn validate(site: &Site, document: &Value) -> Vec<Diagnostic> {
    validate_with_gaps(site, document, &[])
}

/// Like [`validate`], for a site built from part of `document`: `gaps` names the top-level
/// sections left out (they break the schema). What they would hold is unknown, not absent, so
/// no finding is a consequence of their absence (a reference into one is not reported as
/// dangling, an address or MAC one would claim is not taken as free).
#[must_use]
pub fn validate_with_gaps(site: &Site, document: &Value, gaps: &[String]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    checks::run(site, document, gaps, &mut out);
    out
}
