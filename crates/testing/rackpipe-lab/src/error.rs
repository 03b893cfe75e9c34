//! The lab's errors: one line each, naming the host, file or command.

use std::path::Path;

/// Everything that can go wrong bringing the lab up, checking it or taking it down.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The site file or its lab variant.
    #[error("site: {0}")]
    Site(String),
    /// A file or directory operation.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// What failed.
        message: String,
    },
    /// An external command failed (`ip`, `ssh-keygen`, ...).
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr (first line) or exit status.
        message: String,
    },
    /// A daemon did not come up.
    #[error("{host}: {daemon}: {message}")]
    Daemon {
        /// The lab host.
        host: String,
        /// The daemon's name.
        daemon: String,
        /// What went wrong.
        message: String,
    },
    /// The lab state file is missing or invalid.
    #[error("{0}")]
    State(String),
    /// A real daemon (OpenBao, HAProxy, keepalived, etcd, nfs-ganesha) failed.
    #[error("{0}")]
    Daemons(#[from] crate::daemons::Error),
    /// A TLS certificate could not be generated.
    #[error("tls: {0}")]
    Tls(String),
}

impl LabError {
    /// An I/O error on `path`.
    #[must_use]
    pub fn io(path: &Path, err: &std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            message: err.to_string(),
        }
    }
}
