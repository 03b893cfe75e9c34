//! `rackpipe-lab`: start, check and stop the lab.
//!
//! `up` prints `lab.json` on stdout (progress on stderr) and leaves the lab running; `health`
//! prints a JSON array (exit 0 when everything is up, 1 otherwise); `down` removes what `up`
//! created (idempotent). `serve` is internal: it runs a simulator inside a host's namespace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rackpipe_lab::sims::{SimKind, SimSpec};
use rackpipe_lab::{Lab, LabOptions};

/// The rackpipe lab: the example site rehearsed on one machine (needs root and `ip`).
#[derive(Debug, Parser)]
#[command(name = "rackpipe-lab", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build the lab in DIR and leave it running; prints lab.json
    Up {
        /// State directory (lab.json, site.yaml, ci-variables.json, creds/, hosts/)
        #[arg(long)]
        dir: PathBuf,
        /// The site to rehearse
        #[arg(long, default_value = "examples/rachuna-net/site.yaml")]
        site: PathBuf,
        /// Only network, sshd and simulators (no OpenBao, HAProxy, keepalived, etcd, ganesha)
        #[arg(long)]
        no_daemons: bool,
    },
    /// Check every component; exit 1 when any is down
    Health {
        /// State directory
        #[arg(long)]
        dir: PathBuf,
    },
    /// Stop everything and remove what `up` created (idempotent)
    Down {
        /// State directory
        #[arg(long)]
        dir: PathBuf,
    },
    /// Run a simulator (internal: started by `up` inside a host's namespace)
    #[command(hide = true)]
    Serve {
        /// Which simulator
        kind: SimKind,
        /// Address and port to serve on
        #[arg(long)]
        listen: SocketAddr,
        /// The spec file `up` wrote
        #[arg(long)]
        spec: PathBuf,
    },
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RACKPIPE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .with_target(false)
        .init();
    let result: anyhow::Result<ExitCode> = (|| match cli.command {
        Cmd::Up {
            dir,
            site,
            no_daemons,
        } => {
            let mut options = LabOptions::new(dir, site);
            options.daemons = !no_daemons;
            let lab = Lab::up(&options)?;
            let state = lab.detach();
            println!("{}", serde_json::to_string_pretty(&state)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Health { dir } => {
            let report = rackpipe_lab::lab::health_dir(&dir)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(if report.iter().all(|c| c.up) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Down { dir } => {
            match rackpipe_lab::lab::down_dir(&dir)? {
                Some(state) => eprintln!("lab {} is down", state.id),
                None => eprintln!("{}: no lab.json, nothing to take down", dir.display()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Serve { kind, listen, spec } => {
            let text = std::fs::read_to_string(&spec)
                .map_err(|e| anyhow::anyhow!("{}: {e}", spec.display()))?;
            let mut spec: SimSpec = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", spec.display()))?;
            spec.kind = kind;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(rackpipe_lab::sims::serve(listen, spec))?;
            Ok(ExitCode::SUCCESS)
        }
    })();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rackpipe-lab: error: {}", one_line(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
