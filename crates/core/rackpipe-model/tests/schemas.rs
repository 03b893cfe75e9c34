//! The schemas committed under `schemas/` must equal the ones generated from the Rust types.
//! Regenerate with `RACKPIPE_BLESS=1 cargo test -p rackpipe-model --test main schemas`.

use std::path::PathBuf;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../schemas")
}

#[test]
fn committed_schemas_match_the_types() {
    let bless = std::env::var("RACKPIPE_BLESS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (file, schema) in rackpipe_model::schema::all_schemas() {
        let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = schemas_dir().join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            if bless {
                std::fs::write(&path, &generated).unwrap();
            } else {
                stale.push(file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "schemas out of date: {stale:?}; run RACKPIPE_BLESS=1 cargo test -p rackpipe-model --test main schemas"
    );
}

#[test]
fn example_documents_match_their_schemas() {
    // A validation report printed by the CLI must satisfy its own schema.
    let report = serde_json::json!({
        "apiVersion": "rackpipe/v1", "kind": "ValidationReport", "tool": "ros-render",
        "source": "site.yaml", "valid": false,
        "diagnostics": [{"severity": "error", "rule": "schema", "path": "a.b", "message": "bad"}]
    });
    let schema = rackpipe_model::schema::all_schemas()
        .into_iter()
        .find(|(f, _)| *f == "validation-report.schema.json")
        .unwrap()
        .1;
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&report));
}
