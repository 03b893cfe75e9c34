//! The integration tests of `rackpipe-kubeadm-join`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod alert_rules;
mod join;
mod render;
