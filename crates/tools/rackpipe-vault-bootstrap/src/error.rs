//! The crate's error type: one line per error, naming the node, API path, file or field.

use std::path::PathBuf;

/// Everything that can go wrong in vault-bootstrap.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node or API address could not be reached (connect error, timeout).
    #[error("{node}: unreachable at {url}: {reason}")]
    Unreachable {
        /// Node name (or `api` for the cluster address).
        node: String,
        /// The URL tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// The API answered with an error status.
    #[error("{node}: {method} {path}: HTTP {status}: {message}")]
    Api {
        /// Node name (or `api`).
        node: String,
        /// HTTP method.
        method: String,
        /// API path below `/v1/`.
        path: String,
        /// HTTP status.
        status: u16,
        /// The server's `errors` joined with `; `.
        message: String,
    },
    /// The API answered with something that is not the expected JSON.
    #[error("{node}: {path}: unexpected response: {reason}")]
    Protocol {
        /// Node name.
        node: String,
        /// API path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The cluster (or a node) is sealed, so it cannot be configured.
    #[error("{node}: Vault is sealed; run `vault-bootstrap unseal` first")]
    Sealed {
        /// Node name.
        node: String,
    },
    /// The cluster is not initialized.
    #[error("{node}: Vault is not initialized; run `vault-bootstrap init` first")]
    NotInitialized {
        /// Node name.
        node: String,
    },
    /// `init` on a cluster that already is.
    #[error("{node}: already initialized; refusing to init again")]
    AlreadyInitialized {
        /// Node name.
        node: String,
    },
    /// Unsealing failed: wrong keys, too few keys, or the node stayed sealed.
    #[error("{node}: unseal failed: {reason}")]
    Unseal {
        /// Node name.
        node: String,
        /// Why.
        reason: String,
    },
    /// A raft join failed.
    #[error("{node}: raft join to {leader} failed: {reason}")]
    Join {
        /// Follower.
        node: String,
        /// Leader API address.
        leader: String,
        /// Why.
        reason: String,
    },
    /// Something did not happen within its time limit (node not standby, no leader).
    #[error("{node}: timed out after {seconds}s waiting for {what}")]
    Timeout {
        /// Node name.
        node: String,
        /// What was awaited.
        what: String,
        /// Limit in seconds.
        seconds: u64,
    },
    /// The site's `vault` section cannot be used (field path first).
    #[error("{path}: {message}")]
    Site {
        /// Field path, e.g. `vault.pki[1].roles[0].allowed_domains[0]`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A secret reference (`env:`, `file:`) could not be resolved.
    #[error("{reference}: {reason}")]
    SecretRef {
        /// The reference as written (never the value).
        reference: String,
        /// Why.
        reason: String,
    },
    /// Options that do not fit together or name nothing known (the CLI exits 64).
    #[error("{0}")]
    Usage(String),
    /// Bad options or input (keys, PGP keys, plan documents).
    #[error("{0}")]
    Input(String),
    /// A template (or a `--templates DIR` file) failed to load or render
    /// (`template NAME: MESSAGE`).
    #[error(transparent)]
    Template(#[from] rackpipe_render::TemplateError),
    /// The plan given to `apply` no longer matches the desired or observed state.
    #[error(transparent)]
    StalePlan(rackpipe_model::documents::StalePlan),
}

impl Error {
    /// Whether this is a usage error (the CLI exits 64).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Usage(_))
    }

    /// Whether retrying later may succeed (unreachable, timeout, 5xx): the CLI exits 75.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Api { status, .. } => *status >= 500 && *status != 501,
            _ => false,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
