//! The JSON Schema (2020-12) of the site and of every document the binaries print, generated
//! from the Rust types. The committed copies under `schemas/` are drift-tested against these.

use std::sync::OnceLock;

use schemars::JsonSchema;
use serde_json::Value;

use crate::diagnostic::{Diagnostic, pointer_to_path};
use crate::site::Site;

/// The `$id` base of rackpipe's schemas: the `schemas/` directory of this release's tag in the
/// project's repository, as GitLab serves raw files
/// (`https://gitlab.example.invalid/rackpipe/rackpipe/-/raw/0.1.0/schemas/`). Every release
/// publishes its schemas there by being tagged, the URL never changes for a release, and an
/// editor's modeline can point at it (`# yaml-language-server: $schema=<SCHEMA_BASE>site.schema.json`).
pub const SCHEMA_BASE: &str = concat!(
    env!("CARGO_PKG_REPOSITORY"),
    "/-/raw/",
    env!("CARGO_PKG_VERSION"),
    "/schemas/"
);

/// Generates the schema of a type, with `$id` `<SCHEMA_BASE><file>`.
#[must_use]
pub fn schema_of<T: JsonSchema>(file: &str) -> Value {
    let mut schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    schema.insert(
        "$id".to_owned(),
        Value::String(format!("{SCHEMA_BASE}{file}")),
    );
    let mut value = schema.to_value();
    drop_nullable_refs(&mut value);
    value
}

/// Turns `{"anyOf": [X, {"type": "null"}]}` (schemars' form of an optional struct) into `X`.
/// A missing section is already allowed by `required`; dropping the `anyOf` lets validation
/// descend into the section and report the exact field (`router.bridges[0].name`) instead
/// of "not valid under any of the schemas" at the section.
fn drop_nullable_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let inner = map
                .get("anyOf")
                .and_then(Value::as_array)
                .and_then(|variants| {
                    let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
                    match variants.as_slice() {
                        [a, b] if is_null(b) => Some(a.clone()),
                        [a, b] if is_null(a) => Some(b.clone()),
                        _ => None,
                    }
                });
            if let Some(Value::Object(inner)) = inner {
                map.remove("anyOf");
                for (k, v) in inner {
                    map.entry(k).or_insert(v);
                }
            }
            for v in map.values_mut() {
                drop_nullable_refs(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nullable_refs),
        _ => {}
    }
}

/// The site schema.
#[must_use]
pub fn site_schema() -> Value {
    let mut schema = schema_of::<Site>("site.schema.json");
    // Unknown top-level sections pass through (with a warning), so the top level stays open;
    // every nested object is closed (`deny_unknown_fields`) so typos fail.
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "description".to_owned(),
            Value::String("A rackpipe site: the whole homelab in one document.".to_owned()),
        );
    }
    schema
}

/// Every committed schema: file name under `schemas/` and its generated content.
#[must_use]
pub fn all_schemas() -> Vec<(&'static str, Value)> {
    use crate::documents::{ErrorDocument, ImportReport, Plan, RenderOutput, ValidationReport};
    use crate::facts::{ApplyOutput, FactsDocument};
    vec![
        ("site.schema.json", site_schema()),
        (
            "validation-report.schema.json",
            schema_of::<ValidationReport>("validation-report.schema.json"),
        ),
        (
            "render-output.schema.json",
            schema_of::<RenderOutput>("render-output.schema.json"),
        ),
        ("plan.schema.json", schema_of::<Plan>("plan.schema.json")),
        (
            "apply-result.schema.json",
            schema_of::<ApplyOutput>("apply-result.schema.json"),
        ),
        (
            "facts.schema.json",
            schema_of::<FactsDocument>("facts.schema.json"),
        ),
        (
            "error.schema.json",
            schema_of::<ErrorDocument>("error.schema.json"),
        ),
        (
            "import-report.schema.json",
            schema_of::<ImportReport>("import-report.schema.json"),
        ),
    ]
}

/// The drift test of a committed schema, for the crates whose own document kinds have one
/// (`schema_of::<Document<Body>>("etcd-snapshot-list.schema.json")`): `Err` naming the file
/// when `schemas/FILE` differs from `schema`; with `RACKPIPE_BLESS=1` the file is written
/// instead.
///
/// # Errors
/// The committed file is missing or differs (or cannot be written when blessing).
pub fn check_committed(file: &str, schema: &Value) -> Result<(), String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../schemas")
        .join(file);
    let mut text = serde_json::to_string_pretty(schema).map_err(|e| e.to_string())?;
    text.push('\n');
    if std::env::var_os("RACKPIPE_BLESS").is_some_and(|v| v == "1") {
        return std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()));
    }
    match std::fs::read_to_string(&path) {
        Ok(committed) if committed == text => Ok(()),
        _ => Err(format!(
            "schemas/{file} is out of date; regenerate it with RACKPIPE_BLESS=1 and the same test"
        )),
    }
}

/// The schema file (under `schemas/`) of a document `kind`: `Plan` -> `plan.schema.json`.
#[must_use]
pub fn schema_for_kind(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Site" => "site.schema.json",
        "ValidationReport" => "validation-report.schema.json",
        "RenderOutput" => "render-output.schema.json",
        "Plan" => "plan.schema.json",
        "ApplyResult" => "apply-result.schema.json",
        "Error" => "error.schema.json",
        "Facts" => "facts.schema.json",
        "ImportReport" => "import-report.schema.json",
        _ => return None,
    })
}

/// Serves the schemas of [`all_schemas`] by their `$id` (a document schema refers to the site
/// schema, `site.schema.json`), so nothing is fetched.
struct Committed;

impl jsonschema::Retrieve for Committed {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let file = uri.as_str().strip_prefix(SCHEMA_BASE).unwrap_or_default();
        all_schemas()
            .into_iter()
            .find_map(|(name, schema)| (name == file).then_some(schema))
            .ok_or_else(|| format!("{}: not a rackpipe schema", uri.as_str()).into())
    }
}

/// Checks a document against the schema `file` of [`all_schemas`] (`plan.schema.json`, ...):
/// every violation as `PATH: message` (empty: valid).
///
/// # Errors
/// `file` is not one of the schemas, or does not compile.
pub fn check_document(file: &str, document: &Value) -> Result<Vec<String>, String> {
    let schema = all_schemas()
        .into_iter()
        .find_map(|(name, schema)| (name == file).then_some(schema))
        .ok_or_else(|| format!("{file}: not a rackpipe schema"))?;
    check_against(&schema, document).map_err(|e| format!("{file}: {e}"))
}

/// The committed schemas among a tool's own document kinds — `(kind, file under schemas/,
/// generated schema)` — that differ from the generated ones, one line each (empty: none);
/// with `RACKPIPE_BLESS=1` they are written instead (see [`check_committed`]).
#[must_use]
pub fn drifted(kinds: &[(&str, &str, Value)]) -> Vec<String> {
    kinds
        .iter()
        .filter_map(|(_, file, schema)| check_committed(file, schema).err())
        .collect()
}

/// Checks `document` against the schema of its `kind` among a tool's own document kinds
/// (`(kind, file, schema)`): every violation as `PATH: message` (empty: valid).
///
/// # Errors
/// A document without a `kind`, a kind not among `kinds`, or a schema that does not compile.
pub fn check_kind(kinds: &[(&str, &str, Value)], document: &Value) -> Result<Vec<String>, String> {
    let kind = document["kind"]
        .as_str()
        .ok_or_else(|| "the document has no kind".to_owned())?;
    let (_, _, schema) = kinds
        .iter()
        .find(|(k, _, _)| *k == kind)
        .ok_or_else(|| format!("{kind}: no schema"))?;
    check_against(schema, document)
}

/// Checks a document against `schema` (a tool's own document schema, e.g. generated with
/// [`schema_of`]; references to the model's schemas resolve locally): every violation as
/// `PATH: message` (empty: valid).
///
/// # Errors
/// The schema does not compile.
pub fn check_against(schema: &Value, document: &Value) -> Result<Vec<String>, String> {
    let validator = jsonschema::options()
        .with_retriever(Committed)
        .build(schema)
        .map_err(|e| e.to_string())?;
    Ok(validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect())
}

/// Starts compiling the site schema on another thread (once per process), so that the
/// compilation — most of `validate`'s start-up — overlaps reading, parsing, deserializing and
/// the semantic checks; [`check`] then waits for it. Without a thread, [`check`] compiles.
pub fn compile_in_background() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("site-schema".to_owned())
            .spawn(|| {
                let _ = site_validator();
            });
    });
}

/// The committed site schema, `schemas/site.schema.json`, as built into the binary. It is the
/// text [`site_schema`] generates (the drift test `committed_site_schema_is_the_generated_one`
/// holds them equal), read here instead of generated: parsing it costs a fraction of what
/// generating it from the Rust types does, on every `validate`.
const COMMITTED_SITE_SCHEMA: &str = include_str!("../../../../schemas/site.schema.json");

/// The site schema the validator is compiled from (and [`described`] reads): the committed
/// one, see [`COMMITTED_SITE_SCHEMA`]; generated only if that text were not JSON.
fn committed_site_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::from_str(COMMITTED_SITE_SCHEMA).unwrap_or_else(|_| site_schema())
    })
}

fn site_validator() -> &'static Result<jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // The `regex` engine: every site pattern is a plain regular expression (no
        // look-around), and it compiles them faster than the default `fancy-regex`.
        jsonschema::options()
            .should_validate_formats(true)
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&without_annotations(committed_site_schema()))
            .map_err(|e| e.to_string())
    })
}

/// Keywords that only annotate (they assert nothing): the validator keeps each as a copy in
/// the node it compiles, and the meta-schema check reads them, for every `validate`. Left out of
/// the schema the validator is compiled from; [`described`] reads them from the whole schema.
const ANNOTATIONS: [&str; 6] = [
    "description",
    "title",
    "default",
    "examples",
    "$comment",
    "deprecated",
];

/// `schema` without the [`ANNOTATIONS`] of any of its (sub)schemas, keyword paths unchanged (a
/// property named `description` is a property, not an annotation, and stays).
#[must_use]
pub fn without_annotations(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = serde_json::Map::with_capacity(map.len());
    for (key, value) in map {
        let value = match key.as_str() {
            k if ANNOTATIONS.contains(&k) => continue,
            // Maps of subschemas, by property or definition name.
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                match value {
                    Value::Object(schemas) => Value::Object(
                        schemas
                            .iter()
                            .map(|(name, s)| (name.clone(), without_annotations(s)))
                            .collect(),
                    ),
                    other => other.clone(),
                }
            }
            // Lists of subschemas.
            "allOf" | "anyOf" | "oneOf" | "prefixItems" => match value {
                Value::Array(schemas) => {
                    Value::Array(schemas.iter().map(without_annotations).collect())
                }
                other => other.clone(),
            },
            // One subschema.
            "items"
            | "additionalProperties"
            | "not"
            | "if"
            | "then"
            | "else"
            | "propertyNames"
            | "contains"
            | "unevaluatedProperties"
            | "unevaluatedItems"
            | "additionalItems" => without_annotations(value),
            // Values (`const`, `enum`, `required`, bounds) are kept as they are.
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// Checks a document against the site schema; every violation becomes a diagnostic.
#[must_use]
pub fn check(document: &Value) -> Vec<Diagnostic> {
    let validator = match site_validator() {
        Ok(v) => v,
        Err(e) => {
            return vec![Diagnostic::error(
                "schema",
                "",
                format!("internal: site schema does not compile: {e}"),
            )];
        }
    };
    let mut out: Vec<Diagnostic> = Vec::new();
    for e in validator.iter_errors(document) {
        diagnostics_of(&e, &mut out);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup();
    out
}

/// One validation error as diagnostics. A `oneOf` of a tagged enum (`vault.storage` with
/// `backend: consul`) that fails is reported by the errors of the one variant whose tag
/// matches (every other variant fails its `const`), so the bad field itself is named
/// (`vault.storage.address`) instead of "not valid under any of the schemas" at the enum.
fn diagnostics_of(e: &jsonschema::ValidationError<'_>, out: &mut Vec<Diagnostic>) {
    use jsonschema::error::ValidationErrorKind as Kind;
    if let Kind::OneOfNotValid { context } = e.kind() {
        let mut tagged = context.iter().filter(|errors| {
            !errors
                .iter()
                .any(|x| matches!(x.kind(), Kind::Constant { .. }))
        });
        if let (Some(variant), None) = (tagged.next(), tagged.next())
            && !variant.is_empty()
        {
            for inner in variant {
                diagnostics_of(inner, out);
            }
            return;
        }
    }
    let mut pointer = e.instance_path().as_str().to_owned();
    let message = match e.kind() {
        // Name the unexpected field itself, not the object holding it.
        Kind::AdditionalProperties { unexpected } if unexpected.len() == 1 => {
            pointer.push('/');
            pointer.push_str(&unexpected[0]);
            "unknown field (typo?)".to_owned()
        }
        Kind::OneOfNotValid { context } | Kind::AnyOf { context } => allowed_values(context)
            .map_or_else(
                || one_line(&e.to_string()),
                |allowed| format!("{} is not {allowed}", shown(e.instance())),
            ),
        Kind::Constant { expected_value } => {
            format!("{} is not {}", shown(e.instance()), shown(expected_value))
        }
        Kind::Enum { options } => format!(
            "{} is not {}",
            shown(e.instance()),
            one_of(options.as_array().into_iter().flatten())
        ),
        // Never the regular expression: what the schema says the field is.
        Kind::Pattern { .. } => format!(
            "{} is not {}",
            shown(e.instance()),
            described(e.schema_path().as_str())
        ),
        Kind::Required { property } => format!("missing required field {property}"),
        Kind::Type { kind } => {
            format!(
                "expected {}, found {}",
                type_words(kind),
                kind_of(e.instance())
            )
        }
        _ => one_line(&e.to_string()),
    };
    out.push(Diagnostic::error(
        "schema",
        pointer_to_path(&pointer),
        message,
    ));
}

/// The allowed values of an enumeration written as `oneOf` constants (what schemars makes of
/// a Rust enum of unit variants): "one of \"a\", \"b\"". `None` when some variant is more
/// than a constant.
fn allowed_values(context: &[Vec<jsonschema::ValidationError<'static>>]) -> Option<String> {
    use jsonschema::error::ValidationErrorKind as Kind;
    let mut allowed: Vec<Value> = Vec::new();
    for variant in context {
        let mut constant = false;
        for x in variant {
            match x.kind() {
                Kind::Constant { expected_value } => {
                    allowed.push((**expected_value).clone());
                    constant = true;
                }
                Kind::Enum { options } => {
                    allowed.extend(options.as_array().into_iter().flatten().cloned());
                    constant = true;
                }
                _ => {}
            }
        }
        if !constant {
            return None;
        }
    }
    match allowed.as_slice() {
        [] => None,
        [one] => Some(shown(one)),
        _ => Some(one_of(allowed.iter())),
    }
}

/// `one of "a", "b", "c"`.
fn one_of<'v>(values: impl Iterator<Item = &'v Value>) -> String {
    let list: Vec<String> = values.map(shown).collect();
    format!("one of {}", list.join(", "))
}

/// A value as the site wrote it, shortened: a mapping or a list is named, not dumped.
fn shown(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => kind_of(value),
        other => {
            let text = other.to_string();
            if text.chars().count() > 80 {
                let cut: String = text.chars().take(77).collect();
                format!("{cut}...")
            } else {
                text
            }
        }
    }
}

/// The kind of a value in a YAML author's words, with the value when it is a scalar.
fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_owned(),
        Value::Bool(b) => format!("true/false value {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(_) => format!("text {}", shown(value)),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

/// The JSON types of a `type` keyword in a YAML author's words.
fn type_words(kind: &jsonschema::error::TypeKind) -> String {
    use jsonschema::JsonType;
    use jsonschema::error::TypeKind;
    let word = |t: JsonType| match t {
        JsonType::Array => "a list",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "a whole number",
        JsonType::Null => "nothing (null)",
        JsonType::Number => "a number",
        JsonType::Object => "a mapping",
        JsonType::String => "text",
    };
    match kind {
        TypeKind::Single(t) => word(*t).to_owned(),
        TypeKind::Multiple(set) => set.iter().map(word).collect::<Vec<_>>().join(" or "),
    }
}

/// What the schema says about the field whose `pattern` (at `keyword`, a pointer into the site
/// schema) failed: its description's first sentence (`a MAC address, six hex pairs...`).
/// Looked up only when a value fails, so a valid site pays nothing for it.
fn described(keyword: &str) -> String {
    let schema = committed_site_schema();
    let node = keyword
        .strip_suffix("/pattern")
        .and_then(|parent| schema.pointer(parent));
    let description = node
        .and_then(|n| n.get("description").or_else(|| n.get("title")))
        .and_then(Value::as_str);
    match description {
        Some(text) => plain_description(text),
        None => "in the expected form".to_owned(),
    }
}

/// A description as an object of "is not ...": first paragraph, markdown links dropped,
/// `A MAC address` lower-cased to `a MAC address`, no final period.
fn plain_description(text: &str) -> String {
    let first = text.split("\n\n").next().unwrap_or(text).replace('\n', " ");
    // `[text](url)` and bare `(<url>)` carry sources, not meaning.
    let mut out = String::new();
    let mut rest = first.as_str();
    while let Some(start) = rest.find(" (<") {
        out.push_str(&rest[..start]);
        match rest[start..].find(">)") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let mut out = out.trim().trim_end_matches('.').to_owned();
    for article in ["A ", "An ", "The "] {
        if out.starts_with(article) {
            out.replace_range(..1, &article[..1].to_ascii_lowercase());
            break;
        }
    }
    if !["a ", "an ", "the "].iter().any(|a| out.starts_with(a)) {
        out = format!("valid: {out}");
    }
    one_line(&out)
}

/// Shortens a validator message to one line of reasonable length.
fn one_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    if line.chars().count() > 300 {
        let cut: String = line.chars().take(297).collect();
        format!("{cut}...")
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_this_releases_published_urls() {
        for (file, schema) in all_schemas() {
            assert_eq!(
                schema["$id"],
                format!(
                    "https://gitlab.example.invalid/rackpipe/rackpipe/-/raw/{}/schemas/{file}",
                    env!("CARGO_PKG_VERSION")
                )
            );
        }
    }

    #[test]
    fn schema_compiles_and_is_2020_12() {
        assert!(site_validator().is_ok());
        let schema = site_schema();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }

    #[test]
    fn committed_site_schema_is_the_generated_one() {
        // The validator reads the committed text; it must be exactly what the types generate.
        let committed: Value = serde_json::from_str(COMMITTED_SITE_SCHEMA).unwrap();
        assert!(
            committed == site_schema(),
            "schemas/site.schema.json is out of date; regenerate it with RACKPIPE_BLESS=1"
        );
    }

    #[test]
    fn annotations_are_left_out_of_the_compiled_schema_only() {
        let schema = serde_json::json!({
            "description": "a site",
            "properties": {
                "description": {"type": "string", "description": "free text", "default": ""},
                "vlan": {"oneOf": [{"const": 1, "title": "one"}], "maximum": 4094}
            },
            "$defs": {"Mac": {"pattern": "^x$", "description": "a MAC address"}}
        });
        assert_eq!(
            without_annotations(&schema),
            serde_json::json!({
                "properties": {
                    "description": {"type": "string"},
                    "vlan": {"oneOf": [{"const": 1}], "maximum": 4094}
                },
                "$defs": {"Mac": {"pattern": "^x$"}}
            })
        );
        // The errors are the same as with the whole schema (a pattern's words come from the
        // description, read from the whole schema).
        let whole = committed_site_schema();
        let bare = without_annotations(whole);
        let full = jsonschema::options().build(whole).unwrap();
        let stripped = jsonschema::options().build(&bare).unwrap();
        let doc = serde_json::json!({
            "apiVersion": "rackpipe/v2", "kind": "Site",
            "metadata": {"name": "x", "domain": "x.dev", "colour": "red"},
            "segments": [{"name": "a", "cidr": "10.0.0.0/33", "vlan": 5000}]
        });
        let errors = |v: &jsonschema::Validator| {
            v.iter_errors(&doc)
                .map(|e| format!("{} {} {e}", e.instance_path(), e.schema_path()))
                .collect::<Vec<_>>()
        };
        assert!(!errors(&full).is_empty());
        assert_eq!(errors(&full), errors(&stripped));
    }

    #[test]
    fn nested_unknown_fields_are_rejected() {
        let doc = serde_json::json!({
            "apiVersion": "rackpipe/v1", "kind": "Site",
            "metadata": {"name": "x", "domain": "x.dev", "colour": "red"}
        });
        let diags = check(&doc);
        assert!(
            diags.iter().any(|d| d.path == "metadata.colour"),
            "{diags:?}"
        );
    }
}
