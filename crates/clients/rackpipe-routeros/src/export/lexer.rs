//! The lexer of `/export` text: lines, continuations, quoted strings and their escapes,
//! `[`/`]` and words, each token with its 1-based line and column.

use super::{LexResult, ParseErrorKind, Pos};

#[derive(Debug)]
pub(super) enum TokKind {
    Open,
    Close,
    Word {
        /// Decoded bytes.
        text: Vec<u8>,
        /// Index in `text` of the first `=` outside quotes and before any quote.
        eq: Option<usize>,
        /// Whether any part was quoted.
        quoted: bool,
    },
}

#[derive(Debug)]
pub(super) struct Token {
    pub(super) kind: TokKind,
    pub(super) pos: Pos,
}

impl Token {
    /// A plain word: unquoted, no `=`.
    pub(super) fn bare(&self) -> Option<String> {
        match &self.kind {
            TokKind::Word {
                text,
                eq: None,
                quoted: false,
            } => Some(bytes_to_string(text)),
            _ => None,
        }
    }

    pub(super) fn display(&self) -> String {
        match &self.kind {
            TokKind::Open => "[".to_owned(),
            TokKind::Close => "]".to_owned(),
            TokKind::Word { text, .. } => bytes_to_string(text),
        }
    }
}

pub(super) enum LineItem {
    Comment(String),
    Tokens(Vec<Token>),
}

/// Decodes bytes as UTF-8, or one byte per character (Latin-1) when they are not UTF-8.
pub(super) fn bytes_to_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

pub(super) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
    col: u32,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a [u8]) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            col: 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.src.get(self.pos + offset).copied()
    }

    fn here(&self) -> Pos {
        (self.line, self.col)
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        // LF, CRLF (counted at its LF) and a lone CR (old Mac) each end a physical line.
        if b == b'\n' || (b == b'\r' && self.peek() != Some(b'\n')) {
            self.line += 1;
            self.col = 1;
        } else if b & 0xC0 != 0x80 {
            self.col += 1;
        }
        Some(b)
    }

    /// Whether a backslash-newline continuation starts here (`\` then LF, CRLF, CR or the end).
    fn at_continuation(&self) -> bool {
        self.peek() == Some(b'\\') && matches!(self.peek_at(1), None | Some(b'\n' | b'\r'))
    }

    /// Consumes `\`, the line end and up to 4 leading spaces of the next line.
    fn skip_continuation(&mut self) {
        self.bump();
        if self.peek() == Some(b'\r') {
            self.bump();
        }
        if self.peek() == Some(b'\n') {
            self.bump();
        }
        for _ in 0..4 {
            if self.peek() != Some(b' ') {
                break;
            }
            self.bump();
        }
    }

    pub(super) fn next_line(&mut self) -> LexResult<Option<LineItem>> {
        let mut tokens = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Ok((!tokens.is_empty()).then_some(LineItem::Tokens(tokens)));
            };
            match b {
                b' ' | b'\t' => {
                    self.bump();
                }
                // A physical line ends at LF, CRLF or a lone CR; `;` ends a command too.
                b'\n' | b'\r' | b';' => {
                    self.bump();
                    if b == b'\r' && self.peek() == Some(b'\n') {
                        self.bump();
                    }
                    if !tokens.is_empty() {
                        return Ok(Some(LineItem::Tokens(tokens)));
                    }
                }
                b'\\' if self.at_continuation() => self.skip_continuation(),
                b'#' if tokens.is_empty() => {
                    let start = self.pos;
                    while let Some(c) = self.peek() {
                        if c == b'\n' || c == b'\r' {
                            break;
                        }
                        self.bump();
                    }
                    let text = String::from_utf8_lossy(&self.src[start..self.pos]);
                    return Ok(Some(LineItem::Comment(
                        text.trim_end_matches('\r').to_owned(),
                    )));
                }
                b'[' => {
                    tokens.push(Token {
                        kind: TokKind::Open,
                        pos: self.here(),
                    });
                    self.bump();
                }
                b']' => {
                    tokens.push(Token {
                        kind: TokKind::Close,
                        pos: self.here(),
                    });
                    self.bump();
                }
                _ => tokens.push(self.word()?),
            }
        }
    }

    fn word(&mut self) -> LexResult<Token> {
        let pos = self.here();
        let mut text = Vec::new();
        let mut eq = None;
        let mut quoted = false;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b';' | b'[' | b']' => break,
                b'\\' if self.at_continuation() => self.skip_continuation(),
                b'\\' => self.escape(&mut text)?,
                b'"' => {
                    quoted = true;
                    self.quoted(&mut text)?;
                }
                b'=' if eq.is_none() && !quoted => {
                    eq = Some(text.len());
                    text.push(b'=');
                    self.bump();
                }
                _ => {
                    text.push(b);
                    self.bump();
                }
            }
        }
        Ok(Token {
            kind: TokKind::Word { text, eq, quoted },
            pos,
        })
    }

    fn quoted(&mut self, text: &mut Vec<u8>) -> LexResult<()> {
        let start = self.here();
        self.bump();
        loop {
            match self.peek() {
                None | Some(b'\n' | b'\r') => {
                    return Err((start, ParseErrorKind::UnterminatedString));
                }
                Some(b'"') => {
                    self.bump();
                    return Ok(());
                }
                Some(b'\\') if self.at_continuation() => self.skip_continuation(),
                Some(b'\\') => self.escape(text)?,
                Some(b) => {
                    text.push(b);
                    self.bump();
                }
            }
        }
    }

    /// Decodes one escape (the lexer is on the backslash, which is not a continuation).
    fn escape(&mut self, text: &mut Vec<u8>) -> LexResult<()> {
        let pos = self.here();
        self.bump();
        let Some(c) = self.peek() else {
            return Ok(());
        };
        let decoded = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'$' => b'$',
            b'?' => b'?',
            b'_' => b' ',
            b'a' => 0x07,
            b'b' => 0x08,
            b'f' => 0x0C,
            b'v' => 0x0B,
            b'0'..=b'9' | b'A'..=b'F' => {
                match (hex_digit(c), self.peek_at(1).and_then(hex_digit)) {
                    (Some(hi), Some(lo)) => {
                        self.bump();
                        (hi << 4) | lo
                    }
                    _ => return Err((pos, ParseErrorKind::InvalidEscape(self.escape_text()))),
                }
            }
            _ => return Err((pos, ParseErrorKind::InvalidEscape(self.escape_text()))),
        };
        self.bump();
        text.push(decoded);
        Ok(())
    }

    /// Up to two characters after a bad backslash, for the error message.
    fn escape_text(&self) -> String {
        let rest = &self.src[self.pos..];
        let s = String::from_utf8_lossy(&rest[..rest.len().min(4)]);
        s.chars().take(2).filter(|c| !c.is_control()).collect()
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
