//! Backups: `/export` (text) and `/system backup save` (binary), made on the router,
//! downloaded through `/file` and stored locally with SHA-256 checksums (`SHA256SUMS`,
//! `sha256sum -c` format). The binary backup is encrypted on the router with the site's
//! `router.management.backup_password`, or the API password when the site names none
//! ([`backup_password_field`], [`BackupOptions::password`]): never stored in the clear. Both files are removed
//! from the router afterwards, whether the download worked or not (they hold the whole
//! configuration). Locally every file is private: `0600` in a `0700` directory whatever the
//! umask (`rackpipe_model::files`).
//!
//! Two ways to bring the files home ([`Transfer`]):
//!
//! - [`Transfer::Rest`] (the default) reads each file's `contents` property over REST, which
//!   RouterOS serves for small text files only: fine for the export of a small router and the
//!   simulator, not for the binary `.backup` of a real one.
//! - [`Transfer::Sftp`] downloads both files over SFTP from the router's SSH server (same user
//!   and password as the API; host key pinned or checked against `known_hosts`, never trusted
//!   on first use). The REST API still asks the router to save the files, finds them in
//!   `/file` and removes them afterwards; only the bytes travel over SFTP, streamed to a temp
//!   file beside the destination with the SHA-256 computed on the way, fsynced and renamed
//!   into place ([`download_sftp`]).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::rest::{Error, RestClient};

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BackupFile {
    /// Local path.
    pub path: String,
    /// SHA-256 (hex) of the content.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: usize,
}

/// How the saved files are downloaded.
#[derive(Debug, Clone, Default)]
pub enum Transfer {
    /// The `contents` property over REST (small files only).
    #[default]
    Rest,
    /// SFTP from the router's SSH server with these options (see [`sftp_options`]).
    Sftp(rackpipe_ssh::ConnectOptions),
}

/// Options of [`backup_with`].
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// How the files are downloaded.
    pub transfer: Transfer,
    /// UTC time stamp in the file names (`%Y%m%dT%H%M%SZ`); `None` means now. Fixed stamps
    /// make file names predictable (tests).
    pub stamp: Option<String>,
    /// Password the router encrypts the binary backup with (see [`backup_password_field`]);
    /// `None` saves it unencrypted, with a warning (library callers only: the CLI always
    /// sets one).
    pub password: Option<crate::rest::Password>,
}

/// The site field whose value encrypts the site's binary backups:
/// [`BACKUP_PASSWORD_FIELD`](crate::rest::BACKUP_PASSWORD_FIELD) when the site sets
/// `router.management.backup_password`, or else the API password's
/// [`PASSWORD_FIELD`](crate::rest::PASSWORD_FIELD). Both are among
/// [`secret_refs`](crate::rest::secret_refs): the caller passes the value resolved for this
/// field as [`BackupOptions::password`].
///
/// # Errors
/// No router section.
pub fn backup_password_field(site: &rackpipe_model::Site) -> Result<&'static str, Error> {
    let m = &site
        .router
        .as_ref()
        .ok_or(crate::Error::NoRouter)?
        .management;
    Ok(if m.backup_password.is_some() {
        crate::rest::BACKUP_PASSWORD_FIELD
    } else {
        crate::rest::PASSWORD_FIELD
    })
}

/// SSH options to reach the site's router for [`Transfer::Sftp`]: the user from
/// `router.management` and `password`, the value resolved for its password (the REST API's,
/// [`PASSWORD_FIELD`](crate::rest::PASSWORD_FIELD)); host from `rest_url` when given (the
/// `--url` override) or else `router.management.address`, port `port` or else
/// `router.management.ssh_port`.
///
/// # Errors
/// No router section, a `rest_url` without a host.
pub fn sftp_options(
    site: &rackpipe_model::Site,
    rest_url: Option<&str>,
    port: Option<u16>,
    host_key: rackpipe_ssh::HostKeyPolicy,
    password: crate::rest::Password,
) -> Result<rackpipe_ssh::ConnectOptions, Error> {
    let router = site.router.as_ref().ok_or(crate::Error::NoRouter)?;
    let m = &router.management;
    let host = match rest_url {
        Some(url) => host_of_url(url).ok_or_else(|| Error::Config {
            what: "--url".to_owned(),
            message: format!("{url:?} has no host to reach over SSH"),
        })?,
        None => m.address.to_string(),
    };
    Ok(rackpipe_ssh::ConnectOptions::with_password(
        host,
        port.unwrap_or(m.ssh_port),
        m.user.clone(),
        password,
        host_key,
    ))
}

/// The host of `scheme://host:port/…` (brackets of an IPv6 literal removed).
fn host_of_url(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then(|| host.to_owned())
}

/// An SSH/SFTP error as this crate's error: one line naming `sftp://host:port`; connection
/// trouble stays transient.
fn ssh_error(e: &rackpipe_ssh::Error, label: &str) -> Error {
    let host = e.host().unwrap_or(label);
    let text = e.to_string();
    let message = text
        .strip_prefix(&format!("{host}: "))
        .unwrap_or(&text)
        .to_owned();
    let where_ = format!("sftp://{host}");
    if e.is_transient() {
        Error::Unreachable {
            url: where_,
            message,
        }
    } else if matches!(
        e,
        rackpipe_ssh::Error::Remote { .. } | rackpipe_ssh::Error::LocalWrite { .. }
    ) {
        Error::Io {
            path: where_,
            message,
        }
    } else {
        Error::Config {
            what: where_,
            message,
        }
    }
}

/// A writer that hashes what passes through it.
struct HashingWriter {
    inner: tokio::fs::File,
    hasher: Sha256,
    bytes: u64,
}

impl tokio::io::AsyncWrite for HashingWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.hasher.update(&buf[..n]);
                this.bytes += n as u64;
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn io_err(path: &Path, what: &str, e: &std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: format!("{what}: {e}"),
    }
}

/// Downloads `remote` over SFTP to the local file `dest`: streamed into a temp file beside it
/// (`.<name>.partial`) with the SHA-256 computed on the way, fsynced, renamed into place and
/// the directory fsynced. On failure the temp file is removed and `dest` is untouched.
///
/// # Errors
/// SFTP failures (one line naming `sftp://host:port` and the remote path), local I/O errors
/// naming the file.
pub async fn download_sftp(
    session: &rackpipe_ssh::Session,
    remote: &str,
    dest: &Path,
) -> Result<BackupFile, Error> {
    let dir = dest.parent().unwrap_or_else(|| Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.partial"));
    let result = async {
        let file = rackpipe_model::files::create_private(&tmp)
            .map(tokio::fs::File::from_std)
            .map_err(|e| io_err(&tmp, "cannot create", &e.source))?;
        let mut writer = HashingWriter {
            inner: file,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let n = session
            .sftp_download(remote, &mut writer)
            .await
            .map_err(|e| ssh_error(&e, session.host()))?;
        writer
            .inner
            .sync_all()
            .await
            .map_err(|e| io_err(&tmp, "cannot fsync", &e))?;
        debug_assert_eq!(n, writer.bytes);
        let sha256 = hex::encode(writer.hasher.finalize());
        tokio::fs::rename(&tmp, dest)
            .await
            .map_err(|e| io_err(dest, "cannot rename into place", &e))?;
        sync_dir(dir);
        Ok(BackupFile {
            path: dest.display().to_string(),
            sha256,
            bytes: usize::try_from(n).unwrap_or(usize::MAX),
        })
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

/// Fsyncs a directory so a rename in it survives a crash (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The file under `schemas/` of the document `ros-render backup` prints ([`backup_schema`]).
pub const BACKUP_SCHEMA: &str = "router-backup.schema.json";

/// The schema of [`BackupResult`] (committed as `schemas/router-backup.schema.json`).
#[must_use]
pub fn backup_schema() -> Value {
    rackpipe_model::schema::schema_of::<BackupResult>(BACKUP_SCHEMA)
}

/// Printed by `ros-render backup` (kind `Backup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BackupResult {
    /// Always `rackpipe/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `Backup`.
    pub kind: String,
    /// Always `ros-render`.
    pub tool: String,
    /// Site name.
    pub site: String,
    /// The export and the binary backup.
    pub files: Vec<BackupFile>,
}

/// The router's `/file` row for `name`.
async fn find_file(client: &RestClient, name: &str) -> Result<Map<String, Value>, Error> {
    let rows = client.list(&format!("/file?name={name}")).await?;
    rows.into_iter().next().ok_or_else(|| Error::BadReply {
        path: format!("/file/{name}"),
        message: "the router did not write the file".to_owned(),
    })
}

/// Removes every `/file` row named one of `names` from the router, whatever happened before
/// (a failed download must not leave the configuration lying on the router). A failure is
/// logged, never returned: it must not hide the error that brought us here.
async fn remove_files(client: &RestClient, names: &[String]) {
    for name in names {
        let removed = async {
            for row in client.list(&format!("/file?name={name}")).await? {
                if let Some(id) = row.get(".id").and_then(Value::as_str) {
                    client.remove("/file", id).await?;
                }
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = removed {
            tracing::warn!(file = %name, error = %e, "could not remove the file from the router");
        }
    }
}

async fn download(client: &RestClient, name: &str) -> Result<String, Error> {
    let row = find_file(client, name).await?;
    row.get("contents")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::BadReply {
            path: format!("/file/{name}"),
            message: "no contents (file too large for REST download?)".to_owned(),
        })
}

/// Finds `name` in `/file` and downloads it over SFTP to `dest`.
async fn download_sftp_named(
    client: &RestClient,
    session: &rackpipe_ssh::Session,
    name: &str,
    dest: &Path,
) -> Result<BackupFile, Error> {
    let row = find_file(client, name).await?;
    let remote = row
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(name)
        .to_owned();
    download_sftp(session, &remote, dest).await
}

fn store(dir: &Path, name: &str, content: &[u8]) -> Result<BackupFile, Error> {
    let path = dir.join(name);
    rackpipe_model::files::write_private(&path, content).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: format!("cannot write: {}", e.source),
    })?;
    Ok(BackupFile {
        path: path.display().to_string(),
        sha256: hex::encode(Sha256::digest(content)),
        bytes: content.len(),
    })
}

/// Takes both backups over REST ([`Transfer::Rest`]) and stores them under `out_dir` as
/// `<identity>-<UTC time>.rsc` / `.backup`, plus `SHA256SUMS`.
///
/// # Errors
/// REST failures, files the router did not produce, local write errors.
pub async fn backup(
    site: &str,
    identity: &str,
    client: &RestClient,
    out_dir: &Path,
) -> Result<BackupResult, Error> {
    backup_with(site, identity, client, out_dir, &BackupOptions::default()).await
}

/// [`backup`] with a choice of [`Transfer`]. With SFTP the SSH session is opened (and the
/// host key checked) before the router is asked to save anything.
///
/// # Errors
/// As [`backup`]; SSH/SFTP failures name `sftp://host:port` (connection trouble is
/// transient).
pub async fn backup_with(
    site: &str,
    identity: &str,
    client: &RestClient,
    out_dir: &Path,
    options: &BackupOptions,
) -> Result<BackupResult, Error> {
    rackpipe_model::files::ensure_private_dir(out_dir).map_err(|e| Error::Io {
        path: out_dir.display().to_string(),
        message: format!("cannot create: {}", e.source),
    })?;
    let session = match &options.transfer {
        Transfer::Rest => None,
        Transfer::Sftp(ssh) => Some(
            rackpipe_ssh::Session::connect(ssh)
                .await
                .map_err(|e| ssh_error(&e, &ssh.label()))?,
        ),
    };
    let stamp = options.stamp.clone().unwrap_or_else(|| {
        jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string()
    });
    let base = format!("rackpipe-{stamp}");
    let safe: String = identity
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let local = format!("{safe}-{stamp}");
    let save_body = match &options.password {
        Some(password) => json!({ "name": base, "password": password.expose() }),
        None => {
            tracing::warn!(
                "router.management.backup_password is not set: the binary backup is saved unencrypted"
            );
            json!({ "name": base, "dont-encrypt": "yes" })
        }
    };
    let remote = [format!("{base}.rsc"), format!("{base}.backup")];
    let result = async {
        client.post("/export", &json!({ "file": base })).await?;
        if let Some(session) = &session {
            let export = download_sftp_named(
                client,
                session,
                &remote[0],
                &out_dir.join(format!("{local}.rsc")),
            )
            .await?;
            client.post("/system/backup/save", &save_body).await?;
            let binary = download_sftp_named(
                client,
                session,
                &remote[1],
                &out_dir.join(format!("{local}.backup")),
            )
            .await?;
            Ok::<_, Error>(vec![export, binary])
        } else {
            let export = download(client, &remote[0]).await?;
            client.post("/system/backup/save", &save_body).await?;
            let binary = download(client, &remote[1]).await?;
            Ok(vec![
                store(out_dir, &format!("{local}.rsc"), export.as_bytes())?,
                store(out_dir, &format!("{local}.backup"), binary.as_bytes())?,
            ])
        }
    }
    .await;
    // Whatever happened: nothing of ours stays on the router.
    remove_files(client, &remote).await;
    if let Some(session) = session {
        session.close().await;
    }
    let files = result?;
    let mut sums = String::new();
    for f in &files {
        let name = PathBuf::from(&f.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        sums.push_str(&format!("{}  {name}\n", f.sha256));
    }
    let sums_path = out_dir.join("SHA256SUMS");
    let mut existing = std::fs::read_to_string(&sums_path).unwrap_or_default();
    existing.push_str(&sums);
    rackpipe_model::files::write_private(&sums_path, existing.as_bytes()).map_err(|e| {
        Error::Io {
            path: sums_path.display().to_string(),
            message: format!("cannot write: {}", e.source),
        }
    })?;
    Ok(BackupResult {
        api_version: rackpipe_model::API_VERSION.to_owned(),
        kind: "Backup".to_owned(),
        tool: "ros-render".to_owned(),
        site: site.to_owned(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::{host_of_url, ssh_error};

    #[test]
    fn ssh_errors_name_the_host_once() {
        let e = rackpipe_ssh::Error::BadFingerprint("nope".into());
        let text = ssh_error(&e, "10.1.1.1:22").to_string();
        assert!(
            text.starts_with("sftp://10.1.1.1:22: host_key: \"nope\""),
            "{text}"
        );
        let e = rackpipe_ssh::Error::Remote {
            host: "127.0.0.1:2222".into(),
            path: "a.backup".into(),
            message: "No such file".into(),
        };
        let mapped = ssh_error(&e, "ignored");
        assert_eq!(
            mapped.to_string(),
            "sftp://127.0.0.1:2222: a.backup: No such file"
        );
        assert!(!mapped.is_transient());
        let e = rackpipe_ssh::Error::Connect {
            host: "127.0.0.1:1".into(),
            message: "refused".into(),
        };
        assert!(ssh_error(&e, "x").is_transient());
    }

    #[test]
    fn url_hosts() {
        assert_eq!(
            host_of_url("https://10.0.0.1:443").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            host_of_url("http://127.0.0.1:8080/").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(host_of_url("https://[::1]:443").as_deref(), Some("::1"));
        assert_eq!(
            host_of_url("https://router.lan").as_deref(),
            Some("router.lan")
        );
        assert_eq!(host_of_url("https://"), None);
    }
}
