//! The real validators, run locally (tests, CI) or as remote commands (apply).
//!
//! - `haproxy -c -dW -f FILE`: `-dW` turns every warning into a failure.
//! - `keepalived -t -f FILE`: exits 0 for a *missing* file and prints warnings it does not
//!   count, so a check passes only when the file exists, the exit status is 0 **and** nothing
//!   was printed.

use std::path::Path;

use rackpipe_model::child::command;
use rackpipe_ssh::shell_quote;

/// The remote (shell) command checking an HAProxy config file.
#[must_use]
pub fn haproxy_check_command(path: &str) -> String {
    format!("haproxy -c -dW -f {}", shell_quote(path))
}

/// The remote (shell) command checking a keepalived config file; fails on any output.
#[must_use]
pub fn keepalived_check_command(path: &str) -> String {
    let q = shell_quote(path);
    format!(
        "[ -f {q} ] || {{ echo 'missing file'; exit 1; }}; out=$(keepalived -t -f {q} 2>&1); rc=$?; \
         if [ $rc -ne 0 ] || [ -n \"$out\" ]; then printf '%s\\n' \"$out\" >&2; exit 1; fi"
    )
}

/// The remote (shell) command checking a shell script's syntax.
#[must_use]
pub fn script_check_command(path: &str) -> String {
    format!("sh -n {}", shell_quote(path))
}

/// Runs `haproxy -c -dW` on a local file. `Err` holds the ALERT/WARNING lines.
///
/// # Errors
/// When the config is rejected or has warnings, or haproxy cannot be run.
pub fn check_haproxy_file(haproxy: &Path, cfg: &Path) -> Result<(), String> {
    let out = command(haproxy)
        .args(["-c", "-dW", "-f"])
        .arg(cfg)
        .output()
        .map_err(|e| format!("{}: cannot run: {e}", haproxy.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("[ALERT]") || l.contains("[WARNING]"))
        .collect();
    if out.status.success() && problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "haproxy -c -dW {} failed ({}): {}",
            cfg.display(),
            out.status,
            problems.join(" | ")
        ))
    }
}

/// Runs `keepalived -t` on a local file, optionally inside a network namespace (where the
/// configured interfaces exist). `Err` holds everything keepalived printed.
///
/// # Errors
/// When the file is missing, keepalived exits non-zero, or prints anything.
pub fn check_keepalived_file(
    keepalived: &Path,
    conf: &Path,
    netns: Option<&str>,
) -> Result<(), String> {
    if !conf.is_file() {
        return Err(format!(
            "{}: no such file (keepalived -t would exit 0 anyway)",
            conf.display()
        ));
    }
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = command("ip");
            c.args(["netns", "exec", ns]).arg(keepalived);
            c
        }
        None => command(keepalived),
    };
    let out = cmd
        .arg("-t")
        .arg("-f")
        .arg(conf)
        .output()
        .map_err(|e| format!("{}: cannot run: {e}", keepalived.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && text.trim().is_empty() {
        Ok(())
    } else {
        Err(format!(
            "keepalived -t {} failed ({}): {}",
            conf.display(),
            out.status,
            text.trim().replace('\n', " | ")
        ))
    }
}
