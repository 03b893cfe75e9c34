//! The JSON documents `etcd-backup` prints on stdout: typed bodies in the one envelope
//! ([`rackpipe_model::documents::Document`]: `apiVersion`, `kind`, the body's fields).
//! `snapshot` prints the [`crate::Manifest`] itself.

use std::path::PathBuf;

use rackpipe_model::documents::{Document, Kind};
use serde::Serialize;

use crate::drill::DrillReport;
use crate::list::{Entry, PrunePlan};
use crate::verify::Verified;

/// `list` and `verify --all`: the snapshots at a destination.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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

/// Every document kind `etcd-backup` prints with its schema file under `schemas/` and the
/// generated schema (drift-tested against the committed file): the enveloped bodies and the
/// snapshot [`crate::Manifest`] (kind `EtcdSnapshot`, printed and written as it is).
#[must_use]
pub fn schemas() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    use rackpipe_model::schema::schema_of;
    fn enveloped<T: Kind + schemars::JsonSchema>(
        file: &'static str,
    ) -> (&'static str, &'static str, serde_json::Value) {
        (T::KIND, file, schema_of::<Document<T>>(file))
    }
    vec![
        enveloped::<SnapshotList>("etcd-snapshot-list.schema.json"),
        enveloped::<Verified>("etcd-snapshot-verified.schema.json"),
        enveloped::<PrunePlan>("etcd-prune.schema.json"),
        enveloped::<RestoreResult>("etcd-restore.schema.json"),
        enveloped::<DrillReport>("etcd-drill.schema.json"),
        (
            "EtcdSnapshot",
            "etcd-snapshot.schema.json",
            schema_of::<crate::Manifest>("etcd-snapshot.schema.json"),
        ),
    ]
}

#[cfg(test)]
mod tests {
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
