//! The exports(5) format: a tolerant parser with line and column numbers, and the linter
//! built on it.
//!
//! The parser follows nfs-utils 2.6 (`exportfs`): `#` starts a comment, `\` at the end of a
//! line continues it, a path may be double-quoted or use octal escapes (`\040`), a leading
//! `-opts` token sets the line's defaults, and a client is `spec(opts)` with **no** space
//! before `(`. A `(opts)` token standing alone is what exportfs reads as `*(opts)`: the
//! whole world. The parser never fails and never panics; everything odd becomes a finding.
//!
//! This module holds the parser; what exportfs accepts (client specs, options) is in
//! `vocabulary`, the linter in `lint`. Their public items are re-exported here.

mod lint;
mod vocabulary;

pub use lint::{LINT_SCHEMA, LintReport, is_under, lint, lint_files, lint_schema};
pub use vocabulary::{ClientKind, SEC_FLAVOURS, classify_client, valid_fsid};

/// One client entry of an export line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEntry {
    /// The client spec as written (`10.3.2.0/24`, `*.rachuna.dev`, `*`; empty for `(opts)`).
    pub spec: String,
    /// Line of the entry (1-based).
    pub line: usize,
    /// Column of the entry (1-based).
    pub column: usize,
    /// Options inside the parentheses, in order (empty when there are none).
    pub options: Vec<String>,
    /// Whether the entry had a parenthesised option list.
    pub has_options: bool,
    /// The `(opts)` stood alone after white space: exportfs exports it to the world.
    pub detached: bool,
}

/// One export line (after joining continuations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLine {
    /// The exported path, unquoted and unescaped.
    pub path: String,
    /// Line where the entry starts (1-based).
    pub line: usize,
    /// Column of the path (1-based).
    pub column: usize,
    /// Default options from a leading `-opts` token.
    pub defaults: Vec<String>,
    /// Client entries in order.
    pub clients: Vec<ClientEntry>,
}

/// A syntax problem the parser met (the linter turns these into errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxIssue {
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based).
    pub column: usize,
    /// Stable rule id.
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
}

/// A parsed exports file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportsFile {
    /// The export lines.
    pub entries: Vec<ExportLine>,
    /// Syntax problems.
    pub issues: Vec<SyntaxIssue>,
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    line: usize,
    column: usize,
    quoted: bool,
}

/// Splits the text into logical lines of tokens, honouring comments, continuations and quotes.
fn tokenize(text: &str, issues: &mut Vec<SyntaxIssue>) -> Vec<Vec<Token>> {
    let mut lines: Vec<Vec<Token>> = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut token: Option<Token> = None;
    let mut in_quote = false;
    let mut in_comment = false;
    let (mut line, mut column) = (1usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            if in_quote {
                issues.push(SyntaxIssue {
                    line,
                    column,
                    rule: "syntax",
                    message: "unterminated double quote".to_owned(),
                });
                in_quote = false;
            }
            if let Some(t) = token.take() {
                current.push(t);
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            in_comment = false;
            line += 1;
            column = 0;
            continue;
        }
        if in_comment {
            continue;
        }
        if c == '\\' && !in_quote {
            // A continuation: backslash, optional trailing blanks, newline.
            let mut lookahead = chars.clone();
            let mut blanks = 0;
            while matches!(lookahead.peek(), Some(' ' | '\t' | '\r')) {
                lookahead.next();
                blanks += 1;
            }
            if matches!(lookahead.peek(), Some('\n')) || lookahead.peek().is_none() {
                for _ in 0..blanks {
                    chars.next();
                }
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                if let Some(t) = token.take() {
                    current.push(t);
                }
                line += 1;
                column = 0;
                continue;
            }
        }
        if c == '"' {
            in_quote = !in_quote;
            let t = token.get_or_insert_with(|| Token {
                text: String::new(),
                line,
                column,
                quoted: false,
            });
            t.quoted = true;
            continue;
        }
        if !in_quote && c == '#' {
            in_comment = true;
            if let Some(t) = token.take() {
                current.push(t);
            }
            continue;
        }
        if !in_quote && (c == ' ' || c == '\t' || c == '\r') {
            if let Some(t) = token.take() {
                current.push(t);
            }
            continue;
        }
        token
            .get_or_insert_with(|| Token {
                text: String::new(),
                line,
                column,
                quoted: false,
            })
            .text
            .push(c);
    }
    if in_quote {
        issues.push(SyntaxIssue {
            line,
            column,
            rule: "syntax",
            message: "unterminated double quote".to_owned(),
        });
    }
    if let Some(t) = token.take() {
        current.push(t);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Decodes octal escapes such as `\040` (space) in a path.
#[must_use]
pub fn unescape_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes
                .get(i + 1..i + 4)
                .is_some_and(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
        {
            let value = u32::from(bytes[i + 1] - b'0') * 64
                + u32::from(bytes[i + 2] - b'0') * 8
                + u32::from(bytes[i + 3] - b'0');
            out.push(u8::try_from(value).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes a path for an exports file: white space, `\`, `#` and `"` as octal escapes.
#[must_use]
pub fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            ' ' | '\t' | '\\' | '#' | '"' | '(' | ')' => {
                out.push_str(&format!("\\{:03o}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Parses exports text. Never fails: problems land in [`ExportsFile::issues`].
#[must_use]
pub fn parse(text: &str) -> ExportsFile {
    let mut file = ExportsFile::default();
    for tokens in tokenize(text, &mut file.issues) {
        let mut iter = tokens.into_iter().peekable();
        let Some(path_token) = iter.next() else {
            continue;
        };
        let mut entry = ExportLine {
            path: if path_token.quoted {
                path_token.text.clone()
            } else {
                unescape_path(&path_token.text)
            },
            line: path_token.line,
            column: path_token.column,
            defaults: Vec::new(),
            clients: Vec::new(),
        };
        let mut first = true;
        let mut previous_was_bare = false;
        for token in iter {
            if first && token.text.starts_with('-') && !token.quoted {
                entry.defaults = split_options(&token.text[1..]);
                first = false;
                continue;
            }
            first = false;
            let text = token.text.as_str();
            match text.find('(') {
                Some(open) => {
                    let spec = &text[..open];
                    let rest = &text[open + 1..];
                    let (inside, trailing) = match rest.find(')') {
                        Some(close) => (&rest[..close], &rest[close + 1..]),
                        None => {
                            file.issues.push(SyntaxIssue {
                                line: token.line,
                                column: token.column,
                                rule: "syntax",
                                message: format!("{text:?}: missing ')'"),
                            });
                            (rest, "")
                        }
                    };
                    if !trailing.is_empty() {
                        file.issues.push(SyntaxIssue {
                            line: token.line,
                            column: token.column,
                            rule: "syntax",
                            message: format!("{text:?}: unexpected {trailing:?} after ')' (missing space between clients?)"),
                        });
                    }
                    let detached = spec.is_empty();
                    entry.clients.push(ClientEntry {
                        spec: spec.to_owned(),
                        line: token.line,
                        column: token.column,
                        options: split_options(inside),
                        has_options: true,
                        detached: detached && previous_was_bare,
                    });
                    previous_was_bare = false;
                }
                None => {
                    if text.contains(')') {
                        file.issues.push(SyntaxIssue {
                            line: token.line,
                            column: token.column,
                            rule: "syntax",
                            message: format!("{text:?}: ')' without '('"),
                        });
                    }
                    entry.clients.push(ClientEntry {
                        spec: text.to_owned(),
                        line: token.line,
                        column: token.column,
                        options: Vec::new(),
                        has_options: false,
                        detached: false,
                    });
                    previous_was_bare = true;
                }
            }
        }
        file.entries.push(entry);
    }
    file
}

fn split_options(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_continuations_quotes_and_defaults() {
        let text = "# comment\n\"/srv/with space\" -sync,rw 10.0.0.0/24 \\\n   host1(ro) # trailing\n/a\\040b *(ro)\n";
        let file = parse(text);
        assert!(file.issues.is_empty(), "{:?}", file.issues);
        assert_eq!(file.entries.len(), 2);
        assert_eq!(file.entries[0].path, "/srv/with space");
        assert_eq!(file.entries[0].defaults, ["sync", "rw"]);
        assert_eq!(file.entries[0].clients[1].spec, "host1");
        assert_eq!(file.entries[0].clients[1].line, 3);
        assert_eq!(file.entries[1].path, "/a b");
        assert_eq!(file.entries[1].line, 4);
    }

    #[test]
    fn escape_round_trip() {
        let p = "/srv/a b#c";
        assert_eq!(unescape_path(&escape_path(p)), p);
    }
}
