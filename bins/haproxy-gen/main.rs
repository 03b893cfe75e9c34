//! `haproxy-gen`: render, check and deploy HAProxy and keepalived for the site's VIPs.
//!
//! A thin binary: the arguments and the [`Tool`] impl; the shared driver does the rest and
//! `rackpipe-haproxy-gen` the work.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rackpipe_cli::driver::{Context, NoArgs, NoVerbs, Secrets, Tool, files_only};
use rackpipe_cli::flags::{KnownHostsArg, NodeArgs, SshLoginArgs, SshPortArg, TimeoutArg};
use rackpipe_cli::{ApplyArgs, CliError, ExitStatus, RenderOutcome};
use rackpipe_haproxy_gen::Error as HaproxyError;
use rackpipe_haproxy_gen::deploy::{self, SshDefaults, Target};
use rackpipe_model::Site;
use rackpipe_model::documents::{Plan, RenderedFile};
use rackpipe_model::load::LoadedSite;
use rackpipe_model::types::SecretRef;

/// How the instances are reached over SSH.
#[derive(Debug, Args)]
struct Conn {
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
struct PlanFlags {
    /// Also write the unified diff of every changed file.
    #[arg(long, value_name = "FILE")]
    diff: Option<PathBuf>,
}

/// The deployed files (real secrets) and the instances to roll them over.
struct Deployment {
    files: Vec<RenderedFile>,
    targets: Vec<Target>,
}

struct HaproxyGen;

impl Tool for HaproxyGen {
    const NAME: &'static str = "haproxy-gen";
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
    type Applied = rackpipe_model::documents::ApplyResult;

    fn check(site: &Site) -> Vec<rackpipe_model::Diagnostic> {
        rackpipe_haproxy_gen::check(site)
    }

    async fn connect(site: &LoadedSite, conn: &Conn) -> Result<Deployment, CliError> {
        let secrets = rackpipe_cli::driver::secrets::<Self>(&site.site)?;
        Self::connect_with(site, conn, secrets).await
    }

    /// Every VIP's `auth_pass` and every service's `tls_certificate` from a secret: the driver
    /// resolves them all before connecting, so one run names every missing one.
    fn secret_refs(site: &Site) -> Vec<(&SecretRef, String)> {
        site.load_balancer
            .as_ref()
            .map(rackpipe_haproxy_gen::secrets::secret_refs)
            .unwrap_or_default()
    }

    async fn connect_with(
        site: &LoadedSite,
        conn: &Conn,
        secrets: Secrets,
    ) -> Result<Deployment, CliError> {
        let site = &site.site;
        // The files as deployed: the real secrets, the values the driver resolved.
        let files = rackpipe_haproxy_gen::render(
            site,
            &rackpipe_haproxy_gen::RenderOptions::default(),
            &secrets,
        )
        .map_err(tool_error)?;
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
    ) -> Result<Self::Applied, CliError> {
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

fn tool_error(e: HaproxyError) -> CliError {
    CliError::from_tool(&e, e.is_transient())
}

fn render(site: &Site, templates: Option<&std::path::Path>) -> Result<RenderOutcome, CliError> {
    rackpipe_haproxy_gen::render_redacted(site, templates)
        .map(files_only)
        .map_err(tool_error)
}

fn main() -> ExitCode {
    rackpipe_cli::driver::run::<HaproxyGen>()
}
