//! ros-render on the shared driver: its flags, its own verb (`backup`) and its [`Tool`] impl
//! ([`RosRender`]), which `bins/ros-render` runs with [`rackpipe_cli::driver::run`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use rackpipe_cli::driver::{Context, Secrets, Tool};
use rackpipe_cli::flags::{ApiArgs, HostKeyArgs, SshPortArg};
use rackpipe_cli::{ApplyArgs, CliError, ExitStatus, RenderOutcome, SiteArg};
use rackpipe_model::Site;
use rackpipe_model::documents::{ApplyResult, Plan};
use rackpipe_model::load::LoadedSite;
use rackpipe_model::types::SecretRef;

use crate::backup::{BackupOptions, Transfer};
use crate::rest::{self, PASSWORD_FIELD, Password};
use crate::{Connection, GuestFacts, RestClient, Trust};

/// How to reach the router's REST API.
pub type Conn = ApiArgs<30>;

/// `plan`'s own flags.
#[derive(Debug, Args)]
pub struct PlanFlags {
    /// Also plan the removal of entries the site does not describe.
    #[arg(long)]
    allow_destroy: bool,
}

/// `apply`'s own flags.
#[derive(Debug, Args)]
pub struct ApplyFlags {
    /// Seconds after which the router reverts itself unless apply confirms.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    revert_after: u64,
}

/// ros-render's own verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Download `/export` and a binary `/system backup` with SHA-256 checksums.
    Backup {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// How to reach the router's REST API.
        #[command(flatten)]
        conn: Conn,
        /// Directory to store the files and SHA256SUMS in.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Downloading over SFTP instead.
        #[command(flatten)]
        sftp: SftpArgs,
    },
    /// Print a site document (YAML) describing the router, from an `/export` file or the live
    /// router, such that `plan` of it against that router shows no changes; secrets become
    /// references, listed in the report (stderr, or `--report FILE`).
    Import(crate::import::ImportArgs),
}

/// Downloading the backup files over SFTP instead of REST.
#[derive(Debug, Clone, Args)]
pub struct SftpArgs {
    /// Download both files over SFTP (same user and password as the REST API) instead of
    /// the REST `contents` property, which RouterOS serves for small files only.
    #[arg(long)]
    sftp: bool,
    #[command(flatten)]
    port: SshPortArg,
    #[command(flatten)]
    host_key: HostKeyArgs,
}

impl SftpArgs {
    /// The SSH host-key policy when `--sftp` is given (`--known-hosts` or `--ssh-fingerprint`:
    /// no trust on first use), `None` for the REST download.
    fn host_key(&self) -> Result<Option<rackpipe_ssh::HostKeyPolicy>, CliError> {
        self.sftp.then(|| self.host_key.policy(None)).transpose()
    }

    /// The transfer to use, with the host-key policy of [`SftpArgs::host_key`] and the
    /// resolved API password.
    fn transfer(
        &self,
        site: &Site,
        conn: &Conn,
        host_key: Option<rackpipe_ssh::HostKeyPolicy>,
        password: &Password,
    ) -> Result<Transfer, CliError> {
        let Some(host_key) = host_key else {
            return Ok(Transfer::Rest);
        };
        let options = crate::backup::sftp_options(
            site,
            conn.url.url.as_deref(),
            self.port.ssh_port,
            host_key,
            password.clone(),
        )
        .map_err(|e| tool_err(&e))?;
        Ok(Transfer::Sftp(options))
    }
}

/// ros-render as the shared driver runs it.
#[derive(Debug)]
pub struct RosRender;

impl Tool for RosRender {
    const NAME: &'static str = "ros-render";
    const ABOUT: &'static str = "Render the MikroTik router's configuration from the site, plan and apply it over the REST API.";
    const PLAN_ABOUT: &'static str =
        "Read the router back and print the changes (JSON, with the RouterOS commands).";
    const APPLY_ABOUT: &'static str = "Apply the changes under an automatic revert (the router loads a binary backup taken just before, users and keys included, unless apply confirms it still answers).";
    const RENDER: Option<rackpipe_cli::RenderFn> = Some(render);
    const SCHEMAS: rackpipe_cli::ToolSchemas = || {
        use crate::backup::{BACKUP_SCHEMA, backup_schema};
        vec![("Backup", BACKUP_SCHEMA, backup_schema())]
    };
    type Conn = Conn;
    type PlanFlags = PlanFlags;
    type ApplyFlags = ApplyFlags;
    type Verb = Verb;
    type Target = RestClient;
    type Applied = ApplyResult;

    fn command(command: clap::Command) -> clap::Command {
        // The SSH flags of `backup` are for the SFTP download only.
        command.mut_subcommand("backup", |backup| {
            ["ssh_port", "known_hosts", "ssh_fingerprint"]
                .into_iter()
                .fold(backup, |c, id| c.mut_arg(id, |a| a.requires("sftp")))
        })
    }

    /// The API password, and the backup password when the site sets one: one resolution, so
    /// both are named in one run when both fail.
    fn secret_refs(site: &Site) -> Vec<(&SecretRef, String)> {
        rest::secret_refs(site)
    }

    async fn connect_with(
        site: &LoadedSite,
        conn: &Conn,
        secrets: Secrets,
    ) -> Result<RestClient, CliError> {
        client(&site.site, conn, secrets.require(PASSWORD_FIELD)?)
    }

    async fn plan(
        site: &LoadedSite,
        client: &RestClient,
        flags: &PlanFlags,
    ) -> Result<Plan, CliError> {
        let facts = guest_facts(site)?;
        let opts = crate::PlanOptions {
            allow_destroy: flags.allow_destroy,
        };
        let planned = crate::plan_with_facts(&site.site, facts.as_ref(), client, opts)
            .await
            .map_err(|e| tool_err(&e))?;
        tracing::info!(requests = planned.requests, "read back");
        Ok(planned.plan)
    }

    async fn plan_for_apply(
        site: &LoadedSite,
        client: &RestClient,
        _: &ApplyFlags,
        args: &ApplyArgs,
    ) -> Result<Plan, CliError> {
        let flags = PlanFlags {
            allow_destroy: args.allow_destroy,
        };
        Self::plan(site, client, &flags).await
    }

    async fn apply(
        site: &LoadedSite,
        client: &RestClient,
        flags: &ApplyFlags,
        args: &ApplyArgs,
        expected: Option<Plan>,
    ) -> Result<ApplyResult, CliError> {
        let facts = guest_facts(site)?;
        let opts = crate::ApplyOptions {
            allow_destroy: args.allow_destroy,
            revert_after: Duration::from_secs(flags.revert_after.max(5)),
            expected,
            ..crate::ApplyOptions::default()
        };
        crate::apply_with_facts(&site.site, facts.as_ref(), client, &opts)
            .await
            .map_err(|e| tool_err(&e))
    }

    async fn verb(verb: &Verb, ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
        match verb {
            Verb::Backup {
                site,
                conn,
                out,
                sftp,
            } => backup(site, conn, out, sftp, ctx).await,
            Verb::Import(args) => crate::import::run(args, ctx).await,
        }
    }
}

/// `backup`: the export and the binary backup of the router into `out`.
async fn backup(
    site: &SiteArg,
    conn: &Conn,
    out: &Path,
    sftp: &SftpArgs,
    ctx: &Context<'_>,
) -> Result<ExitStatus, CliError> {
    let loaded = ctx.load(site)?;
    let site = &loaded.site;
    // First: a usage error (no host-key policy) comes before any secret is read.
    let host_key = sftp.host_key()?;
    // Then every secret at once (the API password for REST and SFTP, the backup password):
    // all that fail are named in one error.
    let secrets = rackpipe_cli::driver::secrets::<RosRender>(site)?;
    let password = secrets.require(PASSWORD_FIELD)?;
    let backup_field = crate::backup::backup_password_field(site).map_err(|e| tool_err(&e))?;
    let options = BackupOptions {
        transfer: sftp.transfer(site, conn, host_key, password)?,
        stamp: None,
        password: Some(secrets.require(backup_field)?.clone()),
    };
    let client = client(site, conn, password)?;
    let identity = site
        .router
        .as_ref()
        .map(|r| r.identity.clone())
        .unwrap_or_default();
    let result = crate::backup::backup_with(
        site.metadata.name.as_str(),
        &identity,
        &client,
        out,
        &options,
    )
    .await
    .map_err(|e| tool_err(&e))?;
    for file in &result.files {
        let name = Path::new(&file.path)
            .file_name()
            .map_or_else(|| file.path.clone(), |n| n.to_string_lossy().into_owned());
        rackpipe_cli::metrics::backup_size(&name, file.bytes as u64);
    }
    ctx.emit(&result)?;
    Ok(ExitStatus::Success)
}

/// `render`: the full `.rsc` and the desired state per menu.
fn render(site: &Site, templates: Option<&Path>) -> Result<RenderOutcome, CliError> {
    let rendered =
        crate::render(site, templates).map_err(|e| CliError::from_tool(&e, e.is_transient()))?;
    Ok(RenderOutcome {
        files: rendered.files,
        desired: Some(rendered.desired),
    })
}

fn tool_err(e: &rest::Error) -> CliError {
    let mut err = CliError::from_tool(e, e.is_transient());
    if matches!(e, rest::Error::RevertArmed { .. }) {
        // Applied, but the router will undo it unless someone removes the revert: exit 3.
        err.status = ExitStatus::RevertArmed;
    }
    err
}

/// The REST client for `conn`, logging in with `password` (the value resolved for
/// [`PASSWORD_FIELD`]).
fn client(site: &Site, conn: &Conn, password: &Password) -> Result<RestClient, CliError> {
    let trust = if conn.tls.insecure_http {
        Some(Trust::LoopbackHttp)
    } else if let Some(ca) = &conn.tls.ca_file {
        Some(Trust::CaFile(ca.clone()))
    } else {
        conn.tls.fingerprint.map(Trust::Pinned)
    };
    let mut connection =
        Connection::from_site(site, conn.url.url.as_deref(), trust, password.clone())
            .map_err(|e| tool_err(&e))?;
    connection.timeout = conn.timeout.duration();
    RestClient::new(&connection).map_err(|e| tool_err(&e))
}

/// The guests' facts when the input is another tool's document carrying them (`pve-sync
/// facts | ros-render plan -`): DHCP leases with the guests' real MACs.
fn guest_facts(loaded: &LoadedSite) -> Result<Option<GuestFacts>, CliError> {
    GuestFacts::from_envelope(loaded.envelope.as_ref())
        .map_err(|e| CliError::from_tool(&e, e.is_transient()))
}
