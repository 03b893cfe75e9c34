//! Problems found in a site document, each naming the field path and, for YAML, the position.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How bad a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Legal but suspicious (copy-pasted values, unknown sections passed through).
    Warning,
    /// The site cannot be used.
    Error,
}

/// A line and column (1-based) in the source document.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Short identifier of the rule, stable for scripts (`schema`, `dangling-reference`, ...).
    pub rule: String,
    /// Field path, e.g. `router.bridges[1].ports[0].interface` (empty: the whole document).
    pub path: String,
    /// Where the field is in the source, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// What is wrong, in one line.
    pub message: String,
}

impl Diagnostic {
    /// An error at `path`.
    #[must_use]
    pub fn error(rule: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            rule: rule.to_owned(),
            path: path.into(),
            position: None,
            message: message.into(),
        }
    }

    /// A warning at `path`.
    #[must_use]
    pub fn warning(rule: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(rule, path, message)
        }
    }

    /// Whether this is an error.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// One line for humans: `site.yaml:12:7: router.bridges[1].name: duplicate name "X"`.
    #[must_use]
    pub fn display_with_source<'a>(&'a self, source: &'a str) -> impl fmt::Display + 'a {
        DisplayWithSource {
            diagnostic: self,
            source,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

struct DisplayWithSource<'a> {
    diagnostic: &'a Diagnostic,
    source: &'a str,
}

impl fmt::Display for DisplayWithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.diagnostic.position {
            Some(Position { line, column }) => {
                write!(f, "{}:{line}:{column}: {}", self.source, self.diagnostic)
            }
            None => write!(f, "{}: {}", self.source, self.diagnostic),
        }
    }
}

/// Turns a JSON Pointer (`/router/bridges/1/name`) into a field path (`router.bridges[1].name`).
#[must_use]
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&token);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

/// Turns a field path (`router.bridges[1].name`) back into a JSON Pointer.
#[must_use]
pub fn path_to_pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next()
            && !key.is_empty()
        {
            out.push('/');
            out.push_str(&key.replace('~', "~0").replace('/', "~1"));
        }
        for index in pieces {
            out.push('/');
            out.push_str(index.trim_end_matches(']'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_and_path_round_trip() {
        let pointer = "/router/bridges/1/ports/0/interface";
        let path = pointer_to_path(pointer);
        assert_eq!(path, "router.bridges[1].ports[0].interface");
        assert_eq!(path_to_pointer(&path), pointer);
        assert_eq!(pointer_to_path(""), "");
    }

    #[test]
    fn display_has_position() {
        let mut d = Diagnostic::error("x", "a.b", "bad");
        d.position = Some(Position { line: 3, column: 5 });
        assert_eq!(
            d.display_with_source("site.yaml").to_string(),
            "site.yaml:3:5: a.b: bad"
        );
    }
}
