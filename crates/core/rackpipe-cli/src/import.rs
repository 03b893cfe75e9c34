//! What every `import` verb does with its result: the flags that say where it goes
//! ([`ImportOutputArgs`]: `--report FILE`, `--into SITE_FILE`) and the one way to emit it
//! ([`emit_import`]).

use std::path::{Path, PathBuf};

use clap::Args;
use rackpipe_model::documents::ImportReport;

use crate::{CliError, emit_text, progress};

/// Where an import's site and report go; flattened into every tool's `import` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct ImportOutputArgs {
    /// Write the import report (an `ImportReport` document: counts, the secret references to
    /// store, what was not imported and why) as JSON to FILE instead of as text on stderr. It
    /// never holds a secret value.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write the imported section into this existing site file instead of printing the site:
    /// it replaces the file's section of the same name (or is appended), every other section
    /// and comment is kept byte for byte; the file is replaced atomically, and only when the
    /// result validates.
    #[arg(long, value_name = "SITE_FILE")]
    pub into: Option<PathBuf>,
}

/// What every `import` verb prints once the whole import succeeded: the `report` (as JSON to
/// `--report FILE`, else as text on stderr), then the imported site's `yaml` on stdout — or,
/// with `--into SITE_FILE`, the report's sections written into that file (nothing on stdout,
/// one line on stderr saying what was written).
///
/// # Errors
/// The site file is not a readable site, cannot be spliced exactly, does not validate with
/// the imported sections, or cannot be written (the file is unchanged then, and nothing is
/// printed); the report cannot be written; stdout fails.
pub fn emit_import(
    report: &ImportReport,
    yaml: &str,
    output: &ImportOutputArgs,
) -> Result<(), CliError> {
    let merged = match &output.into {
        Some(file) => Some((file, merge_into(file, report, yaml)?)),
        None => None,
    };
    match &output.report {
        Some(file) => {
            let mut json = serde_json::to_string_pretty(report)
                .map_err(|e| CliError::error(format!("internal: {e}")))?;
            json.push('\n');
            std::fs::write(file, json).map_err(|e| {
                CliError::error(format!("{}: cannot write the report: {e}", file.display()))
            })?;
        }
        None => {
            progress::clear_live_line();
            #[allow(clippy::print_stderr)]
            {
                eprint!("{}", report.human());
            }
        }
    }
    match merged {
        Some((file, text)) => {
            let mode = std::fs::metadata(file)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                .unwrap_or(0o644);
            rackpipe_model::files::write_with_mode(file, text.as_bytes(), mode).map_err(|e| {
                CliError::error(format!("{}: cannot write: {}", file.display(), e.source))
            })?;
            progress::clear_live_line();
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "{}: wrote {} into {}",
                    report.tool,
                    report.sections.join(", "),
                    file.display()
                );
            }
            Ok(())
        }
        None => emit_text(yaml),
    }
}

/// The text of `file` with the report's sections of `yaml` written in (see
/// [`rackpipe_model::site_yaml::merge`]).
fn merge_into(file: &Path, report: &ImportReport, yaml: &str) -> Result<String, CliError> {
    let name = file.display().to_string();
    let existing = std::fs::read(file)
        .map_err(|e| CliError::error(format!("--into {name}: not a readable site: {e}")))?;
    let existing = String::from_utf8(existing).map_err(|_| {
        CliError::error(format!(
            "--into {name}: not a readable site: not UTF-8 text"
        ))
    })?;
    let sections: Vec<&str> = report.sections.iter().map(String::as_str).collect();
    rackpipe_model::site_yaml::merge(&name, &existing, yaml, &sections)
        .map_err(|e| CliError::error(format!("--into {e}")))
}
