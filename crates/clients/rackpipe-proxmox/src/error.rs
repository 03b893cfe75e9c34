//! Errors of the Proxmox client. Every message is one line naming the host or UPID.

use std::collections::BTreeMap;
use std::time::Duration;

/// What went wrong talking to Proxmox VE.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection could not be made (DNS, refused, TLS handshake, reset).
    #[error("{url}: unreachable: {message}")]
    Unreachable {
        /// Request URL (no credentials).
        url: String,
        /// The transport error.
        message: String,
    },
    /// The server's certificate is not the pinned one: a trust failure, not retried.
    #[error(transparent)]
    Trust(#[from] rackpipe_tls::TrustFailure),
    /// The request did not complete in time (connecting gives up sooner than the request).
    #[error("{url}: timed out after {:.1} s", waited.as_secs_f64())]
    Timeout {
        /// Request URL.
        url: String,
        /// How long the request actually waited.
        waited: Duration,
    },
    /// HTTP 401: bad, expired or missing token.
    #[error("{url}: authentication failed (401): {message}")]
    Unauthorized {
        /// Request URL.
        url: String,
        /// PVE's reason.
        message: String,
    },
    /// HTTP 403: the token lacks a privilege.
    #[error("{url}: permission denied: token lacks {privilege} on {path}")]
    Forbidden {
        /// Request URL.
        url: String,
        /// ACL path (e.g. `/vms/100`), or `?` when PVE did not say.
        path: String,
        /// Missing privilege (e.g. `VM.Config.Disk`), or `?`.
        privilege: String,
    },
    /// HTTP 400: parameter verification failed.
    #[error("{url}: invalid parameters: {}", format_params(.errors))]
    InvalidParameters {
        /// Request URL.
        url: String,
        /// Parameter → PVE's message.
        errors: BTreeMap<String, String>,
    },
    /// A config lock is held (`can't lock file ... got timeout`, `VM is locked (clone)`).
    #[error("{url}: guest is locked: {message}")]
    Locked {
        /// Request URL.
        url: String,
        /// PVE's message.
        message: String,
    },
    /// The config changed since it was read (stale `digest`).
    #[error("{url}: config changed since it was read (digest mismatch): {message}")]
    DigestMismatch {
        /// Request URL.
        url: String,
        /// PVE's message.
        message: String,
    },
    /// Any other non-success HTTP status.
    #[error("{url}: HTTP {status}: {message}")]
    Api {
        /// Request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// PVE's message.
        message: String,
    },
    /// A worker task ended with an error.
    #[error("task {upid} failed: {exitstatus} (log tail: {})", .log_tail.join(" | "))]
    TaskFailed {
        /// The task.
        upid: String,
        /// Its exit status (the error text).
        exitstatus: String,
        /// The last log lines.
        log_tail: Vec<String>,
    },
    /// A worker task did not finish in time.
    #[error("task {upid} still running after {:.1} s", waited.as_secs_f64())]
    TaskTimeout {
        /// The task.
        upid: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The answer was not the JSON we expected.
    #[error("{url}: unexpected response: {message}")]
    Decode {
        /// Request URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The token could not be read or parsed.
    #[error("{source_name}: {message}")]
    Token {
        /// File, environment variable or `token`.
        source_name: String,
        /// What was wrong (never the secret).
        message: String,
    },
    /// A read (`GET`) failed transiently on every attempt ([`crate::Client::request`]): the last
    /// attempt's error, how many attempts were made and the time actually waited.
    #[error("{0}")]
    GaveUp(rackpipe_model::wait::GaveUp<Box<Error>>),
    /// Client set-up (TLS material, base URL) failed.
    #[error("{what}: {message}")]
    Config {
        /// File or setting.
        what: String,
        /// What was wrong.
        message: String,
    },
}

fn format_params(errors: &BTreeMap<String, String>) -> String {
    let all = errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", one_line(v)))
        .collect::<Vec<_>>()
        .join("; ");
    // The peer's text: one short line, whatever it sent.
    rackpipe_tls::transport::peer_text(&all)
}

/// Joins a multi-line PVE message into one line.
pub(crate) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

impl Error {
    /// Whether retrying later may succeed: unreachable, timeouts, locks and 5xx other
    /// than a plain handler error (PVE's 595/596/599 and gateway errors).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::Locked { .. }
            | Self::TaskTimeout { .. } => true,
            Self::Api { status, .. } => *status >= 501,
            Self::GaveUp(g) => g.last.is_transient(),
            // A worker that could not get the config lock (`... got timeout`) can be retried.
            Self::TaskFailed { .. } => self.nothing_done(),
            _ => false,
        }
    }

    /// Whether PVE refused before doing anything, so that sending the same write again is
    /// safe: a lock it could not take (`can't lock file ... got timeout`, `VM is locked`), at
    /// request time or as the task's error. Other transient failures of a write (no answer, a
    /// timeout, pveproxy's 596) leave unknown whether it happened: never repeated.
    #[must_use]
    pub fn nothing_done(&self) -> bool {
        match self {
            Self::Locked { .. } => true,
            Self::TaskFailed { exitstatus, .. } => {
                exitstatus.contains("got timeout") || exitstatus.contains("is locked")
            }
            _ => false,
        }
    }
}
