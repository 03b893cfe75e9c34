//! The syntax of an nfs-ganesha configuration file (`ganesha.conf` and the files it
//! `%include`s), as ganesha's `config_parsing(8)` describes it:
//!
//! - `#` starts a comment that runs to the end of the line (outside quotes);
//! - a block is `NAME { ... }` and holds parameters and further blocks (`EXPORT { FSAL { } }`,
//!   `EXPORT { CLIENT { } }`);
//! - a parameter is `Key = value;` where the value is one term or a comma-separated list of
//!   terms (`Protocols = 3, 4;`); a term is a bare word (`RW`, `198.18.0.0/24`, `*.lab`) or a
//!   quoted string (`"..."` with `\` escapes, `'...'` taken literally);
//! - `%include "FILE"` (or `%include FILE`) names another file, read in its place.
//!
//! Block and parameter names are compared without regard to case, as ganesha does. This module
//! only reads the syntax (every item with its line); what the blocks mean for the site model is
//! the importer's business. A file it cannot read is one [`SyntaxError`] line:
//! `FILE:LINE: what`.

use std::fmt;

/// One item of a block (or of the file's top level), with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `Key = term, term;`
    Param {
        /// The key as written.
        key: String,
        /// The terms, quotes removed.
        values: Vec<String>,
        /// Line of the key.
        line: u32,
    },
    /// `NAME { ... }`
    Block(Block),
    /// `%include FILE`
    Include {
        /// The file named.
        path: String,
        /// Line of the directive.
        line: u32,
    },
}

/// A block: its name, its items, the line of its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The name as written (`EXPORT`, `CLIENT`, `FSAL`).
    pub name: String,
    /// What the block holds, in order.
    pub items: Vec<Item>,
    /// Line of the name.
    pub line: u32,
}

impl Block {
    /// Whether the block is called `name` (case-insensitive).
    #[must_use]
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The parameters `key` (case-insensitive), in order, with their lines.
    pub fn params<'a>(&'a self, key: &'a str) -> impl Iterator<Item = (&'a [String], u32)> + 'a {
        self.items.iter().filter_map(move |i| match i {
            Item::Param {
                key: k,
                values,
                line,
            } if k.eq_ignore_ascii_case(key) => Some((values.as_slice(), *line)),
            _ => None,
        })
    }

    /// The blocks called `name` (case-insensitive) directly inside this one.
    pub fn blocks<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
        self.items.iter().filter_map(move |i| match i {
            Item::Block(b) if b.is(name) => Some(b),
            _ => None,
        })
    }
}

/// A file ganesha's parser would refuse: `FILE:LINE: what`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct SyntaxError {
    /// The file (as the caller names it).
    pub source_name: String,
    /// 1-based line.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Eq,
    Comma,
    Semi,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "{w:?}"),
            Tok::Quoted(q) => write!(f, "the string {q:?}"),
            Tok::Open => f.write_str("'{'"),
            Tok::Close => f.write_str("'}'"),
            Tok::Eq => f.write_str("'='"),
            Tok::Comma => f.write_str("','"),
            Tok::Semi => f.write_str("';'"),
        }
    }
}

/// Splits `text` into tokens with their lines.
fn lex(text: &str) -> Result<Vec<(Tok, u32)>, (u32, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line: u32 = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line = line.saturating_add(1),
            c if c.is_whitespace() => {}
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '{' => out.push((Tok::Open, line)),
            '}' => out.push((Tok::Close, line)),
            '=' => out.push((Tok::Eq, line)),
            ',' => out.push((Tok::Comma, line)),
            ';' => out.push((Tok::Semi, line)),
            '"' | '\'' => {
                let start = line;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err((start, "unterminated string".to_owned())),
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => match chars.next() {
                            None => return Err((start, "unterminated string".to_owned())),
                            Some(e) => {
                                if e == '\n' {
                                    line = line.saturating_add(1);
                                }
                                s.push(e);
                            }
                        },
                        Some(ch) => {
                            if ch == '\n' {
                                line = line.saturating_add(1);
                            }
                            s.push(ch);
                        }
                    }
                }
                out.push((Tok::Quoted(s), start));
            }
            c if c.is_control() => {
                return Err((line, format!("unexpected control character {c:?}")));
            }
            c => {
                let mut w = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || "{}=,;#\"'".contains(n) || n.is_control() {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push((Tok::Word(w), line));
            }
        }
    }
    Ok(out)
}

/// Parses one file's text (`source_name` names it in errors). `%include`s are returned as
/// [`Item::Include`], not followed: the caller reads the named file (locally or over SSH).
///
/// # Errors
/// The first thing ganesha's parser would refuse, as one line with its line number.
pub fn parse(source_name: &str, text: &str) -> Result<Vec<Item>, SyntaxError> {
    let err = |line: u32, message: String| SyntaxError {
        source_name: source_name.to_owned(),
        line,
        message,
    };
    let toks = lex(text).map_err(|(l, m)| err(l, m))?;
    let last_line = toks.last().map_or(1, |(_, l)| *l);
    let mut pos = 0;
    // Stack of open blocks; the bottom is the file's top level.
    let mut stack: Vec<Block> = vec![Block {
        name: String::new(),
        items: Vec::new(),
        line: 0,
    }];
    while let Some((tok, line)) = toks.get(pos) {
        let line = *line;
        pos += 1;
        match tok {
            Tok::Close => {
                if stack.len() < 2 {
                    return Err(err(line, "'}' closes no block".to_owned()));
                }
                let done = stack.pop().unwrap_or_else(|| unreachable!());
                if let Some(parent) = stack.last_mut() {
                    parent.items.push(Item::Block(done));
                }
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("%include") => {
                let Some((Tok::Word(p) | Tok::Quoted(p), _)) = toks.get(pos) else {
                    return Err(err(line, "%include names no file".to_owned()));
                };
                pos += 1;
                if let Some(b) = stack.last_mut() {
                    b.items.push(Item::Include {
                        path: p.clone(),
                        line,
                    });
                }
            }
            Tok::Word(name) => match toks.get(pos) {
                Some((Tok::Open, _)) => {
                    pos += 1;
                    stack.push(Block {
                        name: name.clone(),
                        items: Vec::new(),
                        line,
                    });
                }
                Some((Tok::Eq, _)) => {
                    pos += 1;
                    let mut values = Vec::new();
                    loop {
                        match toks.get(pos) {
                            Some((Tok::Word(v) | Tok::Quoted(v), _)) => {
                                values.push(v.clone());
                                pos += 1;
                            }
                            Some((t, l)) => {
                                return Err(err(
                                    *l,
                                    format!("{name}: expected a value, found {t}"),
                                ));
                            }
                            None => {
                                return Err(err(
                                    line,
                                    format!("{name}: value missing before the end of the file"),
                                ));
                            }
                        }
                        match toks.get(pos) {
                            Some((Tok::Comma, _)) => pos += 1,
                            Some((Tok::Semi, _)) => {
                                pos += 1;
                                break;
                            }
                            Some((t, l)) => {
                                return Err(err(
                                    *l,
                                    format!("{name}: expected ',' or ';', found {t}"),
                                ));
                            }
                            None => {
                                return Err(err(
                                    line,
                                    format!("{name}: ';' missing before the end of the file"),
                                ));
                            }
                        }
                    }
                    if let Some(b) = stack.last_mut() {
                        b.items.push(Item::Param {
                            key: name.clone(),
                            values,
                            line,
                        });
                    }
                }
                Some((t, l)) => {
                    return Err(err(*l, format!("{name}: expected '=' or '{{', found {t}")));
                }
                None => {
                    return Err(err(
                        line,
                        format!("{name}: expected '=' or '{{' before the end of the file"),
                    ));
                }
            },
            t => return Err(err(line, format!("unexpected {t}"))),
        }
    }
    if stack.len() > 1 {
        let open = stack.last().map_or(0, |b| b.line);
        let name = stack.last().map_or("", |b| b.name.as_str()).to_owned();
        return Err(err(
            last_line.max(open),
            format!("block {name} (line {open}) is not closed"),
        ));
    }
    Ok(stack.pop().map(|b| b.items).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_params_lists_comments_and_includes() {
        let text = "# top\n%include \"/etc/ganesha/lab.conf\"\nEXPORT {\n\tExport_Id = 1; # one\n\tPath = \"/srv/a b\";\n\tProtocols = 3, 4;\n\tCLIENT {\n\t\tClients = 198.18.0.0/24, *.lab;\n\t\taccess_type = RW;\n\t}\n}\n";
        let items = parse("g.conf", text).unwrap();
        assert_eq!(
            items[0],
            Item::Include {
                path: "/etc/ganesha/lab.conf".into(),
                line: 2
            }
        );
        let Item::Block(e) = &items[1] else { panic!() };
        assert!(e.is("export"));
        assert_eq!(e.line, 3);
        assert_eq!(e.params("path").next().unwrap().0, ["/srv/a b"]);
        assert_eq!(
            e.params("PROTOCOLS").next().unwrap(),
            (&["3".to_owned(), "4".to_owned()][..], 6)
        );
        let c = e.blocks("client").next().unwrap();
        assert_eq!(
            c.params("Access_Type").next().unwrap(),
            (&["RW".to_owned()][..], 9)
        );
        assert_eq!(
            c.params("clients").next().unwrap().0,
            ["198.18.0.0/24", "*.lab"]
        );
    }

    #[test]
    fn bad_syntax_is_one_line_with_its_line() {
        for (text, want) in [
            (
                "EXPORT {\n Path = \"/a\"\n}\n",
                "g.conf:3: Path: expected ',' or ';', found '}'",
            ),
            (
                "EXPORT {\n Path = /a;\n",
                "g.conf:2: block EXPORT (line 1) is not closed",
            ),
            ("}\n", "g.conf:1: '}' closes no block"),
            (
                "EXPORT {\n Path = \"/a;\n}\n",
                "g.conf:2: unterminated string",
            ),
            (
                "\n\nPath /a;\n",
                "g.conf:3: Path: expected '=' or '{', found \"/a\"",
            ),
            ("= 1;", "g.conf:1: unexpected '='"),
        ] {
            let e = parse("g.conf", text).unwrap_err().to_string();
            assert_eq!(e, want, "{text:?}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn the_rendered_config_reads_back() {
        let snap = include_str!("../../tests/snapshots/main__render__ganesha_lab_conf.snap");
        let text = snap.splitn(3, "---\n").nth(2).unwrap();
        let items = parse("lab.conf", text).unwrap();
        let exports: Vec<&Block> = items
            .iter()
            .filter_map(|i| match i {
                Item::Block(b) if b.is("EXPORT") => Some(b),
                _ => None,
            })
            .collect();
        assert_eq!(exports.len(), text.matches("EXPORT {").count());
        for e in exports {
            assert_eq!(e.params("Path").count(), 1);
            assert!(e.blocks("CLIENT").all(|c| c.params("Clients").count() == 1));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "[A-Za-z_0-9 \t\n{}=,;#\"'\\\\%./*-]{0,80}") {
            if let Err(e) = parse("g.conf", &text) {
                proptest::prop_assert!(!e.to_string().contains('\n'));
            }
        }
    }
}
