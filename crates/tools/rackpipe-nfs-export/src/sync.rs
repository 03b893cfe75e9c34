//! Backups onto the NAS: `nfs-export sync` copies a backup tool's directory to the export the
//! site's `backups.<job>.destination` names (and back), over NFSv4 from user space (the `nfs`
//! crate), so a CI runner needs no kernel NFS mount.
//!
//! The directory is flat (etcd-backup snapshots and their manifests, ros-render exports and
//! its `SHA256SUMS`). As with rsync, a file is up to date when the other side has it with the
//! same size and modification time (copies get the sender's time). `push` uploads what the
//! NAS lacks, data files before the `.json` manifests that describe them (a manifest on the
//! NAS means its snapshot is complete); with `delete` it removes NAS files the directory no
//! longer has (what retention pruned). `pull` downloads what the directory lacks, so a fresh
//! runner starts from the NAS's copy before it prunes and pushes.
//!
//! **No file on the NAS looks complete unless it is.** An upload goes to a hidden temporary
//! name beside the final one (`.NAME.sync-PID-NANOS.partial`, never listed as a backup):
//! FILE_SYNC writes, then a COMMIT of the whole file, then the server's size compared with
//! the bytes sent, then the file read back and compared byte for byte with the local file;
//! only then its time is set and it is renamed to its final name (NFSv4 RENAME replaces a file
//! atomically). Any error (the connection lost half-way, the server restarted, the export
//! full) removes the temporary file when the server still answers, and a later push removes
//! temporaries left by a run that could not ([`STALE_TEMP`]). A pull writes a 0600 file in a
//! 0700 directory under a temporary name, checks the byte count against the NAS's listing,
//! fsyncs and renames. See `docs/reference/nfs-crate.md` for what the crate does and does not
//! guarantee.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rackpipe_model::Site;
use rackpipe_model::kubernetes::BackupJob;
use rackpipe_model::nas::NfsServer;
use serde::Serialize;

use crate::{Error, resolve};

/// The NFS port.
pub const NFS_PORT: u16 = 2049;

/// A temporary upload file on the NAS older than this (by its change time) is left over from
/// a run that could not remove it (killed, or the connection lost) and is removed by the next
/// push. Far longer than any upload, so a concurrent run's file is never taken.
pub const STALE_TEMP: Duration = Duration::from_secs(6 * 3600);

/// Bytes per READ and WRITE (the server may lower it): the crate's default, 128 KiB, makes a
/// 256 MiB upload 2048 FILE_SYNC writes, each waiting for the server's disk; 512 KiB cuts the
/// waits by four and stays below the session's 1 MiB request limit with the headers.
const IO_SIZE: u32 = 512 * 1024;

/// Mode of backup files created on the NAS (they hold every Kubernetes Secret, the router's
/// users and keys).
const NAS_FILE_MODE: u32 = 0o600;

/// Which scheduled backup of the site (`backups.<job>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// `backups.etcd` (etcd-backup).
    Etcd,
    /// `backups.router` (ros-render backup).
    Router,
}

impl BackupKind {
    fn field(self) -> &'static str {
        match self {
            Self::Etcd => "backups.etcd",
            Self::Router => "backups.router",
        }
    }

    fn job(self, site: &Site) -> Option<&BackupJob> {
        let backups = site.backups.as_ref()?;
        match self {
            Self::Etcd => backups.etcd.as_ref(),
            Self::Router => backups.router.as_ref(),
        }
    }
}

/// Where a backup goes: a directory inside a NAS export, as NFSv4 sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// The NAS address (or `--target`).
    pub host: String,
    /// NFS port.
    pub port: u16,
    /// The export's name.
    pub export: String,
    /// The directory inside the export (`backups.<job>.destination.subdir`, normalised).
    pub subdir: String,
    /// Absolute NFSv4 path of the directory: the export's path (nfs-ganesha: its pseudo
    /// path) joined with the destination's `subdir`.
    pub path: String,
}

impl Destination {
    /// The site's destination for `kind`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field: no such backup, or the site check's first error
    /// (an unknown export, a `subdir` with `..`, a NAS section that does not resolve).
    pub fn from_site(site: &Site, kind: BackupKind) -> Result<Self, Error> {
        let field = kind.field();
        let invalid = |path: String, message: String| Error::Invalid { path, message };
        let job = kind
            .job(site)
            .ok_or_else(|| invalid(field.to_owned(), "not set in the site".to_owned()))?;
        let desired = resolve(site)?;
        let dest = &job.destination;
        let export = desired
            .exports
            .iter()
            .find(|e| e.name == dest.export.as_str())
            .ok_or_else(|| {
                invalid(
                    format!("{field}.destination.export"),
                    format!("unknown export \"{}\" (not in nas.exports)", dest.export),
                )
            })?;
        let base = match desired.nas.server {
            NfsServer::Ganesha { .. } => &export.pseudo,
            NfsServer::Linux { .. } | NfsServer::Synology { .. } => &export.path,
        };
        let mut path = base.trim_end_matches('/').to_owned();
        let mut subdir = Vec::new();
        for part in dest
            .subdir
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
        {
            path.push('/');
            path.push_str(part);
            subdir.push(part);
        }
        if path.is_empty() {
            path.push('/');
        }
        Ok(Self {
            host: desired.server_address.to_string(),
            port: NFS_PORT,
            export: export.name.clone(),
            subdir: subdir.join("/"),
            path,
        })
    }

    /// `nfs://HOST:PORT/PATH` (for messages and reports).
    #[must_use]
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("nfs://{host}:{}{}", self.port, self.path)
    }

    fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.path.trim_end_matches('/'))
    }
}

/// Which way [`sync`] copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Directory → NAS.
    Push,
    /// NAS → directory.
    Pull,
}

/// How [`sync`] runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Copy direction.
    pub direction: Direction,
    /// Remove files on the receiving side that the sending side no longer has.
    pub delete: bool,
    /// Timeout of each NFS call.
    pub timeout: Duration,
}

/// One copied file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Copied {
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: u64,
}

/// What [`sync`] did. `nfs-export sync` prints it in the one document envelope
/// ([`SyncReport::document`]: kind `NfsSync`, schema `schemas/nfs-sync.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SyncReport {
    /// `nfs://HOST:PORT/PATH`.
    pub destination: String,
    /// The export's name.
    pub export: String,
    /// The directory inside the export.
    pub subdir: String,
    /// The local directory.
    pub dir: PathBuf,
    /// Copy direction.
    pub direction: Direction,
    /// Files copied, in copy order.
    pub copied: Vec<Copied>,
    /// Files removed from the receiving side.
    pub deleted: Vec<String>,
    /// Files already present on both sides.
    pub unchanged: usize,
    /// Bytes copied.
    pub bytes: u64,
}

impl rackpipe_model::documents::Kind for SyncReport {
    const KIND: &'static str = "NfsSync";
}

/// The file under `schemas/` of the `NfsSync` document ([`sync_schema`]).
pub const SYNC_SCHEMA: &str = "nfs-sync.schema.json";

/// The schema of the `NfsSync` document.
#[must_use]
pub fn sync_schema() -> serde_json::Value {
    rackpipe_model::schema::schema_of::<rackpipe_model::documents::Document<SyncReport>>(
        SYNC_SCHEMA,
    )
}

impl SyncReport {
    /// The report in the one document envelope: `{"apiVersion", "kind": "NfsSync", "tool",
    /// "site", <the report's fields>}`.
    #[must_use]
    pub fn document(self, site: &str) -> rackpipe_model::documents::Document<Self> {
        rackpipe_model::documents::Document::of("nfs-export", site, self)
    }
}

/// Size and modification time (whole seconds since the epoch) of a backup file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    size: u64,
    mtime: i64,
}

/// The backup files of a directory, by name.
type Listing = std::collections::BTreeMap<String, Stat>;

fn epoch_seconds(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Names sync considers: plain names, no temp files (`.partial`, `.tmp`, dot files), nothing
/// a hostile NAS listing could use to escape the directory or forge a log line (`/`, `\`,
/// control characters such as a newline).
fn is_backup_file(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.ends_with(".partial")
        && !name.ends_with(".tmp")
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

/// The temporary name an upload of `name` is written under (hidden, `.partial`).
fn temp_name(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(".{name}.sync-{}-{nanos}.partial", std::process::id())
}

/// A temporary upload file of this module (or of the `nfs` crate's own atomic write).
fn is_upload_temp(name: &str) -> bool {
    (name.starts_with('.') && name.contains(".sync-") && name.ends_with(".partial"))
        || name.starts_with(".nfs-rs-tmp-")
}

/// Whether `name` is a temporary upload file last changed (`changed`, seconds since the epoch,
/// the server's clock) more than [`STALE_TEMP`] before `now`: left by a run that could not
/// remove it. A file without a time is never taken.
fn is_stale_temp(name: &str, changed: Option<i64>, now: i64) -> bool {
    let limit = i64::try_from(STALE_TEMP.as_secs()).unwrap_or(i64::MAX);
    is_upload_temp(name) && changed.is_some_and(|t| now.saturating_sub(t) > limit)
}

/// Reads a local file while counting what was read; remembers a read error so it is reported
/// as the local file's, not as the NAS's.
struct Counting<R> {
    inner: R,
    len: u64,
    error: Option<std::io::Error>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.len += n as u64;
                Ok(n)
            }
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                self.error = Some(e);
                Err(copy)
            }
        }
    }
}

/// Compares what is written to it (the read-back of an upload) with the local file, byte for
/// byte: stronger than comparing hashes, and cheaper.
struct Compare<R> {
    local: R,
    len: u64,
    /// Offset of the first difference (or where the local file ended early).
    differs_at: Option<u64>,
    buf: Vec<u8>,
}

impl<R: Read> Write for Compare<R> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.differs_at.is_none() {
            self.buf.resize(data.len(), 0);
            match self.local.read_exact(&mut self.buf) {
                // Slice equality is one memcmp; the position only when they differ.
                Ok(()) if data != self.buf.as_slice() => {
                    let i = data.iter().zip(&self.buf).position(|(a, b)| a != b);
                    self.differs_at = Some(self.len + i.unwrap_or(0) as u64);
                }
                Ok(()) => {}
                Err(_) => self.differs_at = Some(self.len),
            }
        }
        self.len += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Data files first, manifests (`.json`) last: the order uploads happen in.
fn copy_order(names: &mut [String]) {
    names.sort_by_key(|n| (n.ends_with(".json"), n.clone()));
}

fn local_listing(dir: &Path) -> Result<Listing, Error> {
    let io = |e: std::io::Error| Error::Invalid {
        path: dir.display().to_string(),
        message: format!("cannot read directory: {e}"),
    };
    let mut files = Listing::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let meta = entry.metadata().map_err(io)?;
        if let Some(name) = entry.file_name().to_str()
            && meta.is_file()
            && is_backup_file(name)
        {
            let mtime = meta.modified().map(epoch_seconds).unwrap_or(0);
            files.insert(
                name.to_owned(),
                Stat {
                    size: meta.len(),
                    mtime,
                },
            );
        }
    }
    Ok(files)
}

/// Maps an NFS error to ours, naming the destination.
fn nfs_error(dest: &Destination, what: &str, e: &nfs::Error) -> Error {
    let message = e.to_string().replace('\n', " ");
    let target = dest.url();
    match e {
        nfs::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            Error::Timeout {
                target,
                message: format!("{what}: {message}"),
            }
        }
        nfs::Error::Io(_) => Error::Unreachable {
            target,
            message: format!("{what}: {message}"),
        },
        _ => Error::Protocol {
            target,
            what: what.to_owned(),
            message,
        },
    }
}

struct Remote<'a> {
    dest: &'a Destination,
    client: nfs::v4::blocking::Client,
    /// Temporary upload files left over by earlier runs (see [`STALE_TEMP`]).
    stale: Vec<String>,
}

impl<'a> Remote<'a> {
    fn connect(dest: &'a Destination, timeout: Duration) -> Result<Self, Error> {
        let client = nfs::v4::blocking::Client::builder(dest.host.clone())
            .port(dest.port)
            .timeout(Some(timeout))
            .io_size(IO_SIZE)
            .connect()
            .map_err(|e| nfs_error(dest, "connect", &e))?;
        Ok(Self {
            dest,
            client,
            stale: Vec::new(),
        })
    }

    fn listing(&mut self, create: bool) -> Result<Listing, Error> {
        let path = self.dest.path.clone();
        let exists = self
            .client
            .exists(&path)
            .map_err(|e| nfs_error(self.dest, "lookup", &e))?;
        if !exists {
            if create {
                self.client
                    .create_dir_all(&path, 0o750)
                    .map_err(|e| nfs_error(self.dest, "create directory", &e))?;
            }
            return Ok(Listing::new());
        }
        let entries = self
            .client
            .read_dir(&path)
            .map_err(|e| nfs_error(self.dest, "read directory", &e))?;
        let now = epoch_seconds(std::time::SystemTime::now());
        self.stale = entries
            .iter()
            .filter(|e| {
                let changed = e.attributes.metadata_time.or(e.attributes.modify_time);
                e.attributes.file_type == Some(nfs::v4::FileType::Regular)
                    && is_stale_temp(&e.name, changed.map(|t| t.seconds), now)
            })
            .map(|e| e.name.clone())
            .collect();
        Ok(entries
            .into_iter()
            .filter(|e| {
                is_backup_file(&e.name)
                    && e.attributes.file_type == Some(nfs::v4::FileType::Regular)
            })
            .map(|e| {
                let stat = Stat {
                    size: e.attributes.size.unwrap_or(0),
                    mtime: e.attributes.modify_time.map_or(0, |t| t.seconds),
                };
                (e.name, stat)
            })
            .collect())
    }

    /// Uploads `local` as `name`: temporary name, FILE_SYNC writes, COMMIT, the server's
    /// size, the file read back and compared byte for byte, time set, rename. On any error the
    /// temporary file is removed (when the server still answers) and no file of the final
    /// name is created or changed.
    fn upload(&mut self, local: &Path, name: &str, stat: Stat) -> Result<(), Error> {
        let tmp = self.dest.file(&temp_name(name));
        let result = self.upload_to(&tmp, name, local, stat);
        if result.is_err() {
            // Best effort: when the server is gone, a later push removes it (STALE_TEMP).
            let _ = self.client.remove(&tmp);
        }
        result
    }

    fn upload_to(&mut self, tmp: &str, name: &str, local: &Path, stat: Stat) -> Result<(), Error> {
        let dest = self.dest;
        let open = || {
            File::open(local)
                .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
                .map_err(|e| Error::Invalid {
                    path: local.display().to_string(),
                    message: format!("cannot open: {e}"),
                })
        };
        let fail = |what: &str, e: &nfs::Error| nfs_error(dest, &format!("{what} {name}"), e);
        let mismatch = |message: String| Error::Protocol {
            target: dest.url(),
            what: format!("verify {name}"),
            message,
        };
        let mut reader = Counting {
            inner: open()?,
            len: 0,
            error: None,
        };
        self.client
            .create_new_with_mode(tmp, NAS_FILE_MODE)
            .map_err(|e| fail("create a temporary file for", &e))?;
        let written = self
            .client
            .write_from_reader_with_mode(tmp, &mut reader, NAS_FILE_MODE);
        if let Some(e) = reader.error.take() {
            return Err(Error::Invalid {
                path: local.display().to_string(),
                message: format!("cannot read: {e}"),
            });
        }
        let written = written.map_err(|e| fail("write", &e))?;
        if written != stat.size || reader.len != stat.size {
            return Err(Error::Invalid {
                path: local.display().to_string(),
                message: format!(
                    "changed while it was copied ({} bytes listed, {written} read)",
                    stat.size
                ),
            });
        }
        // The writes were FILE_SYNC, but the crate does not check the `committed` level of
        // the replies: a COMMIT of the whole file makes the server put it on stable storage.
        self.client
            .commit(tmp, 0, 0)
            .map_err(|e| fail("commit", &e))?;
        let size = self
            .client
            .metadata(tmp)
            .map_err(|e| fail("read the size of", &e))?
            .size;
        if size != Some(stat.size) {
            return Err(mismatch(format!(
                "the NAS holds {} bytes of the {} sent",
                size.map_or_else(|| "an unknown number of".to_owned(), |s| s.to_string()),
                stat.size
            )));
        }
        let mut back = Compare {
            local: open()?,
            len: 0,
            differs_at: None,
            buf: Vec::new(),
        };
        self.client
            .read_to_writer(tmp, &mut back)
            .map_err(|e| fail("read back", &e))?;
        if let Some(at) = back.differs_at {
            return Err(mismatch(format!(
                "the copy read back differs from the local file at byte {at}"
            )));
        }
        if back.len != stat.size {
            return Err(mismatch(format!(
                "read back {} bytes of the {} sent",
                back.len, stat.size
            )));
        }
        let time = nfs::v4::NfsTime {
            seconds: stat.mtime,
            nseconds: 0,
        };
        self.client
            .set_times(tmp, None, Some(time))
            .map_err(|e| fail("set the time of", &e))?;
        self.client
            .rename(tmp, &dest.file(name))
            .map_err(|e| fail("rename into place", &e))
    }

    /// Downloads `name` into `dir` (0600, under a temporary name, renamed when complete and
    /// as long as the listing said).
    fn download(&mut self, name: &str, dir: &Path, stat: Stat) -> Result<(), Error> {
        let target = dir.join(name);
        let tmp = dir.join(format!(".{name}.partial"));
        let io = |e: std::io::Error| Error::Invalid {
            path: tmp.display().to_string(),
            message: format!("cannot write: {e}"),
        };
        let mut file = rackpipe_model::files::create_private(&tmp).map_err(|e| io(e.source))?;
        let read = self
            .client
            .read_to_writer(&self.dest.file(name), &mut file)
            .map_err(|e| nfs_error(self.dest, &format!("read {name}"), &e));
        let done = read.and_then(|got| {
            if got != stat.size {
                return Err(Error::Protocol {
                    target: self.dest.url(),
                    what: format!("read {name}"),
                    message: format!("got {got} bytes, the listing said {}", stat.size),
                });
            }
            file.flush().map_err(io)?;
            let secs = u64::try_from(stat.mtime).unwrap_or(0);
            let time = std::time::UNIX_EPOCH + Duration::from_secs(secs);
            file.set_modified(time).map_err(io)?;
            file.sync_all().map_err(io)?;
            std::fs::rename(&tmp, &target).map_err(io)
        });
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        done
    }

    fn remove(&mut self, name: &str) -> Result<(), Error> {
        self.client
            .remove(&self.dest.file(name))
            .map_err(|e| nfs_error(self.dest, &format!("remove {name}"), &e))
    }
}

/// Copies between `dir` and `dest` as `options` say. Refuses to delete when the sending side
/// is empty (a fresh runner must `pull` first, never wipe the NAS).
///
/// # Errors
/// The directory cannot be read or written, the NAS is unreachable or times out, or an NFS
/// call fails; each names the file and `nfs://` destination. Files copied before the error
/// stay (each is complete: written to a temp name and renamed).
pub fn sync(dest: &Destination, dir: &Path, options: &SyncOptions) -> Result<SyncReport, Error> {
    if options.direction == Direction::Pull {
        // Pulled backups are private whatever the umask: 0700 directory, 0600 files.
        rackpipe_model::files::ensure_private_dir(dir).map_err(|e| Error::Invalid {
            path: e.path.display().to_string(),
            message: format!("cannot create directory: {}", e.source),
        })?;
    }
    let local = local_listing(dir)?;
    let mut remote = Remote::connect(dest, options.timeout)?;
    let on_nas = remote.listing(options.direction == Direction::Push)?;
    let (from, to) = match options.direction {
        Direction::Push => (&local, &on_nas),
        Direction::Pull => (&on_nas, &local),
    };
    let mut missing: Vec<String> = from
        .iter()
        .filter(|(name, stat)| to.get(*name) != Some(*stat))
        .map(|(name, _)| name.clone())
        .collect();
    copy_order(&mut missing);
    let mut extra: Vec<String> = if options.delete {
        to.keys()
            .filter(|n| !from.contains_key(*n))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    if !extra.is_empty() && from.is_empty() {
        let side = match options.direction {
            Direction::Push => dir.display().to_string(),
            Direction::Pull => dest.url(),
        };
        return Err(Error::Invalid {
            path: side,
            message: format!(
                "is empty: refusing to delete {} file(s) on the other side (pull first)",
                extra.len()
            ),
        });
    }
    let mut report = SyncReport {
        destination: dest.url(),
        export: dest.export.clone(),
        subdir: dest.subdir.clone(),
        dir: dir.to_path_buf(),
        direction: options.direction,
        copied: Vec::new(),
        deleted: Vec::new(),
        unchanged: from.len() - missing.len(),
        bytes: 0,
    };
    if options.direction == Direction::Push {
        for name in std::mem::take(&mut remote.stale) {
            match remote.remove(&name) {
                Ok(()) => tracing::info!(file = %name, "removed a stale temporary file"),
                Err(e) => tracing::warn!(error = %e, "cannot remove a stale temporary file"),
            }
        }
    }
    let to_copy = missing.len() as u64;
    tracing::info!(target: "progress", step = %format!("sync {}", dest.url()), done = 0u64, total = to_copy);
    for name in missing {
        let stat = from
            .get(&name)
            .copied()
            .unwrap_or(Stat { size: 0, mtime: 0 });
        let size = stat.size;
        match options.direction {
            Direction::Push => remote.upload(&dir.join(&name), &name, stat)?,
            Direction::Pull => remote.download(&name, dir, stat)?,
        }
        tracing::info!(file = %name, size, "copied");
        report.bytes += size;
        report.copied.push(Copied { name, size });
        let done = report.copied.len() as u64;
        tracing::info!(target: "progress", step = %format!("sync {}", dest.url()), done, total = to_copy);
    }
    // Manifests first, so no manifest is left describing a deleted snapshot.
    copy_order(&mut extra);
    extra.reverse();
    for name in extra {
        match options.direction {
            Direction::Push => remote.remove(&name)?,
            Direction::Pull => {
                let path = dir.join(&name);
                std::fs::remove_file(&path).map_err(|e| Error::Invalid {
                    path: path.display().to_string(),
                    message: format!("cannot delete: {e}"),
                })?;
            }
        }
        tracing::info!(file = %name, "deleted");
        report.deleted.push(name);
    }
    let _ = remote.client.shutdown();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_and_hidden_files_are_not_backups() {
        assert!(is_backup_file("etcd-2026-11-27T020000Z.db.zst"));
        assert!(is_backup_file("etcd-2026-11-27T020000Z.json"));
        assert!(!is_backup_file(".etcd.db.partial"));
        assert!(!is_backup_file("x.partial"));
        assert!(!is_backup_file("x.tmp"));
        for odd in [
            "",
            "..",
            "a/b",
            "a\\b",
            "a\nb.db",
            "a\rb",
            "a\u{1b}[2Jb",
            "a\0b",
        ] {
            assert!(!is_backup_file(odd), "{odd:?}");
        }
        assert!(is_backup_file("étcd ü.db"), "any other UTF-8 name is fine");
    }

    #[test]
    fn upload_temps_are_hidden_partial_files_and_recognised() {
        let t = temp_name("etcd-2026.db");
        assert!(
            t.starts_with(".etcd-2026.db.sync-") && t.ends_with(".partial"),
            "{t}"
        );
        assert!(!is_backup_file(&t));
        assert!(is_upload_temp(&t));
        assert!(is_upload_temp(".nfs-rs-tmp-1-2-3"));
        assert!(!is_upload_temp("etcd-2026.db"));
        assert!(
            !is_upload_temp(".etcd.db.partial"),
            "etcd-backup's own temp: not ours"
        );
    }

    #[test]
    fn only_old_upload_temps_are_stale() {
        let now = 1_800_000_000;
        let hours = |h: i64| Some(now - h * 3600);
        let t = temp_name("a.db");
        assert!(is_stale_temp(&t, hours(7), now));
        assert!(
            !is_stale_temp(&t, hours(5), now),
            "a concurrent run's upload"
        );
        assert!(!is_stale_temp(&t, None, now));
        assert!(
            !is_stale_temp("a.db", hours(100), now),
            "a backup is never a temp"
        );
        assert!(!is_stale_temp(".x.db.partial", hours(100), now), "not ours");
    }

    #[test]
    fn manifests_are_copied_after_the_data_they_describe() {
        let mut names = vec![
            "b.json".to_owned(),
            "b.db".to_owned(),
            "a.json".to_owned(),
            "a.db".to_owned(),
        ];
        copy_order(&mut names);
        assert_eq!(names, ["a.db", "b.db", "a.json", "b.json"]);
    }

    #[test]
    fn urls_bracket_ipv6_hosts() {
        let mut d = Destination {
            host: "198.18.3.2".into(),
            port: 2049,
            export: "backups".into(),
            subdir: "etcd".into(),
            path: "/srv/nfs/backups/etcd".into(),
        };
        assert_eq!(d.url(), "nfs://198.18.3.2:2049/srv/nfs/backups/etcd");
        d.host = "::1".into();
        assert_eq!(d.url(), "nfs://[::1]:2049/srv/nfs/backups/etcd");
        assert_eq!(d.file("a.db"), "/srv/nfs/backups/etcd/a.db");
    }
}
