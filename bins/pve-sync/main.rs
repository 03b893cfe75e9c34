//! `pve-sync`: keep the Proxmox cluster's guests in line with the site: plan, apply, facts.
//!
//! A thin binary: arguments are parsed here, the work is done by the rackpipe libraries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rackpipe_cli::{CommonCommand, GlobalArgs, ToolCli, ToolHooks};

/// Keep the Proxmox cluster's guests in line with the site: plan, apply, facts.
#[derive(Debug, Parser)]
#[command(name = "pve-sync", version, about)]
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

const HOOKS: ToolHooks = ToolHooks { name: "pve-sync", check: rackpipe_cli::no_checks, render: None };

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, |cli| match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
    })
}
