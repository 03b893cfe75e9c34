//! The restore drill: restore a snapshot into a throwaway single-member etcd on loopback,
//! start it, and compare its revision and key count with the manifest.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use etcd_client::GetOptions;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::restore::{RestoreMember, RestorePlan, restore_member};
use crate::target::Target;
use crate::verify::snapshot_path;

/// How to run a drill.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// The `etcd` binary (default `$RACKPIPE_ETCD` or `etcd` on `PATH`).
    pub etcd: PathBuf,
    /// Where the throwaway data dir goes (default: the system temp dir).
    pub work_dir: Option<PathBuf>,
    /// How long the member may take to answer.
    pub start_timeout: Duration,
}

impl Default for DrillOptions {
    fn default() -> Self {
        Self {
            etcd: std::env::var_os("RACKPIPE_ETCD")
                .map_or_else(|| PathBuf::from("etcd"), PathBuf::from),
            work_dir: None,
            start_timeout: Duration::from_secs(30),
        }
    }
}

/// What the drill found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DrillReport {
    /// The snapshot.
    pub snapshot: PathBuf,
    /// The manifest's revision (lower bound).
    pub manifest_revision: i64,
    /// The manifest's `revision_after` (upper bound).
    pub manifest_revision_after: i64,
    /// The manifest's key count at `revision`.
    pub manifest_key_count: Option<i64>,
    /// The restored member's revision.
    pub restored_revision: i64,
    /// Keys in the restored member at its revision.
    pub restored_key_count: i64,
    /// Keys in the restored member at the manifest's revision.
    pub key_count_at_manifest_revision: i64,
    /// Milliseconds from start to the first answer.
    pub start_ms: u64,
}

/// Kills the member and removes the work dir when dropped.
struct Throwaway {
    child: Option<Child>,
    dir: PathBuf,
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io(Path::new("127.0.0.1:0"), "bind", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io(Path::new("127.0.0.1:0"), "bind", e))
}

/// Runs the drill on `snapshot` (which needs its manifest).
///
/// # Errors
/// Verification and restore errors, [`Error::Tool`] when etcd does not start,
/// [`Error::DrillMismatch`] when revision or key count differ from the manifest.
pub async fn drill(snapshot: &Path, options: &DrillOptions) -> Result<DrillReport> {
    let snapshot = snapshot_path(snapshot);
    let manifest = Manifest::read(&Manifest::path_for(&snapshot))?;
    let base = options.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = crate::snapshot::partial_path(&base).with_extension("drill");
    // 0700: the restored data dir (and a decompressed copy of the snapshot) hold every Secret;
    // no other local user may read them, whatever the umask.
    crate::snapshot::private_dir(&dir)?;
    let mut throwaway = Throwaway {
        child: None,
        dir: dir.clone(),
    };

    let peer = format!("http://127.0.0.1:{}", free_port()?);
    let client_url = format!("http://127.0.0.1:{}", free_port()?);
    let data = dir.join("data");
    let plan = RestorePlan {
        members: vec![RestoreMember {
            name: "drill".into(),
            peer_url: peer.clone(),
            data_dir: data.clone(),
        }],
        cluster_token: "etcd-backup-drill".into(),
    };
    restore_member(&snapshot, &plan, "drill")?;

    let log_path = dir.join("etcd.log");
    let log = rackpipe_model::files::create_private(&log_path)
        .map_err(|e| Error::io(&e.path, "create", e.source))?;
    let started = Instant::now();
    let child = rackpipe_model::child::command(&options.etcd)
        .args(["--name", "drill"])
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args(["--logger", "zap", "--log-outputs", "stderr"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| Error::Tool {
            tool: options.etcd.display().to_string(),
            reason: format!("cannot run: {e} (install etcd-server)"),
        })?;
    throwaway.child = Some(child);

    let mut target = Target::new(vec![client_url.clone()], None);
    target.connect_timeout = Duration::from_secs(2);
    let mut client = loop {
        if let Ok(mut c) = crate::client::connect(&client_url, &target).await
            && c.status().await.is_ok()
        {
            break c;
        }
        if let Some(child) = throwaway.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            return Err(Error::Tool {
                tool: options.etcd.display().to_string(),
                reason: format!("restored member exited with {status}: {}", last.trim()),
            });
        }
        if started.elapsed() > options.start_timeout {
            return Err(Error::Timeout {
                endpoint: client_url.clone(),
                secs: options.start_timeout.as_secs(),
                during: "waiting for the restored member",
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let start_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let count = |revision: i64| {
        let mut opts = GetOptions::new().with_all_keys().with_count_only();
        if revision > 0 {
            opts = opts.with_revision(revision);
        }
        opts
    };
    let now = client
        .get(vec![0u8], Some(count(0)))
        .await
        .map_err(|e| crate::client::classify(&client_url, "range", &e))?;
    let restored_revision = now.header().map_or(0, |h| h.revision());
    let restored_key_count = now.count();
    let at = client
        .get(vec![0u8], Some(count(manifest.revision)))
        .await
        .map_err(|e| crate::client::classify(&client_url, "range at the manifest revision", &e))?
        .count();
    let report = DrillReport {
        snapshot: snapshot.clone(),
        manifest_revision: manifest.revision,
        manifest_revision_after: manifest.revision_after,
        manifest_key_count: manifest.key_count,
        restored_revision,
        restored_key_count,
        key_count_at_manifest_revision: at,
        start_ms,
    };
    drop(throwaway);

    if restored_revision < manifest.revision || restored_revision > manifest.revision_after {
        return Err(Error::DrillMismatch {
            path: snapshot,
            reason: format!(
                "restored revision {restored_revision} outside the manifest's [{}, {}]",
                manifest.revision, manifest.revision_after
            ),
        });
    }
    if let Some(expected) = manifest.key_count
        && expected != at
    {
        return Err(Error::DrillMismatch {
            path: snapshot,
            reason: format!(
                "{at} keys at revision {} but the manifest says {expected}",
                manifest.revision
            ),
        });
    }
    Ok(report)
}
