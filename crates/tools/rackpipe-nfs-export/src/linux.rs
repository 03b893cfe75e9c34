//! Linux kernel NFS server: plan and apply `/etc/exports.d/<name>.exports` over a remote shell.
//!
//! plan reads the current file and `exportfs -v`, and diffs. apply writes the file atomically
//! (a temporary name exportfs ignores, then `mv`), runs `exportfs -ra`, and verifies with
//! `exportfs -v` that every desired path/client pair is active with the right access; when the
//! verification fails, the previous file is put back and exportfs reloaded.
//!
//! The transport is the [`Remote`] trait: SSH in production (see the binary), a local shell
//! in tests.

use std::future::Future;

use rackpipe_model::documents::{Action, ApplyResult, Change, ChangeCounts, Plan};
use rackpipe_model::{API_VERSION, Site};

use crate::Error;
use crate::desired::{ClientSpec, resolve};
use crate::render::{environment, render_linux_exports};
use crate::synology::{digest, unified_diff};

/// What a remote command returned.
#[derive(Debug, Clone, Default)]
pub struct RemoteOutput {
    /// Exit status (`None`: killed by a signal or unknown).
    pub status: Option<u32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl RemoteOutput {
    /// Whether the command exited 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// A shell on the NFS server.
pub trait Remote: Sync {
    /// Host label for messages.
    fn host(&self) -> &str;
    /// Runs `command` with `sh -c` semantics, feeding `stdin`.
    fn exec(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<RemoteOutput, Error>> + Send;
}

/// Where the exports live on the server and how exportfs is called.
#[derive(Debug, Clone)]
pub struct LinuxTarget {
    /// Directory of the managed file (`/etc/exports.d`).
    pub exports_dir: String,
    /// The exportfs command (`exportfs`, or `sudo -n exportfs`).
    pub exportfs: String,
    /// Run file writes through `sudo -n` (an SSH user other than root).
    pub sudo: bool,
}

impl Default for LinuxTarget {
    fn default() -> Self {
        Self {
            exports_dir: "/etc/exports.d".to_owned(),
            exportfs: "exportfs".to_owned(),
            sudo: false,
        }
    }
}

impl LinuxTarget {
    /// The defaults for an SSH user: root runs commands directly, anyone else through
    /// `sudo -n` (which must be allowed without a password).
    #[must_use]
    pub fn for_user(user: &str) -> Self {
        if user == "root" {
            Self::default()
        } else {
            Self {
                exportfs: "sudo -n exportfs".to_owned(),
                sudo: true,
                ..Self::default()
            }
        }
    }

    fn privileged(&self, command: &str) -> String {
        privileged(self.sudo, command)
    }
}

/// `command` as it runs with privileges: through `sudo -n sh -c` when `sudo`.
pub(crate) fn privileged(sudo: bool, command: &str) -> String {
    if sudo {
        format!("sudo -n sh -c {}", sh_quote(command))
    } else {
        command.to_owned()
    }
}

/// Single-quotes a word for `sh`.
#[must_use]
pub fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

pub(crate) async fn run(
    remote: &impl Remote,
    command: &str,
    stdin: Option<&[u8]>,
) -> Result<RemoteOutput, Error> {
    let out = remote.exec(command, stdin).await?;
    if out.success() {
        Ok(out)
    } else {
        Err(Error::Remote {
            target: remote.host().to_owned(),
            command: command.to_owned(),
            message: format!(
                "exit {}: {}",
                out.status
                    .map_or_else(|| "signal".to_owned(), |s| s.to_string()),
                first_line(&out.stderr)
            ),
        })
    }
}

/// Active exports as `exportfs -v` lists them: (path, client, options).
#[must_use]
pub fn parse_exportfs_v(text: &str) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut path: Option<String> = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let mut first = words.next();
        if let Some(w) = first
            && w.starts_with('/')
            && !w.contains('(')
        {
            path = Some(crate::exports::unescape_path(w));
            first = words.next();
        }
        let (Some(entry), Some(p)) = (first, &path) else {
            continue;
        };
        if let Some((client, rest)) = entry.split_once('(') {
            let options = rest
                .trim_end_matches(')')
                .split(',')
                .map(str::to_owned)
                .collect();
            out.push((p.clone(), client.to_owned(), options));
        }
    }
    out
}

/// The state read from the server.
#[derive(Debug, Clone)]
struct Observed {
    file: Option<String>,
    active: Vec<(String, String, Vec<String>)>,
}

async fn observe(
    remote: &impl Remote,
    path: &str,
    target: &LinuxTarget,
) -> Result<Observed, Error> {
    let q = sh_quote(path);
    let out = run(
        remote,
        &format!("if [ -e {q} ]; then echo present; cat {q}; else echo absent; fi"),
        None,
    )
    .await?;
    let file = out.stdout.strip_prefix("present\n").map(str::to_owned);
    let active = parse_exportfs_v(
        &run(remote, &format!("{} -v", target.exportfs), None)
            .await?
            .stdout,
    );
    Ok(Observed { file, active })
}

/// Desired (path, client as exportfs -v shows it, rw) triples not active on the server.
fn missing_active(
    desired: &crate::Desired<'_>,
    active: &[(String, String, Vec<String>)],
) -> Vec<String> {
    let mut missing = Vec::new();
    for export in &desired.exports {
        for client in &export.clients {
            let shown = match &client.spec {
                ClientSpec::World => "<world>".to_owned(),
                other => other.text(),
            };
            let access = if client.rw { "rw" } else { "ro" };
            let ok = active.iter().any(|(p, c, o)| {
                *p == export.path && c.eq_ignore_ascii_case(&shown) && o.iter().any(|x| x == access)
            });
            if !ok {
                missing.push(format!("{} {shown}({access})", export.path));
            }
        }
    }
    missing
}

fn observed_value(o: &Observed) -> serde_json::Value {
    serde_json::json!({ "file": o.file, "active": o.active })
}

/// The change that writes the managed file `path` on `host` (created or updated, with a
/// unified diff), then runs `then` (reload and read back).
pub(crate) fn file_change(
    host: &str,
    path: &str,
    observed: Option<&str>,
    content: &str,
    then: Vec<String>,
) -> Change {
    Change {
        action: if observed.is_some() {
            Action::Update
        } else {
            Action::Create
        },
        target: host.to_owned(),
        resource: path.to_owned(),
        before: observed.map(|f| serde_json::Value::String(f.to_owned())),
        after: Some(serde_json::Value::String(content.to_owned())),
        diff: Some(unified_diff(observed.unwrap_or(""), content, path)),
        commands: std::iter::once(format!("write {path} (0644, atomically)"))
            .chain(then)
            .collect(),
    }
}

/// Plans the Linux exports file on `remote`.
pub async fn plan(site: &Site, remote: &impl Remote, target: &LinuxTarget) -> Result<Plan, Error> {
    let desired = resolve(site)?;
    let content = render_linux_exports(&desired, &environment(None)?)?;
    let path = format!(
        "{}/{}.exports",
        target.exports_dir.trim_end_matches('/'),
        desired.file_base
    );
    let observed = observe(remote, &path, target).await?;
    let others = other_exports_files(remote, &path, target).await?;
    // Exports from other files on the server that clash with ours (same path and client, same
    // fsid) would make exportfs keep one of them silently: refuse.
    let mut lint_input: Vec<(String, String)> = others.clone();
    lint_input.push((path.clone(), content.clone()));
    if let Some(ours) = crate::exports::lint_files(&lint_input).pop() {
        let clash = ours.diagnostics.iter().find(|d| {
            d.is_error() && matches!(d.rule.as_str(), "duplicate-export" | "duplicate-fsid")
        });
        if let Some(d) = clash {
            return Err(Error::Invalid {
                path: format!("{}:{path}", remote.host()),
                message: d.message.clone(),
            });
        }
    }
    let mut changes = Vec::new();
    if observed.file.as_deref() != Some(content.as_str()) {
        changes.push(file_change(
            remote.host(),
            &path,
            observed.file.as_deref(),
            &content,
            vec![
                format!("{} -ra", target.exportfs),
                format!("{} -v", target.exportfs),
            ],
        ));
    } else {
        let missing = missing_active(&desired, &observed.active);
        if !missing.is_empty() {
            changes.push(Change {
                action: Action::Update,
                target: remote.host().to_owned(),
                resource: format!("{} (active exports)", target.exportfs),
                before: Some(serde_json::json!({ "not_active": missing })),
                after: None,
                diff: None,
                commands: vec![
                    format!("{} -ra", target.exportfs),
                    format!("{} -v", target.exportfs),
                ],
            });
        }
    }
    let mut plan = Plan::new(
        "nfs-export",
        site.metadata.name.as_str(),
        digest(&serde_json::Value::String(content)),
        digest(&observed_value(&observed)),
        changes,
    );
    plan.unmanaged = others.into_iter().map(|(name, _)| name).collect();
    Ok(plan)
}

/// The other `*.exports` files of the directory (and a non-empty main `/etc/exports` when the
/// directory is `/etc/exports.d`), with their contents.
pub(crate) async fn other_exports_files(
    remote: &impl Remote,
    ours: &str,
    target: &LinuxTarget,
) -> Result<Vec<(String, String)>, Error> {
    let dir = target.exports_dir.trim_end_matches('/');
    let listing = run(
        remote,
        &format!(
            "for f in {}/*.exports; do [ -f \"$f\" ] && echo \"$f\"; done; true",
            sh_quote(dir)
        ),
        None,
    )
    .await?;
    let mut names: Vec<String> = listing
        .stdout
        .lines()
        .filter(|l| !l.is_empty() && *l != ours)
        .map(str::to_owned)
        .collect();
    if dir == "/etc/exports.d" {
        names.insert(0, "/etc/exports".to_owned());
    }
    let mut out = Vec::new();
    for name in names {
        let q = sh_quote(&name);
        let text = run(remote, &format!("if [ -f {q} ]; then cat {q}; fi"), None)
            .await?
            .stdout;
        if name == "/etc/exports" && crate::exports::parse(&text).entries.is_empty() {
            continue;
        }
        out.push((name, text));
    }
    Ok(out)
}

async fn write_atomic(
    remote: &impl Remote,
    target: &LinuxTarget,
    path: &str,
    content: &str,
) -> Result<(), Error> {
    write_file_atomic(remote, target.sudo, path, content).await
}

/// Writes `content` to `path` (0644) through a temporary file in the same directory and `mv`,
/// so a reader never sees half a file; privileged through `sudo -n` when `sudo`.
pub(crate) async fn write_file_atomic(
    remote: &impl Remote,
    sudo: bool,
    path: &str,
    content: &str,
) -> Result<(), Error> {
    let (dir, name) = path.rsplit_once('/').unwrap_or((".", path));
    // The temporary name does not end in .exports (or .conf), so neither exportfs nor an
    // include pattern ever reads a half file.
    let tmp = format!("{dir}/.{name}.rackpipe-tmp");
    let command = format!(
        "umask 022 && mkdir -p {d} && cat > {t} && chmod 0644 {t} && mv -f {t} {p}",
        d = sh_quote(dir),
        t = sh_quote(&tmp),
        p = sh_quote(path)
    );
    run(
        remote,
        &privileged(sudo, &command),
        Some(content.as_bytes()),
    )
    .await
    .map(|_| ())
}

/// Applies the plan: write, `exportfs -ra`, verify with `exportfs -v`, roll back on failure.
pub async fn apply(
    site: &Site,
    remote: &impl Remote,
    target: &LinuxTarget,
    expected: Option<&Plan>,
) -> Result<ApplyResult, Error> {
    let current = plan(site, remote, target).await?;
    current.check_fresh(expected, &format!("the exports on {}", remote.host()))?;
    let desired = resolve(site)?;
    let content = render_linux_exports(&desired, &environment(None)?)?;
    let path = format!(
        "{}/{}.exports",
        target.exports_dir.trim_end_matches('/'),
        desired.file_base
    );
    if current.changes.is_empty() {
        return Ok(result(site, Vec::new()));
    }
    let previous = observe(remote, &path, target).await?.file;
    write_atomic(remote, target, &path, &content).await?;
    let reload = run(remote, &format!("{} -ra", target.exportfs), None).await;
    let verified = match reload {
        Ok(_) => {
            let active = parse_exportfs_v(
                &run(remote, &format!("{} -v", target.exportfs), None)
                    .await?
                    .stdout,
            );
            let missing = missing_active(&desired, &active);
            if missing.is_empty() {
                Ok(())
            } else {
                Err(Error::Remote {
                    target: remote.host().to_owned(),
                    command: format!("{} -v", target.exportfs),
                    message: format!("not active after reload: {}", missing.join(", ")),
                })
            }
        }
        Err(e) => Err(e),
    };
    if let Err(e) = verified {
        tracing::warn!("{e}; restoring the previous {path}");
        match &previous {
            Some(old) => write_atomic(remote, target, &path, old).await?,
            None => {
                run(
                    remote,
                    &target.privileged(&format!("rm -f {}", sh_quote(&path))),
                    None,
                )
                .await?;
            }
        }
        let _ = run(remote, &format!("{} -ra", target.exportfs), None).await;
        return Err(e);
    }
    Ok(result(site, current.changes))
}

pub(crate) fn result(site: &Site, applied: Vec<Change>) -> ApplyResult {
    ApplyResult {
        api_version: API_VERSION.to_owned(),
        kind: "ApplyResult".to_owned(),
        tool: "nfs-export".to_owned(),
        site: site.metadata.name.to_string(),
        summary: ChangeCounts::of(&applied),
        applied,
        facts: std::collections::BTreeMap::new(),
    }
}

/// A [`Remote`] that runs commands on this machine with `sh -c` (tests, and running the tool
/// on the NFS server itself).
#[derive(Debug, Clone)]
pub struct LocalShell {
    /// Label used in messages.
    pub label: String,
}

impl Remote for LocalShell {
    fn host(&self) -> &str {
        &self.label
    }

    async fn exec(&self, command: &str, stdin: Option<&[u8]>) -> Result<RemoteOutput, Error> {
        use tokio::io::AsyncWriteExt;
        // No credential of this process (the NAS password, a Vault token) reaches the shell.
        let mut child = tokio::process::Command::from(rackpipe_model::child::command("sh"))
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Unreachable {
                target: self.label.clone(),
                message: format!("sh: {e}"),
            })?;
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(bytes) = stdin {
                pipe.write_all(bytes)
                    .await
                    .map_err(|e| Error::Unreachable {
                        target: self.label.clone(),
                        message: e.to_string(),
                    })?;
            }
            drop(pipe);
        }
        let out =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
                .await
                .map_err(|_| Error::Timeout {
                    target: self.label.clone(),
                    message: command.to_owned(),
                })?
                .map_err(|e| Error::Unreachable {
                    target: self.label.clone(),
                    message: e.to_string(),
                })?;
        Ok(RemoteOutput {
            status: out.status.code().and_then(|c| u32::try_from(c).ok()),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// A [`Remote`] over SSH (rackpipe-ssh: pinned host keys, per-command timeouts).
#[derive(Debug)]
pub struct SshRemote {
    session: rackpipe_ssh::Session,
    label: String,
    timeout: std::time::Duration,
}

impl SshRemote {
    /// Connects with `options`; each command may take up to `timeout`.
    pub async fn connect(
        options: &rackpipe_ssh::ConnectOptions,
        timeout: std::time::Duration,
    ) -> Result<Self, Error> {
        let session = rackpipe_ssh::Session::connect(options)
            .await
            .map_err(ssh_error)?;
        Ok(Self {
            label: options.label(),
            session,
            timeout,
        })
    }

    /// Closes the session.
    pub async fn close(self) {
        self.session.close().await;
    }
}

fn ssh_error(e: rackpipe_ssh::Error) -> Error {
    Error::Ssh {
        transient: e.is_transient(),
        message: e.to_string().replace('\n', " "),
    }
}

impl Remote for SshRemote {
    fn host(&self) -> &str {
        &self.label
    }

    async fn exec(&self, command: &str, stdin: Option<&[u8]>) -> Result<RemoteOutput, Error> {
        let out = self
            .session
            .exec_with(command, stdin, self.timeout)
            .await
            .map_err(ssh_error)?;
        Ok(RemoteOutput {
            status: out.status,
            stdout: out.stdout_text(),
            stderr: out.stderr_text(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_exportfs_v;

    #[test]
    fn sudo_wraps_writes_for_other_users() {
        let t = super::LinuxTarget::for_user("deploy");
        assert_eq!(
            t.privileged("rm -f '/etc/exports.d/x.exports'"),
            "sudo -n sh -c 'rm -f '\\''/etc/exports.d/x.exports'\\'''"
        );
        assert_eq!(t.exportfs, "sudo -n exportfs");
        assert!(!super::LinuxTarget::for_user("root").sudo);
    }

    #[test]
    fn parses_exportfs_v_including_wrapped_lines() {
        let text = "/tmp/ovt/data \t198.18.0.0/24(sync,wdelay,hide,no_subtree_check,sec=sys,rw,root_squash,no_all_squash)\n\
/a/very/long/path/name\n\t\t<world>(sync,ro,root_squash)\n";
        let parsed = parse_exportfs_v(text);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].1, "198.18.0.0/24");
        assert!(parsed[0].2.contains(&"rw".to_owned()));
        assert_eq!(parsed[1].0, "/a/very/long/path/name");
        assert_eq!(parsed[1].1, "<world>");
    }
}
