//! `haproxy-gen` (being written).
fn main() {}
