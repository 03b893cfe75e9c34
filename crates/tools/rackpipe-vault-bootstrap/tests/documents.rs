//! Every document kind `vault-bootstrap` prints has a committed schema under `schemas/`
//! (`RACKPIPE_BLESS=1` regenerates them).

#[test]
fn committed_schemas_match_the_generated_ones() {
    let drift = rackpipe_model::schema::drifted(&rackpipe_vault_bootstrap::documents::schemas());
    assert!(drift.is_empty(), "{drift:#?}");
}
