//! Restoring a snapshot into fresh data dirs.
//!
//! The data dir itself is made by the real `etcdctl snapshot restore` (etcd 3.4's; 3.5+ has
//! `etcdutl`); everything around it is ours: verify first, refuse a non-empty target, restore
//! into a hidden staging dir beside the target and rename it into place only on success, and
//! remove the staging dir whatever happens (etcdctl leaves a partial data dir on a hash
//! mismatch).

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rackpipe_model::Site;

use crate::error::{Error, Result};
use crate::manifest::{Compression, Manifest};
use crate::snapshot::partial_path;
use crate::target::members_from_site;
use crate::verify::{snapshot_path, verify_with};

/// One member to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreMember {
    /// Member name (`--name`).
    pub name: String,
    /// Peer URL (`--initial-advertise-peer-urls`).
    pub peer_url: String,
    /// Data dir to create; must be absent or empty.
    pub data_dir: PathBuf,
}

/// The new cluster: every member (for `--initial-cluster`) and its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    /// Members, in order.
    pub members: Vec<RestoreMember>,
    /// `--initial-cluster-token` of the restored cluster.
    pub cluster_token: String,
}

impl RestorePlan {
    /// The plan for the site's masters: each member gets its own data dir, `data_dir/<name>`
    /// (copy it to its master, e.g. beside kubeadm's `/var/lib/etcd`, and switch the static
    /// pod manifest to it). One shared path would make every member after the first fail (or,
    /// restored on separate machines from one directory, give them one member identity).
    ///
    /// # Errors
    /// [`Error::Site`] when the members cannot be derived, or a member name is not a plain
    /// directory name.
    pub fn from_site(site: &Site, data_dir: &Path, cluster_token: &str) -> Result<Self> {
        let members = members_from_site(site)?
            .into_iter()
            .map(|m| {
                let plain = !m.name.is_empty()
                    && m.name != "."
                    && m.name != ".."
                    && !m.name.contains(['/', '\0']);
                if !plain {
                    return Err(Error::Site {
                        field: "kubernetes.masters".into(),
                        reason: format!(
                            "member name \"{}\" cannot name a data directory",
                            m.name.escape_debug()
                        ),
                    });
                }
                Ok(RestoreMember {
                    data_dir: data_dir.join(&m.name),
                    name: m.name,
                    peer_url: m.peer_url,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            members,
            cluster_token: cluster_token.to_owned(),
        })
    }

    /// The `--initial-cluster` value.
    #[must_use]
    pub fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The `etcdctl` to run: `$RACKPIPE_ETCDCTL` or `etcdctl` on `PATH`.
#[must_use]
pub fn etcdctl() -> PathBuf {
    std::env::var_os("RACKPIPE_ETCDCTL").map_or_else(|| PathBuf::from("etcdctl"), PathBuf::from)
}

/// Restores every member of `plan` on this machine, each into its own data dir (two members
/// sharing one are refused before anything is restored). When one fails, the ones already
/// restored by this call are removed again.
///
/// # Errors
/// [`Error::Site`] for a shared data dir; as [`restore_member`].
pub fn restore(snapshot: &Path, plan: &RestorePlan) -> Result<Vec<PathBuf>> {
    let mut seen = std::collections::BTreeMap::new();
    for member in &plan.members {
        if let Some(other) = seen.insert(&member.data_dir, &member.name) {
            return Err(Error::Site {
                field: "restore.members".into(),
                reason: format!(
                    "members \"{other}\" and \"{}\" share the data directory {}; each member needs its own",
                    member.name,
                    member.data_dir.display()
                ),
            });
        }
    }
    let mut done: Vec<PathBuf> = Vec::new();
    for member in &plan.members {
        match restore_member(snapshot, plan, &member.name) {
            Ok(dir) => done.push(dir),
            Err(err) => {
                for dir in &done {
                    let _ = std::fs::remove_dir_all(dir);
                }
                return Err(err);
            }
        }
    }
    Ok(done)
}

/// `restore` of the site: every member of its plan (`DATA_DIR/<member>`), or only `member`.
///
/// # Errors
/// [`Error::Site`] when the site lacks its masters; then as [`restore`] / [`restore_member`].
pub fn restore_for_site(
    site: &rackpipe_model::Site,
    snapshot: &Path,
    data_dir: &Path,
    member: Option<&str>,
    cluster_token: &str,
) -> Result<crate::documents::RestoreResult> {
    let plan = RestorePlan::from_site(site, data_dir, cluster_token)?;
    let data_dirs = match member {
        Some(name) => vec![restore_member(snapshot, &plan, name)?],
        None => restore(snapshot, &plan)?,
    };
    Ok(crate::documents::RestoreResult {
        snapshot: snapshot.to_path_buf(),
        data_dirs,
    })
}

/// Restores the member called `name` of `plan` into its data dir.
///
/// # Errors
/// Verification errors, [`Error::TargetNotEmpty`], [`Error::Tool`] when etcdctl fails or is
/// missing, I/O errors naming the path; no partial data dir is left in any case.
pub fn restore_member(snapshot: &Path, plan: &RestorePlan, name: &str) -> Result<PathBuf> {
    let member = plan
        .members
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::Site {
            field: "restore.members".into(),
            reason: format!("no member named \"{name}\""),
        })?;
    let target = &member.data_dir;
    check_empty(target)?;

    let snapshot = snapshot_path(snapshot);
    let manifest_path = Manifest::path_for(&snapshot);
    let manifest = if manifest_path.exists() {
        Some(Manifest::read(&manifest_path)?)
    } else {
        None
    };
    verify_with(&snapshot, manifest.as_ref())?;
    let compression = match &manifest {
        Some(m) => m.compression,
        None if snapshot.to_string_lossy().ends_with(".zst") => Compression::Zstd,
        None => Compression::None,
    };

    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, "create directory", e))?;
    let staging = partial_path(&parent).with_extension("restore");
    // 0700: the decompressed snapshot and the new data dir hold every Secret.
    std::fs::DirBuilder::new()
        .mode(rackpipe_model::files::PRIVATE_DIR)
        .create(&staging)
        .and_then(|()| {
            std::fs::set_permissions(
                &staging,
                std::fs::Permissions::from_mode(rackpipe_model::files::PRIVATE_DIR),
            )
        })
        .map_err(|e| Error::io(&staging, "create directory", e))?;
    let result = (|| {
        let raw = if compression == Compression::None {
            snapshot.clone()
        } else {
            let raw = staging.join("snapshot.db");
            crate::verify::decompress_to(&snapshot, compression, &raw)?;
            raw
        };
        let data = staging.join("data");
        run_etcdctl_restore(&raw, plan, member, &data)?;
        // etcdctl makes it 0700 (etcd refuses wider); hold that whatever the tool does.
        std::fs::set_permissions(
            &data,
            std::fs::Permissions::from_mode(rackpipe_model::files::PRIVATE_DIR),
        )
        .map_err(|e| Error::io(&data, "set mode", e))?;
        if target.exists() {
            // An empty directory: rename(2) replaces it atomically.
            check_empty(target)?;
        }
        std::fs::rename(&data, target).map_err(|e| Error::io(target, "rename", e))?;
        std::fs::File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(&parent, "fsync directory", e))
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result.map(|()| target.clone())
}

fn check_empty(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                Err(Error::TargetNotEmpty {
                    path: dir.to_path_buf(),
                })
            } else {
                Ok(())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(Error::TargetNotEmpty {
            path: dir.to_path_buf(),
        }),
        Err(e) => Err(Error::io(dir, "read directory", e)),
    }
}

fn run_etcdctl_restore(
    raw: &Path,
    plan: &RestorePlan,
    member: &RestoreMember,
    data: &Path,
) -> Result<()> {
    let tool = etcdctl();
    let out = rackpipe_model::child::command(&tool)
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "restore"])
        .arg(raw)
        .args(["--name", &member.name])
        .arg("--data-dir")
        .arg(data)
        .args(["--initial-cluster", &plan.initial_cluster()])
        .args(["--initial-advertise-peer-urls", &member.peer_url])
        .args(["--initial-cluster-token", &plan.cluster_token])
        .output()
        .map_err(|e| Error::Tool {
            tool: tool.display().to_string(),
            reason: format!("cannot run: {e} (install etcd-client)"),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output");
    Err(Error::Tool {
        tool: format!("{} snapshot restore", tool.display()),
        reason: format!("{} for {}: {}", out.status, raw.display(), last.trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::fake_snapshot;

    #[test]
    fn members_sharing_a_data_dir_are_refused_before_anything() {
        let dir = rackpipe_testkit::temp_dir();
        let snap = dir.path().join("s.db");
        std::fs::write(&snap, fake_snapshot(2, 1)).unwrap();
        let member = |name: &str| RestoreMember {
            name: name.into(),
            peer_url: format!("https://{name}:2380"),
            data_dir: dir.path().join("data"),
        };
        let plan = RestorePlan {
            members: vec![member("m1"), member("m2")],
            cluster_token: "t".into(),
        };
        let err = restore(&snap, &plan).unwrap_err().to_string();
        assert!(
            err.starts_with("restore.members: members \"m1\" and \"m2\" share the data directory"),
            "{err}"
        );
        assert!(!dir.path().join("data").exists());
    }

    #[test]
    fn non_empty_target_is_refused_before_anything_else() {
        let dir = rackpipe_testkit::temp_dir();
        let target = dir.path().join("data");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep-me"), "x").unwrap();
        let plan = RestorePlan {
            members: vec![RestoreMember {
                name: "a".into(),
                peer_url: "http://127.0.0.1:1".into(),
                data_dir: target.clone(),
            }],
            cluster_token: "t".into(),
        };
        let err = restore(Path::new("/nonexistent.db"), &plan).unwrap_err();
        assert!(matches!(err, Error::TargetNotEmpty { .. }), "{err}");
        assert!(target.join("keep-me").exists());
    }

    #[test]
    fn a_failing_tool_leaves_no_staging_dir() {
        let dir = rackpipe_testkit::temp_dir();
        let snap = dir.path().join("s.db");
        std::fs::write(&snap, fake_snapshot(2, 1)).unwrap();
        let plan = RestorePlan {
            members: vec![RestoreMember {
                name: "a".into(),
                peer_url: "http://127.0.0.1:1".into(),
                data_dir: dir.path().join("out/data"),
            }],
            cluster_token: "t".into(),
        };
        // A fake bbolt file passes our checks but etcdctl cannot open it (or is absent).
        let err = restore(&snap, &plan).unwrap_err();
        assert!(matches!(err, Error::Tool { .. }), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
