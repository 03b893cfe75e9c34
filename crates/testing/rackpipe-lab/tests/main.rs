//! The integration tests of `rackpipe-lab`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod daemons_etcd;
mod daemons_ganesha;
mod daemons_lb;
mod daemons_openbao;
mod daemons_support;
mod lab;
mod labsite;
