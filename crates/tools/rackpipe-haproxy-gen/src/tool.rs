//! haproxy-gen on the shared driver: its flags and its [`Tool`] impl ([`HaproxyGen`]), which
//! `bins/haproxy-gen` runs with [`rackpipe_cli::driver::run`].

use std::path::{Path, PathBuf};

use clap::Args;
use rackpipe_cli::driver::{Context, NoArgs, NoVerbs, Secrets, Tool, files_only};
use rackpipe_cli::flags::{KnownHostsArg, NodeArgs, SshLoginArgs, SshPortArg, TimeoutArg};
use rackpipe_cli::{ApplyArgs, CliError, ExitStatus, RenderOutcome};
use rackpipe_model::documents::{ApplyResult, Plan, RenderedFile};
use rackpipe_model::load::LoadedSite;
use rackpipe_model::types::SecretRef;
use rackpipe_model::{Diagnostic, Site};

use crate::Error;
use crate::deploy::{self, SshDefaults, Target};

/// How the instances are reached over SSH.
#[derive(Debug, Args)]
pub struct Conn {
    #[command(flatten)]
    login: SshLoginArgs,
    #[command(flatten)]
    port: SshPortArg,
    #[command(flatten)]
    known_hosts: KnownHostsArg,
    #[command(flatten)]
    nodes: NodeArgs,
    #[command(flatten)]
    timeout: TimeoutArg<60>,
}

/// `plan`'s own flags.
#[derive(Debug, Args)]
pub struct PlanFlags {
    /// Also write the unified diff of every changed file.
    #[arg(long, value_name = "FILE")]
    diff: Option<PathBuf>,
}

/// The deployed files (real secrets) and the instances to roll them over.
pub struct Deployment {
    files: Vec<RenderedFile>,
    targets: Vec<Target>,
}

/// haproxy-gen as the shared driver runs it.
#[derive(Debug)]
pub struct HaproxyGen;

impl Tool for HaproxyGen {
    const NAME: &'static str = crate::TOOL;
    const ABOUT: &'static str =
        "Render, check and deploy HAProxy and keepalived for the site's VIPs.";
    const PLAN_ABOUT: &'static str =
        "Fetch the current files from every instance over SSH and show what apply would change.";
    const APPLY_ABOUT: &'static str =
        "Roll the rendered configuration over the instances, one at a time, hitlessly.";
    const RENDER: Option<rackpipe_cli::RenderFn> = Some(render);
    type Conn = Conn;
    type PlanFlags = PlanFlags;
    type ApplyFlags = NoArgs;
    type Verb = NoVerbs;
    type Target = Deployment;
    type Applied = ApplyResult;

    fn check(site: &Site) -> Vec<Diagnostic> {
        crate::check(site)
    }

    /// Every VIP's `auth_pass` and every service's `tls_certificate` from a secret: the driver
    /// resolves them all before connecting, so one run names every missing one.
    fn secret_refs(site: &Site) -> Vec<(&SecretRef, String)> {
        site.load_balancer
            .as_ref()
            .map(crate::secrets::secret_refs)
            .unwrap_or_default()
    }

    async fn connect_with(
        site: &LoadedSite,
        conn: &Conn,
        secrets: Secrets,
    ) -> Result<Deployment, CliError> {
        let site = &site.site;
        // The files as deployed: the real secrets, the values the driver resolved.
        let files =
            crate::render(site, &crate::RenderOptions::default(), &secrets).map_err(tool_error)?;
        let defaults = SshDefaults {
            user: conn.login.user_or("root"),
            port: conn.port.port_or(22),
            key_file: conn.login.key("haproxy-gen's instances")?,
            known_hosts: conn.known_hosts.known_hosts.clone(),
        };
        let mut targets = deploy::targets_for_site(site, &defaults).map_err(tool_error)?;
        for (instance, addr) in &conn.nodes.nodes {
            let spec = format!("{instance}={addr}");
            let (host, port) = rackpipe_cli::flags::host_port(addr).ok_or_else(|| {
                CliError::usage(format!("--node {spec}: expected INSTANCE=HOST:PORT"))
            })?;
            let target = targets
                .iter_mut()
                .find(|t| &t.instance == instance)
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "--node {spec}: no instance {instance:?} in the site"
                    ))
                })?;
            target.ssh.host = host;
            target.ssh.port = port;
        }
        for target in &mut targets {
            conn.timeout.ssh(&mut target.ssh);
        }
        Ok(Deployment { files, targets })
    }

    async fn plan(site: &LoadedSite, d: &Deployment, _: &PlanFlags) -> Result<Plan, CliError> {
        deploy::plan(site.site.metadata.name.as_str(), &d.files, &d.targets)
            .await
            .map_err(tool_error)
    }

    fn after_plan(plan: &Plan, flags: &PlanFlags) -> Result<(), CliError> {
        if let Some(path) = &flags.diff {
            std::fs::write(path, deploy::plan_diff(plan))
                .map_err(|e| CliError::error(format!("{}: cannot write: {e}", path.display())))?;
        }
        Ok(())
    }

    async fn plan_for_apply(
        site: &LoadedSite,
        d: &Deployment,
        _: &NoArgs,
        _: &ApplyArgs,
    ) -> Result<Plan, CliError> {
        Self::plan(site, d, &PlanFlags { diff: None }).await
    }

    async fn apply(
        site: &LoadedSite,
        d: &Deployment,
        _: &NoArgs,
        _: &ApplyArgs,
        expected: Option<Plan>,
    ) -> Result<ApplyResult, CliError> {
        let plan = match expected {
            Some(plan) => plan,
            None => Self::plan(site, d, &PlanFlags { diff: None }).await?,
        };
        deploy::apply(&plan, &d.files, &d.targets)
            .await
            .map_err(tool_error)
    }

    async fn verb(verb: &NoVerbs, _: &Context<'_>) -> Result<ExitStatus, CliError> {
        match *verb {}
    }
}

fn tool_error(e: Error) -> CliError {
    CliError::from_tool(&e, e.is_transient())
}

/// `render`: the files with every secret withheld.
fn render(site: &Site, templates: Option<&Path>) -> Result<RenderOutcome, CliError> {
    crate::render_redacted(site, templates)
        .map(files_only)
        .map_err(tool_error)
}
