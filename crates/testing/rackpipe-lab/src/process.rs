//! Daemons on lab hosts: started detached (their own process group, stdin from /dev/null,
//! stdout and stderr appended to `host.dir/logs/NAME.log`) so they outlive the CLI that started
//! them, and stopped with SIGTERM, then SIGKILL after a bounded wait.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::error::LabError;
use crate::host::Host;
use crate::state::DaemonRecord;
use crate::topology::describe;

/// How long `stop` waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The log file of daemon `name` on `host`.
#[must_use]
pub fn log_path(host: &Host, name: &str) -> PathBuf {
    host.path("logs").join(format!("{name}.log"))
}

/// Spawns `cmd` (built with [`Host::command`]) detached as daemon `name` on `host`.
///
/// # Errors
/// The log file cannot be opened or the command cannot be started.
pub fn spawn(host: &Host, name: &str, mut cmd: Command) -> Result<(DaemonRecord, Child), LabError> {
    let log = log_path(host, name);
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| LabError::io(&log, &e))
    };
    let line = describe(&cmd);
    let argv: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    cmd.stdin(Stdio::null())
        .stdout(open()?)
        .stderr(open()?)
        .process_group(0);
    let child = cmd.spawn().map_err(|e| LabError::Daemon {
        host: host.name.clone(),
        daemon: name.to_owned(),
        message: format!("cannot start `{line}`: {e}"),
    })?;
    Ok((
        DaemonRecord {
            name: name.to_owned(),
            host: host.name.clone(),
            pid: child.id(),
            log,
            command: line,
            argv,
        },
        child,
    ))
}

/// Whether process `pid` exists and is not a zombie.
#[must_use]
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X') | None)
        }
        Err(_) => false,
    }
}

fn pid_of(pid: u32) -> Option<Pid> {
    i32::try_from(pid)
        .ok()
        .filter(|p| *p > 1)
        .map(Pid::from_raw)
}

/// Stops a daemon: SIGTERM to its process group, then SIGKILL after [`STOP_GRACE`]. `child`
/// (when this process started it) is reaped. Already gone is success.
pub fn stop(record: &DaemonRecord, child: Option<&mut Child>) {
    let Some(pid) = pid_of(record.pid) else {
        return;
    };
    let mut child = child;
    let gone = |child: &mut Option<&mut Child>| match child {
        Some(c) => c.try_wait().map(|s| s.is_some()).unwrap_or(true),
        None => !alive(record.pid),
    };
    if gone(&mut child) {
        return;
    }
    let _ = killpg(pid, Signal::SIGTERM);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if gone(&mut child) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = kill(pid, Signal::SIGKILL);
    if let Some(c) = child {
        let _ = c.wait();
    } else {
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive(record.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_kills_a_term_ignoring_process_group() {
        let dir = std::env::temp_dir().join(format!("rp-lab-proc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let host = Host {
            name: "t".into(),
            netns: "none".into(),
            address: std::net::Ipv4Addr::LOCALHOST,
            dir: dir.clone(),
            binds: vec![],
        };
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap '' TERM; echo started; sleep 30 & wait"]);
        let (rec, mut child) = spawn(&host, "sleeper", cmd).unwrap();
        assert!(alive(rec.pid));
        // Wait until the trap is set (the echo comes after it).
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(log_path(&host, "sleeper"))
            .unwrap_or_default()
            .contains("started")
        {
            assert!(Instant::now() < deadline, "the shell never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        let t = Instant::now();
        stop(&rec, Some(&mut child));
        assert!(!alive(rec.pid));
        assert!(t.elapsed() < STOP_GRACE + Duration::from_secs(3));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
