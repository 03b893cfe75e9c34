//! The one error type of this crate: every message is one line naming the endpoint or path.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while backing up, verifying, pruning or restoring etcd.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing listens at the endpoint, or the connection broke (retry later).
    #[error("{endpoint}: unreachable: {reason}")]
    Unreachable {
        /// The endpoint URL.
        endpoint: String,
        /// What the transport said.
        reason: String,
    },
    /// The endpoint did not answer in time (retry later).
    #[error("{endpoint}: timed out{} while {during}", after(*.secs))]
    Timeout {
        /// The endpoint URL.
        endpoint: String,
        /// The limit that was hit.
        secs: u64,
        /// What was being done.
        during: &'static str,
    },
    /// The TLS handshake failed: wrong CA, wrong or missing client certificate, name mismatch.
    #[error("{endpoint}: TLS handshake failed: {reason}")]
    Tls {
        /// The endpoint URL.
        endpoint: String,
        /// What rustls or the server said.
        reason: String,
    },
    /// The endpoint answered but is not an etcd v3 gRPC server.
    #[error("{endpoint}: not an etcd v3 endpoint: {reason}")]
    NotEtcd {
        /// The endpoint URL.
        endpoint: String,
        /// What came back.
        reason: String,
    },
    /// etcd refused the request (permission denied, unhealthy member, ...).
    #[error("{endpoint}: etcd refused {during}: {reason}")]
    Refused {
        /// The endpoint URL.
        endpoint: String,
        /// The request.
        during: &'static str,
        /// The gRPC status message.
        reason: String,
        /// Whether the gRPC code says a retry may help (unavailable, aborted, ...).
        transient: bool,
    },
    /// The snapshot stream ended early or carried bad data.
    #[error("{endpoint}: snapshot stream broken: {reason}")]
    Stream {
        /// The endpoint URL.
        endpoint: String,
        /// What was wrong.
        reason: String,
        /// Whether a retry may help.
        transient: bool,
    },
    /// The SSH connection to a master failed: unreachable, wrong or unknown host key (refused
    /// before any command runs), authentication, or a dropped session.
    #[error("{}{source}", member_prefix(member, source.host()))]
    Ssh {
        /// The member (master node name).
        member: String,
        /// What the SSH client said; it names `host:port`.
        source: rackpipe_ssh::Error,
    },
    /// A command on a master (reached over SSH) failed, e.g. `etcdctl snapshot save`.
    #[error("{}{host}: {during}: {reason}", member_prefix(member, Some(host)))]
    Remote {
        /// The member (master node name).
        member: String,
        /// `host:port` of the SSH server.
        host: String,
        /// What was run.
        during: &'static str,
        /// Exit status and the last meaningful line of its stderr.
        reason: String,
        /// Whether a retry may help (etcd not answering on the master).
        transient: bool,
    },
    /// Every endpoint failed; `transient` when each failure was.
    #[error("no etcd member gave a snapshot: {}", summarize(.attempts))]
    AllEndpointsFailed {
        /// One error per endpoint, in the order tried.
        attempts: Vec<Error>,
    },
    /// No endpoint was given.
    #[error("{0}: no etcd endpoint configured")]
    NoEndpoints(String),
    /// An endpoint URL the transport rule refuses (plain `http://` to anything but a literal
    /// loopback address, a user name or password in the URL); nothing was sent to it.
    #[error("etcd endpoint {0}")]
    Url(String),
    /// A TLS file (CA, certificate, key) could not be read or parsed.
    #[error("{path}: {reason}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The destination directory cannot be used.
    #[error("{path}: destination not writable: {source}")]
    NotWritable {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The destination file system is full (or over quota).
    #[error("{path}: destination full: {source}")]
    DestinationFull {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Any other I/O failure on a path.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done (`open`, `read`, `rename`, ...).
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not an etcd snapshot at all.
    #[error("{path}: not an etcd snapshot: {reason}")]
    NotASnapshot {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is shorter than it should be.
    #[error("{path}: truncated snapshot: {reason}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// A checksum did not match: the file is corrupt.
    #[error("{path}: corrupt snapshot: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which checksum failed, with both values.
        reason: String,
    },
    /// A manifest is missing, unreadable or inconsistent.
    #[error("{path}: manifest: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A restore target already holds data.
    #[error("{path}: restore target is not empty; refusing to overwrite it")]
    TargetNotEmpty {
        /// The data directory.
        path: PathBuf,
    },
    /// An external tool (`etcdctl`, `etcd`) is missing or failed.
    #[error("{tool}: {reason}")]
    Tool {
        /// The tool.
        tool: String,
        /// Exit status and the last line of its stderr.
        reason: String,
    },
    /// A restore drill found the restored member differs from the manifest.
    #[error("drill of {path}: {reason}")]
    DrillMismatch {
        /// The snapshot.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The site model lacks something (field path first).
    #[error("{field}: {reason}")]
    Site {
        /// The field path, e.g. `kubernetes.masters[1].guest`.
        field: String,
        /// Why.
        reason: String,
    },
    /// A retention policy that would keep nothing.
    #[error(
        "{0}: empty retention policy (keep_last, daily, weekly and monthly all 0) would delete every snapshot; refusing"
    )]
    EmptyPolicy(String),
    /// Options that do not fit together or a malformed option value (the CLI exits 64).
    #[error("{0}")]
    Usage(String),
    /// No snapshot of the kind asked for in a destination directory.
    #[error("{}: no {what}", dir.display())]
    NoSnapshot {
        /// The destination directory.
        dir: PathBuf,
        /// What was looked for (`snapshot with a manifest`, `verified snapshot`).
        what: &'static str,
    },
    /// `verify --all`: snapshots with a manifest that fail verification, each named.
    #[error("{} snapshot(s) in {} fail verification: {}", failures.len(), dir.display(), failures.join("; "))]
    VerifyFailed {
        /// The destination directory.
        dir: PathBuf,
        /// One line per failing snapshot.
        failures: Vec<String>,
    },
}

impl Error {
    /// Whether retrying later may help (unreachable, timeout, member unavailable): the CLI exits
    /// 75 for these and 1 for everything else.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Refused { transient, .. }
            | Self::Stream { transient, .. }
            | Self::Remote { transient, .. } => *transient,
            Self::Ssh { source, .. } => source.is_transient(),
            Self::AllEndpointsFailed { attempts } => {
                !attempts.is_empty() && attempts.iter().all(Self::is_transient)
            }
            Self::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
            ),
            _ => false,
        }
    }

    /// Whether this is a usage error (conflicting or malformed options): the CLI exits 64.
    #[must_use]
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Usage(_))
    }

    /// An I/O error on `path`, sorted into "full", "not writable" or the generic case.
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let path = path.to_path_buf();
        match source.kind() {
            K::StorageFull | K::QuotaExceeded | K::FileTooLarge => {
                Self::DestinationFull { path, source }
            }
            K::PermissionDenied | K::ReadOnlyFilesystem | K::NotADirectory => {
                Self::NotWritable { path, source }
            }
            _ => Self::Io { path, op, source },
        }
    }
}

fn after(secs: u64) -> String {
    if secs == 0 {
        String::new()
    } else {
        format!(" after {secs} s")
    }
}

/// `"m1: "` before a `host:port: …` message, or nothing when the member is named after the host.
fn member_prefix(member: &str, host: Option<&str>) -> String {
    if member.is_empty() || host == Some(member) {
        String::new()
    } else {
        format!("{member}: ")
    }
}

fn summarize(attempts: &[Error]) -> String {
    attempts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_endpoints_failed_is_transient_only_when_every_attempt_is() {
        let down = || Error::Unreachable {
            endpoint: "https://a".into(),
            reason: "refused".into(),
        };
        let tls = Error::Tls {
            endpoint: "https://b".into(),
            reason: "unknown issuer".into(),
        };
        assert!(
            Error::AllEndpointsFailed {
                attempts: vec![down(), down()]
            }
            .is_transient()
        );
        assert!(
            !Error::AllEndpointsFailed {
                attempts: vec![down(), tls]
            }
            .is_transient()
        );
        assert!(!Error::AllEndpointsFailed { attempts: vec![] }.is_transient());
    }

    #[test]
    fn messages_are_one_line_and_name_the_endpoint() {
        let e = Error::AllEndpointsFailed {
            attempts: vec![
                Error::Unreachable {
                    endpoint: "https://127.0.0.1:1".into(),
                    reason: "refused".into(),
                },
                Error::Timeout {
                    endpoint: "https://127.0.0.1:2".into(),
                    secs: 5,
                    during: "connecting",
                },
            ],
        };
        let text = e.to_string();
        assert!(!text.contains('\n'));
        assert!(
            text.contains("https://127.0.0.1:1") && text.contains("https://127.0.0.1:2"),
            "{text}"
        );
        assert!(
            text.contains("https://127.0.0.1:2: timed out after 5 s while connecting"),
            "{text}"
        );
        let quick = Error::Timeout {
            endpoint: "e".into(),
            secs: 0,
            during: "status",
        };
        assert_eq!(quick.to_string(), "e: timed out while status");
    }

    #[test]
    fn ssh_errors_name_member_and_host_once() {
        let source = || rackpipe_ssh::Error::Connect {
            host: "10.0.0.1:22".into(),
            message: "refused".into(),
        };
        let e = Error::Ssh {
            member: "m1".into(),
            source: source(),
        };
        assert_eq!(e.to_string(), "m1: 10.0.0.1:22: cannot connect: refused");
        assert!(e.is_transient());
        let e = Error::Ssh {
            member: "10.0.0.1:22".into(),
            source: source(),
        };
        assert_eq!(e.to_string(), "10.0.0.1:22: cannot connect: refused");
        let e = Error::Remote {
            member: "m2".into(),
            host: "10.0.0.2:22".into(),
            during: "etcdctl snapshot save",
            reason: "exit 91: Error: x".into(),
            transient: false,
        };
        assert_eq!(
            e.to_string(),
            "m2: 10.0.0.2:22: etcdctl snapshot save: exit 91: Error: x"
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn io_errors_are_sorted() {
        let full = Error::io(
            Path::new("/x"),
            "write",
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        );
        assert!(matches!(full, Error::DestinationFull { .. }));
        let ro = Error::io(
            Path::new("/x"),
            "create",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(matches!(ro, Error::NotWritable { .. }));
    }
}
