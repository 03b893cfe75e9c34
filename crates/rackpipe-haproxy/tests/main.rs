//! The integration tests of `rackpipe-haproxy`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod common;
mod check;
mod deploy;
mod openbao;
mod render;
mod tls_certificate;
mod vault_secrets;
mod vrrp;
