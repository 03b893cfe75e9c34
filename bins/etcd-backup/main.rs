//! `etcd-backup`: snapshot, verify, retain and restore the Kubernetes cluster's etcd.
//!
//! A thin binary: arguments are parsed here, the work is done by `rackpipe-etcd-backup`.
//! `snapshot` talks gRPC to the members' port 2379, or with `--via-ssh` runs `etcdctl snapshot
//! save` on a master and streams the file back; both write the same files and manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::flags::{HostKeyArgs, SshLoginArgs, SshPortArg};
use rackpipe_cli::{CliError, CommonCommand, ExitStatus, GlobalArgs, SiteArg, ToolCli, ToolHooks};
use rackpipe_etcd_backup::{
    self as etcd, Document, Kind, SnapshotOptions, SshOptions, TlsOverrides,
};

/// Snapshot, verify, retain and restore the Kubernetes cluster's etcd.
#[derive(Debug, Parser)]
#[command(name = "etcd-backup", version)]
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
    /// Stream a snapshot from the first healthy member into DEST (hash, optional zstd, fsync,
    /// atomic rename) and print its manifest.
    ///
    /// By default over gRPC to each member's port 2379. With --via-ssh (for runners that cannot
    /// reach 2379), `etcdctl snapshot save` runs on a master into a private temp directory, the
    /// file streams back over SSH through the same checks and writer, and the remote copy is
    /// always removed. Either way the masters are tried in order; when all fail the exit status
    /// is 75 if every failure was transient, and nothing is left in DEST.
    Snapshot {
        #[command(flatten)]
        site: SiteArg,
        /// Destination directory (the NFS-mounted backup export in production).
        #[arg(long, value_name = "DIR")]
        dest: PathBuf,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        ssh: Box<SshArgs>,
    },
    /// Check a snapshot's SHA-256 against its manifest and etcd's own integrity trailer.
    Verify {
        /// Snapshot file (or its manifest).
        #[arg(required_unless_present_any = ["latest", "all"], conflicts_with_all = ["latest", "all"])]
        path: Option<PathBuf>,
        /// Verify the newest snapshot in DIR instead (the newest, whatever its state).
        #[arg(long, value_name = "DIR", conflicts_with = "all")]
        latest: Option<PathBuf>,
        /// Verify every snapshot with a manifest in DIR; exit 1 naming each one that fails
        /// (what a backup job runs last, so a damaged older snapshot fails it loudly).
        #[arg(long, value_name = "DIR")]
        all: Option<PathBuf>,
    },
    /// Snapshots in DIR with their manifests and state.
    List {
        /// Destination directory.
        #[arg(long, value_name = "DIR")]
        dest: PathBuf,
        /// Verify each one (reads every file).
        #[arg(long)]
        verify: bool,
    },
    /// Apply the site's retention policy: shows what it would delete; deletes only with --apply.
    Prune {
        #[command(flatten)]
        site: SiteArg,
        /// Destination directory.
        #[arg(long, value_name = "DIR")]
        dest: PathBuf,
        /// Delete (without it, only the plan is printed).
        #[arg(long)]
        apply: bool,
    },
    /// Restore SNAPSHOT into a fresh data directory for one member (or every member).
    Restore {
        #[command(flatten)]
        site: SiteArg,
        /// The snapshot file.
        #[arg(long, value_name = "FILE")]
        snapshot: PathBuf,
        /// Where the member data directories go: `DIR/<member>` for each (each must not
        /// exist or be empty), so every member of a multi-master site gets its own.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Restore only this member (a master's node name).
        #[arg(long)]
        member: Option<String>,
        /// `--initial-cluster-token` of the restored cluster.
        #[arg(long, default_value = "etcd-cluster-restored")]
        cluster_token: String,
    },
    /// Restore the newest snapshot into a throwaway single-member etcd, start it, and compare
    /// revision and key count with the manifest.
    Drill {
        /// Snapshot file.
        #[arg(required_unless_present = "latest", conflicts_with = "latest")]
        snapshot: Option<PathBuf>,
        /// Drill the newest verified snapshot in DIR instead.
        #[arg(long, value_name = "DIR")]
        latest: Option<PathBuf>,
    },
}

/// How etcd is reached.
#[derive(Debug, Args)]
struct ConnArgs {
    /// Client URLs to try in order (default: every master's address from the site, :2379).
    #[arg(long = "endpoint", value_name = "URL")]
    endpoints: Vec<String>,
    /// CA certificate (default: kubeadm's /etc/kubernetes/pki/etcd/ca.crt). With --via-ssh, a
    /// path on the master (same default).
    #[arg(long, value_name = "FILE", alias = "cacert")]
    ca_file: Option<PathBuf>,
    /// Client certificate (default: /etc/kubernetes/pki/apiserver-etcd-client.crt; with
    /// --via-ssh, on the master: /etc/kubernetes/pki/etcd/healthcheck-client.crt).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Client key (default: /etc/kubernetes/pki/apiserver-etcd-client.key; with --via-ssh, on
    /// the master: /etc/kubernetes/pki/etcd/healthcheck-client.key).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Plain HTTP (only for a local test member without TLS).
    #[arg(long)]
    insecure_http: bool,
}

/// Taking the snapshot on a master over SSH. The shared SSH flag groups (user, key, port,
/// host keys) count only with `--via-ssh`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("over_ssh")
        .args(["ssh_user", "ssh_key", "ssh_port", "known_hosts", "ssh_fingerprint"])
        .multiple(true)
        .requires("via_ssh")
))]
struct SshArgs {
    /// Take the snapshot on a master over SSH (`etcdctl snapshot save`, streamed back) instead
    /// of over gRPC; for runners that cannot reach port 2379.
    #[arg(long, conflicts_with_all = ["endpoints", "insecure_http"])]
    via_ssh: bool,
    /// Masters to try in order, HOST or HOST:PORT (default: every master's address from the
    /// site).
    #[arg(long = "ssh-host", value_name = "HOST", requires = "via_ssh")]
    ssh_hosts: Vec<String>,
    #[command(flatten)]
    login: SshLoginArgs,
    #[command(flatten)]
    port: SshPortArg,
    #[command(flatten)]
    host_keys: HostKeyArgs,
    /// `etcdctl` on the masters.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "etcdctl",
        requires = "via_ssh"
    )]
    etcdctl: String,
    /// The client URL `etcdctl` uses on the master.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://127.0.0.1:2379",
        requires = "via_ssh"
    )]
    remote_endpoint: String,
    /// Directory on the master for the temporary snapshot (needs room for one database).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/tmp",
        requires = "via_ssh"
    )]
    remote_tmp: String,
}

impl ConnArgs {
    fn tls(&self) -> TlsOverrides {
        TlsOverrides {
            ca: self.ca_file.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

impl SshArgs {
    fn options(&self, conn: &ConnArgs) -> SshOptions {
        SshOptions {
            hosts: self.ssh_hosts.clone(),
            user: self.login.user_or("root"),
            port: self.port.port_or(22),
            key: self.login.ssh_key.clone(),
            known_hosts: self.host_keys.known_hosts.clone(),
            ssh_fingerprint: self.host_keys.ssh_fingerprint.clone(),
            etcdctl: self.etcdctl.clone(),
            remote_endpoint: self.remote_endpoint.clone(),
            remote_tmp: self.remote_tmp.clone(),
            tls: conn.tls(),
        }
    }
}

impl ToolCli for Cli {
    const SCHEMAS: rackpipe_cli::ToolSchemas = rackpipe_etcd_backup::documents::schemas;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

const HOOKS: ToolHooks = ToolHooks {
    name: "etcd-backup",
    check: rackpipe_cli::no_checks,
    render: None,
};

fn etcd_error(e: etcd::Error) -> CliError {
    if e.is_usage() {
        CliError::usage(e.to_string())
    } else {
        CliError::from_tool(&e, e.is_transient())
    }
}

fn emit<T: Kind + serde::Serialize>(body: T) -> Result<(), CliError> {
    rackpipe_cli::emit(&Document::new(body))
}

fn snapshot(
    site: &SiteArg,
    dest: &Path,
    conn: &ConnArgs,
    ssh: &SshArgs,
) -> Result<ExitStatus, CliError> {
    let loaded = site.load(HOOKS.check)?;
    let site = &loaded.site;
    let options = SnapshotOptions::for_site(site);
    let rt = rackpipe_cli::runtime()?;
    let snap = if ssh.via_ssh {
        let target = etcd::ssh_target(site, &ssh.options(conn)).map_err(etcd_error)?;
        rt.block_on(etcd::snapshot_via_ssh(&target, dest, &options))
    } else {
        let target = etcd::grpc_target(site, &conn.endpoints, conn.insecure_http, &conn.tls())
            .map_err(etcd_error)?;
        rt.block_on(etcd::snapshot(&target, dest, &options))
    }
    .map_err(etcd_error)?;
    rackpipe_cli::emit(&snap.manifest)?;
    Ok(ExitStatus::Success)
}

fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
        Command::Snapshot {
            site,
            dest,
            conn,
            ssh,
        } => snapshot(site, dest, conn, ssh),
        Command::Verify {
            path: None,
            latest: None,
            all: Some(dir),
        } => {
            let all = etcd::VerifyAll::run(dir).map_err(etcd_error)?;
            emit(all.list.clone())?;
            all.outcome().map_err(etcd_error)?;
            Ok(ExitStatus::Success)
        }
        Command::Verify { path, latest, .. } => {
            let path = match (path, latest) {
                (Some(p), _) => p.clone(),
                (None, Some(dir)) => etcd::newest(dir).map_err(etcd_error)?,
                (None, None) => {
                    return Err(CliError::usage(
                        "give a snapshot, --latest DIR or --all DIR",
                    ));
                }
            };
            emit(etcd::verify(&path).map_err(etcd_error)?)?;
            Ok(ExitStatus::Success)
        }
        Command::List { dest, verify } => {
            let snapshots = etcd::list(dest, *verify).map_err(etcd_error)?;
            emit(etcd::SnapshotList {
                dir: dest.clone(),
                snapshots,
            })?;
            Ok(ExitStatus::Success)
        }
        Command::Prune { site, dest, apply } => {
            let loaded = site.load(HOOKS.check)?;
            let policy = etcd::retention_of(&loaded.site).map_err(etcd_error)?;
            let plan = etcd::prune(dest, &policy, *apply).map_err(etcd_error)?;
            if *apply {
                emit(plan)?;
            } else {
                rackpipe_cli::emit(&plan.to_plan(loaded.site.metadata.name.as_str()))?;
            }
            Ok(ExitStatus::Success)
        }
        Command::Restore {
            site,
            snapshot,
            data_dir,
            member,
            cluster_token,
        } => {
            let loaded = site.load(HOOKS.check)?;
            let result = etcd::restore_for_site(
                &loaded.site,
                snapshot,
                data_dir,
                member.as_deref(),
                cluster_token,
            )
            .map_err(etcd_error)?;
            emit(result)?;
            Ok(ExitStatus::Success)
        }
        Command::Drill { snapshot, latest } => {
            let path = match (snapshot, latest) {
                (Some(p), _) => p.clone(),
                (None, Some(dir)) => etcd::newest_verified(dir).map_err(etcd_error)?,
                (None, None) => return Err(CliError::usage("give a snapshot or --latest DIR")),
            };
            let report = rackpipe_cli::runtime()?
                .block_on(etcd::drill(&path, &etcd::DrillOptions::default()))
                .map_err(etcd_error)?;
            emit(report)?;
            Ok(ExitStatus::Success)
        }
    }
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, run)
}
