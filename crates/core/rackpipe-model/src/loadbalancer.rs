//! The load-balancer layer: keepalived VIPs and HAProxy instances and services.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::{
    Duration, FilePath, Hostname, InterfaceName, Name, SecretRef, UrlPath, check_file_path,
};

/// The load-balancer section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// Virtual addresses held by keepalived.
    #[schemars(length(min = 1))]
    pub vips: Vec<Vip>,
    /// HAProxy + keepalived instances; each runs on a guest.
    #[schemars(length(min = 1))]
    pub instances: Vec<LbInstance>,
    /// Allow two instances on one Proxmox node (off: an error).
    #[serde(default)]
    pub allow_colocation: bool,
    /// HAProxy stats page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    /// Services published on the VIPs.
    #[serde(default)]
    pub services: Vec<LbService>,
}

/// A VRRP virtual address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vip {
    /// VRRP instance name.
    pub name: Name,
    /// The virtual address.
    pub address: IpAddr,
    /// Segment the address belongs to.
    pub segment: Name,
    /// VRRP router id (unique per segment).
    #[schemars(range(min = 1, max = 255))]
    pub vrid: u8,
    /// Interface on the instances (`eth0`), written into keepalived's `interface` and `dev`.
    pub interface: InterfaceName,
    /// Advertisement interval in seconds.
    #[serde(default = "default_advert")]
    pub advert_int: u8,
    /// Do not take the VIP back when a higher priority instance returns.
    #[serde(default)]
    pub nopreempt: bool,
    /// Unicast to the other instances (else multicast).
    #[serde(default)]
    pub unicast: bool,
    /// VRRP PASS authentication, by reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_pass: Option<SecretRef>,
    /// Health check tracked by keepalived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<VrrpCheck>,
}

impl Vip {
    /// The name of the keepalived `vrrp_script` of this VIP's check: the check's `name`, else
    /// `chk_haproxy_<vip name in lower case>`.
    #[must_use]
    pub fn check_name(&self) -> Option<String> {
        self.check.as_ref().map(|c| {
            c.name.as_ref().map_or_else(
                || format!("chk_haproxy_{}", self.name.as_str().to_ascii_lowercase()),
                ToString::to_string,
            )
        })
    }
}

fn default_advert() -> u8 {
    1
}

/// The `vrrp_script` keepalived tracks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VrrpCheck {
    /// Seconds between runs.
    #[serde(default = "default_interval")]
    pub interval: u16,
    /// Priority change when failing (negative).
    #[schemars(range(min = -253, max = 253))]
    pub weight: i16,
    /// Failures before the check counts as down.
    #[serde(default = "default_fall")]
    pub fall: u8,
    /// Successes before it counts as up.
    #[serde(default = "default_rise")]
    pub rise: u8,
    /// Name of the `vrrp_script` (default `chk_haproxy_<vip>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// Unprivileged user keepalived runs the script as (its `user` keyword; the system user
    /// must exist on the instance). Absent: keepalived's `script_user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub user: Option<String>,
    /// Track a service's own health endpoint on the instance instead of whether HAProxy is
    /// alive (Vault's `/v1/sys/health`: only the node that should hold the VIP passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<VrrpEndpoint>,
}

/// The HTTP(S) endpoint a VRRP check requests on the instance itself: the URL's host is the
/// instance's guest FQDN (else its address), resolved to its own address without DNS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VrrpEndpoint {
    /// Use HTTPS (default) or plain HTTP.
    #[serde(default = "default_true")]
    pub tls: bool,
    /// Port of the service on the instance.
    #[schemars(range(min = 1))]
    pub port: u16,
    /// Path and query (`/v1/sys/health?standbyok=true`).
    #[schemars(regex(pattern = r"^/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*$"))]
    pub path: String,
    /// HTTP status codes that count as healthy.
    #[serde(default = "default_endpoint_status")]
    #[schemars(length(min = 1), inner(range(min = 100, max = 599)))]
    pub status: Vec<u16>,
    /// CA bundle on the instance that signs the service's certificate; absent: the
    /// certificate is not verified (`curl --insecure`, reported as a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<FilePath>,
    /// Seconds one request may take (curl `--max-time`).
    #[serde(default = "default_endpoint_timeout")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout: u8,
}

fn default_endpoint_status() -> Vec<u16> {
    vec![200]
}

fn default_endpoint_timeout() -> u8 {
    3
}

fn default_interval() -> u16 {
    2
}

fn default_fall() -> u8 {
    3
}

fn default_rise() -> u8 {
    2
}

/// VRRP initial state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum VrrpState {
    /// Starts as master.
    Master,
    /// Starts as backup.
    Backup,
}

/// An HAProxy + keepalived instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LbInstance {
    /// Instance name.
    pub name: Name,
    /// Guest (or host) it runs on.
    pub guest: Name,
    /// VRRP priority.
    #[schemars(range(min = 1, max = 254))]
    pub priority: u8,
    /// Initial VRRP state.
    #[serde(default = "default_state")]
    pub state: VrrpState,
    /// Pinned SHA-256 fingerprint of the instance's SSH host key (`SHA256:…`), used by
    /// `haproxy-gen plan/apply` (else a known_hosts file must list it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_host_key: Option<String>,
}

fn default_state() -> VrrpState {
    VrrpState::Backup
}

/// The stats frontend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Port.
    pub port: u16,
    /// URI (HAProxy's `stats uri`, also probed by the check script).
    #[serde(default = "default_stats_uri")]
    pub uri: UrlPath,
    /// Refresh interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Duration>,
}

fn default_stats_uri() -> UrlPath {
    "/stats"
        .parse()
        .unwrap_or_else(|_| unreachable!("static path"))
}

/// Proxy modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// Layer 4 (TLS passthrough).
    Tcp,
    /// Layer 7.
    Http,
}

/// Health checks by the kind of service behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheck {
    /// Only the active, unsealed Vault node (`/v1/sys/health`: 200 active, 429 standby).
    VaultActive,
    /// Only the Consul leader.
    ConsulLeader,
    /// Kubernetes API `/readyz` over TLS.
    KubernetesReadyz,
    /// Traefik `/ping`.
    TraefikPing,
    /// Plain HTTP `GET /` expecting 2xx/3xx.
    Http,
    /// TCP connect.
    Tcp,
}

/// Load-balancing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// Round robin.
    Roundrobin,
    /// First available server (active/standby).
    First,
    /// Fewest connections.
    Leastconn,
    /// Source hash.
    Source,
}

/// A service published on a VIP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LbService {
    /// Service name.
    pub name: Name,
    /// VIP it is published on.
    pub vip: Name,
    /// Frontend port.
    pub port: u16,
    /// Proxy mode.
    pub mode: ProxyMode,
    /// SNI name routed to this service (several services may share a port by SNI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<Hostname>,
    /// Terminate TLS (HTTP mode only) with a PEM holding the certificate, its chain and its
    /// private key. One string, either an absolute path (starts with `/`: a file that must
    /// already exist on every load-balancer host) or a secret reference (`vault:MOUNT/PATH#KEY`,
    /// `file:PATH`, `env:NAME`) whose value is the PEM: `haproxy-gen` then deploys it to every
    /// instance as `/etc/haproxy/certs/<service name>.pem` (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_certificate: Option<TlsCertificate>,
    /// Health check.
    pub check: HealthCheck,
    /// Balancing algorithm.
    #[serde(default = "default_balance")]
    pub balance: Balance,
    /// Backends.
    #[schemars(length(min = 1))]
    pub backends: Vec<Backend>,
    /// Whether the backends speak TLS (used by the health checks). Absent: TLS for
    /// `vault_active`, `consul_leader` and `kubernetes_readyz`, plain for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_tls: Option<BackendTls>,
    /// Port the health check connects to, when it differs from the backend port (Traefik's
    /// ping entry point, usually 8080).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_port: Option<u16>,
    /// Time between health checks (default 2s; 1s for `vault_active`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval: Option<Duration>,
    /// Failed checks before a server is marked down (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub check_fall: Option<u8>,
    /// Passed checks before a server is marked up (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub check_rise: Option<u8>,
}

impl LbService {
    /// The HAProxy server name of each backend, in order: its `name`, else the target's
    /// name, with `-<port>` from a target's second appearance on.
    #[must_use]
    pub fn server_names(&self) -> Vec<String> {
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        self.backends
            .iter()
            .map(|be| {
                let n = seen.entry(be.target.as_str()).or_insert(0);
                *n += 1;
                match &be.name {
                    Some(name) => name.to_string(),
                    None if *n == 1 => be.target.to_string(),
                    None => format!("{}-{}", be.target.as_str(), be.port),
                }
            })
            .collect()
    }
}

/// Where a TLS-terminating service's PEM (certificate, chain, private key) comes from.
///
/// Written as one string: an absolute path (`/etc/haproxy/certs/app.pem`, a file already on
/// every load-balancer host) or a secret reference (`vault:kv/lb/ingress#pem`, `file:PATH`,
/// `env:NAME`) whose value is the PEM itself, deployed by `haproxy-gen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsCertificate {
    /// A PEM file that already exists on every load-balancer host.
    Path(String),
    /// A secret holding the PEM; deployed to the instances.
    Secret(SecretRef),
}

impl TlsCertificate {
    /// The secret reference, when the PEM comes from one.
    #[must_use]
    pub fn secret(&self) -> Option<&SecretRef> {
        match self {
            Self::Secret(r) => Some(r),
            Self::Path(_) => None,
        }
    }

    /// The path on the load-balancer hosts, when the PEM is already there.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Path(p) => Some(p),
            Self::Secret(_) => None,
        }
    }
}

impl FromStr for TlsCertificate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with('/') {
            check_file_path(s)?;
            Ok(Self::Path(s.to_owned()))
        } else {
            s.parse::<SecretRef>().map(Self::Secret).map_err(|_| {
                format!(
                    "{s:?} is neither an absolute path (/etc/haproxy/certs/x.pem) nor a secret reference (vault:MOUNT/PATH#KEY, file:PATH or env:NAME)"
                )
            })
        }
    }
}

impl fmt::Display for TlsCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(p) => f.write_str(p),
            Self::Secret(r) => r.fmt(f),
        }
    }
}

impl Serialize for TlsCertificate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TlsCertificate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for TlsCertificate {
    fn schema_name() -> Cow<'static, str> {
        "TlsCertificate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^((/(\\.{0,2}[A-Za-z0-9_+@~-][A-Za-z0-9._+@~-]*|\\.{3,}[A-Za-z0-9._+@~-]*))+|env:.+|file:.+|vault:.+#.+)$",
            "description": "A PEM (certificate, chain, private key): an absolute path on the load-balancer hosts, or a secret reference (vault:MOUNT/PATH#KEY, file:PATH, env:NAME) whose value haproxy-gen deploys."
        })
    }
}

/// TLS towards the backends, as seen by HAProxy's health checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendTls {
    /// Backends speak TLS.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// CA bundle on the LB instance that signs the backend certificates; absent: the
    /// certificate is not verified (`verify none`, reported as a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<FilePath>,
    /// Name sent as SNI and checked against the certificate (default: the service's `sni`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<Hostname>,
}

fn default_true() -> bool {
    true
}

fn default_balance() -> Balance {
    Balance::Roundrobin
}

/// A backend server: a guest or host of the site, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// Guest or host name.
    pub target: Name,
    /// Port on the target.
    pub port: u16,
    /// HAProxy server name (default: the target's name, with `-<port>` when a target
    /// appears twice); unique within the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn tls_certificate_parse_never_panics_and_round_trips(text in "\\PC{0,80}") {
            if let Ok(c) = text.parse::<TlsCertificate>() {
                proptest::prop_assert_eq!(c.to_string(), text);
                proptest::prop_assert!(c.path().is_some() != c.secret().is_some());
            }
        }
    }

    #[test]
    fn tls_certificate_is_a_path_or_a_reference() {
        let p: TlsCertificate = "/etc/haproxy/certs/app.pem".parse().unwrap();
        assert_eq!(p.path(), Some("/etc/haproxy/certs/app.pem"));
        assert_eq!(p.to_string(), "/etc/haproxy/certs/app.pem");
        let r: TlsCertificate = "vault:kv/lb/ingress#pem".parse().unwrap();
        assert_eq!(
            r.secret().map(SecretRef::as_str),
            Some("vault:kv/lb/ingress#pem")
        );
        assert_eq!(r.to_string(), "vault:kv/lb/ingress#pem");
        assert!(
            "file:/run/secrets/ingress.pem"
                .parse::<TlsCertificate>()
                .is_ok()
        );
        assert!("env:INGRESS_PEM".parse::<TlsCertificate>().is_ok());
        for bad in [
            "certs/app.pem",
            "/",
            "/etc/haproxy/certs/",
            "vault:kv/lb",
            "/a b.pem",
            "/a\nb.pem",
            "/a\"b.pem",
            "/a#b.pem",
            "/a{b}.pem",
            "/a;b.pem",
        ] {
            let e = bad.parse::<TlsCertificate>().unwrap_err();
            assert!(e.starts_with(&format!("{bad:?} ")), "{e}");
        }
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"vault:kv/lb/ingress#pem\"");
        assert_eq!(serde_json::from_str::<TlsCertificate>(&json).unwrap(), r);
    }
}
