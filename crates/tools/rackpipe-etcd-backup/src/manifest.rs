//! The JSON manifest written beside every snapshot (`<snapshot file>.json`).

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The manifest's `kind`.
pub const MANIFEST_KIND: &str = "EtcdSnapshot";

/// How the snapshot file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// The raw stream as etcd sent it (`.db`).
    None,
    /// zstd-compressed (`.db.zst`).
    Zstd,
}

impl Compression {
    /// The file name suffix.
    #[must_use]
    pub fn suffix(self) -> &'static str {
        match self {
            Self::None => ".db",
            Self::Zstd => ".db.zst",
        }
    }
}

/// Everything known about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Manifest {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `EtcdSnapshot`.
    pub kind: String,
    /// The snapshot's file name (in the manifest's directory).
    pub file: String,
    /// etcd cluster id (hex).
    pub cluster_id: String,
    /// Id of the member the snapshot came from (hex).
    pub member_id: String,
    /// The client URL used.
    pub endpoint: String,
    /// The member's etcd version.
    pub etcd_version: String,
    /// The member's revision just before the snapshot started; the snapshot holds at least this.
    pub revision: i64,
    /// The member's revision just after the stream ended; the snapshot holds at most this.
    /// Equal to `revision` when nothing was written meanwhile.
    pub revision_after: i64,
    /// Number of keys at `revision` (a count-only range over the whole key space).
    pub key_count: Option<i64>,
    /// The member's raft index before the snapshot.
    pub raft_index: u64,
    /// The member's raft term before the snapshot.
    pub raft_term: u64,
    /// Backend size the member reported before the snapshot (bytes).
    pub db_size: i64,
    /// Bytes of the raw snapshot stream (database plus the 32-byte etcd hash).
    pub snapshot_size: u64,
    /// SHA-256 (hex) of the raw snapshot stream; equals `sha256` when uncompressed.
    pub snapshot_sha256: String,
    /// Bytes of the file as stored.
    pub file_size: u64,
    /// SHA-256 (hex) of the file as stored.
    pub sha256: String,
    /// How the file is stored.
    pub compression: Compression,
    /// When the stream was requested.
    #[schemars(with = "String")]
    pub started_at: Timestamp,
    /// When the file was complete and synced.
    #[schemars(with = "String")]
    pub finished_at: Timestamp,
    /// The tool that wrote it.
    pub tool: String,
    /// The tool's version.
    pub tool_version: String,
}

impl Manifest {
    /// The manifest path for a snapshot file: the file name plus `.json`.
    #[must_use]
    pub fn path_for(snapshot: &Path) -> PathBuf {
        let mut name = snapshot
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".json");
        snapshot.with_file_name(name)
    }

    /// Reads and checks a manifest: ours, and naming only the snapshot beside it (see
    /// [`Manifest::check_file`]).
    ///
    /// # Errors
    /// [`Error::Manifest`] naming the path when it is unreadable, not JSON, not ours, or names
    /// any file but its own snapshot.
    pub fn read(path: &Path) -> Result<Self> {
        let manifest = Self::load(path)?;
        manifest.check_file(path)?;
        Ok(manifest)
    }

    /// Reads a manifest and checks its `kind`, not yet its `file`.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            reason: format!("cannot read: {e}"),
        })?;
        let manifest: Self = serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            reason: format!("not a snapshot manifest: {e}"),
        })?;
        if manifest.kind != MANIFEST_KIND {
            return Err(Error::Manifest {
                path: path.to_path_buf(),
                reason: format!(
                    "kind is \"{}\", expected \"{MANIFEST_KIND}\"",
                    manifest.kind
                ),
            });
        }
        Ok(manifest)
    }

    /// A manifest at `path` (`<snapshot>.json`) may name only the snapshot beside it: its
    /// `file` must be exactly its own name without `.json`, and a snapshot name (`.db` or
    /// `.db.zst`, not hidden). So `prune`, which deletes what manifests name, can delete
    /// nothing else: not `../x`, an absolute path, a directory, another snapshot or any other
    /// file of the directory.
    ///
    /// # Errors
    /// [`Error::Manifest`] naming the manifest and the `file` field.
    pub fn check_file(&self, path: &Path) -> Result<()> {
        let own = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"));
        let file = self.file.as_str();
        let snapshot_name = !file.starts_with('.')
            && (file.ends_with(".db") || file.ends_with(".db.zst"))
            && !file.contains(['/', '\\', '\0']);
        if own == Some(file) && snapshot_name {
            return Ok(());
        }
        let expected = own.map_or_else(
            || "a manifest is named <snapshot>.json".to_owned(),
            |own| format!("must be \"{own}\", the snapshot beside the manifest"),
        );
        Err(Error::Manifest {
            path: path.to_path_buf(),
            reason: format!(
                "file: \"{}\" {expected} (a .db or .db.zst file in the same directory)",
                file.escape_debug()
            ),
        })
    }

    /// Pretty JSON with a final newline.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| String::from("{}"));
        text.push('\n');
        text
    }

    /// Writes the manifest atomically (temp file, fsync, rename) to `path`.
    ///
    /// # Errors
    /// [`Error::Io`] and friends naming the path.
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.to_json().as_bytes())
    }
}

/// Writes `bytes` to `path` privately (`0600` whatever the umask) through a temp file in the
/// same directory, fsynced and renamed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    rackpipe_model::files::write_private(path, bytes)
        .map_err(|e| Error::io(&e.path, "write", e.source))
}
