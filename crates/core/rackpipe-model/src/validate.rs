//! Semantic checks no schema can express.
pub(crate) mod checks;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::site::Site;

/// Runs every semantic check and returns all findings, errors and warnings, in document order.
#[must_use]
pub fn validate(site: &Site, document: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    checks::run(site, document, &mut out);
    out
}
