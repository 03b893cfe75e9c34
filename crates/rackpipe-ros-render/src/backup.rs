//! Backups: `/export` (text) and `/system backup save` (binary), made on the router,
//! downloaded through `/file` and stored locally with SHA-256 checksums (`SHA256SUMS`,
//! `sha256sum -c` format). The files are removed from the router afterwards.
//!
//! Limitation: the download reads the file's `contents` property over REST, which RouterOS
//! serves for small files only; large routers need SFTP (not implemented here).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::rest::{Error, RestClient};

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupFile {
    /// Local path.
    pub path: String,
    /// SHA-256 (hex) of the content.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: usize,
}

/// Printed by `ros-render backup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

async fn download(client: &RestClient, name: &str) -> Result<String, Error> {
    let rows = client.list(&format!("/file?name={name}")).await?;
    let row = rows.into_iter().next().ok_or_else(|| Error::BadReply {
        path: format!("/file/{name}"),
        message: "the router did not write the file".to_owned(),
    })?;
    let contents = row
        .get("contents")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::BadReply {
            path: format!("/file/{name}"),
            message: "no contents (file too large for REST download?)".to_owned(),
        })?;
    if let Some(id) = row.get(".id").and_then(Value::as_str)
        && let Err(e) = client.remove("/file", id).await
    {
        tracing::warn!(file = name, error = %e, "could not remove the file from the router");
    }
    Ok(contents)
}

fn store(dir: &Path, name: &str, content: &[u8]) -> Result<BackupFile, Error> {
    let path = dir.join(name);
    std::fs::write(&path, content).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: format!("cannot write: {e}"),
    })?;
    Ok(BackupFile {
        path: path.display().to_string(),
        sha256: hex::encode(Sha256::digest(content)),
        bytes: content.len(),
    })
}

/// Takes both backups and stores them under `out_dir` as `<identity>-<UTC time>.rsc` /
/// `.backup`, plus `SHA256SUMS`.
///
/// # Errors
/// REST failures, files the router did not produce, local write errors.
pub async fn backup(
    site: &str,
    identity: &str,
    client: &RestClient,
    out_dir: &Path,
) -> Result<BackupResult, Error> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::Io {
        path: out_dir.display().to_string(),
        message: format!("cannot create: {e}"),
    })?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let base = format!("rackpipe-{stamp}");
    client.post("/export", &json!({ "file": base })).await?;
    let export = download(client, &format!("{base}.rsc")).await?;
    client
        .post(
            "/system/backup/save",
            &json!({ "name": base, "dont-encrypt": "yes" }),
        )
        .await?;
    let binary = download(client, &format!("{base}.backup")).await?;
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
    let files = vec![
        store(out_dir, &format!("{local}.rsc"), export.as_bytes())?,
        store(out_dir, &format!("{local}.backup"), binary.as_bytes())?,
    ];
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
    std::fs::write(&sums_path, existing).map_err(|e| Error::Io {
        path: sums_path.display().to_string(),
        message: format!("cannot write: {e}"),
    })?;
    Ok(BackupResult {
        api_version: rackpipe_model::API_VERSION.to_owned(),
        kind: "Backup".to_owned(),
        tool: "ros-render".to_owned(),
        site: site.to_owned(),
        files,
    })
}
