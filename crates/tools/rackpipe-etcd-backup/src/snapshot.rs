//! Taking a snapshot: stream `Maintenance.Snapshot` from the first healthy member straight to
//! the destination in one pass (SHA-256 and etcd's trailer checked on the fly, optional zstd),
//! into a temp file that is fsynced and renamed only when complete.
//!
//! The network side runs on the async task; hashing, compression and writing run on one
//! dedicated thread fed through a small bounded channel, so memory stays flat whatever the
//! database size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_client::{Client, GetOptions};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::client::{classify, connect};
use crate::error::{Error, Result};
use crate::format::{StreamCheck, StreamSummary};
use crate::manifest::{Compression, MANIFEST_KIND, Manifest};
use crate::target::Target;

/// Suffix of files being written; never a final name.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Chunks in flight between the network task and the writer thread (32 KiB each from etcd).
const CHANNEL_DEPTH: usize = 64;
/// Write buffer in front of the file.
const WRITE_BUFFER: usize = 1024 * 1024;

/// How to take and store a snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// File name prefix (e.g. the cluster name): `<prefix>-<UTC time>-r<revision>.db[.zst]`.
    pub prefix: String,
    /// zstd level when compressing; `None` stores the raw stream.
    pub zstd_level: Option<i32>,
    /// Give up (and leave nothing behind) after this long.
    pub timeout: Option<Duration>,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        Self {
            prefix: "etcd".into(),
            zstd_level: None,
            timeout: None,
        }
    }
}

impl SnapshotOptions {
    /// Options from the site's `backups.etcd` job: zstd level 3 when `compress`, its timeout,
    /// and `prefix` (the cluster name, say) for file names.
    #[must_use]
    pub fn from_job(job: &rackpipe_model::kubernetes::BackupJob, prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            zstd_level: job.compress.then_some(3),
            timeout: job
                .timeout
                .as_ref()
                .map(|t| Duration::from_millis(t.as_millis())),
        }
    }
}

impl SnapshotOptions {
    /// The options for the site: file prefix the cluster name (`etcd` without a
    /// `kubernetes` section), zstd and timeout from its `backups.etcd` job when it has one.
    #[must_use]
    pub fn for_site(site: &rackpipe_model::Site) -> Self {
        let prefix = site
            .kubernetes
            .as_ref()
            .map_or_else(|| "etcd".to_owned(), |k| k.cluster_name.to_string());
        match site.backups.as_ref().and_then(|b| b.etcd.as_ref()) {
            Some(job) => Self::from_job(job, &prefix),
            None => Self {
                prefix,
                ..Self::default()
            },
        }
    }
}

/// A snapshot that is complete on disk.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The snapshot file.
    pub path: PathBuf,
    /// Its manifest, beside it.
    pub manifest_path: PathBuf,
    /// The manifest's content.
    pub manifest: Manifest,
}

/// Creates the destination (and missing parents) and makes it `0700`: snapshots and their
/// manifests are private whatever the umask.
pub(crate) fn private_dir(dest: &Path) -> Result<()> {
    rackpipe_model::files::ensure_private_dir(dest)
        .map_err(|e| Error::io(&e.path, "create directory", e.source))
}

/// A unique temp file name in `dir` (hidden, ending in [`PARTIAL_SUFFIX`]).
pub(crate) fn partial_path(dir: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = Timestamp::now().as_nanosecond();
    dir.join(format!(
        ".etcd-backup-{}-{nanos}-{n}{PARTIAL_SUFFIX}",
        std::process::id()
    ))
}

/// Removes a temp file when dropped unless disarmed.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Takes a snapshot from the first member of `target` that delivers a complete, intact one and
/// writes it plus its manifest into `dest`.
///
/// Destination errors stop at once (another member would not help); member errors move on to
/// the next endpoint. When all fail, [`Error::AllEndpointsFailed`] lists each endpoint's error
/// and is transient only if every one was. Nothing is left in `dest` after a failure.
///
/// # Errors
/// See above.
pub async fn snapshot(target: &Target, dest: &Path, options: &SnapshotOptions) -> Result<Snapshot> {
    if target.endpoints.is_empty() {
        return Err(Error::NoEndpoints("target.endpoints".into()));
    }
    // Every endpoint passes the transport rule before the first connection: one line for the
    // first refused one, not one per member (a refused URL is not the member's failure).
    for endpoint in &target.endpoints {
        rackpipe_tls::transport::check_url(endpoint, rackpipe_tls::transport::PlainHttp::Loopback)
            .map_err(|e| Error::Url(e.to_string()))?;
    }
    match options.timeout {
        Some(limit) => {
            match tokio::time::timeout(limit, snapshot_inner(target, dest, options)).await {
                Ok(result) => result,
                Err(_) => Err(Error::Timeout {
                    endpoint: target.endpoints.join(","),
                    secs: limit.as_secs(),
                    during: "taking the snapshot",
                }),
            }
        }
        None => snapshot_inner(target, dest, options).await,
    }
}

async fn snapshot_inner(
    target: &Target,
    dest: &Path,
    options: &SnapshotOptions,
) -> Result<Snapshot> {
    private_dir(dest)?;
    let mut attempts = Vec::new();
    for endpoint in &target.endpoints {
        match snapshot_from(endpoint, target, dest, options).await {
            Ok(snap) => return Ok(snap),
            Err(
                err
                @ (Error::NotWritable { .. } | Error::DestinationFull { .. } | Error::Io { .. }),
            ) => {
                return Err(err);
            }
            Err(err) => {
                tracing::warn!(endpoint = %endpoint, error = %err, "member failed; trying the next one");
                attempts.push(err);
            }
        }
    }
    Err(Error::AllEndpointsFailed { attempts })
}

/// What the member said before the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Before {
    pub(crate) cluster_id: u64,
    pub(crate) member_id: u64,
    pub(crate) revision: i64,
    pub(crate) raft_index: u64,
    pub(crate) raft_term: u64,
    pub(crate) db_size: i64,
    pub(crate) version: String,
}

async fn status(client: &mut Client, endpoint: &str, target: &Target) -> Result<Before> {
    let status = tokio::time::timeout(target.connect_timeout, client.status())
        .await
        .map_err(|_| Error::Timeout {
            endpoint: endpoint.to_owned(),
            secs: target.connect_timeout.as_secs(),
            during: "asking for status",
        })?
        .map_err(|e| classify(endpoint, "status", &e))?;
    let header = status.header().ok_or_else(|| Error::NotEtcd {
        endpoint: endpoint.to_owned(),
        reason: "status response without header".into(),
    })?;
    Ok(Before {
        cluster_id: header.cluster_id(),
        member_id: header.member_id(),
        revision: header.revision(),
        raft_index: status.raft_index(),
        raft_term: status.raft_term(),
        db_size: status.db_size(),
        version: status.version().to_owned(),
    })
}

async fn snapshot_from(
    endpoint: &str,
    target: &Target,
    dest: &Path,
    options: &SnapshotOptions,
) -> Result<Snapshot> {
    // The temp file first: an unusable destination fails before etcd is asked for anything.
    let mut partial = Partial::create(dest)?;

    let mut client = connect(endpoint, target).await?;
    let before = status(&mut client, endpoint, target).await?;
    let started_at = Timestamp::now();
    let stream_timeout = |during| Error::Timeout {
        endpoint: endpoint.to_owned(),
        secs: target.idle_timeout.as_secs(),
        during,
    };
    let mut stream = tokio::time::timeout(target.idle_timeout, client.snapshot())
        .await
        .map_err(|_| stream_timeout("opening the snapshot stream"))?
        .map_err(|e| classify(endpoint, "snapshot", &e))?;

    let (tx, writer) = partial.spawn_writer(options.zstd_level)?;
    let received: Result<()> = async {
        let mut streamed = 0u64;
        loop {
            let msg = tokio::time::timeout(target.idle_timeout, stream.message())
                .await
                .map_err(|_| stream_timeout("receiving the snapshot"))?;
            match msg {
                Ok(Some(resp)) => {
                    streamed += resp.blob().len() as u64;
                    let total = streamed + resp.remaining_bytes();
                    tracing::info!(target: "progress", step = "etcd snapshot", done = streamed, total, unit = "bytes");
                    if tx.send(Chunk::Data(resp.blob().to_vec())).await.is_err() {
                        // The writer stopped: its error is reported below.
                        return Ok(());
                    }
                }
                Ok(None) => {
                    let _ = tx.send(Chunk::Done).await;
                    return Ok(());
                }
                Err(e) => {
                    let err = classify(endpoint, "snapshot", &e);
                    let text = err.to_string();
                    let prefix = format!("{endpoint}: ");
                    return Err(Error::Stream {
                        endpoint: endpoint.to_owned(),
                        transient: err.is_transient(),
                        reason: text.strip_prefix(&prefix).unwrap_or(&text).to_owned(),
                    });
                }
            }
        }
    }
    .await;
    drop(tx);
    let written = writer.join(received, endpoint)?;

    let after = status(&mut client, endpoint, target).await.ok();
    // Serializable: answered from this member's own data, so a member without quorum (the
    // moment a backup matters most) still gets a complete manifest.
    let count = GetOptions::new()
        .with_all_keys()
        .with_count_only()
        .with_serializable()
        .with_revision(before.revision);
    let key_count =
        tokio::time::timeout(target.connect_timeout, client.get(vec![0u8], Some(count)))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|r| r.count());
    partial.finish(
        options,
        Taken {
            endpoint: endpoint.to_owned(),
            revision_after: after.as_ref().map_or(before.revision, |a| a.revision),
            before,
            key_count,
            started_at,
            written,
        },
    )
}

/// A snapshot file being written: the temp file in the destination (removed on drop unless
/// finished).
pub(crate) struct Partial {
    dest: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    guard: TempGuard,
}

/// The writer thread of a [`Partial`].
pub(crate) struct WriterThread {
    handle: std::thread::JoinHandle<Result<Written>>,
    tmp: PathBuf,
}

/// What is known once the stream is on disk: everything the manifest needs.
pub(crate) struct Taken {
    /// The manifest's `endpoint` (a client URL, or the SSH form).
    pub(crate) endpoint: String,
    pub(crate) before: Before,
    pub(crate) revision_after: i64,
    pub(crate) key_count: Option<i64>,
    pub(crate) started_at: Timestamp,
    pub(crate) written: Written,
}

impl Partial {
    /// Creates the temp file in `dest` (which must exist).
    pub(crate) fn create(dest: &Path) -> Result<Self> {
        let tmp = partial_path(dest);
        // 0600 whatever the umask: a snapshot holds every Kubernetes Secret.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(rackpipe_model::files::PRIVATE_FILE)
            .open(&tmp)
            .and_then(|f| {
                f.set_permissions(std::fs::Permissions::from_mode(
                    rackpipe_model::files::PRIVATE_FILE,
                ))
                .map(|()| f)
            })
            .map_err(|e| Error::io(dest, "create temp file", e))?;
        Ok(Self {
            dest: dest.to_path_buf(),
            guard: TempGuard(Some(tmp.clone())),
            tmp,
            file: Some(file),
        })
    }

    /// Starts the writer thread (check, hash, optional zstd, write, fsync on [`Chunk::Done`]).
    /// Feed it through the returned sender; a sender dropped without `Done` aborts the file.
    pub(crate) fn spawn_writer(
        &mut self,
        zstd_level: Option<i32>,
    ) -> Result<(mpsc::Sender<Chunk>, WriterThread)> {
        let file = self.file.take().ok_or_else(|| Error::Io {
            path: self.tmp.clone(),
            op: "write",
            source: std::io::Error::other("writer already started"),
        })?;
        let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL_DEPTH);
        let tmp = self.tmp.clone();
        let handle = std::thread::Builder::new()
            .name("etcd-snapshot-writer".into())
            .spawn(move || write_stream(rx, file, zstd_level, &tmp))
            .map_err(|e| Error::io(&self.dest, "spawn writer thread", e))?;
        Ok((
            tx,
            WriterThread {
                handle,
                tmp: self.tmp.clone(),
            },
        ))
    }

    /// Moves the complete file to its final name, writes the manifest beside it and fsyncs
    /// the directory. On any error nothing is left behind.
    pub(crate) fn finish(mut self, options: &SnapshotOptions, taken: Taken) -> Result<Snapshot> {
        let Taken {
            endpoint,
            before,
            revision_after,
            key_count,
            started_at,
            written,
        } = taken;
        let dest = self.dest.clone();
        let finished_at = Timestamp::now();
        let compression = options
            .zstd_level
            .map_or(Compression::None, |_| Compression::Zstd);
        let stamp = started_at.strftime("%Y%m%dT%H%M%SZ").to_string();
        let name = format!(
            "{}-{stamp}-r{}{}",
            options.prefix,
            before.revision,
            compression.suffix()
        );
        let path = dest.join(&name);
        let manifest_path = Manifest::path_for(&path);
        let manifest = Manifest {
            api_version: rackpipe_model::API_VERSION.to_owned(),
            kind: MANIFEST_KIND.to_owned(),
            file: name,
            cluster_id: format!("{:x}", before.cluster_id),
            member_id: format!("{:x}", before.member_id),
            endpoint,
            etcd_version: before.version,
            revision: before.revision,
            revision_after,
            key_count,
            raft_index: before.raft_index,
            raft_term: before.raft_term,
            db_size: before.db_size,
            snapshot_size: written.summary.total_len,
            snapshot_sha256: hex::encode(written.summary.stream_sha256),
            file_size: written.file_len,
            sha256: hex::encode(written.file_sha256),
            compression,
            started_at,
            finished_at,
            tool: "etcd-backup".to_owned(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        if path.exists() {
            return Err(Error::Io {
                path,
                op: "create",
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        std::fs::rename(&self.tmp, &path).map_err(|e| Error::io(&path, "rename", e))?;
        self.guard.disarm();
        let mut final_guard = TempGuard(Some(path.clone()));
        manifest.write_atomic(&manifest_path)?;
        sync_dir(&dest)?;
        final_guard.disarm();
        tracing::info!(file = %path.display(), revision = manifest.revision, bytes = manifest.file_size, "snapshot written");
        Ok(Snapshot {
            path,
            manifest_path,
            manifest,
        })
    }
}

impl WriterThread {
    /// Waits for the writer, then reports (in this order) a receive error, a write error, or a
    /// stream that is not a whole etcd snapshot (blamed on `source`, the member).
    pub(crate) fn join(self, received: Result<()>, source: &str) -> Result<Written> {
        let written = self.handle.join().map_err(|_| Error::Io {
            path: self.tmp.clone(),
            op: "write",
            source: std::io::Error::other("writer thread panicked"),
        })?;
        received?;
        let written = written?;
        // A member that sent a broken stream is a member problem: say which one.
        written
            .summary
            .check(Path::new("the stream"))
            .map_err(|e| Error::Stream {
                endpoint: source.to_owned(),
                reason: e.to_string(),
                transient: false,
            })?;
        Ok(written)
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "fsync directory", e))
}

/// What the network side hands the writer thread.
pub(crate) enum Chunk {
    /// The next bytes of the stream.
    Data(Vec<u8>),
    /// The stream ended normally: finish and fsync.
    Done,
}

/// What the writer thread produced.
pub(crate) struct Written {
    summary: StreamSummary,
    file_sha256: [u8; 32],
    file_len: u64,
}

/// Hashes everything written through it.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The writer thread: checks, hashes, (compresses,) writes, and fsyncs on `Done`. Without
/// `Done` (the stream failed) it returns an error and the caller deletes the temp file.
fn write_stream(
    mut rx: mpsc::Receiver<Chunk>,
    file: File,
    zstd_level: Option<i32>,
    path: &Path,
) -> Result<Written> {
    let io = |op, e| Error::io(path, op, e);
    let mut check = StreamCheck::new();
    let buffered = BufWriter::with_capacity(WRITE_BUFFER, file);
    let done = |file: File| -> Result<()> { file.sync_all().map_err(|e| io("fsync", e)) };
    match zstd_level {
        None => {
            let mut out = buffered;
            loop {
                match rx.blocking_recv() {
                    Some(Chunk::Data(data)) => {
                        check.update(&data);
                        out.write_all(&data).map_err(|e| io("write", e))?;
                    }
                    Some(Chunk::Done) => break,
                    None => return Err(aborted(path)),
                }
            }
            let file = out.into_inner().map_err(|e| io("write", e.into_error()))?;
            done(file)?;
            let summary = check.finish();
            Ok(Written {
                file_sha256: summary.stream_sha256,
                file_len: summary.total_len,
                summary,
            })
        }
        Some(level) => {
            let hashing = HashingWriter {
                inner: buffered,
                hash: Sha256::new(),
                len: 0,
            };
            let mut enc =
                zstd::stream::write::Encoder::new(hashing, level).map_err(|e| io("compress", e))?;
            loop {
                match rx.blocking_recv() {
                    Some(Chunk::Data(data)) => {
                        check.update(&data);
                        enc.write_all(&data).map_err(|e| io("write", e))?;
                    }
                    Some(Chunk::Done) => break,
                    None => return Err(aborted(path)),
                }
            }
            let hashing = enc.finish().map_err(|e| io("write", e))?;
            let file = hashing
                .inner
                .into_inner()
                .map_err(|e| io("write", e.into_error()))?;
            done(file)?;
            Ok(Written {
                summary: check.finish(),
                file_sha256: hashing.hash.finalize().into(),
                file_len: hashing.len,
            })
        }
    }
}

fn aborted(path: &Path) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        op: "write",
        source: std::io::Error::new(std::io::ErrorKind::Interrupted, "snapshot stream aborted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::fake_snapshot;

    fn feed(data: &[u8], level: Option<i32>, dir: &Path, finish: bool) -> Result<Written> {
        let path = dir.join("out.partial");
        let file = File::create(&path).unwrap();
        let (tx, rx) = mpsc::channel(4);
        let bytes = data.to_vec();
        let sender = std::thread::spawn(move || {
            for c in bytes.chunks(32 * 1024) {
                if tx.blocking_send(Chunk::Data(c.to_vec())).is_err() {
                    return;
                }
            }
            if finish {
                let _ = tx.blocking_send(Chunk::Done);
            }
        });
        let out = write_stream(rx, file, level, &path);
        sender.join().unwrap();
        out
    }

    #[test]
    fn raw_and_zstd_round_trip() {
        let dir = rackpipe_testkit::temp_dir();
        let snap = fake_snapshot(40, 3);
        let raw = feed(&snap, None, dir.path(), true).unwrap();
        raw.summary.check(Path::new("x")).unwrap();
        assert_eq!(raw.file_sha256, <[u8; 32]>::from(Sha256::digest(&snap)));
        assert_eq!(std::fs::read(dir.path().join("out.partial")).unwrap(), snap);

        let z = feed(&snap, Some(3), dir.path(), true).unwrap();
        let stored = std::fs::read(dir.path().join("out.partial")).unwrap();
        assert_eq!(z.file_len, stored.len() as u64);
        assert_eq!(z.file_sha256, <[u8; 32]>::from(Sha256::digest(&stored)));
        assert_eq!(zstd::decode_all(stored.as_slice()).unwrap(), snap);
    }

    #[test]
    fn a_full_destination_is_named_as_such() {
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let (tx, rx) = mpsc::channel(4);
        let sender = std::thread::spawn(move || {
            for c in fake_snapshot(400, 1).chunks(32 * 1024) {
                if tx.blocking_send(Chunk::Data(c.to_vec())).is_err() {
                    return;
                }
            }
            let _ = tx.blocking_send(Chunk::Done);
        });
        let err = write_stream(rx, full, None, Path::new("/backups/.x.partial"))
            .err()
            .unwrap();
        sender.join().unwrap();
        assert!(matches!(err, Error::DestinationFull { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("/backups/.x.partial: destination full"),
            "{err}"
        );
    }

    #[test]
    fn options_follow_the_site_job() {
        let job: rackpipe_model::kubernetes::BackupJob =
            serde_json::from_value(serde_json::json!({
                "schedule": "0 3 * * *",
                "destination": {"export": "backups", "subdir": "etcd"},
                "retention": {"keep_last": 3},
                "compress": true,
                "timeout": "10m"
            }))
            .unwrap();
        let o = SnapshotOptions::from_job(&job, "lab");
        assert_eq!(o.zstd_level, Some(3));
        assert_eq!(o.timeout, Some(Duration::from_secs(600)));
        assert_eq!(o.prefix, "lab");
    }

    #[test]
    fn stream_without_done_is_an_error() {
        let dir = rackpipe_testkit::temp_dir();
        let err = feed(&fake_snapshot(2, 1), None, dir.path(), false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("aborted"), "{err}");
    }
}
