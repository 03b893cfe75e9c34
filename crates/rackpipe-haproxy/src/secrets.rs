//! Resolving secret references (`env:`, `file:`, `vault:`) for the rendered files.
//!
//! The site only names secrets. [`render`](crate::render()) asks a [`SecretSource`]; the
//! [`Redacted`] source (used for `render` on stdout and for diffs) puts a fixed placeholder
//! in, so a secret value never reaches a document, a diff or a log.

use rackpipe_model::types::SecretRef;

/// The placeholder [`Redacted`] renders (8 characters: a valid VRRP password).
pub const REDACTED: &str = "********";

/// Where secret values come from.
pub trait SecretSource {
    /// The value of `reference`, or a one-line reason it is unavailable (never the value).
    ///
    /// # Errors
    /// When the secret cannot be read.
    fn resolve(&self, reference: &SecretRef) -> Result<String, String>;
}

/// Resolves nothing: every secret renders as [`REDACTED`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Redacted;

impl SecretSource for Redacted {
    fn resolve(&self, _: &SecretRef) -> Result<String, String> {
        Ok(REDACTED.to_owned())
    }
}

/// Resolves `env:NAME` from the environment and `file:PATH` from a file (trailing newline
/// removed). `vault:` references are refused: resolve them first (vault-bootstrap) and pass
/// them through the environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvFileSecrets;

impl SecretSource for EnvFileSecrets {
    fn resolve(&self, reference: &SecretRef) -> Result<String, String> {
        let text = reference.as_str();
        if let Some(name) = text.strip_prefix("env:") {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
        } else if let Some(path) = text.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| format!("cannot read {path}: {e}"))
        } else {
            Err(format!(
                "{text}: vault references are not resolved by haproxy-gen; export the value and use env:NAME"
            ))
        }
    }
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
        let r: SecretRef = "vault:kv/x#y".parse().unwrap();
        assert!(
            EnvFileSecrets
                .resolve(&r)
                .unwrap_err()
                .contains("vault references")
        );
        let r: SecretRef = "env:RACKPIPE_SURELY_UNSET_VAR".parse().unwrap();
        assert!(EnvFileSecrets.resolve(&r).unwrap_err().contains("not set"));
    }
}
