//! nfs-ganesha on the NAS host: NFSv4 only on `HOST_ADDR:2049` (no rpcbind, no NLM, no
//! rquota, no grace period), VFS exports of lab directories, and optional `%include`s of
//! export files written by others (`nfs-export` renders `/etc/ganesha/<site>.conf`).
//! The kernel has no NFS client here: clients are libnfs's `nfs-ls`/`nfs-cat`/`nfs-cp`
//! (`libnfs-utils`), see `../shared/reference/crates-nfs.md` §7.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::{
    Daemon, Error, GANESHA, Result, create_dir, first_line, netns_command, pid_file,
    spawn_self_pid, tcp_open, wait_daemon, write_file,
};
use crate::host::Host;

/// The NFS port.
pub const NFS_PORT: u16 = 2049;

/// One VFS export.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Export {
    /// `Export_Id` (unique, > 0).
    pub export_id: u16,
    /// The exported directory on this machine (created when missing).
    pub path: PathBuf,
    /// The NFSv4 pseudo path (`/data`).
    pub pseudo: String,
    /// Clients allowed (addresses or CIDRs).
    pub clients: Vec<String>,
    /// Read-write (else read-only).
    pub rw: bool,
}

impl Export {
    /// A read-write export of `<host.dir>/exports/<name>` at pseudo path `/<name>`.
    #[must_use]
    pub fn lab(host: &Host, export_id: u16, name: &str, clients: Vec<String>) -> Self {
        Self {
            export_id,
            path: host.path("exports").join(name),
            pseudo: format!("/{name}"),
            clients,
            rw: true,
        }
    }

    /// This export at another NFSv4 pseudo path (the site's: a client sees the NAS's path).
    #[must_use]
    pub fn at(mut self, pseudo: &str) -> Self {
        pseudo.clone_into(&mut self.pseudo);
        self
    }
}

/// What [`start`] serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Exports defined in the main config.
    pub exports: Vec<Export>,
    /// Files `%include`d after them (must exist when ganesha starts).
    pub includes: Vec<PathBuf>,
}

/// A started nfs-ganesha.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ganesha {
    /// The process (`run/ganesha.pid`, written by ganesha).
    pub daemon: Daemon,
    /// The host's address (where port 2049 listens).
    pub address: IpAddr,
    /// The main config file.
    pub config: PathBuf,
    /// The exports served from the main config.
    pub exports: Vec<Export>,
}

impl Ganesha {
    /// The libnfs URL of `export` (`nfs://ADDR/PSEUDO?version=4`).
    #[must_use]
    pub fn url(&self, export: &Export) -> String {
        format!(
            "nfs://{}{}?version=4",
            self.address,
            export.pseudo.trim_end_matches('/')
        )
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The main ganesha config for `host`.
#[must_use]
pub fn render_config(host: &Host, recovery: &Path, options: &Options) -> String {
    let mut out = format!(
        "# nfs-ganesha of lab host {name}: NFSv4 only on {addr}:{NFS_PORT}.\n\
         NFS_CORE_PARAM {{\n\tBind_addr = {addr};\n\tNFS_Port = {NFS_PORT};\n\tProtocols = 4;\n\
         \tEnable_NLM = false;\n\tEnable_RQUOTA = false;\n}}\n\n\
         NFSv4 {{\n\tGraceless = true;\n\tRecoveryBackend = fs;\n\tRecoveryRoot = {recov};\n}}\n\n\
         NFS_KRB5 {{\n\tActive_krb5 = false;\n}}\n",
        name = host.name,
        addr = host.address,
        recov = quoted(&recovery.display().to_string()),
    );
    for e in &options.exports {
        let access = if e.rw { "RW" } else { "RO" };
        out.push_str(&format!(
            "\nEXPORT {{\n\tExport_Id = {id};\n\tPath = {path};\n\tPseudo = {pseudo};\n\
             \tAccess_Type = None;\n\tProtocols = 4;\n\tTransports = TCP;\n\tSecType = sys;\n\
             \tFSAL {{\n\t\tName = VFS;\n\t}}\n",
            id = e.export_id,
            path = quoted(&e.path.display().to_string()),
            pseudo = quoted(&e.pseudo),
        ));
        if !e.clients.is_empty() {
            out.push_str(&format!(
                "\tCLIENT {{\n\t\tClients = {};\n\t\tAccess_Type = {access};\n\t\tSquash = No_Root_Squash;\n\t}}\n",
                e.clients.join(", ")
            ));
        }
        out.push_str("}\n");
    }
    for include in &options.includes {
        out.push_str(&format!(
            "\n%include {}\n",
            quoted(&include.display().to_string())
        ));
    }
    out
}

/// Starts `ganesha.nfsd -F` on `host` with `<host.dir>/ganesha/ganesha.conf` (exports'
/// directories are created, mode 0777 so squashed clients can write). Returns at once; see
/// [`wait_serving`].
///
/// # Errors
/// Duplicate or zero export ids, a missing include file, `ganesha.nfsd` missing, file or
/// spawn failures.
pub fn start(host: &Host, options: &Options) -> Result<Ganesha> {
    let mut ids: Vec<u16> = options.exports.iter().map(|e| e.export_id).collect();
    ids.sort_unstable();
    if ids.first() == Some(&0) || ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Invalid(format!(
            "{}: ganesha export ids must be unique and > 0 (got {ids:?})",
            host.name
        )));
    }
    if let Some(missing) = options.includes.iter().find(|p| !p.is_file()) {
        return Err(Error::Invalid(format!(
            "{}: ganesha include {} does not exist",
            host.name,
            missing.display()
        )));
    }
    let ganesha = super::find_tool("ganesha.nfsd", None)?;
    let base = host.path("ganesha");
    let recovery = base.join("recovery");
    create_dir(&recovery)?;
    for e in &options.exports {
        create_dir(&e.path)?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&e.path, std::fs::Permissions::from_mode(0o777))
            .map_err(super::io_err(&e.path))?;
    }
    let config = base.join("ganesha.conf");
    write_file(&config, &render_config(host, &recovery, options))?;
    let log = super::log_file(host, GANESHA);
    let pid = pid_file(host, GANESHA);
    let daemon = spawn_self_pid(host, GANESHA, &ganesha, |cmd| {
        cmd.arg("-F")
            .arg("-f")
            .arg(&config)
            .arg("-L")
            .arg(&log)
            .arg("-p")
            .arg(&pid)
            .args(["-N", "NIV_EVENT"])
            .current_dir(&base);
    })?;
    Ok(Ganesha {
        daemon,
        address: IpAddr::V4(host.address),
        config,
        exports: options.exports.clone(),
    })
}

/// Waits until ganesha has written its pid file and accepts TCP connections on
/// `HOST_ADDR:2049` (probed from inside `host`). Returns how long it took.
///
/// # Errors
/// [`Error::Exited`] when ganesha dies, [`Error::Timeout`].
pub fn wait_serving(host: &Host, ganesha: &Ganesha, timeout: Duration) -> Result<Duration> {
    wait_daemon(&ganesha.daemon, "ganesha on port 2049", timeout, || {
        if super::read_pid(&ganesha.daemon.pid_file).is_none() {
            return Err(format!(
                "{} not written yet",
                ganesha.daemon.pid_file.display()
            ));
        }
        if tcp_open(host, ganesha.address, NFS_PORT) {
            Ok(())
        } else {
            Err(format!(
                "{}:{NFS_PORT} refuses connections",
                ganesha.address
            ))
        }
    })
}

/// Reloads ganesha's exports (SIGHUP to the pid in `host`'s `run/ganesha.pid`): added
/// and changed `EXPORT` blocks take effect, removed ones are unexported.
///
/// # Errors
/// When ganesha does not run or `kill` fails.
pub fn reload(host: &Host) -> Result<()> {
    super::signal_pid_file(&pid_file(host, GANESHA), "HUP")
}

/// Lists `url` (`nfs://ADDR/PSEUDO?version=4`) with libnfs's `nfs-ls` from inside
/// `client`'s namespace; the listed names.
///
/// # Errors
/// `nfs-ls` missing or failing (access denied, nothing exported there).
pub fn list(client: &Host, url: &str) -> Result<Vec<String>> {
    let out = netns_command(client, "timeout")
        .args(["10", "nfs-ls", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| Error::Spawn {
            host: client.name.clone(),
            program: "nfs-ls".to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            host: client.name.clone(),
            what: format!("nfs-ls {url}"),
            detail: first_line(&out.stderr),
        });
    }
    // Lines look like `-rw-r--r--  1  0  0  5 name`; the name is the last field.
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .filter(|n| n != "." && n != "..")
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn config_binds_the_host_address_v4_only_with_exports_and_includes() {
        let host = Host {
            name: "nas".into(),
            netns: "ns".into(),
            address: "198.18.1.1".parse().unwrap(),
            dir: "/lab/nas".into(),
            binds: Vec::new(),
        };
        let options = Options {
            exports: vec![Export::lab(&host, 7, "data", vec!["198.18.1.0/24".into()])],
            includes: vec!["/etc/ganesha/site.conf".into()],
        };
        let text = render_config(&host, Path::new("/lab/nas/ganesha/recovery"), &options);
        assert!(text.contains("Bind_addr = 198.18.1.1;"));
        assert!(text.contains("Protocols = 4;"));
        assert!(text.contains("Graceless = true;"));
        assert!(text.contains("Export_Id = 7;"));
        assert!(text.contains("Path = \"/lab/nas/exports/data\";"));
        assert!(text.contains("Clients = 198.18.1.0/24;"));
        assert!(text.contains("%include \"/etc/ganesha/site.conf\""));
    }
}
