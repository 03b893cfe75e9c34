//! Secrets: a redacting newtype and the resolution of `env:`/`file:` references.

use std::fmt;

use rackpipe_model::types::SecretRef;

use crate::Error;

/// A secret value. `Debug` and `Display` print `[redacted]`; only [`Secret::expose`] gives
/// the value, at the one place it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Resolves a reference: `env:NAME` reads the variable, `file:PATH` the file (one
    /// trailing newline removed). `vault:` references are vault-bootstrap's job.
    pub fn resolve(reference: &SecretRef, field: &str) -> Result<Self, Error> {
        let text = reference.as_str();
        if let Some(name) = text.strip_prefix("env:") {
            return std::env::var(name).map(Self).map_err(|_| Error::Secret {
                field: field.to_owned(),
                message: format!("environment variable {name} is not set (from {text})"),
            });
        }
        if let Some(path) = text.strip_prefix("file:") {
            let value = std::fs::read_to_string(path).map_err(|e| Error::Secret {
                field: field.to_owned(),
                message: format!("cannot read {path}: {e}"),
            })?;
            let value = value.strip_suffix('\n').unwrap_or(&value);
            return Ok(Self(value.strip_suffix('\r').unwrap_or(value).to_owned()));
        }
        Err(Error::Secret {
            field: field.to_owned(),
            message: format!(
                "{text}: only env: and file: references can be resolved here (export vault secrets to a CI variable)"
            ),
        })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
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
