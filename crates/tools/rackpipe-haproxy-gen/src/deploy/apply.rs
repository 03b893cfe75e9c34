//! `apply`: one instance at a time, stage, check, back up, move into place, reload, verify,
//! and restore from the backups on failure (the steps are in the parent module's docs).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rackpipe_model::API_VERSION;
use rackpipe_model::documents::{ApplyResult, ChangeCounts, Plan, RenderedFile, check_digests};
use rackpipe_ssh::{Session, shell_quote};

use super::{
    Kind, Observed, Target, check_command, connect_all, desired_digest, haproxy_cfg_of,
    instances_in_order, kind_of, observe, observed_digest, observed_hash, parent_dir, sha256_hex,
    target_for, validator_message, with_staged_certs,
};
use crate::daemon::haproxy_check_command;
use crate::{Error, TOOL};

/// Applies a plan made from the same `files`; see the module docs for the steps.
///
/// # Errors
/// [`Error::StalePlan`]; SSH errors; [`Error::RemoteCheck`] (that instance untouched);
/// [`Error::Deploy`] (that instance restored). Instances after the failing one are untouched.
pub async fn apply(
    plan: &Plan,
    files: &[RenderedFile],
    targets: &[Target],
) -> Result<ApplyResult, Error> {
    let desired = desired_digest(files);
    // The site side first, before connecting (the plan's own observed digest passes).
    check_digests(Some(plan), &desired, &plan.observed_digest, "")?;
    let sessions = connect_all(files, targets).await?;
    let observed = observe(files, &sessions).await?;
    let now = observed_digest(&observed);
    if now != plan.observed_digest {
        let moved: Vec<String> = observed
            .iter()
            .filter(|((host, path), content)| {
                let now = observed_hash(content.as_ref());
                match plan
                    .changes
                    .iter()
                    .find(|c| c.target == *host && c.resource == *path)
                {
                    Some(c) => {
                        c.before
                            .as_ref()
                            .and_then(|b| b.get("sha256"))
                            .and_then(|v| v.as_str())
                            != Some(now.as_str())
                    }
                    None => files.iter().any(|f| {
                        f.host == *host
                            && f.path == *path
                            && content.as_deref() != Some(f.content.as_bytes())
                    }),
                }
            })
            .map(|((host, path), _)| format!("{host}:{path}"))
            .collect();
        let detail = if moved.is_empty() {
            String::new()
        } else {
            format!(" ({})", moved.join(", "))
        };
        check_digests(
            Some(plan),
            &desired,
            &now,
            &format!("the remote files{detail}"),
        )?;
    }
    let mut applied = Vec::new();
    for instance in instances_in_order(files) {
        let (done, total) = (applied.len() as u64, plan.changes.len() as u64);
        tracing::info!(target: "progress", step = %format!("deploy {instance}"), done, total);
        let todo: Vec<&RenderedFile> = files
            .iter()
            .filter(|f| {
                f.host == instance
                    && plan
                        .changes
                        .iter()
                        .any(|c| c.target == f.host && c.resource == f.path)
            })
            .collect();
        if todo.is_empty() {
            continue;
        }
        let target = target_for(targets, &instance)?;
        let session = sessions
            .get(&instance)
            .ok_or_else(|| Error::NoTarget(instance.clone()))?;
        apply_instance(session, target, &todo, files, &observed).await?;
        applied.extend(
            plan.changes
                .iter()
                .filter(|c| c.target == instance)
                .cloned(),
        );
        tracing::info!(instance = %instance, files = todo.len(), "applied");
    }
    for (_, s) in sessions {
        s.close().await;
    }
    Ok(ApplyResult {
        api_version: API_VERSION.to_owned(),
        kind: "ApplyResult".to_owned(),
        tool: TOOL.to_owned(),
        site: plan.site.clone(),
        summary: ChangeCounts::of(&applied),
        applied,
        facts: BTreeMap::new(),
    })
}

async fn run(session: &Session, target: &Target, cmd: &str) -> Result<rackpipe_ssh::Output, Error> {
    Ok(session.exec(cmd).await?)
        .inspect(|out| tracing::debug!(host = %target.label(), cmd, status = ?out.status, "ran"))
}

fn mode_bits(mode: &str) -> u32 {
    u32::from_str_radix(mode.trim_start_matches("0o"), 8).unwrap_or(0o644)
}

async fn apply_instance(
    session: &Session,
    target: &Target,
    todo: &[&RenderedFile],
    all_files: &[RenderedFile],
    observed: &Observed,
) -> Result<(), Error> {
    let label = target.label();
    let staged = |f: &RenderedFile| format!("{}.rackpipe-new", f.path);
    let cleanup = |paths: Vec<String>| async move {
        let list: Vec<String> = paths.iter().map(|p| shell_quote(p)).collect();
        let _ = session.exec(&format!("rm -f -- {}", list.join(" "))).await;
    };

    // 1. Upload everything to staged paths (certificate directories created first, 0700).
    let cert_dirs: Vec<String> = todo
        .iter()
        .filter(|f| kind_of(&f.path) == Kind::Certificate)
        .map(|f| shell_quote(parent_dir(&f.path)))
        .collect();
    if !cert_dirs.is_empty() {
        let out = run(
            session,
            target,
            &format!("mkdir -p -m 0700 -- {}", cert_dirs.join(" ")),
        )
        .await?;
        if !out.success() {
            return Err(Error::Deploy {
                host: label,
                message: format!(
                    "cannot create the certificate directory: {}",
                    out.first_error_line()
                ),
            });
        }
    }
    let mut staged_paths = Vec::new();
    for f in todo {
        session
            .write_file_atomic(&staged(f), f.content.as_bytes(), mode_bits(&f.mode))
            .await?;
        staged_paths.push(staged(f));
    }
    // 2. Validate the staged files with the real daemons. keepalived.conf refers to the check
    //    script by its final path; when the script is staged too, check a copy that points
    //    at the staged script.
    let script = all_files
        .iter()
        .find(|f| f.host == target.instance && kind_of(&f.path) == Kind::Script);
    let staged_script = script.filter(|s| todo.iter().any(|t| t.path == s.path));
    //    haproxy.cfg names its certificates by their final paths: when certificates are staged,
    //    check a copy of the (new or current) haproxy.cfg that points at the staged ones, also
    //    when haproxy.cfg itself did not change (a rotated certificate).
    let staged_certs: Vec<&RenderedFile> = todo
        .iter()
        .copied()
        .filter(|f| kind_of(&f.path) == Kind::Certificate)
        .collect();
    let cfg = haproxy_cfg_of(all_files, &target.instance);
    let checks: Vec<&RenderedFile> = todo
        .iter()
        .copied()
        .filter(|f| kind_of(&f.path) != Kind::Certificate)
        .collect();
    if let (Some(cfg), Some(first_cert)) = (cfg, staged_certs.first())
        && !checks.iter().any(|f| f.path == cfg.path)
    {
        // Only certificates changed: the check of haproxy.cfg stands for them.
        let probe = format!("{}.rackpipe-check", cfg.path);
        let content = with_staged_certs(&cfg.content, &staged_certs);
        session
            .write_file_atomic(&probe, content.as_bytes(), 0o600)
            .await?;
        staged_paths.push(probe.clone());
        let out = run(session, target, &haproxy_check_command(&probe)).await?;
        if !out.success() {
            cleanup(staged_paths).await;
            return Err(Error::RemoteCheck {
                host: label,
                path: first_cert.path.clone(),
                message: validator_message(&out),
            });
        }
    }
    for f in checks {
        let mut path = staged(f);
        if kind_of(&f.path) == Kind::Haproxy && !staged_certs.is_empty() {
            let probe = format!("{}.rackpipe-check", f.path);
            let content = with_staged_certs(&f.content, &staged_certs);
            session
                .write_file_atomic(&probe, content.as_bytes(), mode_bits(&f.mode))
                .await?;
            staged_paths.push(probe.clone());
            path = probe;
        }
        if kind_of(&f.path) == Kind::Keepalived
            && let Some(s) = staged_script
        {
            let probe = format!("{}.rackpipe-check", f.path);
            let content = f
                .content
                .replace(&format!("\"{}\"", s.path), &format!("\"{}\"", staged(s)));
            session
                .write_file_atomic(&probe, content.as_bytes(), mode_bits(&f.mode))
                .await?;
            staged_paths.push(probe.clone());
            path = probe;
        }
        let out = run(session, target, &check_command(&f.path, &path)).await?;
        if !out.success() {
            cleanup(staged_paths).await;
            return Err(Error::RemoteCheck {
                host: label,
                path: f.path.clone(),
                message: validator_message(&out),
            });
        }
    }
    // 3. Back up every file about to be replaced: copied beside it to a temp file, flushed to
    //    disk, compared with the original, then renamed to `<path>.rackpipe-prev`. A backup is
    //    complete or absent, never half-written; when one fails (a full disk), nothing has
    //    been moved and the originals stay as they are.
    let existed = |f: &RenderedFile| {
        observed
            .get(&(target.instance.clone(), f.path.clone()))
            .is_some_and(Option::is_some)
    };
    let mut backup_cmds = Vec::new();
    let mut backup_tmps = Vec::new();
    for f in todo.iter().filter(|f| existed(f)) {
        let tmp = format!("{}.tmp", prev_path(f));
        let (q, qt) = (shell_quote(&f.path), shell_quote(&tmp));
        backup_cmds.push(format!(
            "rm -f -- {qt}; cp -p -- {q} {qt}; sync -- {qt}; cmp -s -- {q} {qt}; mv -f -- {qt} {}; sync -- {} 2>/dev/null || true",
            shell_quote(&prev_path(f)),
            shell_quote(parent_dir(&f.path))
        ));
        backup_tmps.push(tmp);
    }
    if !backup_cmds.is_empty() {
        let out = run(
            session,
            target,
            &format!("set -e; {}", backup_cmds.join("; ")),
        )
        .await?;
        if !out.success() {
            cleanup(staged_paths.iter().chain(&backup_tmps).cloned().collect()).await;
            return Err(Error::Deploy {
                host: label,
                message: format!(
                    "backing up the current files failed ({}; a full disk?); nothing was changed",
                    out.first_error_line()
                ),
            });
        }
    }
    //    Then move the new files into place (rename = atomic).
    let moves: Vec<String> = todo
        .iter()
        .map(|f| {
            format!(
                "mv -f -- {} {}",
                shell_quote(&staged(f)),
                shell_quote(&f.path)
            )
        })
        .collect();
    let out = run(session, target, &format!("set -e; {}", moves.join("; "))).await?;
    if !out.success() {
        cleanup(staged_paths).await;
        let restored = restore(session, todo, observed, &target.instance).await;
        return Err(Error::Deploy {
            host: label,
            message: format!(
                "moving the files into place failed: {}; {restored}",
                out.first_error_line()
            ),
        });
    }
    let _ = session
        .exec(&format!(
            "rm -f -- {}",
            staged_paths
                .iter()
                .map(|p| shell_quote(p))
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .await;

    // 4. Reload what changed, 5. verify, restoring on failure.
    let haproxy_changed = todo
        .iter()
        .any(|f| matches!(kind_of(&f.path), Kind::Haproxy | Kind::Certificate));
    let keepalived_changed = todo
        .iter()
        .any(|f| matches!(kind_of(&f.path), Kind::Keepalived | Kind::Script));
    let result =
        reload_and_verify(session, target, haproxy_changed, keepalived_changed, script).await;
    if let Err(message) = result {
        let restored = restore(session, todo, observed, &target.instance).await;
        let _ =
            reload_and_verify(session, target, haproxy_changed, keepalived_changed, script).await;
        return Err(Error::Deploy {
            host: label,
            message: format!("{message}; {restored}"),
        });
    }
    let prevs: Vec<String> = todo.iter().map(|f| shell_quote(&prev_path(f))).collect();
    let _ = session.exec(&format!("rm -f -- {}", prevs.join(" "))).await;
    Ok(())
}

async fn reload_and_verify(
    session: &Session,
    target: &Target,
    haproxy: bool,
    keepalived: bool,
    script: Option<&RenderedFile>,
) -> Result<(), String> {
    let exec = |cmd: String| async move { session.exec(&cmd).await.map_err(|e| e.to_string()) };
    if haproxy {
        let out = exec(target.reload_haproxy.clone()).await?;
        if !out.success() {
            return Err(format!(
                "reloading haproxy ({}) failed: {}",
                target.reload_haproxy,
                out.first_error_line()
            ));
        }
    }
    if keepalived {
        let out = exec(target.reload_keepalived.clone()).await?;
        if !out.success() {
            return Err(format!(
                "reloading keepalived ({}) failed: {}",
                target.reload_keepalived,
                out.first_error_line()
            ));
        }
    }
    let verify = match (&target.verify, script) {
        (Some(cmd), _) => cmd.clone(),
        (None, Some(s)) => shell_quote(&s.path),
        (None, None) => return Ok(()),
    };
    let deadline = Instant::now() + target.verify_timeout;
    loop {
        let out = exec(verify.clone()).await?;
        if out.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "not serving after reload: {verify} failed: {}",
                out.first_error_line()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Where apply keeps the previous version of `f` until the new one serves.
fn prev_path(f: &RenderedFile) -> String {
    format!("{}.rackpipe-prev", f.path)
}

/// Puts back the files as they were observed, and says what it did in a few words.
///
/// A file is only ever replaced by its backup when the backup's SHA-256 is that of the file
/// as observed: a file that was never replaced is left alone, and a backup that is
/// incomplete or stale is never moved over the current file (which then stays, and is
/// named in the answer). A file that did not exist before is removed only when it holds
/// exactly what apply wrote.
async fn restore(
    session: &Session,
    todo: &[&RenderedFile],
    observed: &Observed,
    instance: &str,
) -> String {
    let mut problems = Vec::new();
    for f in todo {
        let (q, prev) = (shell_quote(&f.path), shell_quote(&prev_path(f)));
        let hashes = session
            .exec(&format!(
                "for f in {q} {prev}; do if [ -f \"$f\" ]; then sha256sum < \"$f\" | cut -d ' ' -f 1; else echo absent; fi; done"
            ))
            .await;
        let (now, backup) = match &hashes {
            Ok(out) if out.success() => {
                let text = out.stdout_text();
                let mut lines = text.lines().map(str::to_owned);
                (
                    lines.next().unwrap_or_default(),
                    lines.next().unwrap_or_default(),
                )
            }
            Ok(out) => {
                problems.push(format!(
                    "{}: not checked ({})",
                    f.path,
                    out.first_error_line()
                ));
                continue;
            }
            Err(e) => {
                problems.push(format!("{}: not checked ({e})", f.path));
                continue;
            }
        };
        let original = observed
            .get(&(instance.to_owned(), f.path.clone()))
            .and_then(Option::as_ref);
        let step = match original {
            Some(bytes) => {
                let want = sha256_hex(bytes);
                if now == want {
                    format!("rm -f -- {prev}")
                } else if backup == want {
                    format!("mv -f -- {prev} {q}")
                } else {
                    problems.push(format!(
                        "{}: kept as it is, not restored: its backup {} is {} (sha256 {}, not {want})",
                        f.path,
                        prev_path(f),
                        if backup == "absent" { "missing" } else { "incomplete or stale" },
                        backup
                    ));
                    continue;
                }
            }
            None if now == sha256_hex(f.content.as_bytes()) => format!("rm -f -- {q}"),
            None => continue,
        };
        match session.exec(&step).await {
            Ok(out) if out.success() => {}
            Ok(out) => problems.push(format!(
                "{}: {step} failed ({})",
                f.path,
                out.first_error_line()
            )),
            Err(e) => problems.push(format!("{}: {step} failed ({e})", f.path)),
        }
    }
    if problems.is_empty() {
        "previous files restored".to_owned()
    } else {
        format!("previous files NOT all restored: {}", problems.join("; "))
    }
}
