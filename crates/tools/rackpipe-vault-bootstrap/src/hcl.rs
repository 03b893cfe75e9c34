//! ACL policy HCL: rendering from the site's `paths` map, and a syntax check of raw HCL so a
//! broken policy fails at plan time, before anything is written.

use std::collections::BTreeMap;

use rackpipe_model::vault::Capability;

/// Renders `path "<p>" { capabilities = [...] }` blocks, sorted by path, deterministic.
#[must_use]
pub fn render_policy(paths: &BTreeMap<String, Vec<Capability>>) -> String {
    let mut out = String::new();
    for (i, (path, caps)) in paths.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut caps: Vec<&'static str> = caps.iter().map(|c| capability_name(*c)).collect();
        caps.sort_unstable();
        caps.dedup();
        let list = caps
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "path \"{}\" {{\n  capabilities = [{list}]\n}}\n",
            escape(path)
        ));
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The HCL spelling of a capability.
#[must_use]
pub fn capability_name(c: Capability) -> &'static str {
    match c {
        Capability::Create => "create",
        Capability::Read => "read",
        Capability::Update => "update",
        Capability::Patch => "patch",
        Capability::Delete => "delete",
        Capability::List => "list",
        Capability::Sudo => "sudo",
        Capability::Deny => "deny",
    }
}

const CAPABILITIES: &[&str] = &[
    "create",
    "read",
    "update",
    "patch",
    "delete",
    "list",
    "sudo",
    "deny",
    "subscribe",
    "recover",
];
const PATH_KEYS: &[&str] = &[
    "policy",
    "capabilities",
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
    "mfa_methods",
    "control_group",
    "subscribe_event_types",
    "pagination_limit",
    "list_scan_response_keys_filter_path",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num,
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let start = line;
                i += 2;
                loop {
                    if i + 1 >= chars.len() {
                        return Err(format!("line {start}: unterminated comment"));
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    if chars[i] == '*' && chars[i + 1] == '/' {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
            }
            '"' => {
                let start = line;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None | Some('\n') => {
                            return Err(format!("line {start}: unterminated string"));
                        }
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Str(s), start));
            }
            '{' | '}' | '[' | ']' | '=' | ',' => {
                out.push((Tok::Punct(c), line));
                i += 1;
            }
            c if c.is_ascii_digit() || c == '-' => {
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '-')
                {
                    i += 1;
                }
                out.push((Tok::Num, line));
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut s = String::new();
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-')
                {
                    s.push(chars[i]);
                    i += 1;
                }
                out.push((Tok::Ident(s), line));
            }
            other => return Err(format!("line {line}: unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map_or(1, |(_, l)| *l)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(t, _)| t.clone());
        self.pos += 1;
        t
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        let line = self.line();
        match self.next() {
            Some(Tok::Punct(p)) if p == c => Ok(()),
            other => Err(format!(
                "line {line}: expected `{c}`, found {}",
                describe(other.as_ref())
            )),
        }
    }

    /// body := item* ; item := key label* ('{' body '}' | '=' value)
    fn body(&mut self, depth: usize, in_block: Option<&str>) -> Result<(), String> {
        loop {
            match self.peek() {
                None => {
                    return if depth == 0 {
                        Ok(())
                    } else {
                        Err(format!("line {}: missing `}}`", self.line()))
                    };
                }
                Some(Tok::Punct('}')) if depth > 0 => return Ok(()),
                _ => {}
            }
            let line = self.line();
            let key = match self.next() {
                Some(Tok::Ident(k) | Tok::Str(k)) => k,
                other => {
                    return Err(format!(
                        "line {line}: expected a key, found {}",
                        describe(other.as_ref())
                    ));
                }
            };
            let mut labels = Vec::new();
            while let Some(Tok::Str(l)) = self.peek() {
                labels.push(l.clone());
                self.pos += 1;
            }
            match (depth, in_block) {
                (0, _) if key != "path" && key != "name" => {
                    return Err(format!(
                        "line {line}: unknown top-level key {key:?} (expected `path`)"
                    ));
                }
                (1, Some("path")) if !PATH_KEYS.contains(&key.as_str()) => {
                    return Err(format!("line {line}: unknown key {key:?} in a path block"));
                }
                _ => {}
            }
            match self.next() {
                Some(Tok::Punct('{')) => {
                    if depth == 0 && labels.len() != 1 {
                        return Err(format!("line {line}: `path` needs exactly one quoted path"));
                    }
                    self.body(depth + 1, Some(&key))?;
                    self.expect('}')?;
                }
                Some(Tok::Punct('=')) => {
                    let line = self.line();
                    let values = self.value()?;
                    if key == "capabilities" {
                        for v in values {
                            if !CAPABILITIES.contains(&v.as_str()) {
                                return Err(format!("line {line}: unknown capability {v:?}"));
                            }
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "line {line}: expected `{{` or `=` after {key:?}, found {}",
                        describe(other.as_ref())
                    ));
                }
            }
        }
    }

    /// Returns the string elements of a list value (for capability checks).
    fn value(&mut self) -> Result<Vec<String>, String> {
        let line = self.line();
        match self.next() {
            Some(Tok::Str(s)) => Ok(vec![s]),
            Some(Tok::Num | Tok::Ident(_)) => Ok(Vec::new()),
            Some(Tok::Punct('[')) => {
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(&Tok::Punct(']')) {
                        self.pos += 1;
                        return Ok(items);
                    }
                    items.extend(self.value()?);
                    match self.next() {
                        Some(Tok::Punct(',')) => {}
                        Some(Tok::Punct(']')) => return Ok(items),
                        other => {
                            return Err(format!(
                                "line {line}: expected `,` or `]` in a list, found {}",
                                describe(other.as_ref())
                            ));
                        }
                    }
                }
            }
            Some(Tok::Punct('{')) => {
                self.body(2, None)?;
                self.expect('}')?;
                Ok(Vec::new())
            }
            other => Err(format!(
                "line {line}: expected a value, found {}",
                describe(other.as_ref())
            )),
        }
    }
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "end of input".to_owned(),
        Some(Tok::Ident(s)) => format!("{s:?}"),
        Some(Tok::Str(s)) => format!("string {s:?}"),
        Some(Tok::Num) => "a number".to_owned(),
        Some(Tok::Punct(c)) => format!("`{c}`"),
    }
}

/// Checks the syntax of an ACL policy (the subset Vault accepts: `path "..." { ... }` blocks
/// with known keys and capabilities). Returns a one-line message with the line number.
///
/// # Errors
/// The first problem found.
pub fn check_policy(text: &str) -> Result<(), String> {
    let toks = tokenize(text)?;
    let mut parser = Parser { toks, pos: 0 };
    parser.body(0, None)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rendered_policies_pass_the_check() {
        let mut paths = BTreeMap::new();
        paths.insert(
            "kv/data/ci/*".to_owned(),
            vec![Capability::Read, Capability::List, Capability::Read],
        );
        paths.insert("pki_int/issue/web".to_owned(), vec![Capability::Update]);
        let text = render_policy(&paths);
        assert_eq!(
            text,
            "path \"kv/data/ci/*\" {\n  capabilities = [\"list\", \"read\"]\n}\n\npath \"pki_int/issue/web\" {\n  capabilities = [\"update\"]\n}\n"
        );
        check_policy(&text).unwrap();
    }

    #[test]
    fn accepts_parameters_and_comments() {
        let text = "# ci\npath \"kv/*\" {\n  capabilities = [\"create\", \"read\",]\n  allowed_parameters = {\n    \"foo\" = []\n    \"*\" = [\"a\"]\n  }\n  min_wrapping_ttl = \"1s\"\n}\n/* x */ path \"a\" { capabilities = [\"deny\"] }\n";
        check_policy(text).unwrap();
    }

    #[test]
    fn rejects_broken_policies_with_a_line() {
        for (text, want) in [
            ("path \"a\" {\n capabilities = [\"read\"\n", "line 2"),
            (
                "path \"a\" {\n capabilities = [\"reed\"]\n}",
                "unknown capability \"reed\"",
            ),
            ("path \"a\" {\n capabilities = [\"read\"]\n", "missing `}`"),
            ("path \"a { }", "unterminated string"),
            ("paths \"a\" { }", "unknown top-level key"),
            (
                "path \"a\" {\n capabilitys = []\n}",
                "unknown key \"capabilitys\"",
            ),
            ("path { capabilities = [] }", "exactly one quoted path"),
        ] {
            let err = check_policy(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = check_policy(&text);
        }

        #[test]
        fn never_panics_on_hclish(text in "[a-z\"{}\\[\\]=, \n#/*]{0,120}") {
            let _ = check_policy(&text);
        }
    }
}
