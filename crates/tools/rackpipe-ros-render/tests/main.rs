//! The integration tests of `rackpipe-ros-render`, one test binary (one link of the dependency tree
//! instead of one per file). Each module is one former `tests/*.rs` file.

mod backup_sftp;
mod cli;
mod facts;
mod import;
mod injection;
mod menus;
mod remote;
mod render;
