//! Which etcd members to talk to and with which TLS files: explicit (tests, CLI flags) or
//! derived from the site (`kubernetes.masters` → guests → NIC addresses).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use rackpipe_model::Site;
use rackpipe_ssh::{ConnectOptions, HostKeyPolicy};

use crate::error::{Error, Result};
use crate::ssh::{SshMember, SshTarget};

/// The client TLS material kubeadm sets up, as paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA bundle that signed the members' server certificates.
    pub ca: PathBuf,
    /// Client certificate (PEM).
    pub cert: PathBuf,
    /// Client private key (PEM). Only the path is kept here; the key is read at connect time
    /// and never logged.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files a kubeadm control-plane node has: the etcd CA and the API server's etcd
    /// client certificate.
    #[must_use]
    pub fn kubeadm() -> Self {
        Self {
            ca: PathBuf::from("/etc/kubernetes/pki/etcd/ca.crt"),
            cert: PathBuf::from("/etc/kubernetes/pki/apiserver-etcd-client.crt"),
            key: PathBuf::from("/etc/kubernetes/pki/apiserver-etcd-client.key"),
        }
    }

    /// The files kubeadm gives etcd's own health checks on every control-plane node: the
    /// etcd CA and the `healthcheck-client` certificate. The defaults for `etcdctl` run on a
    /// master over SSH.
    #[must_use]
    pub fn kubeadm_healthcheck() -> Self {
        Self {
            ca: PathBuf::from("/etc/kubernetes/pki/etcd/ca.crt"),
            cert: PathBuf::from("/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
            key: PathBuf::from("/etc/kubernetes/pki/etcd/healthcheck-client.key"),
        }
    }
}

/// One etcd member as the site describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Member name (the Kubernetes node name; kubeadm names etcd members after nodes).
    pub name: String,
    /// Client URL, `https://IP:2379`.
    pub client_url: String,
    /// Peer URL, `https://IP:2380`.
    pub peer_url: String,
    /// The guest's address (where SSH reaches the master).
    pub address: IpAddr,
}

/// Where to take a snapshot from, and how.
#[derive(Debug, Clone)]
pub struct Target {
    /// Client URLs tried in order until one member delivers a whole snapshot.
    pub endpoints: Vec<String>,
    /// Client TLS; `None` for plain `http://` endpoints (only sensible on loopback).
    pub tls: Option<TlsFiles>,
    /// Limit for the TCP + TLS connect and for each unary request.
    pub connect_timeout: Duration,
    /// A stream that delivers nothing for this long is abandoned.
    pub idle_timeout: Duration,
}

impl Target {
    /// A target with default timeouts (5 s connect, 30 s stream idle).
    #[must_use]
    pub fn new(endpoints: Vec<String>, tls: Option<TlsFiles>) -> Self {
        Self {
            endpoints,
            tls,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// The etcd members of the site: one per `kubernetes.masters[]`, at the first NIC address of
/// its guest, with kubeadm's ports (2379 client, 2380 peer).
///
/// # Errors
/// [`Error::Site`] naming the field path when the section, the guest or an address is missing.
pub fn members_from_site(site: &Site) -> Result<Vec<Member>> {
    let k8s = site.kubernetes.as_ref().ok_or_else(|| Error::Site {
        field: "kubernetes".into(),
        reason: "section missing; etcd members are the kubernetes masters".into(),
    })?;
    let guests = site
        .proxmox
        .as_ref()
        .map(|p| p.guests.as_slice())
        .unwrap_or_default();
    let mut members = Vec::with_capacity(k8s.masters.len());
    for (i, master) in k8s.masters.iter().enumerate() {
        let field = format!("kubernetes.masters[{i}].guest");
        let guest = guests
            .iter()
            .find(|g| g.name.as_str() == master.guest.as_str())
            .ok_or_else(|| Error::Site {
                field: field.clone(),
                reason: format!(
                    "no proxmox.guests entry named \"{}\"",
                    master.guest.as_str()
                ),
            })?;
        let ip = guest
            .nics
            .iter()
            .find_map(|n| n.address.map(|a| a.ip()))
            .ok_or_else(|| Error::Site {
                field,
                reason: format!(
                    "guest \"{}\" has no NIC with an address",
                    guest.name.as_str()
                ),
            })?;
        members.push(Member {
            name: master.name.as_str().to_owned(),
            client_url: url(ip, 2379),
            peer_url: url(ip, 2380),
            address: ip,
        });
    }
    Ok(members)
}

/// TLS files given on the command line; each one left out takes its default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOverrides {
    /// CA certificate.
    pub ca: Option<PathBuf>,
    /// Client certificate.
    pub cert: Option<PathBuf>,
    /// Client key.
    pub key: Option<PathBuf>,
}

impl TlsOverrides {
    /// `defaults` with the given files in place of theirs.
    #[must_use]
    pub fn over(&self, defaults: TlsFiles) -> TlsFiles {
        TlsFiles {
            ca: self.ca.clone().unwrap_or(defaults.ca),
            cert: self.cert.clone().unwrap_or(defaults.cert),
            key: self.key.clone().unwrap_or(defaults.key),
        }
    }
}

/// The gRPC snapshot target: `endpoints` in order, else every master of the site at :2379;
/// kubeadm's client files unless overridden; plain `http://` (no TLS) with `insecure_http`.
///
/// # Errors
/// [`Error::Site`] when the endpoints come from a site that lacks its masters.
pub fn grpc_target(
    site: &Site,
    endpoints: &[String],
    insecure_http: bool,
    tls: &TlsOverrides,
) -> Result<Target> {
    let scheme = if insecure_http { "http" } else { "https" };
    let endpoints = if endpoints.is_empty() {
        members_from_site(site)?
            .into_iter()
            .map(|m| m.client_url.replacen("https", scheme, 1))
            .collect()
    } else {
        endpoints.to_vec()
    };
    let tls = (!insecure_http).then(|| tls.over(TlsFiles::kubeadm()));
    Ok(Target::new(endpoints, tls))
}

/// How the masters are reached over SSH for `snapshot --via-ssh`.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Masters in order, `HOST`, `HOST:PORT` or `[V6]:PORT`; empty: every master of the site.
    pub hosts: Vec<String>,
    /// Remote user.
    pub user: String,
    /// Port of masters given without one.
    pub port: u16,
    /// Private key file; required.
    pub key: Option<PathBuf>,
    /// known_hosts file with the masters' host keys.
    pub known_hosts: Option<PathBuf>,
    /// One pinned host-key fingerprint (`SHA256:...`), for a single master.
    pub ssh_fingerprint: Option<String>,
    /// `etcdctl` on the masters.
    pub etcdctl: String,
    /// The client URL `etcdctl` uses on the master.
    pub remote_endpoint: String,
    /// Directory on the master for the temporary snapshot.
    pub remote_tmp: String,
    /// TLS files on the master (default: kubeadm's `healthcheck-client`).
    pub tls: TlsOverrides,
}

/// The masters as SSH members: `options.hosts` in order (each named by its `host:port`), or
/// the site's masters (named after their node); host keys always verified.
///
/// # Errors
/// [`Error::Usage`] for a missing key, a malformed host, a fingerprint pinned for several
/// masters or no host-key source; [`Error::Site`] when the site lacks its masters.
pub fn ssh_target(site: &Site, options: &SshOptions) -> Result<SshTarget> {
    let key = options
        .key
        .clone()
        .ok_or_else(|| Error::Usage("--ssh-key is required with --via-ssh".to_owned()))?;
    // (member name, host, port).
    let hosts: Vec<(Option<String>, String, u16)> = if options.hosts.is_empty() {
        members_from_site(site)?
            .into_iter()
            .map(|m| (Some(m.name), m.address.to_string(), options.port))
            .collect()
    } else {
        options
            .hosts
            .iter()
            .map(|h| split_host_port(h, options.port).map(|(host, port)| (None, host, port)))
            .collect::<Result<_>>()?
    };
    if options.ssh_fingerprint.is_some() && hosts.len() > 1 {
        return Err(Error::Usage(format!(
            "--ssh-fingerprint pins one host key but there are {} masters; give --known-hosts",
            hosts.len()
        )));
    }
    let policy = HostKeyPolicy::from_options(
        options.ssh_fingerprint.as_deref(),
        options.known_hosts.as_deref(),
        None,
    )
    .map_err(|e| match e {
        rackpipe_ssh::Error::NoHostKeyPolicy => Error::Usage(
            "give --known-hosts or --ssh-fingerprint: host keys are always verified".to_owned(),
        ),
        other => Error::Usage(format!("--ssh-fingerprint: {other}")),
    })?;
    let members = hosts
        .into_iter()
        .map(|(name, host, port)| {
            let ssh = ConnectOptions::new(
                host,
                port,
                options.user.clone(),
                key.clone(),
                policy.clone(),
            );
            SshMember {
                name: name.unwrap_or_else(|| ssh.label()),
                ssh,
            }
        })
        .collect();
    let mut target = SshTarget::new(members);
    target.etcdctl.clone_from(&options.etcdctl);
    target.endpoint.clone_from(&options.remote_endpoint);
    target.remote_tmp.clone_from(&options.remote_tmp);
    target.tls = options.tls.over(TlsFiles::kubeadm_healthcheck());
    Ok(target)
}

/// `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address (`default_port` when none).
///
/// # Errors
/// [`Error::Usage`] naming `--ssh-host` and the text.
pub fn split_host_port(text: &str, default_port: u16) -> Result<(String, u16)> {
    let bad = || Error::Usage(format!("--ssh-host {text:?}: expected HOST or HOST:PORT"));
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        return match after.strip_prefix(':') {
            Some(port) => Ok((host.to_owned(), port.parse().map_err(|_| bad())?)),
            None if after.is_empty() => Ok((host.to_owned(), default_port)),
            None => Err(bad()),
        };
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => {
            if host.is_empty() {
                return Err(bad());
            }
            Ok((host.to_owned(), port.parse().map_err(|_| bad())?))
        }
        _ if text.is_empty() => Err(bad()),
        _ => Ok((text.to_owned(), default_port)),
    }
}

fn url(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("https://{v4}:{port}"),
        IpAddr::V6(v6) => format!("https://[{v6}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"
apiVersion: rackpipe/v1
kind: Site
metadata: {name: lab, domain: lab.example.com}
proxmox:
  cluster: pve
  api: {node: pve1, token: "env:PVE_TOKEN"}
  nodes: [{name: pve1, address: 10.3.0.11}]
  guests:
    - {name: k8s-m1, kind: qemu, node: pve1, cores: 2, memory_mib: 4096,
       disks: [{slot: scsi0, storage: local, size: 32G}], source: {clone: {vmid: 9000}},
       nics: [{slot: net0, bridge: vmbr0, address: 10.3.0.21/24}]}
kubernetes:
  cluster_name: lab
  version: v1.31.4
  control_plane: {service: k8s-api, dns_name: api.lab.example.com}
  pod_subnet: 10.244.0.0/16
  service_subnet: 10.96.0.0/12
  cni: {name: calico, version: v3.28.0}
  ingress: {name: traefik, http_node_port: 30080, https_node_port: 30443}
  masters:
    - {name: m1, guest: k8s-m1}
    - {name: m2, guest: k8s-m2}
"#;

    #[test]
    fn members_come_from_masters_and_guest_addresses() {
        let site: Site = match serde_saphyr::from_str(SITE) {
            Ok(site) => site,
            Err(err) => {
                // The model is being extended by others; a schema drift here is not this
                // crate's bug, but say so loudly.
                panic!("test site no longer parses: {err}");
            }
        };
        let err = members_from_site(&site).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kubernetes.masters[1].guest: no proxmox.guests entry named \"k8s-m2\""
        );
        let mut one = site.clone();
        if let Some(k) = one.kubernetes.as_mut() {
            k.masters.truncate(1);
        }
        let plan = crate::restore::RestorePlan::from_site(
            &one,
            std::path::Path::new("/var/lib/etcd-restored"),
            "t1",
        )
        .unwrap();
        assert_eq!(plan.initial_cluster(), "m1=https://10.3.0.21:2380");
        assert_eq!(
            plan.members[0].data_dir,
            std::path::Path::new("/var/lib/etcd-restored/m1"),
            "each member its own data dir, named after it"
        );
        let members = members_from_site(&one).unwrap();
        let grpc = grpc_target(&one, &[], true, &TlsOverrides::default()).unwrap();
        assert_eq!(grpc.endpoints, ["http://10.3.0.21:2379"]);
        assert!(grpc.tls.is_none());
        assert_eq!(
            members,
            vec![Member {
                name: "m1".into(),
                client_url: "https://10.3.0.21:2379".into(),
                peer_url: "https://10.3.0.21:2380".into(),
                address: "10.3.0.21".parse().unwrap(),
            }]
        );
    }

    #[test]
    fn ssh_hosts_parse() {
        assert_eq!(split_host_port("m1", 22).unwrap(), ("m1".to_owned(), 22));
        assert_eq!(
            split_host_port("10.0.0.1:2222", 22).unwrap(),
            ("10.0.0.1".to_owned(), 2222)
        );
        assert_eq!(
            split_host_port("[::1]:2222", 22).unwrap(),
            ("::1".to_owned(), 2222)
        );
        assert_eq!(split_host_port("::1", 22).unwrap(), ("::1".to_owned(), 22));
        for bad in ["", ":22", "m1:x", "[::1", "[::1]x"] {
            let err = split_host_port(bad, 22).unwrap_err();
            assert!(err.is_usage(), "{bad}: {err}");
            assert!(err.to_string().starts_with("--ssh-host "), "{err}");
        }
    }
}
