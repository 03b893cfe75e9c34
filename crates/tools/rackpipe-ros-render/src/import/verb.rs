//! The `import` verb of `ros-render`: its flags and its run (the binary's `Verb` enum has one
//! variant holding [`ImportArgs`] and calls [`run`]).

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use rackpipe_cli::driver::{Context, Secrets};
use rackpipe_cli::flags::ApiArgs;
use rackpipe_cli::{CliError, ExitStatus, ImportOutputArgs};
use rackpipe_model::router::TlsTrust;
use rackpipe_model::types::SecretRef;

use super::{Imported, ManagementHint, Options, SecretPrefix};
use crate::rest::PASSWORD_FIELD;
use crate::{Connection, RestClient, Trust};

/// `ros-render import`'s flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Read this `/export` file (`-`: stdin) instead of the live router.
    #[arg(long, value_name = "FILE")]
    pub from_export: Option<PathBuf>,
    /// How to reach the live router's REST API (`--url` is required without
    /// `--from-export`).
    #[command(flatten)]
    pub conn: ApiArgs<30>,
    /// API user of the live router (also written into the site).
    #[arg(long, value_name = "USER", default_value = "admin")]
    pub user: String,
    /// Where the live router's API password comes from: a secret reference (`env:NAME`,
    /// `file:PATH`, `vault:MOUNT/PATH#KEY`), also written into the site.
    #[arg(long, value_name = "REF", default_value = "env:ROS_PASSWORD")]
    pub password: String,
    /// How the references that replace the router's secrets are named: `env:NAME` (variables
    /// `NAME_<MENU>_<ENTRY>_<PROPERTY>`) or `vault:MOUNT/PATH` (keys of that secret).
    #[arg(long, value_name = "PREFIX", default_value = "env:ROS")]
    pub secret_prefix: String,
    /// Where the site and the report go (`--report FILE`, `--into SITE_FILE`).
    #[command(flatten)]
    pub output: ImportOutputArgs,
}

fn import_err(e: &super::Error) -> CliError {
    CliError::from_tool(e, e.is_transient())
}

fn trust(args: &ImportArgs) -> Result<(Trust, Option<TlsTrust>), CliError> {
    let tls = &args.conn.tls;
    if tls.insecure_http {
        Ok((Trust::LoopbackHttp, None))
    } else if let Some(ca) = &tls.ca_file {
        let site = TlsTrust {
            ca_file: Some(ca.display().to_string()),
            fingerprint_sha256: None,
        };
        Ok((Trust::CaFile(ca.clone()), Some(site)))
    } else if let Some(fp) = tls.fingerprint {
        let site = TlsTrust {
            ca_file: None,
            fingerprint_sha256: Some(fp.to_string()),
        };
        Ok((Trust::Pinned(fp), Some(site)))
    } else {
        Err(CliError::usage(
            "import from the live router needs --ca-file or --fingerprint (or --insecure-http for a loopback simulator)",
        ))
    }
}

/// The management address and REST port of `url` (`https://192.0.2.1:8443`).
fn address_of(url: &str) -> Result<(IpAddr, u16), CliError> {
    let bad = || {
        CliError::usage(format!(
            "--url {url}: expected http(s)://ADDRESS[:PORT] with an IP address (the site's router.management.address)"
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let host_port = rest.split('/').next().unwrap_or_default();
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, p.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (host_port, if scheme == "http" { 80 } else { 443 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((IpAddr::from_str(host).map_err(|_| bad())?, port))
}

async fn live(args: &ImportArgs, options: &mut Options) -> Result<Imported, CliError> {
    let url = args.conn.url.url.as_deref().ok_or_else(|| {
        CliError::usage("import needs --from-export FILE, or --url URL to read the live router")
    })?;
    let (address, rest_port) = address_of(url)?;
    let (trust, tls) = trust(args)?;
    let reference = SecretRef::from_str(&args.password)
        .map_err(|e| CliError::usage(format!("--password: {e}")))?;
    let secrets = Secrets::resolve(
        rackpipe_secrets::Resolver::global(),
        [(&reference, PASSWORD_FIELD.to_owned())],
    )?;
    let password = secrets.require(PASSWORD_FIELD)?.clone();
    let client = RestClient::new(&Connection {
        url: url.trim_end_matches('/').to_owned(),
        user: args.user.clone(),
        password,
        trust,
        timeout: args.conn.timeout.duration(),
    })
    .map_err(|e| CliError::from_tool(&e, e.is_transient()))?;
    options.management = Some(ManagementHint {
        address,
        rest_port,
        user: args.user.clone(),
        password: reference,
        tls,
    });
    super::from_router(&client, options)
        .await
        .map_err(|e| import_err(&e))
}

/// Runs `import`: the site on stdout (YAML), the report on stderr or in `--report FILE`.
/// Nothing is printed on stdout unless the whole import succeeded.
///
/// # Errors
/// Usage errors, unreadable or unparsable input, a failing read-back, an unwritable report.
pub async fn run(args: &ImportArgs, _ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
    let secret_prefix = SecretPrefix::from_str(&args.secret_prefix).map_err(CliError::usage)?;
    let mut options = Options {
        secret_prefix,
        management: None,
    };
    let imported = match &args.from_export {
        Some(path) => {
            if args.conn.url.url.is_some() {
                return Err(CliError::usage(
                    "--from-export and --url: import reads one of them",
                ));
            }
            let (name, bytes) = rackpipe_cli::read_input(Some(path))?;
            let text = String::from_utf8_lossy(&bytes);
            super::from_export(&name, &text, &options).map_err(|e| import_err(&e))?
        }
        None => live(args, &mut options).await?,
    };
    rackpipe_cli::emit_import(
        &imported
            .report
            .document(imported.site.metadata.name.as_str()),
        &imported.yaml,
        &args.output,
    )?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_the_management_address() {
        assert_eq!(
            address_of("https://192.0.2.1").unwrap(),
            ("192.0.2.1".parse().unwrap(), 443)
        );
        assert_eq!(
            address_of("http://127.0.0.1:8080/").unwrap(),
            ("127.0.0.1".parse().unwrap(), 8080)
        );
        assert_eq!(
            address_of("https://[2001:db8::1]:8443").unwrap(),
            ("2001:db8::1".parse().unwrap(), 8443)
        );
        assert!(address_of("https://router.example").is_err());
    }
}
