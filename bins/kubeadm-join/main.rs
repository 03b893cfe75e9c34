//! `kubeadm-join`: bootstrap and grow the site's kubeadm cluster behind the VIP.
//!
//! A thin binary: arguments are parsed here, the work is done by `rackpipe-kubeadm-join`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::{
    ApplyArgs, CliError, CommonCommand, ExitStatus, GlobalArgs, PlanArgs, RenderOutcome, ToolCli,
    ToolHooks,
};
use rackpipe_kubeadm_join::{JoinError, Options};
use rackpipe_model::Site;
use rackpipe_ssh::HostKeyPolicy;

/// Bootstrap and grow the site's kubeadm cluster behind the VIP.
#[derive(Debug, Parser)]
#[command(name = "kubeadm-join", version)]
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
    /// Find which nodes are members, half-joined or absent and which addons changed since
    /// they were applied (over SSH, through a master's admin.conf) and list the steps.
    Plan {
        #[command(flatten)]
        plan: PlanArgs,
        #[command(flatten)]
        nodes: NodeArgs,
    },
    /// Preflight, init the first master if there is no cluster, apply the CNI (Calico), join
    /// masters one at a time and workers in parallel, wait until Ready, label, taint, then
    /// apply the other addons on the first master (`kubectl apply --server-side` of rendered
    /// manifests, `helm upgrade --install` of pinned charts). Every upstream manifest and chart
    /// is downloaded on the master and checked against its SHA-256 in `kubernetes.artifacts`
    /// before it is used; then the bootstrap tokens made for the joins are deleted. The master
    /// needs kubectl, helm, curl and sha256sum.
    Apply {
        #[command(flatten)]
        apply: ApplyArgs,
        #[command(flatten)]
        nodes: NodeArgs,
        /// Attempts per join (a failed join is reset before the next).
        #[arg(long, default_value_t = 3)]
        join_attempts: u32,
        /// How long a node may take to become Ready, in seconds.
        #[arg(long, default_value_t = 300)]
        ready_timeout: u64,
    },
}

/// How the nodes are reached over SSH.
#[derive(Debug, Args)]
struct NodeArgs {
    /// Remote user.
    #[arg(long, default_value = "root")]
    ssh_user: String,
    /// Private key file.
    #[arg(long, value_name = "FILE")]
    ssh_key: PathBuf,
    /// known_hosts file (host keys are always verified; no trust on first use).
    #[arg(long, value_name = "FILE")]
    known_hosts: PathBuf,
    /// Inventory (JSON or YAML: node name → {host, port, user, key_file,
    /// host_key_fingerprint, kubernetes_dir}) overriding how nodes are reached.
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Nodes worked on at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Read templates (kubeadm configs, addons) from DIR instead of the ones built in, as
    /// `render --templates` does.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
}

impl NodeArgs {
    fn options(&self) -> Result<Options, CliError> {
        let policy = HostKeyPolicy::KnownHosts {
            path: self.known_hosts.clone(),
            accept_new: false,
        };
        let mut options = Options::new(self.ssh_user.clone(), self.ssh_key.clone(), policy);
        options.parallelism = self.parallel.max(1);
        options.templates.clone_from(&self.templates);
        if let Some(path) = &self.inventory {
            let text = std::fs::read(path)
                .map_err(|e| CliError::error(format!("{}: cannot read: {e}", path.display())))?;
            let inventory: BTreeMap<String, rackpipe_kubeadm_join::remote::InventoryEntry> =
                serde_saphyr::from_slice(&text)
                    .map_err(|e| CliError::error(format!("{}: {e}", path.display())))?;
            options.add_inventory(inventory);
        }
        Ok(options)
    }
}

impl ToolCli for Cli {
    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

const HOOKS: ToolHooks = ToolHooks {
    name: "kubeadm-join",
    check: rackpipe_kubeadm_join::check,
    render: Some(render),
};

fn render(site: &Site, templates: Option<&std::path::Path>) -> Result<RenderOutcome, CliError> {
    let files = rackpipe_kubeadm_join::render_for_site(site, templates)
        .map_err(|e| CliError::from_tool(&e, e.is_transient()))?;
    Ok(RenderOutcome {
        files,
        desired: None,
    })
}

fn join_error(e: JoinError) -> CliError {
    CliError::from_tool(&e, e.is_transient())
}

fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
        Command::Plan { plan, nodes } => {
            let loaded = plan.site.load(HOOKS.check)?;
            let options = nodes.options()?;
            let result = rackpipe_cli::runtime()?
                .block_on(rackpipe_kubeadm_join::plan(&loaded.site, &options))
                .map_err(join_error)?;
            rackpipe_cli::finish_plan(&result, plan, &cli.global)
        }
        Command::Apply {
            apply,
            nodes,
            join_attempts,
            ready_timeout,
        } => {
            let loaded = apply.site.load(HOOKS.check)?;
            let mut options = nodes.options()?;
            options.join_attempts = (*join_attempts).max(1);
            options.ready_timeout = Duration::from_secs(*ready_timeout);
            let expected = apply.read_plan(HOOKS.name)?;
            let result = rackpipe_cli::runtime()?
                .block_on(rackpipe_kubeadm_join::apply_plan(
                    &loaded.site,
                    &options,
                    expected.as_ref(),
                ))
                .map_err(join_error)?;
            rackpipe_cli::emit(&result)?;
            Ok(ExitStatus::Success)
        }
    }
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(HOOKS.name, run)
}
