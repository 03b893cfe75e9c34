//! The integration tests of `rackpipe-etcd-backup`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod cluster;
mod common;
mod documents;
mod retention;
mod ssh;
