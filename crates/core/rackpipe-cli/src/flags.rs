//! The flag groups the tools share, one name per meaning (README, "Flags"): TLS trust, SSH
//! login and host keys, the address overrides and the one `--timeout`.
//!
//! A binary flattens the groups it needs into its connection arguments. A spelling from an
//! earlier release is a hidden alias (clap's `alias`, which `--help` does not show), kept for
//! one release.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rackpipe_ssh::HostKeyPolicy;
use rackpipe_tls::Fingerprint;

use crate::CliError;

/// How a server's TLS certificate is verified: a CA file, a pinned fingerprint, or plain HTTP
/// to a loopback address (tests). None of them: the tool's default (the site's setting, else
/// the system roots).
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// TLS: trust only the CAs in this PEM file.
    #[arg(
        long,
        value_name = "FILE",
        alias = "cacert",
        conflicts_with_all = ["fingerprint", "insecure_http"]
    )]
    pub ca_file: Option<PathBuf>,
    /// TLS: pin the server's certificate by its SHA-256 fingerprint (hex, colons optional).
    #[arg(
        long,
        value_name = "SHA256",
        value_parser = parse_fingerprint,
        conflicts_with = "insecure_http"
    )]
    pub fingerprint: Option<Fingerprint>,
    /// Allow plain `http://`, to a literal loopback address only (simulators, tests).
    #[arg(long)]
    pub insecure_http: bool,
}

fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    Fingerprint::parse(text).map_err(|e| e.to_string())
}

/// SSH login: user and private key (the host's address and port come from the site or an
/// address override).
#[derive(Debug, Clone, Default, Args)]
pub struct SshLoginArgs {
    /// SSH user [default: the site's, else root].
    #[arg(long, value_name = "USER")]
    pub ssh_user: Option<String>,
    /// SSH private key file (OpenSSH format, unencrypted).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
}

impl SshLoginArgs {
    /// The user: `--ssh-user`, else `default` (the site's, or `root`).
    #[must_use]
    pub fn user_or(&self, default: &str) -> String {
        self.ssh_user.clone().unwrap_or_else(|| default.to_owned())
    }

    /// The key file; a usage error naming `what` (e.g. "a Linux NAS") when it is missing.
    pub fn key(&self, what: &str) -> Result<PathBuf, CliError> {
        self.ssh_key
            .clone()
            .ok_or_else(|| CliError::usage(format!("--ssh-key FILE is required for {what}")))
    }
}

/// `--ssh-port`: the SSH port of hosts the site gives none for.
#[derive(Debug, Clone, Default, Args)]
pub struct SshPortArg {
    /// SSH port [default: the site's, else 22].
    #[arg(long, value_name = "PORT")]
    pub ssh_port: Option<u16>,
}

impl SshPortArg {
    /// `--ssh-port`, else `default`.
    #[must_use]
    pub fn port_or(&self, default: u16) -> u16 {
        self.ssh_port.unwrap_or(default)
    }
}

/// How one SSH host's key is verified: a known_hosts file or a pinned fingerprint (no trust
/// on first use).
#[derive(Debug, Clone, Default, Args)]
pub struct HostKeyArgs {
    /// SSH: verify the host key against this known_hosts file.
    #[arg(long, value_name = "FILE", conflicts_with = "ssh_fingerprint")]
    pub known_hosts: Option<PathBuf>,
    /// SSH: pin the host key by its fingerprint (`ssh-keygen -lf`, `SHA256:...`).
    #[arg(long, value_name = "SHA256:...", alias = "host-fingerprint")]
    pub ssh_fingerprint: Option<String>,
}

impl HostKeyArgs {
    /// The policy: `--ssh-fingerprint`, else the host's key pinned in the site (`site_pin`),
    /// else `--known-hosts` ([`HostKeyPolicy::from_options`]); a usage error when none is
    /// given (host keys are always verified) or the fingerprint is malformed.
    pub fn policy(&self, site_pin: Option<&str>) -> Result<HostKeyPolicy, CliError> {
        host_key_policy(
            self.ssh_fingerprint.as_deref(),
            self.known_hosts.as_deref(),
            site_pin,
            "give --known-hosts FILE or --ssh-fingerprint SHA256:...: host keys are always verified (no trust on first use)",
        )
    }

    /// Whether either flag was given.
    #[must_use]
    pub fn given(&self) -> bool {
        self.known_hosts.is_some() || self.ssh_fingerprint.is_some()
    }
}

fn host_key_policy(
    fingerprint: Option<&str>,
    known_hosts: Option<&std::path::Path>,
    site_pin: Option<&str>,
    missing: &str,
) -> Result<HostKeyPolicy, CliError> {
    HostKeyPolicy::from_options(fingerprint, known_hosts, site_pin).map_err(|e| match e {
        rackpipe_ssh::Error::NoHostKeyPolicy => CliError::usage(missing),
        other => CliError::usage(format!("--ssh-fingerprint: {other}")),
    })
}

/// `--known-hosts` alone, for tools that reach several hosts (a pinned key is per host, so it
/// belongs in the site or the inventory).
#[derive(Debug, Clone, Default, Args)]
pub struct KnownHostsArg {
    /// SSH: verify host keys against this known_hosts file (for hosts the site or the
    /// inventory does not pin).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
}

impl KnownHostsArg {
    /// The policy for hosts without a pinned key; a usage error when the file is missing.
    pub fn policy(&self) -> Result<HostKeyPolicy, CliError> {
        host_key_policy(
            None,
            self.known_hosts.as_deref(),
            None,
            "give --known-hosts FILE: host keys are always verified (no trust on first use)",
        )
    }
}

/// `--timeout SECONDS`, the same meaning in every tool: the longest one remote step may take
/// (connecting, or one request or remote command with its reply; an idempotent read is retried
/// within it). `DEFAULT` is the tool's default in seconds.
#[derive(Debug, Clone, Copy, Args)]
pub struct TimeoutArg<const DEFAULT: u64> {
    /// The longest one remote step may take, in seconds: one request or remote command with
    /// its reply, or connecting (TCP, TLS or SSH handshake, login; at most 10 s of it).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT)]
    pub timeout: u64,
}

/// Connecting gives up after at most this long, whatever `--timeout` says (a host that does
/// not answer a connection attempt in 10 s rarely answers later).
pub const CONNECT_MAX: Duration = Duration::from_secs(10);

impl<const DEFAULT: u64> TimeoutArg<DEFAULT> {
    /// The timeout as a duration.
    #[must_use]
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }

    /// The limit for connecting: the timeout, at most [`CONNECT_MAX`].
    #[must_use]
    pub fn connect(&self) -> Duration {
        self.duration().min(CONNECT_MAX)
    }

    /// Sets an SSH connection's limits: connecting ([`Self::connect`]) and each command.
    pub fn ssh(&self, options: &mut rackpipe_ssh::ConnectOptions) {
        options.connect_timeout = self.connect();
        options.exec_timeout = self.duration();
    }
}

impl<const DEFAULT: u64> Default for TimeoutArg<DEFAULT> {
    fn default() -> Self {
        Self { timeout: DEFAULT }
    }
}

/// `--url URL`: reach the one API the tool talks to at URL instead of the site's address.
#[derive(Debug, Clone, Default, Args)]
pub struct UrlArg {
    /// Reach the API at URL (`https://host:port`) instead of the address the site gives.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// How to reach one HTTPS API: `--url`, the TLS trust flags and `--timeout` (`TIMEOUT`: the
/// tool's default in seconds).
#[derive(Debug, Clone, Default, Args)]
pub struct ApiArgs<const TIMEOUT: u64> {
    /// `--url`.
    #[command(flatten)]
    pub url: UrlArg,
    /// The TLS trust flags.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// `--timeout`.
    #[command(flatten)]
    pub timeout: TimeoutArg<TIMEOUT>,
}

/// `--host HOST`: reach the one host the tool talks to (over SSH or NFS) at HOST instead of
/// its site address. `--target` is its old spelling.
#[derive(Debug, Clone, Default, Args)]
pub struct HostArg {
    /// Reach the host at HOST instead of its site address.
    #[arg(long, value_name = "HOST", alias = "target")]
    pub host: Option<String>,
}

/// `--node NAME=ADDRESS` (repeatable): reach the site's member NAME at ADDRESS instead of its
/// site address.
#[derive(Debug, Clone, Default, Args)]
pub struct NodeArgs {
    /// Reach the site's member NAME (a node, an instance) at ADDRESS (`HOST:PORT` over SSH, a
    /// URL over HTTP) instead of its site address; repeatable.
    #[arg(long = "node", value_name = "NAME=ADDRESS", alias = "target", value_parser = parse_node)]
    pub nodes: Vec<(String, String)>,
}

fn parse_node(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, address)) if !name.is_empty() && !address.is_empty() => {
            Ok((name.to_owned(), address.to_owned()))
        }
        _ => Err(format!("expected NAME=ADDRESS, got {text:?}")),
    }
}

/// `HOST:PORT` (`[v6]:PORT` too) as host and port; `None` when it is not one.
#[must_use]
pub fn host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        tls: TlsArgs,
        #[command(flatten)]
        login: SshLoginArgs,
        #[command(flatten)]
        port: SshPortArg,
        #[command(flatten)]
        host_key: HostKeyArgs,
        #[command(flatten)]
        timeout: TimeoutArg<30>,
        #[command(flatten)]
        nodes: NodeArgs,
    }

    fn parse(args: &[&str]) -> Result<Probe, clap::Error> {
        Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied()))
    }

    #[test]
    fn old_spellings_parse_as_the_new_flags_and_stay_out_of_help() {
        let p = parse(&["--cacert", "/ca.pem", "--host-fingerprint", "SHA256:x"]).unwrap();
        assert_eq!(
            p.tls.ca_file.as_deref(),
            Some(std::path::Path::new("/ca.pem"))
        );
        assert_eq!(p.host_key.ssh_fingerprint.as_deref(), Some("SHA256:x"));
        let p = parse(&["--target", "lb1=127.0.0.1:2222"]).unwrap();
        assert_eq!(
            p.nodes.nodes,
            [("lb1".to_owned(), "127.0.0.1:2222".to_owned())]
        );
        let help = <Probe as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        for old in ["--cacert", "--host-fingerprint", "--target"] {
            assert!(!help.contains(old), "{old} shown in help:\n{help}");
        }
        for new in ["--ca-file", "--ssh-fingerprint", "--node", "--timeout"] {
            assert!(help.contains(new), "{new} missing in help:\n{help}");
        }
    }

    #[test]
    fn groups_give_the_policies_today_s_code_consumes() {
        let p = parse(&["--known-hosts", "/kh"]).unwrap();
        assert!(matches!(
            p.host_key.policy(None).unwrap(),
            HostKeyPolicy::KnownHosts {
                accept_new: false,
                ..
            }
        ));
        let fp = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        let pinned = parse(&["--ssh-fingerprint", fp]).unwrap();
        assert_eq!(
            pinned.host_key.policy(Some("SHA256:other")).unwrap(),
            HostKeyPolicy::Fingerprint(fp.to_owned()),
            "the flag wins over the site's pin"
        );
        let bad = parse(&["--ssh-fingerprint", "MD5:aa"]).unwrap();
        let err = bad.host_key.policy(None).unwrap_err();
        assert!(
            err.message.starts_with("--ssh-fingerprint: "),
            "{}",
            err.message
        );
        let err = parse(&[]).unwrap().host_key.policy(None).unwrap_err();
        assert_eq!(err.status, crate::ExitStatus::Usage);
        assert!(
            err.message.contains("no trust on first use"),
            "{}",
            err.message
        );
        assert_eq!(
            parse(&[]).unwrap().timeout.duration(),
            Duration::from_secs(30)
        );
        assert_eq!(parse(&["--timeout", "5"]).unwrap().timeout.timeout, 5);
        assert_eq!(
            parse(&["--timeout", "0"]).unwrap().timeout.duration(),
            Duration::from_secs(1)
        );
        assert!(parse(&["--fingerprint", "zz"]).is_err(), "not hex");
        assert!(parse(&["--ca-file", "/a", "--fingerprint", &"ab".repeat(32)]).is_err());
        assert!(parse(&["--known-hosts", "/kh", "--ssh-fingerprint", fp]).is_err());
        assert!(parse(&["--node", "lb1"]).is_err(), "NAME=ADDRESS");
        assert_eq!(host_port("[::1]:22"), Some(("::1".to_owned(), 22)));
        assert_eq!(host_port("10.0.0.1"), None);
    }
}
