//! Where and how to connect ([`ConnectOptions`]) and the password for password
//! authentication ([`Password`]: the one secret type, redacted and zeroed on drop).

use std::path::PathBuf;
use std::time::Duration;

use crate::HostKeyPolicy;

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

/// A password (for devices such as RouterOS): rackpipe's one secret type,
/// [`rackpipe_secret_value::Secret`], never shown by `Debug` or `Display` and zeroed on drop.
pub type Password = rackpipe_secret_value::Secret;
