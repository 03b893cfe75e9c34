//! Every document kind `etcd-backup` prints has a committed schema under `schemas/`
//! (`RACKPIPE_BLESS=1` regenerates them).

#[test]
fn committed_schemas_match_the_generated_ones() {
    let drift = rackpipe_model::schema::drifted(&rackpipe_etcd_backup::documents::schemas());
    assert!(drift.is_empty(), "{drift:#?}");
}
