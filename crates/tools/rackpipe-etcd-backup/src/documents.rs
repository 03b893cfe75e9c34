//! The JSON documents `etcd-backup` prints on stdout: typed bodies in the one envelope
//! ([`rackpipe_model::documents::Document`]: `apiVersion`, `kind`, the body's fields).
//! `snapshot` prints the [`crate::Manifest`] itself.

use std::path::PathBuf;

use rackpipe_model::documents::Kind;
use serde::Serialize;

use crate::drill::DrillReport;
use crate::list::{Entry, PrunePlan};
use crate::verify::Verified;

/// `list` and `verify --all`: the snapshots at a destination.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotList {
    /// The destination directory.
    pub dir: PathBuf,
    /// Its snapshots, oldest first, with manifests and states.
    pub snapshots: Vec<Entry>,
}

impl Kind for SnapshotList {
    const KIND: &'static str = "EtcdSnapshotList";
}

/// `restore`: the data directories made.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreResult {
    /// The snapshot restored.
    pub snapshot: PathBuf,
    /// One data directory per restored member.
    pub data_dirs: Vec<PathBuf>,
}

impl Kind for RestoreResult {
    const KIND: &'static str = "EtcdRestore";
}

impl Kind for Verified {
    const KIND: &'static str = "EtcdSnapshotVerified";
}

impl Kind for PrunePlan {
    const KIND: &'static str = "EtcdPrune";
}

impl Kind for DrillReport {
    const KIND: &'static str = "EtcdDrill";
}

#[cfg(test)]
mod tests {
    use rackpipe_model::documents::Document;

    use super::*;

    #[test]
    fn envelope_puts_the_body_beside_api_version_and_kind() {
        let doc = Document::new(RestoreResult {
            snapshot: PathBuf::from("/b/s.db"),
            data_dirs: vec![PathBuf::from("/r/m1")],
        });
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            serde_json::json!({
                "apiVersion": "rackpipe/v1",
                "kind": "EtcdRestore",
                "snapshot": "/b/s.db",
                "data_dirs": ["/r/m1"],
            })
        );
    }
}
