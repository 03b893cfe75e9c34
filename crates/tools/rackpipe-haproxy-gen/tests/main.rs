//! The integration tests of `rackpipe-haproxy-gen`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod check;
mod common;
mod deploy;
mod injection;
mod metrics;
mod openbao;
mod render;
mod tls_certificate;
mod vault_secrets;
mod vrrp;
