//! One lab host: a network namespace with its own view of a few directories (a private mount
//! namespace with per-host bind mounts), and the daemons started in it.
//!
//! This is the interface between the lab's topology (which creates hosts) and the daemon
//! modules (which start OpenBao, HAProxy, etcd, ... on them).

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A lab host: where a daemon runs and how to start processes there.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Host {
    /// The site's name for the host (e.g. `ct01005`, `haproxy-1`, `router`).
    pub name: String,
    /// The network namespace (`rp<lab-id>-<short>`), created and removed by the lab.
    pub netns: String,
    /// The host's address inside its namespace (in 198.18.0.0/15).
    pub address: Ipv4Addr,
    /// A directory private to this host (configs, data, logs, pid files) under the lab's state dir.
    pub dir: PathBuf,
    /// Bind mounts applied in the host's mount namespace: (source under `dir`, target path such
    /// as `/etc/haproxy`). The target must exist on the machine (the topology creates missing,
    /// empty directories and removes the ones it created).
    pub binds: Vec<(PathBuf, PathBuf)>,
}

impl Host {
    /// A command that runs `program` in this host's network namespace, with the host's bind
    /// mounts in a private mount namespace (`ip netns exec NS unshare -m sh -c 'mount --bind
    /// ...; exec "$0" "$@"' program args...`). Add arguments with `.arg()` as usual.
    #[must_use]
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut script = String::from("set -e; mount --make-rprivate / 2>/dev/null || true; ");
        for (source, target) in &self.binds {
            script.push_str(&format!(
                "mount --bind {} {}; ",
                shell_quote(&source.display().to_string()),
                shell_quote(&target.display().to_string())
            ));
        }
        script.push_str("exec \"$0\" \"$@\"");
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.netns,
            "unshare",
            "-m",
            "sh",
            "-c",
            &script,
        ])
        .arg(program.as_ref());
        cmd
    }

    /// A path inside the host's private directory.
    #[must_use]
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.join(rel)
    }
}

/// Quotes `s` for a POSIX shell.
#[must_use]
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
