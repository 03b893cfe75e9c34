//! `haproxy-gen`: HAProxy and keepalived for the site's load balancers.
//!
//! - [`check`] runs the load-balancer rules the generic model validation cannot know: backends
//!   that do not resolve to an address, a port bound twice on a VIP, a VIP outside its
//!   segment, duplicate VRIDs on one segment, instances without an address on the VIP's
//!   segment, TLS settings that cannot work.
//! - [`render()`] turns the `load_balancer` section into, per instance, `haproxy.cfg`,
//!   `keepalived.conf` and the health-check script keepalived tracks (minijinja templates under
//!   this crate's `templates/`, built in, overridable by directory).
//! - [`certificate`] checks a PEM taken from a secret reference (`tls_certificate:
//!   vault:...`: a certificate and the private key that matches it) and describes it without
//!   the key; [`render()`] adds it to every instance as `/etc/haproxy/certs/<service>.pem`.
//! - [`daemon`] runs the real validators: `haproxy -c -dW` (warnings are errors) and
//!   `keepalived -t` (whose exit status alone is not trusted: any output is a failure).
//! - [`metrics`]: what the site's `monitoring` section asks of the instances: HAProxy's
//!   built-in Prometheus exporter and a keepalived `notify` script writing the VRRP state as
//!   node_exporter textfile metrics.
//! - [`deploy`] plans (fetch + unified diff) and applies (upload, remote check, atomic move,
//!   hitless reload, verify) over SSH, one instance at a time, refusing stale plans.

pub mod certificate;
pub mod check;
pub mod daemon;
pub mod deploy;
pub mod metrics;
pub mod render;
pub mod secrets;
pub mod tool;

pub use check::check;
pub use render::{RenderOptions, render, render_instance, render_redacted};
pub use secrets::{Redacted, SecretSource};

/// The tool's name, as it appears in documents.
pub const TOOL: &str = "haproxy-gen";

/// Errors of haproxy-gen; each message is one line naming the field, host or file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The site breaks a load-balancer rule (the first error; all are in `diagnostics`).
    #[error("{first}{}", if *.count > 1 { format!(" (and {} more)", .count - 1) } else { String::new() })]
    Invalid {
        /// The first error, rendered as `path: message`.
        first: String,
        /// How many errors there are.
        count: usize,
        /// Every finding.
        diagnostics: Vec<rackpipe_model::Diagnostic>,
    },
    /// The site has no `load_balancer` section.
    #[error("load_balancer: the site has no load_balancer section")]
    NoLoadBalancer,
    /// An instance name that the site does not define.
    #[error("load_balancer.instances: no instance named {0:?}")]
    UnknownInstance(String),
    /// A template failed to load or render (`template NAME: MESSAGE`).
    #[error(transparent)]
    Template(#[from] rackpipe_render::TemplateError),
    /// A secret could not be resolved.
    #[error("{path}: {message}")]
    Secret {
        /// Field path of the reference.
        path: String,
        /// What went wrong (never the value).
        message: String,
    },
    /// A secret could not be read because Vault is unreachable, sealed or timed out
    /// (transient: retry later).
    #[error(transparent)]
    SecretUnavailable(rackpipe_secrets::Error),
    /// Several secret references could not be resolved: each with its field path, one line
    /// each (transient when one of them is).
    #[error(transparent)]
    Secrets(rackpipe_secrets::Unresolved),
    /// An SSH operation failed.
    #[error(transparent)]
    Ssh(#[from] rackpipe_ssh::Error),
    /// The remote config check rejected a file; nothing was changed on that instance.
    #[error("{host}: {path}: remote check rejected the new file: {message}")]
    RemoteCheck {
        /// Instance (`name (host:port)`).
        host: String,
        /// File path.
        path: String,
        /// The validator's first error line.
        message: String,
    },
    /// Reload or verification failed after the move; the previous files were restored.
    #[error("{host}: {message}")]
    Deploy {
        /// Instance (`name (host:port)`).
        host: String,
        /// What went wrong.
        message: String,
    },
    /// The plan no longer matches the site or the remote files.
    #[error(transparent)]
    StalePlan(#[from] rackpipe_model::documents::StalePlan),
    /// No connection settings were given for an instance.
    #[error("load_balancer.instances: no SSH target for instance {0:?}")]
    NoTarget(String),
    /// A local validator could not be run.
    #[error("{tool}: {message}")]
    Tool {
        /// The program.
        tool: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Whether retrying later may help (SSH unreachable or timed out, Vault unreachable).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Ssh(e) => e.is_transient(),
            Self::SecretUnavailable(_) => true,
            Self::Secrets(unresolved) => unresolved.is_transient(),
            _ => false,
        }
    }

    pub(crate) fn invalid(diagnostics: Vec<rackpipe_model::Diagnostic>) -> Self {
        let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        let count = errors.len();
        Self::Invalid {
            first,
            count,
            diagnostics,
        }
    }
}
