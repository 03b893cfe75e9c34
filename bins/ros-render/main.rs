//! `ros-render`: render the MikroTik router's configuration from the site, plan and apply it over the REST API.
//!
//! A thin binary: arguments are parsed here, the work is done by the rackpipe libraries.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::{
    ApplyArgs, CliError, CommonCommand, ExitStatus, GlobalArgs, PlanArgs, RenderOutcome, SiteArg,
    ToolCli, ToolHooks,
};
use rackpipe_ros_render::{Connection, Fingerprint, RestClient, Trust};

/// Render the MikroTik router's configuration from the site, plan and apply it over the REST API.
#[derive(Debug, Parser)]
#[command(name = "ros-render", version)]
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
    /// Read the router back and print the changes (JSON, with the RouterOS commands).
    Plan {
        #[command(flatten)]
        args: PlanArgs,
        #[command(flatten)]
        conn: ConnArgs,
        /// Also plan the removal of entries the site does not describe.
        #[arg(long)]
        allow_destroy: bool,
    },
    /// Apply the changes under an automatic revert (the router loads a binary backup taken
    /// just before, users and keys included, unless apply confirms it still answers).
    Apply {
        #[command(flatten)]
        args: ApplyArgs,
        #[command(flatten)]
        conn: ConnArgs,
        /// Seconds after which the router reverts itself unless apply confirms.
        #[arg(long, value_name = "SECS", default_value_t = 120)]
        revert_after: u64,
    },
    /// Download `/export` and a binary `/system backup` with SHA-256 checksums.
    Backup {
        #[command(flatten)]
        site: SiteArg,
        #[command(flatten)]
        conn: ConnArgs,
        /// Directory to store the files and SHA256SUMS in.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        sftp: SftpArgs,
    },
}

/// Downloading the backup files over SFTP instead of REST.
#[derive(Debug, Clone, Args)]
struct SftpArgs {
    /// Download both files over SFTP (same user and password as the REST API) instead of
    /// the REST `contents` property, which RouterOS serves for small files only.
    #[arg(long)]
    sftp: bool,
    /// SSH port [default: the site's router.management.ssh_port, else 22].
    #[arg(long, value_name = "PORT", requires = "sftp")]
    ssh_port: Option<u16>,
    /// Verify the router's SSH host key against this known_hosts file.
    #[arg(
        long,
        value_name = "FILE",
        requires = "sftp",
        conflicts_with = "ssh_fingerprint"
    )]
    known_hosts: Option<PathBuf>,
    /// Pin the router's SSH host key by its fingerprint (`ssh-keygen -lf`).
    #[arg(long, value_name = "SHA256:...", requires = "sftp")]
    ssh_fingerprint: Option<String>,
}

impl SftpArgs {
    /// The transfer to use; `--sftp` needs `--known-hosts` or `--ssh-fingerprint` (no
    /// trust on first use).
    fn transfer(
        &self,
        site: &rackpipe_model::Site,
        conn: &ConnArgs,
    ) -> Result<rackpipe_ros_render::backup::Transfer, CliError> {
        use rackpipe_ros_render::backup::{Transfer, sftp_options};
        if !self.sftp {
            return Ok(Transfer::Rest);
        }
        let host_key = match (&self.known_hosts, &self.ssh_fingerprint) {
            (Some(path), None) => rackpipe_ssh::HostKeyPolicy::KnownHosts {
                path: path.clone(),
                accept_new: false,
            },
            (None, Some(fp)) => rackpipe_ssh::HostKeyPolicy::Fingerprint(fp.clone()),
            _ => {
                return Err(CliError::usage(
                    "--sftp needs --known-hosts FILE or --ssh-fingerprint SHA256:... (no trust on first use)",
                ));
            }
        };
        let options = sftp_options(site, conn.url.as_deref(), self.ssh_port, host_key)
            .map_err(|e| tool_err(&e))?;
        Ok(Transfer::Sftp(options))
    }
}

/// How to reach the router's REST API.
#[derive(Debug, Clone, Args)]
struct ConnArgs {
    /// `https://host:port` instead of the site's management address.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Trust only CAs from this PEM file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fingerprint", "insecure_http"])]
    ca_file: Option<PathBuf>,
    /// Pin the router's certificate by its SHA-256 fingerprint.
    #[arg(long, value_name = "HEX", conflicts_with = "insecure_http")]
    fingerprint: Option<String>,
    /// Plain HTTP to a loopback URL (simulator tests only).
    #[arg(long)]
    insecure_http: bool,
    /// Per-request timeout in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
}

impl ToolCli for Cli {
    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

const HOOKS: ToolHooks = ToolHooks {
    name: "ros-render",
    check: rackpipe_cli::no_checks,
    render: Some(render),
};

fn render(
    site: &rackpipe_model::Site,
    templates: Option<&std::path::Path>,
) -> Result<RenderOutcome, CliError> {
    let rendered = rackpipe_ros_render::render(site, templates)
        .map_err(|e| CliError::from_tool(&e, e.is_transient()))?;
    Ok(RenderOutcome {
        files: rendered.files,
        desired: Some(rendered.desired),
    })
}

fn tool_err(e: &rackpipe_ros_render::rest::Error) -> CliError {
    let mut err = CliError::from_tool(e, e.is_transient());
    if matches!(e, rackpipe_ros_render::rest::Error::RevertArmed { .. }) {
        // Applied, but the router will undo it unless someone removes the revert: exit 3.
        err.status = ExitStatus::RevertArmed;
    }
    err
}

fn client(site: &rackpipe_model::Site, conn: &ConnArgs) -> Result<RestClient, CliError> {
    let trust = if conn.insecure_http {
        Some(Trust::LoopbackHttp)
    } else if let Some(ca) = &conn.ca_file {
        Some(Trust::CaFile(ca.clone()))
    } else if let Some(fp) = &conn.fingerprint {
        Some(Trust::Pinned(Fingerprint::parse(fp).map_err(|e| {
            CliError::usage(format!("--fingerprint: {e}"))
        })?))
    } else {
        None
    };
    let mut connection =
        Connection::from_site(site, conn.url.as_deref(), trust).map_err(|e| tool_err(&e))?;
    connection.timeout = Duration::from_secs(conn.timeout.max(1));
    RestClient::new(&connection).map_err(|e| tool_err(&e))
}

fn identity(site: &rackpipe_model::Site) -> String {
    site.router
        .as_ref()
        .map(|r| r.identity.clone())
        .unwrap_or_default()
}

fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    let runtime = || rackpipe_ros_render::runtime().map_err(|e| tool_err(&e));
    match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
        Command::Plan {
            args,
            conn,
            allow_destroy,
        } => {
            let loaded = args.site.load(HOOKS.check)?;
            let facts = guest_facts(&loaded)?;
            let client = client(&loaded.site, conn)?;
            let opts = rackpipe_ros_render::PlanOptions {
                allow_destroy: *allow_destroy,
            };
            let planned = runtime()?
                .block_on(rackpipe_ros_render::plan_with_facts(
                    &loaded.site,
                    facts.as_ref(),
                    &client,
                    opts,
                ))
                .map_err(|e| tool_err(&e))?;
            tracing::info!(requests = planned.requests, "read back");
            rackpipe_cli::finish_plan(&planned.plan, args, &cli.global)
        }
        Command::Apply {
            args,
            conn,
            revert_after,
        } => {
            let expected = args.read_plan(HOOKS.name)?;
            let loaded = args.site.load(HOOKS.check)?;
            let facts = guest_facts(&loaded)?;
            let client = client(&loaded.site, conn)?;
            let opts = rackpipe_ros_render::ApplyOptions {
                allow_destroy: args.allow_destroy,
                revert_after: Duration::from_secs((*revert_after).max(5)),
                expected,
                ..rackpipe_ros_render::ApplyOptions::default()
            };
            let result = runtime()?
                .block_on(rackpipe_ros_render::apply_with_facts(
                    &loaded.site,
                    facts.as_ref(),
                    &client,
                    &opts,
                ))
                .map_err(|e| tool_err(&e))?;
            rackpipe_cli::emit(&result)?;
            Ok(ExitStatus::Success)
        }
        Command::Backup {
            site,
            conn,
            out,
            sftp,
        } => {
            let loaded = site.load(HOOKS.check)?;
            // First: a usage error (no host-key policy) comes before any secret is read.
            let options = rackpipe_ros_render::backup::BackupOptions {
                transfer: sftp.transfer(&loaded.site, conn)?,
                stamp: None,
                password: Some(
                    rackpipe_ros_render::backup::backup_password(&loaded.site)
                        .map_err(|e| tool_err(&e))?,
                ),
            };
            let client = client(&loaded.site, conn)?;
            let result = runtime()?
                .block_on(rackpipe_ros_render::backup::backup_with(
                    loaded.site.metadata.name.as_str(),
                    &identity(&loaded.site),
                    &client,
                    out,
                    &options,
                ))
                .map_err(|e| tool_err(&e))?;
            rackpipe_cli::emit(&result)?;
            Ok(ExitStatus::Success)
        }
    }
}

/// The guests' facts when the input is another tool's document carrying them (`pve-sync
/// facts | ros-render plan -`): DHCP leases with the guests' real MACs.
fn guest_facts(
    loaded: &rackpipe_model::load::LoadedSite,
) -> Result<Option<rackpipe_ros_render::GuestFacts>, CliError> {
    rackpipe_ros_render::GuestFacts::from_envelope(loaded.envelope.as_ref())
        .map_err(|e| CliError::from_tool(&e, e.is_transient()))
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, run)
}
