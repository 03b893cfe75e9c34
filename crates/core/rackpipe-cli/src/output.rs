//! Documents as text for humans: what `--format text` prints instead of the JSON document.
//!
//! - A **plan** reads like OpenTofu's: one line per change (`+` create, `~` update or move,
//!   `-` delete), under it the fields that change, `before -> after` (a create lists the new
//!   values, a delete the old ones), a file change's diff, and last a summary line
//!   (`TOOL: 2 to create, 1 to update, 0 to delete.`).
//! - An **apply result**: what was applied, the same way, and the counts.
//! - A **render output**: the files, one line each (host, path, mode, size).
//! - An **error**: nothing on stdout; its one line is already on stderr.
//! - Any other document: its fields, one `path: value` line each.
//!
//! Secrets are withheld: a field whose name marks a secret (password, secret, token, key
//! material, ...) or whose value is a PEM private key is shown as `(sensitive value)`, and
//! `name=value` words of commands are masked the same way; values the producers already
//! redacted stay as they are. Colour ([`Style`]) only when the stream is a terminal and
//! `NO_COLOR` is unset or empty (<https://no-color.org>).

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::IsTerminal as _;

use std::sync::OnceLock;

use rackpipe_model::documents::{Action, ApplyResult, Change, ChangeCounts, Plan, RenderOutput};
use serde_json::Value;

use crate::Format;

/// The `--format` of this process's command line, set once by [`crate::main`] after parsing.
static FORMAT: OnceLock<Format> = OnceLock::new();

/// Records the command line's `--format` for [`crate::emit`] (the first call wins).
pub(crate) fn set_format(format: Format) {
    let _ = FORMAT.set(format);
}

/// The `--format` [`crate::emit`] writes in: JSON until [`crate::main`] has parsed the
/// command line.
#[must_use]
pub fn format() -> Format {
    FORMAT.get().copied().unwrap_or_default()
}

/// Whether text is coloured (ANSI SGR codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Colour on.
    pub color: bool,
}

impl Style {
    /// No colour (files, pipes, tests).
    pub const PLAIN: Self = Self { color: false };

    /// Colour for stdout: on a terminal, unless `NO_COLOR` says no.
    #[must_use]
    pub fn stdout() -> Self {
        Self {
            color: wants_color(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ),
        }
    }

    /// Colour for stderr: on a terminal, unless `NO_COLOR` says no.
    #[must_use]
    pub fn stderr() -> Self {
        Self {
            color: wants_color(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ),
        }
    }

    fn paint(self, sgr: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The no-color.org rule: colour only on a terminal, and never when `NO_COLOR` holds a
/// non-empty value.
#[must_use]
pub fn wants_color(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

const GREEN: &str = "32";
const YELLOW: &str = "33";
const RED: &str = "31";
const CYAN: &str = "36";
const BOLD: &str = "1";

/// Longest value shown in full; longer ones are cut with `…` (the JSON has them whole).
const MAX_VALUE: usize = 100;

/// A plan as text (see the module comment).
#[must_use]
pub fn plan(plan: &Plan, style: Style) -> String {
    let mut text = String::new();
    if plan.changes.is_empty() {
        let _ = writeln!(
            text,
            "{}: no changes: the remote state matches site {}.",
            plan.tool, plan.site
        );
    } else {
        let _ = writeln!(
            text,
            "{}",
            style.paint(BOLD, &format!("{}: plan for site {}", plan.tool, plan.site))
        );
        text.push('\n');
        for change in &plan.changes {
            push_change(&mut text, change, style);
        }
    }
    if !plan.unmanaged.is_empty() {
        text.push('\n');
        for u in &plan.unmanaged {
            let _ = writeln!(
                text,
                "  unmanaged: {u} (left alone; deleted only with --allow-destroy)"
            );
        }
    }
    if !plan.changes.is_empty() || !plan.unmanaged.is_empty() {
        text.push('\n');
    }
    let _ = writeln!(
        text,
        "{}",
        style.paint(BOLD, &summary(&plan.tool, &plan.summary, "to "))
    );
    text
}

/// An apply result as text: each change made, then the counts.
#[must_use]
pub fn apply_result(result: &ApplyResult, style: Style) -> String {
    let mut text = String::new();
    if result.applied.is_empty() {
        let _ = writeln!(
            text,
            "{}: nothing to apply to site {}.",
            result.tool, result.site
        );
    } else {
        let _ = writeln!(
            text,
            "{}",
            style.paint(
                BOLD,
                &format!("{}: applied to site {}", result.tool, result.site)
            )
        );
        text.push('\n');
        for change in &result.applied {
            push_change(&mut text, change, style);
        }
    }
    if !result.applied.is_empty() {
        text.push('\n');
    }
    if !result.facts.is_empty() {
        let names: Vec<&str> = result.facts.keys().map(String::as_str).collect();
        let _ = writeln!(text, "facts for the next tool: {}", names.join(", "));
    }
    let s = &result.summary;
    let line = format!(
        "{}: {} created, {} updated, {} deleted.",
        result.tool, s.create, s.update, s.delete
    );
    let _ = writeln!(text, "{}", style.paint(BOLD, &line));
    text
}

/// A render output as text: one line per file (host, path, mode, size).
#[must_use]
pub fn render_output(output: &RenderOutput, out_dir: Option<&std::path::Path>) -> String {
    let mut text = String::new();
    let where_ = out_dir.map_or_else(String::new, |d| format!(", written under {}", d.display()));
    let _ = writeln!(
        text,
        "{}: {} file{} for site {}{where_}",
        output.tool,
        output.files.len(),
        if output.files.len() == 1 { "" } else { "s" },
        output.site
    );
    let width = output
        .files
        .iter()
        .map(|f| file_name(f).chars().count())
        .max()
        .unwrap_or(0);
    for f in &output.files {
        let _ = writeln!(
            text,
            "  {:<width$}  {}  {}",
            file_name(f),
            f.mode,
            size(f.content.len())
        );
    }
    if output.desired.is_some() {
        let _ = writeln!(text, "  (and the desired state as data: --format json)");
    }
    text
}

fn file_name(f: &rackpipe_model::documents::RenderedFile) -> String {
    if f.host.is_empty() {
        f.path.clone()
    } else {
        format!("{}:{}", f.host, f.path)
    }
}

fn size(bytes: usize) -> String {
    if bytes < 10 * 1024 {
        format!("{bytes} B")
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

/// Any document as text, chosen by its `kind`: what [`crate::emit`] prints under
/// `--format text`. Empty for an `Error` (its line is already on stderr).
#[must_use]
pub fn document(value: &Value, style: Style) -> String {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let named = with_site_name(value);
    let typed = match kind {
        "Plan" => serde_json::from_value::<Plan>(named)
            .ok()
            .map(|p| plan(&p, style)),
        "ApplyResult" => serde_json::from_value::<ApplyResult>(named)
            .ok()
            .map(|r| apply_result(&r, style)),
        "RenderOutput" => serde_json::from_value::<RenderOutput>(named)
            .ok()
            .map(|r| render_output(&r, None)),
        "Error" => Some(String::new()),
        _ => None,
    };
    typed.unwrap_or_else(|| generic(value))
}

/// The document with `site` as the site's name: a document that embeds the whole site for
/// the next tool (pve-sync's apply result) names it in `site_name` or the site's metadata.
fn with_site_name(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(map) = value.as_object_mut()
        && let Some(site) = map.get("site").filter(|s| !s.is_string())
    {
        let name = map
            .get("site_name")
            .and_then(Value::as_str)
            .or_else(|| site.pointer("/metadata/name").and_then(Value::as_str))
            .unwrap_or("")
            .to_owned();
        map.insert("site".to_owned(), Value::String(name));
        map.remove("site_name");
    }
    value
}

/// A document without a text form of its own: a header, then one `path: value` line per
/// field (objects flattened with dots, lists of objects numbered), secrets withheld.
fn generic(value: &Value) -> String {
    let mut text = String::new();
    let tool = value.get("tool").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    match (tool, kind) {
        (Some(t), Some(k)) => {
            let _ = writeln!(text, "{t}: {k}");
        }
        (None, Some(k)) => {
            let _ = writeln!(text, "{k}");
        }
        _ => {}
    }
    let value = &with_site_name(value);
    let mut lines = Vec::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if matches!(k.as_str(), "apiVersion" | "kind" | "tool") {
                    continue;
                }
                flatten_lines(k, v, &mut lines);
            }
        }
        other => flatten_lines("", other, &mut lines),
    }
    for (path, shown) in lines {
        if path.is_empty() {
            let _ = writeln!(text, "  {shown}");
        } else {
            let _ = writeln!(text, "  {path}: {shown}");
        }
    }
    text
}

fn flatten_lines(path: &str, value: &Value, out: &mut Vec<(String, String)>) {
    if is_secret_name(path) {
        out.push((path.to_owned(), SENSITIVE.to_owned()));
        return;
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten_lines(&join(k), v, out);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (i, item) in items.iter().enumerate() {
                flatten_lines(&format!("{path}[{i}]"), item, out);
            }
        }
        other => out.push((path.to_owned(), show(path, other))),
    }
}

/// `TOOL: 2 to create, 1 to update, 0 to delete.`
fn summary(tool: &str, s: &ChangeCounts, verb_prefix: &str) -> String {
    format!(
        "{tool}: {} {verb_prefix}create, {} {verb_prefix}update, {} {verb_prefix}delete.",
        s.create, s.update, s.delete
    )
}

fn push_change(text: &mut String, change: &Change, style: Style) {
    let (symbol, color) = match change.action {
        Action::Create => ("+", GREEN),
        Action::Update => ("~", YELLOW),
        Action::Move => ("~", YELLOW),
        Action::Delete => ("-", RED),
    };
    let what = match change.action {
        Action::Move => format!("{} (moved)", change.resource),
        _ => change.resource.clone(),
    };
    let _ = writeln!(
        text,
        "  {} {}  ({})",
        style.paint(color, symbol),
        what,
        change.target
    );
    let fields = field_lines(change);
    let width = fields
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    for (key, shown) in &fields {
        let _ = writeln!(text, "      {key:<width$} {shown}", key = format!("{key}:"));
    }
    if let Some(diff) = &change.diff {
        for line in diff.lines() {
            let _ = writeln!(text, "      {}", diff_line(line, style).trim_end());
        }
    }
    if fields.is_empty() && change.diff.is_none() {
        for command in &change.commands {
            let _ = writeln!(text, "      {}", mask_command(command));
        }
    }
}

fn diff_line(line: &str, style: Style) -> String {
    if line.contains("PRIVATE KEY") {
        return SENSITIVE.to_owned();
    }
    if line.starts_with("+++") || line.starts_with("---") {
        style.paint(BOLD, line)
    } else if line.starts_with('+') {
        style.paint(GREEN, line)
    } else if line.starts_with('-') {
        style.paint(RED, line)
    } else if line.starts_with("@@") {
        style.paint(CYAN, line)
    } else {
        line.to_owned()
    }
}

const SENSITIVE: &str = "(sensitive value)";

/// The field lines of a change: `(name, shown value)`. An update lists the fields that
/// differ as `before -> after`; a create the new values; a delete the old ones. A file
/// change whose diff is given shows no whole-content values.
fn field_lines(change: &Change) -> Vec<(String, String)> {
    let whole_text = |v: &Option<Value>| matches!(v, None | Some(Value::String(_)));
    if change.diff.is_some() && whole_text(&change.before) && whole_text(&change.after) {
        return Vec::new();
    }
    if change.action == Action::Move
        && let Some(before) = change.after.as_ref().and_then(|a| a.get("before"))
    {
        return vec![("before".to_owned(), show("before", before))];
    }
    let before = change.before.as_ref().map(flatten).unwrap_or_default();
    let after = change.after.as_ref().map(flatten).unwrap_or_default();
    let mut out = Vec::new();
    match (&change.before, &change.after) {
        (None, None) => {}
        (None, Some(_)) => {
            for (k, v) in &after {
                out.push((k.clone(), show(k, v)));
            }
        }
        (Some(_), None) => {
            for (k, v) in &before {
                out.push((k.clone(), show(k, v)));
            }
        }
        (Some(_), Some(_)) => {
            let mut keys: Vec<&String> = after.iter().map(|(k, _)| k).collect();
            for (k, _) in &before {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            let get = |list: &[(String, Value)], k: &str| {
                list.iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            for k in keys {
                let b = get(&before, k);
                let a = get(&after, k);
                if b == a {
                    continue;
                }
                let b = b.map_or_else(|| "(none)".to_owned(), |v| show(k, &v));
                let a = a.map_or_else(|| "(none)".to_owned(), |v| show(k, &v));
                let shown = if b == SENSITIVE || a == SENSITIVE {
                    format!("{SENSITIVE} changed")
                } else {
                    format!("{b} -> {a}")
                };
                out.push((k.clone(), shown));
            }
        }
    }
    out
}

/// An object's leaves as `(dotted.path, value)` in document order; a list or a scalar is a
/// leaf. A value that is not an object is one leaf named `value`.
fn flatten(value: &Value) -> Vec<(String, Value)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            other => out.push((
                if prefix.is_empty() { "value" } else { prefix }.to_owned(),
                other.clone(),
            )),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// A value for one line: JSON (strings quoted), `(none)` for null, a multi-line string as
/// its line count, long values cut; a secret's value never.
fn show(name: &str, value: &Value) -> String {
    if is_secret_name(name) {
        return SENSITIVE.to_owned();
    }
    match value {
        Value::Null => "(none)".to_owned(),
        Value::String(s) if s.contains("PRIVATE KEY") => SENSITIVE.to_owned(),
        Value::String(s) if s.contains('\n') => {
            format!("({} lines)", s.lines().count())
        }
        other => {
            let text = other.to_string();
            if text.chars().count() > MAX_VALUE {
                let cut: String = text.chars().take(MAX_VALUE).collect();
                format!("{cut}…")
            } else {
                text
            }
        }
    }
}

/// Whether a field name (the last part of a dotted path) marks a secret: a word of it is, or
/// contains, password, passwd, passphrase, secret, token or credential, or is key material
/// (`key`, `keys`, `psk`, `private`, `privkey`): `tls_key`, `unseal_keys`, `secret_id`,
/// `root_token`. Not when the last word says the value is about the secret rather than the
/// secret itself (`token_ttl`, `token_policies`, `key_type`, `key_bits`, `tls_key_file`,
/// `key_id`, `ssh_key_fingerprint`).
#[must_use]
pub fn is_secret_name(path: &str) -> bool {
    let last = path
        .rsplit(['.', '['])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    let words: Vec<&str> = last
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    const CONTAINED: [&str; 6] = [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "credential",
    ];
    const WORDS: [&str; 5] = ["key", "keys", "psk", "private", "privkey"];
    const ABOUT: [&str; 22] = [
        "ttl",
        "policies",
        "policy",
        "type",
        "period",
        "uses",
        "cidrs",
        "name",
        "names",
        "file",
        "files",
        "path",
        "paths",
        "fingerprint",
        "env",
        "ref",
        "mount",
        "role",
        "length",
        "bits",
        "algorithm",
        "usage",
    ];
    let marked = words
        .iter()
        .any(|w| CONTAINED.iter().any(|m| w.contains(m)) || WORDS.contains(w));
    if !marked {
        return false;
    }
    match words.as_slice() {
        [.., tail] if ABOUT.contains(tail) => false,
        [.., before, "id" | "ids"] if matches!(*before, "key" | "keys") => false,
        _ => true,
    }
}

/// A command with the value of every `name=value` word whose name marks a secret replaced.
fn mask_command(command: &str) -> String {
    command
        .split(' ')
        .map(|word| match word.split_once('=') {
            Some((name, _)) if is_secret_name(name) => format!("{name}={SENSITIVE}"),
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_terminal_and_no_color() {
        assert!(wants_color(true, None));
        assert!(
            wants_color(true, Some(OsStr::new(""))),
            "empty NO_COLOR is unset"
        );
        assert!(!wants_color(true, Some(OsStr::new("1"))));
        assert!(!wants_color(false, None));
        assert_eq!(Style::PLAIN.paint(GREEN, "+"), "+");
        assert_eq!(Style { color: true }.paint(GREEN, "+"), "\x1b[32m+\x1b[0m");
    }

    #[test]
    fn secret_names() {
        for secret in [
            "password",
            "auth.password",
            "root_token",
            "client_secret",
            "tls_key",
            "key",
            "unseal_keys",
            "key_pem",
            "private_key",
            "psk",
            "data.credentials",
            "guests[0].passphrase",
            "secret_id",
            "ssh_private_key",
            "rootpassword",
        ] {
            assert!(is_secret_name(secret), "{secret}");
        }
        for plain in [
            "name",
            "key_id",
            "keys_file",
            "monkey",
            "keyspace",
            "sshkeys",
            "token_ttl",
            "token_policies",
            "key_type",
            "key_bits",
            "secret_id_ttl",
            "vmid",
        ] {
            assert!(!is_secret_name(plain), "{plain}");
        }
    }

    #[test]
    fn commands_and_values_withhold_secrets() {
        assert_eq!(
            mask_command("/user add name=ops password=hunter2 group=full"),
            "/user add name=ops password=(sensitive value) group=full"
        );
        let pem = Value::String("-----BEGIN PRIVATE KEY-----\nMII\n".into());
        assert_eq!(show("pem", &pem), SENSITIVE);
        assert_eq!(show("token", &Value::String("s.abc".into())), SENSITIVE);
        assert_eq!(show("x", &Value::String("a\nb\n".into())), "(2 lines)");
    }
}
