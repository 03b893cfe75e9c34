//! The verbs about the tool itself, the same in every binary: shell completions, man pages and
//! the JSON Schemas. They work from the binary's own clap definition, which [`crate::main`]
//! records once for the process ([`set_tool_command`]), so no binary writes them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::{Args, ValueEnum};

use crate::{CliError, ExitStatus, emit_text};

/// Shells `completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// bash (bash-completion: `/usr/share/bash-completion/completions/TOOL`).
    Bash,
    /// zsh (a file `_TOOL` in a directory on `$fpath`).
    Zsh,
    /// fish (`~/.config/fish/completions/TOOL.fish`).
    Fish,
}

/// Arguments of `man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write `TOOL.1` and one `TOOL-VERB.1` per verb into DIR instead of printing the tool's
    /// page on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The documents of the site model whose JSON Schema every tool's `schema` prints (the files
/// under `schemas/` that `rackpipe-model` generates); a tool adds its own kinds
/// ([`ToolSchemas`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SchemaKind {
    /// The site model: what a `site.yaml` is checked against (the default).
    #[default]
    Site,
    /// `validate`'s report.
    ValidationReport,
    /// `render`'s output.
    RenderOutput,
    /// `plan`'s plan.
    Plan,
    /// `apply`'s result.
    ApplyResult,
    /// The error document printed on failure.
    Error,
    /// `pve-sync facts`: the guests as they are, with the site, for the next tool.
    Facts,
    /// `import`'s report (`--report FILE`): where each thing read went, the secret references
    /// to store.
    ImportReport,
}

impl SchemaKind {
    /// The schema's file name under `schemas/` (and under the published `$id` base).
    #[must_use]
    pub fn file(self) -> String {
        let stem = self
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        format!("{stem}.schema.json")
    }
}

/// A tool's own document kinds: `(kind, file under schemas/, generated schema)` for each
/// (`rackpipe_vault_bootstrap::documents::schemas`, ...), what its `schema` verb offers besides
/// the model's [`SchemaKind`]s.
pub type ToolSchemas = fn() -> Vec<(&'static str, &'static str, serde_json::Value)>;

/// No document kinds of the tool's own.
#[must_use]
pub fn no_schemas() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    Vec::new()
}

/// One kind `schema` prints: its name on the command line (the file's stem,
/// `validation-report`, with a line of help), the file under `schemas/` and, for a tool's own
/// kind, the schema.
struct Offered {
    value: clap::builder::PossibleValue,
    file: String,
    schema: Option<serde_json::Value>,
}

/// Every kind `schema` offers: the model's, then the tool's own.
fn offered(tool: ToolSchemas) -> Vec<Offered> {
    let mut kinds: Vec<Offered> = SchemaKind::value_variants()
        .iter()
        .filter_map(|k| {
            Some(Offered {
                value: k.to_possible_value()?,
                file: k.file(),
                schema: None,
            })
        })
        .collect();
    for (kind, file, schema) in tool() {
        kinds.push(Offered {
            value: clap::builder::PossibleValue::new(file.trim_end_matches(".schema.json"))
                .help(format!("The `{kind}` document")),
            file: file.to_owned(),
            schema: Some(schema),
        });
    }
    kinds
}

static TOOL_COMMAND: OnceLock<(fn() -> clap::Command, ToolSchemas)> = OnceLock::new();

/// Records how to build the binary's clap command and its own document kinds (done by
/// [`crate::main`]).
pub(crate) fn set_tool_command(command: fn() -> clap::Command, schemas: ToolSchemas) {
    let _ = TOOL_COMMAND.set((command, schemas));
}

/// `command` with the `schema` verb's KIND limited to the tool's kinds (listed in `--help`
/// and the completions; another value is a usage error).
pub(crate) fn with_schema_kinds(command: clap::Command, schemas: ToolSchemas) -> clap::Command {
    let values: Vec<clap::builder::PossibleValue> =
        offered(schemas).into_iter().map(|k| k.value).collect();
    if command.find_subcommand("schema").is_none() {
        return command;
    }
    command.mut_subcommand("schema", |verb| {
        verb.mut_arg("kind", |arg| {
            arg.value_parser(clap::builder::PossibleValuesParser::new(values))
        })
    })
}

fn tool_command() -> Result<clap::Command, CliError> {
    let (command, schemas) = TOOL_COMMAND
        .get()
        .ok_or_else(|| CliError::error("internal: the tool's command line is not recorded"))?;
    Ok(with_schema_kinds(command(), *schemas))
}

/// `TOOL completions SHELL`: the completion script on stdout.
pub(crate) fn completions(shell: Shell) -> Result<ExitStatus, CliError> {
    let mut command = tool_command()?;
    let name = command.get_name().to_owned();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, &name, &mut script);
    emit_text(&String::from_utf8_lossy(&script))?;
    Ok(ExitStatus::Success)
}

/// `TOOL man [--out DIR]`: the tool's page on stdout, or every page written into DIR.
pub(crate) fn man(args: &ManArgs) -> Result<ExitStatus, CliError> {
    let command = tool_command()?;
    match &args.out {
        None => emit_text(&String::from_utf8_lossy(&render_page(command)?))?,
        Some(dir) => write_pages(command, dir)?,
    }
    Ok(ExitStatus::Success)
}

fn render_page(command: clap::Command) -> Result<Vec<u8>, CliError> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|e| CliError::error(format!("internal: cannot render the man page: {e}")))?;
    Ok(page)
}

/// `TOOL.1`, then `TOOL-VERB.1` for each visible verb (what clap_mangen names them).
fn write_pages(command: clap::Command, dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::error(format!("{}: cannot create: {e}", dir.display())))?;
    clap_mangen::generate_to(command, dir).map_err(|e| {
        CliError::error(format!(
            "{}: cannot write the man pages: {e}",
            dir.display()
        ))
    })
}

/// `TOOL schema [KIND]`: the JSON Schema of one of the documents the tool reads or prints (the
/// model's kinds and the tool's own), byte for byte the file under `schemas/`.
pub(crate) fn schema(kind: &str) -> Result<ExitStatus, CliError> {
    let tool = TOOL_COMMAND
        .get()
        .map_or(no_schemas as ToolSchemas, |t| t.1);
    let kinds = offered(tool);
    let Some(offered) = kinds.iter().find(|k| k.value.get_name() == kind) else {
        let names: Vec<&str> = kinds.iter().map(|k| k.value.get_name()).collect();
        return Err(CliError::usage(format!(
            "schema: unknown kind \"{kind}\" (kinds: {})",
            names.join(", ")
        )));
    };
    let file = &offered.file;
    let schema = match &offered.schema {
        Some(schema) => schema.clone(),
        None => rackpipe_model::schema::all_schemas()
            .into_iter()
            .find_map(|(name, schema)| (name == file).then_some(schema))
            .ok_or_else(|| CliError::error(format!("internal: no schema {file}")))?,
    };
    let mut text = serde_json::to_string_pretty(&schema)
        .map_err(|e| CliError::error(format!("internal: {e}")))?;
    text.push('\n');
    emit_text(&text)?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_kind_names_a_committed_schema() {
        let files: Vec<_> = rackpipe_model::schema::all_schemas()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        for kind in SchemaKind::value_variants() {
            assert!(files.contains(&kind.file().as_str()), "{kind:?}");
        }
        assert_eq!(files.len(), SchemaKind::value_variants().len());
    }

    fn two_kinds() -> Vec<(&'static str, &'static str, serde_json::Value)> {
        vec![
            (
                "VaultStatus",
                "vault-status.schema.json",
                serde_json::json!({}),
            ),
            ("EtcdDrill", "etcd-drill.schema.json", serde_json::json!({})),
        ]
    }

    /// `schema`'s KIND offers the model's kinds and the tool's own, and nothing else.
    #[test]
    fn the_schema_verb_offers_the_tools_own_kinds() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            command: crate::CommonCommand,
        }
        let names = |schemas: ToolSchemas| -> Vec<String> {
            let command = with_schema_kinds(<Cli as clap::CommandFactory>::command(), schemas);
            let verb = command.find_subcommand("schema").unwrap();
            let kind = verb.get_arguments().find(|a| a.get_id() == "kind").unwrap();
            kind.get_possible_values()
                .iter()
                .map(|v| v.get_name().to_owned())
                .collect()
        };
        let model = names(no_schemas);
        assert_eq!(
            model,
            [
                "site",
                "validation-report",
                "render-output",
                "plan",
                "apply-result",
                "error",
                "facts",
                "import-report"
            ]
        );
        let tool = names(two_kinds);
        assert_eq!(tool[..model.len()], model[..]);
        assert_eq!(tool[model.len()..], ["vault-status", "etcd-drill"]);
        let parse = |schemas: ToolSchemas, kind: &str| {
            with_schema_kinds(<Cli as clap::CommandFactory>::command(), schemas)
                .try_get_matches_from(["t", "schema", kind])
        };
        assert!(parse(two_kinds, "etcd-drill").is_ok());
        assert!(parse(no_schemas, "etcd-drill").is_err());
        assert!(parse(no_schemas, "plan").is_ok());
    }
}
