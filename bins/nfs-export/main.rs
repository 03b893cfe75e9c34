//! `nfs-export` (being written).
fn main() {}
