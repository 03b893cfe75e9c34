//! The integration tests of `rackpipe-nfs-export`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod common;
mod exportfs;
mod ganesha;
mod ganesha_apply;
mod import;
mod lint_props;
mod linux_apply;
mod render;
mod sync;
mod synology;
