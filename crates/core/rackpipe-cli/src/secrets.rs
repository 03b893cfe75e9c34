//! A tool's secrets, resolved once per run: the driver asks the tool which references it reads
//! ([`crate::driver::Tool::secret_refs`]), resolves them all through one
//! [`SecretSource`] with [`rackpipe_secrets::resolve_all`], and hands the values over as
//! [`Secrets`]. Every reference that fails is named in the one error, so a run with two missing
//! secrets reports both instead of one per run.

use std::collections::BTreeMap;

use rackpipe_secrets::{Error, ErrorKind, Secret, SecretRef, SecretSource, Unresolved};

use crate::CliError;

/// The values of one run's secret references, by site field path
/// (`proxmox.api.token`, `proxmox.guests[0].cloud_init.ssh_keys[1]`). `Debug` shows the field
/// paths only. As a [`SecretSource`] it answers the references it holds, by field path, so a
/// library that resolves through a source reads the values resolved beforehand.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    by_field: BTreeMap<String, Secret>,
}

impl Secrets {
    /// Resolves every `(reference, field)` through `source`, continuing past failures.
    ///
    /// # Errors
    /// Every failed reference in one [`CliError`] ([`unresolved`]): exit 75 when one of them is
    /// transient (Vault unreachable, sealed, timed out), else 1.
    pub fn resolve<'a, I>(source: &dyn SecretSource, wanted: I) -> Result<Self, CliError>
    where
        I: IntoIterator<Item = (&'a SecretRef, String)>,
    {
        let wanted: Vec<(&SecretRef, String)> = wanted.into_iter().collect();
        let fields: Vec<String> = wanted.iter().map(|(_, field)| field.clone()).collect();
        let values = rackpipe_secrets::resolve_all(source, wanted).map_err(|u| unresolved(&u))?;
        Ok(Self {
            by_field: fields.into_iter().zip(values).collect(),
        })
    }

    /// The value resolved for the site field `field`.
    #[must_use]
    pub fn get(&self, field: &str) -> Option<&Secret> {
        self.by_field.get(field)
    }

    /// The value resolved for `field`, or an internal error naming it (a tool asking for a
    /// field it did not declare in [`crate::driver::Tool::secret_refs`]).
    ///
    /// # Errors
    /// `field` was not resolved.
    pub fn require(&self, field: &str) -> Result<&Secret, CliError> {
        self.get(field).ok_or_else(|| {
            CliError::error(format!(
                "internal: {field}: not among the secrets resolved for this run"
            ))
        })
    }

    /// How many values are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_field.len()
    }

    /// Whether no value is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty()
    }
}

impl SecretSource for Secrets {
    fn resolve(&self, reference: &SecretRef, field: &str) -> Result<Secret, Error> {
        self.get(field).cloned().ok_or_else(|| {
            Error::new(
                field,
                reference.as_str(),
                ErrorKind::Internal("not among the secrets resolved for this run".to_owned()),
            )
        })
    }
}

/// The one error for a run's unresolved secrets: a single failure is its own line
/// (`field: reference: reason`); several are joined with `; ` on one line, in the order asked.
/// Transient when one of them is (exit 75).
#[must_use]
pub fn unresolved(failures: &Unresolved) -> CliError {
    let message = failures
        .errors()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if failures.is_transient() {
        CliError::transient(message)
    } else {
        CliError::error(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExitStatus;

    /// Values for `env:SET_*`, Vault unreachable for `vault:` references, a not-found error for
    /// anything else.
    struct Fixed;

    impl SecretSource for Fixed {
        fn resolve(&self, reference: &SecretRef, field: &str) -> Result<Secret, Error> {
            let fail = |kind| Err(Error::new(field, reference.as_str(), kind));
            match reference.as_str().strip_prefix("env:SET_") {
                Some(v) => Ok(Secret::new(v)),
                None if reference.as_str().starts_with("vault:") => fail(ErrorKind::Unreachable {
                    addr: "https://127.0.0.1:8200".to_owned(),
                    reason: "connection refused".to_owned(),
                }),
                None => fail(ErrorKind::NotFound("no such secret".to_owned())),
            }
        }
    }

    fn r(text: &str) -> SecretRef {
        text.parse().unwrap()
    }

    #[test]
    fn every_failure_is_named_in_one_error() {
        let (token, key, ok) = (r("env:TOKEN"), r("file:/no/key.pub"), r("env:SET_x"));
        let err = Secrets::resolve(
            &Fixed,
            [
                (&token, "a.token".to_owned()),
                (&ok, "b.fine".to_owned()),
                (&key, "c.keys[0]".to_owned()),
            ],
        )
        .unwrap_err();
        assert_eq!(err.status, ExitStatus::Error);
        assert_eq!(
            err.message,
            "a.token: env:TOKEN: no such secret; c.keys[0]: file:/no/key.pub: no such secret"
        );
    }

    /// One unreachable Vault among the failures makes the run worth retrying (exit 75).
    #[test]
    fn a_transient_failure_makes_the_run_transient() {
        let (vault, missing) = (r("vault:kv/x#y"), r("env:NOPE"));
        let err = Secrets::resolve(
            &Fixed,
            [(&missing, "a".to_owned()), (&vault, "b".to_owned())],
        )
        .unwrap_err();
        assert_eq!(err.status, ExitStatus::Transient);
        assert_eq!(
            err.message,
            "a: env:NOPE: no such secret; b: vault:kv/x#y: Vault at https://127.0.0.1:8200 \
             unreachable: connection refused"
        );
    }

    #[test]
    fn resolved_values_are_served_by_field() {
        let (a, b) = (r("env:SET_one"), r("env:SET_two"));
        let secrets =
            Secrets::resolve(&Fixed, [(&a, "x.a".to_owned()), (&b, "x.b".to_owned())]).unwrap();
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets.require("x.b").unwrap().expose(), "two");
        assert_eq!(
            SecretSource::resolve(&secrets, &a, "x.a").unwrap().expose(),
            "one"
        );
        assert!(SecretSource::resolve(&secrets, &a, "x.c").is_err());
        assert_eq!(
            secrets.require("x.c").unwrap_err().message,
            "internal: x.c: not among the secrets resolved for this run"
        );
        assert!(!format!("{secrets:?}").contains("one"));
    }
}
