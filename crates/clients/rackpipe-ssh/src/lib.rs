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

mod error;
mod files;
mod host_key;
mod options;
mod session;
mod sftp;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::Error;
pub use host_key::{HostKeyPolicy, fingerprint, fingerprint_of_file};
pub use options::{ConnectOptions, Password};
pub use rackpipe_secret_value::Secret;
pub use session::{EXEC_OUTPUT_LIMIT, Output, Session};
pub use stream::RemoteProcess;

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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::host_key::check_fingerprint_syntax;

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
        assert_eq!(format!("{p:?}"), "Secret(<redacted>)");
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
