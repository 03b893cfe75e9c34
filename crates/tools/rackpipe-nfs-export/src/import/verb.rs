//! The `import` verb of `nfs-export`: its flags and its run (the tool's `Verb::Import` holds
//! [`ImportArgs`] and calls [`run`]). The NAS is reached with the connection flags `plan`
//! uses (`--host`, `--ssh-key`, `--known-hosts`/`--ssh-fingerprint`, `--url`, `--timeout`),
//! through the same connect.

use std::net::IpAddr;
use std::str::FromStr;

use clap::Args;
use rackpipe_cli::driver::{Context, Secrets};
use rackpipe_cli::flags::TlsArgs;
use rackpipe_cli::{CliError, ExitStatus, ImportOutputArgs};
use rackpipe_model::nas::NfsServer;
use rackpipe_model::router::TlsTrust;
use rackpipe_model::types::SecretRef;

use super::{Imported, Skeleton};
use crate::tool::{Conn, Nas, connect, tool_error};

/// Which NFS server the NAS runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerKind {
    /// The Linux kernel server: exports files over SSH.
    Linux,
    /// Synology DSM: share rules over its Web API.
    Synology,
}

/// `nfs-export import`'s flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Which NFS server the NAS runs.
    #[arg(long, value_enum)]
    pub kind: ServerKind,
    /// How the NAS is reached: the flags `plan` takes (a Linux NAS needs `--host`, a
    /// Synology `--url`).
    #[command(flatten)]
    pub conn: Conn,
    /// Synology: a shared folder whose NFS rules to read (repeatable; DSM's share list is
    /// not read).
    #[arg(long = "share", value_name = "NAME")]
    pub shares: Vec<String>,
    /// Synology: the volume the shared folders are on.
    #[arg(long, value_name = "PATH", default_value = "/volume1")]
    pub volume: String,
    /// Synology: the DSM account (also written into the site).
    #[arg(long, value_name = "USER", default_value = "rackpipe")]
    pub user: String,
    /// Synology: where the DSM password comes from, a secret reference (`env:NAME`,
    /// `file:PATH`, `vault:MOUNT/PATH#KEY`), also written into the site.
    #[arg(long, value_name = "REF", default_value = "env:DSM_PASSWORD")]
    pub password: String,
    /// Synology: how DSM's certificate is verified (also written into the site).
    #[command(flatten)]
    pub tls: TlsArgs,
    /// The site's name [default: the rackpipe header of the managed exports file, else its
    /// base name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The site's domain [default: a placeholder, marked].
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Where the site and the report go (`--report FILE`, `--into SITE_FILE`).
    #[command(flatten)]
    pub output: ImportOutputArgs,
}

/// The NAS's address and name as the flags give them (`HOST` or `https://HOST:PORT`).
fn address_of(host: &str) -> (Option<IpAddr>, Option<String>, Option<u16>) {
    let rest = host.split_once("://").map_or(host, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or_default();
    let (h, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, p.parse().ok())
        }
        _ => (host_port, None),
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    match IpAddr::from_str(h) {
        Ok(ip) => (Some(ip), None, port),
        Err(_) => (None, Some(h.to_owned()), port),
    }
}

fn skeleton(args: &ImportArgs) -> Result<Skeleton, CliError> {
    let (address, fqdn, port, server) = match args.kind {
        ServerKind::Linux => {
            let host = args.conn.host.host.as_deref().ok_or_else(|| {
                CliError::usage("import from a Linux NAS needs --host HOST (and --ssh-key)")
            })?;
            let (address, fqdn, _) = address_of(host);
            let server = NfsServer::Linux {
                ssh_user: args.conn.login.user_or("root"),
            };
            (address, fqdn, None, server)
        }
        ServerKind::Synology => {
            let url = args.conn.url.url.as_deref().ok_or_else(|| {
                CliError::usage("import from a Synology NAS needs --url https://HOST:PORT")
            })?;
            if args.shares.is_empty() {
                return Err(CliError::usage(
                    "import from a Synology NAS needs --share NAME for each shared folder to read",
                ));
            }
            if args.tls.insecure_http {
                return Err(CliError::usage(
                    "--insecure-http: DSM is always reached over HTTPS; give --ca-file or --fingerprint",
                ));
            }
            let tls = match (&args.tls.ca_file, &args.tls.fingerprint) {
                (Some(ca), _) => Some(TlsTrust {
                    ca_file: Some(ca.display().to_string()),
                    fingerprint_sha256: None,
                }),
                (None, Some(fp)) => Some(TlsTrust {
                    ca_file: None,
                    fingerprint_sha256: Some(fp.to_string()),
                }),
                (None, None) => None,
            };
            let password = SecretRef::from_str(&args.password)
                .map_err(|e| CliError::usage(format!("--password: {e}")))?;
            let (address, fqdn, port) = address_of(url);
            let server = NfsServer::Synology {
                user: args.user.clone(),
                password,
                volume: args.volume.trim_end_matches('/').to_owned(),
                port: port.filter(|p| *p != 5001),
                tls,
            };
            (address, fqdn, port, server)
        }
    };
    let _ = port;
    Ok(Skeleton {
        name: args.name.clone(),
        domain: args.domain.clone(),
        address,
        fqdn,
        server,
    })
}

async fn import(args: &ImportArgs) -> Result<Imported, CliError> {
    let skeleton = skeleton(args)?;
    let site = super::base_site(&skeleton, "import", &mut Vec::new()).map_err(tool_error)?;
    let secrets = Secrets::resolve(
        rackpipe_secrets::Resolver::global(),
        crate::secret::secret_refs(&site),
    )?;
    match connect(&site, &args.conn, &secrets).await? {
        Nas::Linux(remote, target) => {
            let result = super::from_linux(&remote, &target, &skeleton).await;
            remote.close().await;
            result.map_err(tool_error)
        }
        Nas::Synology(client) => {
            let result = super::from_synology(&client, &args.shares, &skeleton).await;
            client.logout().await;
            result.map_err(tool_error)
        }
        Nas::Ganesha(remote, _) => {
            remote.close().await;
            Err(CliError::usage(
                "import from nfs-ganesha is not supported yet; read its EXPORT blocks by hand",
            ))
        }
    }
}

/// Runs `import`: the site on stdout (YAML), the report on stderr or in `--report FILE`.
/// Nothing is printed on stdout unless the whole import succeeded.
///
/// # Errors
/// Usage errors, an unreachable NAS, a line the parser refuses, an unwritable report.
pub async fn run(args: &ImportArgs, _ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
    let imported = import(args).await?;
    rackpipe_cli::emit_import(
        &imported
            .report
            .document(imported.site.metadata.name.as_str()),
        &imported.yaml,
        &args.output,
    )?;
    Ok(ExitStatus::Success)
}
