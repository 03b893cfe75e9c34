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

/// A warning the site means to have, with the reason: one entry of `metadata.acknowledge`,
/// e.g. `{rule: copy-paste, path: router.ethernet[3].comment, reason: "two ports, one cable"}`.
/// The warning is still reported (marked acknowledged) but not printed unless asked (`-v`);
/// an entry that matches no warning is itself a warning (`unused-acknowledgement`). Errors
/// cannot be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// The warning's rule id, printed in brackets after it (`copy-paste`, `unknown-section`).
    #[schemars(regex(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"))]
    pub rule: String,
    /// Only the warnings at this field path or inside it (`router.ethernet[3]`); absent: every
    /// warning of the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub path: Option<String>,
    /// Why the site means it, for the next reader.
    #[schemars(length(min = 1))]
    pub reason: String,
}

impl Acknowledgement {
    /// Whether this entry accepts the warning `d` (same rule, at or inside [`Self::path`]).
    #[must_use]
    pub fn covers(&self, d: &Diagnostic) -> bool {
        !d.is_error() && self.covers_rule(d)
    }

    /// Whether `d`, error or warning, is of this entry's rule and at or inside its path.
    #[must_use]
    pub fn covers_rule(&self, d: &Diagnostic) -> bool {
        d.rule == self.rule
            && self.path.as_deref().is_none_or(|p| {
                d.path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
    }
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
    /// The other field of a finding about two places (a conflict, an overlap, a duplicate):
    /// the message is reported at [`Diagnostic::path`] and names this one too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<Related>,
    /// For a warning the site acknowledges (`metadata.acknowledge`), the reason it gives; such
    /// a warning is reported but not counted (see [`Diagnostic::is_acknowledged`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<String>,
}

/// The second place a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Related {
    /// Field path, e.g. `segments[0].cidr`.
    pub path: String,
    /// Where the field is in the source, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
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
            related: None,
            acknowledged: None,
        }
    }

    /// An error about two fields that contradict each other: reported at `path` (the one to
    /// fix, usually the later in the document), naming `other` (and its line) too.
    #[must_use]
    pub fn conflict(
        rule: &str,
        path: impl Into<String>,
        other: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::error(rule, path, message).with_related(other)
    }

    /// The same finding, also naming the field at `other` (its position is filled in with the
    /// diagnostic's own when the document is loaded).
    #[must_use]
    pub fn with_related(mut self, other: impl Into<String>) -> Self {
        self.related = Some(Related {
            path: other.into(),
            position: None,
        });
        self
    }

    /// Whether this is a warning the site acknowledges (`metadata.acknowledge`).
    #[must_use]
    pub fn is_acknowledged(&self) -> bool {
        self.acknowledged.is_some()
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

/// `PATH: MESSAGE`, then the other field of a conflict (`(see segments[0].cidr, line 11)`)
/// and, for a warning, its rule id (`[copy-paste]`, what `metadata.acknowledge` names) and the
/// acknowledgement's reason.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(related) = &self.related {
            match related.position {
                Some(Position { line, .. }) => write!(f, " (see {}, line {line})", related.path)?,
                None => write!(f, " (see {})", related.path)?,
            }
        }
        if self.severity == Severity::Warning {
            match &self.acknowledged {
                Some(reason) => write!(f, " [{}, acknowledged: {reason}]", self.rule)?,
                None => write!(f, " [{}]", self.rule)?,
            }
        }
        Ok(())
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
    fn display_names_the_other_field_and_the_warning_rule() {
        let mut d = Diagnostic::conflict("overlap", "a[1]", "a[0]", "overlaps");
        assert_eq!(d.to_string(), "a[1]: overlaps (see a[0])");
        d.related.as_mut().unwrap().position = Some(Position { line: 7, column: 3 });
        assert_eq!(d.to_string(), "a[1]: overlaps (see a[0], line 7)");
        let mut w = Diagnostic::warning("copy-paste", "b", "same");
        assert_eq!(w.to_string(), "b: same [copy-paste]");
        w.acknowledged = Some("two ports, one cable".to_owned());
        assert_eq!(
            w.to_string(),
            "b: same [copy-paste, acknowledged: two ports, one cable]"
        );
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
