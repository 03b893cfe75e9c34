//! nfs-export: NFS exports as code.
//!
//! From the site's `nas` section this crate
//!
//! - **renders** ([`render()`]) Linux `/etc/exports.d/<name>.exports`, nfs-ganesha `EXPORT`
//!   blocks or Synology DSM share rules, plus the consumers' side: the runners' cache mount
//!   (systemd `.mount` unit and fstab line) and the Kubernetes NFS subdir provisioner with its
//!   StorageClasses;
//! - **checks** ([`check`]) what no schema can: segment references, overlapping or relative
//!   paths, contradicting options, consumers whose export is missing or does not let them in;
//! - **lints** ([`exports::lint`]) any exports file, with line numbers;
//! - **plans and applies** Synology DSM share rules over the DSM Web API ([`synology`]), with
//!   the read-back the DSM lost-save defect requires, Linux exports over SSH ([`linux`]) and
//!   nfs-ganesha's EXPORT blocks in a rackpipe-owned include file, reloaded and read back over
//!   D-Bus ([`ganesha`]);
//! - **copies backups** to and from the export the site's `backups` section names, over NFSv4
//!   from user space ([`sync`]).
//!
//! Libraries never print: results are values, logs go through `tracing`.

pub mod desired;
pub mod exports;
pub mod ganesha;
pub mod import;
pub mod linux;
pub mod render;
pub mod secret;
pub mod sync;
pub mod synology;
pub mod tool;

pub use desired::{Desired, check, resolve};
pub use render::render;
pub use secret::Secret;

/// Everything that can go wrong in nfs-export. Each message is one line naming the field,
/// host, share or file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The site cannot be used (first error of [`check`]).
    #[error("{path}: {message}")]
    Invalid {
        /// Field path, e.g. `nas.exports[1].clients[0].segment`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A template failed to load or render (`template NAME: MESSAGE`).
    #[error(transparent)]
    Template(#[from] rackpipe_render::TemplateError),
    /// The TLS settings are unusable.
    #[error("{target}: TLS: {message}")]
    Tls {
        /// Host or URL.
        target: String,
        /// What is wrong.
        message: String,
    },
    /// The server could not be reached.
    #[error("{target}: unreachable: {message}")]
    Unreachable {
        /// Host or URL.
        target: String,
        /// Cause.
        message: String,
    },
    /// The server did not answer in time.
    #[error("{target}: timed out: {message}")]
    Timeout {
        /// Host or URL.
        target: String,
        /// What was waited for.
        message: String,
    },
    /// An HTTP status other than 200.
    #[error("{target}: HTTP {status} from {what}")]
    Http {
        /// Host or URL.
        target: String,
        /// Status code.
        status: u16,
        /// API and method.
        what: String,
    },
    /// The DSM API answered `success: false`.
    #[error("{target}: {what} failed with DSM error {code} ({meaning})")]
    Dsm {
        /// Host or URL.
        target: String,
        /// API and method (and share).
        what: String,
        /// DSM error code.
        code: i64,
        /// What the code means.
        meaning: &'static str,
    },
    /// The server's answer made no sense.
    #[error("{target}: unexpected answer to {what}: {message}")]
    Protocol {
        /// Host or URL.
        target: String,
        /// Request.
        what: String,
        /// What was wrong.
        message: String,
    },
    /// A save reported success but reading back never showed the rules (DSM lost-save defect).
    #[error(
        "{target}: share {share}: saved rules not confirmed by read-back after {attempts} attempts in {seconds}s"
    )]
    NotConfirmed {
        /// Host or URL.
        target: String,
        /// Share.
        share: String,
        /// Saves tried.
        attempts: u32,
        /// Seconds spent.
        seconds: u64,
    },
    /// The plan was made against another site or remote state.
    #[error(transparent)]
    StalePlan(#[from] rackpipe_model::documents::StalePlan),
    /// A remote command failed (SSH apply).
    #[error("{target}: {command}: {message}")]
    Remote {
        /// Host.
        target: String,
        /// Command.
        command: String,
        /// Exit status and stderr, one line.
        message: String,
    },
    /// The SSH transport failed (connect, host key, authentication, channel).
    #[error("{message}")]
    Ssh {
        /// `host:port: what went wrong`, one line.
        message: String,
        /// Whether retrying may help.
        transient: bool,
    },
    /// The SSH transport is not available in this build.
    #[error("{target}: {message}")]
    Unsupported {
        /// Host.
        target: String,
        /// What is missing.
        message: String,
    },
}

impl Error {
    /// Whether retrying may help (unreachable, timeout, 5xx, a save DSM did not confirm):
    /// the CLI exits 75 for these.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::NotConfirmed { .. } => true,
            Self::Http { status, .. } => *status >= 500,
            Self::Ssh { transient, .. } => *transient,
            // 106 session timeout, 107 session interrupted by a duplicate login.
            Self::Dsm { code, .. } => matches!(code, 106 | 107),
            _ => false,
        }
    }
}
