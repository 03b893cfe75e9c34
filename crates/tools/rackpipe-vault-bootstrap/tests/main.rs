//! The integration tests of `rackpipe-vault-bootstrap`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod certificates;
mod cluster;
mod common;
mod consul_mock;
mod documents;
mod import;
mod metrics;
mod pgp_join;
mod site_checks;
