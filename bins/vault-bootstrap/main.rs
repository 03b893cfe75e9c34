//! `vault-bootstrap`: initialise, unseal and configure the site's Vault (or OpenBao) cluster.
//!
//! A thin binary: arguments are parsed here, the work is done by `rackpipe-vault-bootstrap`. Unseal keys
//! and tokens only ever travel through files, environment variables and the API: they are
//! never printed, logged or put in an error message.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::flags::TimeoutArg;
use rackpipe_cli::{
    ApplyArgs, CliError, CommonCommand, ExitStatus, GlobalArgs, PlanArgs, RenderOutcome, SiteArg,
    ToolCli, ToolHooks,
};
use rackpipe_model::Site;
use rackpipe_vault_bootstrap::command::{self, InitRequest, UnsealKeys};
use rackpipe_vault_bootstrap::{Connection, Credentials, Error, PlanOptions, parse_node};

const NAME: &str = "vault-bootstrap";

/// Initialise, unseal and configure the site's Vault cluster.
#[derive(Debug, Parser)]
#[command(name = "vault-bootstrap", version)]
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
    /// Initialise the cluster (`sys/init` on the first node); refuses an initialised one.
    /// The unseal keys and root token go PGP-encrypted to stdout or in plaintext to a new
    /// 0600 file, never to the terminal.
    Init(InitArgs),
    /// Unseal every sealed node with the keys (joining raft followers first); idempotent.
    Unseal(UnsealArgs),
    /// Per-node health, the active node and (with a token) the raft peers, as JSON.
    Status(StatusArgs),
    /// Diff mounts, PKI, policies and auth methods against the cluster (writes nothing).
    Plan(PlanCommand),
    /// Make the cluster match the site (only the writes that change something).
    Apply(ApplyCommand),
}

/// How to reach the nodes.
#[derive(Debug, Clone, Args)]
struct ConnectionArgs {
    /// Reach node NAME at URL instead of `https://<guest>.<domain>:<api_port>` (repeatable).
    #[arg(long = "node", value_name = "NAME=URL", value_parser = parse_node)]
    nodes: Vec<(String, String)>,
    /// Cluster API URL for plan/apply (default: the active `--node` when some are given,
    /// else `https://<vault.fqdn>:<api_port>`).
    #[arg(long = "url", alias = "api", value_name = "URL")]
    url: Option<String>,
    /// PEM CA bundle the servers' certificates are verified with (default: the system roots).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    #[command(flatten)]
    timeout: TimeoutArg<10>,
}

/// How plan/apply (and optionally status) authenticate.
#[derive(Debug, Clone, Args)]
struct Auth {
    /// Read the token from environment variable VAR.
    #[arg(long, value_name = "VAR", conflicts_with_all = ["token_file", "jwt_env"])]
    token_env: Option<String>,
    /// Read the token from FILE (a plain token, or the keys file `init` wrote).
    #[arg(long, value_name = "FILE", conflicts_with = "jwt_env")]
    token_file: Option<PathBuf>,
    /// Log in with the JWT in environment variable VAR (a GitLab CI `id_tokens` token).
    #[arg(long, value_name = "VAR", requires = "jwt_role")]
    jwt_env: Option<String>,
    /// JWT role to log in with.
    #[arg(long, value_name = "ROLE", requires = "jwt_env")]
    jwt_role: Option<String>,
    /// Mount path of the JWT auth method (default: the site's `vault.auth.gitlab_jwt.path`,
    /// else `jwt`).
    #[arg(long, value_name = "PATH", requires = "jwt_env")]
    jwt_path: Option<String>,
}

impl ConnectionArgs {
    fn connection(&self) -> Connection {
        Connection {
            nodes: self.nodes.clone(),
            url: self.url.clone(),
            ca_file: self.ca_file.clone(),
            timeout: self.timeout.duration(),
        }
    }
}

impl Auth {
    fn credentials(&self) -> Credentials {
        match (
            &self.token_env,
            &self.token_file,
            &self.jwt_env,
            &self.jwt_role,
        ) {
            (Some(var), ..) => Credentials::TokenEnv(var.clone()),
            (None, Some(path), ..) => Credentials::TokenFile(path.clone()),
            (None, None, Some(var), Some(role)) => Credentials::Jwt {
                var: var.clone(),
                role: role.clone(),
                mount: self.jwt_path.clone(),
            },
            _ => Credentials::None,
        }
    }
}

#[derive(Debug, Args)]
struct InitArgs {
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Operators' PGP public keys, one per share (binary, base64 or ASCII-armored); default:
    /// the site's `vault.seal.pgp_keys`.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pgp_keys: Vec<PathBuf>,
    /// PGP public key the root token is encrypted to.
    #[arg(long, value_name = "FILE")]
    root_token_pgp_key: Option<PathBuf>,
    /// Write whatever is not PGP-encrypted to this new file (mode 0600; refused if it exists).
    #[arg(long, value_name = "PATH")]
    keys_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("keys").required(true).multiple(false))]
struct UnsealArgs {
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Read the unseal keys from FILE (the keys file `init` wrote, or one key per line).
    #[arg(long, value_name = "FILE", group = "keys")]
    keys_file: Option<PathBuf>,
    /// Read the unseal keys from environment variable VAR (comma or whitespace separated).
    #[arg(long, value_name = "VAR", group = "keys")]
    keys_env: Option<String>,
    /// How long a node may take to join, unseal and become standby, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    wait: u64,
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    auth: Auth,
}

#[derive(Debug, Args)]
struct PlanCommand {
    #[command(flatten)]
    args: PlanArgs,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    auth: Auth,
    /// Also plan deletes of unmanaged objects (otherwise they are only listed).
    #[arg(long)]
    allow_destroy: bool,
}

#[derive(Debug, Args)]
struct ApplyCommand {
    #[command(flatten)]
    args: ApplyArgs,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    auth: Auth,
}

impl ToolCli for Cli {
    const SCHEMAS: rackpipe_cli::ToolSchemas = rackpipe_vault_bootstrap::documents::schemas;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

const HOOKS: ToolHooks = ToolHooks {
    name: NAME,
    check: rackpipe_vault_bootstrap::check,
    render: Some(render),
};

fn render(site: &Site, templates: Option<&Path>) -> Result<RenderOutcome, CliError> {
    let options = rackpipe_vault_bootstrap::RenderOptions {
        template_dir: templates.map(Path::to_path_buf),
        ..Default::default()
    };
    let files = rackpipe_vault_bootstrap::render(site, &options).map_err(|e| tool_error(&e))?;
    let desired = rackpipe_vault_bootstrap::desired(site)
        .map_err(|e| tool_error(&e))
        .and_then(|d| {
            serde_json::to_value(&d).map_err(|e| CliError::error(format!("internal: {e}")))
        })?;
    Ok(RenderOutcome {
        files,
        desired: Some(desired),
    })
}

fn tool_error(e: &Error) -> CliError {
    if e.is_usage() {
        CliError::usage(e.to_string())
    } else {
        CliError::from_tool(e, e.is_transient())
    }
}

fn init(args: &InitArgs) -> Result<ExitStatus, CliError> {
    let loaded = args.site.load(rackpipe_vault_bootstrap::check)?;
    let request = InitRequest {
        pgp_keys: args.pgp_keys.clone(),
        root_token_pgp_key: args.root_token_pgp_key.clone(),
        keys_file: args.keys_file.clone(),
    };
    let document = rackpipe_cli::runtime()?
        .block_on(command::init(
            &loaded.site,
            &args.connection.connection(),
            &request,
        ))
        .map_err(|e| tool_error(&e))?;
    rackpipe_cli::emit(&document)?;
    Ok(ExitStatus::Success)
}

fn unseal(args: &UnsealArgs) -> Result<ExitStatus, CliError> {
    let loaded = args.site.load(rackpipe_vault_bootstrap::check)?;
    let keys = match (&args.keys_file, &args.keys_env) {
        (Some(path), _) => UnsealKeys::File(path.clone()),
        (None, Some(var)) => UnsealKeys::Env(var.clone()),
        (None, None) => return Err(CliError::usage("give --keys-file FILE or --keys-env VAR")),
    };
    let document = rackpipe_cli::runtime()?
        .block_on(command::unseal(
            &loaded.site,
            &args.connection.connection(),
            &keys,
            Duration::from_secs(args.wait),
        ))
        .map_err(|e| tool_error(&e))?;
    rackpipe_cli::emit(&document)?;
    Ok(ExitStatus::Success)
}

fn status(args: &StatusArgs) -> Result<ExitStatus, CliError> {
    let loaded = args.site.load(rackpipe_vault_bootstrap::check)?;
    let report = rackpipe_cli::runtime()?
        .block_on(command::status(
            &loaded.site,
            &args.connection.connection(),
            &args.auth.credentials(),
        ))
        .map_err(|e| tool_error(&e))?;
    rackpipe_cli::emit(&report)?;
    Ok(ExitStatus::Success)
}

fn plan(cli: &Cli, cmd: &PlanCommand) -> Result<ExitStatus, CliError> {
    let loaded = cmd.args.site.load(rackpipe_vault_bootstrap::check)?;
    let options = PlanOptions {
        allow_destroy: cmd.allow_destroy,
        ..Default::default()
    };
    let plan = read_and_plan(&loaded.site, &cmd.connection, &cmd.auth, &options)?;
    rackpipe_cli::finish_plan(&plan, &cmd.args, &cli.global)
}

/// Reads Vault and plans: for `plan`, and for `apply`'s question on a terminal.
fn read_and_plan(
    site: &Site,
    connection: &ConnectionArgs,
    auth: &Auth,
    options: &PlanOptions,
) -> Result<rackpipe_model::documents::Plan, CliError> {
    rackpipe_cli::runtime()?
        .block_on(command::plan(
            site,
            &connection.connection(),
            &auth.credentials(),
            options,
        ))
        .map_err(|e| tool_error(&e))
}

fn apply(cmd: &ApplyCommand) -> Result<ExitStatus, CliError> {
    let loaded = cmd.args.site.load(rackpipe_vault_bootstrap::check)?;
    let mut expected = cmd.args.read_plan(NAME)?;
    let options = PlanOptions {
        allow_destroy: cmd.args.allow_destroy,
        ..Default::default()
    };
    if cmd.args.asks() {
        // A person at a terminal without --plan: show the plan and ask (rackpipe_cli::prompt).
        let plan = read_and_plan(&loaded.site, &cmd.connection, &cmd.auth, &options)?;
        expected = Some(cmd.args.confirm(plan)?);
    }
    let result = rackpipe_cli::runtime()?
        .block_on(command::apply(
            &loaded.site,
            &cmd.connection.connection(),
            &cmd.auth.credentials(),
            &options,
            expected,
        ))
        .map_err(|e| tool_error(&e))?;
    rackpipe_cli::emit(&result)?;
    Ok(ExitStatus::Success)
}

fn main() -> ExitCode {
    rackpipe_cli::main::<Cli>(NAME, |cli| match &cli.command {
        Command::Common(command) => rackpipe_cli::run_common(&HOOKS, command, &cli.global),
        Command::Init(args) => init(args),
        Command::Unseal(args) => unseal(args),
        Command::Status(args) => status(args),
        Command::Plan(cmd) => plan(cli, cmd),
        Command::Apply(cmd) => apply(cmd),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
