//! `ros-render`: render the MikroTik router's configuration from the site, plan and apply it over the REST API.
//!
//! A thin binary: arguments are parsed here, the work is done by the rackpipe libraries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rackpipe_cli::{CliError, CommonCommand, GlobalArgs, RenderOutcome, ToolCli, ToolHooks};

/// Render the MikroTik router's configuration from the site, plan and apply it over the REST API.
#[derive(Debug, Parser)]
#[command(name = "ros-render", version, about)]
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

const HOOKS: ToolHooks = ToolHooks { name: "ros-render", check: rackpipe_cli::no_checks, render: Some(render) };

fn render(site: &rackpipe_model::Site, templates: Option<&std::path::Path>) -> Result<RenderOutcome, CliError> {
    let rendered = rackpipe_ros_render::render(site, templates).map_err(|e| CliError::from_tool(&e, e.is_transient()))?;
    Ok(RenderOutcome { files: rendered.files, desired: Some(rendered.desired) })
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, |cli| match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
    })
}
