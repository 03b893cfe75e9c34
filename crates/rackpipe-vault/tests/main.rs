//! The integration tests of `rackpipe-vault`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod common;
mod certificates;
mod cluster;
mod consul_mock;
mod pgp_join;
mod site_checks;
