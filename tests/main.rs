//! Integration tests that drive the real binaries, as users and CI do.

mod broken_sites;
mod ci_template;
mod cli;
mod documents;
mod drills;
mod etcd_backup;
mod haproxy_gen;
mod image;
mod import;
mod metrics;
mod nfs_export;
mod prompt;
mod pve_sync;
mod rehearsal;
mod render_modes;
mod support;
mod validate_secrets;
mod vault_bootstrap;
