//! `vault-bootstrap`'s own result documents (`VaultInit`, `VaultUnseal`): the reports in the
//! one envelope ([`rackpipe_model::documents::Document`], naming the tool and the site).

use rackpipe_model::Site;
use rackpipe_model::documents::{Document, Kind};

use crate::cluster::{InitReport, UnsealReport};

/// The tool name written into every document.
pub const TOOL: &str = "vault-bootstrap";

impl Kind for InitReport {
    const KIND: &'static str = "VaultInit";
}

impl Kind for UnsealReport {
    const KIND: &'static str = "VaultUnseal";
}

/// `body` in the envelope, naming this tool and `site`.
#[must_use]
pub fn document<T: Kind>(site: &Site, body: T) -> Document<T> {
    Document::of(TOOL, site.metadata.name.as_str(), body)
}
