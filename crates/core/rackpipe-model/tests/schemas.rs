//! The schemas committed under `schemas/` must equal the ones generated from the Rust types.
//! Regenerate with `RACKPIPE_BLESS=1 cargo test -p rackpipe-model --test main schemas`.

#[test]
fn committed_schemas_match_the_types() {
    let stale: Vec<String> = rackpipe_model::schema::all_schemas()
        .into_iter()
        .filter_map(|(file, schema)| rackpipe_model::schema::check_committed(file, &schema).err())
        .collect();
    assert!(
        stale.is_empty(),
        "{stale:?}; run RACKPIPE_BLESS=1 cargo test -p rackpipe-model --test main schemas"
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

#[test]
fn documents_that_embed_the_site_match_their_schemas() {
    use rackpipe_model::documents::{ApplyResult, ChangeCounts};
    use rackpipe_model::facts::{
        ApplyResultWithSite, FactsDocument, GuestFact, GuestFacts, NicFact,
    };
    use rackpipe_model::schema::check_document;
    let site = rackpipe_model::load_and_validate(
        "site.yaml",
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../examples/rachuna-net/site.yaml"),
        )
        .unwrap(),
    )
    .unwrap()
    .site;
    let guest = GuestFact {
        name: "ct01002".into(),
        vmid: 1002,
        node: "pve-s1".into(),
        kind: "lxc".into(),
        nics: vec![NicFact {
            slot: "net0".into(),
            mac: Some("BC:24:11:F1:40:D4".into()),
            address: None,
            bridge: Some("vmbr0".into()),
            vlan: Some(20),
        }],
    };
    let facts =
        serde_json::to_value(FactsDocument::new("pve-sync", &site, vec![guest.clone()])).unwrap();
    assert_eq!(check_document("facts.schema.json", &facts), Ok(Vec::new()));
    let result = ApplyResult {
        api_version: "rackpipe/v1".into(),
        kind: "ApplyResult".into(),
        tool: "pve-sync".into(),
        site: site.metadata.name.to_string(),
        applied: Vec::new(),
        summary: ChangeCounts::default(),
        facts: std::collections::BTreeMap::new(),
    };
    let plain = serde_json::to_value(&result).unwrap();
    assert_eq!(
        check_document("apply-result.schema.json", &plain),
        Ok(Vec::new())
    );
    let with_site = serde_json::to_value(ApplyResultWithSite::new(
        result,
        &site,
        GuestFacts {
            guests: vec![guest],
        },
    ))
    .unwrap();
    assert_eq!(
        check_document("apply-result.schema.json", &with_site),
        Ok(Vec::new())
    );
    // The embedded site is checked against the site schema.
    let mut bad = facts.clone();
    bad["site"]["metadata"]["name"] = serde_json::json!(7);
    let errors = check_document("facts.schema.json", &bad).unwrap();
    assert!(!errors.is_empty(), "a bad embedded site passes");
    // A facts document whose guest lacks its VMID is refused.
    let mut bad = facts;
    bad["facts"]["guests"][0]
        .as_object_mut()
        .unwrap()
        .remove("vmid");
    assert!(
        !check_document("facts.schema.json", &bad)
            .unwrap()
            .is_empty()
    );
}
