//! Taking a snapshot on a master over SSH, for runners that cannot reach etcd's port 2379.
//!
//! For each member in order (falling back to the next on failure):
//!
//! 1. connect with [`rackpipe_ssh`]: the host key is verified against a pinned fingerprint or a
//!    `known_hosts` file before anything runs (no trust on first use);
//! 2. `etcdctl endpoint status -w json` on the master gives cluster id, member id, revision, raft
//!    index/term, database size and version for the manifest;
//! 3. one shell script makes a private directory under [`SshTarget::remote_tmp`] (mode 0700,
//!    umask 077: a snapshot holds every Kubernetes secret), runs `etcdctl snapshot save` into
//!    it, `cat`s the file to standard output and removes the directory on every exit path
//!    (also when the connection drops: `cat` dies of `SIGPIPE` and the `EXIT` trap runs);
//! 4. standard output streams through the same writer as the gRPC path ([`crate::snapshot()`]):
//!    etcd's trailer and SHA-256 checked on the fly, optional zstd, temp file + fsync + atomic
//!    rename, manifest of the same shape beside it. Memory stays bounded: russh's channel queue
//!    is bounded, so a slow disk slows the sender down through the SSH window;
//! 5. status again (`revision_after`) and a serializable `get` of the whole key space at the
//!    snapshot's revision, limited to one key, whose `count` is `key_count` (as the gRPC path's
//!    count-only request).
//!
//! After a failure the directory is also removed from this side when the session still works.
//! The manifest's `endpoint` reads `ssh://user@host:port -> https://127.0.0.1:2379`.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use rackpipe_ssh::{ConnectOptions, Output, Session, shell_quote};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::snapshot::{Before, Chunk, Partial, Snapshot, SnapshotOptions, Taken};
use crate::target::TlsFiles;

/// Exit status of the script when the remote temp directory cannot be made.
const EXIT_MKDIR: u32 = 90;
/// Exit status of the script when `etcdctl snapshot save` fails.
const EXIT_SAVE: u32 = 91;
/// Exit status of the script when the saved file cannot be read back.
const EXIT_CAT: u32 = 92;
/// The shell's "command not found".
const EXIT_NOT_FOUND: u32 = 127;
/// Longest stderr excerpt put into an error message.
const REASON_LIMIT: usize = 300;

/// One master reached over SSH.
#[derive(Debug, Clone)]
pub struct SshMember {
    /// Member name (the master's node name), for messages.
    pub name: String,
    /// How to reach and authenticate to it (host key policy included).
    pub ssh: ConnectOptions,
}

/// How to take a snapshot on the masters over SSH.
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// Masters tried in order until one delivers a whole snapshot.
    pub members: Vec<SshMember>,
    /// `etcdctl` on the masters (a name on `PATH` or an absolute path).
    pub etcdctl: String,
    /// The client URL `etcdctl` uses on the master (kubeadm's etcd listens on loopback).
    pub endpoint: String,
    /// Client TLS files, as paths on the master.
    pub tls: TlsFiles,
    /// Directory on the master for the temporary snapshot (needs room for one database).
    pub remote_tmp: String,
    /// Limit for one `etcdctl endpoint status` / key-count `get`.
    pub command_timeout: Duration,
    /// Limit for `etcdctl snapshot save` (until the first byte comes back).
    pub save_timeout: Duration,
    /// A stream that delivers nothing for this long is abandoned.
    pub idle_timeout: Duration,
}

impl SshTarget {
    /// A target with kubeadm's defaults: `etcdctl` on `PATH`, `https://127.0.0.1:2379`, the
    /// `healthcheck-client` certificate ([`TlsFiles::kubeadm_healthcheck`]), `/var/tmp`, 30 s
    /// per command, 10 min for the save, 30 s stream idle.
    #[must_use]
    pub fn new(members: Vec<SshMember>) -> Self {
        Self {
            members,
            etcdctl: "etcdctl".to_owned(),
            endpoint: "https://127.0.0.1:2379".to_owned(),
            tls: TlsFiles::kubeadm_healthcheck(),
            remote_tmp: "/var/tmp".to_owned(),
            command_timeout: Duration::from_secs(30),
            save_timeout: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(30),
        }
    }

    /// `ETCDCTL_API=3 etcdctl --endpoints … --cacert … --cert … --key …`, quoted for a POSIX shell.
    fn etcdctl_prefix(&self) -> String {
        let path = |p: &Path| shell_quote(&p.to_string_lossy());
        format!(
            "ETCDCTL_API=3 {} --endpoints={} --cacert={} --cert={} --key={}",
            shell_quote(&self.etcdctl),
            shell_quote(&self.endpoint),
            path(&self.tls.ca),
            path(&self.tls.cert),
            path(&self.tls.key),
        )
    }

    /// The script that saves, streams and always removes the snapshot in `dir`.
    fn save_script(&self, dir: &str) -> String {
        format!(
            "set -u; umask 077; d={dir}; mkdir -m 700 -- \"$d\" || exit {EXIT_MKDIR}; \
             trap 'rm -rf -- \"$d\"' EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; \
             trap 'exit 141' PIPE; trap 'exit 143' TERM; \
             {etcdctl} snapshot save \"$d/snapshot.db\" >&2 || \
             {{ rc=$?; [ \"$rc\" -eq {EXIT_NOT_FOUND} ] && exit {EXIT_NOT_FOUND}; exit {EXIT_SAVE}; }}; \
             cat -- \"$d/snapshot.db\" || exit {EXIT_CAT}",
            dir = shell_quote(dir),
            etcdctl = self.etcdctl_prefix(),
        )
    }
}

/// Takes a snapshot on the first master of `target` that delivers a complete, intact one and
/// writes it plus its manifest into `dest`, exactly as [`crate::snapshot()`] does for gRPC.
///
/// Destination errors stop at once; member errors (unreachable SSH, wrong host key, `etcdctl`
/// failing on the master, a broken stream) move on to the next master. When all fail,
/// [`Error::AllEndpointsFailed`] lists each one and is transient only if every one was.
/// Nothing is left in `dest` after a failure.
///
/// # Errors
/// See above.
pub async fn snapshot_via_ssh(
    target: &SshTarget,
    dest: &Path,
    options: &SnapshotOptions,
) -> Result<Snapshot> {
    if target.members.is_empty() {
        return Err(Error::NoEndpoints("ssh.members".into()));
    }
    let inner = async {
        crate::snapshot::private_dir(dest)?;
        let mut attempts = Vec::new();
        for member in &target.members {
            match snapshot_from(member, target, dest, options).await {
                Ok(snap) => return Ok(snap),
                Err(
                    err @ (Error::NotWritable { .. }
                    | Error::DestinationFull { .. }
                    | Error::Io { .. }),
                ) => return Err(err),
                Err(err) => {
                    tracing::warn!(member = %member.name, error = %err, "member failed; trying the next one");
                    attempts.push(err);
                }
            }
        }
        Err(Error::AllEndpointsFailed { attempts })
    };
    match options.timeout {
        Some(limit) => tokio::time::timeout(limit, inner)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Timeout {
                    endpoint: target
                        .members
                        .iter()
                        .map(|m| m.ssh.label())
                        .collect::<Vec<_>>()
                        .join(","),
                    secs: limit.as_secs(),
                    during: "taking the snapshot over ssh",
                })
            }),
        None => inner.await,
    }
}

/// One member: connect, status, save + stream, status and count, clean up.
async fn snapshot_from(
    member: &SshMember,
    target: &SshTarget,
    dest: &Path,
    options: &SnapshotOptions,
) -> Result<Snapshot> {
    // The temp file first: an unusable destination fails before the master is asked anything.
    let mut partial = Partial::create(dest)?;
    let session = Session::connect(&member.ssh)
        .await
        .map_err(|source| Error::Ssh {
            member: member.name.clone(),
            source,
        })?;
    let remote = Remote {
        member,
        target,
        session: &session,
    };
    let result = async {
        let before = remote.status().await?;
        let started_at = Timestamp::now();
        let dir = format!(
            "{}/etcd-backup.{}",
            target.remote_tmp.trim_end_matches('/'),
            unique_suffix()
        );
        let streamed = remote.stream(&dir, &mut partial, options).await;
        if streamed.is_err() {
            // Belt and braces: the script's trap removes it; this covers a killed shell.
            let _ = tokio::time::timeout(
                target.command_timeout,
                session.exec(&format!("rm -rf -- {}", shell_quote(&dir))),
            )
            .await;
        }
        let written = streamed?;
        let after = remote.status().await.ok();
        let key_count = remote.key_count(before.revision).await.ok();
        Ok(Taken {
            endpoint: format!(
                "ssh://{}@{} -> {}",
                member.ssh.user,
                member.ssh.label(),
                target.endpoint
            ),
            revision_after: after.as_ref().map_or(before.revision, |a| a.revision),
            before,
            key_count,
            started_at,
            written,
        })
    }
    .await;
    session.close().await;
    partial.finish(options, result?)
}

/// Commands on one master.
struct Remote<'a> {
    member: &'a SshMember,
    target: &'a SshTarget,
    session: &'a Session,
}

impl Remote<'_> {
    fn ssh(&self, source: rackpipe_ssh::Error) -> Error {
        Error::Ssh {
            member: self.member.name.clone(),
            source,
        }
    }

    fn failed(&self, during: &'static str, reason: String, transient: bool) -> Error {
        Error::Remote {
            member: self.member.name.clone(),
            host: self.member.ssh.label(),
            during,
            reason,
            transient,
        }
    }

    /// Runs a short `etcdctl` command and returns its stdout, or an error naming `during`.
    async fn etcdctl(&self, args: &str, during: &'static str) -> Result<Vec<u8>> {
        let command = format!("{} {args}", self.target.etcdctl_prefix());
        let out = self
            .session
            .exec_with(&command, None, self.target.command_timeout)
            .await
            .map_err(|e| self.ssh(e))?;
        if out.success() {
            Ok(out.stdout)
        } else {
            let (reason, transient) = explain(&out);
            Err(self.failed(during, reason, transient))
        }
    }

    async fn status(&self) -> Result<Before> {
        let during = "etcdctl endpoint status";
        let stdout = self.etcdctl("endpoint status -w json", during).await?;
        parse_status(&stdout).map_err(|reason| self.failed(during, reason, false))
    }

    async fn key_count(&self, revision: i64) -> Result<i64> {
        // `--keys-only --limit=1`: the response's `count` is the whole range's, and unlike
        // `--count-only` (etcdctl >= 3.5) this works with every v3 etcdctl.
        let during = "etcdctl get (key count)";
        let stdout = self
            .etcdctl(
                &format!(
                    "get '' --prefix --keys-only --limit=1 --consistency=s --rev={revision} -w json"
                ),
                during,
            )
            .await?;
        parse_count(&stdout).map_err(|reason| self.failed(during, reason, false))
    }

    /// Runs the save script and streams its output into `partial`'s writer.
    async fn stream(
        &self,
        dir: &str,
        partial: &mut Partial,
        options: &SnapshotOptions,
    ) -> Result<crate::snapshot::Written> {
        let label = self.member.ssh.label();
        let mut process = self
            .session
            .exec_streaming(&self.target.save_script(dir))
            .await
            .map_err(|e| self.ssh(e))?;
        let (tx, writer) = partial.spawn_writer(options.zstd_level)?;
        // Progress: the save runs first (nothing streams yet), then the bytes arrive. The
        // size is unknown until the end, so the last event carries it as the total.
        let name = &self.member.name;
        tracing::info!(target: "progress", step = %format!("etcdctl snapshot save on {name} (via ssh)"));
        let step = format!("etcd snapshot from {name} via ssh");
        let pumped: Result<bool> = async {
            let mut first = true;
            let mut streamed = 0u64;
            loop {
                let (limit, during) = if first {
                    (self.target.save_timeout, "running etcdctl snapshot save")
                } else {
                    (self.target.idle_timeout, "receiving the snapshot")
                };
                let next = tokio::time::timeout(limit, process.next_stdout())
                    .await
                    .map_err(|_| Error::Timeout {
                        endpoint: format!("{}: {label}", self.member.name),
                        secs: limit.as_secs(),
                        during,
                    })?
                    .map_err(|e| self.ssh(e))?;
                match next {
                    Some(data) => {
                        first = false;
                        streamed += data.len() as u64;
                        tracing::info!(target: "progress", step = %step, done = streamed, unit = "bytes");
                        if tx.send(Chunk::Data(data)).await.is_err() {
                            // The writer stopped: its error is reported by `join`.
                            return Ok(false);
                        }
                    }
                    None => {
                        tracing::info!(target: "progress", step = %step, done = streamed, total = streamed, unit = "bytes");
                        return Ok(true);
                    }
                }
            }
        }
        .await;
        let received: Result<()> = async {
            if !pumped? {
                // Stop the remote `cat` (SIGPIPE; its trap removes the directory).
                process.close().await;
                return Ok(());
            }
            let out = tokio::time::timeout(self.target.idle_timeout, process.finish())
                .await
                .map_err(|_| Error::Timeout {
                    endpoint: format!("{}: {label}", self.member.name),
                    secs: self.target.idle_timeout.as_secs(),
                    during: "waiting for the remote script to end",
                })?
                .map_err(|e| self.ssh(e))?;
            if out.success() {
                let _ = tx.send(Chunk::Done).await;
                return Ok(());
            }
            let (reason, transient) = explain(&out);
            Err(match out.status {
                Some(EXIT_MKDIR) => {
                    self.failed("creating the remote temp directory", reason, false)
                }
                Some(EXIT_SAVE) => self.failed("etcdctl snapshot save", reason, transient),
                Some(EXIT_NOT_FOUND) => self.failed(
                    "etcdctl snapshot save",
                    format!("{} not found on the master ({reason})", self.target.etcdctl),
                    false,
                ),
                Some(EXIT_CAT) => self.failed("reading the remote snapshot", reason, false),
                None => self.failed(
                    "etcdctl snapshot save",
                    format!("the remote script ended without an exit status ({reason})"),
                    true,
                ),
                Some(_) => self.failed("etcdctl snapshot save", reason, transient),
            })
        }
        .await;
        drop(tx);
        writer.join(received, &format!("{}: {label}", self.member.name))
    }
}

/// One line for an error: the exit status and the most telling stderr line (etcdctl's
/// `Error: …` if there is one, else the last non-empty line), plus whether it looks like a
/// member that is down (worth retrying).
fn explain(out: &Output) -> (String, bool) {
    let stderr = out.stderr_text();
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("Error"))
        .or_else(|| lines.last())
        .map_or_else(String::new, |l| (*l).to_owned());
    let status = out
        .status
        .map_or_else(|| "no exit status".to_owned(), |s| format!("exit {s}"));
    let mut reason = if line.is_empty() {
        status
    } else {
        format!("{status}: {line}")
    };
    if reason.len() > REASON_LIMIT {
        let mut cut = REASON_LIMIT;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    let lower = stderr.to_ascii_lowercase();
    let transient = [
        "deadline exceeded",
        "connection refused",
        "unavailable",
        "no leader",
        "timed out",
        "i/o timeout",
    ]
    .iter()
    .any(|n| lower.contains(n));
    (reason, transient)
}

#[derive(Deserialize)]
struct EndpointStatus {
    #[serde(rename = "Status")]
    status: StatusBody,
}

#[derive(Deserialize)]
struct StatusBody {
    header: Header,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "dbSize")]
    db_size: i64,
    #[serde(default, rename = "raftIndex")]
    raft_index: u64,
    #[serde(default, rename = "raftTerm")]
    raft_term: u64,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    cluster_id: u64,
    #[serde(default)]
    member_id: u64,
    #[serde(default)]
    revision: i64,
}

#[derive(Deserialize)]
struct CountOnly {
    #[serde(default)]
    count: i64,
}

/// `etcdctl endpoint status -w json` (one endpoint) → what the manifest needs.
fn parse_status(stdout: &[u8]) -> std::result::Result<Before, String> {
    let all: Vec<EndpointStatus> = serde_json::from_slice(stdout)
        .map_err(|e| format!("unexpected output (not endpoint status JSON): {e}"))?;
    let [one] = <[EndpointStatus; 1]>::try_from(all)
        .map_err(|all| format!("expected one endpoint's status, got {}", all.len()))?;
    let s = one.status;
    if s.header.member_id == 0 || s.header.cluster_id == 0 {
        return Err("status without member or cluster id".to_owned());
    }
    Ok(Before {
        cluster_id: s.header.cluster_id,
        member_id: s.header.member_id,
        revision: s.header.revision,
        raft_index: s.raft_index,
        raft_term: s.raft_term,
        db_size: s.db_size,
        version: s.version,
    })
}

/// `etcdctl get --count-only -w json` → the count.
fn parse_count(stdout: &[u8]) -> std::result::Result<i64, String> {
    serde_json::from_slice::<CountOnly>(stdout)
        .map(|c| c.count)
        .map_err(|e| format!("unexpected output (not get JSON): {e}"))
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        Timestamp::now().as_nanosecond(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn status_json_of_etcdctl_3_4_parses() {
        let json = br#"[{"Endpoint":"https://127.0.0.1:2379","Status":{"header":{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":803,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":10276657743932975437,"raftIndex":812,"raftTerm":2,"raftAppliedIndex":812,"dbSizeInUse":20480}}]"#;
        let b = parse_status(json).unwrap();
        assert_eq!(b.cluster_id, 14_841_639_068_965_178_418);
        assert_eq!(b.member_id, 10_276_657_743_932_975_437);
        assert_eq!(b.revision, 803);
        assert_eq!((b.raft_index, b.raft_term, b.db_size), (812, 2, 20480));
        assert_eq!(b.version, "3.4.23");
        assert!(parse_status(b"[]").unwrap_err().contains("got 0"));
        assert!(parse_status(b"Error: x").is_err());
        assert_eq!(
            parse_count(br#"{"header":{"revision":9},"count":272}"#),
            Ok(272)
        );
        assert_eq!(parse_count(br#"{"header":{"revision":9}}"#), Ok(0));
    }

    #[test]
    fn the_script_quotes_paths_and_always_cleans_up() {
        let mut t = SshTarget::new(Vec::new());
        t.tls.key = "/etc/it's here/k.key".into();
        let script = t.save_script("/var/tmp/etcd-backup.1-2-3");
        assert!(
            script.contains(r"--key='/etc/it'\''s here/k.key'"),
            "{script}"
        );
        assert!(script.contains("umask 077"));
        assert!(script.contains("trap 'rm -rf -- \"$d\"' EXIT"));
        assert!(script.contains("--cacert=/etc/kubernetes/pki/etcd/ca.crt"));
        assert!(script.contains("--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt"));
        assert!(script.contains("--endpoints=https://127.0.0.1:2379"));
    }

    #[test]
    fn explain_prefers_etcdctl_error_lines() {
        let out = Output {
            status: Some(EXIT_SAVE),
            stdout: Vec::new(),
            stderr: b"{\"level\":\"info\",\"msg\":\"created temporary db file\"}\nError: context deadline exceeded\n"
                .to_vec(),
        };
        let (reason, transient) = explain(&out);
        assert_eq!(reason, "exit 91: Error: context deadline exceeded");
        assert!(transient);
        let out = Output {
            status: Some(EXIT_SAVE),
            stdout: Vec::new(),
            stderr: b"Error: open /nope/k.key: no such file or directory\n".to_vec(),
        };
        assert!(!explain(&out).1);
        let quiet = Output {
            status: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        assert_eq!(explain(&quiet).0, "no exit status");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_status(&bytes);
            let _ = parse_count(&bytes);
            let out = Output { status: Some(1), stdout: Vec::new(), stderr: bytes };
            let (reason, _) = explain(&out);
            prop_assert!(!reason.contains('\n'));
        }
    }
}
