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
use std::time::Duration;

use rackpipe_model::Site;
use rackpipe_model::documents::{Action, Change, Plan, RenderedFile};
use rackpipe_ssh::{ConnectOptions, HostKeyPolicy, Session, shell_quote};
use sha2::{Digest, Sha256};

use crate::daemon::{haproxy_check_command, keepalived_check_command, script_check_command};
use crate::secrets::{REDACTED, redact};
use crate::{Error, TOOL};

mod apply;

pub use apply::apply;

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
