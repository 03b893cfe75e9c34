//! [`Secret`]: a string that never shows itself in `Debug`, `Display` or logs.

use std::fmt;

/// A secret value (token, unseal key, password, private key). `Debug` and `Display` print
/// `<redacted>`; the value is only reachable through [`Secret::expose`], which makes every use
/// greppable. It implements neither `Serialize` nor `Clone`-into-string conversions.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that must send it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: zero the bytes before the allocation is freed; `black_box` keeps the
        // optimiser from dropping the writes.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("s.very-secret-token");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(vec![s.clone()])),
            "Some([Secret(<redacted>)])"
        );
        assert_eq!(s.expose(), "s.very-secret-token");
    }
}
