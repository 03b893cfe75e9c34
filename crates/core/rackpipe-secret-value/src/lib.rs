//! The one secret value type of rackpipe: [`Secret`].
//!
//! `Debug` and `Display` print `<redacted>`; only [`Secret::expose`] gives the value, at the one
//! place it is used. Its bytes are zeroed when it is dropped.
//!
//! The crate sits at the bottom of the workspace (it depends on nothing of rackpipe's), so the
//! site's resolver (`rackpipe-secrets`, which re-exports it), the clients that know no site
//! (`rackpipe-ssh`'s `Password`) and the simulators all hold secrets in the same type.

use std::fmt;

/// A secret value: a password, a token, a private key. `Debug` and `Display` never show it;
/// [`Secret::expose`] does, at the one place the value is used. Its bytes are zeroed when it is
/// dropped (`zeroize`).
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

    /// The value itself, consuming the wrapper (the caller now owns the only copy).
    #[must_use]
    pub fn into_exposed(mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.to_string(), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(<redacted>))");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.clone(), s);
        assert_eq!(s.into_exposed(), "hunter2");
    }
}
