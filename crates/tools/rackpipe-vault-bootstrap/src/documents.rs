//! `vault-bootstrap`'s own result documents (`VaultInit`, `VaultUnseal`, `VaultStatus`): the
//! reports in the one envelope ([`rackpipe_model::documents::Document`], naming the tool and the site).

use rackpipe_model::Site;
use rackpipe_model::documents::{Document, Kind};

use crate::cluster::{InitReport, StatusReport, UnsealReport};

/// The tool name written into every document.
pub const TOOL: &str = "vault-bootstrap";

impl Kind for InitReport {
    const KIND: &'static str = "VaultInit";
}

impl Kind for UnsealReport {
    const KIND: &'static str = "VaultUnseal";
}

impl Kind for StatusReport {
    const KIND: &'static str = "VaultStatus";
}

/// `body` in the envelope, naming this tool and `site`.
#[must_use]
pub fn document<T: Kind>(site: &Site, body: T) -> Document<T> {
    Document::of(TOOL, site.metadata.name.as_str(), body)
}

/// Every document kind `vault-bootstrap` prints with its schema file under `schemas/` and the
/// generated schema (drift-tested against the committed file), each in the envelope.
#[must_use]
pub fn schemas() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    use rackpipe_model::schema::schema_of;
    vec![
        (
            InitReport::KIND,
            "vault-init.schema.json",
            schema_of::<Document<InitReport>>("vault-init.schema.json"),
        ),
        (
            UnsealReport::KIND,
            "vault-unseal.schema.json",
            schema_of::<Document<UnsealReport>>("vault-unseal.schema.json"),
        ),
        (
            StatusReport::KIND,
            "vault-status.schema.json",
            schema_of::<Document<StatusReport>>("vault-status.schema.json"),
        ),
    ]
}
