//! Child processes every tool starts on the machine it runs on (`etcdctl`, the drill's `etcd`,
//! `haproxy -c`, `keepalived -t`, nfs-export's local shell) start with a clean environment: only the
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

#[cfg(test)]
mod tests {
    /// Only the allow-listed variables reach the child: a token in this process's environment
    /// does not.
    #[test]
    fn a_child_sees_no_token() {
        let out = super::command("env")
            .env("RACKPIPE_CHILD_TEST", "1")
            .output()
            .expect("env runs");
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            let name = line.split('=').next().unwrap_or("");
            assert!(
                super::INHERITED.contains(&name) || name == "RACKPIPE_CHILD_TEST",
                "{line}"
            );
        }
    }
}
