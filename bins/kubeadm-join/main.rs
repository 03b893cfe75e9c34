//! `kubeadm-join`: bootstrap and grow the site's kubeadm cluster behind the VIP.
//!
//! A thin binary: arguments are parsed here, the work is done by the rackpipe libraries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rackpipe_cli::{CommonCommand, GlobalArgs, ToolCli, ToolHooks};

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

const HOOKS: ToolHooks = ToolHooks { name: "kubeadm-join", check: rackpipe_cli::no_checks, render: None };

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, |cli| match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
    })
}
