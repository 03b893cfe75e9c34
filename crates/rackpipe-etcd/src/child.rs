//! Child processes (`etcdctl`, the drill's `etcd`) start with a clean environment: only the
//! variables a program needs to run ([`INHERITED`]) pass, so no credential of the tool's own
//! environment reaches them (`VAULT_TOKEN`, `BAO_TOKEN`, the GitLab job's `VAULT_ID_TOKEN`,
//! and any `env:NAME` the site refers to for a secret: its names are the site's, not ours,
//! so an allow-list is the only rule that holds), and no `ETCD_*`/`ETCDCTL_*` variable of the
//! caller changes their configuration behind the flags we pass.

use std::ffi::OsStr;
use std::process::Command;

/// Variables a child inherits, when set: where programs are found, the locale, the time zone
/// and the temp dir.
pub const INHERITED: [&str; 7] = ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"];

/// A [`Command`] for `program` whose environment is only the [`INHERITED`] variables; add
/// what the child needs with [`Command::env`].
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for name in INHERITED {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd
}
