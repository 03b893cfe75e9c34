//! A small SSH client for rackpipe's tools, on top of [`russh`].
//!
//! - **Host keys are always verified**: against a pinned SHA-256 fingerprint
//!   (`SHA256:…`, as `ssh-keygen -lf` prints it) or a `known_hosts` file. An unknown or
//!   changed key is an error naming the host; there is no trust-on-first-use unless
//!   [`HostKeyPolicy::KnownHosts::accept_new`] is set explicitly.
//! - Key-based authentication from a private key file, and password authentication
//!   ([`ConnectOptions::password`], a redacting [`Password`]) for devices such as RouterOS.
//! - [`Session::exec`] runs a command with a timeout and returns its [`Output`];
//!   [`Session::read_file`] and [`Session::write_file_atomic`] move whole files (the write goes
//!   to a temp file in the same directory, is fsynced and renamed into place).
//! - [`Session::exec_streaming`] hands a command's standard output over as it arrives
//!   ([`RemoteProcess`]), for outputs too large to hold in memory.
//! - [`Session::sftp_download`] streams a remote file over SFTP into any writer with bounded
//!   memory (for hosts without a POSIX shell, such as RouterOS); [`Session::sftp_remove_file`]
//!   removes one.
//! - Every [`Error`] names the host and says whether it is worth retrying
//!   ([`Error::is_transient`]).
//!
//! The remote side needs only a POSIX shell and coreutils (`cat`, `chmod`, `mv`, `sync`).
//!
//! With the `testing` feature, [`testing::SshServer`] starts a real `sshd` on loopback for tests.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

#[cfg(feature = "testing")]
pub mod testing;

/// How the server's host key is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// The key's SHA-256 fingerprint must equal this one (`SHA256:base64`, as printed by
    /// `ssh-keygen -lf key.pub`).
    Fingerprint(String),
    /// The key must be listed for the host in this `known_hosts` file.
    KnownHosts {
        /// The file (`[host]:port` entries for ports other than 22; hashed entries work).
        path: PathBuf,
        /// Add an unknown host's key to the file instead of failing (trust on first use).
        /// A *changed* key is still an error.
        accept_new: bool,
    },
}

impl HostKeyPolicy {
    /// The one way a tool turns its host-key flags and the site into a policy (no trust on
    /// first use): a pinned `fingerprint` given on the command line wins, then the host's key
    /// pinned in the site or an inventory (`site_pin`), then the `known_hosts` file. A
    /// fingerprint must read `SHA256:<base64>`, as `ssh-keygen -lf` prints it.
    ///
    /// # Errors
    /// [`Error::BadFingerprint`] for a malformed fingerprint, [`Error::NoHostKeyPolicy`] when
    /// none of the three is given (callers name their own flags in the usage message).
    pub fn from_options(
        fingerprint: Option<&str>,
        known_hosts: Option<&Path>,
        site_pin: Option<&str>,
    ) -> Result<Self, Error> {
        if let Some(fp) = fingerprint.or(site_pin) {
            check_fingerprint_syntax(fp)?;
            return Ok(Self::Fingerprint(fp.to_owned()));
        }
        known_hosts
            .map(|path| Self::KnownHosts {
                path: path.to_owned(),
                accept_new: false,
            })
            .ok_or(Error::NoHostKeyPolicy)
    }

    /// This policy, or the fingerprint `pin` when one is given for this host (the site's or an
    /// inventory's pinned key overrides the tool-wide policy).
    #[must_use]
    pub fn pinned_or(self, pin: Option<&str>) -> Self {
        pin.map_or(self, |fp| Self::Fingerprint(fp.to_owned()))
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Private key file (OpenSSH format, unencrypted); an empty path means no key (password
    /// only).
    pub key_file: PathBuf,
    /// Password, tried when there is no key or the server refuses the key.
    pub password: Option<Password>,
    /// Host-key verification.
    pub host_key: HostKeyPolicy,
    /// Limit for TCP connect + handshake + authentication.
    pub connect_timeout: Duration,
    /// Default limit for one [`Session::exec`].
    pub exec_timeout: Duration,
}

impl ConnectOptions {
    /// Options with the default timeouts (10 s connect, 60 s per command).
    #[must_use]
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        key_file: impl Into<PathBuf>,
        host_key: HostKeyPolicy,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            user: user.into(),
            key_file: key_file.into(),
            password: None,
            host_key,
            connect_timeout: Duration::from_secs(10),
            exec_timeout: Duration::from_secs(60),
        }
    }

    /// Options for password authentication only (no key file), with the default timeouts.
    #[must_use]
    pub fn with_password(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: Password,
        host_key: HostKeyPolicy,
    ) -> Self {
        let mut options = Self::new(host, port, user, PathBuf::new(), host_key);
        options.password = Some(password);
        options
    }

    /// `host:port`, as errors print it.
    #[must_use]
    pub fn label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A password: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The password itself (for the authentication request only).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Errors; each message is one line that names the host (or the file).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// TCP connection failed (refused, unreachable, DNS).
    #[error("{host}: cannot connect: {message}")]
    Connect {
        /// `host:port`.
        host: String,
        /// The cause.
        message: String,
    },
    /// An operation took longer than allowed.
    #[error("{host}: timed out after {seconds:.1}s while {what}")]
    Timeout {
        /// `host:port`.
        host: String,
        /// The limit.
        seconds: f64,
        /// What was running.
        what: String,
    },
    /// The host key does not match the pinned fingerprint.
    #[error("{host}: host key {actual} does not match the pinned fingerprint {expected}")]
    HostKeyMismatch {
        /// `host:port`.
        host: String,
        /// The server's key fingerprint.
        actual: String,
        /// The pinned one.
        expected: String,
    },
    /// The host is not in `known_hosts` and `accept_new` is off.
    #[error(
        "{host}: host key {actual} is unknown: not listed in {known_hosts} (no trust on first use; add it or pin its fingerprint)"
    )]
    UnknownHostKey {
        /// `host:port`.
        host: String,
        /// The server's key fingerprint.
        actual: String,
        /// The file checked.
        known_hosts: String,
    },
    /// `known_hosts` has a different key of the same type for the host.
    #[error("{host}: HOST KEY CHANGED: {actual} differs from {known_hosts} line {line}")]
    HostKeyChanged {
        /// `host:port`.
        host: String,
        /// The server's key fingerprint.
        actual: String,
        /// The file checked.
        known_hosts: String,
        /// The line holding the old key.
        line: usize,
    },
    /// The pinned fingerprint is not `SHA256:<base64>`.
    #[error(
        "host_key: {0:?} is not a SHA-256 fingerprint like SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
    )]
    BadFingerprint(String),
    /// Neither a pinned fingerprint nor a `known_hosts` file was given.
    #[error(
        "no host key to verify against: give a known_hosts file or a pinned SHA256: fingerprint (host keys are always verified; no trust on first use)"
    )]
    NoHostKeyPolicy,
    /// The known_hosts file could not be read or written.
    #[error("{host}: known_hosts {path}: {message}")]
    KnownHosts {
        /// `host:port`.
        host: String,
        /// The file.
        path: String,
        /// The cause.
        message: String,
    },
    /// The private key file could not be loaded.
    #[error("{path}: cannot load private key: {message}")]
    Key {
        /// The file.
        path: String,
        /// The cause (never the key).
        message: String,
    },
    /// The server refused the key (and the password, if one was given).
    #[error("{host}: authentication as {user:?} was refused (key and password, as given)")]
    AuthRejected {
        /// `host:port`.
        host: String,
        /// The remote user.
        user: String,
    },
    /// The SSH session failed (disconnect, protocol error).
    #[error("{host}: ssh: {message}")]
    Ssh {
        /// `host:port`.
        host: String,
        /// The cause.
        message: String,
    },
    /// Writing the local copy of a downloaded file failed.
    #[error("{host}: {path}: cannot write the local copy: {message}")]
    LocalWrite {
        /// `host:port`.
        host: String,
        /// The remote path being downloaded.
        path: String,
        /// The cause.
        message: String,
    },
    /// A command printed more than the output limit (it is not read further; a broken or
    /// hostile host cannot exhaust our memory).
    #[error("{host}: {what}: more than {limit} of output, refused (not read further)")]
    OutputTooLarge {
        /// `host:port`.
        host: String,
        /// `"cat" standard output`.
        what: String,
        /// The limit, human-readable.
        limit: String,
    },
    /// A remote file operation failed.
    #[error("{host}: {path}: {message}")]
    Remote {
        /// `host:port`.
        host: String,
        /// The remote path.
        path: String,
        /// What went wrong (first line of the remote stderr).
        message: String,
    },
}

impl Error {
    /// Whether retrying later may help (network trouble, timeouts, dropped sessions).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::Timeout { .. } | Self::Ssh { .. }
        )
    }

    /// The `host:port` the error is about, if any.
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        match self {
            Self::Connect { host, .. }
            | Self::Timeout { host, .. }
            | Self::HostKeyMismatch { host, .. }
            | Self::UnknownHostKey { host, .. }
            | Self::HostKeyChanged { host, .. }
            | Self::KnownHosts { host, .. }
            | Self::AuthRejected { host, .. }
            | Self::Ssh { host, .. }
            | Self::LocalWrite { host, .. }
            | Self::OutputTooLarge { host, .. }
            | Self::Remote { host, .. } => Some(host),
            Self::BadFingerprint(_) | Self::NoHostKeyPolicy | Self::Key { .. } => None,
        }
    }
}

/// What a remote command produced.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit status; `None` when the command died from a signal or the server sent none.
    pub status: Option<u32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Whether the command exited with status 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Standard output as text (lossy).
    #[must_use]
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (lossy).
    #[must_use]
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The first non-empty line of stderr (or stdout), for one-line error messages.
    #[must_use]
    pub fn first_error_line(&self) -> String {
        let pick = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_owned)
        };
        pick(&self.stderr)
            .or_else(|| pick(&self.stdout))
            .unwrap_or_else(|| {
                format!(
                    "exit status {}",
                    self.status
                        .map_or_else(|| "none".to_owned(), |s| s.to_string())
                )
            })
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("status", &self.status)
            .field("stdout", &format_args!("{} bytes", self.stdout.len()))
            .field("stderr", &self.stderr_text())
            .finish()
    }
}

/// SHA-256 fingerprint of a public key, `SHA256:<base64 without padding>`.
#[must_use]
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Quotes `s` for a POSIX shell (single quotes; embedded `'` become `'\''`).
#[must_use]
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn check_fingerprint_syntax(fp: &str) -> Result<(), Error> {
    let ok = fp.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    });
    if ok {
        Ok(())
    } else {
        Err(Error::BadFingerprint(fp.to_owned()))
    }
}

/// russh's callback object: verifies the host key and records why it said no.
struct Verifier {
    label: String,
    host: String,
    port: u16,
    policy: HostKeyPolicy,
    rejection: Arc<Mutex<Option<Error>>>,
}

impl Verifier {
    fn verdict(&self, key: &PublicKey) -> Result<(), Error> {
        let actual = fingerprint(key);
        match &self.policy {
            HostKeyPolicy::Fingerprint(expected) => {
                if &actual == expected {
                    Ok(())
                } else {
                    Err(Error::HostKeyMismatch {
                        host: self.label.clone(),
                        actual,
                        expected: expected.clone(),
                    })
                }
            }
            HostKeyPolicy::KnownHosts { path, accept_new } => {
                let known_hosts = path.display().to_string();
                if !path.exists() && !accept_new {
                    return Err(Error::UnknownHostKey {
                        host: self.label.clone(),
                        actual,
                        known_hosts,
                    });
                }
                let found = if path.exists() {
                    russh::keys::check_known_hosts_path(&self.host, self.port, key, path)
                } else {
                    Ok(false)
                };
                match found {
                    Ok(true) => Ok(()),
                    Ok(false) if *accept_new => {
                        tracing::warn!(host = %self.label, fingerprint = %actual, file = %known_hosts, "accepting new host key");
                        russh::keys::known_hosts::learn_known_hosts_path(
                            &self.host, self.port, key, path,
                        )
                        .map_err(|e| Error::KnownHosts {
                            host: self.label.clone(),
                            path: known_hosts,
                            message: e.to_string(),
                        })
                    }
                    Ok(false) => Err(Error::UnknownHostKey {
                        host: self.label.clone(),
                        actual,
                        known_hosts,
                    }),
                    Err(russh::keys::Error::KeyChanged { line }) => Err(Error::HostKeyChanged {
                        host: self.label.clone(),
                        actual,
                        known_hosts,
                        line,
                    }),
                    Err(e) => Err(Error::KnownHosts {
                        host: self.label.clone(),
                        path: known_hosts,
                        message: e.to_string(),
                    }),
                }
            }
        }
    }
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verdict(key),
            PublicKeyOrCertificate::Certificate(_) => Err(Error::Ssh {
                host: self.label.clone(),
                message:
                    "the server offered a host certificate; only plain host keys are supported"
                        .to_owned(),
            }),
        };
        match verdict {
            Ok(()) => Ok(true),
            Err(err) => {
                if let Ok(mut slot) = self.rejection.lock() {
                    *slot = Some(err);
                }
                Ok(false)
            }
        }
    }
}

/// An authenticated SSH connection to one host.
pub struct Session {
    handle: Handle<Verifier>,
    label: String,
    exec_timeout: Duration,
    output_limit: usize,
}

/// The most standard output, and separately standard error, one [`Session::exec`] keeps in
/// memory (the largest real output, a `cat` of a configuration or a manifest, is KiBs; large
/// transfers stream: [`Session::exec_streaming`], [`Session::sftp_download`]).
pub const EXEC_OUTPUT_LIMIT: usize = 64 * 1024 * 1024;

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.label)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects, verifies the host key and authenticates with the private key file.
    ///
    /// # Errors
    /// [`Error::Connect`]/[`Error::Timeout`] (transient), host-key errors, [`Error::Key`],
    /// [`Error::AuthRejected`].
    pub async fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        let label = options.label();
        if let HostKeyPolicy::Fingerprint(fp) = &options.host_key {
            check_fingerprint_syntax(fp)?;
        }
        let key = if options.key_file.as_os_str().is_empty() {
            None
        } else {
            Some(
                russh::keys::load_secret_key(&options.key_file, None).map_err(|e| Error::Key {
                    path: options.key_file.display().to_string(),
                    message: e.to_string(),
                })?,
            )
        };
        if key.is_none() && options.password.is_none() {
            return Err(Error::Key {
                path: String::new(),
                message: format!("{label}: neither a key file nor a password was given"),
            });
        }
        let rejection = Arc::new(Mutex::new(None));
        let verifier = Verifier {
            label: label.clone(),
            host: options.host.clone(),
            port: options.port,
            policy: options.host_key.clone(),
            rejection: Arc::clone(&rejection),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(
                options.exec_timeout.max(Duration::from_secs(30)) + Duration::from_secs(30),
            ),
            keepalive_interval: Some(Duration::from_secs(15)),
            nodelay: true,
            ..client::Config::default()
        });
        let addr = (options.host.clone(), options.port);
        let timeout_err = |what: &str| Error::Timeout {
            host: label.clone(),
            seconds: options.connect_timeout.as_secs_f64(),
            what: what.to_owned(),
        };
        let connected = tokio::time::timeout(
            options.connect_timeout,
            client::connect(config, addr, verifier),
        )
        .await
        .map_err(|_| timeout_err("connecting"))?;
        let mut handle = match connected {
            Ok(handle) => handle,
            Err(err) => {
                if let Some(rejected) = rejection.lock().ok().and_then(|mut slot| slot.take()) {
                    return Err(rejected);
                }
                return Err(match err {
                    russh::Error::IO(io) => Error::Connect {
                        host: label,
                        message: io.to_string(),
                    },
                    other => Error::Ssh {
                        host: label,
                        message: other.to_string(),
                    },
                });
            }
        };
        let mut authenticated = false;
        if let Some(key) = key {
            let hash =
                tokio::time::timeout(options.connect_timeout, handle.best_supported_rsa_hash())
                    .await
                    .map_err(|_| timeout_err("negotiating"))?
                    .map_err(|e| Error::Ssh {
                        host: label.clone(),
                        message: e.to_string(),
                    })?
                    .flatten();
            let auth = tokio::time::timeout(
                options.connect_timeout,
                handle.authenticate_publickey(
                    options.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                ),
            )
            .await
            .map_err(|_| timeout_err("authenticating"))?
            .map_err(|e| Error::Ssh {
                host: label.clone(),
                message: e.to_string(),
            })?;
            authenticated = auth.success();
        }
        if !authenticated && let Some(password) = &options.password {
            let auth = tokio::time::timeout(
                options.connect_timeout,
                handle.authenticate_password(options.user.clone(), password.expose()),
            )
            .await
            .map_err(|_| timeout_err("authenticating"))?
            .map_err(|e| Error::Ssh {
                host: label.clone(),
                message: e.to_string(),
            })?;
            authenticated = auth.success();
        }
        if !authenticated {
            return Err(Error::AuthRejected {
                host: label,
                user: options.user.clone(),
            });
        }
        tracing::debug!(host = %label, "ssh session established");
        Ok(Self {
            handle,
            label,
            exec_timeout: options.exec_timeout,
            output_limit: EXEC_OUTPUT_LIMIT,
        })
    }

    /// `host:port` of this session.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.label
    }

    /// Runs `command` through the remote user's shell with the default timeout.
    ///
    /// # Errors
    /// [`Error::Timeout`] or [`Error::Ssh`]; a non-zero exit is *not* an error (see
    /// [`Output::status`]).
    pub async fn exec(&self, command: &str) -> Result<Output, Error> {
        self.exec_with(command, None, self.exec_timeout).await
    }

    /// Runs `command`, feeding `stdin` (if any) and closing it, within `timeout`.
    ///
    /// # Errors
    /// As [`Session::exec`].
    pub async fn exec_with(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, Error> {
        let fut = self.exec_inner(command, stdin);
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| Error::Timeout {
                host: self.label.clone(),
                seconds: timeout.as_secs_f64(),
                what: format!("running {:?}", first_word(command)),
            })?
    }

    /// The same session with another limit for [`Session::exec`] output (default
    /// [`EXEC_OUTPUT_LIMIT`]).
    #[must_use]
    pub fn with_output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = bytes;
        self
    }

    async fn exec_inner(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, Error> {
        let ssh_err = |e: russh::Error| Error::Ssh {
            host: self.label.clone(),
            message: e.to_string(),
        };
        let mut channel = self.handle.channel_open_session().await.map_err(ssh_err)?;
        channel.exec(true, command).await.map_err(ssh_err)?;
        if let Some(input) = stdin {
            channel.data_bytes(input.to_vec()).await.map_err(ssh_err)?;
        }
        channel.eof().await.map_err(ssh_err)?;
        let mut out = Output {
            status: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        let limit = self.output_limit;
        let too_large = |stream: &str| Error::OutputTooLarge {
            host: self.label.clone(),
            what: format!("{:?} {stream}", first_word(command)),
            limit: human_size(limit),
        };
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => {
                    if out.stdout.len() + data.len() > limit {
                        return Err(too_large("standard output"));
                    }
                    out.stdout.extend_from_slice(&data);
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    if out.stderr.len() + data.len() > limit {
                        return Err(too_large("standard error"));
                    }
                    out.stderr.extend_from_slice(&data);
                }
                ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Reads a whole remote file; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`Error::Remote`] when it exists but cannot be read; transport errors.
    pub async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        const ABSENT: u32 = 44;
        let q = shell_quote(path);
        let out = self
            .exec(&format!(
                "if [ -e {q} ]; then exec cat -- {q}; else exit {ABSENT}; fi"
            ))
            .await?;
        match out.status {
            Some(0) => Ok(Some(out.stdout)),
            Some(ABSENT) => Ok(None),
            _ => Err(self.remote(path, &out)),
        }
    }

    /// Writes `bytes` to `path` atomically: a temp file in the same directory, `chmod mode`,
    /// fsync, then `mv` over `path` (a rename) and an fsync of the directory. Readers see
    /// either the old or the new file, never a partial one.
    ///
    /// # Errors
    /// [`Error::Remote`] (directory missing, permission denied, disk full); transport errors.
    pub async fn write_file_atomic(
        &self,
        path: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), Error> {
        let (dir, name) = match path.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((dir, name)) => (dir, name),
            None => (".", path),
        };
        if name.is_empty() {
            return Err(Error::Remote {
                host: self.label.clone(),
                path: path.to_owned(),
                message: "not a file path".to_owned(),
            });
        }
        let tmp = format!(
            "{}/.{name}.rackpipe-{}.tmp",
            dir.trim_end_matches('/'),
            unique_suffix()
        );
        let (qt, qp, qd) = (shell_quote(&tmp), shell_quote(path), shell_quote(dir));
        let script = format!(
            "set -e; t={qt}; trap 'rm -f \"$t\"' EXIT; umask 077; cat > \"$t\"; chmod {mode:o} \"$t\"; sync \"$t\"; mv -f \"$t\" {qp}; sync {qd} 2>/dev/null || true"
        );
        let out = self
            .exec_with(&script, Some(bytes), self.exec_timeout)
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(self.remote(path, &out))
        }
    }

    /// Renames `from` to `to` on the remote host (atomic within one file system).
    ///
    /// # Errors
    /// [`Error::Remote`]; transport errors.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), Error> {
        let out = self
            .exec(&format!("mv -f {} {}", shell_quote(from), shell_quote(to)))
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(self.remote(to, &out))
        }
    }

    /// Removes a remote file; a missing file is not an error.
    ///
    /// # Errors
    /// [`Error::Remote`]; transport errors.
    pub async fn remove_file(&self, path: &str) -> Result<(), Error> {
        let out = self
            .exec(&format!("rm -f -- {}", shell_quote(path)))
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(self.remote(path, &out))
        }
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    fn remote(&self, path: &str, out: &Output) -> Error {
        Error::Remote {
            host: self.label.clone(),
            path: path.to_owned(),
            message: out.first_error_line(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming exec: standard output is handed over as it arrives instead of being collected, so a
// multi-gigabyte remote file can be read with bounded memory (russh's per-channel queue is
// bounded, so a slow reader slows the sender down through the SSH window).

/// Stderr kept from a streaming command (the tail, for error messages).
const STREAM_STDERR_LIMIT: usize = 64 * 1024;

/// A remote command started with [`Session::exec_streaming`]: read its standard output piece
/// by piece with [`RemoteProcess::next_stdout`], then collect its exit status and standard
/// error with [`RemoteProcess::finish`].
pub struct RemoteProcess {
    channel: russh::Channel<client::Msg>,
    label: String,
    stderr: Vec<u8>,
    status: Option<u32>,
    closed: bool,
    stdout_done: bool,
}

impl fmt::Debug for RemoteProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteProcess")
            .field("host", &self.label)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl RemoteProcess {
    fn keep_stderr(&mut self, data: &[u8]) {
        self.stderr.extend_from_slice(data);
        if self.stderr.len() > STREAM_STDERR_LIMIT {
            let excess = self.stderr.len() - STREAM_STDERR_LIMIT;
            self.stderr.drain(..excess);
        }
    }

    /// The next piece of standard output, or `Ok(None)` once standard output has ended. Standard
    /// error is kept aside (its last 64 KiB) for [`RemoteProcess::finish`]. Has no timeout of its
    /// own: wrap it in [`tokio::time::timeout`] for an idle limit.
    ///
    /// # Errors
    /// None today (a dropped connection ends the output); the `Result` leaves room for
    /// transport errors.
    pub async fn next_stdout(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.stdout_done {
            return Ok(None);
        }
        while let Some(msg) = self.channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => return Ok(Some(data.to_vec())),
                ChannelMsg::ExtendedData { data, ext: 1 } => self.keep_stderr(&data),
                ChannelMsg::ExitStatus { exit_status } => self.status = Some(exit_status),
                ChannelMsg::Eof => {
                    self.stdout_done = true;
                    return Ok(None);
                }
                ChannelMsg::Close => {
                    self.closed = true;
                    self.stdout_done = true;
                    return Ok(None);
                }
                _ => {}
            }
        }
        self.closed = true;
        self.stdout_done = true;
        Ok(None)
    }

    /// Waits for the command to end (discarding any standard output not read yet) and returns
    /// its exit status and standard error; [`Output::stdout`] is empty. Wrap it in
    /// [`tokio::time::timeout`] for a limit.
    ///
    /// # Errors
    /// None today; see [`RemoteProcess::next_stdout`].
    pub async fn finish(mut self) -> Result<Output, Error> {
        while !self.closed {
            match self.channel.wait().await {
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => self.keep_stderr(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => self.status = Some(exit_status),
                Some(ChannelMsg::Close) | None => self.closed = true,
                Some(_) => {}
            }
        }
        Ok(Output {
            status: self.status,
            stdout: Vec::new(),
            stderr: std::mem::take(&mut self.stderr),
        })
    }

    /// `host:port` the command runs on.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.label
    }

    /// Closes the channel without waiting for the command (its output pipe closes, so a
    /// writing command gets `SIGPIPE`).
    pub async fn close(self) {
        let _ = self.channel.close().await;
    }
}

impl Session {
    /// Starts `command` (standard input closed at once) and returns a handle that reads its
    /// standard output as it arrives: memory stays bounded whatever the output size. Dropping
    /// the handle only stops reading (the remote command runs on until the session closes);
    /// [`RemoteProcess::close`] closes the channel.
    ///
    /// # Errors
    /// [`Error::Timeout`] when the channel cannot be opened within the session's exec timeout;
    /// [`Error::Ssh`].
    pub async fn exec_streaming(&self, command: &str) -> Result<RemoteProcess, Error> {
        let ssh_err = |e: russh::Error| Error::Ssh {
            host: self.label.clone(),
            message: e.to_string(),
        };
        let start = async {
            let channel = self.handle.channel_open_session().await.map_err(ssh_err)?;
            channel.exec(true, command).await.map_err(ssh_err)?;
            channel.eof().await.map_err(ssh_err)?;
            Ok::<_, Error>(channel)
        };
        let channel = tokio::time::timeout(self.exec_timeout, start)
            .await
            .map_err(|_| Error::Timeout {
                host: self.label.clone(),
                seconds: self.exec_timeout.as_secs_f64(),
                what: format!("starting {:?}", first_word(command)),
            })??;
        Ok(RemoteProcess {
            channel,
            label: self.label.clone(),
            stderr: Vec::new(),
            status: None,
            closed: false,
            stdout_done: false,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// SFTP: for hosts without a POSIX shell (RouterOS serves its files over SFTP with the API's
// user and password).

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

/// `67108864` → `64 MiB`.
fn human_size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

fn first_word(command: &str) -> &str {
    command.split_whitespace().next().unwrap_or(command)
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads the public key next to a private key file (`<key>.pub`) or a `.pub` file itself and
/// returns its fingerprint; handy for pinning.
///
/// # Errors
/// [`Error::Key`] when the file is not an OpenSSH public key.
pub fn fingerprint_of_file(path: &Path) -> Result<String, Error> {
    russh::keys::load_public_key(path)
        .map(|k| fingerprint(&k))
        .map_err(|e| Error::Key {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(
            shell_quote("/etc/haproxy/haproxy.cfg"),
            "/etc/haproxy/haproxy.cfg"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn host_key_policy_from_options() {
        let fp = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        let other = "SHA256:AAAAztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        let kh = Path::new("/etc/ssh/ssh_known_hosts");
        let known = HostKeyPolicy::KnownHosts {
            path: kh.to_owned(),
            accept_new: false,
        };
        assert_eq!(
            HostKeyPolicy::from_options(Some(fp), Some(kh), Some(other)).unwrap(),
            HostKeyPolicy::Fingerprint(fp.into())
        );
        assert_eq!(
            HostKeyPolicy::from_options(None, Some(kh), Some(other)).unwrap(),
            HostKeyPolicy::Fingerprint(other.into())
        );
        assert_eq!(
            HostKeyPolicy::from_options(None, Some(kh), None).unwrap(),
            known
        );
        let none = HostKeyPolicy::from_options(None, None, None).unwrap_err();
        assert!(matches!(none, Error::NoHostKeyPolicy), "{none}");
        assert_eq!(
            none.to_string(),
            "no host key to verify against: give a known_hosts file or a pinned SHA256: fingerprint (host keys are always verified; no trust on first use)"
        );
        let bad = HostKeyPolicy::from_options(Some("MD5:aa"), Some(kh), None).unwrap_err();
        assert!(matches!(bad, Error::BadFingerprint(_)), "{bad}");
        assert_eq!(known.clone().pinned_or(None), known);
        assert_eq!(
            known.pinned_or(Some(fp)),
            HostKeyPolicy::Fingerprint(fp.into())
        );
    }

    #[test]
    fn fingerprint_syntax() {
        assert!(
            check_fingerprint_syntax("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s").is_ok()
        );
        assert!(check_fingerprint_syntax("uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s").is_err());
        assert!(check_fingerprint_syntax("MD5:aa:bb").is_err());
    }

    #[test]
    fn password_is_redacted() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        assert_eq!(p.to_string(), "<redacted>");
        let o = ConnectOptions::with_password(
            "h",
            22,
            "admin",
            p,
            HostKeyPolicy::Fingerprint("SHA256:x".into()),
        );
        assert!(!format!("{o:?}").contains("hunter2"));
        assert_eq!(o.password.as_ref().map(Password::expose), Some("hunter2"));
    }

    #[test]
    fn transient_classification() {
        let c = Error::Connect {
            host: "h:22".into(),
            message: "refused".into(),
        };
        assert!(c.is_transient());
        assert_eq!(c.host(), Some("h:22"));
        let k = Error::HostKeyMismatch {
            host: "h:22".into(),
            actual: "a".into(),
            expected: "b".into(),
        };
        assert!(!k.is_transient());
        assert!(k.to_string().starts_with("h:22: host key"));
    }
}

/// Output limits against a real OpenSSH `sshd` on loopback (skipped without OpenSSH, failing
/// in CI).
#[cfg(all(test, feature = "testing"))]
mod output_limit_tests {
    use super::*;
    use crate::testing::SshServer;

    /// A command that prints without end is cut at the limit with one line naming the host
    /// (before, `exec` kept everything: a hostile host could exhaust our memory); output within
    /// the limit is whole, and the session still works afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn endless_output_is_refused_at_the_limit() {
        let Some(server) = SshServer::start() else {
            return;
        };
        let s = Session::connect(&server.options())
            .await
            .unwrap()
            .with_output_limit(1 << 20);
        let err = s.exec("yes rackpipe").await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::OutputTooLarge { .. }), "{text}");
        assert!(
            text.ends_with(
                ": \"yes\" standard output: more than 1 MiB of output, refused (not read further)"
            ),
            "{text}"
        );
        assert_eq!(err.host(), Some(s.host()));
        assert!(!err.is_transient());
        let err = s.exec("yes rackpipe >&2").await.unwrap_err();
        assert!(err.to_string().contains("standard error"), "{err}");
        let out = s.exec("head -c 1048576 /dev/zero").await.unwrap();
        assert_eq!(out.stdout.len(), 1 << 20);
        s.close().await;
    }
}

/// SFTP against a real OpenSSH `sshd` on loopback (`cargo test -p rackpipe-ssh --features
/// testing`; skipped without OpenSSH, failing in CI).
#[cfg(all(test, feature = "testing"))]
mod sftp_tests {
    use sha2::{Digest as _, Sha256};

    use super::*;
    use crate::testing::SshServer;

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
