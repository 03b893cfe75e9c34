//! `vault-bootstrap`: initialise, unseal and configure the site's Vault (or OpenBao) cluster.
//!
//! A thin binary: arguments are parsed here, the work is done by `rackpipe-vault-bootstrap`. Unseal keys
//! and tokens only ever travel through files, environment variables and the API: they are
//! never printed, logged or put in an error message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rackpipe_cli::{
    ApplyArgs, CliError, CommonCommand, ExitStatus, GlobalArgs, PlanArgs, RenderOutcome, SiteArg,
    ToolCli, ToolHooks,
};
use rackpipe_model::documents::Plan;
use rackpipe_model::{API_VERSION, Site};
use rackpipe_vault_bootstrap::{
    ApplyOptions, Client, ClientOptions, Cluster, Error, InitOptions, NodeState, PlanOptions,
    Secret, UnsealOptions,
};
use serde_json::{Value, json};

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
struct Connection {
    /// Reach node NAME at URL instead of `https://<guest>.<domain>:<api_port>` (repeatable).
    #[arg(long = "node", value_name = "NAME=URL", value_parser = parse_node)]
    nodes: Vec<(String, String)>,
    /// Cluster API URL for plan/apply (default: the active `--node` when some are given,
    /// else `https://<vault.fqdn>:<api_port>`).
    #[arg(long, value_name = "URL")]
    api: Option<String>,
    /// PEM CA bundle the servers' certificates are verified with (default: the system roots).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Per-request timeout in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    timeout: u64,
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

impl Auth {
    fn given(&self) -> bool {
        self.token_env.is_some() || self.token_file.is_some() || self.jwt_env.is_some()
    }
}

#[derive(Debug, Args)]
struct InitArgs {
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    connection: Connection,
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
    connection: Connection,
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
    connection: Connection,
    #[command(flatten)]
    auth: Auth,
}

#[derive(Debug, Args)]
struct PlanCommand {
    #[command(flatten)]
    args: PlanArgs,
    #[command(flatten)]
    connection: Connection,
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
    connection: Connection,
    #[command(flatten)]
    auth: Auth,
}

impl ToolCli for Cli {
    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

fn parse_node(s: &str) -> Result<(String, String), String> {
    let (name, url) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=URL"))?;
    if name.is_empty() {
        return Err(format!(
            "{s:?}: expected NAME=URL, e.g. vault-1=https://127.0.0.1:8200"
        ));
    }
    rackpipe_tls::transport::check_url(url, rackpipe_tls::transport::PlainHttp::Loopback)
        .map_err(|e| format!("{name}: {e}"))?;
    Ok((name.to_owned(), url.trim_end_matches('/').to_owned()))
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
    CliError::from_tool(e, e.is_transient())
}

/// The site's vault section, or the one-line error.
fn vault_of(site: &Site) -> Result<&rackpipe_model::vault::Vault, CliError> {
    site.vault
        .as_ref()
        .ok_or_else(|| CliError::error("vault: the site has no vault section"))
}

fn read_ca(connection: &Connection) -> Result<Option<String>, CliError> {
    connection
        .ca_file
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).map_err(|e| {
                CliError::error(format!("{}: cannot read CA bundle: {e}", path.display()))
            })
        })
        .transpose()
}

/// The site's nodes with `--node` overrides applied, and the client pool.
fn cluster(site: &Site, connection: &Connection) -> Result<Cluster, CliError> {
    let vault = vault_of(site)?;
    let derived = rackpipe_vault_bootstrap::node_addresses(site, vault, &BTreeMap::new());
    let overrides: BTreeMap<String, String> = connection.nodes.iter().cloned().collect();
    for name in overrides.keys() {
        if !derived.iter().any(|(n, _)| n == name) {
            let known: Vec<&str> = derived.iter().map(|(n, _)| n.as_str()).collect();
            return Err(CliError::usage(format!(
                "--node {name}=...: no node named {name:?} in vault.nodes ({})",
                known.join(", ")
            )));
        }
    }
    let nodes = rackpipe_vault_bootstrap::cluster::override_urls(derived, &overrides);
    let options = ClientOptions {
        ca_pem: read_ca(connection)?,
        timeout: Some(Duration::from_secs(connection.timeout.max(1))),
    };
    Cluster::new(&nodes, &options).map_err(|e| tool_error(&e))
}

/// The client plan/apply talk to: `--api`, else the active overridden node, else the VIP.
async fn api_client(
    site: &Site,
    connection: &Connection,
    cluster: &Cluster,
) -> Result<Client, CliError> {
    let vault = vault_of(site)?;
    if let Some(url) = &connection.api {
        return cluster
            .http()
            .checked_node("api", url.trim_end_matches('/'))
            .map_err(|e| CliError::usage(e.to_string()));
    }
    if connection.nodes.is_empty() {
        return Ok(cluster
            .http()
            .node("api", rackpipe_vault_bootstrap::api_address(vault)));
    }
    let states = rackpipe_vault_bootstrap::states(cluster).await;
    let chosen = states
        .iter()
        .position(|s| *s == NodeState::Active)
        .or_else(|| {
            // No active node: ask the first one that answers, for the precise error
            // (sealed, not initialized); else the first node (unreachable).
            states.iter().position(|s| *s != NodeState::Unreachable)
        })
        .and_then(|i| cluster.nodes().get(i))
        .or_else(|| cluster.nodes().first())
        .ok_or_else(|| CliError::error("vault.nodes: no node"))?;
    Ok(chosen.clone())
}

fn env_secret(var: &str, what: &str) -> Result<Secret, CliError> {
    let value = Secret::new(std::env::var(var).unwrap_or_default());
    let trimmed = Secret::new(value.expose().trim());
    if trimmed.is_empty() {
        return Err(CliError::usage(format!(
            "${var}: unset or empty; it should hold the {what}"
        )));
    }
    Ok(trimmed)
}

fn token_from_file(path: &Path) -> Result<Secret, CliError> {
    if let Ok(token) = rackpipe_vault_bootstrap::root_token_from_file(path) {
        return Ok(token);
    }
    let text = Secret::new(
        std::fs::read_to_string(path)
            .map_err(|e| CliError::error(format!("{}: cannot read token: {e}", path.display())))?,
    );
    let token = Secret::new(text.expose().trim());
    if token.is_empty() || token.expose().contains(char::is_whitespace) {
        return Err(CliError::error(format!(
            "{}: neither a keys file with root_token nor a file holding one token",
            path.display()
        )));
    }
    Ok(token)
}

/// The token from `--token-env`, `--token-file` or a JWT login; `None` without any of them.
async fn token(site: &Site, auth: &Auth, api: &Client) -> Result<Option<Secret>, CliError> {
    if let Some(var) = &auth.token_env {
        return env_secret(var, "Vault token").map(Some);
    }
    if let Some(path) = &auth.token_file {
        return token_from_file(path).map(Some);
    }
    if let (Some(var), Some(role)) = (&auth.jwt_env, &auth.jwt_role) {
        let jwt = env_secret(var, "JWT (GitLab CI id_tokens)")?;
        let mount = auth.jwt_path.clone().unwrap_or_else(|| {
            site.vault
                .as_ref()
                .and_then(|v| v.auth.gitlab_jwt.as_ref())
                .map_or_else(|| "jwt".to_owned(), |j| j.path.clone())
        });
        let token = rackpipe_vault_bootstrap::login_jwt(api, &mount, role, &jwt)
            .await
            .map_err(|e| tool_error(&e))?;
        tracing::info!(mount = %mount, role = %role, "logged in with JWT");
        return Ok(Some(token));
    }
    Ok(None)
}

/// Refuses, before any request, a plan/apply without credentials.
fn require_auth(auth: &Auth) -> Result<(), CliError> {
    if auth.given() {
        Ok(())
    } else {
        Err(CliError::usage(
            "no credentials: give --token-env VAR, --token-file FILE or --jwt-env VAR --jwt-role ROLE",
        ))
    }
}

async fn authenticated(site: &Site, auth: &Auth, api: Client) -> Result<Client, CliError> {
    require_auth(auth)?;
    match token(site, auth, &api).await? {
        Some(token) => Ok(api.with_token(token)),
        None => Err(CliError::usage("no credentials")),
    }
}

/// A PGP public key file as the API wants it: base64 of the binary key.
fn pgp_key(path: &Path) -> Result<String, CliError> {
    use base64::Engine as _;
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::error(format!("{}: cannot read PGP key: {e}", path.display())))?;
    let engine = &base64::engine::general_purpose::STANDARD;
    let text = String::from_utf8_lossy(&bytes);
    let body: String = if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        // ASCII armor: headers, a blank line, base64 lines, `=CRC`, the end line.
        text.lines()
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .skip(1)
            .skip_while(|l| !l.trim().is_empty())
            .take_while(|l| !l.starts_with('=') && !l.starts_with("-----END"))
            .map(str::trim)
            .collect()
    } else {
        text.split_whitespace().collect()
    };
    match engine.decode(body.as_bytes()) {
        Ok(decoded) if starts_public_key(&decoded) => Ok(engine.encode(decoded)),
        _ if starts_public_key(&bytes) => Ok(engine.encode(&bytes)),
        _ => Err(CliError::error(format!(
            "{}: not a PGP public key (binary, base64 or ASCII-armored)",
            path.display()
        ))),
    }
}

/// Whether the bytes start with an OpenPGP public-key packet (tag 6, old or new format).
fn starts_public_key(bytes: &[u8]) -> bool {
    match bytes.first() {
        Some(b) if b & 0xC0 == 0xC0 => b & 0x3F == 6,
        Some(b) if b & 0x80 == 0x80 => (b >> 2) & 0x0F == 6,
        _ => false,
    }
}

fn document(kind: &str, site: &Site, body: Value) -> Value {
    let mut doc = json!({
        "apiVersion": API_VERSION,
        "kind": kind,
        "tool": NAME,
        "site": site.metadata.name.to_string(),
    });
    if let (Some(doc), Value::Object(fields)) = (doc.as_object_mut(), body) {
        doc.extend(fields);
    }
    doc
}

fn internal(e: &serde_json::Error) -> CliError {
    CliError::error(format!("internal: {e}"))
}

fn init(args: &InitArgs) -> Result<ExitStatus, CliError> {
    let loaded = args.site.load(rackpipe_vault_bootstrap::check)?;
    let site = &loaded.site;
    let vault = vault_of(site)?;
    if let Some(path) = &args.keys_file
        && std::fs::symlink_metadata(path).is_ok()
    {
        return Err(CliError::error(format!(
            "{}: already exists; refusing to overwrite (unseal keys may be in it)",
            path.display()
        )));
    }
    let pgp_files: Vec<PathBuf> = if args.pgp_keys.is_empty() {
        vault.seal.pgp_keys.iter().map(PathBuf::from).collect()
    } else {
        args.pgp_keys.clone()
    };
    let options = InitOptions {
        shares: vault.seal.shares,
        threshold: vault.seal.threshold,
        pgp_keys: pgp_files
            .iter()
            .map(|p| pgp_key(p))
            .collect::<Result<_, _>>()?,
        root_token_pgp_key: args
            .root_token_pgp_key
            .as_deref()
            .map(pgp_key)
            .transpose()?,
        keys_file: args.keys_file.clone(),
    };
    let cluster = cluster(site, &args.connection)?;
    let report = rackpipe_cli::runtime()?
        .block_on(rackpipe_vault_bootstrap::init(&cluster, &options))
        .map_err(|e| tool_error(&e))?;
    rackpipe_cli::emit(&document(
        "VaultInit",
        site,
        serde_json::to_value(&report).map_err(|e| internal(&e))?,
    ))?;
    Ok(ExitStatus::Success)
}

fn unseal(args: &UnsealArgs) -> Result<ExitStatus, CliError> {
    let loaded = args.site.load(rackpipe_vault_bootstrap::check)?;
    let site = &loaded.site;
    let keys = match (&args.keys_file, &args.keys_env) {
        (Some(path), _) => rackpipe_vault_bootstrap::keys_from_file(path),
        (None, Some(var)) => rackpipe_vault_bootstrap::keys_from_env(var),
        (None, None) => return Err(CliError::usage("give --keys-file FILE or --keys-env VAR")),
    }
    .map_err(|e| tool_error(&e))?;
    let cluster = cluster(site, &args.connection)?;
    let options = UnsealOptions {
        leader_ca_pem: read_ca(&args.connection)?,
        timeout: Duration::from_secs(args.wait.max(1)),
        ..Default::default()
    };
    let report = rackpipe_cli::runtime()?
        .block_on(rackpipe_vault_bootstrap::unseal(&cluster, &keys, &options))
        .map_err(|e| tool_error(&e))?;
    rackpipe_cli::emit(&document(
        "VaultUnseal",
        site,
        serde_json::to_value(&report).map_err(|e| internal(&e))?,
    ))?;
    Ok(ExitStatus::Success)
}

fn status(args: &StatusArgs) -> Result<ExitStatus, CliError> {
    let loaded = args.site.load(rackpipe_vault_bootstrap::check)?;
    let site = &loaded.site;
    let cluster = cluster(site, &args.connection)?;
    let report = rackpipe_cli::runtime()?.block_on(async {
        let token = if args.auth.given() {
            let api = api_client(site, &args.connection, &cluster).await?;
            token(site, &args.auth, &api).await?
        } else {
            None
        };
        rackpipe_vault_bootstrap::status(&cluster, token.as_ref())
            .await
            .map_err(|e| tool_error(&e))
    })?;
    rackpipe_cli::emit(&report)?;
    Ok(ExitStatus::Success)
}

fn plan(cli: &Cli, cmd: &PlanCommand) -> Result<ExitStatus, CliError> {
    let loaded = cmd.args.site.load(rackpipe_vault_bootstrap::check)?;
    let site = &loaded.site;
    require_auth(&cmd.auth)?;
    let want = rackpipe_vault_bootstrap::desired(site).map_err(|e| tool_error(&e))?;
    let cluster = cluster(site, &cmd.connection)?;
    let options = PlanOptions {
        allow_destroy: cmd.allow_destroy,
        ..Default::default()
    };
    let plan = rackpipe_cli::runtime()?.block_on(async {
        let api = api_client(site, &cmd.connection, &cluster).await?;
        let api = authenticated(site, &cmd.auth, api).await?;
        rackpipe_vault_bootstrap::plan(&api, &want, &options)
            .await
            .map_err(|e| tool_error(&e))
    })?;
    // The plan counts its own reads; this adds finding the active node and logging in.
    tracing::info!(
        requests = cluster.http().requests(),
        "API requests of this command"
    );
    rackpipe_cli::finish_plan(&plan, &cmd.args, &cli.global)
}

/// Refuses a plan whose changes differ from what apply would do now (options or state).
fn same_changes(expected: &Plan, now: &Plan) -> Result<(), CliError> {
    let stale = |why: &str| tool_error(&Error::StalePlan(why.to_owned()));
    if expected.desired_digest != now.desired_digest {
        return Err(stale("the site changed since the plan"));
    }
    if expected.observed_digest != now.observed_digest {
        return Err(stale("the cluster changed since the plan"));
    }
    let changes = |p: &Plan| serde_json::to_value(&p.changes).map_err(|e| internal(&e));
    if changes(expected)? != changes(now)? {
        return Err(stale(
            "the plan's changes differ from what apply would do now (was it made with the same --allow-destroy?)",
        ));
    }
    Ok(())
}

fn apply(cmd: &ApplyCommand) -> Result<ExitStatus, CliError> {
    let loaded = cmd.args.site.load(rackpipe_vault_bootstrap::check)?;
    let site = &loaded.site;
    let expected = cmd.args.read_plan(NAME)?;
    require_auth(&cmd.auth)?;
    let want = rackpipe_vault_bootstrap::desired(site).map_err(|e| tool_error(&e))?;
    let cluster = cluster(site, &cmd.connection)?;
    let plan_options = PlanOptions {
        allow_destroy: cmd.args.allow_destroy,
        ..Default::default()
    };
    let result = rackpipe_cli::runtime()?.block_on(async {
        let api = api_client(site, &cmd.connection, &cluster).await?;
        let api = authenticated(site, &cmd.auth, api).await?;
        if let Some(expected) = &expected {
            let now = rackpipe_vault_bootstrap::plan(&api, &want, &plan_options)
                .await
                .map_err(|e| tool_error(&e))?;
            same_changes(expected, &now)?;
        }
        let options = ApplyOptions {
            plan: plan_options.clone(),
            expected,
        };
        rackpipe_vault_bootstrap::apply(&api, &want, &options)
            .await
            .map_err(|e| tool_error(&e))
    })?;
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
    fn node_overrides_parse() {
        assert_eq!(
            parse_node("vault-1=https://127.0.0.1:8200/").unwrap(),
            ("vault-1".to_owned(), "https://127.0.0.1:8200".to_owned())
        );
        assert!(parse_node("vault-1").is_err());
        assert!(parse_node("=https://x").is_err());
        assert!(parse_node("vault-1=127.0.0.1:8200").is_err());
    }

    #[test]
    fn pgp_keys_are_read_armored_base64_or_binary() {
        use base64::Engine as _;
        let engine = &base64::engine::general_purpose::STANDARD;
        let key: Vec<u8> = [0x99, 0x01, 0x0d, 0x04].repeat(20);
        let b64 = engine.encode(&key);
        let dir = tempfile::tempdir().unwrap();
        let armored = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n{}\n{}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n",
            &b64[..40],
            &b64[40..]
        );
        for (name, content) in [
            ("armored.asc", armored.into_bytes()),
            ("key.b64", format!("{b64}\n").into_bytes()),
            ("key.gpg", key.clone()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            assert_eq!(pgp_key(&path).unwrap(), b64, "{name}");
        }
        let path = dir.path().join("nonsense");
        std::fs::write(&path, "not a key at all").unwrap();
        let e = pgp_key(&path).unwrap_err();
        assert!(e.message.contains("not a PGP public key"), "{}", e.message);
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
