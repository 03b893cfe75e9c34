//! The one interface tools resolve secrets through ([`SecretSource`]), and [`resolve_all`],
//! which keeps going past a failed reference so one run reports every missing secret.

use std::fmt;

use crate::{Error, Resolver, Secret, SecretRef};

/// Where secret values come from: the process's [`Resolver`] (`env:`, `file:`, `vault:`), or a
/// stand-in (a tool's `render` without secrets, a test's fixed values).
pub trait SecretSource: Send + Sync {
    /// The value of `reference`, found at site field `field`.
    ///
    /// # Errors
    /// [`Error`]: one line `field: reference: reason`, never the value.
    fn resolve(&self, reference: &SecretRef, field: &str) -> Result<Secret, Error>;

    /// Whether this source only stands in for values (nothing is read; what depends on a
    /// secret's content, such as a certificate's details, is not checked).
    fn redacts(&self) -> bool {
        false
    }
}

impl SecretSource for Resolver {
    fn resolve(&self, reference: &SecretRef, field: &str) -> Result<Secret, Error> {
        Resolver::resolve(self, reference, field)
    }
}

/// Every reference of one run that could not be resolved, in the order asked: one line per
/// reference (`field: reference: reason`), so one run names every missing secret.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Unresolved(Vec<Error>);

impl Unresolved {
    /// The failures, in the order the references were asked for (never empty).
    #[must_use]
    pub fn errors(&self) -> &[Error] {
        &self.0
    }

    /// Whether retrying later may help: some failure is transient (Vault unreachable, sealed,
    /// timed out), so the run as a whole is worth retrying (the CLI exits 75).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.0.iter().any(Error::is_transient)
    }

    /// The first failure (the one a caller reporting a single error names).
    #[must_use]
    pub fn first(&self) -> &Error {
        &self.0[0]
    }
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Resolves every `(reference, field)` through `source`, continuing past failures: the values
/// in the order given, or every failure at once.
///
/// # Errors
/// [`Unresolved`] listing each reference that failed, with its field path.
pub fn resolve_all<'a, I>(
    source: &dyn SecretSource,
    references: I,
) -> Result<Vec<Secret>, Unresolved>
where
    I: IntoIterator<Item = (&'a SecretRef, String)>,
{
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for (reference, field) in references {
        match source.resolve(reference, &field) {
            Ok(value) => values.push(value),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(Unresolved(errors))
    }
}
