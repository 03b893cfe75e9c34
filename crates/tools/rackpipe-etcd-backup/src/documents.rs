//! The JSON documents `etcd-backup` prints on stdout: the standard envelope (`apiVersion`,
//! `kind`) around a typed body. `snapshot` prints the [`crate::Manifest`] itself.

use std::path::PathBuf;

use rackpipe_model::API_VERSION;
use serde::Serialize;

use crate::drill::DrillReport;
use crate::list::{Entry, PrunePlan};
use crate::verify::Verified;

/// A body with its document kind.
pub trait Kind: Serialize {
    /// The `kind` of the document (`EtcdSnapshotList`, ...).
    const KIND: &'static str;
}

/// `{"apiVersion": "rackpipe/v1", "kind": ..., <the body's fields>}`.
#[derive(Debug, Clone, Serialize)]
pub struct Document<T: Kind> {
    /// Always [`API_VERSION`].
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    /// [`Kind::KIND`] of the body.
    pub kind: &'static str,
    /// The body, its fields beside `apiVersion` and `kind`.
    #[serde(flatten)]
    pub body: T,
}

impl<T: Kind> Document<T> {
    /// The body in its envelope.
    #[must_use]
    pub fn new(body: T) -> Self {
        Self {
            api_version: API_VERSION,
            kind: T::KIND,
            body,
        }
    }
}

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
