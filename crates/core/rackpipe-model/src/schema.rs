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
    use crate::documents::{ErrorDocument, Plan, RenderOutput, ValidationReport};
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

fn site_validator() -> &'static Result<jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .should_validate_formats(true)
            .build(&site_schema())
            .map_err(|e| e.to_string())
    })
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
        _ => one_line(&e.to_string()),
    };
    out.push(Diagnostic::error(
        "schema",
        pointer_to_path(&pointer),
        message,
    ));
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
