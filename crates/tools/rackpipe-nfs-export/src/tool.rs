//! nfs-export on the shared driver: its flags, its own verbs (`lint`, `sync`) and its [`Tool`]
//! impl ([`NfsExport`]), which `bins/nfs-export` runs with [`rackpipe_cli::driver::run`].

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rackpipe_cli::driver::{Context, NoArgs, Secrets, Tool, files_only};
use rackpipe_cli::flags::{HostArg, HostKeyArgs, SshLoginArgs, SshPortArg, TimeoutArg, UrlArg};
use rackpipe_cli::{ApplyArgs, CliError, ExitStatus, RenderOutcome, SiteArg};
use rackpipe_model::documents::{ApplyResult, Plan};
use rackpipe_model::load::LoadedSite;
use rackpipe_model::nas::NfsServer;
use rackpipe_model::types::SecretRef;
use rackpipe_model::{Diagnostic, Site};
use rackpipe_ssh::ConnectOptions;

use crate::Error;
use crate::ganesha::GaneshaTarget;
use crate::linux::{LinuxTarget, SshRemote};
use crate::synology::{DsmClient, DsmTarget};

/// How the NAS is reached.
#[derive(Debug, Args)]
pub struct Conn {
    #[command(flatten)]
    pub(crate) url: UrlArg,
    #[command(flatten)]
    pub(crate) host: HostArg,
    #[command(flatten)]
    pub(crate) login: SshLoginArgs,
    #[command(flatten)]
    port: SshPortArg,
    #[command(flatten)]
    host_key: HostKeyArgs,
    #[command(flatten)]
    timeout: TimeoutArg<60>,
    /// nfs-ganesha NAS: directory of the include file nfs-export manages.
    #[arg(long, value_name = "DIR", default_value = "/etc/ganesha")]
    ganesha_config_dir: String,
    /// nfs-ganesha NAS: ganesha's main configuration, which must `%include` that file.
    #[arg(long, value_name = "FILE", default_value = "/etc/ganesha/ganesha.conf")]
    ganesha_main_config: String,
    /// nfs-ganesha NAS: the command that makes ganesha re-read its exports (SIGHUP).
    #[arg(
        long,
        value_name = "COMMAND",
        default_value = "systemctl reload nfs-ganesha"
    )]
    ganesha_reload: String,
}

/// nfs-export's own verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Check existing exports files (any host's): the world-export space, contradictions,
    /// overlaps, missing sync/subtree_check decisions. Exit 1 on errors.
    Lint {
        /// Exports files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Copy a backup directory to the NAS export the site's `backups.<JOB>.destination` names
    /// (or, with --pull, from it), over NFSv4 from user space: no mount needed. Prints a JSON
    /// report of the files copied and deleted.
    Sync(SyncArgs),
    /// Read the NAS's current exports (a Linux NAS's exports files over SSH, or a Synology's
    /// share rules) and print a site whose `nas` section describes them, so that `plan` of it
    /// shows no changes; the report (what was not imported, the choices made) goes to stderr.
    Import(Box<crate::import::ImportArgs>),
}

/// `nfs-export sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    site: SiteArg,
    /// Which backup of the site: its `backups.<JOB>.destination` is the NAS directory.
    #[arg(long, value_enum)]
    backup: Backup,
    /// The local backup directory (etcd-backup's --dest, ros-render backup's --out).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Copy from the NAS into DIR instead (what DIR lacks), e.g. on a fresh runner.
    #[arg(long)]
    pull: bool,
    /// Also delete files the receiving side has and the sending side no longer has (what
    /// retention pruned). Refused when the sending side is empty.
    #[arg(long)]
    delete: bool,
    #[command(flatten)]
    host: HostArg,
    /// NFS port.
    #[arg(long, default_value_t = crate::sync::NFS_PORT)]
    port: u16,
    #[command(flatten)]
    timeout: TimeoutArg<60>,
}

/// The site's scheduled backups.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Backup {
    /// `backups.etcd` (etcd-backup).
    Etcd,
    /// `backups.router` (ros-render backup).
    Router,
}

/// A connected NAS.
pub enum Nas {
    /// A Linux NAS (`/etc/exports.d` and exportfs) over SSH.
    Linux(SshRemote, LinuxTarget),
    /// An nfs-ganesha NAS (its include file, reloaded) over SSH.
    Ganesha(SshRemote, GaneshaTarget),
    /// A Synology NAS's DSM API.
    Synology(DsmClient),
}

/// nfs-export as the shared driver runs it.
#[derive(Debug)]
pub struct NfsExport;

impl Tool for NfsExport {
    const NAME: &'static str = "nfs-export";
    const ABOUT: &'static str =
        "Render, lint and apply the NAS's NFS exports and the mounts that use them.";
    const PLAN_ABOUT: &'static str =
        "Read the NAS's current exports and show what apply would change.";
    const APPLY_ABOUT: &'static str = "Write the exports (Linux: `/etc/exports.d/<site>.exports` atomically, then `exportfs -ra`; nfs-ganesha: its include file `/etc/ganesha/<site>.conf`, which ganesha.conf must `%include`, then a reload and a read-back over D-Bus; Synology: save and read back).";
    const RENDER: Option<rackpipe_cli::RenderFn> = Some(render);
    const SCHEMAS: rackpipe_cli::ToolSchemas = || {
        use crate::{exports, sync};
        use rackpipe_model::documents::Kind as _;
        vec![
            (
                exports::LintReport::KIND,
                exports::LINT_SCHEMA,
                exports::lint_schema(),
            ),
            (
                sync::SyncReport::KIND,
                sync::SYNC_SCHEMA,
                sync::sync_schema(),
            ),
        ]
    };
    type Conn = Conn;
    type PlanFlags = NoArgs;
    type ApplyFlags = NoArgs;
    type Verb = Verb;
    type Target = Nas;
    type Applied = ApplyResult;

    fn check(site: &Site) -> Vec<Diagnostic> {
        crate::check(site)
    }

    /// A Synology NAS's DSM password (`nas.server.password`), resolved by the driver before
    /// connecting; a Linux or ganesha NAS has none (its SSH key comes from a flag).
    fn secret_refs(site: &Site) -> Vec<(&SecretRef, String)> {
        crate::secret::secret_refs(site)
    }

    async fn connect_with(
        site: &LoadedSite,
        conn: &Conn,
        secrets: Secrets,
    ) -> Result<Nas, CliError> {
        connect(&site.site, conn, &secrets).await
    }

    async fn plan(site: &LoadedSite, nas: &Nas, _: &NoArgs) -> Result<Plan, CliError> {
        let site = &site.site;
        match nas {
            Nas::Linux(remote, target) => crate::linux::plan(site, remote, target).await,
            Nas::Ganesha(remote, target) => crate::ganesha::plan(site, remote, target).await,
            Nas::Synology(client) => crate::synology::plan(site, client).await,
        }
        .map_err(tool_error)
    }

    async fn plan_for_apply(
        site: &LoadedSite,
        nas: &Nas,
        _: &NoArgs,
        _: &ApplyArgs,
    ) -> Result<Plan, CliError> {
        Self::plan(site, nas, &NoArgs {}).await
    }

    async fn apply(
        site: &LoadedSite,
        nas: &Nas,
        _: &NoArgs,
        _: &ApplyArgs,
        expected: Option<Plan>,
    ) -> Result<ApplyResult, CliError> {
        let site = &site.site;
        let expected = expected.as_ref();
        match nas {
            Nas::Linux(remote, target) => crate::linux::apply(site, remote, target, expected).await,
            Nas::Ganesha(remote, target) => {
                crate::ganesha::apply(site, remote, target, expected).await
            }
            Nas::Synology(client) => crate::synology::apply(site, client, expected).await,
        }
        .map_err(tool_error)
    }

    async fn verb(verb: &Verb, ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
        match verb {
            Verb::Lint { files } => lint(files, ctx),
            Verb::Sync(args) => sync(args, ctx),
            Verb::Import(args) => crate::import::run(args, ctx).await,
        }
    }
}

pub(crate) fn tool_error(e: Error) -> CliError {
    CliError::from_tool(&e, e.is_transient())
}

/// `render`: the exports and their consumers' files.
fn render(site: &Site, templates: Option<&Path>) -> Result<RenderOutcome, CliError> {
    crate::render(site, templates)
        .map(files_only)
        .map_err(tool_error)
}

/// `lint`: every file's findings on stderr (unless `--quiet`), the report on stdout; exit 1
/// when one has an error.
fn lint(files: &[PathBuf], ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
    let mut inputs = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::error(format!("{}: cannot read: {e}", path.display())))?;
        inputs.push((path.display().to_string(), text));
    }
    let report = crate::exports::LintReport::new(crate::exports::lint_files(&inputs));
    let valid = report.valid;
    if !ctx.global.quiet {
        for r in &report.reports {
            rackpipe_cli::print_diagnostics(ctx.tool, &r.source, &r.diagnostics);
        }
    }
    ctx.emit(&report.document())?;
    Ok(if valid {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}

/// Reaches the site's NAS: DSM's API (logged in with the resolved password) or SSH.
pub(crate) async fn connect(site: &Site, conn: &Conn, secrets: &Secrets) -> Result<Nas, CliError> {
    let nas = site
        .nas
        .as_ref()
        .ok_or_else(|| CliError::error("nas: the site has no nas section"))?;
    match &nas.server {
        NfsServer::Synology { .. } => {
            let password = secrets.require(crate::secret::PASSWORD_FIELD)?;
            let mut target = DsmTarget::from_site(site, password.clone()).map_err(tool_error)?;
            // `--target URL`, the old spelling, still reaches DSM at URL.
            let old_target = conn.host.host.as_ref().filter(|h| h.contains("://"));
            if conn.host.host.is_some() && old_target.is_none() {
                return Err(CliError::usage(
                    "--host is for a Linux or ganesha NAS; give --url https://HOST:PORT for Synology DSM",
                ));
            }
            if let Some(url) = conn.url.url.as_ref().or(old_target) {
                target.base_url = url.trim_end_matches('/').to_owned();
            }
            target.request_timeout = conn.timeout.duration();
            Ok(Nas::Synology(
                DsmClient::login(target).await.map_err(tool_error)?,
            ))
        }
        NfsServer::Linux { ssh_user } | NfsServer::Ganesha { ssh_user } => {
            if conn.url.url.is_some() {
                return Err(CliError::usage(
                    "--url is for a Synology NAS; give --host HOST for a Linux or ganesha NAS",
                ));
            }
            let key = conn.login.key("a Linux NAS")?;
            let policy = conn.host_key.policy(None)?;
            let host = match &conn.host.host {
                Some(h) => h.clone(),
                None => {
                    let desired = crate::resolve(site).map_err(tool_error)?;
                    desired.server_address.to_string()
                }
            };
            let user = conn.login.user_or(ssh_user);
            let mut options =
                ConnectOptions::new(host, conn.port.port_or(22), user.clone(), key, policy);
            conn.timeout.ssh(&mut options);
            let remote = SshRemote::connect(&options, conn.timeout.duration())
                .await
                .map_err(tool_error)?;
            Ok(match &nas.server {
                NfsServer::Ganesha { .. } => Nas::Ganesha(
                    remote,
                    GaneshaTarget {
                        config_dir: conn.ganesha_config_dir.clone(),
                        main_config: conn.ganesha_main_config.clone(),
                        reload: conn.ganesha_reload.clone(),
                        ..GaneshaTarget::for_user(&user)
                    },
                ),
                _ => Nas::Linux(remote, LinuxTarget::for_user(&user)),
            })
        }
    }
}

/// `sync`: the backup directory to (or, with `--pull`, from) the NAS export the site names.
fn sync(args: &SyncArgs, ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
    use crate::sync::{BackupKind, Destination, Direction, SyncOptions};
    let loaded = ctx.load(&args.site)?;
    let kind = match args.backup {
        Backup::Etcd => BackupKind::Etcd,
        Backup::Router => BackupKind::Router,
    };
    let mut dest = Destination::from_site(&loaded.site, kind).map_err(tool_error)?;
    if let Some(host) = &args.host.host {
        dest.host.clone_from(host);
    }
    dest.port = args.port;
    let options = SyncOptions {
        direction: if args.pull {
            Direction::Pull
        } else {
            Direction::Push
        },
        delete: args.delete,
        timeout: args.timeout.duration(),
    };
    let report = crate::sync::sync(&dest, &args.dir, &options).map_err(tool_error)?;
    tracing::info!(
        "{}: {} copied ({} bytes), {} deleted, {} unchanged",
        report.destination,
        report.copied.len(),
        report.bytes,
        report.deleted.len(),
        report.unchanged
    );
    ctx.emit(&report.document(loaded.site.metadata.name.as_str()))?;
    Ok(ExitStatus::Success)
}
