//! A site as YAML a person would write (what the tools' `import` verbs print): block style,
//! the model's field order, short lists of scalars in flow style (`[10, 20]`), plain scalars
//! where YAML reads them back as the same string, and a `# comment` above every place the
//! import made a choice.

mod merge;

use std::collections::HashMap;
use std::fmt::Write as _;

pub use merge::{MergeError, merge, splice};

use crate::Site;
use serde_json::{Map, Value};

/// Whether `s` can be written unquoted and reads back as the same string.
fn plain(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", ".nan",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '_' || first == '/')
        || s.ends_with(' ')
        || s.contains("  ")
        || RESERVED.contains(&s.to_ascii_lowercase().as_str())
    {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./@+- ".contains(c))
    {
        return false;
    }
    // Numbers, dates and versions (`7.18`, `2024-01-01`, `1_000`, `0x1F`, `1e5`).
    let numberish = first.is_ascii_digit()
        && s.chars().filter(|c| *c == '.').count() <= 1
        && s.chars()
            .all(|c| c.is_ascii_digit() || "._+-eE".contains(c));
    let radix = s.len() > 2 && first == '0' && matches!(s.as_bytes()[1], b'x' | b'o' | b'b');
    !(numberish || radix || s.parse::<f64>().is_ok())
}

/// `s` as a YAML scalar: plain when safe, else double-quoted with escapes.
fn scalar(s: &str) -> String {
    if plain(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn leaf(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("null".to_owned()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(scalar(s)),
        Value::Array(a) if a.is_empty() => Some("[]".to_owned()),
        Value::Object(o) if o.is_empty() => Some("{}".to_owned()),
        Value::Array(a) if a.iter().all(|x| !x.is_array() && !x.is_object()) => {
            let items: Vec<String> = a.iter().filter_map(leaf).collect();
            let line = format!("[{}]", items.join(", "));
            (line.len() <= 72).then_some(line)
        }
        _ => None,
    }
}

/// One comment line: control characters would end it and start YAML.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

struct Writer<'c> {
    out: String,
    comments: &'c HashMap<String, Vec<String>>,
}

impl Writer<'_> {
    fn comments_at(&mut self, path: &str, indent: usize) {
        if let Some(lines) = self.comments.get(path) {
            for line in lines {
                let _ = writeln!(self.out, "{:indent$}# {}", "", comment_text(line));
            }
        }
    }

    fn map(&mut self, map: &Map<String, Value>, path: &str, indent: usize) {
        for (k, v) in map {
            let child = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            self.comments_at(&child, indent);
            let key = scalar(k);
            match leaf(v) {
                Some(text) => {
                    let _ = writeln!(self.out, "{:indent$}{key}: {text}", "");
                }
                None => {
                    let _ = writeln!(self.out, "{:indent$}{key}:", "");
                    self.node(v, &child, indent + 2);
                }
            }
        }
    }

    fn node(&mut self, v: &Value, path: &str, indent: usize) {
        match v {
            Value::Object(map) => self.map(map, path, indent),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let child = format!("{path}[{i}]");
                    self.comments_at(&child, indent);
                    match (leaf(item), item) {
                        (Some(text), _) => {
                            let _ = writeln!(self.out, "{:indent$}- {text}", "");
                        }
                        (None, Value::Object(map)) => {
                            let mut inner = Writer {
                                out: String::new(),
                                comments: self.comments,
                            };
                            inner.map(map, &child, indent + 2);
                            let mut dashed = false;
                            for line in inner.out.lines() {
                                if !dashed && !line.trim_start().starts_with('#') {
                                    let _ = writeln!(
                                        self.out,
                                        "{:indent$}- {}",
                                        "",
                                        &line[indent + 2..]
                                    );
                                    dashed = true;
                                } else {
                                    let _ = writeln!(self.out, "{line}");
                                }
                            }
                        }
                        (None, other) => {
                            let _ = writeln!(self.out, "{:indent$}-", "");
                            self.node(other, &child, indent + 2);
                        }
                    }
                }
            }
            other => {
                let _ = writeln!(
                    self.out,
                    "{:indent$}{}",
                    "",
                    leaf(other).unwrap_or_default()
                );
            }
        }
    }
}

/// The model's flags whose default is `true` (`#[serde(default = "default_true")]`): a
/// `false` one is written, since leaving it out would read back as `true`.
const DEFAULT_TRUE: &[&str] = &[
    "unprivileged",
    "running",
    "full",
    "ui",
    "server_flag",
    "enabled",
    "sync",
];

/// Leaves out what a person would not write: empty lists and maps and `false` flags whose
/// default is `false` (the caller checks that the YAML reads back as the same site).
fn strip_defaults(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                strip_defaults(v);
            }
            map.retain(|k, v| match v {
                Value::Bool(b) => *b || DEFAULT_TRUE.contains(&k.as_str()),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            });
        }
        Value::Array(items) => items.iter_mut().for_each(strip_defaults),
        _ => {}
    }
}

/// The site as YAML: `header` as the leading comment, then the document, with `comments`
/// (by site path, `router.bridges[0]`) above their fields. Empty lists and maps and `false`
/// flags are left out (the caller checks that the YAML reads back as the same site).
#[must_use]
pub fn write(site: &Site, comments: &[(String, String)], header: &[String]) -> String {
    let mut by_path: HashMap<String, Vec<String>> = HashMap::new();
    for (path, text) in comments {
        by_path.entry(path.clone()).or_default().push(text.clone());
    }
    let mut value = serde_json::to_value(site).unwrap_or(Value::Null);
    strip_defaults(&mut value);
    let mut w = Writer {
        out: String::new(),
        comments: &by_path,
    };
    for line in header {
        if line.is_empty() {
            w.out.push_str("#\n");
        } else {
            let _ = writeln!(w.out, "# {}", comment_text(line));
        }
    }
    if let Value::Object(map) = &value {
        w.map(map, "", 0);
    }
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_strings() {
        for s in [
            "ether1",
            "10.0.0.1",
            "10.0.0.0/24",
            "Europe/Warsaw",
            "a b",
            "7.18",
            "2024-01-01",
            "yes",
            "No",
            "1e5",
            "0x1F",
            "",
            " lead",
            "a: b",
            "# x",
            "say \"hi\"\n\u{2028}",
            "[x]",
            "-1",
            "BC:24:11:0F:BD:61",
        ] {
            let text = format!("k: {}\n", scalar(s));
            let back = crate::load::parse("t", text.as_bytes())
                .unwrap_or_else(|e| panic!("{text}: {e}"))
                .value;
            assert_eq!(back["k"], Value::String(s.to_owned()), "{text}");
        }
    }
}
