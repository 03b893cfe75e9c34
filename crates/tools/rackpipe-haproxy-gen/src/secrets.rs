//! Resolving secret references (`env:`, `file:`, `vault:`) for the rendered files.
//!
//! The site only names secrets. [`render`](crate::render()) asks a [`SecretSource`]; the
//! [`Redacted`] source (used for `render` on stdout and for diffs) puts a fixed placeholder
//! in, so a secret value never reaches a document, a diff or a log. The deploy path reads the
//! values the `haproxy-gen` binary's driver resolved beforehand ([`secret_refs`], all at once,
//! through [`rackpipe_secrets`], Vault included).

use rackpipe_model::loadbalancer::LoadBalancer;
use rackpipe_model::types::SecretRef;

use crate::Error;

/// The placeholder [`Redacted`] renders (8 characters: a valid VRRP password).
pub const REDACTED: &str = "********";

use rackpipe_secrets::Secret;
pub use rackpipe_secrets::SecretSource;

/// Resolves nothing: every secret renders as [`REDACTED`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Redacted;

impl SecretSource for Redacted {
    fn resolve(&self, _: &SecretRef, _: &str) -> Result<Secret, rackpipe_secrets::Error> {
        Ok(Secret::new(REDACTED))
    }

    fn redacts(&self) -> bool {
        true
    }
}

/// The value of `reference` found at site field `path`, as this crate's error: Vault
/// unreachable is the transient [`Error::SecretUnavailable`] (the CLI exits 75), anything else
/// [`Error::Secret`].
///
/// # Errors
/// When the secret cannot be read.
pub fn resolve_at(
    secrets: &dyn SecretSource,
    reference: &SecretRef,
    path: &str,
) -> Result<String, Error> {
    secrets
        .resolve(reference, path)
        .map(Secret::into_exposed)
        .map_err(|e| secret_error(e, path))
}

fn secret_error(e: rackpipe_secrets::Error, path: &str) -> Error {
    if e.is_transient() {
        Error::SecretUnavailable(e)
    } else {
        Error::Secret {
            path: path.to_owned(),
            message: e.reason(),
        }
    }
}

/// Every secret reference of the load balancer, each with its site field path: each service's
/// `tls_certificate` from a secret (`load_balancer.services[I].tls_certificate`), then each
/// VIP's `auth_pass` (`load_balancer.vips[I].auth_pass`). What the `haproxy-gen` binary's
/// driver resolves, all at once, before `plan` and `apply`, and what [`check_all`] resolves.
#[must_use]
pub fn secret_refs(lb: &LoadBalancer) -> Vec<(&SecretRef, String)> {
    let certificates = lb.services.iter().enumerate().filter_map(|(i, svc)| {
        let reference = svc.tls_certificate.as_ref()?.secret()?;
        Some((
            reference,
            format!("load_balancer.services[{i}].tls_certificate"),
        ))
    });
    let passwords = lb.vips.iter().enumerate().filter_map(|(i, vip)| {
        let reference = vip.auth_pass.as_ref()?;
        Some((reference, format!("load_balancer.vips[{i}].auth_pass")))
    });
    certificates.chain(passwords).collect()
}

/// Resolves every [`secret_refs`] of the load balancer before anything is rendered, so one run
/// names every missing one (one line each, with its field path). A single failure is reported
/// as before ([`Error::Secret`] or [`Error::SecretUnavailable`]). A source that
/// [redacts](SecretSource::redacts) resolves nothing.
///
/// # Errors
/// [`Error::Secrets`] when several fail.
pub fn check_all(lb: &LoadBalancer, secrets: &dyn SecretSource) -> Result<(), Error> {
    if secrets.redacts() {
        return Ok(());
    }
    match rackpipe_secrets::resolve_all(secrets, secret_refs(lb)) {
        Ok(_) => Ok(()),
        Err(unresolved) if unresolved.errors().len() == 1 => {
            let e = unresolved.first().clone();
            let path = e.field().to_owned();
            Err(secret_error(e, &path))
        }
        Err(unresolved) => Err(Error::Secrets(unresolved)),
    }
}

/// What a file's content may show in diffs, digests and logs: a PEM (certificate and key)
/// becomes its [`describe`](crate::certificate::describe)d summary (subject, serial, expiry,
/// SHA-256 of the real content), `auth_pass` values become [`REDACTED`].
#[must_use]
pub fn redact(text: &str) -> String {
    crate::certificate::describe(text).unwrap_or_else(|| redact_keepalived(text))
}

/// Replaces secret values in rendered text by [`REDACTED`] (for diffs of remote files, whose
/// secrets the tool never printed).
#[must_use]
pub fn redact_keepalived(text: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("auth_pass")
                && rest.starts_with(char::is_whitespace)
            {
                let indent = &line[..line.len() - trimmed.len()];
                return format!("{indent}auth_pass {REDACTED}");
            }
            line.to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackpipe_secrets::Resolver;

    proptest::proptest! {
        #[test]
        fn redaction_never_panics_and_hides_values(prefix in "[ \t]{0,8}", value in "[A-Za-z0-9]{1,8}", noise in "\\PC{0,200}") {
            let text = format!("{noise}\n{prefix}auth_pass {value}\n{noise}");
            let out = redact_keepalived(&text);
            let secret_line = format!("auth_pass {value}");
            proptest::prop_assert!(!out.lines().any(|l| l.trim_start() == secret_line));
        }
    }

    #[test]
    fn redacts_auth_pass_lines_only() {
        let text = "vrrp {\n        auth_pass s3cret\n    auth_type PASS\n}\n";
        let out = redact_keepalived(text);
        assert_eq!(
            out,
            "vrrp {\n        auth_pass ********\n    auth_type PASS\n}\n"
        );
        assert!(!out.contains("s3cret"));
    }

    #[test]
    fn env_and_file() {
        let r: SecretRef = "env:RACKPIPE_SURELY_UNSET_VAR".parse().unwrap();
        assert!(
            Resolver::global()
                .resolve(&r, "")
                .unwrap_err()
                .to_string()
                .contains("not set")
        );
        let e = resolve_at(Resolver::global(), &r, "load_balancer.vips[0].auth_pass").unwrap_err();
        assert_eq!(
            e.to_string(),
            "load_balancer.vips[0].auth_pass: env:RACKPIPE_SURELY_UNSET_VAR: environment variable RACKPIPE_SURELY_UNSET_VAR is not set"
        );
        assert!(!e.is_transient());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "abc\n").unwrap();
        let r: SecretRef = format!("file:{}", file.display()).parse().unwrap();
        assert_eq!(Resolver::global().resolve(&r, "").unwrap().expose(), "abc");
    }

    #[test]
    fn vault_down_is_transient() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let resolver = rackpipe_secrets::Resolver::builder()
            .vault_addr(format!("https://127.0.0.1:{port}"))
            .token(rackpipe_secrets::Secret::new("t"))
            .build();
        let r: SecretRef = "vault:kv/lb#auth_pass".parse().unwrap();
        let e = resolve_at(&resolver, &r, "load_balancer.vips[0].auth_pass").unwrap_err();
        assert!(matches!(e, Error::SecretUnavailable(_)), "{e}");
        assert!(e.is_transient());
        assert!(
            e.to_string()
                .starts_with("load_balancer.vips[0].auth_pass: vault:kv/lb#auth_pass: Vault at "),
            "{e}"
        );
    }
}
