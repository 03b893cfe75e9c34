//! A real OpenSSH server on loopback for tests (feature `testing`).
//!
//! [`SshServer::start`] runs `sshd -D -e -f <tmp config>` as the current user on a free
//! 127.0.0.1 port with a throwaway ed25519 host key and a throwaway client key in its
//! `authorized_keys`, and the `internal-sftp` subsystem starting in [`SshServer::sftp_root`]. The server is killed and its directory removed when the value drops.
//!
//! ```no_run
//! # async fn demo() {
//! let Some(server) = rackpipe_ssh::testing::SshServer::start() else { return }; // skipped
//! let session = rackpipe_ssh::Session::connect(&server.options()).await.unwrap();
//! assert!(session.exec("true").await.unwrap().success());
//! # }
//! ```
#![allow(clippy::print_stderr, clippy::missing_panics_doc)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rackpipe_testkit::{ChildGuard, free_port, require_tool};

use crate::{ConnectOptions, HostKeyPolicy};

/// A running `sshd` for tests.
#[derive(Debug)]
pub struct SshServer {
    dir: tempfile::TempDir,
    port: u16,
    user: String,
    host_fingerprint: String,
    child: ChildGuard,
}

impl SshServer {
    /// Starts the server; `None` (test skipped) when `sshd` or `ssh-keygen` is missing.
    /// Panics when a present `sshd` fails to start (with its stderr).
    #[must_use]
    pub fn start() -> Option<Self> {
        let sshd = require_tool("sshd")?;
        let keygen = require_tool("ssh-keygen")?;
        let dir = tempfile::Builder::new()
            .prefix("rackpipe-sshd-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        for (name, comment) in [
            ("host_ed25519", "rackpipe-test-host"),
            ("client_ed25519", "rackpipe-test-client"),
        ] {
            let status = Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(d.join(name))
                .status()
                .expect("run ssh-keygen");
            assert!(status.success(), "ssh-keygen failed for {name}");
        }
        std::fs::create_dir(d.join("sftp")).expect("sftp dir");
        std::fs::copy(d.join("client_ed25519.pub"), d.join("authorized_keys"))
            .expect("authorized_keys");
        let user = current_user();
        if is_root() {
            // sshd insists on its privilege-separation directory when started as root.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let port = free_port();
        // `SetEnv SHLVL=1`: sshd runs every command through the user's login shell, and bash
        // reads ~/.bashrc when sshd starts it (unless SHLVL says it is a nested shell). A
        // developer's .bashrc (pyenv, nvm, conda) cost 0.3 s per command here; the tests
        // must not depend on it.
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nLogLevel ERROR\n\
             AllowUsers {user}\nMaxSessions 64\nMaxStartups 64:30:128\nSetEnv SHLVL=1\n\
             Subsystem sftp internal-sftp -d {sftp}\n",
            sftp = d.join("sftp").display(),
            hk = d.join("host_ed25519").display(),
            pid = d.join("sshd.pid").display(),
            ak = d.join("authorized_keys").display(),
        );
        std::fs::write(d.join("sshd_config"), config).expect("write sshd_config");
        let child = Command::new(&sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).expect("sshd.log"))
            .spawn()
            .expect("spawn sshd");
        let mut child = ChildGuard::new("sshd", child);
        let up = rackpipe_testkit::wait_until(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok() || !child.is_running()
        });
        if !up || !child.is_running() {
            let log = std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
            panic!("sshd did not start on 127.0.0.1:{port}: {log}");
        }
        let host_fingerprint =
            crate::fingerprint_of_file(&d.join("host_ed25519.pub")).expect("host key fingerprint");
        let known_hosts = format!(
            "[127.0.0.1]:{port} {}",
            std::fs::read_to_string(d.join("host_ed25519.pub"))
                .expect("host key")
                .trim()
        );
        std::fs::write(d.join("known_hosts"), known_hosts + "\n").expect("known_hosts");
        Some(Self {
            dir,
            port,
            user,
            host_fingerprint,
            child,
        })
    }

    /// Loopback port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user the server accepts (the current user).
    #[must_use]
    pub fn user(&self) -> &str {
        &self.user
    }

    /// SHA-256 fingerprint of the server's host key.
    #[must_use]
    pub fn host_fingerprint(&self) -> &str {
        &self.host_fingerprint
    }

    /// The client's private key file.
    #[must_use]
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// A `known_hosts` file listing the server as `[127.0.0.1]:port`.
    #[must_use]
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// The server's scratch directory (keys, config, log).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The SFTP server's start directory: relative SFTP paths resolve here (as RouterOS's
    /// file root does), absolute ones as usual.
    #[must_use]
    pub fn sftp_root(&self) -> PathBuf {
        self.dir.path().join("sftp")
    }

    /// The `sshd` process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Connect options with the host key pinned by fingerprint.
    #[must_use]
    pub fn options(&self) -> ConnectOptions {
        let mut o = ConnectOptions::new(
            "127.0.0.1",
            self.port,
            self.user.clone(),
            self.client_key(),
            HostKeyPolicy::Fingerprint(self.host_fingerprint.clone()),
        );
        o.connect_timeout = Duration::from_secs(10);
        o.exec_timeout = Duration::from_secs(30);
        o
    }

    /// Stops the server now (connections fail afterwards).
    pub fn stop(&mut self) {
        self.child.kill();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|u| !u.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".to_owned())
}
