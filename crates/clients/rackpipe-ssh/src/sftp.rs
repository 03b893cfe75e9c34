//! SFTP: for hosts without a POSIX shell (RouterOS serves its files over SFTP with the API's
//! user and password).

use crate::{Error, Session};

/// Read size for [`Session::sftp_download`]; russh-sftp pipelines its own requests below this.
const SFTP_CHUNK: usize = 64 * 1024;

/// One line for an SFTP error (the status text, e.g. `No such file`).
fn sftp_message(err: &russh_sftp::client::error::Error) -> String {
    use russh_sftp::client::error::Error as E;
    let text = match err {
        E::Status(status) if !status.error_message.trim().is_empty() => {
            status.error_message.clone()
        }
        E::Status(status) => status.status_code.to_string(),
        other => other.to_string(),
    };
    text.replace(['\n', '\r'], " ").trim().to_owned()
}

impl Session {
    /// Opens the `sftp` subsystem on a new channel.
    async fn sftp(&self) -> Result<russh_sftp::client::SftpSession, Error> {
        let ssh_err = |e: russh::Error| Error::Ssh {
            host: self.label.clone(),
            message: e.to_string(),
        };
        let start = async {
            let channel = self.handle.channel_open_session().await.map_err(ssh_err)?;
            channel
                .request_subsystem(true, "sftp")
                .await
                .map_err(ssh_err)?;
            russh_sftp::client::SftpSession::new(channel.into_stream())
                .await
                .map_err(|e| Error::Ssh {
                    host: self.label.clone(),
                    message: format!("sftp subsystem: {}", sftp_message(&e)),
                })
        };
        let sftp = tokio::time::timeout(self.exec_timeout, start)
            .await
            .map_err(|_| Error::Timeout {
                host: self.label.clone(),
                seconds: self.exec_timeout.as_secs_f64(),
                what: "starting sftp".to_owned(),
            })??;
        sftp.set_timeout(self.exec_timeout.as_secs().max(1));
        Ok(sftp)
    }

    /// Streams the remote file `remote_path` over SFTP into `writer` and returns the number of
    /// bytes written. Memory stays bounded (64 KiB plus russh-sftp's pipelined reads) whatever
    /// the file size; each read must make progress within the session's exec timeout. The
    /// writer is flushed, not synced or closed: that is the caller's business. Relative paths
    /// are relative to the SFTP server's start directory (on RouterOS, the file root).
    ///
    /// # Errors
    /// [`Error::Remote`] when the file is missing or unreadable (names the host and path),
    /// [`Error::LocalWrite`] when `writer` fails, [`Error::Timeout`] and [`Error::Ssh`].
    pub async fn sftp_download<W>(&self, remote_path: &str, writer: &mut W) -> Result<u64, Error>
    where
        W: tokio::io::AsyncWrite + Unpin + ?Sized,
    {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let sftp = self.sftp().await?;
        let result = async {
            let remote = |message: String| Error::Remote {
                host: self.label.clone(),
                path: remote_path.to_owned(),
                message,
            };
            let mut file = sftp
                .open(remote_path)
                .await
                .map_err(|e| remote(format!("cannot open over sftp: {}", sftp_message(&e))))?;
            let mut buf = vec![0u8; SFTP_CHUNK];
            let mut total = 0u64;
            loop {
                let n = tokio::time::timeout(self.exec_timeout, file.read(&mut buf))
                    .await
                    .map_err(|_| Error::Timeout {
                        host: self.label.clone(),
                        seconds: self.exec_timeout.as_secs_f64(),
                        what: format!("reading {remote_path} over sftp"),
                    })?
                    .map_err(|e| remote(format!("sftp read failed: {e}")))?;
                if n == 0 {
                    break;
                }
                writer
                    .write_all(&buf[..n])
                    .await
                    .map_err(|e| Error::LocalWrite {
                        host: self.label.clone(),
                        path: remote_path.to_owned(),
                        message: e.to_string(),
                    })?;
                total += n as u64;
            }
            writer.flush().await.map_err(|e| Error::LocalWrite {
                host: self.label.clone(),
                path: remote_path.to_owned(),
                message: e.to_string(),
            })?;
            let _ = file.shutdown().await;
            Ok(total)
        }
        .await;
        let _ = sftp.close().await;
        result
    }

    /// Removes a remote file over SFTP (for hosts without a shell); a missing file is an
    /// error here, unlike [`Session::remove_file`].
    ///
    /// # Errors
    /// [`Error::Remote`] naming the host and path; transport errors.
    pub async fn sftp_remove_file(&self, remote_path: &str) -> Result<(), Error> {
        let sftp = self.sftp().await?;
        let result = sftp
            .remove_file(remote_path)
            .await
            .map_err(|e| Error::Remote {
                host: self.label.clone(),
                path: remote_path.to_owned(),
                message: format!("cannot remove over sftp: {}", sftp_message(&e)),
            });
        let _ = sftp.close().await;
        result
    }
}

/// SFTP against a real OpenSSH `sshd` on loopback (`cargo test -p rackpipe-ssh --features
/// testing`; skipped without OpenSSH, failing in CI).
#[cfg(all(test, feature = "testing"))]
mod sftp_tests {
    use sha2::{Digest as _, Sha256};

    use super::*;
    use crate::testing::SshServer;
    use crate::{ConnectOptions, HostKeyPolicy, Password};

    /// Pseudo-random bytes (xorshift64*, seeded from the clock): incompressible test data.
    fn random_bytes(len: usize) -> Vec<u8> {
        let mut state = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        out.truncate(len);
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sftp_download_is_byte_identical() {
        let Some(server) = SshServer::start() else {
            return;
        };
        let body = random_bytes(5 * 1024 * 1024 + 123);
        std::fs::write(server.sftp_root().join("router.backup"), &body).unwrap();
        let s = Session::connect(&server.options()).await.unwrap();
        // Relative to the SFTP start directory, like a RouterOS file name.
        let mut got: Vec<u8> = Vec::new();
        let n = s.sftp_download("router.backup", &mut got).await.unwrap();
        assert_eq!(n, body.len() as u64);
        assert!(got == body, "downloaded bytes differ");
        assert_eq!(
            hex::encode(Sha256::digest(&got)),
            hex::encode(Sha256::digest(&body))
        );
        // Absolute paths work too; an empty file is zero bytes, not an error.
        let empty = server.sftp_root().join("empty.rsc");
        std::fs::write(&empty, b"").unwrap();
        let mut got = Vec::new();
        assert_eq!(
            s.sftp_download(empty.to_str().unwrap(), &mut got)
                .await
                .unwrap(),
            0
        );
        // Removal over SFTP.
        s.sftp_remove_file("router.backup").await.unwrap();
        assert!(!server.sftp_root().join("router.backup").exists());
        let err = s.sftp_remove_file("router.backup").await.unwrap_err();
        assert!(matches!(err, Error::Remote { .. }), "{err}");
        s.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sftp_missing_file_is_one_line_naming_host_and_path() {
        let Some(server) = SshServer::start() else {
            return;
        };
        let s = Session::connect(&server.options()).await.unwrap();
        let mut got = Vec::new();
        let err = s
            .sftp_download("no-such.backup", &mut got)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Remote { .. }), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.starts_with(&format!("127.0.0.1:{}: no-such.backup: ", server.port())),
            "{text}"
        );
        assert!(text.contains("No such file"), "{text}");
        assert!(!err.is_transient());
        assert!(got.is_empty());
        // The session is still usable afterwards.
        std::fs::write(server.sftp_root().join("x"), b"hello").unwrap();
        s.sftp_download("x", &mut got).await.unwrap();
        assert_eq!(got, b"hello");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sftp_wrong_host_key_is_refused_before_any_transfer() {
        let Some(server) = SshServer::start() else {
            return;
        };
        std::fs::write(server.sftp_root().join("secret.backup"), b"data").unwrap();
        let mut options = server.options();
        options.host_key =
            HostKeyPolicy::Fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into());
        let err = Session::connect(&options).await.unwrap_err();
        assert!(matches!(err, Error::HostKeyMismatch { .. }), "{err}");
        assert!(err.to_string().starts_with("127.0.0.1:"), "{err}");
        // A known_hosts file listing another key for the host: refused too.
        let other = server.dir().join("other_known_hosts");
        std::fs::write(
            &other,
            format!(
                "[127.0.0.1]:{} {}\n",
                server.port(),
                std::fs::read_to_string(server.dir().join("client_ed25519.pub"))
                    .unwrap()
                    .trim()
            ),
        )
        .unwrap();
        options.host_key = HostKeyPolicy::KnownHosts {
            path: other,
            accept_new: false,
        };
        let err = Session::connect(&options).await.unwrap_err();
        assert!(matches!(err, Error::HostKeyChanged { .. }), "{err}");
        // Nothing was transferred (no session existed to transfer with): the file is intact
        // and the server logged no sftp session for it.
        assert_eq!(
            std::fs::read(server.sftp_root().join("secret.backup")).unwrap(),
            b"data"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_is_tried_and_refused_cleanly() {
        let Some(server) = SshServer::start() else {
            return;
        };
        // The test sshd has password authentication off: a password-only login is refused
        // with a one-line error that does not contain the password.
        let mut options = ConnectOptions::with_password(
            "127.0.0.1",
            server.port(),
            server.user(),
            Password::new("not-the-password"),
            HostKeyPolicy::Fingerprint(server.host_fingerprint().to_owned()),
        );
        let err = Session::connect(&options).await.unwrap_err();
        assert!(matches!(err, Error::AuthRejected { .. }), "{err}");
        assert!(!err.to_string().contains("not-the-password"));
        // Key plus password: the key is tried first and succeeds.
        options.key_file = server.client_key();
        let s = Session::connect(&options).await.unwrap();
        let mut got = Vec::new();
        std::fs::write(server.sftp_root().join("y"), b"k").unwrap();
        s.sftp_download("y", &mut got).await.unwrap();
        assert_eq!(got, b"k");
    }
}
