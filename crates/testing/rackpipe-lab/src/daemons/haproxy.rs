//! HAProxy and keepalived on a load-balancer host, in the state a freshly installed node has
//! before `haproxy-gen` deploys the site's configs: a minimal HAProxy (master-worker, admin
//! socket, a stats page on the host's address) and a keepalived with no VRRP instance.
//!
//! Both read their configs from the paths `haproxy-gen` writes over SSH
//! (`/etc/haproxy/haproxy.cfg`, `/etc/keepalived/keepalived.conf`): the host's bind mounts
//! map a private directory onto each, and the initial files are written into the bind
//! **source**. Reloads are the ones `systemctl reload` does on a Debian node: SIGUSR2 to the
//! HAProxy master (hitless, re-reads the config, new workers), SIGHUP to the keepalived parent.
//! A keepalived reload with an invalid config makes keepalived exit: `haproxy-gen` runs
//! `keepalived -t` first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Daemon, Error, HAPROXY, KEEPALIVED, Result, bind_source, http_status, pid_file, spawn,
    spawn_self_pid, wait_daemon, write_file,
};
use crate::host::Host;

/// Where HAProxy's config directory is on a node (a bind mount in the lab).
pub const HAPROXY_DIR: &str = "/etc/haproxy";
/// The HAProxy config file HAProxy runs with.
pub const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";
/// Where keepalived's config directory is on a node (a bind mount in the lab).
pub const KEEPALIVED_DIR: &str = "/etc/keepalived";
/// The keepalived config file keepalived runs with.
pub const KEEPALIVED_CONF: &str = "/etc/keepalived/keepalived.conf";
/// HAProxy's runtime directory on a node (a bind mount in the lab, when the host has one).
pub const RUN_HAPROXY_DIR: &str = "/run/haproxy";
/// Longest UNIX socket path (`sun_path` holds 108 bytes including the NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Port of the initial config's stats page (`http://HOST_ADDR:8404/stats`).
pub const STATS_PORT: u16 = 8404;

/// A started HAProxy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Haproxy {
    /// The master process (`run/haproxy.pid`; SIGUSR2 reloads).
    pub daemon: Daemon,
    /// The config file as this machine sees it (the bind source of `/etc/haproxy`).
    pub config: PathBuf,
    /// The stats page of the initial config.
    pub stats_url: String,
    /// The admin socket of the initial config (`stats socket`), as this machine sees it.
    pub admin_socket: PathBuf,
    /// The master CLI socket (`-S`; `show proc`, `reload`), as this machine sees it.
    pub master_socket: PathBuf,
}

/// A started keepalived.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Keepalived {
    /// The parent process (`run/keepalived.pid`, written by keepalived; SIGHUP reloads).
    pub daemon: Daemon,
    /// The config file as this machine sees it (the bind source of `/etc/keepalived`).
    pub config: PathBuf,
    /// Pid file of the VRRP child (`run/keepalived-vrrp.pid`).
    pub vrrp_pid_file: PathBuf,
}

/// The initial HAProxy config of `host`: master-worker, an admin socket, and a stats page
/// on `HOST_ADDR:8404`.
#[must_use]
pub fn initial_haproxy_cfg(host: &Host, admin_socket: &Path) -> String {
    format!(
        "# Initial HAProxy config of lab host {name}; haproxy-gen replaces it.\n\
         global\n    master-worker\n    stats socket {sock} mode 600 level admin expose-fd listeners\n\n\
         defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n\
         frontend stats\n    bind {addr}:{STATS_PORT}\n    stats enable\n    stats uri /stats\n    stats refresh 10s\n",
        name = host.name,
        sock = admin_socket.display(),
        addr = host.address,
    )
}

/// The initial keepalived config of `host`: global settings only, no VRRP instance (a reload
/// with haproxy-gen's config starts the VRRP child).
#[must_use]
pub fn initial_keepalived_conf(host: &Host) -> String {
    format!(
        "# Initial keepalived config of lab host {name}; haproxy-gen replaces it.\n\
         global_defs {{\n    router_id {name}\n    enable_script_security\n    script_user root\n}}\n",
        name = host.name,
    )
}

/// Starts HAProxy on `host` in master-worker mode (`haproxy -W -db -S <master.sock> -f
/// /etc/haproxy/haproxy.cfg`; sockets in the bind source of `/run/haproxy` when the host
/// has that bind, else in `<host.dir>/run`). The master's pid goes to `<host.dir>/run/haproxy.pid`
/// and, with a `/run/haproxy` bind, to `/run/haproxy/haproxy.pid` as the host sees it (for
/// haproxy-gen's check script: render it with `pid_file: /run/haproxy/haproxy.pid`). Writes the initial config into the bind source of
/// `/etc/haproxy` when no `haproxy.cfg` is there yet (a deployed config survives a lab
/// restart). Returns at once; see [`wait_haproxy`].
///
/// # Errors
/// No bind mount onto `/etc/haproxy`, `haproxy` missing, file or spawn failures.
pub fn start_haproxy(host: &Host) -> Result<Haproxy> {
    let haproxy = super::find_tool("haproxy", None)?;
    let source = bind_source(host, Path::new(HAPROXY_DIR))?;
    let config = source.join("haproxy.cfg");
    // Sockets: in the host's own /run/haproxy when it has one (short paths, where the
    // rendered config puts its admin socket), else in its run dir. Either way the path
    // below works from outside the host's mount namespace too (the bind source).
    let run =
        bind_source(host, Path::new(RUN_HAPROXY_DIR)).unwrap_or_else(|_| host.path(super::RUN_DIR));
    let admin_socket = run.join("admin.sock");
    let master_socket = run.join("master.sock");
    for socket in [&admin_socket, &master_socket] {
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(Error::Invalid(format!(
                "{}: socket path {} is longer than {MAX_SOCKET_PATH} bytes (use a shorter lab dir)",
                host.name,
                socket.display()
            )));
        }
    }
    if !config.exists() {
        write_file(&config, &initial_haproxy_cfg(host, &admin_socket))?;
    }
    let daemon = spawn(host, HAPROXY, &haproxy, |cmd| {
        cmd.args(["-W", "-db", "-S"])
            .arg(&master_socket)
            .args(["-f", HAPROXY_CFG]);
    })?;
    // The rendered check script reads the master's pid from the render option `pid_file`;
    // with a /run/haproxy bind, `/run/haproxy/haproxy.pid` holds it too (the master's pid
    // survives reloads: it re-executes itself in place).
    if let Ok(source) = bind_source(host, Path::new(RUN_HAPROXY_DIR)) {
        write_file(&source.join("haproxy.pid"), &format!("{}\n", daemon.pid))?;
    }
    Ok(Haproxy {
        daemon,
        config,
        stats_url: format!("http://{}:{STATS_PORT}/stats", host.address),
        admin_socket,
        master_socket,
    })
}

/// Waits until the master CLI socket accepts connections and the initial config's stats
/// page answers 200 on the host's address (from inside the host's namespace). Returns how
/// long it took.
///
/// # Errors
/// [`Error::Exited`] when HAProxy dies, [`Error::Timeout`].
pub fn wait_haproxy(host: &Host, haproxy: &Haproxy, timeout: Duration) -> Result<Duration> {
    wait_daemon(&haproxy.daemon, "haproxy stats page", timeout, || {
        // The master accepts on its CLI socket a little after the worker serves.
        if let Err(e) = std::os::unix::net::UnixStream::connect(&haproxy.master_socket) {
            return Err(format!("{}: {e}", haproxy.master_socket.display()));
        }
        match http_status(host, &haproxy.stats_url, None, None, Duration::from_secs(2)) {
            Some(200) => Ok(()),
            other => Err(format!("{}: {other:?}", haproxy.stats_url)),
        }
    })
}

/// The hitless reload `systemctl reload haproxy` does: SIGUSR2 to the master in `host`'s
/// `run/haproxy.pid`.
///
/// # Errors
/// When no master runs or `kill` fails.
pub fn reload_haproxy(host: &Host) -> Result<()> {
    super::signal_pid_file(&pid_file(host, HAPROXY), "USR2")
}

/// Starts keepalived on `host` in the foreground (`keepalived -n -l -D -P -B -f
/// /etc/keepalived/keepalived.conf -p run/keepalived.pid -r run/keepalived-vrrp.pid -c ...`):
/// VRRP only, logs to the console (the daemon log). Writes the initial config into the bind
/// source of `/etc/keepalived` when no `keepalived.conf` is there yet. Waits (up to 10 s)
/// until keepalived has written its pid file.
///
/// # Errors
/// No bind mount onto `/etc/keepalived`, `keepalived` missing, file or spawn failures,
/// [`Error::Exited`] / [`Error::Timeout`] when it does not come up.
pub fn start_keepalived(host: &Host) -> Result<Keepalived> {
    let keepalived = super::find_tool("keepalived", None)?;
    let source = bind_source(host, Path::new(KEEPALIVED_DIR))?;
    let config = source.join("keepalived.conf");
    if !config.exists() {
        write_file(&config, &initial_keepalived_conf(host))?;
    }
    let run = host.path(super::RUN_DIR);
    let main_pid = pid_file(host, KEEPALIVED);
    let vrrp_pid_file = run.join(format!("{KEEPALIVED}-vrrp.pid"));
    let daemon = spawn_self_pid(host, KEEPALIVED, &keepalived, |cmd| {
        cmd.args(["-n", "-l", "-D", "-P", "-B", "-f", KEEPALIVED_CONF, "-p"])
            .arg(&main_pid)
            .arg("-r")
            .arg(&vrrp_pid_file)
            .arg("-c")
            .arg(run.join(format!("{KEEPALIVED}-checkers.pid")))
            .arg("-b")
            .arg(run.join(format!("{KEEPALIVED}-bfd.pid")));
    })?;
    wait_daemon(
        &daemon,
        "keepalived pid file",
        Duration::from_secs(10),
        || {
            if super::read_pid(&main_pid) == Some(daemon.pid) {
                Ok(())
            } else {
                Err(format!("{} not written yet", main_pid.display()))
            }
        },
    )?;
    Ok(Keepalived {
        daemon,
        config,
        vrrp_pid_file,
    })
}

/// The reload `systemctl reload keepalived` does: SIGHUP to the parent in `host`'s
/// `run/keepalived.pid`.
///
/// # Errors
/// When keepalived does not run or `kill` fails.
pub fn reload_keepalived(host: &Host) -> Result<()> {
    super::signal_pid_file(&pid_file(host, KEEPALIVED), "HUP")
}

/// HAProxy's worker pids (the children of the master); they change on every reload.
#[must_use]
pub fn haproxy_workers(haproxy: &Haproxy) -> Vec<u32> {
    super::child_pids(haproxy.daemon.pid)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn host() -> Host {
        Host {
            name: "haproxy-1".into(),
            netns: "ns".into(),
            address: "198.18.0.21".parse().unwrap(),
            dir: "/lab/haproxy-1".into(),
            binds: vec![("/lab/haproxy-1/etc-haproxy".into(), HAPROXY_DIR.into())],
        }
    }

    #[test]
    fn initial_configs_bind_the_host_address_and_define_no_vrrp_instance() {
        let h = host();
        let cfg = initial_haproxy_cfg(&h, Path::new("/lab/haproxy-1/run/admin.sock"));
        assert!(cfg.contains("master-worker"));
        assert!(cfg.contains("bind 198.18.0.21:8404"));
        assert!(cfg.contains("stats socket /lab/haproxy-1/run/admin.sock"));
        let ka = initial_keepalived_conf(&h);
        assert!(ka.contains("router_id haproxy-1"));
        assert!(!ka.contains("vrrp_instance"));
    }

    #[test]
    fn missing_bind_is_an_error_naming_the_host() {
        let h = host();
        assert_eq!(
            bind_source(&h, Path::new(HAPROXY_DIR)).unwrap(),
            PathBuf::from("/lab/haproxy-1/etc-haproxy")
        );
        let err = bind_source(&h, Path::new(KEEPALIVED_DIR)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "haproxy-1: no bind mount onto /etc/keepalived (Host.binds must map a host dir onto it)"
        );
    }
}
