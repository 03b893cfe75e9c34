//! vault-bootstrap on the shared driver: its flags, its own verbs (`init`, `unseal`, `status`)
//! and its [`Tool`] impl ([`VaultBootstrap`]), which `bins/vault-bootstrap` runs with
//! [`rackpipe_cli::driver::run`]. The crate's [`Error`] becomes an exit status in one place
//! (`From<Error> for CliError`: usage 64, transient 75, else 1).
//!
//! Unseal keys and tokens only ever travel through files, environment variables and the API:
//! they are never printed, logged or put in an error message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use rackpipe_cli::driver::{Context, NoArgs, Secrets, Tool};
use rackpipe_cli::flags::TimeoutArg;
use rackpipe_cli::{ApplyArgs, CliError, ExitStatus, RenderOutcome, SiteArg};
use rackpipe_model::documents::{ApplyResult, Plan};
use rackpipe_model::load::LoadedSite;
use rackpipe_model::types::SecretRef;
use rackpipe_model::{Diagnostic, Site};
use rackpipe_secrets::Secret;

use crate::command::{self, InitRequest, Session, UnsealKeys};
use crate::{Connection, Credentials, Error, PlanOptions, RenderOptions, parse_node};

/// How to reach the nodes.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
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

impl ConnectionArgs {
    /// The connection these flags describe.
    #[must_use]
    pub fn connection(&self) -> Connection {
        Connection {
            nodes: self.nodes.clone(),
            url: self.url.clone(),
            ca_file: self.ca_file.clone(),
            timeout: self.timeout.duration(),
        }
    }
}

/// How plan/apply (and optionally status) authenticate.
#[derive(Debug, Clone, Args)]
pub struct Auth {
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
    /// The credentials these flags name ([`Credentials::None`] without any).
    #[must_use]
    pub fn credentials(&self) -> Credentials {
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

/// How `plan` and `apply` reach and log in to the cluster.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    auth: Auth,
}

/// `plan`'s own flags.
#[derive(Debug, Clone, Args)]
pub struct PlanFlags {
    /// Also plan deletes of unmanaged objects (otherwise they are only listed).
    #[arg(long)]
    allow_destroy: bool,
}

/// vault-bootstrap's own verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Initialise the cluster (`sys/init` on the first node); refuses an initialised one.
    /// The unseal keys and root token go PGP-encrypted to stdout or in plaintext to a new
    /// 0600 file, never to the terminal.
    Init(InitArgs),
    /// Unseal every sealed node with the keys (joining raft followers first); idempotent.
    Unseal(UnsealArgs),
    /// Per-node health, the active node and (with a token) the raft peers, as JSON.
    Status(StatusArgs),
    /// Print a site whose `vault` section describes the running cluster (mounts, PKI,
    /// policies, auth methods and roles; never a secret value), so its plan is empty.
    Import(crate::import::ImportArgs),
}

/// `init`'s arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
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

/// `unseal`'s arguments.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("keys").required(true).multiple(false))]
pub struct UnsealArgs {
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

/// `status`'s arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    auth: Auth,
}

/// What `plan` and `apply` run against: the logged-in [`Session`] and the userpass passwords
/// the driver resolved, by reference.
#[derive(Debug)]
pub struct Target {
    session: Session,
    passwords: BTreeMap<String, Secret>,
}

impl Target {
    fn options(&self, allow_destroy: bool) -> PlanOptions {
        PlanOptions {
            allow_destroy,
            resolved: self.passwords.clone(),
            ..PlanOptions::default()
        }
    }
}

/// The secrets the driver resolves before `plan` and `apply` connect: the userpass users'
/// `env:` and `file:` password references (`vault.auth.users[N].password`) and the metrics
/// token's (`monitoring.targets.vault.token`, [`crate::metrics`]). A `vault:`
/// reference names a KV entry on the cluster being configured (perhaps in a mount this very
/// apply creates): plan and apply read it there, after logging in, and a user whose secret is
/// not written yet is left pending.
#[must_use]
pub fn secret_refs(site: &Site) -> Vec<(&SecretRef, String)> {
    site.vault
        .iter()
        .flat_map(|vault| vault.auth.users.iter().enumerate())
        .filter(|(_, user)| !user.password.as_str().starts_with("vault:"))
        .map(|(i, user)| (&user.password, format!("vault.auth.users[{i}].password")))
        .chain(crate::metrics::token_ref(site))
        .filter(|(reference, _)| !reference.as_str().starts_with("vault:"))
        .collect()
}

/// vault-bootstrap as the shared driver runs it.
#[derive(Debug)]
pub struct VaultBootstrap;

impl Tool for VaultBootstrap {
    const NAME: &'static str = crate::documents::TOOL;
    const ABOUT: &'static str = "Initialise, unseal and configure the site's Vault cluster.";
    const PLAN_ABOUT: &'static str =
        "Diff mounts, PKI, policies and auth methods against the cluster (writes nothing).";
    const APPLY_ABOUT: &'static str =
        "Make the cluster match the site (only the writes that change something).";
    const RENDER: Option<rackpipe_cli::RenderFn> = Some(render);
    const SCHEMAS: rackpipe_cli::ToolSchemas = crate::documents::schemas;
    type Conn = Conn;
    type PlanFlags = PlanFlags;
    type ApplyFlags = NoArgs;
    type Verb = Verb;
    type Target = Target;
    type Applied = ApplyResult;

    fn check(site: &Site) -> Vec<Diagnostic> {
        crate::check(site)
    }

    /// The verbs in the order `--help` has always listed them: the common ones, then `init`,
    /// `unseal`, `status`, `plan`, `apply` (the driver adds `plan` and `apply` before a tool's
    /// own verbs).
    fn command(command: clap::Command) -> clap::Command {
        const ORDER: [&str; 5] = ["init", "unseal", "status", "plan", "apply"];
        let mut slots: Vec<usize> = ORDER
            .iter()
            .filter_map(|name| command.find_subcommand(name))
            .map(clap::Command::get_display_order)
            .collect();
        slots.sort_unstable();
        ORDER
            .into_iter()
            .zip(slots)
            .fold(command, |command, (name, order)| {
                command.mut_subcommand(name, |c| c.display_order(order))
            })
    }

    fn secret_refs(site: &Site) -> Vec<(&SecretRef, String)> {
        secret_refs(site)
    }

    async fn connect_with(
        site: &LoadedSite,
        conn: &Conn,
        secrets: Secrets,
    ) -> Result<Target, CliError> {
        let site = &site.site;
        let session = Session::open(
            site,
            &conn.connection.connection(),
            &conn.auth.credentials(),
        )
        .await?;
        let passwords = secret_refs(site)
            .into_iter()
            .filter_map(|(reference, field)| {
                let value = secrets.get(&field)?.clone();
                Some((reference.as_str().to_owned(), value))
            })
            .collect();
        Ok(Target { session, passwords })
    }

    async fn plan(_: &LoadedSite, target: &Target, flags: &PlanFlags) -> Result<Plan, CliError> {
        Ok(target
            .session
            .plan(&target.options(flags.allow_destroy))
            .await?)
    }

    async fn plan_for_apply(
        site: &LoadedSite,
        target: &Target,
        _: &NoArgs,
        apply: &ApplyArgs,
    ) -> Result<Plan, CliError> {
        let flags = PlanFlags {
            allow_destroy: apply.allow_destroy,
        };
        Self::plan(site, target, &flags).await
    }

    async fn apply(
        _: &LoadedSite,
        target: &Target,
        _: &NoArgs,
        apply: &ApplyArgs,
        expected: Option<Plan>,
    ) -> Result<ApplyResult, CliError> {
        Ok(target
            .session
            .apply(&target.options(apply.allow_destroy), expected)
            .await?)
    }

    async fn verb(verb: &Verb, ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
        match verb {
            Verb::Init(args) => {
                let loaded = ctx.load(&args.site)?;
                let request = InitRequest {
                    pgp_keys: args.pgp_keys.clone(),
                    root_token_pgp_key: args.root_token_pgp_key.clone(),
                    keys_file: args.keys_file.clone(),
                };
                let connection = args.connection.connection();
                ctx.emit(&command::init(&loaded.site, &connection, &request).await?)?;
            }
            Verb::Unseal(args) => {
                let loaded = ctx.load(&args.site)?;
                let keys = match (&args.keys_file, &args.keys_env) {
                    (Some(path), _) => UnsealKeys::File(path.clone()),
                    (None, Some(var)) => UnsealKeys::Env(var.clone()),
                    (None, None) => {
                        return Err(CliError::usage("give --keys-file FILE or --keys-env VAR"));
                    }
                };
                let connection = args.connection.connection();
                let wait = Duration::from_secs(args.wait);
                ctx.emit(&command::unseal(&loaded.site, &connection, &keys, wait).await?)?;
            }
            Verb::Import(args) => return crate::import::run(args).await,
            Verb::Status(args) => {
                let loaded = ctx.load(&args.site)?;
                let connection = args.connection.connection();
                let credentials = args.auth.credentials();
                ctx.emit(&command::status(&loaded.site, &connection, &credentials).await?)?;
            }
        }
        Ok(ExitStatus::Success)
    }
}

/// `render`: every node's server config (and Consul's, for that design), and the desired
/// state as data.
fn render(site: &Site, templates: Option<&Path>) -> Result<RenderOutcome, CliError> {
    let options = RenderOptions {
        template_dir: templates.map(Path::to_path_buf),
        ..RenderOptions::default()
    };
    let files = crate::render(site, &options)?;
    let desired = serde_json::to_value(crate::desired(site)?)
        .map_err(|e| CliError::error(format!("internal: {e}")))?;
    Ok(RenderOutcome {
        files,
        desired: Some(desired),
    })
}

/// The one mapping of the crate's errors to the CLI's: [`Error::Usage`] exits 64, a transient
/// error ([`Error::is_transient`]) 75, any other 1; the message is the error's one line.
impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        if e.is_usage() {
            Self::usage(e.to_string())
        } else {
            Self::from_tool(&e, e.is_transient())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn command() -> clap::Command {
        rackpipe_cli::driver::Cli::<VaultBootstrap>::command()
    }

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }

    /// `--help` lists the verbs as it did before the driver: the tool's own before plan/apply,
    /// then `import` (added later).
    #[test]
    fn verbs_keep_their_order() {
        let command = command();
        let mut verbs: Vec<(usize, &str)> = command
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| (c.get_display_order(), c.get_name()))
            .collect();
        verbs.sort_unstable();
        let names: Vec<&str> = verbs.into_iter().map(|(_, name)| name).collect();
        assert_eq!(
            names,
            [
                "validate",
                "render",
                "completions",
                "schema",
                "init",
                "unseal",
                "status",
                "plan",
                "apply",
                "import"
            ]
        );
    }

    /// Only `env:` and `file:` passwords go to the driver; `vault:` ones are read from the
    /// cluster itself.
    #[test]
    fn the_driver_resolves_local_passwords_only() {
        let minimal = include_str!("../../../../tests/sites/minimal.yaml");
        let users =
            "      - {name: admin, policies: [ci-read], password: \"vault:secret/users#admin\"}\n";
        assert!(minimal.contains(users));
        let three = [
            "      - {name: a, policies: [ci-read], password: \"env:PW_A\"}\n",
            "      - {name: b, policies: [ci-read], password: \"vault:secret/users#b\"}\n",
            "      - {name: c, policies: [ci-read], password: \"file:/run/pw-c\"}\n",
        ]
        .concat();
        let site: Site = serde_saphyr::from_str(&minimal.replace(users, &three)).unwrap();
        let refs: Vec<(String, String)> = secret_refs(&site)
            .into_iter()
            .map(|(r, field)| (r.as_str().to_owned(), field))
            .collect();
        assert_eq!(
            refs,
            [
                (
                    "env:PW_A".to_owned(),
                    "vault.auth.users[0].password".to_owned()
                ),
                (
                    "file:/run/pw-c".to_owned(),
                    "vault.auth.users[2].password".to_owned()
                ),
            ]
        );
    }
}
