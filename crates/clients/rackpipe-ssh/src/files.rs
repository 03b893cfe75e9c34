//! Whole-file transfer through the remote shell: read, atomic write (temp file, fsync,
//! rename), rename and remove. The remote side needs a POSIX shell and coreutils.

use crate::{Error, Session, shell_quote};

impl Session {
    /// Reads a whole remote file; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`Error::Remote`] when it exists but cannot be read; transport errors.
    pub async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        const ABSENT: u32 = 44;
        let q = shell_quote(path);
        let out = self
            .exec(&format!(
                "if [ -e {q} ]; then exec cat -- {q}; else exit {ABSENT}; fi"
            ))
            .await?;
        match out.status {
            Some(0) => Ok(Some(out.stdout)),
            Some(ABSENT) => Ok(None),
            _ => Err(self.remote(path, &out)),
        }
    }

    /// Writes `bytes` to `path` atomically: a temp file in the same directory, `chmod mode`,
    /// fsync, then `mv` over `path` (a rename) and an fsync of the directory. Readers see
    /// either the old or the new file, never a partial one.
    ///
    /// # Errors
    /// [`Error::Remote`] (directory missing, permission denied, disk full); transport errors.
    pub async fn write_file_atomic(
        &self,
        path: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), Error> {
        let (dir, name) = match path.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((dir, name)) => (dir, name),
            None => (".", path),
        };
        if name.is_empty() {
            return Err(Error::Remote {
                host: self.label.clone(),
                path: path.to_owned(),
                message: "not a file path".to_owned(),
            });
        }
        let tmp = format!(
            "{}/.{name}.rackpipe-{}.tmp",
            dir.trim_end_matches('/'),
            unique_suffix()
        );
        let (qt, qp, qd) = (shell_quote(&tmp), shell_quote(path), shell_quote(dir));
        let script = format!(
            "set -e; t={qt}; trap 'rm -f \"$t\"' EXIT; umask 077; cat > \"$t\"; chmod {mode:o} \"$t\"; sync \"$t\"; mv -f \"$t\" {qp}; sync {qd} 2>/dev/null || true"
        );
        let out = self
            .exec_with(&script, Some(bytes), self.exec_timeout)
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(self.remote(path, &out))
        }
    }

    /// Renames `from` to `to` on the remote host (atomic within one file system).
    ///
    /// # Errors
    /// [`Error::Remote`]; transport errors.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), Error> {
        let out = self
            .exec(&format!("mv -f {} {}", shell_quote(from), shell_quote(to)))
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(self.remote(to, &out))
        }
    }

    /// Removes a remote file; a missing file is not an error.
    ///
    /// # Errors
    /// [`Error::Remote`]; transport errors.
    pub async fn remove_file(&self, path: &str) -> Result<(), Error> {
        let out = self
            .exec(&format!("rm -f -- {}", shell_quote(path)))
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(self.remote(path, &out))
        }
    }
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
