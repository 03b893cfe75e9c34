//! Errors of `pve-sync`. Every message is one line naming the site field, the guest or the
//! API call.

/// What went wrong planning or applying.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The site has no `proxmox` section.
    #[error("proxmox: the site has no proxmox section")]
    NoProxmox,
    /// The site asks for something that cannot exist (unknown node, storage, bridge,
    /// template, pool; a VMID clash).
    #[error("{field}: {message}")]
    Site {
        /// Field path, e.g. `proxmox.guests[3].nics[0].bridge`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The change is refused (a disk shrink, a type change, deleting a protected guest).
    #[error("{field}: {message}")]
    Refused {
        /// Field path.
        field: String,
        /// Why.
        message: String,
    },
    /// A secret (token, SSH key) could not be resolved.
    #[error("{field}: {message}")]
    Secret {
        /// Field path.
        field: String,
        /// What was wrong (never the secret).
        message: String,
    },
    /// Several secrets could not be resolved: each with its field path, one line each.
    #[error(transparent)]
    Secrets(rackpipe_secrets::Unresolved),
    /// The API failed for a guest or another object.
    #[error("{what}: {source}")]
    Api {
        /// Guest (`guest ct01002 (lxc 1002 on pve-s1)`) or object.
        what: String,
        /// The client error.
        #[source]
        source: rackpipe_proxmox::Error,
    },
    /// `apply --plan` with a plan made against another site or cluster state.
    #[error(transparent)]
    StalePlan(#[from] rackpipe_model::documents::StalePlan),
    /// Several guests failed during apply (the first error, and how many more).
    #[error("{first} (and {more} more failures)")]
    Many {
        /// The first failure.
        first: Box<Error>,
        /// How many others.
        more: usize,
    },
}

impl Error {
    /// Wraps a client error with the object it concerns.
    pub(crate) fn api(what: impl Into<String>, source: rackpipe_proxmox::Error) -> Self {
        Self::Api {
            what: what.into(),
            source,
        }
    }

    /// Whether retrying later may succeed (unreachable, timeout, lock, 5xx): exit 75.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            // A certificate that does not verify will not verify on retry either.
            Self::Api {
                source: rackpipe_proxmox::Error::Unreachable { message, .. },
                ..
            } if is_tls_failure(message) => false,
            Self::Api { source, .. } => source.is_transient(),
            Self::Many { first, .. } => first.is_transient(),
            _ => false,
        }
    }
}

fn is_tls_failure(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("fingerprint mismatch") || m.contains("certificate") || m.contains("invalid peer")
}
