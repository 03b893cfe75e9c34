//! `pve-sync`: keep a Proxmox VE cluster's guests in line with the site.
//!
//! - [`plan`]: one `GET /cluster/resources?type=vm`, config reads (bounded concurrency)
//!   only for guests that exist, and a diff normalised the way Proxmox normalises (tags,
//!   property strings, pending values, sizes), so a converged cluster plans zero changes.
//! - [`apply`]: pools, template downloads (download-url with checksum), LXC creation from
//!   an `ostemplate`, VM clones (serialised per template and node), config updates with
//!   the digest, disk grows (never shrinks), power, HA, and deletion, only when asked, of
//!   unprotected guests that are no longer in the site and carry the ownership tag
//!   [`OWNER_TAG`] (a guest rackpipe did not create is never deleted). Every task is polled to completion.
//! - [`facts`]: the guests as they are (VMID, node, MACs, addresses) for ros-render's
//!   DHCP static leases.

mod desired;
mod error;
pub mod import;
mod observe;
mod ops;
mod sync;
pub mod tool;

pub use desired::{
    Desired, DesiredDisk, DesiredGuest, DesiredSource, DesiredTemplate, EnvFileSecrets,
    SecretSource, TOKEN_FIELD, desired, secret_refs,
};
pub use error::Error;
pub use observe::{Observed, observe};
pub use ops::{GuestOps, HaOp, guest_ops};
pub use sync::{GuestFact, NicFact, Options, apply, facts, facts_document, plan, with_site};

/// The tool name in documents.
pub const TOOL: &str = "pve-sync";

/// The Proxmox tag pve-sync puts on every guest of the site (those it creates, and those it
/// adopts: a site guest without it gets it on the next apply). `apply --allow-destroy` deletes
/// only guests that carry it and are no longer in the site; any other guest is reported as
/// unmanaged and left alone.
pub const OWNER_TAG: &str = "rackpipe";

/// Whether a guest's tags (`;`, `,` or space separated, any case, as PVE accepts them) hold
/// [`OWNER_TAG`].
#[must_use]
pub fn has_owner_tag(tags: &str) -> bool {
    tags.split(|c: char| c == ';' || c == ',' || c.is_whitespace())
        .any(|t| t.eq_ignore_ascii_case(OWNER_TAG))
}

/// pve-sync's own site checks (`pve-sync validate`, and before plan/apply): the
/// references [`desired`] resolves, reported as diagnostics with field paths. Secrets are
/// not read here.
#[must_use]
pub fn check(site: &rackpipe_model::Site) -> Vec<rackpipe_model::Diagnostic> {
    struct Placeholder;
    impl SecretSource for Placeholder {
        fn resolve(
            &self,
            _: &rackpipe_model::types::SecretRef,
            _: &str,
        ) -> Result<rackpipe_secrets::Secret, rackpipe_secrets::Error> {
            Ok(rackpipe_secrets::Secret::new("ssh-ed25519 placeholder"))
        }

        fn redacts(&self) -> bool {
            true
        }
    }
    let Some(pve) = &site.proxmox else {
        return Vec::new();
    };
    match desired(pve, &Placeholder) {
        Ok(_) => Vec::new(),
        Err(Error::Site { field, message } | Error::Refused { field, message }) => {
            vec![rackpipe_model::Diagnostic::error(
                "pve-sync", field, message,
            )]
        }
        Err(other) => vec![rackpipe_model::Diagnostic::error(
            "pve-sync",
            "proxmox",
            other.to_string(),
        )],
    }
}
