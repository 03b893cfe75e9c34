//! The envelope of `vault-bootstrap`'s own result documents (`VaultInit`, `VaultUnseal`):
//! `apiVersion`, `kind`, `tool`, `site` and the report's fields beside them.

use rackpipe_model::{API_VERSION, Site};
use serde::Serialize;

use crate::cluster::{InitReport, UnsealReport};

/// The tool name written into every document.
pub const TOOL: &str = "vault-bootstrap";

/// A report with its document kind.
pub trait Kind: Serialize {
    /// The document's `kind`.
    const KIND: &'static str;
}

impl Kind for InitReport {
    const KIND: &'static str = "VaultInit";
}

impl Kind for UnsealReport {
    const KIND: &'static str = "VaultUnseal";
}

/// `{"apiVersion", "kind", "tool", "site", <the report's fields>}`.
#[derive(Debug, Clone, Serialize)]
pub struct Document<T: Kind> {
    /// Always [`API_VERSION`].
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    /// [`Kind::KIND`] of the report.
    pub kind: &'static str,
    /// Always [`TOOL`].
    pub tool: &'static str,
    /// The site's `metadata.name`.
    pub site: String,
    /// The report, its fields beside the envelope's.
    #[serde(flatten)]
    pub body: T,
}

impl<T: Kind> Document<T> {
    /// `body` in its envelope, for `site`.
    #[must_use]
    pub fn new(site: &Site, body: T) -> Self {
        Self {
            api_version: API_VERSION,
            kind: T::KIND,
            tool: TOOL,
            site: site.metadata.name.to_string(),
            body,
        }
    }
}
