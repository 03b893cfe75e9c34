//! `pve-sync`: keep the Proxmox cluster's guests in line with the site: plan, apply, facts.
//!
//! A thin binary: arguments are parsed here, the work is done by the rackpipe libraries.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::{
    ApplyArgs, CliError, CommonCommand, ExitStatus, GlobalArgs, PlanArgs, SiteArg, ToolCli,
    ToolHooks,
};
use rackpipe_model::Site;
use rackpipe_proxmox::{ApiToken, Client, ClientOptions, Fingerprint, TlsMode};
use rackpipe_pve_sync::{EnvFileSecrets, Options, SecretSource};
use rackpipe_tls::transport::{self, PlainHttp};

/// Keep the Proxmox cluster's guests in line with the site: plan, apply, facts.
#[derive(Debug, Parser)]
#[command(name = "pve-sync", version)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Common(CommonCommand),
    /// Compare the site's guests with the cluster (one inventory call, config reads only
    /// for guests that exist) and print the changes.
    Plan {
        #[command(flatten)]
        args: PlanArgs,
        #[command(flatten)]
        conn: Connection,
    },
    /// Make the changes (pools, templates, guests, power, HA; every site guest gets the
    /// `rackpipe` ownership tag); with --allow-destroy, deletes unprotected guests that carry
    /// the tag and are gone from the site, never a guest without it. Prints the result with
    /// the site and the guests' facts embedded, for `pve-sync apply | ros-render ...`.
    Apply {
        #[command(flatten)]
        args: ApplyArgs,
        #[command(flatten)]
        conn: Connection,
    },
    /// Print the site's guests as they are: VMID, node, NICs with MACs and addresses.
    Facts {
        #[command(flatten)]
        site: SiteArg,
        #[command(flatten)]
        conn: Connection,
    },
}

/// How to reach the cluster.
#[derive(Debug, Clone, Args)]
struct Connection {
    /// API base URL (`https://host:8006`), instead of the site's API node address.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Verify the server against this CA (PEM), instead of the site's setting.
    #[arg(long, value_name = "FILE", conflicts_with = "fingerprint")]
    ca_file: Option<PathBuf>,
    /// Pin the server's leaf certificate by SHA-256 fingerprint.
    #[arg(long, value_name = "SHA256")]
    fingerprint: Option<String>,
    /// Allow a plain `http://` URL; only for a loopback simulator in tests.
    #[arg(long)]
    insecure_http: bool,
    /// Requests in flight at most.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Per-request timeout in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

impl ToolCli for Cli {
    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

const HOOKS: ToolHooks = ToolHooks {
    name: "pve-sync",
    check: rackpipe_pve_sync::check,
    render: None,
};

fn tool_error(e: &rackpipe_pve_sync::Error) -> CliError {
    CliError::from_tool(e, e.is_transient())
}

fn client(site: &Site, conn: &Connection) -> Result<Client, CliError> {
    let pve = site
        .proxmox
        .as_ref()
        .ok_or_else(|| tool_error(&rackpipe_pve_sync::Error::NoProxmox))?;
    let url = match &conn.url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let node = pve
                .nodes
                .iter()
                .find(|n| n.name == pve.api.node)
                .ok_or_else(|| {
                    CliError::error(format!(
                        "proxmox.api.node: unknown node \"{}\"",
                        pve.api.node
                    ))
                })?;
            match node.address {
                IpAddr::V4(a) => format!("https://{a}:{}", pve.api.port),
                IpAddr::V6(a) => format!("https://[{a}]:{}", pve.api.port),
            }
        }
    };
    let plain = if conn.insecure_http {
        PlainHttp::Loopback
    } else {
        PlainHttp::Refuse
    };
    transport::check_url(&url, plain).map_err(|e| {
        let hint = match (conn.insecure_http, &e) {
            (false, transport::UrlError::PlainHttpNever { .. })
                if transport::is_loopback_http(&url) =>
            {
                " (--insecure-http allows it to a loopback simulator)"
            }
            _ => "",
        };
        CliError::usage(format!("--url: {e}{hint}"))
    })?;
    let tls = if let Some(ca) = &conn.ca_file {
        TlsMode::CaFile(ca.clone())
    } else if let Some(fp) = &conn.fingerprint {
        TlsMode::Pinned(
            Fingerprint::parse(fp).map_err(|e| CliError::usage(format!("--fingerprint: {e}")))?,
        )
    } else {
        match &pve.api.tls {
            Some(t) if t.fingerprint_sha256.is_some() => {
                let fp = t.fingerprint_sha256.as_deref().unwrap_or_default();
                TlsMode::Pinned(Fingerprint::parse(fp).map_err(|e| {
                    CliError::error(format!("proxmox.api.tls.fingerprint_sha256: {e}"))
                })?)
            }
            Some(t) if t.ca_file.is_some() && conn.url.is_none() => {
                TlsMode::CaFile(PathBuf::from(t.ca_file.clone().unwrap_or_default()))
            }
            _ => TlsMode::System,
        }
    };
    // Vault down or timing out is worth a retry (exit 75); other failures get the
    // environment-variable fallback's message.
    let field = "proxmox.api.token";
    let token_text = match rackpipe_secrets::Resolver::global().resolve(&pve.api.token, field) {
        Ok(secret) => secret.into_exposed(),
        Err(e) if e.is_transient() => return Err(CliError::transient(e.to_string())),
        Err(_) => EnvFileSecrets
            .resolve(&pve.api.token)
            .map_err(|m| CliError::error(format!("{field}: {m}")))?,
    };
    let token = ApiToken::parse(&token_text)
        .map_err(|e| CliError::error(format!("proxmox.api.token: {e}")))?;
    let mut opts = ClientOptions::new(&url, token);
    opts.tls = tls;
    opts.request_timeout = Duration::from_secs(conn.timeout.max(1));
    Client::new(opts).map_err(|e| CliError::error(e.to_string()))
}

fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
        Command::Plan { args, conn } => {
            let site = args.site.load(HOOKS.check)?.site;
            let pve = client(&site, conn)?;
            let opts = Options {
                concurrency: usize::from(conn.concurrency),
                allow_destroy: false,
            };
            let plan = rackpipe_cli::runtime()?
                .block_on(rackpipe_pve_sync::plan(&site, &pve, &opts, &EnvFileSecrets))
                .map_err(|e| tool_error(&e))?;
            rackpipe_cli::finish_plan(&plan, args, &cli.global)
        }
        Command::Apply { args, conn } => {
            let site = args.site.load(HOOKS.check)?.site;
            let expected = args.read_plan(HOOKS.name)?;
            let pve = client(&site, conn)?;
            let opts = Options {
                concurrency: usize::from(conn.concurrency),
                allow_destroy: args.allow_destroy,
            };
            let result = rackpipe_cli::runtime()?
                .block_on(rackpipe_pve_sync::apply(
                    &site,
                    &pve,
                    &opts,
                    &EnvFileSecrets,
                    expected.as_ref(),
                ))
                .map_err(|e| tool_error(&e))?;
            rackpipe_cli::emit(&rackpipe_pve_sync::with_site(&result, &site))?;
            Ok(ExitStatus::Success)
        }
        Command::Facts { site, conn } => {
            let site = site.load(HOOKS.check)?.site;
            let pve = client(&site, conn)?;
            let opts = Options {
                concurrency: usize::from(conn.concurrency),
                allow_destroy: false,
            };
            let facts = rackpipe_cli::runtime()?
                .block_on(rackpipe_pve_sync::facts(
                    &site,
                    &pve,
                    &opts,
                    &EnvFileSecrets,
                ))
                .map_err(|e| tool_error(&e))?;
            rackpipe_cli::emit(&rackpipe_pve_sync::facts_document(&site, &facts))?;
            Ok(ExitStatus::Success)
        }
    }
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, run)
}
