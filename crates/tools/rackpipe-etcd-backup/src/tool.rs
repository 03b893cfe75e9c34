//! etcd-backup on the shared driver: its verbs and flags and its [`Tool`] impl
//! ([`EtcdBackup`]), which `bins/etcd-backup` runs with [`rackpipe_cli::driver::run`].
//!
//! etcd-backup has no `plan` or `apply` ([`Tool::PLANS`] is `false`): its own verbs are all it
//! has. It reads no secret reference from the site (the TLS files and the SSH key are paths),
//! so [`Tool::secret_refs`] keeps its default, none.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rackpipe_cli::driver::{Context, NoArgs, NoTarget, Tool};
use rackpipe_cli::flags::{HostKeyArgs, SshLoginArgs, SshPortArg};
use rackpipe_cli::{ApplyArgs, CliError, ExitStatus, SiteArg};
use rackpipe_model::documents::{Document, Plan};
use rackpipe_model::load::LoadedSite;
use rackpipe_model::{Site, documents::Kind};

use crate::{
    DrillOptions, Error, Snapshot, SnapshotList, SnapshotOptions, SshOptions, TlsOverrides,
    VerifyAll,
};

/// etcd-backup's own verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Stream a snapshot from the first healthy member into DEST (hash, optional zstd, fsync,
    /// atomic rename) and print its manifest.
    ///
    /// By default over gRPC to each member's port 2379. With --via-ssh (for runners that cannot
    /// reach 2379), `etcdctl snapshot save` runs on a master into a private temp directory, the
    /// file streams back over SSH through the same checks and writer, and the remote copy is
    /// always removed. Either way the masters are tried in order; when all fail the exit status
    /// is 75 if every failure was transient, and nothing is left in DEST.
    Snapshot {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Destination directory (the NFS-mounted backup export in production).
        #[arg(long, value_name = "DIR")]
        dest: PathBuf,
        /// How etcd is reached over gRPC (and the TLS files on the master with --via-ssh).
        #[command(flatten)]
        conn: ConnArgs,
        /// The snapshot taken on a master over SSH instead.
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
        /// The site.
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
        /// The site.
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
pub struct ConnArgs {
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
pub struct SshArgs {
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

/// etcd-backup as the shared driver runs it.
#[derive(Debug)]
pub struct EtcdBackup;

impl Tool for EtcdBackup {
    const NAME: &'static str = "etcd-backup";
    const ABOUT: &'static str =
        "Snapshot, verify, retain and restore the Kubernetes cluster's etcd.";
    const PLANS: bool = false;
    // No `plan` or `apply` (PLANS is false): these texts are never shown.
    const PLAN_ABOUT: &'static str = "";
    const APPLY_ABOUT: &'static str = "";
    const SCHEMAS: rackpipe_cli::ToolSchemas = crate::documents::schemas;
    type Conn = NoArgs;
    type PlanFlags = NoArgs;
    type ApplyFlags = NoArgs;
    type Verb = Verb;
    type Target = NoTarget;
    type Applied = ();

    /// Never called by the driver (no `plan` or `apply`); a verb that connects reaches etcd
    /// with its own flags ([`Verb::Snapshot`]).
    async fn connect(_: &LoadedSite, _: &NoArgs) -> Result<NoTarget, CliError> {
        Err(CliError::usage(format!(
            "{} has no plan or apply",
            Self::NAME
        )))
    }

    async fn plan(_: &LoadedSite, target: &NoTarget, _: &NoArgs) -> Result<Plan, CliError> {
        match *target {}
    }

    async fn plan_for_apply(
        _: &LoadedSite,
        target: &NoTarget,
        _: &NoArgs,
        _: &ApplyArgs,
    ) -> Result<Plan, CliError> {
        match *target {}
    }

    async fn apply(
        _: &LoadedSite,
        target: &NoTarget,
        _: &NoArgs,
        _: &ApplyArgs,
        _: Option<Plan>,
    ) -> Result<(), CliError> {
        match *target {}
    }

    async fn verb(verb: &Verb, ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
        match verb {
            Verb::Snapshot {
                site,
                dest,
                conn,
                ssh,
            } => {
                let loaded = ctx.load(site)?;
                let snap = snapshot(&loaded.site, dest, conn, ssh).await?;
                rackpipe_cli::metrics::backup_size(&snap.manifest.file, snap.manifest.file_size);
                ctx.emit(&snap.manifest)?;
            }
            Verb::Verify {
                path: None,
                latest: None,
                all: Some(dir),
            } => {
                let all = VerifyAll::run(dir)?;
                emit(ctx, all.list.clone())?;
                all.outcome()?;
            }
            Verb::Verify { path, latest, .. } => {
                let path = match (path, latest) {
                    (Some(p), _) => p.clone(),
                    (None, Some(dir)) => crate::newest(dir)?,
                    (None, None) => {
                        return Err(CliError::usage(
                            "give a snapshot, --latest DIR or --all DIR",
                        ));
                    }
                };
                emit(ctx, crate::verify(&path)?)?;
            }
            Verb::List { dest, verify } => {
                let snapshots = crate::list(dest, *verify)?;
                emit(
                    ctx,
                    SnapshotList {
                        dir: dest.clone(),
                        snapshots,
                    },
                )?;
            }
            Verb::Prune { site, dest, apply } => {
                let loaded = ctx.load(site)?;
                let policy = crate::retention_of(&loaded.site)?;
                let plan = crate::prune(dest, &policy, *apply)?;
                if *apply {
                    emit(ctx, plan)?;
                } else {
                    ctx.emit(&plan.to_plan(loaded.site.metadata.name.as_str()))?;
                }
            }
            Verb::Restore {
                site,
                snapshot,
                data_dir,
                member,
                cluster_token,
            } => {
                let loaded = ctx.load(site)?;
                let result = crate::restore_for_site(
                    &loaded.site,
                    snapshot,
                    data_dir,
                    member.as_deref(),
                    cluster_token,
                )?;
                emit(ctx, result)?;
            }
            Verb::Drill { snapshot, latest } => {
                let path = match (snapshot, latest) {
                    (Some(p), _) => p.clone(),
                    (None, Some(dir)) => crate::newest_verified(dir)?,
                    (None, None) => {
                        return Err(CliError::usage("give a snapshot or --latest DIR"));
                    }
                };
                emit(ctx, crate::drill(&path, &DrillOptions::default()).await?)?;
            }
        }
        Ok(ExitStatus::Success)
    }
}

/// The one place etcd-backup's errors become exit codes: a usage error exits 64, a transient
/// failure 75 ([`Error::is_transient`]), anything else 1.
impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        if e.is_usage() {
            Self::usage(e.to_string())
        } else {
            Self::from_tool(&e, e.is_transient())
        }
    }
}

/// Prints `body` in its document envelope.
fn emit<T: Kind + serde::Serialize>(ctx: &Context<'_>, body: T) -> Result<(), CliError> {
    ctx.emit(&Document::new(body))
}

/// `snapshot`: over gRPC to the members, or with `--via-ssh` through `etcdctl` on a master.
async fn snapshot(
    site: &Site,
    dest: &Path,
    conn: &ConnArgs,
    ssh: &SshArgs,
) -> Result<Snapshot, Error> {
    let options = SnapshotOptions::for_site(site);
    if ssh.via_ssh {
        let target = crate::ssh_target(site, &ssh.options(conn))?;
        crate::snapshot_via_ssh(&target, dest, &options).await
    } else {
        let target = crate::grpc_target(site, &conn.endpoints, conn.insecure_http, &conn.tls())?;
        crate::snapshot(&target, dest, &options).await
    }
}
