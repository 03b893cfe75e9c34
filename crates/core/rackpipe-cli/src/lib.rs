//! What every rackpipe binary shares: the pipe contract.
//!
//! - stdout carries exactly one JSON document (`apiVersion`, `kind`), pretty-printed and
//!   deterministic; logs, progress and the human error line go to stderr;
//! - the input site is a path, or `-`/absent for stdin (a terminal on stdin is a usage error);
//! - exit codes come from one enum, [`ExitStatus`]; a broken pipe exits quietly.
//!
//! A binary declares its own clap `Subcommand`s, flattens [`CommonCommand`] into them for
//! `validate`, `render`, `completions`, `man` and `schema`, and hands control to [`main`]. This
//! module is the only place that writes to stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod driver;
mod exit;
pub mod flags;
mod import;
mod junit;
mod meta;
pub mod metrics;
pub mod output;
pub mod progress;
pub mod prompt;
pub mod secrets;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rackpipe_model::documents::{ErrorDocument, RenderOutput, RenderedFile, ValidationReport};
use rackpipe_model::{API_VERSION, Diagnostic, LoadError, LoadedSite, Site};
use serde::Serialize;

pub use exit::ExitStatus;
pub use import::{ImportOutputArgs, emit_import};
pub use meta::{ManArgs, SchemaKind, Shell, ToolSchemas, no_schemas};

/// A failure that ends the command: the one-line message and the exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// Exit status to end with.
    pub status: ExitStatus,
    /// One line for humans.
    pub message: String,
    /// Findings, when the failure is an invalid site.
    pub diagnostics: Vec<Diagnostic>,
    /// Source name the diagnostics refer to.
    pub source_name: String,
}

impl CliError {
    /// An ordinary error (exit 1).
    #[must_use]
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            status: ExitStatus::Error,
            message: message.into(),
            diagnostics: Vec::new(),
            source_name: String::new(),
        }
    }

    /// A usage error (exit 64).
    #[must_use]
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            status: ExitStatus::Usage,
            ..Self::error(message)
        }
    }

    /// A transient failure: unreachable, timeout (exit 75).
    #[must_use]
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            status: ExitStatus::Transient,
            ..Self::error(message)
        }
    }

    /// Classifies a tool error by its `is_transient()` answer.
    #[must_use]
    pub fn from_tool(err: &dyn std::error::Error, transient: bool) -> Self {
        let message = one_line_chain(err);
        if transient {
            Self::transient(message)
        } else {
            Self::error(message)
        }
    }
}

impl From<LoadError> for CliError {
    fn from(err: LoadError) -> Self {
        match err {
            LoadError::Invalid {
                source_name,
                diagnostics,
            } => Self {
                status: ExitStatus::Error,
                message: format!("{source_name}: the site is invalid"),
                diagnostics,
                source_name,
            },
            other => Self::error(other.to_string()),
        }
    }
}

/// The error and its causes on one line, `a: b: c`.
#[must_use]
pub fn one_line_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// One JSON document (the default; what the next tool in a pipe reads).
    #[default]
    Json,
    /// A summary for humans.
    Text,
    /// JUnit XML, for GitLab's test report (validate only).
    Junit,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t, global = true)]
    pub format: Format,
    /// Less logging on stderr (errors only).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More logging on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Also write this run's metrics (OpenMetrics text: end and last-success time, duration,
    /// exit code, changes, artifact sizes) to FILE, also when the run fails.
    #[arg(long, value_name = "FILE", global = true, env = metrics::ENV)]
    pub metrics_file: Option<PathBuf>,
    /// With --metrics-file: also push the metrics to the Pushgateway the site names
    /// (`monitoring.pushgateway.url`); a failed push is a warning, never the run's failure.
    #[arg(long, global = true, env = metrics::PUSH_ENV, value_parser = clap::builder::FalseyValueParser::new(), requires = "metrics_file")]
    pub push_metrics: bool,
}

/// The site argument: a path, or `-`/absent for stdin.
#[derive(Debug, Clone, Args)]
pub struct SiteArg {
    /// Site document (YAML or JSON); `-` or absent reads stdin.
    #[arg(value_name = "SITE")]
    pub site: Option<PathBuf>,
}

impl SiteArg {
    /// Reads, parses and checks the site; `check` adds the tool's own rules.
    pub fn load(&self, check: fn(&Site) -> Vec<Diagnostic>) -> Result<LoadedSite, CliError> {
        let (name, bytes) = read_input(self.site.as_deref())?;
        let loaded = rackpipe_model::load::load_and_validate_with(&name, &bytes, &check)?;
        metrics::set_site(loaded.site.metadata.name.as_str());
        let monitoring = loaded.site.monitoring.as_ref();
        metrics::set_pushgateway(
            monitoring
                .and_then(|m| m.pushgateway.as_ref())
                .map(|p| p.url.as_str()),
        );
        Ok(loaded)
    }
}

/// Reads the whole input: a file, or stdin for `-`/absent (a terminal is refused).
pub fn read_input(path: Option<&Path>) -> Result<(String, Vec<u8>), CliError> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            let name = p.display().to_string();
            let bytes = std::fs::read(p)
                .map_err(|e| CliError::error(format!("{name}: cannot read: {e}")))?;
            Ok((name, bytes))
        }
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(CliError::usage(
                    "no SITE given and stdin is a terminal; pass a file or pipe a document in",
                ));
            }
            let mut bytes = Vec::new();
            stdin
                .lock()
                .take(rackpipe_model::load::MAX_DOCUMENT_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::error(format!("<stdin>: cannot read: {e}")))?;
            Ok(("<stdin>".to_owned(), bytes))
        }
    }
}

/// Arguments every `plan` takes.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The site.
    #[command(flatten)]
    pub site: SiteArg,
    /// Exit 2 when the plan has changes (0: none), as `terraform plan -detailed-exitcode`.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also write the GitLab `reports:terraform` counts (`{"create":N,"update":N,"delete":N}`).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Also write the plan as text for humans (what `--format text` prints), e.g. for a CI
    /// job log while the JSON plan goes to an artifact.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

/// Arguments every `apply` takes.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// The site.
    #[command(flatten)]
    pub site: SiteArg,
    /// Apply exactly this plan (from `plan`); refused when the site or the remote state
    /// changed since (stale plan). Without it, apply plans and applies in one go.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Allow deletions of unmanaged or removed objects.
    #[arg(long)]
    pub allow_destroy: bool,
    /// Without `--plan` on a terminal: apply without showing the plan and asking first
    /// (not on a terminal, e.g. in CI, nothing is ever asked).
    #[arg(long)]
    pub auto_approve: bool,
}

impl ApplyArgs {
    /// Whether this apply must show its plan and ask before changing anything: no `--plan`,
    /// no `--auto-approve`, and a person at a terminal ([`prompt`]).
    #[must_use]
    pub fn asks(&self) -> bool {
        self.plan.is_none() && prompt::asks(self.auto_approve)
    }

    /// Shows `plan` on stderr and asks ([`prompt::confirm`]); the plan to apply when the
    /// answer is `yes`.
    pub fn confirm(
        &self,
        plan: rackpipe_model::documents::Plan,
    ) -> Result<rackpipe_model::documents::Plan, CliError> {
        prompt::confirm(&plan)?;
        Ok(plan)
    }

    /// Reads the `--plan` file, if given, checking its kind and tool.
    pub fn read_plan(
        &self,
        tool: &str,
    ) -> Result<Option<rackpipe_model::documents::Plan>, CliError> {
        let Some(path) = &self.plan else {
            return Ok(None);
        };
        let text = std::fs::read(path)
            .map_err(|e| CliError::error(format!("{}: cannot read plan: {e}", path.display())))?;
        let plan: rackpipe_model::documents::Plan = serde_json::from_slice(&text).map_err(|e| {
            // The parser quotes the value it refuses, which may be a secret pasted in.
            let e =
                rackpipe_model::load::hide_secrets(&e.to_string(), &String::from_utf8_lossy(&text));
            CliError::error(format!("{}: not a plan document: {e}", path.display()))
        })?;
        if plan.kind != "Plan" || plan.tool != tool {
            return Err(CliError::error(format!(
                "{}: expected a Plan from {tool}, got kind {} from {}",
                path.display(),
                plan.kind,
                plan.tool
            )));
        }
        Ok(Some(plan))
    }
}

/// Prints a plan (JSON, or a summary with `--format text`), writes the GitLab report when
/// asked, and returns the exit status `--detailed-exitcode` calls for.
pub fn finish_plan(
    plan: &rackpipe_model::documents::Plan,
    args: &PlanArgs,
    global: &GlobalArgs,
) -> Result<ExitStatus, CliError> {
    metrics::set_changes(plan.summary.total() as u64);
    if let Some(path) = &args.report {
        let report = serde_json::to_string(&plan.summary)
            .map_err(|e| CliError::error(format!("internal: {e}")))?;
        std::fs::write(path, report)
            .map_err(|e| CliError::error(format!("{}: cannot write: {e}", path.display())))?;
    }
    if let Some(path) = &args.summary {
        std::fs::write(path, plan_text(plan))
            .map_err(|e| CliError::error(format!("{}: cannot write: {e}", path.display())))?;
    }
    match global.format {
        Format::Text => emit_text(&output::plan(plan, output::Style::stdout()))?,
        _ => emit(plan)?,
    }
    Ok(ExitStatus::for_plan(
        plan.summary.total(),
        args.detailed_exitcode,
    ))
}

/// A plan as text for humans, without colour ([`output::plan`]).
#[must_use]
pub fn plan_text(plan: &rackpipe_model::documents::Plan) -> String {
    output::plan(plan, output::Style::PLAIN)
}

/// The commands every binary has.
#[derive(Debug, Clone, Subcommand)]
pub enum CommonCommand {
    /// Check the site: schema, references, addressing, quorum, placement.
    Validate(SiteArg),
    /// Render this tool's configuration files from the site.
    Render(RenderArgs),
    /// Print the shell completion script for bash, zsh or fish.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write the man pages (roff), generated from this command line.
    #[command(hide = true)]
    Man(ManArgs),
    /// Print a JSON Schema: the site's by default (what an editor needs for site.yaml), or
    /// that of any document the tool prints.
    Schema {
        /// Which document's schema (the file's name under schemas/ without .schema.json).
        #[arg(value_name = "KIND", default_value = "site")]
        kind: String,
    },
}

/// Arguments of `render`.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// The site.
    #[command(flatten)]
    pub site: SiteArg,
    /// Also write the files under DIR/<host>/<path>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Read templates from DIR instead of the ones built in.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

/// What a binary plugs into the common commands.
pub(crate) struct ToolHooks {
    /// Binary name.
    pub name: &'static str,
    /// The tool's own semantic rules, run by `validate` and before every other command.
    pub check: fn(&Site) -> Vec<Diagnostic>,
    /// The tool's renderer; `None` while the tool renders nothing yet.
    pub render: Option<RenderFn>,
}

/// A tool's renderer: the site and an optional template override directory in, files out.
pub type RenderFn = fn(&Site, Option<&Path>) -> Result<RenderOutcome, CliError>;

/// What a renderer returns: files and, optionally, structured desired state.
#[derive(Debug, Default)]
pub struct RenderOutcome {
    /// Rendered files.
    pub files: Vec<RenderedFile>,
    /// Desired state as data, where the tool has one.
    pub desired: Option<serde_json::Value>,
}

/// No tool-specific rules.
#[must_use]
pub fn no_checks(_: &Site) -> Vec<Diagnostic> {
    Vec::new()
}

/// Runs a common command.
pub(crate) fn run_common(
    hooks: &ToolHooks,
    command: &CommonCommand,
    global: &GlobalArgs,
) -> Result<ExitStatus, CliError> {
    match command {
        CommonCommand::Validate(site) => validate(hooks, site, global),
        CommonCommand::Render(args) => render(hooks, args),
        CommonCommand::Completions { shell } => meta::completions(*shell),
        CommonCommand::Man(args) => meta::man(args),
        CommonCommand::Schema { kind } => meta::schema(kind),
    }
}

fn validate(
    hooks: &ToolHooks,
    site: &SiteArg,
    global: &GlobalArgs,
) -> Result<ExitStatus, CliError> {
    let (report, status) = match site.load(hooks.check) {
        Ok(loaded) => {
            if !global.quiet {
                print_diagnostics(hooks.name, &loaded.source_name, &loaded.warnings);
            }
            // Acknowledged warnings: in the report always, on stderr only with -v.
            if global.verbose > 0 {
                print_diagnostics(hooks.name, &loaded.source_name, &loaded.acknowledged);
            }
            let mut diagnostics = loaded.warnings;
            diagnostics.extend(loaded.acknowledged);
            (
                report(hooks.name, &loaded.source_name, true, diagnostics),
                ExitStatus::Success,
            )
        }
        Err(err) if !err.diagnostics.is_empty() => {
            print_diagnostics(hooks.name, &err.source_name, &err.diagnostics);
            (
                report(hooks.name, &err.source_name, false, err.diagnostics),
                ExitStatus::Error,
            )
        }
        Err(err) => {
            // Unreadable or unparsable: still a report, so CI shows the failure.
            eprintln!("{}: error: {}", hooks.name, err.message);
            let name = site
                .site
                .as_ref()
                .map_or_else(|| "<stdin>".to_owned(), |p| p.display().to_string());
            let diag = Diagnostic::error("syntax", "", err.message.clone());
            (report(hooks.name, &name, false, vec![diag]), err.status)
        }
    };
    match global.format {
        Format::Json => emit(&report)?,
        Format::Junit => emit_text(&junit::validation_report(&report))?,
        Format::Text => {
            let verdict = if report.valid { "valid" } else { "INVALID" };
            let mut text = format!("{}: {} is {verdict}\n", hooks.name, report.source);
            for d in &report.diagnostics {
                text.push_str(&format!(
                    "  {:?}: {}\n",
                    d.severity,
                    d.display_with_source(&report.source)
                ));
            }
            emit_text(&text)?;
        }
    }
    Ok(status)
}

fn report(tool: &str, source: &str, valid: bool, diagnostics: Vec<Diagnostic>) -> ValidationReport {
    ValidationReport {
        api_version: API_VERSION.to_owned(),
        kind: "ValidationReport".to_owned(),
        tool: tool.to_owned(),
        source: source.to_owned(),
        valid,
        diagnostics,
    }
}

fn render(hooks: &ToolHooks, args: &RenderArgs) -> Result<ExitStatus, CliError> {
    let Some(render) = hooks.render else {
        return Err(CliError::error(format!(
            "{} has no renderer yet",
            hooks.name
        )));
    };
    let loaded = args.site.load(hooks.check)?;
    let mut outcome = render(&loaded.site, args.templates.as_deref())?;
    outcome
        .files
        .sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
    if let Some(dir) = &args.out {
        write_files(dir, &outcome.files)?;
    }
    let document = RenderOutput {
        api_version: API_VERSION.to_owned(),
        kind: "RenderOutput".to_owned(),
        tool: hooks.name.to_owned(),
        site: loaded.site.metadata.name.to_string(),
        files: outcome.files,
        desired: outcome.desired,
    };
    match output::format() {
        // The listing says where the files went.
        Format::Text => emit_text(&output::render_output(&document, args.out.as_deref()))?,
        _ => emit(&document)?,
    }
    Ok(ExitStatus::Success)
}

/// Writes rendered files under `dir/<host>/<path>` (paths are made relative; `..` and an
/// absolute host are refused),
/// each with the mode its tool declares (`0600` for a router script, `0755` for a check
/// script), whatever the umask. Every path and mode is checked before anything is written.
pub fn write_files(dir: &Path, files: &[RenderedFile]) -> Result<(), CliError> {
    let mut checked = Vec::with_capacity(files.len());
    for file in files {
        let rel = Path::new(&file.host).join(file.path.trim_start_matches('/'));
        // An absolute host (`/etc`) would make `dir.join(rel)` leave `dir`.
        if rel.components().any(|c| {
            matches!(
                c,
                std::path::Component::ParentDir
                    | std::path::Component::RootDir
                    | std::path::Component::Prefix(_)
            )
        }) {
            return Err(CliError::error(format!(
                "{}: refusing a path with '..' or outside the output directory",
                rel.display()
            )));
        }
        let mode = file_mode(&file.mode).ok_or_else(|| {
            CliError::error(format!(
                "{}: mode \"{}\" is not an octal file mode such as 0644",
                rel.display(),
                file.mode
            ))
        })?;
        checked.push((dir.join(&rel), mode, file));
    }
    for (target, mode, file) in checked {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CliError::error(format!("{}: cannot create: {e}", parent.display()))
            })?;
        }
        rackpipe_model::files::write_with_mode(&target, file.content.as_bytes(), mode).map_err(
            |e| CliError::error(format!("{}: cannot write: {}", e.path.display(), e.source)),
        )?;
    }
    Ok(())
}

/// A declared mode (`0644`, `644`, `0o600`) as permission bits; `None` unless octal and at most
/// `07777`.
fn file_mode(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o7777)
}

/// Prints findings on stderr, one line each: `TOOL: error: FILE:LINE:COL: PATH: message`.
pub fn print_diagnostics(tool: &str, source: &str, diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        let level = if d.is_error() { "error" } else { "warning" };
        eprintln!("{tool}: {level}: {}", d.display_with_source(source));
    }
}

/// A single-threaded tokio runtime for a command's network work (one per process).
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::error(format!("cannot start the async runtime: {e}")))
}

/// Writes one document to stdout: JSON (pretty, with a final newline), or its text form
/// ([`output::document`]) when the command line said `--format text`.
pub fn emit<T: Serialize>(document: &T) -> Result<(), CliError> {
    if output::format() == Format::Text {
        let value = serde_json::to_value(document)
            .map_err(|e| CliError::error(format!("internal: {e}")))?;
        return emit_text(&output::document(&value, output::Style::stdout()));
    }
    let mut text = serde_json::to_string_pretty(document)
        .map_err(|e| CliError::error(format!("internal: {e}")))?;
    text.push('\n');
    emit_text(&text)
}

/// Writes text to stdout; a closed pipe is not an error.
pub fn emit_text(text: &str) -> Result<(), CliError> {
    progress::clear_live_line();
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError {
            status: ExitStatus::Success,
            message: String::new(),
            diagnostics: Vec::new(),
            source_name: String::new(),
        }),
        Err(e) => Err(CliError::error(format!("cannot write to stdout: {e}"))),
    }
}

/// Implemented by a binary's top-level clap struct. Its clap command (`Parser` includes
/// `CommandFactory`) is what `completions` and `man` describe.
pub(crate) trait ToolCli: Parser {
    /// The tool's own document kinds, which its `schema` verb prints besides the model's.
    const SCHEMAS: ToolSchemas = no_schemas;

    /// The global options of the parsed command line.
    fn global(&self) -> &GlobalArgs;
}

/// The whole life of a binary: parse arguments (usage errors exit 64), set up logging, run
/// `body`, print a failure as one line on stderr (plus an `Error` document on stdout), and
/// return the exit code.
pub(crate) fn main<C: ToolCli>(
    tool: &str,
    body: impl FnOnce(&C) -> Result<ExitStatus, CliError>,
) -> ExitCode {
    meta::set_tool_command(C::command, C::SCHEMAS);
    let started = std::time::Instant::now();
    let mut command = meta::with_schema_kinds(C::command(), C::SCHEMAS);
    let mut verb = String::new();
    let parsed = command
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|mut matches| {
            verb = matches.subcommand_name().unwrap_or_default().to_owned();
            C::from_arg_matches_mut(&mut matches)
        })
        .map_err(|e| e.format(&mut command));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            let status = match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitStatus::Success
                }
                _ => ExitStatus::Usage,
            };
            let _ = err.print();
            return status.into();
        }
    };
    progress::init(tool, cli.global().quiet, cli.global().verbose);
    output::set_format(cli.global().format);
    let result = body(&cli);
    let Some(path) = &cli.global().metrics_file else {
        return finish(tool, result);
    };
    let status = match &result {
        Ok(status) => *status,
        Err(err) => err.status,
    };
    let run = metrics::RunEnd {
        tool,
        verb: &verb,
        ended: std::time::SystemTime::now(),
        duration: started.elapsed(),
        exit_code: status.code(),
        success: matches!(status, ExitStatus::Success | ExitStatus::Changes),
    };
    let written = metrics::write(path, &run);
    if written.is_ok() && cli.global().push_metrics {
        push_metrics(tool, &run);
    }
    match written {
        // The run's own outcome first; a lost signal fails an otherwise good run.
        Err(message) if run.success => finish(tool, Err(CliError::error(message))),
        Err(message) => {
            progress::clear_live_line();
            eprintln!("{tool}: warning: {message}");
            finish(tool, result)
        }
        Ok(()) => finish(tool, result),
    }
}

/// Pushes the run's metrics to the site's Pushgateway, if it names one; a failure is one
/// warning line on stderr (the run's exit status stays its own).
fn push_metrics(tool: &str, run: &metrics::RunEnd<'_>) {
    let Some(base) = metrics::pushgateway() else {
        tracing::debug!("the site names no Pushgateway: metrics not pushed");
        return;
    };
    let result = metrics::push(&base, run, &metrics::site(), &metrics::render(run));
    if let Err(message) = result {
        progress::clear_live_line();
        eprintln!("{tool}: warning: {message}");
    }
}

/// Reports the body's outcome (a failure as its line on stderr and an `Error` document) and
/// returns the exit code.
fn finish(tool: &str, result: Result<ExitStatus, CliError>) -> ExitCode {
    match result {
        Ok(status) => status.into(),
        Err(err) if err.status == ExitStatus::Success => ExitStatus::Success.into(),
        Err(err) => {
            progress::clear_live_line();
            if err.diagnostics.is_empty() {
                eprintln!("{tool}: error: {}", err.message);
            } else {
                print_diagnostics(tool, &err.source_name, &err.diagnostics);
            }
            let _ = emit(&ErrorDocument {
                api_version: API_VERSION.to_owned(),
                kind: "Error".to_owned(),
                tool: tool.to_owned(),
                exit_code: err.status.code(),
                message: err.message.clone(),
                diagnostics: err.diagnostics,
            });
            err.status.into()
        }
    }
}

#[cfg(test)]
mod write_files_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_plan_that_does_not_read_never_shows_a_secret() {
        let token = "hvs.CAESIJ0123456789abcdefghijklmnop";
        let path = std::env::temp_dir().join(format!("rackpipe-plan-{}.json", std::process::id()));
        let plan = format!(
            r#"{{"apiVersion": "rackpipe/v1", "kind": "Plan", "tool": "t", "site": "s",
            "desired_digest": "", "observed_digest": "", "summary": "{token}", "changes": []}}"#
        );
        std::fs::write(&path, plan).unwrap();
        let args = ApplyArgs {
            site: SiteArg { site: None },
            plan: Some(path.clone()),
            allow_destroy: false,
            auto_approve: true,
        };
        let err = args.read_plan("t").unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert!(
            err.message.contains("not a plan document"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("hvs.CAES"), "{}", err.message);
        assert!(err.message.contains("(value not shown)"), "{}", err.message);
    }

    fn file(path: &str, mode: &str) -> RenderedFile {
        RenderedFile {
            host: "h".into(),
            path: path.into(),
            mode: mode.into(),
            content: "x\n".into(),
        }
    }

    #[test]
    fn declared_modes_are_parsed_and_a_bad_one_writes_nothing() {
        assert_eq!(file_mode("0644"), Some(0o644));
        assert_eq!(file_mode("0o600"), Some(0o600));
        assert_eq!(file_mode("755"), Some(0o755));
        for bad in ["", "rw-r--r--", "0899", "077777", "-644"] {
            assert_eq!(file_mode(bad), None, "{bad}");
        }
        let dir = std::env::temp_dir().join(format!("rackpipe-write-files-{}", std::process::id()));
        let err = write_files(
            &dir,
            &[file("/etc/a.rsc", "0600"), file("/etc/b.sh", "rwx")],
        )
        .unwrap_err();
        assert!(
            err.message
                .ends_with("h/etc/b.sh: mode \"rwx\" is not an octal file mode such as 0644"),
            "{}",
            err.message
        );
        assert!(!dir.exists(), "nothing written");
        let mut absolute = file("a.rsc", "0600");
        absolute.host = "/tmp/elsewhere".into();
        let err = write_files(&dir, &[absolute]).unwrap_err();
        assert!(
            err.message.contains("outside the output directory"),
            "{}",
            err.message
        );
        assert!(!dir.exists(), "nothing written");
        write_files(&dir, &[file("/etc/a.rsc", "0600"), file("b.sh", "0755")]).unwrap();
        let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o7777;
        let modes = (mode("h/etc/a.rsc"), mode("h/b.sh"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(modes, (0o600, 0o755));
    }
}
