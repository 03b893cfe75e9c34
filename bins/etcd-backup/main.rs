//! `etcd-backup`: snapshot, verify, retain and restore the Kubernetes cluster's etcd.
//!
//! A thin binary: arguments are parsed here, the work is done by `rackpipe-etcd-backup`.
//! `snapshot` talks gRPC to the members' port 2379, or with `--via-ssh` runs `etcdctl snapshot
//! save` on a master and streams the file back; both write the same files and manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::{CliError, CommonCommand, ExitStatus, GlobalArgs, SiteArg, ToolCli, ToolHooks};
use rackpipe_etcd_backup::{SnapshotOptions, SshMember, SshTarget, Target, TlsFiles};
use rackpipe_model::API_VERSION;
use rackpipe_ssh::{ConnectOptions, HostKeyPolicy};
use serde::Serialize;

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
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
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

/// Taking the snapshot on a master over SSH.
#[derive(Debug, Args)]
struct SshArgs {
    /// Take the snapshot on a master over SSH (`etcdctl snapshot save`, streamed back) instead
    /// of over gRPC; for runners that cannot reach port 2379.
    #[arg(long, conflicts_with_all = ["endpoints", "insecure_http"])]
    via_ssh: bool,
    /// Masters to try in order, HOST or HOST:PORT (default: every master's address from the
    /// site).
    #[arg(long = "ssh-host", value_name = "HOST", requires = "via_ssh")]
    ssh_hosts: Vec<String>,
    /// Remote user.
    #[arg(long, default_value = "root", requires = "via_ssh")]
    ssh_user: String,
    /// SSH port (for masters without an explicit port).
    #[arg(long, default_value_t = 22, requires = "via_ssh")]
    ssh_port: u16,
    /// Private key file (OpenSSH format, unencrypted). Required with --via-ssh.
    #[arg(long, value_name = "FILE", requires = "via_ssh")]
    ssh_key: Option<PathBuf>,
    /// known_hosts file listing the masters' host keys (always verified; no trust on first use).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "host_fingerprint",
        requires = "via_ssh"
    )]
    known_hosts: Option<PathBuf>,
    /// Pinned host-key fingerprint (`SHA256:...`), for a single master.
    #[arg(long, value_name = "FP", requires = "via_ssh")]
    host_fingerprint: Option<String>,
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

impl SshArgs {
    /// The masters as SSH members: `--ssh-host` in order, or the site's masters.
    fn target(&self, site: &rackpipe_model::Site, conn: &ConnArgs) -> Result<SshTarget, CliError> {
        let key = self
            .ssh_key
            .clone()
            .ok_or_else(|| CliError::usage("--ssh-key is required with --via-ssh"))?;
        // (member name, host, port); `--ssh-host` members are named by their `host:port`.
        let hosts: Vec<(Option<String>, String, u16)> = if self.ssh_hosts.is_empty() {
            rackpipe_etcd_backup::members_from_site(site)
                .map_err(etcd_error)?
                .into_iter()
                .map(|m| (Some(m.name), m.address.to_string(), self.ssh_port))
                .collect()
        } else {
            self.ssh_hosts
                .iter()
                .map(|h| {
                    let (host, port) = split_host_port(h, self.ssh_port)?;
                    Ok((None, host, port))
                })
                .collect::<Result<_, CliError>>()?
        };
        let policy = match (&self.host_fingerprint, &self.known_hosts) {
            (Some(_), _) if hosts.len() > 1 => {
                return Err(CliError::usage(format!(
                    "--host-fingerprint pins one host key but there are {} masters; give --known-hosts",
                    hosts.len()
                )));
            }
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
        let members = hosts
            .into_iter()
            .map(|(name, host, port)| {
                let ssh = ConnectOptions::new(
                    host,
                    port,
                    self.ssh_user.clone(),
                    key.clone(),
                    policy.clone(),
                );
                SshMember {
                    name: name.unwrap_or_else(|| ssh.label()),
                    ssh,
                }
            })
            .collect();
        let mut target = SshTarget::new(members);
        target.etcdctl.clone_from(&self.etcdctl);
        target.endpoint.clone_from(&self.remote_endpoint);
        target.remote_tmp.clone_from(&self.remote_tmp);
        let default = TlsFiles::kubeadm_healthcheck();
        target.tls = TlsFiles {
            ca: conn.cacert.clone().unwrap_or(default.ca),
            cert: conn.cert.clone().unwrap_or(default.cert),
            key: conn.key.clone().unwrap_or(default.key),
        };
        Ok(target)
    }
}

/// `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address.
fn split_host_port(text: &str, default_port: u16) -> Result<(String, u16), CliError> {
    let bad = || CliError::usage(format!("--ssh-host {text:?}: expected HOST or HOST:PORT"));
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        return match after.strip_prefix(':') {
            Some(port) => Ok((host.to_owned(), port.parse().map_err(|_| bad())?)),
            None if after.is_empty() => Ok((host.to_owned(), default_port)),
            None => Err(bad()),
        };
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => {
            if host.is_empty() {
                return Err(bad());
            }
            Ok((host.to_owned(), port.parse().map_err(|_| bad())?))
        }
        _ if text.is_empty() => Err(bad()),
        _ => Ok((text.to_owned(), default_port)),
    }
}

impl ToolCli for Cli {
    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

const HOOKS: ToolHooks = ToolHooks {
    name: "etcd-backup",
    check: rackpipe_cli::no_checks,
    render: None,
};

fn etcd_error(e: rackpipe_etcd_backup::Error) -> CliError {
    CliError::from_tool(&e, e.is_transient())
}

/// A result document in the standard envelope.
#[derive(Serialize)]
struct Document<T: Serialize> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    #[serde(flatten)]
    body: T,
}

fn emit<T: Serialize>(kind: &'static str, body: T) -> Result<(), CliError> {
    rackpipe_cli::emit(&Document {
        api_version: API_VERSION,
        kind,
        body,
    })
}

/// The newest snapshot in `dir` that has a manifest, verified or not.
fn newest_snapshot(dir: &Path) -> Result<PathBuf, CliError> {
    rackpipe_etcd_backup::list::latest(dir)
        .map_err(etcd_error)?
        .map(|e| e.path)
        .ok_or_else(|| CliError::error(format!("{}: no snapshot with a manifest", dir.display())))
}

/// `verify --all DIR`: every snapshot with a manifest; the list on stdout, one error line
/// naming every damaged or missing snapshot, exit 1 when there is any.
fn verify_all(dir: &Path) -> Result<ExitStatus, CliError> {
    let entries = rackpipe_etcd_backup::list(dir, true).map_err(etcd_error)?;
    let bad = rackpipe_etcd_backup::list::failures(&entries);
    emit(
        "EtcdSnapshotList",
        serde_json::json!({ "dir": dir, "snapshots": entries }),
    )?;
    if bad.is_empty() {
        return Ok(ExitStatus::Success);
    }
    let count = bad.len();
    Err(CliError::error(format!(
        "{count} snapshot(s) in {} fail verification: {}",
        dir.display(),
        bad.join("; ")
    )))
}

fn newest(dir: &Path) -> Result<PathBuf, CliError> {
    rackpipe_etcd_backup::list::latest_verified(dir)
        .map_err(etcd_error)?
        .map(|e| e.path)
        .ok_or_else(|| CliError::error(format!("{}: no verified snapshot", dir.display())))
}

fn snapshot(
    site: &SiteArg,
    dest: &Path,
    conn: &ConnArgs,
    ssh: &SshArgs,
) -> Result<ExitStatus, CliError> {
    let loaded = site.load(HOOKS.check)?;
    let site = &loaded.site;
    let options = snapshot_options(site);
    if ssh.via_ssh {
        let target = ssh.target(site, conn)?;
        let snap = rackpipe_cli::runtime()?
            .block_on(rackpipe_etcd_backup::snapshot_via_ssh(&target, dest, &options))
            .map_err(etcd_error)?;
        rackpipe_cli::emit_text(&snap.manifest.to_json())?;
        return Ok(ExitStatus::Success);
    }
    let scheme = if conn.insecure_http { "http" } else { "https" };
    let endpoints = if conn.endpoints.is_empty() {
        rackpipe_etcd_backup::members_from_site(site)
            .map_err(etcd_error)?
            .into_iter()
            .map(|m| m.client_url.replacen("https", scheme, 1))
            .collect()
    } else {
        conn.endpoints.clone()
    };
    let tls = if conn.insecure_http {
        None
    } else {
        let default = TlsFiles::kubeadm();
        Some(TlsFiles {
            ca: conn.cacert.clone().unwrap_or(default.ca),
            cert: conn.cert.clone().unwrap_or(default.cert),
            key: conn.key.clone().unwrap_or(default.key),
        })
    };
    let target = Target::new(endpoints, tls);
    let snap = rackpipe_cli::runtime()?
        .block_on(rackpipe_etcd_backup::snapshot(&target, dest, &options))
        .map_err(etcd_error)?;
    rackpipe_cli::emit_text(&snap.manifest.to_json())?;
    Ok(ExitStatus::Success)
}

/// File prefix (the cluster name), zstd and timeout from the site's `backups.etcd` job.
fn snapshot_options(site: &rackpipe_model::Site) -> SnapshotOptions {
    let prefix = site
        .kubernetes
        .as_ref()
        .map_or_else(|| "etcd".to_owned(), |k| k.cluster_name.to_string());
    match site.backups.as_ref().and_then(|b| b.etcd.as_ref()) {
        Some(job) => SnapshotOptions::from_job(job, &prefix),
        None => SnapshotOptions {
            prefix,
            ..SnapshotOptions::default()
        },
    }
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
        } => verify_all(dir),
        Command::Verify { path, latest, .. } => {
            let path = match (path, latest) {
                (Some(p), _) => p.clone(),
                (None, Some(dir)) => newest_snapshot(dir)?,
                (None, None) => {
                    return Err(CliError::usage(
                        "give a snapshot, --latest DIR or --all DIR",
                    ));
                }
            };
            let verified = rackpipe_etcd_backup::verify(&path).map_err(etcd_error)?;
            emit("EtcdSnapshotVerified", verified)?;
            Ok(ExitStatus::Success)
        }
        Command::List { dest, verify } => {
            let entries = rackpipe_etcd_backup::list(dest, *verify).map_err(etcd_error)?;
            emit(
                "EtcdSnapshotList",
                serde_json::json!({ "dir": dest, "snapshots": entries }),
            )?;
            Ok(ExitStatus::Success)
        }
        Command::Prune { site, dest, apply } => {
            let loaded = site.load(HOOKS.check)?;
            let policy = loaded
                .site
                .backups
                .as_ref()
                .and_then(|b| b.etcd.as_ref())
                .map(|j| j.retention)
                .ok_or_else(|| {
                    CliError::error("backups.etcd: the site has no etcd backup job (retention)")
                })?;
            let plan = rackpipe_etcd_backup::prune(dest, &policy, *apply).map_err(etcd_error)?;
            if *apply {
                emit("EtcdPrune", plan)?;
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
            let plan = rackpipe_etcd_backup::RestorePlan::from_site(&loaded.site, data_dir, cluster_token)
                .map_err(etcd_error)?;
            let dirs = match member {
                Some(name) => {
                    vec![rackpipe_etcd_backup::restore_member(snapshot, &plan, name).map_err(etcd_error)?]
                }
                None => rackpipe_etcd_backup::restore(snapshot, &plan).map_err(etcd_error)?,
            };
            emit(
                "EtcdRestore",
                serde_json::json!({ "snapshot": snapshot, "data_dirs": dirs }),
            )?;
            Ok(ExitStatus::Success)
        }
        Command::Drill { snapshot, latest } => {
            let path = match (snapshot, latest) {
                (Some(p), _) => p.clone(),
                (None, Some(dir)) => newest(dir)?,
                (None, None) => return Err(CliError::usage("give a snapshot or --latest DIR")),
            };
            let report = rackpipe_cli::runtime()?
                .block_on(rackpipe_etcd_backup::drill(
                    &path,
                    &rackpipe_etcd_backup::DrillOptions::default(),
                ))
                .map_err(etcd_error)?;
            emit("EtcdDrill", report)?;
            Ok(ExitStatus::Success)
        }
    }
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, run)
}
