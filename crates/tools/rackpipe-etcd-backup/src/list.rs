//! Listing the snapshots at a destination, and pruning them by a retention policy.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rackpipe_model::documents::{Action, Change, Plan};
use rackpipe_model::kubernetes::Retention;
use serde::Serialize;

use crate::documents::SnapshotList;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::retention::{Candidate, Decision, plan};
use crate::snapshot::PARTIAL_SUFFIX;
use crate::verify::verify_with;

/// Verification state of a listed snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Not checked (listing without `verify`).
    NotChecked,
    /// Passed [`crate::verify()`].
    Verified,
    /// Failed verification.
    Failed {
        /// The one-line error.
        error: String,
    },
    /// A manifest whose snapshot file is gone.
    Missing,
    /// A snapshot file without a manifest (never pruned).
    Orphan,
    /// A temp file of an interrupted run (never a final name; never pruned).
    Partial,
}

/// `manifest` is printed as `null` when there is none: the schema says so (the shared
/// generator turns a plain `Option` of a struct into the struct alone).
fn nullable_manifest(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let manifest = generator.subschema_for::<Manifest>();
    schemars::json_schema!({ "oneOf": [manifest, { "type": "null" }] })
}

/// One snapshot at the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Entry {
    /// The snapshot (or temp) file.
    pub path: PathBuf,
    /// Its manifest, when there is one.
    #[schemars(schema_with = "nullable_manifest")]
    pub manifest: Option<Manifest>,
    /// When it was taken (manifest), or the file's modification time.
    #[schemars(with = "Option<String>")]
    pub time: Option<Timestamp>,
    /// File size in bytes (0 when missing).
    pub size: u64,
    /// Verification state.
    #[serde(flatten)]
    pub state: State,
}

fn is_snapshot_name(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".db") || name.ends_with(".db.zst"))
}

/// Lists the snapshots in `dir`, oldest first. With `verify`, every snapshot is verified
/// (which reads every byte).
///
/// # Errors
/// An I/O error naming `dir` when it cannot be read; [`Error::Manifest`] for a manifest that
/// names anything but the snapshot beside it (so [`prune`] deletes nothing then); other
/// per-file problems become states.
pub fn list(dir: &Path, verify: bool) -> Result<Vec<Entry>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "read directory", e))?;
    let mut names: Vec<String> = read
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut entries = Vec::new();
    for name in &names {
        let path = dir.join(name);
        let meta = std::fs::metadata(&path).ok();
        let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
        let mtime = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| Timestamp::try_from(t).ok());
        if name.ends_with(PARTIAL_SUFFIX) {
            entries.push(Entry {
                path,
                manifest: None,
                time: mtime,
                size,
                state: State::Partial,
            });
        } else if name.ends_with(".json") {
            let manifest = match Manifest::load(&path) {
                Ok(manifest) => manifest,
                Err(e) => {
                    tracing::warn!(error = %e, "not a snapshot manifest; ignored");
                    continue;
                }
            };
            // A manifest of ours that names anything but the snapshot beside it is refused:
            // prune deletes what manifests name.
            manifest.check_file(&path)?;
            let file = dir.join(&manifest.file);
            let size = std::fs::metadata(&file).map_or(0, |m| m.len());
            let state = if !file.exists() {
                State::Missing
            } else if verify {
                match verify_with(&file, Some(&manifest)) {
                    Ok(_) => State::Verified,
                    Err(e) => State::Failed {
                        error: e.to_string(),
                    },
                }
            } else {
                State::NotChecked
            };
            entries.push(Entry {
                path: file,
                time: Some(manifest.started_at),
                manifest: Some(manifest),
                size,
                state,
            });
        } else if is_snapshot_name(name) && !names.contains(&format!("{name}.json")) {
            entries.push(Entry {
                path,
                manifest: None,
                time: mtime,
                size,
                state: State::Orphan,
            });
        }
    }
    entries.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.path.cmp(&b.path)));
    Ok(entries)
}

/// The newest snapshot in `dir` that has a manifest and passes verification (the one a drill
/// or a restore should use), or `None`.
///
/// # Errors
/// An I/O error naming `dir` when it cannot be read.
pub fn latest_verified(dir: &Path) -> Result<Option<Entry>> {
    let mut entries = list(dir, false)?;
    entries.reverse();
    Ok(entries
        .into_iter()
        .filter(|e| e.manifest.is_some() && e.state != State::Missing)
        .find_map(|mut e| {
            verify_with(&e.path, e.manifest.as_ref()).ok().map(|_| {
                e.state = State::Verified;
                e
            })
        }))
}

/// The newest snapshot in `dir` that has a manifest, verified or not (what `verify --latest`
/// checks: a damaged newest snapshot must fail, not be skipped), or `None`.
///
/// # Errors
/// An I/O error naming `dir` when it cannot be read.
pub fn latest(dir: &Path) -> Result<Option<Entry>> {
    Ok(list(dir, false)?
        .into_iter()
        .rev()
        .find(|e| e.manifest.is_some()))
}

/// [`latest`] or [`Error::NoSnapshot`].
///
/// # Errors
/// As [`latest`], and when `dir` holds no snapshot with a manifest.
pub fn newest(dir: &Path) -> Result<PathBuf> {
    latest(dir)?
        .map(|e| e.path)
        .ok_or_else(|| Error::NoSnapshot {
            dir: dir.to_path_buf(),
            what: "snapshot with a manifest",
        })
}

/// [`latest_verified`] or [`Error::NoSnapshot`].
///
/// # Errors
/// As [`latest_verified`], and when `dir` holds no verified snapshot.
pub fn newest_verified(dir: &Path) -> Result<PathBuf> {
    latest_verified(dir)?
        .map(|e| e.path)
        .ok_or_else(|| Error::NoSnapshot {
            dir: dir.to_path_buf(),
            what: "verified snapshot",
        })
}

/// `verify --all`: every snapshot in `dir` verified, and one line per failing one.
#[derive(Debug, Clone)]
pub struct VerifyAll {
    /// The verified listing (printed whatever the outcome).
    pub list: SnapshotList,
    /// [`failures`] of the listing.
    pub failures: Vec<String>,
}

impl VerifyAll {
    /// Verifies every snapshot in `dir`.
    ///
    /// # Errors
    /// An I/O error naming `dir` when it cannot be read.
    pub fn run(dir: &Path) -> Result<Self> {
        let snapshots = list(dir, true)?;
        let failures = failures(&snapshots);
        Ok(Self {
            list: SnapshotList {
                dir: dir.to_path_buf(),
                snapshots,
            },
            failures,
        })
    }

    /// `Ok` when every snapshot passed, else [`Error::VerifyFailed`] naming each failure.
    ///
    /// # Errors
    /// As said.
    pub fn outcome(&self) -> Result<()> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(Error::VerifyFailed {
                dir: self.list.dir.clone(),
                failures: self.failures.clone(),
            })
        }
    }
}

/// The site's `backups.etcd.retention`.
///
/// # Errors
/// [`Error::Site`] when the site has no etcd backup job.
pub fn retention_of(site: &rackpipe_model::Site) -> Result<Retention> {
    site.backups
        .as_ref()
        .and_then(|b| b.etcd.as_ref())
        .map(|j| j.retention)
        .ok_or_else(|| Error::Site {
            field: "backups.etcd".to_owned(),
            reason: "the site has no etcd backup job (retention)".to_owned(),
        })
}

/// One line per snapshot of a verified listing ([`list`] with `verify`) that has a manifest
/// and failed verification or is missing: `PATH: why`.
#[must_use]
pub fn failures(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.manifest.is_some())
        .filter_map(|e| match &e.state {
            State::Failed { error } => Some(format!("{}: {error}", e.path.display())),
            State::Missing => Some(format!(
                "{}: the snapshot file is missing",
                e.path.display()
            )),
            _ => None,
        })
        .collect()
}

/// What prune decided (and did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PrunePlan {
    /// The destination.
    pub dir: PathBuf,
    /// Every managed snapshot, newest first, with keep/delete and reasons.
    pub decisions: Vec<Decision>,
    /// The newest snapshot that passed verification (always kept), if any.
    pub newest_verified: Option<String>,
    /// Files deleted (only with `apply`).
    pub deleted: Vec<PathBuf>,
}

impl PrunePlan {
    /// The snapshots to delete.
    pub fn to_delete(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| !d.keep)
    }

    /// The plan as rackpipe's common [`Plan`] document (one delete per snapshot).
    #[must_use]
    pub fn to_plan(&self, site: &str) -> Plan {
        let changes: Vec<Change> = self
            .to_delete()
            .map(|d| Change {
                action: Action::Delete,
                target: self.dir.display().to_string(),
                resource: d.id.clone(),
                before: Some(serde_json::json!({ "time": d.time.to_string() })),
                after: None,
                diff: None,
                commands: vec![format!("rm {0} {0}.json", d.id)],
            })
            .collect();
        let listing: Vec<String> = self.decisions.iter().map(|d| d.id.clone()).collect();
        let keep: Vec<String> = self
            .decisions
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.id.clone())
            .collect();
        Plan::new(
            "etcd-backup",
            site,
            digest(&keep),
            digest(&listing),
            changes,
        )
    }
}

fn digest(names: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for n in names {
        h.update(n.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Applies `policy` to the snapshots with manifests in `dir`. Orphans and temp files are never
/// touched. The newest snapshot that verifies is always kept (snapshots are verified newest
/// first until one passes). Deletes only when `apply` is true.
///
/// # Errors
/// [`Error::EmptyPolicy`], or an I/O error naming the file that could not be deleted.
pub fn prune(dir: &Path, policy: &Retention, apply: bool) -> Result<PrunePlan> {
    let entries = list(dir, false)?;
    let mut managed: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.manifest.is_some() && e.state != State::Missing)
        .collect();
    managed.sort_by_key(|e| std::cmp::Reverse(e.time));
    let newest_verified = managed
        .iter()
        .find(|e| verify_with(&e.path, e.manifest.as_ref()).is_ok())
        .map(|e| file_name(&e.path));
    let candidates: Vec<Candidate> = managed
        .iter()
        .map(|e| Candidate {
            id: file_name(&e.path),
            time: e.time.unwrap_or_default(),
            verified: newest_verified.as_deref() == Some(file_name(&e.path).as_str()),
        })
        .collect();
    let decisions = plan(&candidates, policy)?;
    let mut result = PrunePlan {
        dir: dir.to_path_buf(),
        decisions,
        newest_verified,
        deleted: Vec::new(),
    };
    if apply {
        let doomed: Vec<String> = result.to_delete().map(|d| d.id.clone()).collect();
        for id in doomed {
            let file = dir.join(&id);
            let manifest = Manifest::path_for(&file);
            std::fs::remove_file(&file).map_err(|e| Error::io(&file, "delete", e))?;
            result.deleted.push(file);
            std::fs::remove_file(&manifest).map_err(|e| Error::io(&manifest, "delete", e))?;
            result.deleted.push(manifest);
        }
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, "fsync directory", e))?;
    }
    Ok(result)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
