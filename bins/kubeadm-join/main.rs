//! `kubeadm-join`: bootstrap and grow the site's kubeadm cluster behind the VIP.
//!
//! A thin binary: arguments are parsed here, the work is done by the rackpipe libraries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rackpipe_cli::{CliError, CommonCommand, GlobalArgs, RenderOutcome, ToolCli, ToolHooks};

/// Bootstrap and grow the site's kubeadm cluster behind the VIP.
#[derive(Debug, Parser)]
#[command(name = "kubeadm-join", version, about)]
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
}

impl ToolCli for Cli {
    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

const HOOKS: ToolHooks = ToolHooks { name: "kubeadm-join", check: rackpipe_kubeadm::check, render: Some(render) };

fn render(site: &rackpipe_model::Site, templates: Option<&std::path::Path>) -> Result<RenderOutcome, CliError> {
    let files = rackpipe_kubeadm::render_for_site(site, templates).map_err(|e| CliError::from_tool(&e, e.is_transient()))?;
    Ok(RenderOutcome { files, desired: None })
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, |cli| match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
    })
}
