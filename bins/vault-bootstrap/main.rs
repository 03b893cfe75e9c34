//! `vault-bootstrap` (being written).
fn main() {}
