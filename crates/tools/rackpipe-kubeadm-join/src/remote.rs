//! Talking to the nodes over SSH: connection targets, the error type of `plan`/`apply`,
//! secrets that never print, and parsers of kubeadm's output.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rackpipe_ssh::{ConnectOptions, HostKeyPolicy, Session, shell_quote};

/// A secret value (bootstrap token, certificate key): the one secret type
/// ([`rackpipe_secrets::Secret`]); `Debug`/`Display` never show it.
pub use rackpipe_secrets::Secret;

/// Where one node is reached and how it is laid out.
#[derive(Debug, Clone)]
pub struct NodeTarget {
    /// SSH connection (host, port, user, key, host-key policy, timeouts).
    pub connect: ConnectOptions,
    /// The node's kubernetes directory (`/etc/kubernetes`).
    pub kubernetes_dir: String,
    /// Prepended to `PATH` for every remote command (where `kubeadm`, `kubectl`, `crictl`
    /// live when not in the default `PATH`; tests put their stand-ins there).
    pub path_prefix: Option<String>,
}

/// How `plan` and `apply` reach the nodes and how hard they try.
#[derive(Debug, Clone)]
pub struct Options {
    /// SSH user for nodes without a target override.
    pub user: String,
    /// Private key for nodes without a target override.
    pub key_file: PathBuf,
    /// Host-key policy for nodes without a target override (a `known_hosts` file: a pinned
    /// fingerprint is per host, so it belongs in a target override).
    pub host_key: HostKeyPolicy,
    /// Per-node overrides; a node without one is reached at its guest address, port 22.
    pub targets: BTreeMap<String, NodeTarget>,
    /// The kubeadm config API version to write; `None`: the one the site's Kubernetes
    /// version reads best ([`crate::ApiVersion::for_kubernetes`]).
    pub api_version: Option<crate::ApiVersion>,
    /// Template override directory.
    pub templates: Option<PathBuf>,
    /// Nodes contacted (and workers joined) at once.
    pub parallelism: usize,
    /// Attempts per join (a failed attempt is `kubeadm reset -f` before the next).
    pub join_attempts: u32,
    /// How long a joined node may take to become Ready.
    pub ready_timeout: Duration,
    /// Largest clock difference between this machine and a node accepted by preflight.
    pub max_clock_skew: Duration,
    /// Limit for one kubeadm command on a node.
    pub command_timeout: Duration,
}

impl Options {
    /// Defaults: `/etc/kubernetes`, 4 nodes at once, 3 join attempts, 5 min until Ready, 30 s
    /// clock skew, 10 min per kubeadm command.
    #[must_use]
    pub fn new(
        user: impl Into<String>,
        key_file: impl Into<PathBuf>,
        host_key: HostKeyPolicy,
    ) -> Self {
        Self {
            user: user.into(),
            key_file: key_file.into(),
            host_key,
            targets: BTreeMap::new(),
            api_version: None,
            templates: None,
            parallelism: 4,
            join_attempts: 3,
            ready_timeout: Duration::from_secs(300),
            max_clock_skew: Duration::from_secs(30),
            command_timeout: Duration::from_secs(600),
        }
    }

    /// The API version to write for `cluster`.
    #[must_use]
    pub fn api_version_for(&self, cluster: &crate::ClusterView) -> crate::ApiVersion {
        self.api_version
            .unwrap_or_else(|| crate::ApiVersion::for_kubernetes(&cluster.version))
    }

    /// The target of `node` (its override, or its guest address on port 22).
    #[must_use]
    pub fn target_for(&self, node: &crate::NodeView) -> NodeTarget {
        self.targets
            .get(&node.name)
            .cloned()
            .unwrap_or_else(|| NodeTarget {
                connect: ConnectOptions::new(
                    node.address.clone(),
                    22,
                    self.user.clone(),
                    self.key_file.clone(),
                    self.host_key.clone(),
                ),
                kubernetes_dir: "/etc/kubernetes".to_owned(),
                path_prefix: None,
            })
    }
}

/// One entry of an inventory file (`node name → entry`, JSON or YAML), overriding how a node
/// is reached. Unset fields fall back to [`Options`] (user, key, host-key policy) and to
/// `/etc/kubernetes`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryEntry {
    /// Host name or address to connect to.
    pub host: String,
    /// SSH port (22).
    #[serde(default)]
    pub port: Option<u16>,
    /// SSH user.
    #[serde(default)]
    pub user: Option<String>,
    /// Private key file.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Pinned host-key fingerprint (`SHA256:...`); otherwise the options' policy.
    #[serde(default)]
    pub host_key_fingerprint: Option<String>,
    /// The node's kubernetes directory.
    #[serde(default)]
    pub kubernetes_dir: Option<String>,
    /// Prepended to `PATH` on the node.
    #[serde(default)]
    pub path_prefix: Option<String>,
}

impl Options {
    /// Adds per-node targets from an inventory (node name → entry).
    pub fn add_inventory(&mut self, inventory: BTreeMap<String, InventoryEntry>) {
        for (node, e) in inventory {
            let host_key = self
                .host_key
                .clone()
                .pinned_or(e.host_key_fingerprint.as_deref());
            let connect = ConnectOptions::new(
                e.host,
                e.port.unwrap_or(22),
                e.user.unwrap_or_else(|| self.user.clone()),
                e.key_file.unwrap_or_else(|| self.key_file.clone()),
                host_key,
            );
            self.targets.insert(
                node,
                NodeTarget {
                    connect,
                    kubernetes_dir: e
                        .kubernetes_dir
                        .unwrap_or_else(|| "/etc/kubernetes".to_owned()),
                    path_prefix: e.path_prefix,
                },
            );
        }
    }
}

/// An artefact whose SHA-256 is not its pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumMismatch {
    /// Node name (the master that downloaded it).
    pub node: String,
    /// Addon name.
    pub addon: String,
    /// Artefact file name (the key in `kubernetes.artifacts`).
    pub artifact: String,
    /// Where it came from.
    pub url: String,
    /// The SHA-256 of what was downloaded.
    pub got: String,
    /// The pinned SHA-256.
    pub pinned: String,
}

/// Why `plan` or `apply` failed. Messages are one line, name the node, and never hold a
/// token or certificate key.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The site could not be turned into kubeadm configs.
    #[error(transparent)]
    Render(#[from] crate::Error),
    /// SSH to a node failed (unreachable, wrong host key, refused key, timeout).
    #[error("{node}: {source}")]
    Ssh {
        /// Node name.
        node: String,
        /// The SSH error (names `host:port`).
        source: rackpipe_ssh::Error,
    },
    /// Preflight found problems; nothing was started.
    #[error("{node}: preflight failed, nothing started: {problems}")]
    Preflight {
        /// Node name.
        node: String,
        /// The problems, `; `-separated.
        problems: String,
    },
    /// A remote command failed.
    #[error("{node}: {command} failed: {message}")]
    Command {
        /// Node name.
        node: String,
        /// The command, without secrets (`kubeadm join`).
        command: String,
        /// First error line, secrets masked.
        message: String,
    },
    /// A command's output was not what kubeadm or kubectl prints.
    #[error("{node}: unexpected output of {command}: {message}")]
    Output {
        /// Node name.
        node: String,
        /// The command.
        command: String,
        /// What was wrong.
        message: String,
    },
    /// A downloaded artefact is not the pinned one; nothing was applied from it.
    #[error("{}: addon {}: {} from {} has sha256 {}, not the {} pinned in kubernetes.artifacts; nothing applied from it", .0.node, .0.addon, .0.artifact, .0.url, .0.got, .0.pinned)]
    Checksum(Box<ChecksumMismatch>),
    /// A joined node did not become Ready in time.
    #[error("{node}: not Ready after {seconds}s")]
    NotReady {
        /// Node name.
        node: String,
        /// The limit.
        seconds: u64,
    },
    /// A saved plan no longer matches the site or the nodes; nothing was started.
    #[error(transparent)]
    StalePlan(#[from] rackpipe_model::documents::StalePlan),
    /// The observed cluster is in a state apply will not touch.
    #[error("kubernetes: {0}")]
    Cluster(String),
}

impl JoinError {
    /// Whether retrying later may help (network trouble, timeouts, a node slow to get Ready).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Ssh { source, .. } => source.is_transient(),
            Self::NotReady { .. } => true,
            _ => false,
        }
    }
}

/// Masks anything shaped like a bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`) or a certificate
/// key / hash (64 hex characters) in `text`.
#[must_use]
pub fn mask_secrets(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if boundary {
            let run = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            if run >= 64 {
                out.push_str("<redacted>");
                i += run;
                continue;
            }
            let head = b[i..].iter().take_while(|&&c| alnum(c)).count();
            if head == 6 && b.get(i + 6) == Some(&b'.') {
                let tail = b[i + 7..].iter().take_while(|&&c| alnum(c)).count();
                if tail == 16 {
                    out.push_str("<redacted>");
                    i += 23;
                    continue;
                }
            }
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// The first error line of `out`, with kubeadm's `[ERROR ...]` preflight lines appended, on
/// one line.
fn error_message(out: &rackpipe_ssh::Output) -> String {
    let mut message = out.first_error_line();
    for line in out.stderr_text().lines().map(str::trim) {
        if line.starts_with("[ERROR") && !message.contains(line) {
            message.push(' ');
            message.push_str(line);
        }
    }
    message
}

/// What `kubeadm token create --print-join-command` printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinCommand {
    /// `host:port` of the API.
    pub endpoint: String,
    /// The bootstrap token.
    pub token: Secret,
    /// `sha256:<hex>` CA public-key hashes.
    pub ca_cert_hashes: Vec<String>,
}

/// Parses `kubeadm join <host:port> --token T --discovery-token-ca-cert-hash sha256:H ...`
/// (one line, or `kubeadm init`'s printout with `\`-continued lines).
#[must_use]
pub fn parse_join_command(output: &str) -> Option<JoinCommand> {
    let joined = output.replace("\\\n", " ");
    let line = joined
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("kubeadm join "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let endpoint = (*words.get(2)?).to_owned();
    let mut token = None;
    let mut hashes = Vec::new();
    let mut i = 3;
    while i < words.len() {
        match words[i] {
            "--token" => token = words.get(i + 1).map(|t| Secret::new(*t)),
            "--discovery-token-ca-cert-hash" => {
                hashes.extend(words.get(i + 1).map(|h| (*h).to_owned()));
            }
            _ => {}
        }
        i += 1;
    }
    let token = token.filter(|t| is_token(t.expose()))?;
    if hashes.is_empty() || !hashes.iter().all(|h| is_ca_hash(h)) {
        return None;
    }
    Some(JoinCommand {
        endpoint,
        token,
        ca_cert_hashes: hashes,
    })
}

/// Parses the key after `[upload-certs] Using certificate key:`.
#[must_use]
pub fn parse_certificate_key(output: &str) -> Option<Secret> {
    let mut lines = output.lines().map(str::trim);
    lines.find(|l| *l == "[upload-certs] Using certificate key:")?;
    let key = lines.next()?;
    (key.len() == 64
        && key
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
    .then(|| Secret::new(key))
}

fn is_token(t: &str) -> bool {
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    t.split_once('.')
        .is_some_and(|(a, b)| ok(a, 6) && ok(b, 16))
}

fn is_ca_hash(h: &str) -> bool {
    h.strip_prefix("sha256:")
        .is_some_and(|x| x.len() == 64 && x.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// One connected node.
pub(crate) struct Node {
    pub name: String,
    pub session: Session,
    pub kdir: String,
    pub path_prefix: Option<String>,
    pub timeout: Duration,
}

impl Node {
    /// Connects (host key verified by the target's policy).
    pub async fn connect(
        name: &str,
        target: &NodeTarget,
        timeout: Duration,
    ) -> Result<Self, JoinError> {
        let session = Session::connect(&target.connect)
            .await
            .map_err(|source| JoinError::Ssh {
                node: name.to_owned(),
                source,
            })?;
        Ok(Self {
            name: name.to_owned(),
            session,
            kdir: target.kubernetes_dir.trim_end_matches('/').to_owned(),
            path_prefix: target.path_prefix.clone(),
            timeout,
        })
    }

    /// `path` inside the node's kubernetes directory, shell-quoted.
    pub fn kpath(&self, rel: &str) -> String {
        shell_quote(&format!("{}/{rel}", self.kdir))
    }

    fn ssh_err(&self, source: rackpipe_ssh::Error) -> JoinError {
        JoinError::Ssh {
            node: self.name.clone(),
            source,
        }
    }

    /// Runs `script`; returns the output whatever the exit status.
    pub async fn run(&self, script: &str) -> Result<rackpipe_ssh::Output, JoinError> {
        let full = match &self.path_prefix {
            Some(p) => format!("export PATH={}:\"$PATH\"; {script}", shell_quote(p)),
            None => script.to_owned(),
        };
        self.session
            .exec_with(&full, None, self.timeout)
            .await
            .map_err(|e| self.ssh_err(e))
    }

    /// Runs `script` and fails unless it exits 0; `label` names it in errors (no secrets).
    pub async fn check(&self, script: &str, label: &str) -> Result<String, JoinError> {
        let out = self.run(script).await?;
        if out.success() {
            Ok(out.stdout_text())
        } else {
            Err(JoinError::Command {
                node: self.name.clone(),
                command: label.to_owned(),
                message: mask_secrets(&error_message(&out)),
            })
        }
    }

    /// Writes a file under the kubernetes directory (mode 0600), creating the directory.
    pub async fn write(&self, rel: &str, content: &str) -> Result<(), JoinError> {
        self.check(&format!("mkdir -p {}", shell_quote(&self.kdir)), "mkdir")
            .await?;
        self.session
            .write_file_atomic(&format!("{}/{rel}", self.kdir), content.as_bytes(), 0o600)
            .await
            .map_err(|e| self.ssh_err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HASH: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_print_join_command() {
        let out = format!(
            "kubeadm join 10.0.0.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash {HASH} \n"
        );
        let j = parse_join_command(&out).unwrap();
        assert_eq!(j.endpoint, "10.0.0.10:6443");
        assert_eq!(j.token.expose(), "abcdef.0123456789abcdef");
        assert_eq!(j.ca_cert_hashes, vec![HASH.to_owned()]);
        assert!(!format!("{j:?}").contains("abcdef.0123"));
    }

    #[test]
    fn parses_init_printout_with_continuations() {
        let out = format!(
            "x\n  kubeadm join vip:6443 --token abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash {HASH} \\\n\t--control-plane --certificate-key {}\n",
            "a".repeat(64)
        );
        assert!(parse_join_command(&out).is_some());
    }

    #[test]
    fn rejects_malformed_join_commands() {
        assert!(
            parse_join_command(
                "kubeadm join x:1 --token BAD --discovery-token-ca-cert-hash sha256:00"
            )
            .is_none()
        );
        assert!(parse_join_command("kubeadm join x:1 --token abcdef.0123456789abcdef").is_none());
        assert!(parse_join_command("").is_none());
    }

    #[test]
    fn parses_certificate_key() {
        let key = "f".repeat(64);
        let out = format!(
            "[upload-certs] Storing the certificates\n[upload-certs] Using certificate key:\n{key}\n"
        );
        assert_eq!(parse_certificate_key(&out).unwrap().expose(), key);
        assert!(
            parse_certificate_key("[upload-certs] Skipping phase. Please see --upload-certs\n")
                .is_none()
        );
        assert!(parse_certificate_key("[upload-certs] Using certificate key:\nXYZ\n").is_none());
    }

    #[test]
    fn inventory_overrides_targets() {
        let mut o = Options::new("ops", "/k", HostKeyPolicy::Fingerprint("SHA256:x".into()));
        let inv: BTreeMap<String, InventoryEntry> = serde_json::from_str(
            r#"{"k8s-worker-1": {"host": "127.0.0.1", "port": 2222, "host_key_fingerprint": "SHA256:y"}}"#,
        )
        .unwrap();
        o.add_inventory(inv);
        let t = &o.targets["k8s-worker-1"];
        assert_eq!(t.connect.label(), "127.0.0.1:2222");
        assert_eq!(t.connect.user, "ops");
        assert_eq!(
            t.connect.host_key,
            HostKeyPolicy::Fingerprint("SHA256:y".into())
        );
        assert_eq!(t.kubernetes_dir, "/etc/kubernetes");
        assert!(serde_json::from_str::<InventoryEntry>(r#"{"host": "h", "prot": 1}"#).is_err());
    }

    #[test]
    fn masks_tokens_and_keys() {
        let key = "0a".repeat(32);
        let s = format!("token id abcdef.0123456789abcdef key {key} node k8s-worker-1");
        let m = mask_secrets(&s);
        assert_eq!(m, "token id <redacted> key <redacted> node k8s-worker-1");
        assert_eq!(format!("{:?}", Secret::new("x")), "Secret(<redacted>)");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_join_command(&s);
            let _ = parse_certificate_key(&s);
            let m = mask_secrets(&s);
            prop_assert!(m.len() <= s.len() + 10 * s.len());
        }

        #[test]
        fn masking_removes_every_token(a in "[a-z0-9]{6}", b in "[a-z0-9]{16}", pre in "[ :=\"]{1,3}") {
            let t = format!("{a}.{b}");
            let masked = mask_secrets(&format!("x{pre}{t} y"));
            prop_assert!(!masked.contains(&t));
        }
    }
}
