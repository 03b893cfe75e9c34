//! `haproxy-gen`: render, check and deploy HAProxy and keepalived for the site's VIPs.
//!
//! A thin binary: arguments are parsed here, the work is done by `rackpipe-haproxy-gen`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::{
    ApplyArgs, CliError, CommonCommand, ExitStatus, GlobalArgs, PlanArgs, RenderOutcome, ToolCli,
    ToolHooks,
};
use rackpipe_haproxy_gen::Error as HaproxyError;
use rackpipe_haproxy_gen::deploy::{self, SshDefaults, Target};
use rackpipe_model::Site;

/// Render, check and deploy HAProxy and keepalived for the site's VIPs.
#[derive(Debug, Parser)]
#[command(name = "haproxy-gen", version)]
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
    /// Fetch the current files from every instance over SSH and show what apply would change.
    Plan {
        #[command(flatten)]
        plan: PlanArgs,
        #[command(flatten)]
        ssh: SshArgs,
        /// Also write the unified diff of every changed file.
        #[arg(long, value_name = "FILE")]
        diff: Option<PathBuf>,
    },
    /// Roll the rendered configuration over the instances, one at a time, hitlessly.
    Apply {
        #[command(flatten)]
        apply: ApplyArgs,
        #[command(flatten)]
        ssh: SshArgs,
    },
}

/// How the instances are reached over SSH.
#[derive(Debug, Args)]
struct SshArgs {
    /// Remote user.
    #[arg(long, default_value = "root")]
    ssh_user: String,
    /// SSH port.
    #[arg(long, default_value_t = 22)]
    ssh_port: u16,
    /// Private key file.
    #[arg(long, value_name = "FILE")]
    ssh_key: PathBuf,
    /// known_hosts file for instances without a pinned `ssh_host_key` in the site.
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Reach INSTANCE at HOST:PORT instead of its site address (jump hosts, tests).
    #[arg(long = "target", value_name = "INSTANCE=HOST:PORT")]
    targets: Vec<String>,
}

impl SshArgs {
    fn targets(&self, site: &Site) -> Result<Vec<Target>, CliError> {
        let defaults = SshDefaults {
            user: self.ssh_user.clone(),
            port: self.ssh_port,
            key_file: self.ssh_key.clone(),
            known_hosts: self.known_hosts.clone(),
        };
        let mut targets = deploy::targets_for_site(site, &defaults).map_err(tool_error)?;
        for spec in &self.targets {
            let (instance, addr) = spec.split_once('=').ok_or_else(|| {
                CliError::usage(format!("--target {spec}: expected INSTANCE=HOST:PORT"))
            })?;
            let (host, port) = addr
                .rsplit_once(':')
                .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p)))
                .ok_or_else(|| {
                    CliError::usage(format!("--target {spec}: expected INSTANCE=HOST:PORT"))
                })?;
            let target = targets
                .iter_mut()
                .find(|t| t.instance == instance)
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "--target {spec}: no instance {instance:?} in the site"
                    ))
                })?;
            target.ssh.host = host.trim_matches(['[', ']']).to_owned();
            target.ssh.port = port;
        }
        Ok(targets)
    }
}

impl ToolCli for Cli {
    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

const HOOKS: ToolHooks = ToolHooks {
    name: "haproxy-gen",
    check: rackpipe_haproxy_gen::check,
    render: Some(render),
};

fn tool_error(e: HaproxyError) -> CliError {
    CliError::from_tool(&e, e.is_transient())
}

fn render(site: &Site, templates: Option<&std::path::Path>) -> Result<RenderOutcome, CliError> {
    let files = rackpipe_haproxy_gen::render_redacted(site, templates).map_err(tool_error)?;
    Ok(RenderOutcome {
        files,
        desired: None,
    })
}

/// The files as deployed: real secrets from `env:`/`file:` references.
fn deploy_files(site: &Site) -> Result<Vec<rackpipe_model::documents::RenderedFile>, CliError> {
    rackpipe_haproxy_gen::render(
        site,
        &rackpipe_haproxy_gen::RenderOptions::default(),
        &rackpipe_haproxy_gen::EnvFileSecrets,
    )
    .map_err(tool_error)
}

fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
        Command::Plan { plan, ssh, diff } => {
            let loaded = plan.site.load(HOOKS.check)?;
            let files = deploy_files(&loaded.site)?;
            let targets = ssh.targets(&loaded.site)?;
            let result = rackpipe_cli::runtime()?
                .block_on(deploy::plan(
                    loaded.site.metadata.name.as_str(),
                    &files,
                    &targets,
                ))
                .map_err(tool_error)?;
            if let Some(path) = diff {
                std::fs::write(path, deploy::plan_diff(&result)).map_err(|e| {
                    CliError::error(format!("{}: cannot write: {e}", path.display()))
                })?;
            }
            rackpipe_cli::finish_plan(&result, plan, &cli.global)
        }
        Command::Apply { apply, ssh } => {
            let loaded = apply.site.load(HOOKS.check)?;
            let files = deploy_files(&loaded.site)?;
            let targets = ssh.targets(&loaded.site)?;
            let rt = rackpipe_cli::runtime()?;
            let plan = match apply.read_plan(HOOKS.name)? {
                Some(plan) => plan,
                None => rt
                    .block_on(deploy::plan(
                        loaded.site.metadata.name.as_str(),
                        &files,
                        &targets,
                    ))
                    .map_err(tool_error)?,
            };
            let result = rt
                .block_on(deploy::apply(&plan, &files, &targets))
                .map_err(tool_error)?;
            rackpipe_cli::emit(&result)?;
            Ok(ExitStatus::Success)
        }
    }
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, run)
}
