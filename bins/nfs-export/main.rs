//! `nfs-export`: render, lint and apply the NAS's NFS exports and the mounts that use them.
//!
//! A thin binary: arguments are parsed here, the work is done by `rackpipe-nfs-export`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::{
    ApplyArgs, CliError, CommonCommand, ExitStatus, GlobalArgs, PlanArgs, RenderOutcome, ToolCli,
    ToolHooks,
};
use rackpipe_model::Site;
use rackpipe_model::nas::NfsServer;
use rackpipe_nfs_export::ganesha::GaneshaTarget;
use rackpipe_nfs_export::linux::{LinuxTarget, SshRemote};
use rackpipe_nfs_export::synology::{DsmClient, DsmTarget};
use rackpipe_ssh::{ConnectOptions, HostKeyPolicy};

/// Render, lint and apply the NAS's NFS exports and the mounts that use them.
#[derive(Debug, Parser)]
#[command(name = "nfs-export", version)]
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
    /// Check existing exports files (any host's): the world-export space, contradictions,
    /// overlaps, missing sync/subtree_check decisions. Exit 1 on errors.
    Lint {
        /// Exports files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Read the NAS's current exports and show what apply would change.
    Plan {
        #[command(flatten)]
        plan: PlanArgs,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Write the exports (Linux: `/etc/exports.d/<site>.exports` atomically, then `exportfs
    /// -ra`; nfs-ganesha: its include file `/etc/ganesha/<site>.conf`, which ganesha.conf must
    /// `%include`, then a reload and a read-back over D-Bus; Synology: save and read back).
    Apply {
        #[command(flatten)]
        apply: ApplyArgs,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Copy a backup directory to the NAS export the site's `backups.<JOB>.destination` names
    /// (or, with --pull, from it), over NFSv4 from user space: no mount needed. Prints a JSON
    /// report of the files copied and deleted.
    Sync(SyncArgs),
}

/// `nfs-export sync`.
#[derive(Debug, Args)]
struct SyncArgs {
    #[command(flatten)]
    site: rackpipe_cli::SiteArg,
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
    /// Reach the NAS at this address instead of its site address.
    #[arg(long, value_name = "HOST")]
    target: Option<String>,
    /// NFS port.
    #[arg(long, default_value_t = rackpipe_nfs_export::sync::NFS_PORT)]
    port: u16,
    /// Timeout of each NFS call, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// The site's scheduled backups.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Backup {
    /// `backups.etcd` (etcd-backup).
    Etcd,
    /// `backups.router` (ros-render backup).
    Router,
}

/// How the NAS is reached.
#[derive(Debug, Args)]
struct ConnArgs {
    /// Linux/ganesha NAS: SSH private key file.
    #[arg(long, value_name = "FILE")]
    ssh_key: Option<PathBuf>,
    /// Linux/ganesha NAS: SSH port.
    #[arg(long, default_value_t = 22)]
    ssh_port: u16,
    /// Linux/ganesha NAS: known_hosts file.
    #[arg(long, value_name = "FILE", conflicts_with = "host_fingerprint")]
    known_hosts: Option<PathBuf>,
    /// Linux/ganesha NAS: pinned host-key fingerprint (`SHA256:...`).
    #[arg(long, value_name = "FP")]
    host_fingerprint: Option<String>,
    /// Reach the NAS at HOST (SSH) or URL (Synology, `https://host:port`) instead of its site
    /// address.
    #[arg(long, value_name = "HOST|URL")]
    target: Option<String>,
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

impl ToolCli for Cli {
    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

const HOOKS: ToolHooks = ToolHooks {
    name: "nfs-export",
    check: rackpipe_nfs_export::check,
    render: Some(render),
};

fn tool_error(e: rackpipe_nfs_export::Error) -> CliError {
    CliError::from_tool(&e, e.is_transient())
}

fn render(site: &Site, templates: Option<&std::path::Path>) -> Result<RenderOutcome, CliError> {
    let files = rackpipe_nfs_export::render(site, templates).map_err(tool_error)?;
    Ok(RenderOutcome {
        files,
        desired: None,
    })
}

fn lint(files: &[PathBuf], global: &GlobalArgs) -> Result<ExitStatus, CliError> {
    let mut inputs = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::error(format!("{}: cannot read: {e}", path.display())))?;
        inputs.push((path.display().to_string(), text));
    }
    let reports = rackpipe_nfs_export::exports::lint_files(&inputs);
    let valid = reports.iter().all(|r| r.valid);
    if !global.quiet {
        for r in &reports {
            rackpipe_cli::print_diagnostics(HOOKS.name, &r.source, &r.diagnostics);
        }
    }
    rackpipe_cli::emit(&reports)?;
    Ok(if valid {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}

/// A connected NAS.
enum Nas {
    Linux(SshRemote, LinuxTarget),
    Ganesha(SshRemote, GaneshaTarget),
    Synology(DsmClient),
}

async fn connect(site: &Site, conn: &ConnArgs) -> Result<Nas, CliError> {
    let nas = site
        .nas
        .as_ref()
        .ok_or_else(|| CliError::error("nas: the site has no nas section"))?;
    match &nas.server {
        NfsServer::Synology { .. } => {
            let mut target = DsmTarget::from_site(site).map_err(tool_error)?;
            if let Some(url) = &conn.target {
                target.base_url = url.trim_end_matches('/').to_owned();
            }
            Ok(Nas::Synology(
                DsmClient::login(target).await.map_err(tool_error)?,
            ))
        }
        NfsServer::Linux { ssh_user } | NfsServer::Ganesha { ssh_user } => {
            let key = conn
                .ssh_key
                .clone()
                .ok_or_else(|| CliError::usage("--ssh-key is required for a Linux NAS"))?;
            let policy = match (&conn.host_fingerprint, &conn.known_hosts) {
                (Some(fp), _) => HostKeyPolicy::Fingerprint(fp.clone()),
                (None, Some(path)) => HostKeyPolicy::KnownHosts {
                    path: path.clone(),
                    accept_new: false,
                },
                (None, None) => {
                    return Err(CliError::usage(
                        "give --known-hosts or --host-fingerprint: host keys are always verified",
                    ));
                }
            };
            let host = match &conn.target {
                Some(h) => h.clone(),
                None => {
                    let desired = rackpipe_nfs_export::resolve(site).map_err(tool_error)?;
                    desired.server_address.to_string()
                }
            };
            let options = ConnectOptions::new(host, conn.ssh_port, ssh_user.clone(), key, policy);
            let remote = SshRemote::connect(&options, Duration::from_secs(60))
                .await
                .map_err(tool_error)?;
            Ok(match &nas.server {
                NfsServer::Ganesha { .. } => Nas::Ganesha(
                    remote,
                    GaneshaTarget {
                        config_dir: conn.ganesha_config_dir.clone(),
                        main_config: conn.ganesha_main_config.clone(),
                        reload: conn.ganesha_reload.clone(),
                        ..GaneshaTarget::for_user(ssh_user)
                    },
                ),
                _ => Nas::Linux(remote, LinuxTarget::for_user(ssh_user)),
            })
        }
    }
}

fn sync(args: &SyncArgs) -> Result<ExitStatus, CliError> {
    use rackpipe_nfs_export::sync::{BackupKind, Destination, Direction, SyncOptions};
    let loaded = args.site.load(HOOKS.check)?;
    let kind = match args.backup {
        Backup::Etcd => BackupKind::Etcd,
        Backup::Router => BackupKind::Router,
    };
    let mut dest = Destination::from_site(&loaded.site, kind).map_err(tool_error)?;
    if let Some(host) = &args.target {
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
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let report = rackpipe_nfs_export::sync::sync(&dest, &args.dir, &options).map_err(tool_error)?;
    tracing::info!(
        "{}: {} copied ({} bytes), {} deleted, {} unchanged",
        report.destination,
        report.copied.len(),
        report.bytes,
        report.deleted.len(),
        report.unchanged
    );
    rackpipe_cli::emit(&report)?;
    Ok(ExitStatus::Success)
}

fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
        Command::Lint { files } => lint(files, &cli.global),
        Command::Sync(args) => sync(args),
        Command::Plan { plan, conn } => {
            let loaded = plan.site.load(HOOKS.check)?;
            let site = &loaded.site;
            let result = rackpipe_cli::runtime()?.block_on(async {
                match connect(site, conn).await? {
                    Nas::Linux(remote, target) => {
                        rackpipe_nfs_export::linux::plan(site, &remote, &target).await
                    }
                    Nas::Ganesha(remote, target) => {
                        rackpipe_nfs_export::ganesha::plan(site, &remote, &target).await
                    }
                    Nas::Synology(client) => rackpipe_nfs_export::synology::plan(site, &client).await,
                }
                .map_err(tool_error)
            })?;
            rackpipe_cli::finish_plan(&result, plan, &cli.global)
        }
        Command::Apply { apply, conn } => {
            let loaded = apply.site.load(HOOKS.check)?;
            let site = &loaded.site;
            let expected = apply.read_plan(HOOKS.name)?;
            let result = rackpipe_cli::runtime()?.block_on(async {
                match connect(site, conn).await? {
                    Nas::Linux(remote, target) => {
                        rackpipe_nfs_export::linux::apply(site, &remote, &target, expected.as_ref()).await
                    }
                    Nas::Ganesha(remote, target) => {
                        rackpipe_nfs_export::ganesha::apply(site, &remote, &target, expected.as_ref())
                            .await
                    }
                    Nas::Synology(client) => {
                        rackpipe_nfs_export::synology::apply(site, &client, expected.as_ref()).await
                    }
                }
                .map_err(tool_error)
            })?;
            rackpipe_cli::emit(&result)?;
            Ok(ExitStatus::Success)
        }
    }
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, run)
}
