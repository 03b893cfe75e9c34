//! The real daemons the lab starts on its hosts: OpenBao, HAProxy + keepalived, etcd and
//! nfs-ganesha, plus the throwaway PKI they share.
//!
//! Every daemon is started the same way ([`spawn`]): in its host's network and mount
//! namespace ([`Host::command`]), detached in its own process group, with stdout and stderr
//! appended to `<host.dir>/logs/<daemon>.log` and its pid written to
//! `<host.dir>/run/<daemon>.pid` (names in [`HAPROXY`], [`KEEPALIVED`], ...). The lab's
//! `systemctl` shim signals the pids in those files; [`stop`] ends a daemon by its pid file.
//!
//! Probes run the real clients (`curl`, `etcdctl`, `nfs-ls`) inside the host's namespace:
//! the lab's addresses (198.18.0.0/15) are reachable only there.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::host::Host;

pub mod etcd;
pub mod ganesha;
pub mod haproxy;
pub mod openbao;
pub mod pki;

/// Daemon name of HAProxy (`run/haproxy.pid` holds the master's pid; SIGUSR2 reloads).
pub const HAPROXY: &str = "haproxy";
/// Daemon name of keepalived (`run/keepalived.pid` holds the parent's pid; SIGHUP reloads).
pub const KEEPALIVED: &str = "keepalived";
/// Daemon name of an OpenBao server.
pub const OPENBAO: &str = "openbao";
/// Daemon name of an etcd member.
pub const ETCD: &str = "etcd";
/// Daemon name of nfs-ganesha.
pub const GANESHA: &str = "ganesha";

/// Sub-directory of a host's dir holding pid files (and sockets).
pub const RUN_DIR: &str = "run";
/// Sub-directory of a host's dir holding daemon logs.
pub const LOG_DIR: &str = "logs";

/// What can go wrong while starting, probing or stopping a daemon.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A program could not be started at all.
    #[error("{host}: cannot run {program}: {source}")]
    Spawn {
        /// The lab host (or `local`).
        host: String,
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An external tool is not installed.
    #[error("`{tool}` not found: {hint}")]
    ToolMissing {
        /// The tool.
        tool: String,
        /// Where it was looked for / how to install it.
        hint: String,
    },
    /// A helper command (openssl, kill, ...) failed.
    #[error("{host}: {what} failed: {detail}")]
    Command {
        /// The lab host (or `local`).
        host: String,
        /// What was run.
        what: String,
        /// Its first error line or exit status.
        detail: String,
    },
    /// A daemon exited while the lab waited for it.
    #[error("{host}: {daemon} exited during start-up; last log line: {last_line} (log {log})")]
    Exited {
        /// The lab host.
        host: String,
        /// The daemon name.
        daemon: String,
        /// The last non-empty line of its log.
        last_line: String,
        /// Its log file.
        log: PathBuf,
    },
    /// A daemon did not become ready in time.
    #[error("{host}: {what} not ready after {waited:?}: {detail}")]
    Timeout {
        /// The lab host.
        host: String,
        /// What was awaited.
        what: String,
        /// How long the lab waited.
        waited: Duration,
        /// The last probe result.
        detail: String,
    },
    /// A host lacks the bind mount a daemon's config directory needs.
    #[error("{host}: no bind mount onto {target} (Host.binds must map a host dir onto it)")]
    NoBind {
        /// The lab host.
        host: String,
        /// The bind target, e.g. `/etc/haproxy`.
        target: PathBuf,
    },
    /// The arguments do not describe a startable set-up (e.g. no hosts).
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One started daemon process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Daemon {
    /// The daemon name ([`HAPROXY`], [`ETCD`], ...).
    pub name: String,
    /// The lab host it runs on.
    pub host: String,
    /// Its pid (the program itself: `ip netns exec`, `unshare` and `sh -c exec` all exec).
    pub pid: u32,
    /// `<host.dir>/run/<name>.pid`.
    pub pid_file: PathBuf,
    /// `<host.dir>/logs/<name>.log`.
    pub log: PathBuf,
}

impl Daemon {
    /// Whether the process is still alive (not gone, not a zombie).
    #[must_use]
    pub fn is_running(&self) -> bool {
        is_alive(self.pid)
    }

    /// Stops the daemon: [`stop`] on its pid file, or on its pid when the file is gone
    /// (a daemon that writes its own pid file may have died before writing it).
    ///
    /// # Errors
    /// As [`stop`].
    pub fn stop(&self, grace: Duration) -> Result<Stopped> {
        if read_pid(&self.pid_file).is_some() {
            stop(&self.pid_file, grace)
        } else {
            stop_pid(self.pid, grace, &self.pid_file)
        }
    }

    /// `Ok` while the daemon runs; [`Error::Exited`] with its last log line otherwise.
    ///
    /// # Errors
    /// When the process has exited.
    pub fn ensure_running(&self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        Err(Error::Exited {
            host: self.host.clone(),
            daemon: self.name.clone(),
            last_line: last_log_line(&self.log),
            log: self.log.clone(),
        })
    }
}

/// The pid file of daemon `name` on `host`: `<host.dir>/run/<name>.pid`.
#[must_use]
pub fn pid_file(host: &Host, name: &str) -> PathBuf {
    host.path(RUN_DIR).join(format!("{name}.pid"))
}

/// The log file of daemon `name` on `host`: `<host.dir>/logs/<name>.log`.
#[must_use]
pub fn log_file(host: &Host, name: &str) -> PathBuf {
    host.path(LOG_DIR).join(format!("{name}.log"))
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(io_err(path))
}

pub(crate) fn write_file(path: &Path, content: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    std::fs::write(path, content).map_err(io_err(path))
}

/// Starts `program` on `host` as daemon `name`: detached (own process group), stdin from
/// `/dev/null`, stdout and stderr appended to [`log_file`], pid written to [`pid_file`].
/// `configure` adds arguments, environment and the working directory.
///
/// A thread reaps the process when it exits, so [`is_alive`] never sees a zombie of ours.
///
/// # Errors
/// When the run/log directories or files cannot be created, or `ip` cannot be started.
pub fn spawn(
    host: &Host,
    name: &str,
    program: impl AsRef<OsStr>,
    configure: impl FnOnce(&mut Command),
) -> Result<Daemon> {
    spawn_inner(host, name, program.as_ref(), true, configure)
}

/// Like [`spawn`], for daemons that write [`pid_file`] themselves (keepalived, ganesha:
/// they read it at start-up to refuse a second instance, so the lab must not race them).
///
/// # Errors
/// As [`spawn`].
pub fn spawn_self_pid(
    host: &Host,
    name: &str,
    program: impl AsRef<OsStr>,
    configure: impl FnOnce(&mut Command),
) -> Result<Daemon> {
    spawn_inner(host, name, program.as_ref(), false, configure)
}

fn spawn_inner(
    host: &Host,
    name: &str,
    program: &OsStr,
    write_pid: bool,
    configure: impl FnOnce(&mut Command),
) -> Result<Daemon> {
    use std::os::unix::process::CommandExt as _;
    let pid_path = pid_file(host, name);
    let log_path = log_file(host, name);
    create_dir(&host.path(RUN_DIR))?;
    create_dir(&host.path(LOG_DIR))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io_err(&log_path))?;
    let log_err = log.try_clone().map_err(io_err(&log_path))?;
    if !write_pid {
        // A stale file from an earlier run would name another process.
        let _ = std::fs::remove_file(&pid_path);
    }
    let program_name = program.to_string_lossy().into_owned();
    let mut cmd = host.command(program);
    configure(&mut cmd);
    cmd.stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        host: host.name.clone(),
        program: program_name,
        source,
    })?;
    let pid = child.id();
    if write_pid {
        write_file(&pid_path, &format!("{pid}\n"))?;
    }
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(Daemon {
        name: name.to_owned(),
        host: host.name.clone(),
        pid,
        pid_file: pid_path,
        log: log_path,
    })
}

/// The pid in `pid_file`, if it holds one.
#[must_use]
pub fn read_pid(pid_file: &Path) -> Option<u32> {
    std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&pid| pid > 1)
}

/// Fields of `/proc/<pid>/stat` after the command name: state, ppid, pgrp, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Whether `pid` is a live process (exists and is not a zombie).
#[must_use]
pub fn is_alive(pid: u32) -> bool {
    stat_fields(pid)
        .and_then(|f| f.first().cloned())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// The live children of `pid` (e.g. HAProxy's workers under the master).
#[must_use]
pub fn child_pids(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parent = pid.to_string();
    let mut out: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| stat_fields(p).is_some_and(|f| f.get(1) == Some(&parent) && f[0] != "Z"))
        .collect();
    out.sort_unstable();
    out
}

fn process_group(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// Sends `signal` (`TERM`, `HUP`, `USR2`, `KILL`, ...) to `pid` with `kill(1)`.
///
/// # Errors
/// When `kill` fails (no such process, no permission).
pub fn signal(pid: u32, signal: &str) -> Result<()> {
    let out = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .output()
        .map_err(|source| Error::Spawn {
            host: "local".to_owned(),
            program: "kill".to_owned(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            host: "local".to_owned(),
            what: format!("kill -s {signal} {pid}"),
            detail: first_line(&out.stderr),
        })
    }
}

/// Sends `sig` to the daemon whose pid is in `pid_file` (the `systemctl reload` path:
/// `USR2` for HAProxy, `HUP` for keepalived).
///
/// # Errors
/// When the pid file holds no live pid, or `kill` fails.
pub fn signal_pid_file(pid_file: &Path, sig: &str) -> Result<()> {
    match read_pid(pid_file) {
        Some(pid) if is_alive(pid) => signal(pid, sig),
        _ => Err(Error::Invalid(format!(
            "{}: no running process to send SIG{sig} to",
            pid_file.display()
        ))),
    }
}

/// How [`stop`] ended a daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Stopped {
    /// The pid file was missing or its process was already gone.
    NotRunning,
    /// The daemon exited after SIGTERM.
    Terminated,
    /// The daemon ignored SIGTERM for the whole grace period and was killed.
    Killed,
}

/// Stops the daemon whose pid is in `pid_file`: SIGTERM to its process group (the daemon
/// leads one: HAProxy's workers and keepalived's children go too), up to `grace` for it to
/// exit, then SIGKILL to the group. Removes the pid file.
///
/// # Errors
/// When the process survives SIGKILL for 5 s (e.g. stuck in the kernel).
pub fn stop(pid_file: &Path, grace: Duration) -> Result<Stopped> {
    match read_pid(pid_file) {
        Some(pid) => stop_pid(pid, grace, pid_file),
        None => {
            let _ = std::fs::remove_file(pid_file);
            Ok(Stopped::NotRunning)
        }
    }
}

fn stop_pid(pid: u32, grace: Duration, pid_file: &Path) -> Result<Stopped> {
    if !is_alive(pid) {
        let _ = std::fs::remove_file(pid_file);
        return Ok(Stopped::NotRunning);
    }
    // Signal the group only when the daemon leads it (it does when we spawned it).
    let group = process_group(pid) == Some(pid);
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    let kill = |sig: &str| {
        let _ = Command::new("kill")
            .args(["-s", sig, "--", &target])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    let group_alive = || {
        is_alive(pid)
            || (group
                && std::fs::read_dir("/proc").is_ok_and(|entries| {
                    entries
                        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                        .any(|p| process_group(p) == Some(pid) && is_alive(p))
                }))
    };
    kill("TERM");
    let mut outcome = Stopped::Terminated;
    if !wait_for(grace, Duration::from_millis(20), || !group_alive()) {
        kill("KILL");
        outcome = Stopped::Killed;
        if !wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
            !group_alive()
        }) {
            return Err(Error::Command {
                host: "local".to_owned(),
                what: format!("stop {}", pid_file.display()),
                detail: format!("pid {pid} survived SIGKILL"),
            });
        }
    }
    let _ = std::fs::remove_file(pid_file);
    Ok(outcome)
}

/// Stops every daemon with a pid file in `host`'s run dir (main processes first, then
/// leftover children such as `keepalived-vrrp`), each with [`stop`]. Returns the pid
/// file stems and outcomes.
///
/// # Errors
/// The first failure of [`stop`]; the other daemons are still stopped.
pub fn stop_host(host: &Host, grace: Duration) -> Result<Vec<(String, Stopped)>> {
    let run = host.path(RUN_DIR);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&run) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pid"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(Error::Io { path: run, source }),
    };
    let stem = |p: &PathBuf| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    files.sort_by_key(|p| (stem(p).contains('-'), stem(p)));
    let mut out = Vec::new();
    let mut first_error = None;
    for file in files {
        match stop(&file, grace) {
            Ok(outcome) => out.push((stem(&file), outcome)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Polls `probe` every `interval` until it returns true or `timeout` passes; the result of
/// the last probe.
pub fn wait_for(timeout: Duration, interval: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if probe() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(interval);
    }
}

/// Finds `tool`: the path in env var `env` when set, else `PATH`, `/usr/sbin`, `/sbin`.
///
/// # Errors
/// [`Error::ToolMissing`] when it is nowhere.
pub fn find_tool(tool: &str, env: Option<&str>) -> Result<PathBuf> {
    if let Some(var) = env
        && let Some(value) = std::env::var_os(var)
    {
        let path = PathBuf::from(value);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::ToolMissing {
                tool: tool.to_owned(),
                hint: format!("{var}={} is not a file", path.display()),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::ToolMissing {
            tool: tool.to_owned(),
            hint: env.map_or_else(
                || "not on PATH".to_owned(),
                |var| format!("not on PATH and {var} is unset"),
            ),
        })
}

/// A command running `program` in `host`'s network namespace only (`ip netns exec`): for
/// probes and clients that need no bind mounts.
#[must_use]
pub fn netns_command(host: &Host, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &host.netns]).arg(program);
    cmd.stdin(Stdio::null());
    cmd
}

/// The HTTP status of `GET url` as seen from inside `host`'s namespace (`curl`, TLS verified
/// against `ca` when given, optional client certificate `(cert, key)`), or `None` when
/// nothing answered within `timeout`.
#[must_use]
pub fn http_status(
    host: &Host,
    url: &str,
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
    timeout: Duration,
) -> Option<u16> {
    let mut cmd = netns_command(host, "curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--noproxy",
        "*",
    ])
    .args(["--max-time", &format!("{:.1}", timeout.as_secs_f64())]);
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    if let Some((cert, key)) = client {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let out = cmd.arg(url).stderr(Stdio::null()).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .ok()
        .filter(|&code| code != 0)
}

/// Whether a TCP connection to `addr:port` succeeds from inside `host`'s namespace (bash's
/// `/dev/tcp`, bounded by `timeout(1)` to 2 s).
#[must_use]
pub fn tcp_open(host: &Host, addr: std::net::IpAddr, port: u16) -> bool {
    netns_command(host, "timeout")
        .args([
            "2",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/{addr}/{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The first non-empty line of a command's output (for one-line error messages).
pub(crate) fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)")
        .to_owned()
}

/// The last non-empty line of a log file.
#[must_use]
pub fn last_log_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(empty log)")
        .to_owned()
}

/// The source directory of `host`'s bind mount onto `target` (where to write files the
/// host sees at `target`).
///
/// # Errors
/// [`Error::NoBind`] when the host has no such bind mount.
pub fn bind_source(host: &Host, target: &Path) -> Result<PathBuf> {
    host.binds
        .iter()
        .find(|(_, t)| t == target)
        .map(|(source, _)| source.clone())
        .ok_or_else(|| Error::NoBind {
            host: host.name.clone(),
            target: target.to_path_buf(),
        })
}

/// Waits until `probe` succeeds for `daemon`, failing early when the daemon exits.
pub(crate) fn wait_daemon(
    daemon: &Daemon,
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> std::result::Result<(), String>,
) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let last = match probe() {
            Ok(()) => return Ok(start.elapsed()),
            Err(detail) => detail,
        };
        daemon.ensure_running()?;
        if start.elapsed() >= timeout {
            return Err(Error::Timeout {
                host: daemon.host.clone(),
                what: what.to_owned(),
                waited: timeout,
                detail: last,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::process::CommandExt as _;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rackpipe-lab-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `sh -c script` in its own process group, pid written to `dir/x.pid`, reaped by a thread.
    fn detached(dir: &Path, script: &str) -> (u32, PathBuf) {
        let mut child = Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        let file = dir.join("x.pid");
        std::fs::write(&file, format!("{pid}\n")).unwrap();
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        (pid, file)
    }

    #[test]
    fn pid_files_and_liveness() {
        let dir = scratch("pids");
        let file = dir.join("a.pid");
        assert_eq!(read_pid(&file), None);
        std::fs::write(&file, "  4242\n").unwrap();
        assert_eq!(read_pid(&file), Some(4242));
        std::fs::write(&file, "1\n").unwrap();
        assert_eq!(read_pid(&file), None, "never pid 1");
        std::fs::write(&file, "garbage").unwrap();
        assert_eq!(read_pid(&file), None);
        assert!(is_alive(std::process::id()));
        assert!(!is_alive(u32::MAX - 1));
        assert_eq!(
            stop(&dir.join("none.pid"), Duration::from_millis(10)).unwrap(),
            Stopped::NotRunning
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stop_terminates_the_whole_group_and_removes_the_pid_file() {
        let dir = scratch("stop");
        // A parent with a child in the same group: both must go.
        let (pid, file) = detached(&dir, "sleep 30 & wait");
        assert!(wait_for(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || { !child_pids(pid).is_empty() }
        ));
        let children = child_pids(pid);
        assert_eq!(
            stop(&file, Duration::from_secs(5)).unwrap(),
            Stopped::Terminated
        );
        assert!(!is_alive(pid));
        assert!(children.iter().all(|&c| !is_alive(c)), "{children:?}");
        assert!(!file.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stop_escalates_to_sigkill_when_term_is_ignored() {
        let dir = scratch("kill");
        let (pid, file) = detached(&dir, "trap '' TERM; while :; do sleep 0.1; done");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            stop(&file, Duration::from_millis(300)).unwrap(),
            Stopped::Killed
        );
        assert!(!is_alive(pid));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn signal_reports_a_missing_process_in_one_line() {
        let dir = scratch("sig");
        let err = signal_pid_file(&dir.join("gone.pid"), "HUP")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("gone.pid: no running process to send SIGHUP to"),
            "{err}"
        );
        assert!(!err.contains('\n'));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
