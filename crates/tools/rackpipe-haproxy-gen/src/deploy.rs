//! `plan` and `apply` over SSH.
//!
//! **plan** fetches every rendered file from its instance and returns a [`Plan`] with one
//! [`Change`] (and a unified diff) per differing file, plus two digests: of the desired files
//! and of what was observed remotely.
//!
//! **apply** refuses a stale plan (either digest differs now), connects to every instance
//! first (an unreachable one stops everything before any change), then goes **one instance at
//! a time**: upload each changed file to `<path>.rackpipe-new`, run the real validator there
//! (`haproxy -c -dW`, `keepalived -t` with its output checked, `sh -n`), back up the old file
//! as `<path>.rackpipe-prev` (copied to a temp file beside it, flushed, compared, renamed: a
//! backup is complete or absent), move the new one into place (rename), reload (HAProxy
//! master-worker reload is hitless), and verify the instance serves. A failed check or a
//! failed backup (a full disk) leaves the instance untouched; a failed reload or verification
//! restores the previous files, each only from a backup whose SHA-256 is that of the file as
//! observed (an incomplete or stale backup is never moved over a file; the error says which
//! file stayed). Either way apply stops there, and later instances are not touched.
//!
//! Certificates (`<certs dir>/<service>.pem`, mode 0600, from secret references) go up with
//! the config: the directory is created when missing, `haproxy -c` checks a copy of the
//! instance's `haproxy.cfg` whose `crt` points at the staged certificate (also when only the
//! certificate changed, e.g. rotated), HAProxy is reloaded for a new certificate, and a
//! failure restores the previous certificate with the previous config.
//!
//! Secrets: diffs and digests are computed on redacted text (`auth_pass ********`, a PEM as
//! its certificate's subject, serial, expiry and SHA-256); change detection uses the real
//! content, so a rotated certificate is a planned change and an unchanged one is not.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rackpipe_model::documents::{
    Action, ApplyResult, Change, ChangeCounts, Plan, RenderedFile, check_digests,
};
use rackpipe_model::{API_VERSION, Site};
use rackpipe_ssh::{ConnectOptions, HostKeyPolicy, Session, shell_quote};
use sha2::{Digest, Sha256};

use crate::daemon::{haproxy_check_command, keepalived_check_command, script_check_command};
use crate::secrets::{REDACTED, redact};
use crate::{Error, TOOL};

/// How to reach and operate one instance.
#[derive(Debug, Clone)]
pub struct Target {
    /// Instance name (`load_balancer.instances[].name`).
    pub instance: String,
    /// SSH connection.
    pub ssh: ConnectOptions,
    /// Reloads HAProxy hitlessly (master-worker: `systemctl reload haproxy` sends SIGUSR2).
    pub reload_haproxy: String,
    /// Reloads keepalived.
    pub reload_keepalived: String,
    /// Exits 0 once the instance serves with the new config (default: the rendered
    /// health-check script); retried until `verify_timeout`.
    pub verify: Option<String>,
    /// How long verification may take.
    pub verify_timeout: Duration,
}

impl Target {
    /// A target with Debian/systemd defaults.
    #[must_use]
    pub fn new(instance: impl Into<String>, ssh: ConnectOptions) -> Self {
        Self {
            instance: instance.into(),
            ssh,
            reload_haproxy: "systemctl reload haproxy".to_owned(),
            reload_keepalived: "systemctl reload keepalived".to_owned(),
            verify: None,
            verify_timeout: Duration::from_secs(15),
        }
    }

    fn label(&self) -> String {
        format!("{} ({})", self.instance, self.ssh.label())
    }
}

/// SSH settings shared by every instance of a site.
#[derive(Debug, Clone)]
pub struct SshDefaults {
    /// Remote user.
    pub user: String,
    /// SSH port.
    pub port: u16,
    /// Private key file.
    pub key_file: std::path::PathBuf,
    /// known_hosts file for instances without a pinned `ssh_host_key`.
    pub known_hosts: Option<std::path::PathBuf>,
}

/// Builds a [`Target`] per instance: its address on the first VIP's segment, its pinned host
/// key (`ssh_host_key`) or else the known_hosts file.
///
/// # Errors
/// [`Error::NoTarget`] when an instance has no address, or neither a pinned key nor a
/// known_hosts file is available.
pub fn targets_for_site(site: &Site, ssh: &SshDefaults) -> Result<Vec<Target>, Error> {
    let lb = site.load_balancer.as_ref().ok_or(Error::NoLoadBalancer)?;
    let mut out = Vec::new();
    for inst in &lb.instances {
        let addr = lb
            .vips
            .first()
            .and_then(|v| {
                crate::check::address_on_segment(site, inst.guest.as_str(), v.segment.as_str())
            })
            .or_else(|| crate::check::backend_address(site, inst.guest.as_str()).ok())
            .ok_or_else(|| Error::NoTarget(inst.name.to_string()))?;
        let policy = HostKeyPolicy::from_options(
            None,
            ssh.known_hosts.as_deref(),
            inst.ssh_host_key.as_deref(),
        )
        .map_err(|e| match e {
            rackpipe_ssh::Error::NoHostKeyPolicy => Error::NoTarget(format!(
                "{} (no ssh_host_key and no known_hosts file)",
                inst.name
            )),
            e => Error::Ssh(e),
        })?;
        out.push(Target::new(
            inst.name.to_string(),
            ConnectOptions::new(
                addr.to_string(),
                ssh.port,
                ssh.user.clone(),
                ssh.key_file.clone(),
                policy,
            ),
        ));
    }
    Ok(out)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Digest of the desired files (redacted, so it never encodes a secret value; a certificate
/// PEM counts by its SHA-256, so a rotated certificate changes the digest).
#[must_use]
pub fn desired_digest(files: &[RenderedFile]) -> String {
    let mut lines: Vec<String> = files
        .iter()
        .map(|f| {
            format!(
                "{}\t{}\t{}\t{}",
                f.host,
                f.path,
                f.mode,
                sha256_hex(redact(&f.content).as_bytes())
            )
        })
        .collect();
    lines.sort();
    sha256_hex(lines.join("\n").as_bytes())
}

type Observed = BTreeMap<(String, String), Option<Vec<u8>>>;

/// Hash of a remote file as observed (redacted; `absent` when missing).
fn observed_hash(content: Option<&Vec<u8>>) -> String {
    content.map_or_else(
        || "absent".to_owned(),
        |c| sha256_hex(redact(&String::from_utf8_lossy(c)).as_bytes()),
    )
}

fn observed_digest(observed: &Observed) -> String {
    let lines: Vec<String> = observed
        .iter()
        .map(|((host, path), content)| {
            let hash = content.as_ref().map_or_else(
                || "absent".to_owned(),
                |c| sha256_hex(redact(&String::from_utf8_lossy(c)).as_bytes()),
            );
            format!("{host}\t{path}\t{hash}")
        })
        .collect();
    sha256_hex(lines.join("\n").as_bytes())
}

fn target_for<'a>(targets: &'a [Target], instance: &str) -> Result<&'a Target, Error> {
    targets
        .iter()
        .find(|t| t.instance == instance)
        .ok_or_else(|| Error::NoTarget(instance.to_owned()))
}

fn instances_in_order(files: &[RenderedFile]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in files {
        if !out.contains(&f.host) {
            out.push(f.host.clone());
        }
    }
    out
}

async fn connect_all(
    files: &[RenderedFile],
    targets: &[Target],
) -> Result<BTreeMap<String, Session>, Error> {
    let mut sessions = BTreeMap::new();
    for instance in instances_in_order(files) {
        let target = target_for(targets, &instance)?;
        let session = Session::connect(&target.ssh).await?;
        sessions.insert(instance, session);
    }
    Ok(sessions)
}

async fn observe(
    files: &[RenderedFile],
    sessions: &BTreeMap<String, Session>,
) -> Result<Observed, Error> {
    let mut observed = Observed::new();
    for f in files {
        let session = sessions
            .get(&f.host)
            .ok_or_else(|| Error::NoTarget(f.host.clone()))?;
        observed.insert(
            (f.host.clone(), f.path.clone()),
            session.read_file(&f.path).await?,
        );
    }
    Ok(observed)
}

fn unified_diff(path: &str, before: Option<&str>, after: &str) -> String {
    let before_text = before.map(redact).unwrap_or_default();
    let after_text = redact(after);
    let old_name = if before.is_some() {
        format!("a{path}")
    } else {
        "/dev/null".to_owned()
    };
    let diff = similar::TextDiff::from_lines(&before_text, &after_text)
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &format!("b{path}"))
        .to_string();
    if diff.trim().is_empty() {
        format!("--- a{path}\n+++ b{path}\n# a secret value changed ({REDACTED})\n")
    } else {
        diff
    }
}

fn haproxy_cfg_of<'a>(files: &'a [RenderedFile], host: &str) -> Option<&'a RenderedFile> {
    files
        .iter()
        .find(|f| f.host == host && kind_of(&f.path) == Kind::Haproxy)
}

fn parent_dir(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((dir, _)) => dir,
    }
}

fn changes(files: &[RenderedFile], observed: &Observed) -> Vec<Change> {
    let mut out = Vec::new();
    for f in files {
        let current = observed
            .get(&(f.host.clone(), f.path.clone()))
            .and_then(Option::as_ref);
        if current.is_some_and(|c| c.as_slice() == f.content.as_bytes()) {
            continue;
        }
        let before = current.map(|c| String::from_utf8_lossy(c).into_owned());
        out.push(Change {
            action: if current.is_some() {
                Action::Update
            } else {
                Action::Create
            },
            target: f.host.clone(),
            resource: f.path.clone(),
            before: Some(serde_json::json!({"sha256": observed_hash(current)})),
            after: Some(serde_json::json!({"mode": f.mode})),
            diff: Some(unified_diff(&f.path, before.as_deref(), &f.content)),
            commands: match (kind_of(&f.path), haproxy_cfg_of(files, &f.host)) {
                (Kind::Certificate, Some(cfg)) => vec![
                    format!("mkdir -p -m 0700 {}", shell_quote(parent_dir(&f.path))),
                    format!("upload {}.rackpipe-new (mode {})", f.path, f.mode),
                    format!(
                        "{} (crt {} → {}.rackpipe-new)",
                        haproxy_check_command(&format!("{}.rackpipe-check", cfg.path)),
                        f.path,
                        f.path
                    ),
                    format!("mv {0}.rackpipe-new {0}", f.path),
                    "reload haproxy".to_owned(),
                ],
                _ => vec![
                    format!("upload {}.rackpipe-new (mode {})", f.path, f.mode),
                    check_command(&f.path, &format!("{}.rackpipe-new", f.path)),
                    format!("mv {0}.rackpipe-new {0}", f.path),
                ],
            },
        });
    }
    out
}

/// The most useful line of a validator's output: the first ALERT/WARNING (haproxy prints a
/// NOTICE with its version first), else the first line.
fn validator_message(out: &rackpipe_ssh::Output) -> String {
    let text = format!("{}{}", out.stderr_text(), out.stdout_text());
    text.lines()
        .find(|l| l.contains("[ALERT]") || l.contains("[WARNING]"))
        .map(|l| {
            l.split_once(" : ")
                .map_or(l, |(_, rest)| rest)
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| out.first_error_line())
}

/// Which validator a file gets, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Haproxy,
    Keepalived,
    Script,
    Certificate,
    Other,
}

fn kind_of(path: &str) -> Kind {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.starts_with("haproxy") && name.ends_with(".cfg") {
        Kind::Haproxy
    } else if name.starts_with("keepalived") && name.ends_with(".conf") {
        Kind::Keepalived
    } else if name.ends_with(".sh") {
        Kind::Script
    } else if name.ends_with(".pem") {
        Kind::Certificate
    } else {
        Kind::Other
    }
}

fn check_command(final_path: &str, staged: &str) -> String {
    match kind_of(final_path) {
        Kind::Haproxy => haproxy_check_command(staged),
        Kind::Keepalived => keepalived_check_command(staged),
        Kind::Script => script_check_command(staged),
        Kind::Certificate | Kind::Other => "true".to_owned(),
    }
}

/// `cfg` with every `crt FILE` of a staged certificate pointing at the staged file instead.
fn with_staged_certs(cfg: &str, certs: &[&RenderedFile]) -> String {
    let mut out = String::with_capacity(cfg.len());
    for line in cfg.split_inclusive('\n') {
        let (body, end) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let mut prev = "";
        let words: Vec<String> = body
            .split(' ')
            .map(|w| {
                let word = if prev == "crt" && certs.iter().any(|c| c.path == w) {
                    format!("{w}.rackpipe-new")
                } else {
                    w.to_owned()
                };
                prev = w;
                word
            })
            .collect();
        out.push_str(&words.join(" "));
        out.push_str(end);
    }
    out
}

/// Fetches the current files and plans the changes.
///
/// # Errors
/// SSH errors (unreachable hosts are transient), [`Error::NoTarget`].
pub async fn plan(site: &str, files: &[RenderedFile], targets: &[Target]) -> Result<Plan, Error> {
    let sessions = connect_all(files, targets).await?;
    let observed = observe(files, &sessions).await?;
    for (_, s) in sessions {
        s.close().await;
    }
    let changes = changes(files, &observed);
    Ok(Plan::new(
        TOOL,
        site,
        desired_digest(files),
        observed_digest(&observed),
        changes,
    ))
}

/// The plan's diffs concatenated: the artifact CI keeps.
#[must_use]
pub fn plan_diff(plan: &Plan) -> String {
    plan.changes
        .iter()
        .filter_map(|c| {
            c.diff
                .as_ref()
                .map(|d| format!("# {}: {}\n{d}", c.target, c.resource))
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(host: &str, path: &str, content: &str) -> RenderedFile {
        RenderedFile {
            host: host.into(),
            path: path.into(),
            mode: "0644".into(),
            content: content.into(),
        }
    }

    #[test]
    fn changes_and_diffs_hide_secrets() {
        let files = vec![file(
            "lb1",
            "/etc/keepalived/keepalived.conf",
            "a\n    auth_pass n3wpass\n",
        )];
        let mut observed = Observed::new();
        observed.insert(
            ("lb1".into(), "/etc/keepalived/keepalived.conf".into()),
            Some(b"a\n    auth_pass oldpass\n".to_vec()),
        );
        let c = changes(&files, &observed);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].action, Action::Update);
        let diff = c[0].diff.as_deref().unwrap();
        assert!(
            !diff.contains("n3wpass") && !diff.contains("oldpass"),
            "{diff}"
        );
        assert!(diff.contains("secret value changed"), "{diff}");
        // Same content: no change.
        observed.insert(
            ("lb1".into(), "/etc/keepalived/keepalived.conf".into()),
            Some(b"a\n    auth_pass n3wpass\n".to_vec()),
        );
        assert!(changes(&files, &observed).is_empty());
    }

    #[test]
    fn create_has_dev_null_header() {
        let files = vec![file("lb1", "/etc/haproxy/haproxy.cfg", "global\n")];
        let mut observed = Observed::new();
        observed.insert(("lb1".into(), "/etc/haproxy/haproxy.cfg".into()), None);
        let c = changes(&files, &observed);
        assert_eq!(c[0].action, Action::Create);
        assert!(
            c[0].diff
                .as_deref()
                .unwrap()
                .starts_with("--- /dev/null\n+++ b/etc/haproxy/haproxy.cfg")
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of("/etc/haproxy/haproxy.cfg"), Kind::Haproxy);
        assert_eq!(kind_of("/etc/keepalived/keepalived.conf"), Kind::Keepalived);
        assert_eq!(kind_of("/etc/keepalived/check_haproxy.sh"), Kind::Script);
        assert_eq!(kind_of("/etc/haproxy/certs/ingress.pem"), Kind::Certificate);
        assert_eq!(kind_of("/etc/x"), Kind::Other);
    }

    #[test]
    fn probe_config_points_at_staged_certificates_only() {
        let cert = file("lb1", "/etc/haproxy/certs/a.pem", "pem");
        let cfg = "frontend f\n    bind 1.2.3.4:443 ssl crt /etc/haproxy/certs/a.pem crt /etc/haproxy/certs/a.pem2\n    # crt /etc/haproxy/certs/a.pem\n";
        assert_eq!(
            with_staged_certs(cfg, &[&cert]),
            "frontend f\n    bind 1.2.3.4:443 ssl crt /etc/haproxy/certs/a.pem.rackpipe-new crt /etc/haproxy/certs/a.pem2\n    # crt /etc/haproxy/certs/a.pem.rackpipe-new\n"
        );
        assert_eq!(with_staged_certs(cfg, &[]), cfg);
    }

    #[test]
    fn certificate_changes_show_no_key() {
        let key = "-----BEGIN PRIVATE KEY-----\nTUlJRXZnSUJBREFOQmdrcWhraUc5dzBC\n-----END PRIVATE KEY-----\n";
        let files = vec![
            file("lb1", "/etc/haproxy/haproxy.cfg", "global\n"),
            file("lb1", "/etc/haproxy/certs/a.pem", key),
        ];
        let mut observed = Observed::new();
        observed.insert(
            ("lb1".into(), "/etc/haproxy/haproxy.cfg".into()),
            Some(b"global\n".to_vec()),
        );
        observed.insert(("lb1".into(), "/etc/haproxy/certs/a.pem".into()), None);
        let c = changes(&files, &observed);
        assert_eq!(c.len(), 1);
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("TUlJRXZnSUJBREFOQmdrcWhraUc5dzBC"), "{text}");
        assert!(
            c[0].commands[2]
                .starts_with("haproxy -c -dW -f /etc/haproxy/haproxy.cfg.rackpipe-check"),
            "{:?}",
            c[0].commands
        );
        // The digest follows the real content.
        let other = vec![
            files[0].clone(),
            file(
                "lb1",
                "/etc/haproxy/certs/a.pem",
                &key.replace("TUlJ", "QUJD"),
            ),
        ];
        assert_ne!(desired_digest(&files), desired_digest(&other));
    }

    #[test]
    fn digests_ignore_secrets_but_not_content() {
        let a = vec![file("lb1", "/k.conf", "auth_pass aaaa\nx\n")];
        let b = vec![file("lb1", "/k.conf", "auth_pass bbbb\nx\n")];
        let c = vec![file("lb1", "/k.conf", "auth_pass aaaa\ny\n")];
        assert_eq!(desired_digest(&a), desired_digest(&b));
        assert_ne!(desired_digest(&a), desired_digest(&c));
    }
}
