//! OpenSSH on every lab host the tools reach over SSH.
//!
//! One lab client key (`DIR/creds/id_ed25519`, 0600), one ed25519 host key per host,
//! `DIR/creds/known_hosts` listing every host's address with its key, and per host an `sshd`
//! listening on `ADDRESS:22` inside the host's namespace that accepts root with the lab key
//! only. The key's `authorized_keys` line sets `PATH=<host>/bin:/usr/sbin:/usr/bin:/sbin:/bin`
//! (`PermitUserEnvironment PATH`), and a `ForceCommand` sets it again after the login shell's
//! rc files (root's `.bashrc` may prepend its own directories) and runs the command with
//! `/bin/sh -c`, so each host's `bin/` comes first: a `systemctl` shim that
//! signals the lab's daemons through `host.dir/run/<unit>.pid`, and on Kubernetes nodes the
//! kubeadm/kubectl/helm/crictl/curl TEST DOUBLE from `crates/tools/rackpipe-kubeadm-join/standin`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::LabError;
use crate::host::{Host, shell_quote};
use crate::state::{LabHost, Role};
use crate::tls::write_file;
use crate::topology::run_output;

/// The `sshd` binary.
#[must_use]
pub fn sshd_binary() -> PathBuf {
    ["/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("sshd"))
}

/// Generates an ed25519 key pair at `path` (and `path.pub`).
///
/// # Errors
/// `ssh-keygen` fails.
pub fn keygen(path: &Path, comment: &str) -> Result<(), LabError> {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    run_output(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(path),
    )
    .map(drop)
}

fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Reads the public key line of private key `key`.
///
/// # Errors
/// The `.pub` file is unreadable.
pub fn public_key(key: &Path) -> Result<String, LabError> {
    let p = pub_path(key);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_owned())
        .map_err(|e| LabError::io(&p, &e))
}

/// How a Kubernetes node's stand-in is wired.
#[derive(Debug, Clone)]
pub struct Standin {
    /// `python3` interpreter.
    pub python: PathBuf,
    /// The stand-in script.
    pub script: PathBuf,
    /// Shared cluster state directory.
    pub state_dir: PathBuf,
}

/// Writes the host key, `sshd_config`, `authorized_keys` and the `bin/` shims of one host.
/// Returns the host key's public line.
///
/// # Errors
/// Key generation or file writes fail.
pub fn prepare(
    host: &LabHost,
    client_pub: &str,
    standin: Option<&Standin>,
) -> Result<String, LabError> {
    let h = &host.host;
    let ssh = h.path("ssh");
    let bin = h.path("bin");
    std::fs::create_dir_all(&ssh).map_err(|e| LabError::io(&ssh, &e))?;
    std::fs::create_dir_all(&bin).map_err(|e| LabError::io(&bin, &e))?;
    let host_key = ssh.join("host_ed25519");
    keygen(&host_key, &format!("rackpipe-lab-{}", h.name))?;
    let path_env = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display());
    write_file(
        &ssh.join("authorized_keys"),
        format!("environment=\"PATH={path_env}\" {client_pub}\n").as_bytes(),
        0o600,
    )?;
    // `SetEnv SHLVL=1`: sshd runs ForceCommand through root's login shell, and bash reads
    // ~/.bashrc when sshd starts it (unless SHLVL says it is a nested shell). The lab must not
    // depend on the machine's .bashrc (a pyenv one cost 0.3 s per command).
    let config = format!(
        "# rackpipe lab: sshd of {name}\n\
         ListenAddress {addr}:22\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
         PermitRootLogin prohibit-password\nAllowUsers root\nPermitUserEnvironment PATH\n\
         StrictModes no\nUsePAM no\nUseDNS no\nLogLevel INFO\nMaxSessions 64\n\
         MaxStartups 64:30:128\nSubsystem sftp internal-sftp\nSetEnv SHLVL=1\n\
         ForceCommand PATH={path_env}; export PATH; exec /bin/sh -c \"${{SSH_ORIGINAL_COMMAND:-exec /bin/sh -i}}\"\n",
        path_env = path_env,
        name = h.name,
        addr = h.address,
        hk = host_key.display(),
        pid = h.path("run/sshd.pid").display(),
        ak = ssh.join("authorized_keys").display(),
    );
    write_file(&ssh.join("sshd_config"), config.as_bytes(), 0o644)?;
    write_file(&bin.join("systemctl"), systemctl_shim(h).as_bytes(), 0o755)?;
    let is_k8s = host
        .roles
        .iter()
        .any(|r| matches!(r, Role::KubernetesMaster | Role::KubernetesWorker));
    if is_k8s && let Some(s) = standin {
        let node = host.kubernetes_node.as_deref().unwrap_or(&h.name);
        for tool in ["kubeadm", "kubectl", "helm", "crictl", "curl"] {
            let wrapper = format!(
                "#!/bin/sh\n# TEST DOUBLE: rackpipe-kubeadm-join's stand-in, not the real {tool} (rackpipe lab).\n\
                 STANDIN_STATE={state} STANDIN_NODE={node} STANDIN_KDIR=/etc/kubernetes \
                 STANDIN_READY_DELAY=0.3 exec {py} {script} {tool} \"$@\"\n",
                state = shell_quote(&s.state_dir.display().to_string()),
                node = shell_quote(node),
                py = shell_quote(&s.python.display().to_string()),
                script = shell_quote(&s.script.display().to_string()),
            );
            write_file(&bin.join(tool), wrapper.as_bytes(), 0o755)?;
        }
    }
    if host.roles.contains(&Role::Nas) {
        write_file(&bin.join("exportfs"), exportfs_shim(h).as_bytes(), 0o755)?;
    }
    public_key(&host_key)
}

/// The `exportfs` TEST DOUBLE of the NAS: the lab NAS has no kernel NFS server in its
/// namespace (nfs-ganesha serves NFS there), so `-r`/`-a` record the host's
/// `/etc/exports.d/*.exports` (its private bind mount) as the active table and `-v` prints it
/// in `exportfs -v` form. It never reads or writes the machine's `/var/lib/nfs`.
fn exportfs_shim(h: &Host) -> String {
    format!(
        r#"#!/bin/sh
# TEST DOUBLE (rackpipe lab, host {name}): not the real exportfs. Records /etc/exports.d as active.
ETAB={etab}
case " $* " in
  *" -v "*|*" -s "*) [ -f "$ETAB" ] && cat "$ETAB"; exit 0 ;;
esac
cat /etc/exports.d/*.exports 2>/dev/null | awk '
  /\\$/ {{ sub(/\\$/, ""); buf = buf $0 " "; next }}
  {{ line = buf $0; buf = "" }}
  {{ sub(/#.*/, "", line); n = split(line, f, /[ \t]+/); path = ""; def = "" }}
  {{ for (i = 1; i <= n; i++) {{
      if (f[i] == "") continue
      if (path == "") {{ path = f[i]; continue }}
      if (substr(f[i], 1, 1) == "-") {{ def = substr(f[i], 2); continue }}
      c = f[i]
      if (index(c, "(") == 0) c = c "(" def ")"
      printf "%s\t%s\n", path, c
  }} }}' > "$ETAB.tmp" && mv "$ETAB.tmp" "$ETAB"
"#,
        name = h.name,
        etab = shell_quote(&h.path("run/exportfs.etab").display().to_string()),
    )
}

/// The `systemctl` stand-in: `reload`/`restart` signal the lab's daemon through its pid file
/// (`haproxy`: SIGUSR2, master-worker reload; others: SIGHUP); `is-active`/`status` check it.
fn systemctl_shim(h: &Host) -> String {
    format!(
        r#"#!/bin/sh
# rackpipe lab: systemctl stand-in for host {name}. The lab's daemons are not systemd units:
# reload signals the process in {run}/<unit>.pid (haproxy: USR2, others: HUP).
RUN={run}
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
verb=$1; unit=${{2%.service}}
pidfile="$RUN/$unit.pid"
running() {{ [ -r "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }}
case "$verb" in
  reload|restart|reload-or-restart|try-reload-or-restart)
    running || {{ echo "systemctl (rackpipe lab): $unit is not running ($pidfile)" >&2; exit 3; }}
    case "$unit" in haproxy) sig=USR2 ;; *) sig=HUP ;; esac
    kill -s "$sig" "$(cat "$pidfile")" ;;
  is-active|status)
    if running; then echo active; exit 0; else echo inactive; exit 3; fi ;;
  daemon-reload) exit 0 ;;
  *) echo "systemctl (rackpipe lab): unsupported: $*" >&2; exit 1 ;;
esac
"#,
        name = h.name,
        run = shell_quote(&h.path("run").display().to_string()),
    )
}

/// The command starting `sshd` in the host's namespace (foreground, logging to stderr).
#[must_use]
pub fn command(host: &Host) -> Command {
    let mut cmd = host.command(sshd_binary());
    cmd.arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(host.path("ssh/sshd_config"));
    cmd
}

/// Writes `known_hosts` with `address key` for every `(address, key)`.
///
/// # Errors
/// The file cannot be written.
pub fn write_known_hosts(path: &Path, entries: &[(String, String)]) -> Result<(), LabError> {
    let mut text = String::new();
    for (addr, key) in entries {
        // Only the algorithm and key: the comment is not part of a known_hosts entry.
        let mut parts = key.split_whitespace();
        let (Some(alg), Some(blob)) = (parts.next(), parts.next()) else {
            return Err(LabError::State(format!("{addr}: malformed host key")));
        };
        text.push_str(&format!("{addr} {alg} {blob}\n"));
    }
    write_file(path, text.as_bytes(), 0o644)
}
