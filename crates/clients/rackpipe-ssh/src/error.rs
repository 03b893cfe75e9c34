//! The client's errors: one line each, naming the host (or the file), and whether a retry may
//! help.

/// Errors; each message is one line that names the host (or the file).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// TCP connection failed (refused, unreachable, DNS).
    #[error("{host}: cannot connect: {message}")]
    Connect {
        /// `host:port`.
        host: String,
        /// The cause.
        message: String,
    },
    /// An operation took longer than allowed.
    #[error("{host}: timed out after {seconds:.1}s while {what}")]
    Timeout {
        /// `host:port`.
        host: String,
        /// The limit.
        seconds: f64,
        /// What was running.
        what: String,
    },
    /// The host key does not match the pinned fingerprint.
    #[error("{host}: host key {actual} does not match the pinned fingerprint {expected}")]
    HostKeyMismatch {
        /// `host:port`.
        host: String,
        /// The server's key fingerprint.
        actual: String,
        /// The pinned one.
        expected: String,
    },
    /// The host is not in `known_hosts` and `accept_new` is off.
    #[error(
        "{host}: host key {actual} is unknown: not listed in {known_hosts} (no trust on first use; add it or pin its fingerprint)"
    )]
    UnknownHostKey {
        /// `host:port`.
        host: String,
        /// The server's key fingerprint.
        actual: String,
        /// The file checked.
        known_hosts: String,
    },
    /// `known_hosts` has a different key of the same type for the host.
    #[error("{host}: HOST KEY CHANGED: {actual} differs from {known_hosts} line {line}")]
    HostKeyChanged {
        /// `host:port`.
        host: String,
        /// The server's key fingerprint.
        actual: String,
        /// The file checked.
        known_hosts: String,
        /// The line holding the old key.
        line: usize,
    },
    /// The pinned fingerprint is not `SHA256:<base64>`.
    #[error(
        "host_key: {0:?} is not a SHA-256 fingerprint like SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
    )]
    BadFingerprint(String),
    /// Neither a pinned fingerprint nor a `known_hosts` file was given.
    #[error(
        "no host key to verify against: give a known_hosts file or a pinned SHA256: fingerprint (host keys are always verified; no trust on first use)"
    )]
    NoHostKeyPolicy,
    /// The known_hosts file could not be read or written.
    #[error("{host}: known_hosts {path}: {message}")]
    KnownHosts {
        /// `host:port`.
        host: String,
        /// The file.
        path: String,
        /// The cause.
        message: String,
    },
    /// The private key file could not be loaded.
    #[error("{path}: cannot load private key: {message}")]
    Key {
        /// The file.
        path: String,
        /// The cause (never the key).
        message: String,
    },
    /// The server refused the key (and the password, if one was given).
    #[error("{host}: authentication as {user:?} was refused (key and password, as given)")]
    AuthRejected {
        /// `host:port`.
        host: String,
        /// The remote user.
        user: String,
    },
    /// The SSH session failed (disconnect, protocol error).
    #[error("{host}: ssh: {message}")]
    Ssh {
        /// `host:port`.
        host: String,
        /// The cause.
        message: String,
    },
    /// Writing the local copy of a downloaded file failed.
    #[error("{host}: {path}: cannot write the local copy: {message}")]
    LocalWrite {
        /// `host:port`.
        host: String,
        /// The remote path being downloaded.
        path: String,
        /// The cause.
        message: String,
    },
    /// A command printed more than the output limit (it is not read further; a broken or
    /// hostile host cannot exhaust our memory).
    #[error("{host}: {what}: more than {limit} of output, refused (not read further)")]
    OutputTooLarge {
        /// `host:port`.
        host: String,
        /// `"cat" standard output`.
        what: String,
        /// The limit, human-readable.
        limit: String,
    },
    /// A remote file operation failed.
    #[error("{host}: {path}: {message}")]
    Remote {
        /// `host:port`.
        host: String,
        /// The remote path.
        path: String,
        /// What went wrong (first line of the remote stderr).
        message: String,
    },
}

impl Error {
    /// Whether retrying later may help (network trouble, timeouts, dropped sessions).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::Timeout { .. } | Self::Ssh { .. }
        )
    }

    /// The `host:port` the error is about, if any.
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        match self {
            Self::Connect { host, .. }
            | Self::Timeout { host, .. }
            | Self::HostKeyMismatch { host, .. }
            | Self::UnknownHostKey { host, .. }
            | Self::HostKeyChanged { host, .. }
            | Self::KnownHosts { host, .. }
            | Self::AuthRejected { host, .. }
            | Self::Ssh { host, .. }
            | Self::LocalWrite { host, .. }
            | Self::OutputTooLarge { host, .. }
            | Self::Remote { host, .. } => Some(host),
            Self::BadFingerprint(_) | Self::NoHostKeyPolicy | Self::Key { .. } => None,
        }
    }
}
