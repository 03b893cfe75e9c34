//! The one template environment of the rackpipe tools.
//!
//! Every tool that renders files ships its templates built in and accepts `--templates DIR`,
//! with one meaning everywhere ([`environment`]):
//!
//! - a file in `DIR` named like a built-in template (`haproxy.cfg.j2`,
//!   `addons/calico.yaml.j2`) replaces it;
//! - a built-in template with no file in `DIR` is used as built in;
//! - any other file in `DIR` (a typo such as `haproxy.cf.j2`) is an error naming it and the
//!   template names the tool has, so a misspelt override is never silently ignored.
//!
//! The environment is strict (an undefined variable is an error, never an empty string) and
//! never escapes (the outputs are configuration files, not HTML).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// A template (or `--templates DIR` file) that cannot be used: `template NAME: MESSAGE`, the
/// message on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct TemplateError {
    /// The template name, or the path of the file in `DIR`.
    pub name: String,
    /// What is wrong, on one line.
    pub message: String,
}

/// Whitespace handling of a tool's templates (minijinja's syntax options). The default is
/// minijinja's: blocks keep their newlines, the final newline of a template is dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Whitespace {
    /// Drop the first newline after a block tag, and leading spaces before one
    /// (`trim_blocks` and `lstrip_blocks`).
    pub trim_blocks: bool,
    /// Keep a template's final newline.
    pub keep_trailing_newline: bool,
}

/// A tool's templates: name (a relative path, `/`-separated) and built-in source.
pub type Builtins = [(&'static str, &'static str)];

/// The environment for `builtins`, each replaced by the file of the same name under
/// `templates_dir` when there is one (see the crate docs).
///
/// # Errors
/// A file in `templates_dir` that matches no built-in name (or a `templates_dir` that is not a
/// readable directory), an override that cannot be read, or a template that does not parse.
pub fn environment(
    builtins: &Builtins,
    templates_dir: Option<&Path>,
    whitespace: Whitespace,
) -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    if whitespace != Whitespace::default() {
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(whitespace.trim_blocks)
            .lstrip_blocks(whitespace.trim_blocks)
            .keep_trailing_newline(whitespace.keep_trailing_newline)
            .build()
            .map_err(|e| TemplateError {
                name: "syntax".to_owned(),
                message: one_line(&e),
            })?;
        env.set_syntax(syntax);
    }
    if let Some(dir) = templates_dir {
        check_dir(builtins, dir)?;
    }
    for (name, builtin) in builtins {
        let path = templates_dir.map(|d| d.join(name)).filter(|p| p.is_file());
        let source = match path {
            Some(path) => std::fs::read_to_string(&path).map_err(|e| TemplateError {
                name: path.display().to_string(),
                message: format!("cannot read it: {e}"),
            })?,
            None => (*builtin).to_owned(),
        };
        env.add_template_owned(*name, source)
            .map_err(|e| TemplateError {
                name: (*name).to_owned(),
                message: one_line(&e),
            })?;
    }
    Ok(env)
}

/// Renders template `name` of `env` with `ctx` (`minijinja::context!`, or
/// `minijinja::Value::from(minijinja::value::Serde(&x))`).
///
/// # Errors
/// An unknown name, or a render error (an undefined variable, a failing filter), on one line.
pub fn render(
    env: &Environment<'_>,
    name: &str,
    ctx: minijinja::Value,
) -> Result<String, TemplateError> {
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| TemplateError {
            name: name.to_owned(),
            message: one_line(&e),
        })
}

/// A minijinja error on one line: `line N: what (detail)`, whitespace collapsed.
#[must_use]
pub fn one_line(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    if let Some(detail) = e.detail()
        && !text.contains(detail)
    {
        text = format!("{text}: {detail}");
    }
    if let Some(line) = e.line()
        && !text.contains(&format!("line {line}"))
    {
        text = format!("line {line}: {text}");
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Refuses a file under `dir` whose relative path is no built-in template name.
fn check_dir(builtins: &Builtins, dir: &Path) -> Result<(), TemplateError> {
    let known: BTreeSet<&str> = builtins.iter().map(|(name, _)| *name).collect();
    let mut files = Vec::new();
    list_files(dir, dir, &mut files)?;
    files.sort();
    for relative in files {
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if !known.contains(name.as_str()) {
            return Err(TemplateError {
                name: dir.join(&relative).display().to_string(),
                message: format!(
                    "matches no template (a file in --templates DIR replaces the built-in \
                     template of the same name: {})",
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    Ok(())
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), TemplateError> {
    let error = |e: std::io::Error| TemplateError {
        name: dir.display().to_string(),
        message: format!("cannot read the templates directory: {e}"),
    };
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let path = entry.map_err(error)?.path();
        if path.is_dir() {
            list_files(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILTINS: &Builtins = &[("a.conf.j2", "a={{ x }}\n"), ("sub/b.conf.j2", "b={{ x }}")];

    fn render_all(dir: Option<&Path>) -> Result<(String, String), TemplateError> {
        let env = environment(BUILTINS, dir, Whitespace::default())?;
        let ctx = || minijinja::context! { x => 1 };
        Ok((
            render(&env, "a.conf.j2", ctx())?,
            render(&env, "sub/b.conf.j2", ctx())?,
        ))
    }

    #[test]
    fn built_in_templates_without_a_directory() {
        assert_eq!(render_all(None).unwrap(), ("a=1".into(), "b=1".into()));
    }

    #[test]
    fn a_file_in_the_directory_overrides_a_missing_one_falls_back() {
        let dir = rackpipe_testkit::temp_dir();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.conf.j2"), "custom {{ x }}").unwrap();
        assert_eq!(
            render_all(Some(dir.path())).unwrap(),
            ("a=1".into(), "custom 1".into())
        );
        // An empty directory: every template as built in.
        let empty = rackpipe_testkit::temp_dir();
        assert_eq!(
            render_all(Some(empty.path())).unwrap(),
            ("a=1".into(), "b=1".into())
        );
    }

    #[test]
    fn a_file_matching_no_template_is_an_error() {
        let dir = rackpipe_testkit::temp_dir();
        std::fs::write(dir.path().join("a.cnf.j2"), "typo").unwrap();
        let e = render_all(Some(dir.path())).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "template {}: matches no template (a file in --templates DIR replaces the \
                 built-in template of the same name: a.conf.j2, sub/b.conf.j2)",
                dir.path().join("a.cnf.j2").display()
            )
        );
        let missing = dir.path().join("nope");
        let e = render_all(Some(&missing)).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "template {}: cannot read the templates directory:",
                missing.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn strict_undefined_and_one_line_errors() {
        let dir = rackpipe_testkit::temp_dir();
        std::fs::write(dir.path().join("a.conf.j2"), "line one\n{{ y.z }}\n").unwrap();
        let e = render_all(Some(dir.path())).unwrap_err();
        assert_eq!(e.name, "a.conf.j2");
        assert!(!e.message.contains('\n'), "{e}");
        assert!(e.message.contains("undefined"), "{e}");
        std::fs::write(dir.path().join("a.conf.j2"), "{% if %}").unwrap();
        let e = render_all(Some(dir.path())).unwrap_err();
        assert!(e.message.starts_with("line 1:"), "{e}");
    }

    #[test]
    fn whitespace_options() {
        let builtins: &Builtins = &[("t", "{% if true %}\n  x\n{% endif %}\n")];
        let plain = environment(builtins, None, Whitespace::default()).unwrap();
        assert_eq!(
            render(&plain, "t", minijinja::context! {}).unwrap(),
            "\n  x\n"
        );
        let trimmed = environment(
            builtins,
            None,
            Whitespace {
                trim_blocks: true,
                keep_trailing_newline: true,
            },
        )
        .unwrap();
        assert_eq!(
            render(&trimmed, "t", minijinja::context! {}).unwrap(),
            "  x\n"
        );
    }
}
