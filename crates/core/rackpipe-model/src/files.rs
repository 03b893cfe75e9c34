//! Files rackpipe writes on the machine it runs on, with the mode it declares for them,
//! whatever the process umask.
//!
//! Backups (etcd snapshots hold every Kubernetes Secret; router backups hold users, keys and
//! certificates) and their manifests are private: `0600` files in `0700` directories. A file is
//! written to a temporary name beside its final one and renamed into place, so a reader never
//! sees half a file under the final name (a full disk leaves the old file, or none).

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of a private file.
pub const PRIVATE_FILE: u32 = 0o600;
/// Mode of a directory that holds private files.
pub const PRIVATE_DIR: u32 = 0o700;

/// A file operation that failed, with the path it was about.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    /// The file or directory.
    pub path: PathBuf,
    /// What the system said.
    #[source]
    pub source: std::io::Error,
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError {
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` (and missing parents) and sets `dir` itself to `0700`.
///
/// # Errors
/// The directory cannot be created or its mode set.
pub fn ensure_private_dir(dir: &Path) -> Result<(), FileError> {
    std::fs::create_dir_all(dir).map_err(at(dir))?;
    std::fs::set_permissions(dir, Permissions::from_mode(PRIVATE_DIR)).map_err(at(dir))
}

/// Opens `path` for writing (created or truncated) with mode `0600`, whatever the umask and
/// whatever mode an existing file had. For streaming a large private file; prefer
/// [`write_private`] when the content is in memory.
///
/// # Errors
/// The file cannot be opened or its mode set.
pub fn create_private(path: &Path) -> Result<File, FileError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_FILE)
        .open(path)
        .map_err(at(path))?;
    // `mode` only applies to a new file, and is masked by the umask: set it explicitly.
    file.set_permissions(Permissions::from_mode(PRIVATE_FILE))
        .map_err(at(path))?;
    Ok(file)
}

/// Writes `bytes` to `path` with mode `0600`, atomically (temporary file, fsync, rename).
///
/// # Errors
/// Any step fails; the final path then keeps its previous content (or does not exist).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_with_mode(path, bytes, PRIVATE_FILE)
}

/// Writes `bytes` to `path` with `mode` (e.g. `0o755` for a script), atomically (temporary
/// file beside it, fsync, rename), whatever the umask.
///
/// # Errors
/// Any step fails; the final path then keeps its previous content (or does not exist).
pub fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    let name = path.file_name().map_or_else(
        || std::ffi::OsString::from("file"),
        std::ffi::OsStr::to_owned,
    );
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(&name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(PRIVATE_FILE)
            .open(&tmp)
            .map_err(at(&tmp))?;
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(at(&tmp))?;
        file.write_all(bytes).map_err(at(&tmp))?;
        file.sync_all().map_err(at(&tmp))?;
        std::fs::rename(&tmp, path).map_err(at(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn modes_hold_whatever_the_umask_and_the_previous_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("backups/etcd");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);

        let snap = dir.join("a.db");
        std::fs::write(&snap, b"old").unwrap();
        std::fs::set_permissions(&snap, Permissions::from_mode(0o644)).unwrap();
        create_private(&snap)
            .unwrap()
            .write_all(b"snapshot")
            .unwrap();
        assert_eq!(mode(&snap), 0o600);

        let manifest = dir.join("a.json");
        write_private(&manifest, b"{}").unwrap();
        assert_eq!(mode(&manifest), 0o600);
        assert_eq!(std::fs::read(&manifest).unwrap(), b"{}");

        let script = dir.join("check.sh");
        write_with_mode(&script, b"#!/bin/sh\n", 0o755).unwrap();
        assert_eq!(mode(&script), 0o755);
        // No temporary file is left beside them.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("missing-dir/x");
        let err = write_private(&file, b"new").unwrap_err();
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }
}
