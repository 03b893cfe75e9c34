//! `ros-render`: render the MikroTik router's configuration from the site, plan and apply it over the REST API.
//!
//! A thin binary: arguments are parsed here, the work is done by the rackpipe libraries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rackpipe_cli::{CommonCommand, GlobalArgs, ToolCli, ToolHooks};

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

const HOOKS: ToolHooks = ToolHooks { name: "ros-render", check: rackpipe_cli::no_checks, render: None };

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, |cli| match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
    })
}
