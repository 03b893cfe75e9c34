//! Parser and printer of RouterOS `/export` text (v6 and v7, standard and `terse`).
//!
//! The grammar, rule by rule with the vendor's text each comes from, is in
//! `docs/reference/routeros-export-syntax.md`. [`parse`] accepts:
//! - `#` comment lines anywhere (the header's `by RouterOS 7.18` / `# RouterOS 6.48.3` and
//!   `# model = ...` are kept in [`Header`]);
//! - menu lines in v6 (`/interface bridge port`) and v7 (`/interface/bridge/port`) form,
//!   followed by command lines, and terse lines (`/ip address add address=...`);
//! - the verbs of [`Verb`] with `[ find k=v ... ]` (also `[ find where k=v ... ]`), name
//!   (`ftp`), id (`*FFFFFFFE`) or index (`0`) selectors, `key=value` properties, `!key` unsets,
//!   bare flags (`blackhole`) and wifi's `.sub=value` shorthand; property names as
//!   [`is_property_name`] describes (`supported-rates-a/g` included);
//! - line continuations (`\` at the end of a physical line; up to 4 leading spaces of the
//!   next line are dropped), also inside quoted strings and in the middle of a token;
//! - double-quoted strings with the console escapes `\"` `\\` `\n` `\r` `\t` `\$` `\?` `\_`
//!   `\a` `\b` `\f` `\v` and `\XX` (two upper-case hex digits);
//! - LF, CRLF or lone CR line ends, `;` between commands, a missing final newline, repeated
//!   menus (consecutive blocks of the same menu are merged; empty menu blocks are dropped).
//!
//! A `:`-prefixed scripting command (`:delay 5s`, `:if ...`) is rejected with its line: it is a
//! script, not configuration, and the model has no place for it.
//!
//! Escaped bytes that do not form UTF-8 (v6 writes cp1251 text as `\C7\E0...`) are decoded
//! one byte per character (Latin-1), so the text survives a round trip unchanged.
//!
//! Errors carry the 1-based line and column (in characters) of the offending token and
//! display as one line: `export:123:5: unterminated string`.
//!
//! [`print_terse`] writes a [`Config`] back as `/export terse` would (one command per line,
//! full menu path on every line, no wrapping); [`print_standard`] writes menu lines followed
//! by their commands. For every `Config` produced by [`parse`], `parse(print_terse(c)) == c`
//! and `parse(print_standard(c)) == c`, whatever bytes the input held: control characters in
//! values are printed as escapes, and the header keeps only what a `#` line (which has no
//! escapes) can print back.

mod lexer;
mod print;

pub use print::{format_command, print_standard, print_terse, quote};

use crate::config::{Command, Config, Header, Props, Selector, Verb, normalize_path};
use lexer::{Lexer, LineItem, TokKind, Token, bytes_to_string};
use print::one_line;

/// A parse failure with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}:{column}: {}", printable(kind))]
pub struct ParseError {
    /// Name of the input (`export` unless given to [`parse_named`]).
    pub source_name: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// The error for a menu the caller does not understand, at `line` (column 1).
    #[must_use]
    pub fn unknown_menu(source_name: &str, path: &str, line: u32) -> ParseError {
        ParseError {
            source_name: source_name.to_owned(),
            line,
            column: 1,
            kind: ParseErrorKind::UnknownMenu(path.to_owned()),
        }
    }
}

/// The kind's message on one line: a control character the input put into a quoted name or
/// value (`\n` escaped inside a word) is shown escaped, never as itself.
fn printable(kind: &ParseErrorKind) -> String {
    let text = kind.to_string();
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The kinds of [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// A `"` without its closing quote on the same logical line.
    #[error("unterminated string")]
    UnterminatedString,
    /// A backslash escape the console does not know.
    #[error("invalid escape `\\{0}`")]
    InvalidEscape(String),
    /// `[` without `]`.
    #[error("unclosed `[` selector")]
    UnclosedSelector,
    /// A `[`/`]` where none may be.
    #[error("unexpected `{0}`")]
    UnexpectedBracket(char),
    /// A selector other than `[ find ... ]`.
    #[error("unsupported selector `[ {0} ... ]` (only `[ find ... ]`)")]
    UnsupportedSelector(String),
    /// A command line before any menu line.
    #[error("command `{0}` outside a menu")]
    CommandOutsideMenu(String),
    /// A word in command position that is not a known verb.
    #[error("unknown command `{0}`")]
    UnknownCommand(String),
    /// A `:`-prefixed scripting command (`:put`, `:delay`, `:if`): a script, not configuration.
    #[error("script command `{0}` is not configuration (only menu commands are read)")]
    ScriptCommand(String),
    /// A token where `property=value` was expected.
    #[error("expected property=value, found `{0}`")]
    ExpectedProperty(String),
    /// A property name with characters names cannot have.
    #[error("invalid property name `{0}`")]
    InvalidPropertyName(String),
    /// `=value` with no property name.
    #[error("empty property name")]
    EmptyPropertyName,
    /// A menu path with characters a menu name cannot have.
    #[error("invalid menu name `{0}`")]
    InvalidMenu(String),
    /// A menu the caller does not understand (see [`ParseError::unknown_menu`]).
    #[error("unknown menu {0}")]
    UnknownMenu(String),
}

/// Parses export text; errors are reported as `export:LINE:COL: ...`.
///
/// # Errors
/// Syntax errors, with position.
pub fn parse(input: &str) -> Result<Config, ParseError> {
    parse_named("export", input)
}

/// Parses raw bytes (invalid UTF-8 is replaced by U+FFFD first).
///
/// # Errors
/// Syntax errors, with position.
pub fn parse_bytes(input: &[u8]) -> Result<Config, ParseError> {
    parse(&String::from_utf8_lossy(input))
}

/// Parses export text; errors name `source_name` (e.g. the file) instead of `export`.
///
/// # Errors
/// Syntax errors, with position.
pub fn parse_named(source_name: &str, input: &str) -> Result<Config, ParseError> {
    let mut lexer = Lexer::new(input.as_bytes());
    let mut config = Config::default();
    let mut current: Option<String> = None;
    let mut seen_command = false;
    let err = |(line, column): (u32, u32), kind| ParseError {
        source_name: source_name.to_owned(),
        line,
        column,
        kind,
    };
    while let Some(item) = lexer.next_line().map_err(|(pos, kind)| err(pos, kind))? {
        match item {
            LineItem::Comment(text) => {
                if !seen_command {
                    read_header(&mut config.header, &text);
                }
            }
            LineItem::Tokens(tokens) => {
                if let Some(word) = tokens[0].bare().filter(|w| w.starts_with(':')) {
                    return Err(err(tokens[0].pos, ParseErrorKind::ScriptCommand(word)));
                }
                let (path, rest) = split_menu(&tokens).map_err(|(pos, kind)| err(pos, kind))?;
                let path = match path {
                    Some(path) if rest.is_empty() => {
                        current = Some(path);
                        continue;
                    }
                    Some(path) => path,
                    None => match &current {
                        Some(path) => path.clone(),
                        None => {
                            let first = &tokens[0];
                            return Err(err(
                                first.pos,
                                ParseErrorKind::CommandOutsideMenu(first.display()),
                            ));
                        }
                    },
                };
                let command = parse_command(rest).map_err(|(pos, kind)| err(pos, kind))?;
                seen_command = true;
                config.push(&path, command);
            }
        }
    }
    Ok(config)
}

/// Reads the version and model from a header comment, keeping only what [`print_header`]
/// writes back unchanged: comments have no escapes, so control characters (a NUL, a lone CR)
/// cannot be printed in one; the version stops at the first one and the model has each one
/// replaced by a space. A `model =` line is a model line even when it says `RouterOS `.
fn read_header(header: &mut Header, comment: &str) {
    let text = comment.trim_start_matches('#').trim();
    if let Some(model) = text.strip_prefix("model =") {
        let model = one_line(model);
        let model = model.trim();
        if header.model.is_none() && !model.is_empty() {
            header.model = Some(model.to_owned());
        }
    } else if header.routeros_version.is_none()
        && let Some(index) = text.find("RouterOS ")
    {
        let version: String = text[index + "RouterOS ".len()..]
            .trim_start()
            .chars()
            .take_while(|c| !c.is_whitespace() && !c.is_control())
            .collect();
        if !version.is_empty() {
            header.routeros_version = Some(version);
        }
    }
}

type Pos = (u32, u32);
type LexResult<T> = Result<T, (Pos, ParseErrorKind)>;

/// Splits a leading menu path off a logical line: `/ip firewall filter add ...` gives
/// `(Some("/ip/firewall/filter"), [add, ...])`; a line not starting with `/` gives `None`.
fn split_menu(tokens: &[Token]) -> LexResult<(Option<String>, &[Token])> {
    let Some(first) = tokens.first() else {
        return Ok((None, tokens));
    };
    let Some(head) = first.bare().filter(|w| w.starts_with('/')) else {
        return Ok((None, tokens));
    };
    let mut segments: Vec<String> = head
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut index = 1;
    while let Some(token) = tokens.get(index) {
        match token.bare() {
            Some(word) if Verb::from_word(&word).is_none() && !word.starts_with('!') => {
                segments.extend(word.split('/').filter(|s| !s.is_empty()).map(str::to_owned));
                index += 1;
            }
            _ => break,
        }
    }
    for (i, segment) in segments.iter().enumerate() {
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            let pos = if i == 0 {
                first.pos
            } else {
                tokens.get(i).map_or(first.pos, |t| t.pos)
            };
            return Err((pos, ParseErrorKind::InvalidMenu(segment.clone())));
        }
    }
    Ok((Some(normalize_path(&segments.join("/"))), &tokens[index..]))
}

fn parse_command(tokens: &[Token]) -> LexResult<Command> {
    let Some(first) = tokens.first() else {
        return Err(((0, 0), ParseErrorKind::UnknownCommand(String::new())));
    };
    let verb = first
        .bare()
        .and_then(|w| Verb::from_word(&w))
        .ok_or_else(|| (first.pos, ParseErrorKind::UnknownCommand(first.display())))?;
    let mut rest = &tokens[1..];
    let mut selector = None;
    if verb != Verb::Add
        && let Some(token) = rest.first()
    {
        match &token.kind {
            TokKind::Open => {
                let close = rest
                    .iter()
                    .position(|t| matches!(t.kind, TokKind::Close))
                    .ok_or((token.pos, ParseErrorKind::UnclosedSelector))?;
                let inner = &rest[1..close];
                selector = Some(parse_find(token.pos, inner)?);
                rest = &rest[close + 1..];
            }
            TokKind::Word {
                text,
                eq: None,
                quoted,
            } if *quoted || !text.starts_with(b"!") => {
                selector = Some(Selector::Item(bytes_to_string(text)));
                rest = &rest[1..];
            }
            _ => {}
        }
    }
    let mut flags = Vec::new();
    let props = parse_props(rest, Some(&mut flags))?;
    Ok(Command {
        verb,
        selector,
        props,
        flags,
        line: first.pos.0,
    })
}

fn parse_find(open: Pos, inner: &[Token]) -> LexResult<Selector> {
    let Some(first) = inner.first() else {
        return Err((open, ParseErrorKind::UnsupportedSelector(String::new())));
    };
    match first.bare() {
        Some(word) if word == "find" => {
            // `[ find where k=v ]` is the same query as `[ find k=v ]` (equality conditions).
            let conditions = match inner.get(1).and_then(Token::bare) {
                Some(word) if word == "where" => &inner[2..],
                _ => &inner[1..],
            };
            Ok(Selector::Find(parse_props(conditions, None)?))
        }
        _ => Err((
            first.pos,
            ParseErrorKind::UnsupportedSelector(first.display()),
        )),
    }
}

/// Whether `name` can be a property name as an export writes it before `=` (`comment`,
/// `channel.band`, `basic-rates-a/g`, `!keepalive` for an unset).
///
/// RouterOS has no quoting for a parameter name: the scripting manual's command line is
/// `[prefix] [path] command [uparam] [param=[value]] ..` with no whitespace allowed around the
/// `=`, and its delimiters are `() [] {} : ; $ /`. So a name is an optional `!`, then one or
/// more printable ASCII characters other than whitespace, `=`, the delimiters `( ) [ ] { } : ;
/// $`, the string and escape characters `"` and `\`, `?` (console help) and `#` (comment) and
/// `!`. `/` is accepted inside a name: v6 wireless documents and exports `basic-rates-a/g` and
/// `supported-rates-a/g`. The rules with their sources: `docs/reference/routeros-export-syntax.md`.
#[must_use]
pub fn is_property_name(name: &str) -> bool {
    let bare = name.strip_prefix('!').unwrap_or(name);
    !bare.is_empty() && bare.bytes().all(is_name_byte)
}

/// A byte a property name may hold (see [`is_property_name`]).
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"=()[]{}:;$\"\\?#!".contains(&b)
}

/// Properties, and bare flags when `flags` is given (else a bare word is an error).
fn parse_props(tokens: &[Token], mut flags: Option<&mut Vec<String>>) -> LexResult<Props> {
    let mut props = Props::new();
    let mut previous: Option<String> = None;
    for token in tokens {
        match &token.kind {
            TokKind::Open => return Err((token.pos, ParseErrorKind::UnexpectedBracket('['))),
            TokKind::Close => return Err((token.pos, ParseErrorKind::UnexpectedBracket(']'))),
            TokKind::Word {
                text, eq: Some(eq), ..
            } => {
                let mut key = bytes_to_string(&text[..*eq]);
                if key.is_empty() {
                    return Err((token.pos, ParseErrorKind::EmptyPropertyName));
                }
                if !is_property_name(&key) {
                    return Err((token.pos, ParseErrorKind::InvalidPropertyName(key)));
                }
                if key.starts_with('.')
                    && let Some(prefix) = previous
                        .as_deref()
                        .and_then(|p| p.rfind('.').map(|i| &p[..i]))
                    && !prefix.is_empty()
                {
                    key = format!("{prefix}{key}");
                }
                props.insert(key.clone(), bytes_to_string(&text[eq + 1..]));
                previous = Some(key);
            }
            TokKind::Word {
                text,
                eq: None,
                quoted: false,
            } if text.len() > 1 && text.starts_with(b"!") => {
                let key = bytes_to_string(text);
                if !is_property_name(&key) {
                    return Err((token.pos, ParseErrorKind::InvalidPropertyName(key)));
                }
                props.insert(key, "");
            }
            TokKind::Word {
                text,
                eq: None,
                quoted: false,
            } if flags.is_some() => {
                let flag = bytes_to_string(text);
                if !is_property_name(&flag) || flag.starts_with('!') {
                    return Err((token.pos, ParseErrorKind::ExpectedProperty(flag)));
                }
                if let Some(flags) = flags.as_deref_mut() {
                    flags.push(flag);
                }
            }
            TokKind::Word { .. } => {
                return Err((token.pos, ParseErrorKind::ExpectedProperty(token.display())));
            }
        }
    }
    Ok(props)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &str) -> Command {
        let config = parse(input).unwrap();
        assert_eq!(config.command_count(), 1, "{config:?}");
        config.menus[0].commands[0].clone()
    }

    #[test]
    fn standard_and_terse_forms_agree() {
        let a = parse("/ip address\nadd address=10.0.0.1/24 interface=ether1\n").unwrap();
        let b = parse("/ip address add address=10.0.0.1/24 interface=ether1").unwrap();
        let c = parse("/ip/address\r\nadd address=10.0.0.1/24 interface=ether1\r\n").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.menus[0].path, "/ip/address");
    }

    #[test]
    fn selectors() {
        let c = one("/interface ethernet\nset [ find default-name=ether1 ] name=wan");
        assert_eq!(c.selector, Some(Selector::find("default-name", "ether1")));
        assert_eq!(c.props.get("name"), Some("wan"));
        let c = one("/ip service set ftp disabled=yes");
        assert_eq!(c.selector, Some(Selector::Item("ftp".into())));
        let c = one("/interface set *FFFFFFFE x=1");
        assert!(c.selector.as_ref().unwrap().is_id());
        let c = one("/ip dns\nset servers=1.1.1.1,8.8.8.8");
        assert_eq!(c.selector, None);
        let c = one("/interface 6to4 add !keepalive mtu=1480");
        assert_eq!(c.props.get("!keepalive"), Some(""));
        assert_eq!(format_command(&c), "add !keepalive mtu=1480");
    }

    #[test]
    fn escapes_and_continuations() {
        let c = one(
            "/system script add name=x source=\":global A 50\\r\\\n    \\n:put \\\"a\\\\b\\$c\\?\\_\\4F\\\"\"",
        );
        assert_eq!(
            c.props.get("source"),
            Some(":global A 50\r\n:put \"a\\b$c? O\"")
        );
        let c = one("/interface bridge vlan\nadd tagged=\"a,sfp9\\\n    ,sfp1\" vlan-ids=2");
        assert_eq!(c.props.get("tagged"), Some("a,sfp9,sfp1"));
        let c = one("/caps-man channel\nadd band=2ghz name=\\\n    channel-2G-Ch1");
        assert_eq!(c.props.get("name"), Some("channel-2G-Ch1"));
        let c = one("/x\nadd comment=\"\\C7\\E0\"");
        assert_eq!(c.props.get("comment"), Some("\u{C7}\u{E0}"));
    }

    #[test]
    fn wifi_dot_shorthand_expands() {
        let c = one(
            "/interface wifi\nadd configuration.mode=ap .ssid=home name=\"wifi1 (Bullet Proof)\"",
        );
        assert_eq!(c.props.get("configuration.ssid"), Some("home"));
        assert_eq!(c.props.get("name"), Some("wifi1 (Bullet Proof)"));
    }

    #[test]
    fn header_is_read() {
        let config = parse("# 2024-01-01 10:00:00 by RouterOS 7.18\r\n# software id = X\n#\n# model = CCR2004\n/ip dns set a=b").unwrap();
        assert_eq!(config.header.routeros_version.as_deref(), Some("7.18"));
        assert_eq!(config.header.model.as_deref(), Some("CCR2004"));
        assert_eq!(parse(&print_terse(&config)).unwrap(), config);
    }

    #[test]
    fn repeated_menus_merge_only_when_consecutive() {
        let config = parse("/a\nadd x=1\n/a\nadd x=2\n/b\n/c\nadd y=1\n/a\nadd x=3").unwrap();
        let paths: Vec<&str> = config.menus.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/a", "/c", "/a"]);
        assert_eq!(config.commands("/a").count(), 3);
        assert_eq!(parse(&print_standard(&config)).unwrap(), config);
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("/ip address\nadd comment=\"abc").unwrap_err();
        assert_eq!(e.to_string(), "export:2:13: unterminated string");
        let e = parse("add x=1").unwrap_err();
        assert_eq!(e.to_string(), "export:1:1: command `add` outside a menu");
        let e = parse("/ip address\n  frob x=1").unwrap_err();
        assert_eq!(e.to_string(), "export:2:3: unknown command `frob`");
        let e = parse("/ip address\nset [ find x=1").unwrap_err();
        assert_eq!(e.to_string(), "export:2:5: unclosed `[` selector");
        let e = parse("/ip address\nadd x=\"\\q\"").unwrap_err();
        assert_eq!(e.to_string(), "export:2:8: invalid escape `\\q\"`");
        let e = parse("/ip address\nadd \"lonely\"").unwrap_err();
        assert_eq!(
            e.to_string(),
            "export:2:5: expected property=value, found `lonely`"
        );
        let e = parse("/ip address\nadd a\\_b=1").unwrap_err();
        assert_eq!(e.to_string(), "export:2:5: invalid property name `a b`");
        let c = one("/ip route add blackhole dst-address=10.0.0.0/8 gateway=\"\"");
        assert_eq!(c.flags, ["blackhole"]);
        assert_eq!(
            format_command(&c),
            "add blackhole dst-address=10.0.0.0/8 gateway=\"\""
        );
        let e = parse_named("r1.rsc", "/ip ad$dress\nadd x=1").unwrap_err();
        assert_eq!(e.to_string(), "r1.rsc:1:5: invalid menu name `ad$dress`");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("ether1"), "ether1");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("$x?\u{1}"), "\"\\$x\\?\\01\"");
    }

    #[test]
    fn a_flag_after_properties_of_a_selectorless_set_round_trips() {
        // Found by the corpus mutation proptest: `set enabled=yes sniffer` printed as
        // `set sniffer enabled=yes` re-parsed `sniffer` as an item selector.
        let config = parse("/tool romon\nset enabled=yes sniffer\n").unwrap();
        let again = parse(&print_terse(&config)).unwrap();
        assert_eq!(
            config.menus[0].commands[0].selector,
            again.menus[0].commands[0].selector
        );
        assert_eq!(
            config.menus[0].commands[0].flags,
            again.menus[0].commands[0].flags
        );
    }

    /// parse → print (both layouts) → parse gives the same model.
    fn round_trips(config: &Config) {
        let terse = print_terse(config);
        assert_eq!(&parse(&terse).unwrap(), config, "terse:\n{terse}");
        let standard = print_standard(config);
        assert_eq!(&parse(&standard).unwrap(), config, "standard:\n{standard}");
    }

    #[test]
    fn property_names_take_letters_digits_dash_underscore_and_dot() {
        let c = one("/x\nadd a-b_C.d9=1 9lives=2");
        assert_eq!(c.props.get("a-b_C.d9"), Some("1"));
        assert_eq!(c.props.get("9lives"), Some("2"));
    }

    #[test]
    fn property_names_take_a_slash_like_v6_wireless_rates() {
        // The v6 wireless menu documents and exports `basic-rates-a/g` and `supported-rates-a/g`.
        let config = parse(
            "/interface wireless\nset [ find default-name=wlan1 ] basic-rates-a/g=12Mbps \\\n    supported-rates-a/g=6Mbps,9Mbps supported-rates-b=\"\"\n",
        )
        .unwrap();
        let c = &config.menus[0].commands[0];
        assert_eq!(c.props.get("basic-rates-a/g"), Some("12Mbps"));
        assert_eq!(c.props.get("supported-rates-a/g"), Some("6Mbps,9Mbps"));
        assert_eq!(c.props.get("supported-rates-b"), Some(""));
        round_trips(&config);
        // As an unset and in a find query too.
        let c = one("/interface wireless set wlan1 !basic-rates-a/g");
        assert_eq!(c.props.get("!basic-rates-a/g"), Some(""));
        let c = one("/interface wireless set [ find basic-rates-a/g=6Mbps ] disabled=no");
        assert_eq!(c.selector, Some(Selector::find("basic-rates-a/g", "6Mbps")));
    }

    #[test]
    fn property_names_take_other_printable_ascii_that_is_no_delimiter() {
        for name in [
            "a+b", "x*", "p%", "k,v", "at@host", "a'b", "a<b>", "a|b", "a&b", "a~b", "a^b",
        ] {
            let config = parse(&format!("/x add {name}=1")).unwrap();
            assert_eq!(
                config.menus[0].commands[0].props.get(name),
                Some("1"),
                "{name}"
            );
            round_trips(&config);
        }
    }

    #[test]
    fn property_names_reject_delimiters_specials_and_non_ascii() {
        // The scripting manual's delimiters `() [] {} : ; $`, and `?` `#` `!` inside a name.
        for name in [
            "a:b", "a$b", "a(b", "a)b", "a{b", "a}b", "a?b", "a#b", "a!b", "naïve", "a\u{1}b",
            "a\u{7f}b",
        ] {
            let e = parse(&format!("/x\nadd {name}=1")).unwrap_err();
            // A control character is shown escaped: the message stays one printable line.
            let shown: String = name
                .chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            assert_eq!(
                e.to_string(),
                format!("export:2:5: invalid property name `{shown}`"),
                "{name:?}"
            );
        }
        // `[`, `]`, `;` and whitespace end the word before the `=`.
        let e = parse("/x\nadd a[b=1").unwrap_err();
        assert_eq!(e.to_string(), "export:2:6: unexpected `[`");
        let e = parse("/x\nadd \"a b\"=1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "export:2:5: expected property=value, found `a b=1`"
        );
        assert!(!is_property_name("!"));
        assert!(!is_property_name("!!a"));
        assert!(is_property_name("!a/b"));
    }

    #[test]
    fn hex_escapes_take_upper_case_digits_only() {
        let c = one("/x add a=\"\\48\\49\\_\\7E\"");
        assert_eq!(c.props.get("a"), Some("HI ~"));
        let e = parse("/x\nadd a=\"\\4f\"").unwrap_err();
        assert_eq!(e.to_string(), "export:2:8: invalid escape `\\4f`");
    }

    #[test]
    fn semicolons_separate_commands() {
        // A terse line (`/ip dns set ...`) does not change the current menu, as in the console.
        let config = parse("/ip address; add address=10.0.0.1/24 ; add address=10.0.0.2/24\n/ip dns; set servers=1.1.1.1;set allow-remote-requests=no\n/ip route add gateway=1.1.1.1; add gateway=2.2.2.2").unwrap();
        assert_eq!(config.commands("/ip/route").count(), 1);
        assert_eq!(config.commands("/ip/address").count(), 2);
        assert_eq!(config.commands("/ip/dns").count(), 3);
        // Inside quotes a `;` is text, and the printer quotes it.
        let c = one("/x add a=\"b;c\"");
        assert_eq!(c.props.get("a"), Some("b;c"));
        assert_eq!(format_command(&c), "add a=\"b;c\"");
    }

    #[test]
    fn a_lone_cr_ends_a_line() {
        // The scripting manual's physical lines end with LF, CR LF or CR (old Mac files).
        let config = parse("/ip address\radd address=10.0.0.1/24\r\rfrob").unwrap_err();
        assert_eq!(config.to_string(), "export:4:1: unknown command `frob`");
        let config = parse("/x\radd a=\"b\\\r    c\"\r").unwrap();
        assert_eq!(config.menus[0].commands[0].props.get("a"), Some("bc"));
        let e = parse("/x\nadd a=\"b\rc\"").unwrap_err();
        assert_eq!(e.to_string(), "export:2:7: unterminated string");
    }

    #[test]
    fn script_commands_are_rejected_with_their_line() {
        let e = parse("/system identity\nset name=R1\n:delay 5s\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "export:3:1: script command `:delay` is not configuration (only menu commands are read)"
        );
        // A script inside a quoted value is just text.
        let c = one("/system script add name=x source=\":put \\\"hi\\\"; :delay 1s\"");
        assert_eq!(c.props.get("source"), Some(":put \"hi\"; :delay 1s"));
    }

    #[test]
    fn find_where_is_find() {
        let a = one("/interface set [ find where default-name=ether1 ] name=wan");
        let b = one("/interface set [find default-name=ether1] name=wan");
        assert_eq!(a, b);
        let c = one("/certificate remove [ find ]");
        assert_eq!(c.selector, Some(Selector::Find(Props::new())));
        let c = one("/ip firewall filter remove 3");
        assert_eq!(
            (c.verb, c.selector),
            (Verb::Remove, Some(Selector::Item("3".into())))
        );
    }

    #[test]
    fn control_bytes_in_the_header_round_trip() {
        // Regression (corpus mutation proptest, CI): a NUL in `# ... by RouterOS 7.18` or in
        // `# model = ...` was kept in the header, then printed as a space (a comment has no
        // escapes), so parse → print → parse gave `7.` / another model.
        for input in [
            "# 2024-01-01 by RouterOS 7.\u{0}18\n/ip dns set a=b",
            "# by RouterOS 7.18\u{1b}x\n/ip dns set a=b",
            "# model = CCR\u{0}2004\n/ip dns set a=b",
            "# model = CCR\t2004 \u{7f}\n/ip dns set a=b",
            "# model = \u{0}\n/ip dns set a=b",
            "# model = RouterOS 7\n/ip dns set a=b",
            "# by RouterOS \u{0}\n/ip dns set a=b",
        ] {
            let config = parse(input).unwrap();
            round_trips(&config);
        }
        let config = parse("# by RouterOS 7.\u{0}18\n# model = CCR\u{0}2004\n/x set a=b").unwrap();
        assert_eq!(config.header.routeros_version.as_deref(), Some("7."));
        assert_eq!(config.header.model.as_deref(), Some("CCR 2004"));
        let config = parse("# model = RouterOS 7\n# by RouterOS 6.49\n/x set a=b").unwrap();
        assert_eq!(config.header.model.as_deref(), Some("RouterOS 7"));
        assert_eq!(config.header.routeros_version.as_deref(), Some("6.49"));
    }

    #[test]
    fn control_bytes_in_values_names_and_items_round_trip_or_fail_with_a_line() {
        for byte in (0u8..0x20).chain([0x7f]) {
            let c = char::from(byte);
            for input in [
                format!("/x\nadd a=b{c}c"),
                format!("/x\nadd a=\"b{c}c\""),
                format!("/x\nset it{c}em a=1"),
                format!("/x\nadd a{c}b=1"),
                format!("/x\nadd fl{c}ag a=1"),
                format!("/x\nset [ find a=b{c} ] c=d"),
                format!("/x y{c}z\nadd a=1"),
                format!("/insta\\{}ce\nadd a=1", char::from(b'n' + byte % 2)),
                format!("/x/\"y{c}z\"\nadd a=1"),
            ] {
                match parse(&input) {
                    Ok(config) => round_trips(&config),
                    Err(e) => {
                        let line = e.to_string();
                        assert!(!line.contains('\n'), "{line:?}");
                        assert!(e.line >= 1, "{line}");
                    }
                }
            }
        }
    }
}
