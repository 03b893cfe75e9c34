//! Loading a site document (YAML or JSON) with source positions, then checking it.
//!
//! The text is parsed once into a tree that remembers where every node came from. That tree
//! becomes a `serde_json::Value` (checked against the JSON Schema, which reports *every*
//! violation) and a table from JSON Pointer to line/column, so every later finding, schema or
//! semantic, can name the line of the field it is about.

use std::collections::HashMap;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Position, pointer_to_path};
use crate::site::Site;

mod tree;

use tree::Node;

/// Largest document accepted, in bytes. A site 100× the example is about 1 MiB.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Why a document could not be turned into a [`Site`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not UTF-8 text.
    #[error("{source_name}: not UTF-8 text (binary data?)")]
    NotText {
        /// File name or `<stdin>`.
        source_name: String,
    },
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    #[error("{source_name}: document is {size} bytes, more than the {limit} byte limit")]
    TooLarge {
        /// File name or `<stdin>`.
        source_name: String,
        /// Size seen.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Nothing but white space and comments.
    #[error("{source_name}: empty document")]
    Empty {
        /// File name or `<stdin>`.
        source_name: String,
    },
    /// YAML/JSON syntax error, duplicate key, or a resource limit (alias bomb) hit.
    #[error("{source_name}:{line}:{column}: {message}")]
    Syntax {
        /// File name or `<stdin>`.
        source_name: String,
        /// Line, from 1 (0 when unknown).
        line: u64,
        /// Column, from 1 (0 when unknown).
        column: u64,
        /// What the parser said, in one line.
        message: String,
    },
    /// The document parsed but breaks the schema or the semantic rules.
    #[error("{source_name}: {} (and {} more problems)", first_error(.diagnostics), .diagnostics.iter().filter(|d| d.is_error()).count().saturating_sub(1))]
    Invalid {
        /// File name or `<stdin>`.
        source_name: String,
        /// Every finding, errors and warnings.
        diagnostics: Vec<Diagnostic>,
    },
}

fn first_error(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .find(|d| d.is_error())
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// A site that loaded and passed every check.
#[derive(Debug, Clone)]
pub struct LoadedSite {
    /// The typed model.
    pub site: Site,
    /// The document as JSON (including passed-through sections).
    pub document: Value,
    /// File name or `<stdin>`.
    pub source_name: String,
    /// Warnings found (no errors: those make loading fail), except the acknowledged ones.
    pub warnings: Vec<Diagnostic>,
    /// Warnings the site acknowledges in `metadata.acknowledge`, each with its reason in
    /// [`Diagnostic::acknowledged`]: reported in the validation report, printed only on request.
    pub acknowledged: Vec<Diagnostic>,
    /// When the input was another tool's document embedding the site under `site` (a plan, an
    /// apply result), its other top-level fields (`kind`, `facts`, ...), for the tool to use.
    pub envelope: Option<serde_json::Map<String, Value>>,
}

/// Positions of the nodes of a document, by JSON Pointer.
#[derive(Debug, Clone, Default)]
pub struct Positions(HashMap<String, Position>);

impl Positions {
    /// Position of the node at `pointer`, or of its nearest ancestor that has one.
    #[must_use]
    pub fn lookup(&self, pointer: &str) -> Option<Position> {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.0.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind('/')?;
            p = &p[..cut];
        }
    }
}

/// A parsed document: its JSON value and where each node was.
#[derive(Debug, Clone)]
pub struct ParsedDocument {
    /// The value.
    pub value: Value,
    /// Node positions.
    pub positions: Positions,
    /// The other fields of an envelope document (see [`LoadedSite::envelope`]).
    pub envelope: Option<serde_json::Map<String, Value>>,
}

impl ParsedDocument {
    /// A rackpipe document of another kind that embeds a site under `site` (so `a | b` works)
    /// becomes that site, its other fields kept as the envelope.
    fn unwrap_envelope(mut self) -> Self {
        let is_envelope = self
            .value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != "Site")
            && self.value.get("site").is_some_and(Value::is_object);
        if !is_envelope {
            return self;
        }
        let Value::Object(mut fields) = std::mem::take(&mut self.value) else {
            return self;
        };
        let site = fields.remove("site").unwrap_or_default();
        let positions = self
            .positions
            .0
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix("/site").map(|rest| (rest.to_owned(), v)))
            .collect();
        Self {
            value: site,
            positions: Positions(positions),
            envelope: Some(fields),
        }
    }
}

/// Parses YAML or JSON text (JSON is YAML) into a value with positions. Duplicate keys,
/// alias bombs and over-deep nesting are syntax errors.
pub fn parse(source_name: &str, bytes: &[u8]) -> Result<ParsedDocument, LoadError> {
    let name = source_name.to_owned();
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(LoadError::TooLarge {
            source_name: name,
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LoadError::NotText {
        source_name: name.clone(),
    })?;
    if text.contains('\0') {
        return Err(LoadError::NotText { source_name: name });
    }
    let options =
        serde_saphyr::options! { strict_booleans: true, leading_zero_numbers_as_strings: true };
    let node: Option<Node> = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let message = clean_parser_message(e.to_string().lines().next().unwrap_or("invalid YAML"));
        // The parser may quote the text it stopped at (a key, a scalar): never a secret's value.
        let message = hide_secrets(&message, text);
        LoadError::Syntax {
            source_name: name.clone(),
            line,
            column,
            message,
        }
    })?;
    let node = node.ok_or_else(|| LoadError::Empty {
        source_name: name.clone(),
    })?;
    if node.is_null() {
        return Err(LoadError::Empty { source_name: name });
    }
    let mut positions = HashMap::new();
    let value = node.into_value(&mut String::new(), &mut positions);
    Ok(ParsedDocument {
        value,
        positions: Positions(positions),
        envelope: None,
    })
}

/// `message`, about the document `text` (a site, a plan, any document a tool reads), without
/// the value of any secret the text holds: what [`crate::validate`]'s `literal-secret` rule
/// finds and every value of a field named like a secret (`password:`), each quote of it
/// replaced by `(value not shown)`, as for the schema and type errors of a site. For messages
/// that quote the document but are not findings about a field: a YAML syntax error, a
/// document of another kind that does not deserialize (`apply --plan FILE`).
#[must_use]
pub fn hide_secrets(message: &str, text: &str) -> String {
    let mut findings = [Diagnostic::error("syntax", "", message)];
    let mut document = text_fields(text);
    // Text that parses (a JSON plan, a document with a type error) is walked as it is, so a
    // secret in a JSON string or a nested field is found whatever the layout.
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        document.push(value);
    }
    crate::validate::checks::secrets::hide_values(&mut findings, &Value::Array(document));
    let [finding] = findings;
    finding.message
}

/// The text of a document that may not parse, as the fields a secret could be in: for each
/// line, `{key: value}` for every `key: value` pair on it (block or flow style, quotes and
/// comments dropped), and `{"": word}` for every word on it (a secret recognisable by its
/// form, a token, a URL with a password, needs no field name).
fn text_fields(text: &str) -> Vec<Value> {
    let unquote = |s: &str| {
        let s = s.trim();
        s.strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(s)
            .to_owned()
    };
    let mut fields = Vec::new();
    for line in text.lines() {
        for part in line.split([',', '{', '}', '[', ']']) {
            let part = part.trim_start().trim_start_matches(['-', '?', ' ']);
            let part = part.split(" #").next().unwrap_or(part);
            if let Some((key, value)) = part.split_once(": ").or_else(|| part.split_once(":\t")) {
                let mut field = serde_json::Map::new();
                field.insert(unquote(key), Value::String(unquote(value)));
                fields.push(Value::Object(field));
            }
        }
        for word in line.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '`')) {
            let word = word.trim_end_matches(':');
            if !word.is_empty() {
                let mut field = serde_json::Map::new();
                field.insert(String::new(), Value::String(word.to_owned()));
                fields.push(Value::Object(field));
            }
        }
    }
    fields
}

/// Drops the parser's own `error: line L column C:` prefix (the position is printed anyway).
fn clean_parser_message(message: &str) -> String {
    let mut m = message.trim();
    m = m.strip_prefix("error: ").unwrap_or(m);
    if let Some(rest) = m.strip_prefix("line ")
        && let Some(idx) = rest.find(": ")
        && rest[..idx].contains("column")
    {
        m = &rest[idx + 2..];
    }
    // Library advice ("set DuplicateKeyPolicy in Options") means nothing to a site's author.
    let m = m.split(", set DuplicateKeyPolicy").next().unwrap_or(m);
    if m.contains("budget breached") {
        return format!(
            "resource limit exceeded: YAML alias expansion or document too large ({m})"
        );
    }
    m.to_owned()
}

/// Parses and type-checks a site, without the semantic checks: schema violations and type
/// errors become diagnostics with positions.
pub fn load(source_name: &str, bytes: &[u8]) -> Result<(Site, ParsedDocument), LoadError> {
    crate::schema::compile_in_background();
    let parsed = parse(source_name, bytes)?.unwrap_envelope();
    let first = whole(&parsed.value);
    let schema = crate::schema::check(&parsed.value);
    let mut diagnostics = match first {
        Ok(site) if schema.is_empty() => return Ok((site, parsed)),
        Ok(_) => schema,
        Err(first) => partial(&parsed.value, schema, Some(first)).diagnostics,
    };
    crate::validate::checks::secrets::hide_values(&mut diagnostics, &parsed.value);
    attach_positions(&mut diagnostics, &parsed.positions);
    Err(LoadError::Invalid {
        source_name: source_name.to_owned(),
        diagnostics,
    })
}

/// The typed model of a document, as much of it as is well-formed.
struct Typed {
    /// The site; with schema or type errors, built from the sections that deserialize and
    /// break no schema rule (the others are left out). `None` when not even that is possible
    /// (not a mapping).
    site: Option<Site>,
    /// Schema violations and type errors.
    diagnostics: Vec<Diagnostic>,
    /// The sections left out, `metadata` when replaced by [`PLACEHOLDER_DOMAIN`]: gaps that
    /// are not in the document, which the cross-section rules must not read as absences.
    gaps: Vec<String>,
}

/// The domain of the stand-in `metadata` used when the document's own is malformed.
const PLACEHOLDER_DOMAIN: &str = "metadata.invalid";

/// The whole document deserialized, before the schema check: the site when every value has
/// the type its field needs (the schema may still refuse some; the caller checks it).
fn whole(value: &Value) -> Result<Site, serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize::<_, Site>(value)
}

/// The site of a document with schema or type errors (`schema`: every schema violation;
/// `first`: the whole document's type error, when it has one): each section is deserialized on
/// its own, and one that does not, or that holds a value the schema refuses (a VLAN 5000 fits
/// the Rust type), is left out, so the semantic checks run over the well-formed sections and
/// never over a value already reported (one mistake, one error). A type error is reported only
/// where the schema found nothing (a schema error already names it).
fn partial(
    value: &Value,
    schema: Vec<Diagnostic>,
    first: Option<serde_path_to_error::Error<serde_json::Error>>,
) -> Typed {
    let mut diagnostics = schema;
    let type_error = |diagnostics: &mut Vec<Diagnostic>,
                      err: serde_path_to_error::Error<serde_json::Error>,
                      prefix: &str| {
        let path = err.path().to_string();
        let path = match (prefix, path.as_str()) {
            (p, ".") => p.to_owned(),
            ("", rest) => rest.to_owned(),
            (p, rest) => format!("{p}.{rest}"),
        };
        let covered = diagnostics.iter().any(|d| within(&d.path, prefix));
        if !covered {
            diagnostics.push(Diagnostic::error(
                "type",
                path,
                plain_type_message(&err.inner().to_string()),
            ));
        }
    };
    let Some(fields) = value.as_object() else {
        if let Some(first) = first {
            type_error(&mut diagnostics, first, "");
        }
        return Typed {
            site: None,
            diagnostics,
            gaps: Vec::new(),
        };
    };
    // The sections a schema error is in: their values cannot be trusted by the rules.
    let refused = |key: &str, diagnostics: &[Diagnostic]| {
        diagnostics
            .iter()
            .any(|d| d.rule == "schema" && within(&d.path, key))
    };
    let mut gaps = Vec::new();
    let mut base = serde_json::Map::new();
    base.insert(
        "apiVersion".to_owned(),
        Value::from(crate::site::API_VERSION),
    );
    base.insert("kind".to_owned(), Value::from("Site"));
    let metadata = fields.get("metadata").cloned().unwrap_or(Value::Null);
    let placeholder = || serde_json::json!({"name": "site", "domain": PLACEHOLDER_DOMAIN});
    match serde_path_to_error::deserialize::<_, crate::site::Metadata>(&metadata) {
        Ok(_) if !refused("metadata", &diagnostics) => {
            base.insert("metadata".to_owned(), metadata);
        }
        Ok(_) => {
            gaps.push("metadata".to_owned());
            base.insert("metadata".to_owned(), placeholder());
        }
        Err(err) => {
            gaps.push("metadata".to_owned());
            type_error(&mut diagnostics, err, "metadata");
            base.insert("metadata".to_owned(), placeholder());
        }
    }
    for (key, section) in fields {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let mut alone = base.clone();
        alone.insert(key.clone(), section.clone());
        match serde_path_to_error::deserialize::<_, Site>(&Value::Object(alone)) {
            Ok(_) if !refused(key, &diagnostics) => {
                base.insert(key.clone(), section.clone());
            }
            Ok(_) => gaps.push(key.clone()),
            Err(err) => {
                gaps.push(key.clone());
                // The error's path is relative to the document; keep it, check coverage by key.
                let covered = diagnostics.iter().any(|d| within(&d.path, key));
                if !covered {
                    let path = err.path().to_string();
                    diagnostics.push(Diagnostic::error(
                        "type",
                        if path == "." { key.clone() } else { path },
                        plain_type_message(&err.inner().to_string()),
                    ));
                }
            }
        }
    }
    if diagnostics.is_empty()
        && let Some(first) = first
    {
        // Every section alone is fine, so the whole must be too; report the first error as is.
        type_error(&mut diagnostics, first, "");
    }
    let site = serde_json::from_value::<Site>(Value::Object(base)).ok();
    Typed {
        site,
        diagnostics,
        gaps,
    }
}

/// Whether field path `path` is `section` or inside it (every path is inside `""`).
fn within(path: &str, section: &str) -> bool {
    section.is_empty()
        || path
            .strip_prefix(section)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// A deserializer's message in the site's words: JSON/YAML kinds instead of Rust type names
/// (`invalid type: string "x", expected struct Router` becomes `expected a mapping, found
/// string "x"`).
fn plain_type_message(message: &str) -> String {
    let message = message.lines().next().unwrap_or(message);
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {}, found {found}", plain_expected(expected));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!("{found} is not {}", plain_expected(expected));
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let field = rest.split(',').next().unwrap_or(rest).replace('`', "\"");
        return format!("unknown field {field} (typo?)");
    }
    message.replace('`', "\"")
}

/// What serde says it expected, in the words of a YAML document.
fn plain_expected(expected: &str) -> String {
    let e = expected.trim();
    if e.starts_with("struct ") || e.starts_with("a map") || e == "map" {
        return "a mapping".to_owned();
    }
    if e.starts_with("a sequence") || e.starts_with("tuple") || e == "sequence" {
        return "a list".to_owned();
    }
    if e.starts_with("a string") || e == "string" || e.starts_with("a borrowed string") {
        return "text".to_owned();
    }
    if e.starts_with("a boolean") || e == "bool" {
        return "true or false".to_owned();
    }
    let integer = [
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
    ];
    if integer.contains(&e) || e.starts_with("an integer") {
        return "a whole number".to_owned();
    }
    if e == "f32" || e == "f64" || e.starts_with("a number") {
        return "a number".to_owned();
    }
    if e.starts_with("enum ") || e.starts_with("variant ") || e.starts_with("unit struct ") {
        return "one of the allowed values".to_owned();
    }
    // Any other Rust type name (`Hostname`, `IpAddr`) means nothing to the site's author.
    if e.chars().next().is_some_and(char::is_uppercase) && !e.contains(' ') {
        return "a valid value".to_owned();
    }
    e.replace('`', "\"")
}

/// Loads a site and runs every generic check. Succeeds only when there is no error; warnings
/// are returned with the site.
pub fn load_and_validate(source_name: &str, bytes: &[u8]) -> Result<LoadedSite, LoadError> {
    load_and_validate_with(source_name, bytes, &|_| Vec::new())
}

/// Like [`load_and_validate`], plus a tool's own rules (`tool_checks`), so one run reports
/// every problem of both kinds with positions. Schema and type errors do not stop the
/// semantic checks: those run over every section that is well-formed and breaks no schema
/// rule, so one run names every problem and no value already refused feeds a rule (one
/// mistake, one error); a left-out section is unknown to them, never taken as empty, so
/// nothing its absence would cause (a reference to it) is reported. `tool_checks` run only
/// when no section is left out (they cannot tell a left-out section from an absent one).
/// Warnings the site acknowledges (`metadata.acknowledge`) are set apart.
pub fn load_and_validate_with(
    source_name: &str,
    bytes: &[u8],
    tool_checks: &dyn Fn(&Site) -> Vec<Diagnostic>,
) -> Result<LoadedSite, LoadError> {
    crate::schema::compile_in_background();
    let parsed = parse(source_name, bytes)?.unwrap_envelope();
    let (site, mut diagnostics) = check_all(&parsed.value, tool_checks);
    crate::validate::checks::secrets::keep_values_out(&mut diagnostics);
    crate::validate::checks::secrets::hide_values(&mut diagnostics, &parsed.value);
    attach_positions(&mut diagnostics, &parsed.positions);
    let site = match site {
        Some(site) if !diagnostics.iter().any(Diagnostic::is_error) => site,
        _ => {
            return Err(LoadError::Invalid {
                source_name: source_name.to_owned(),
                diagnostics,
            });
        }
    };
    let (acknowledged, warnings) = diagnostics
        .into_iter()
        .partition(Diagnostic::is_acknowledged);
    Ok(LoadedSite {
        site,
        document: parsed.value,
        source_name: source_name.to_owned(),
        warnings,
        acknowledged,
        envelope: parsed.envelope,
    })
}

/// The site (as much of it as is well-formed) and every finding: schema, type and semantic.
/// A document whose every value has its field's type is checked whole, the semantic checks
/// first so they overlap the schema's compilation on another thread; when the schema then
/// refuses a value, or a value does not type, the sections holding one are left out (see
/// [`partial`]) and the semantic checks run again over the rest.
fn check_all(
    value: &Value,
    tool_checks: &dyn Fn(&Site) -> Vec<Diagnostic>,
) -> (Option<Site>, Vec<Diagnostic>) {
    let first = match whole(value) {
        Ok(site) => {
            let mut semantic = crate::validate::validate(&site, value);
            semantic.extend(tool_checks(&site));
            acknowledge(&site, &mut semantic);
            let schema = crate::schema::check(value);
            if schema.is_empty() {
                return (Some(site), semantic);
            }
            return check_partial(value, schema, None, tool_checks);
        }
        Err(first) => first,
    };
    check_partial(value, crate::schema::check(value), Some(first), tool_checks)
}

/// [`check_all`] for a document with schema or type errors: the semantic checks over the
/// sections that are well-formed (and the tool's own rules when none is left out). A tool's
/// own rules cannot tell a left-out section from an
/// absent one (an export naming a segment of a left-out `segments` reads as unknown): they run
/// once the schema errors are fixed, so nothing they report is a consequence of a gap.
fn check_partial(
    value: &Value,
    schema: Vec<Diagnostic>,
    first: Option<serde_path_to_error::Error<serde_json::Error>>,
    tool_checks: &dyn Fn(&Site) -> Vec<Diagnostic>,
) -> (Option<Site>, Vec<Diagnostic>) {
    let Typed {
        site,
        mut diagnostics,
        gaps,
    } = partial(value, schema, first);
    if let Some(site) = &site {
        let mut semantic = crate::validate::validate_with_gaps(site, value, &gaps);
        if gaps.is_empty() {
            semantic.extend(tool_checks(site));
            acknowledge(site, &mut semantic);
        } else {
            semantic.retain(|d| !d.message.contains(PLACEHOLDER_DOMAIN));
        }
        diagnostics.extend(semantic);
    }
    (site, diagnostics)
}

/// Marks the warnings `metadata.acknowledge` accepts (their reason in
/// [`Diagnostic::acknowledged`]) and warns about every acknowledgement that matches no warning:
/// the problem is gone (or it names an error, which cannot be acknowledged).
fn acknowledge(site: &Site, diagnostics: &mut Vec<Diagnostic>) {
    let acks = &site.metadata.acknowledge;
    let mut used = vec![false; acks.len()];
    for d in diagnostics.iter_mut().filter(|d| !d.is_error()) {
        if let Some((i, ack)) = acks.iter().enumerate().find(|(_, a)| a.covers(d)) {
            d.acknowledged = Some(ack.reason.clone());
            used[i] = true;
        }
    }
    for (i, ack) in acks.iter().enumerate().filter(|(i, _)| !used[*i]) {
        // Another tool's warning: this tool cannot tell whether it is still there.
        if !crate::validate::GENERIC_WARNINGS.contains(&ack.rule.as_str())
            && !diagnostics.iter().any(|d| d.rule == ack.rule)
        {
            continue;
        }
        let errors = diagnostics
            .iter()
            .any(|d| d.is_error() && ack.covers_rule(d));
        let message = if errors {
            format!(
                "{:?} names errors, which cannot be acknowledged; fix them instead",
                ack.rule
            )
        } else {
            let place = ack
                .path
                .as_deref()
                .map(|p| format!(" at {p}"))
                .unwrap_or_default();
            format!(
                "no {:?} warning{place} to acknowledge any more; remove this entry",
                ack.rule
            )
        };
        diagnostics.push(Diagnostic::warning(
            UNUSED_ACKNOWLEDGEMENT,
            format!("metadata.acknowledge[{i}]"),
            message,
        ));
    }
}

/// Rule id of the warning about an acknowledgement that matches nothing (it cannot itself be
/// acknowledged: remove the entry instead).
pub const UNUSED_ACKNOWLEDGEMENT: &str = "unused-acknowledgement";

/// Fills in the position of every diagnostic that has none (and of the other field it
/// names, [`Diagnostic::related`]), from its field path.
pub fn attach_positions(diagnostics: &mut [Diagnostic], positions: &Positions) {
    for d in diagnostics {
        if d.position.is_none() {
            d.position = positions.lookup(&crate::diagnostic::path_to_pointer(&d.path));
        }
        if let Some(related) = &mut d.related
            && related.position.is_none()
        {
            related.position = positions.lookup(&crate::diagnostic::path_to_pointer(&related.path));
        }
    }
}

/// The field path of a JSON Pointer, for messages.
#[must_use]
pub fn describe(pointer: &str) -> String {
    pointer_to_path(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_recorded() {
        let doc = parse("t.yaml", b"a:\n  b:\n    - x: 1\n    - y: 2\n").unwrap();
        assert_eq!(doc.value["a"]["b"][1]["y"], 2);
        let pos = doc.positions.lookup("/a/b/1/y").unwrap();
        assert_eq!(pos.line, 4);
        // A missing child falls back to its parent.
        assert_eq!(doc.positions.lookup("/a/b/1/zzz").unwrap().line, 4);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("t.yaml", b"a: 1\na: 2\n").unwrap_err();
        assert!(matches!(err, LoadError::Syntax { line: 2, .. }), "{err}");
    }

    #[test]
    fn empty_and_binary_are_errors() {
        assert!(matches!(
            parse("t", b"").unwrap_err(),
            LoadError::Empty { .. }
        ));
        assert!(matches!(
            parse("t", b"# only a comment\n").unwrap_err(),
            LoadError::Empty { .. }
        ));
        assert!(matches!(
            parse("t", &[0xff, 0xfe, 0x00]).unwrap_err(),
            LoadError::NotText { .. }
        ));
    }

    #[test]
    fn json_is_accepted() {
        let doc = parse("t.json", br#"{"a": [1, {"b": "c"}]}"#).unwrap();
        assert_eq!(doc.value["a"][1]["b"], "c");
    }

    #[test]
    fn an_envelope_document_yields_its_site() {
        let doc = br#"{"apiVersion": "rackpipe/v1", "kind": "ApplyResult", "facts": {"a": 1},
            "site": {"metadata": {"name": "x"}}}"#;
        let parsed = parse("t.json", doc).unwrap().unwrap_envelope();
        assert_eq!(parsed.value["metadata"]["name"], "x");
        let envelope = parsed.envelope.unwrap();
        assert_eq!(envelope["kind"], "ApplyResult");
        assert_eq!(envelope["facts"]["a"], 1);
        assert!(parsed.positions.lookup("/metadata/name").is_some());
    }

    /// The message of a syntax error in `text`.
    fn syntax_message(text: &str) -> String {
        match parse("t.yaml", text.as_bytes()) {
            Err(LoadError::Syntax { message, .. }) => message,
            other => panic!("not a syntax error: {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_never_show_a_secret() {
        let token = "glpat-AbCdEfGhIjKlMnOpQrStUv";
        // A duplicate key quotes the key: here a token pasted as one.
        let message = syntax_message(&format!("a:\n  {token}: 1\n  {token}: 2\n"));
        assert!(!message.contains(token), "{message}");
        assert!(message.contains("(value not shown)"), "{message}");
        // A password written out where a reference belongs, on a line the parser stops at.
        for text in [
            "router:\n  password: hunter2-hunter2\n  password: hunter2-hunter2\n",
            "a: {password: s3cr3t-passw0rd, password: s3cr3t-passw0rd}\n",
            "a:\n  url: https://ci:Tr0ub4dor-3@gitlab.example.invalid/\n  url: https://ci:Tr0ub4dor-3@gitlab.example.invalid/\n",
        ] {
            let message = syntax_message(text);
            for secret in ["hunter2", "s3cr3t", "Tr0ub4dor"] {
                assert!(!message.contains(secret), "{text}: {message}");
            }
        }
        // Messages without secrets are untouched.
        assert_eq!(
            hide_secrets("duplicate mapping key: name", "name: a\nname: b\n"),
            "duplicate mapping key: name"
        );
    }

    #[test]
    fn a_document_of_another_kind_hides_its_secrets_too() {
        let plan = r#"{"kind": "Plan", "changes": [{"after": {"token": "hvs.CAESIJ0123456789abcdefghijklmn"}}]}"#;
        let message = hide_secrets(
            r#"invalid type: string "hvs.CAESIJ0123456789abcdefghijklmn", expected u32"#,
            plan,
        );
        assert!(!message.contains("hvs.CAES"), "{message}");
    }

    #[test]
    fn yes_is_a_string() {
        let doc = parse("t", b"a: yes\nb: 017\n").unwrap();
        assert_eq!(doc.value["a"], "yes");
        assert_eq!(doc.value["b"], "017");
    }
}
