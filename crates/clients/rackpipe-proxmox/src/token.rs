//! API tokens (`USER@REALM!TOKENID=SECRET`) in a redacting newtype.

use std::fmt;

use crate::Error;

/// A Proxmox VE API token. `Debug` and `Display` show only the token id.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    tokenid: String,
    secret: String,
}

impl ApiToken {
    /// Parses `USER@REALM!TOKENID=SECRET`, optionally prefixed with `PVEAPIToken=`.
    /// Surrounding whitespace (a trailing newline in a file) is ignored. PVE splits at the
    /// last `=`, and so do we.
    ///
    /// # Errors
    /// When the text is not of that shape (the message never contains the secret).
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_from(text, "token")
    }

    fn parse_from(text: &str, source_name: &str) -> Result<Self, Error> {
        let bad = |message: &str| Error::Token {
            source_name: source_name.to_owned(),
            message: message.to_owned(),
        };
        let text = text.trim();
        let text = text.strip_prefix("PVEAPIToken=").unwrap_or(text);
        let Some((tokenid, secret)) = text.rsplit_once('=') else {
            return Err(bad("expected USER@REALM!TOKENID=SECRET (no '=' found)"));
        };
        let Some((user, name)) = tokenid.split_once('!') else {
            return Err(bad(
                "expected USER@REALM!TOKENID=SECRET (no '!' in the token id)",
            ));
        };
        if !user.contains('@') || user.starts_with('@') || user.ends_with('@') {
            return Err(bad("the user part of the token id must be USER@REALM"));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(bad(
                "the token name after '!' is empty or has invalid characters",
            ));
        }
        if secret.is_empty() || secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the secret after '=' is empty or contains whitespace"));
        }
        Ok(Self {
            tokenid: tokenid.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The token id `USER@REALM!TOKENID` (not secret).
    #[must_use]
    pub fn tokenid(&self) -> &str {
        &self.tokenid
    }

    /// The `Authorization` header value. Callers must mark it sensitive.
    pub(crate) fn header_value(&self) -> String {
        format!("PVEAPIToken={}={}", self.tokenid, self.secret)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("tokenid", &self.tokenid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=<redacted>", self.tokenid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        let t = ApiToken::parse("PVEAPIToken=ci@pve!sync=1234-abcd\n").unwrap();
        assert_eq!(t.tokenid(), "ci@pve!sync");
        assert_eq!(t.header_value(), "PVEAPIToken=ci@pve!sync=1234-abcd");
        assert!(!format!("{t:?}").contains("1234"));
        assert!(!format!("{t}").contains("1234"));
    }

    #[test]
    fn rejects_bad_shapes_without_leaking() {
        for bad in [
            "",
            "ci@pve=sec",
            "ci!sync=sec",
            "ci@pve!=sec",
            "ci@pve!sync=",
            "ci@pve!sync=a b",
        ] {
            let e = ApiToken::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("sec") || !bad.contains("sec"), "{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = ApiToken::parse(&s);
        }
    }
}
