//! `kubeadm-join` (being written).
fn main() {}
