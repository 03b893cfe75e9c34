//! The integration tests of `rackpipe-kubeadm`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod join;
mod render;
