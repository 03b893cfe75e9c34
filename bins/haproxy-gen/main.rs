//! `haproxy-gen`: render, check and deploy HAProxy and keepalived for the site's VIPs.
//!
//! A thin binary: arguments are parsed here, the work is done by the rackpipe libraries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rackpipe_cli::{CommonCommand, GlobalArgs, ToolCli, ToolHooks};

/// Render, check and deploy HAProxy and keepalived for the site's VIPs.
#[derive(Debug, Parser)]
#[command(name = "haproxy-gen", version, about)]
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

const HOOKS: ToolHooks = ToolHooks { name: "haproxy-gen", check: rackpipe_cli::no_checks, render: None };

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, |cli| match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
    })
}
