//! `etcd-backup` (being written).
fn main() {}
