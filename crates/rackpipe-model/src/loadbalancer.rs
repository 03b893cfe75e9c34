//! The load-balancer layer: keepalived VIPs and HAProxy instances and services.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::{Duration, Hostname, Name, SecretRef};

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
    /// Interface on the instances (`eth0`).
    pub interface: String,
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
    /// URI.
    #[serde(default = "default_stats_uri")]
    pub uri: String,
    /// Refresh interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Duration>,
}

fn default_stats_uri() -> String {
    "/stats".to_owned()
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
    /// Terminate TLS with this PEM (cert + key) in HTTP mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_certificate: Option<String>,
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
    pub ca_file: Option<String>,
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
}
