//! The shared driver: a tool implements [`Tool`] (check, render, connect, plan, apply and its
//! own verbs) and [`run`] does once what every binary needs: the command line (common verbs,
//! `plan` and `apply` with the tool's connection flags), loading and checking the site, reading
//! the `--plan` to apply, resolving the tool's secrets (all at once: one run names every missing
//! one, [`Secrets`]), connecting with the tool's flag groups, one async runtime, emitting the
//! documents (respecting `--format`) and mapping failures to exit codes.
//!
//! A tool's library holds its flag groups and its `Tool` impl (a `tool` module), and its
//! binary's `main.rs` is one call: `rackpipe_cli::driver::run::<MyTool>()`.

use std::process::ExitCode;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use rackpipe_model::documents::Plan;
use rackpipe_model::load::LoadedSite;
use rackpipe_model::{Diagnostic, Site};
use rackpipe_secrets::{SecretRef, SecretSource};
use serde::Serialize;

pub use crate::secrets::Secrets;
use crate::{
    ApplyArgs, CliError, CommonCommand, ExitStatus, GlobalArgs, PlanArgs, RenderOutcome, SiteArg,
    ToolCli, ToolHooks,
};

/// One tool as the driver runs it. The associated argument types are clap groups the driver
/// flattens into the tool's command line; [`NoArgs`] and [`NoVerbs`] stand for none.
///
/// The async methods run on the driver's single-threaded runtime (so they need not be `Send`).
#[allow(async_fn_in_trait)]
pub trait Tool: Sized + 'static {
    /// Binary name.
    const NAME: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// What `plan` does, for `plan --help`.
    const PLAN_ABOUT: &'static str;
    /// What `apply` does, for `apply --help`.
    const APPLY_ABOUT: &'static str;
    /// The tool's renderer; `None` while it renders nothing (`render` then says so).
    const RENDER: Option<crate::RenderFn> = None;
    /// The tool's own document kinds (besides the model's), which `schema` prints.
    const SCHEMAS: crate::ToolSchemas = crate::no_schemas;
    /// Whether the tool has `plan` and `apply`. A tool without them (etcd-backup: its own
    /// verbs are all it has) sets `false`: the driver leaves both off its command line, so its
    /// [`Tool::plan`], [`Tool::plan_for_apply`] and [`Tool::apply`] are never called (its
    /// `Target` is then [`NoTarget`], which has no value).
    const PLANS: bool = true;

    /// How the tool reaches the system it manages (the flag groups of [`crate::flags`]);
    /// flattened into `plan` and `apply`.
    type Conn: Args + std::fmt::Debug;
    /// `plan`'s own flags.
    type PlanFlags: Args + std::fmt::Debug;
    /// `apply`'s own flags.
    type ApplyFlags: Args + std::fmt::Debug;
    /// The tool's own verbs.
    type Verb: Subcommand + std::fmt::Debug;
    /// The connected system: a client, the hosts to reach.
    type Target;
    /// What `apply` prints.
    type Applied: Serialize;

    /// The tool's own semantic rules, run by `validate` and before every other command.
    #[must_use]
    fn check(_site: &Site) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// Connects: builds the target from the site and the connection flags; what a tool's own
    /// verbs that connect call.
    ///
    /// Default: resolves the tool's secrets ([`secrets`]: every [`Tool::secret_refs`], each
    /// failure named in one error) and calls [`Tool::connect_with`] with them. A tool
    /// implements exactly one of the two: [`Tool::connect_with`] when it declares secrets,
    /// this one when it declares none. (Implementing neither makes each default call the
    /// other: the driver's call then fails to compile, an async fn recursing without boxing.)
    async fn connect(site: &LoadedSite, conn: &Self::Conn) -> Result<Self::Target, CliError> {
        let secrets = secrets::<Self>(&site.site)?;
        Self::connect_with(site, conn, secrets).await
    }

    /// The secret references the tool reads to connect, plan, apply and run its own verbs that
    /// connect, each with its site field path (`proxmox.api.token`). The driver resolves them
    /// all once, before connecting ([`secrets`]): every one that fails is named in one error.
    /// Default: none.
    #[must_use]
    fn secret_refs(_site: &Site) -> Vec<(&SecretRef, String)> {
        Vec::new()
    }

    /// Where the tool's secrets are read from. Default: the process's resolver
    /// ([`rackpipe_secrets::Resolver::global`]: `env:`, `file:`, `vault:`).
    #[must_use]
    fn secret_source() -> &'static dyn SecretSource {
        rackpipe_secrets::Resolver::global()
    }

    /// Connects with the run's [`Secrets`] (the values of [`Tool::secret_refs`], resolved by the
    /// driver); what `plan` and `apply` call. A tool that declares secrets implements this (and
    /// not [`Tool::connect`], whose default resolves them and calls this one). Default:
    /// [`Tool::connect`], for tools that declare no secrets.
    async fn connect_with(
        site: &LoadedSite,
        conn: &Self::Conn,
        secrets: Secrets,
    ) -> Result<Self::Target, CliError> {
        drop(secrets);
        Self::connect(site, conn).await
    }

    /// Reads the system and plans the changes.
    async fn plan(
        site: &LoadedSite,
        target: &Self::Target,
        flags: &Self::PlanFlags,
    ) -> Result<Plan, CliError>;

    /// The plan `apply` would carry out, made with apply's options: what a person at a
    /// terminal is shown and asked to confirm before an `apply` without `--plan`.
    async fn plan_for_apply(
        site: &LoadedSite,
        target: &Self::Target,
        flags: &Self::ApplyFlags,
        apply: &ApplyArgs,
    ) -> Result<Plan, CliError>;

    /// Makes the changes: exactly `expected` when `--plan` was given (refused when stale),
    /// else a fresh plan's.
    async fn apply(
        site: &LoadedSite,
        target: &Self::Target,
        flags: &Self::ApplyFlags,
        apply: &ApplyArgs,
        expected: Option<Plan>,
    ) -> Result<Self::Applied, CliError>;

    /// Runs one of the tool's own verbs.
    async fn verb(verb: &Self::Verb, ctx: &Context<'_>) -> Result<ExitStatus, CliError>;

    /// Adjusts the clap command (e.g. a shared flag that needs another one in one verb).
    #[must_use]
    fn command(command: clap::Command) -> clap::Command {
        command
    }

    /// Called with the plan before it is printed (e.g. to write a diff file).
    fn after_plan(_plan: &Plan, _flags: &Self::PlanFlags) -> Result<(), CliError> {
        Ok(())
    }
}

/// What a tool's own verbs get from the driver.
#[derive(Debug)]
pub struct Context<'a> {
    /// The global options.
    pub global: &'a GlobalArgs,
    /// The tool's name.
    pub tool: &'static str,
    check: fn(&Site) -> Vec<Diagnostic>,
}

impl Context<'_> {
    /// Loads and checks the site with the tool's rules.
    pub fn load(&self, site: &SiteArg) -> Result<LoadedSite, CliError> {
        site.load(self.check)
    }

    /// Prints a result document (JSON, or text with `--format text`).
    pub fn emit<T: Serialize>(&self, document: &T) -> Result<(), CliError> {
        emit_document(document, self.global)
    }
}

/// Prints a result document: the one place the driver writes a verb's result, so `--format`
/// is honoured alike by every verb.
pub fn emit_document<T: Serialize>(document: &T, _global: &GlobalArgs) -> Result<(), CliError> {
    crate::emit(document)
}

/// No flags of a tool's own.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct NoArgs {}

/// No verbs of a tool's own.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum NoVerbs {}

/// The target of a tool without `plan` and `apply` ([`Tool::PLANS`] `false`): no value has
/// it, so the methods that take one are `match *target {}`.
#[derive(Debug, Clone, Copy)]
pub enum NoTarget {}

// A tool's verbs: the common ones, `plan`, `apply`, then its own. (No doc comment: clap would
// make it the tool's `about`.)
#[allow(missing_docs)]
#[derive(Debug, Subcommand)]
pub enum Verb<T: Tool> {
    /// The verbs every binary has.
    #[command(flatten)]
    Common(CommonCommand),
    /// Compare the site with the system and print the changes.
    Plan {
        /// The common plan arguments.
        #[command(flatten)]
        args: PlanArgs,
        /// How the system is reached.
        #[command(flatten)]
        conn: T::Conn,
        /// The tool's own plan flags.
        #[command(flatten)]
        flags: T::PlanFlags,
    },
    /// Make the changes.
    Apply {
        /// The common apply arguments.
        #[command(flatten)]
        args: ApplyArgs,
        /// How the system is reached.
        #[command(flatten)]
        conn: T::Conn,
        /// The tool's own apply flags.
        #[command(flatten)]
        flags: T::ApplyFlags,
    },
    /// The tool's own verbs.
    #[command(flatten)]
    Own(T::Verb),
}

/// A tool's whole command line.
#[derive(Debug)]
pub struct Cli<T: Tool> {
    /// The global options.
    pub global: GlobalArgs,
    /// The verb.
    pub command: Verb<T>,
}

impl<T: Tool> FromArgMatches for Cli<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            global: GlobalArgs::from_arg_matches(matches)?,
            command: Verb::<T>::from_arg_matches(matches)?,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<T: Tool> CommandFactory for Cli<T> {
    fn command() -> clap::Command {
        let command = clap::Command::new(T::NAME)
            .version(env!("CARGO_PKG_VERSION"))
            .subcommand_required(true)
            .arg_required_else_help(true);
        let command = GlobalArgs::augment_args(command);
        let about = |text: &'static str| text.strip_suffix('.').unwrap_or(text);
        let command = if T::PLANS {
            Verb::<T>::augment_subcommands(command)
                .mut_subcommand("plan", |c| c.about(about(T::PLAN_ABOUT)))
                .mut_subcommand("apply", |c| c.about(about(T::APPLY_ABOUT)))
        } else {
            // The common verbs and the tool's own, no `plan` or `apply`.
            T::Verb::augment_subcommands(CommonCommand::augment_subcommands(command))
        };
        T::command(command.about(about(T::ABOUT)))
    }

    fn command_for_update() -> clap::Command {
        Self::command()
    }
}

impl<T: Tool> Parser for Cli<T> {}

impl<T: Tool> ToolCli for Cli<T> {
    const SCHEMAS: crate::ToolSchemas = T::SCHEMAS;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }
}

/// The whole life of a tool's binary: parse, run the verb, report (see [`crate::main`]).
pub fn run<T: Tool>() -> ExitCode {
    crate::main::<Cli<T>>(T::NAME, execute::<T>)
}

fn hooks<T: Tool>() -> ToolHooks {
    ToolHooks {
        name: T::NAME,
        check: T::check,
        render: T::RENDER,
    }
}

fn execute<T: Tool>(cli: &Cli<T>) -> Result<ExitStatus, CliError> {
    let global = &cli.global;
    match &cli.command {
        Verb::Common(command) => crate::run_common(&hooks::<T>(), command, global),
        Verb::Plan { args, conn, flags } => {
            let loaded = args.site.load(T::check)?;
            let secrets = secrets::<T>(&loaded.site)?;
            let plan = crate::runtime()?.block_on(async {
                let target = T::connect_with(&loaded, conn, secrets).await?;
                T::plan(&loaded, &target, flags).await
            })?;
            T::after_plan(&plan, flags)?;
            crate::finish_plan(&plan, args, global)
        }
        Verb::Apply { args, conn, flags } => {
            let loaded = args.site.load(T::check)?;
            let expected = args.read_plan(T::NAME)?;
            let secrets = secrets::<T>(&loaded.site)?;
            let applied = crate::runtime()?.block_on(async {
                let target = T::connect_with(&loaded, conn, secrets).await?;
                let expected = match expected {
                    None if args.asks() => {
                        let plan = T::plan_for_apply(&loaded, &target, flags, args).await?;
                        Some(args.confirm(plan)?)
                    }
                    expected => expected,
                };
                T::apply(&loaded, &target, flags, args, expected).await
            })?;
            record_applied(&applied);
            emit_document(&applied, global)?;
            Ok(ExitStatus::Success)
        }
        Verb::Own(verb) => {
            let ctx = Context {
                global,
                tool: T::NAME,
                check: T::check,
            };
            crate::runtime()?.block_on(T::verb(verb, &ctx))
        }
    }
}

/// Records an apply result's change count ([`crate::metrics::set_changes`]) from its
/// `summary` (the counts every apply result carries).
fn record_applied<A: Serialize>(applied: &A) {
    let summary = serde_json::to_value(applied)
        .ok()
        .and_then(|v| v.get("summary").cloned())
        .and_then(|s| serde_json::from_value::<rackpipe_model::documents::ChangeCounts>(s).ok());
    if let Some(summary) = summary {
        crate::metrics::set_changes(summary.total() as u64);
    }
}

/// The tool's secrets for `site` ([`Tool::secret_refs`] through [`Tool::secret_source`]),
/// resolved once: what the driver does before `plan` and `apply` connect, and what a tool's own
/// verb that connects calls.
///
/// # Errors
/// Every reference that failed, in one error ([`crate::secrets::unresolved`]).
pub fn secrets<T: Tool>(site: &Site) -> Result<Secrets, CliError> {
    Secrets::resolve(T::secret_source(), T::secret_refs(site))
}

/// A [`RenderOutcome`] of files only.
#[must_use]
pub fn files_only(files: Vec<rackpipe_model::documents::RenderedFile>) -> RenderOutcome {
    RenderOutcome {
        files,
        desired: None,
    }
}
