//! `pve-sync` (being written).
fn main() {}
