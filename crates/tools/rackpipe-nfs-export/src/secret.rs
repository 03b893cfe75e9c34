//! Secrets: a redacting newtype and the resolution of `env:`/`file:`/`vault:` references
//! (through [`rackpipe_secrets`]).

use rackpipe_model::types::SecretRef;

use crate::Error;

/// A secret value: the one secret type ([`rackpipe_secrets::Secret`]); `Debug` and `Display`
/// print `<redacted>`, only [`Secret::expose`] gives the value, at the one place it is sent.
pub use rackpipe_secrets::Secret;

/// Resolves a reference (`env:NAME`, `file:PATH`, `vault:MOUNT/PATH#KEY`) with the process's
/// [`rackpipe_secrets::Resolver::global`] (Vault from `VAULT_ADDR`, `VAULT_CACERT`,
/// `VAULT_TOKEN` or a JWT login).
///
/// # Errors
/// [`Error::Secret`] naming `field` and the reference; [`Error::Unreachable`] (transient)
/// when Vault cannot be reached.
pub fn resolve(reference: &SecretRef, field: &str) -> Result<Secret, Error> {
    rackpipe_secrets::Resolver::global()
        .resolve(reference, field)
        .map_err(|e| {
            if e.is_transient() {
                Error::Unreachable {
                    target: field.to_owned(),
                    message: e.reason(),
                }
            } else {
                Error::Secret {
                    field: field.to_owned(),
                    message: e.reason(),
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::{Secret, resolve};

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn unresolvable_references_name_the_field() {
        let r: rackpipe_model::types::SecretRef = "env:RACKPIPE_SURELY_UNSET_NFS".parse().unwrap();
        let e = resolve(&r, "nas.server.password").unwrap_err();
        assert_eq!(
            e.to_string(),
            "nas.server.password: env:RACKPIPE_SURELY_UNSET_NFS: environment variable RACKPIPE_SURELY_UNSET_NFS is not set"
        );
        assert!(!e.is_transient());
    }
}
