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

/// The documents whose JSON Schema `schema` prints (the files under `schemas/`).
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

static TOOL_COMMAND: OnceLock<fn() -> clap::Command> = OnceLock::new();

/// Records how to build the binary's clap command (done by [`crate::main`]).
pub(crate) fn set_tool_command(command: fn() -> clap::Command) {
    let _ = TOOL_COMMAND.set(command);
}

fn tool_command() -> Result<clap::Command, CliError> {
    let command = TOOL_COMMAND
        .get()
        .ok_or_else(|| CliError::error("internal: the tool's command line is not recorded"))?;
    Ok(command())
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

/// `TOOL schema [KIND]`: the JSON Schema, byte for byte the file under `schemas/`.
pub(crate) fn schema(kind: SchemaKind) -> Result<ExitStatus, CliError> {
    let file = kind.file();
    let schema = rackpipe_model::schema::all_schemas()
        .into_iter()
        .find_map(|(name, schema)| (name == file).then_some(schema))
        .ok_or_else(|| CliError::error(format!("internal: no schema {file}")))?;
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
}
