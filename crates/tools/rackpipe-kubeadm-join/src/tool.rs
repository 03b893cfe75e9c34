//! kubeadm-join on the shared driver: its flags and its [`Tool`] impl ([`KubeadmJoin`]), which
//! `bins/kubeadm-join` runs with [`rackpipe_cli::driver::run`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use rackpipe_cli::driver::{Context, NoArgs, NoVerbs, Tool, files_only};
use rackpipe_cli::flags::{KnownHostsArg, SshLoginArgs, TimeoutArg};
use rackpipe_cli::{ApplyArgs, CliError, ExitStatus, RenderOutcome};
use rackpipe_model::documents::{ApplyResult, Plan};
use rackpipe_model::load::LoadedSite;
use rackpipe_model::{Diagnostic, Site};

use crate::remote::InventoryEntry;
use crate::{JoinError, Options};

/// How the nodes are reached over SSH.
#[derive(Debug, Args)]
pub struct Conn {
    #[command(flatten)]
    login: SshLoginArgs,
    #[command(flatten)]
    known_hosts: KnownHostsArg,
    /// Inventory (JSON or YAML: node name → {host, port, user, key_file,
    /// host_key_fingerprint, kubernetes_dir}) overriding how nodes are reached.
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Nodes worked on at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    parallel: usize,
    /// Read templates (kubeadm configs, addons) from DIR instead of the ones built in, as
    /// `render --templates` does.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    #[command(flatten)]
    timeout: TimeoutArg<600>,
}

/// `apply`'s own flags.
#[derive(Debug, Args)]
pub struct ApplyFlags {
    /// Attempts per join (a failed join is reset before the next).
    #[arg(long, default_value_t = 3)]
    join_attempts: u32,
    /// How long a node may take to become Ready after its join, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        alias = "ready-timeout",
        default_value_t = 300
    )]
    wait: u64,
}

/// kubeadm-join as the shared driver runs it.
#[derive(Debug)]
pub struct KubeadmJoin;

impl Tool for KubeadmJoin {
    const NAME: &'static str = "kubeadm-join";
    const ABOUT: &'static str = "Bootstrap and grow the site's kubeadm cluster behind the VIP.";
    const PLAN_ABOUT: &'static str = "Find which nodes are members, half-joined or absent and which addons changed since they were applied (over SSH, through a master's admin.conf) and list the steps.";
    const APPLY_ABOUT: &'static str = "Preflight, init the first master if there is no cluster, apply the CNI (Calico), join masters one at a time and workers in parallel, wait until Ready, label, taint, then apply the other addons on the first master (`kubectl apply --server-side` of rendered manifests, `helm upgrade --install` of pinned charts). Every upstream manifest and chart is downloaded on the master and checked against its SHA-256 in `kubernetes.artifacts` before it is used; then the bootstrap tokens made for the joins are deleted. The master needs kubectl, helm, curl and sha256sum.";
    const RENDER: Option<rackpipe_cli::RenderFn> = Some(render);
    type Conn = Conn;
    type PlanFlags = NoArgs;
    type ApplyFlags = ApplyFlags;
    type Verb = NoVerbs;
    type Target = Options;
    type Applied = ApplyResult;

    fn check(site: &Site) -> Vec<Diagnostic> {
        crate::check(site)
    }

    async fn connect(_: &LoadedSite, conn: &Conn) -> Result<Options, CliError> {
        let mut options = Options::new(
            conn.login.user_or("root"),
            conn.login.key("the nodes")?,
            conn.known_hosts.policy()?,
        );
        options.parallelism = conn.parallel.max(1);
        options.templates.clone_from(&conn.templates);
        options.command_timeout = conn.timeout.duration();
        if let Some(path) = &conn.inventory {
            let text = std::fs::read(path)
                .map_err(|e| CliError::error(format!("{}: cannot read: {e}", path.display())))?;
            let inventory: BTreeMap<String, InventoryEntry> = serde_saphyr::from_slice(&text)
                .map_err(|e| CliError::error(format!("{}: {e}", path.display())))?;
            options.add_inventory(inventory);
        }
        Ok(options)
    }

    async fn plan(site: &LoadedSite, options: &Options, _: &NoArgs) -> Result<Plan, CliError> {
        crate::plan(&site.site, options).await.map_err(join_error)
    }

    async fn plan_for_apply(
        site: &LoadedSite,
        options: &Options,
        _: &ApplyFlags,
        _: &ApplyArgs,
    ) -> Result<Plan, CliError> {
        Self::plan(site, options, &NoArgs {}).await
    }

    async fn apply(
        site: &LoadedSite,
        options: &Options,
        flags: &ApplyFlags,
        _: &ApplyArgs,
        expected: Option<Plan>,
    ) -> Result<ApplyResult, CliError> {
        let mut options = options.clone();
        options.join_attempts = flags.join_attempts.max(1);
        options.ready_timeout = Duration::from_secs(flags.wait);
        crate::apply_plan(&site.site, &options, expected.as_ref())
            .await
            .map_err(join_error)
    }

    async fn verb(verb: &NoVerbs, _: &Context<'_>) -> Result<ExitStatus, CliError> {
        match *verb {}
    }
}

/// `render`: every node's kubeadm config and the addons' manifests and values.
fn render(site: &Site, templates: Option<&Path>) -> Result<RenderOutcome, CliError> {
    crate::render_for_site(site, templates)
        .map(files_only)
        .map_err(|e| CliError::from_tool(&e, e.is_transient()))
}

fn join_error(e: JoinError) -> CliError {
    CliError::from_tool(&e, e.is_transient())
}
