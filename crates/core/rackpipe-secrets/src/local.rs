//! `env:NAME` and `file:PATH` references.

use std::path::Path;

use crate::{ErrorKind, Secret};

/// Reads environment variable `name`: unset, empty or not UTF-8 is an error.
pub(crate) fn env(name: &str) -> Result<Secret, ErrorKind> {
    match std::env::var(name) {
        Ok(value) if value.is_empty() => Err(ErrorKind::EnvEmpty {
            name: name.to_owned(),
        }),
        Ok(value) => Ok(Secret::new(value)),
        Err(std::env::VarError::NotPresent) => Err(ErrorKind::EnvUnset {
            name: name.to_owned(),
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(ErrorKind::Malformed(format!(
            "environment variable {name} is not UTF-8"
        ))),
    }
}

/// Reads the file at `path`, trailing newlines (`\n`, `\r\n`) removed; a missing, unreadable
/// or empty file is an error. Warns (tracing) when the group or others may read it.
pub(crate) fn file(path: &str, field: &str) -> Result<Secret, ErrorKind> {
    let bad = |reason: String| ErrorKind::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(io_reason(&e)))?;
    warn_if_readable_by_others(Path::new(path), field);
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(bad("file is empty".to_owned()));
    }
    Ok(Secret::new(value))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_owned(),
        _ => format!("cannot read: {e}"),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, field: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o044 != 0 {
            tracing::warn!(
                field,
                path = %path.display(),
                mode = format_args!("{mode:03o}"),
                "secret file is readable by its group or by others; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path, _: &str) {}

/// Whether the file mode lets the group or others read it (for tests of the warning rule).
#[cfg(all(test, unix))]
pub(crate) fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}
