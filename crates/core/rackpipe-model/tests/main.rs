//! The integration tests of `rackpipe-model`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod fuzz;
mod injection;
mod schemas;
mod semantic;
mod vault_certificates;
