//! Every document kind `vault-bootstrap` prints has a committed schema under `schemas/`
//! (`RACKPIPE_BLESS=1` regenerates them).

#[test]
fn committed_schemas_match_the_generated_ones() {
    let drift: Vec<String> = rackpipe_vault_bootstrap::documents::schemas()
        .into_iter()
        .filter_map(|(_, file, schema)| {
            rackpipe_model::schema::check_committed(file, &schema).err()
        })
        .collect();
    assert!(drift.is_empty(), "{drift:#?}");
}
