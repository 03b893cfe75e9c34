//! `etcd-backup`: snapshot, verify, retain and restore the Kubernetes cluster's etcd.
//!
//! A thin binary: arguments are parsed here, the work is done by `rackpipe-etcd`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::{CliError, CommonCommand, ExitStatus, GlobalArgs, SiteArg, ToolCli, ToolHooks};
use rackpipe_etcd::{SnapshotOptions, Target, TlsFiles};
use rackpipe_model::API_VERSION;
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
    Snapshot {
        #[command(flatten)]
        site: SiteArg,
        /// Destination directory (the NFS-mounted backup export in production).
        #[arg(long, value_name = "DIR")]
        dest: PathBuf,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Check a snapshot's SHA-256 against its manifest and etcd's own integrity trailer.
    Verify {
        /// Snapshot file (or its manifest).
        #[arg(required_unless_present = "latest", conflicts_with = "latest")]
        path: Option<PathBuf>,
        /// Verify the newest snapshot in DIR instead.
        #[arg(long, value_name = "DIR")]
        latest: Option<PathBuf>,
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
        /// Where the member data directories go (must not exist or be empty).
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
    /// CA certificate (default: kubeadm's /etc/kubernetes/pki/etcd/ca.crt).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Client certificate.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Client key.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Plain HTTP (only for a local test member without TLS).
    #[arg(long)]
    insecure_http: bool,
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

fn etcd_error(e: rackpipe_etcd::Error) -> CliError {
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

fn newest(dir: &Path) -> Result<PathBuf, CliError> {
    rackpipe_etcd::list::latest_verified(dir)
        .map_err(etcd_error)?
        .map(|e| e.path)
        .ok_or_else(|| CliError::error(format!("{}: no verified snapshot", dir.display())))
}

fn snapshot(site: &SiteArg, dest: &Path, conn: &ConnArgs) -> Result<ExitStatus, CliError> {
    let loaded = site.load(HOOKS.check)?;
    let site = &loaded.site;
    let scheme = if conn.insecure_http { "http" } else { "https" };
    let endpoints = if conn.endpoints.is_empty() {
        rackpipe_etcd::members_from_site(site)
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
    let prefix = site
        .kubernetes
        .as_ref()
        .map_or_else(|| "etcd".to_owned(), |k| k.cluster_name.to_string());
    let options = match site.backups.as_ref().and_then(|b| b.etcd.as_ref()) {
        Some(job) => SnapshotOptions::from_job(job, &prefix),
        None => SnapshotOptions {
            prefix,
            ..SnapshotOptions::default()
        },
    };
    let target = Target::new(endpoints, tls);
    let snap = rackpipe_cli::runtime()?
        .block_on(rackpipe_etcd::snapshot(&target, dest, &options))
        .map_err(etcd_error)?;
    rackpipe_cli::emit_text(&snap.manifest.to_json())?;
    Ok(ExitStatus::Success)
}

fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
        Command::Snapshot { site, dest, conn } => snapshot(site, dest, conn),
        Command::Verify { path, latest } => {
            let path = match (path, latest) {
                (Some(p), _) => p.clone(),
                (None, Some(dir)) => newest(dir)?,
                (None, None) => return Err(CliError::usage("give a snapshot or --latest DIR")),
            };
            let verified = rackpipe_etcd::verify(&path).map_err(etcd_error)?;
            emit("EtcdSnapshotVerified", verified)?;
            Ok(ExitStatus::Success)
        }
        Command::List { dest, verify } => {
            let entries = rackpipe_etcd::list(dest, *verify).map_err(etcd_error)?;
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
            let plan = rackpipe_etcd::prune(dest, &policy, *apply).map_err(etcd_error)?;
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
            let plan = rackpipe_etcd::RestorePlan::from_site(&loaded.site, data_dir, cluster_token)
                .map_err(etcd_error)?;
            let dirs = match member {
                Some(name) => {
                    vec![rackpipe_etcd::restore_member(snapshot, &plan, name).map_err(etcd_error)?]
                }
                None => rackpipe_etcd::restore(snapshot, &plan).map_err(etcd_error)?,
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
                .block_on(rackpipe_etcd::drill(
                    &path,
                    &rackpipe_etcd::DrillOptions::default(),
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
