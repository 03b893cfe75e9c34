//! Secrets: the redacting value type and the one reference the `nas` section holds (a Synology
//! NAS's DSM password). The references are resolved by the caller (the shared driver of the
//! `nfs-export` binary), all at once, and the value handed to [`DsmTarget::from_site`].
//!
//! [`DsmTarget::from_site`]: crate::synology::DsmTarget::from_site

use rackpipe_model::Site;
use rackpipe_model::nas::NfsServer;
use rackpipe_model::types::SecretRef;

/// A secret value: the one secret type ([`rackpipe_secrets::Secret`]); `Debug` and `Display`
/// print `<redacted>`, only [`Secret::expose`] gives the value, at the one place it is sent.
pub use rackpipe_secrets::Secret;

/// The field path of a Synology NAS's DSM password.
pub const PASSWORD_FIELD: &str = "nas.server.password";

/// The secret references nfs-export reads, each with its site field path: the DSM password
/// ([`PASSWORD_FIELD`]) of a Synology NAS; none for a Linux or ganesha NAS (SSH keys come from
/// flags) or a site without a `nas` section.
#[must_use]
pub fn secret_refs(site: &Site) -> Vec<(&SecretRef, String)> {
    match site.nas.as_ref().map(|nas| &nas.server) {
        Some(NfsServer::Synology { password, .. }) => vec![(password, PASSWORD_FIELD.to_owned())],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
