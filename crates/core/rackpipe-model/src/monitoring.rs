//! The monitoring stack: Prometheus, Alertmanager, Grafana, Loki and a log shipper (installed by
//! `kubeadm-join` as cluster addons by default), the targets outside the cluster that Prometheus
//! scrapes (generated from the site), where alerts go, the router's syslog receiver, a
//! Pushgateway for rackpipe's own job metrics, and the thresholds of the alert rules.
//!
//! Every part has a default, so `monitoring: {}` is a whole (if unpersisted) stack. Field by
//! field reference: `docs/reference/monitoring.md`.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::{Duration, Name, SecretRef, Size, UrlPath};

/// The monitoring section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// Where the stack runs: `kubernetes` (the default: kubeadm-join installs it as addons in
    /// [`Monitoring::namespace`]) or `external` (it runs elsewhere; rackpipe only generates
    /// the scrape configuration and checks the site against it).
    #[serde(default)]
    pub deploy: Deploy,
    /// Namespace of the stack in the cluster.
    #[serde(default = "default_namespace")]
    pub namespace: Name,
    /// Prometheus.
    #[serde(default)]
    pub prometheus: Prometheus,
    /// Alertmanager and where alerts go.
    #[serde(default)]
    pub alertmanager: Alertmanager,
    /// Grafana.
    #[serde(default)]
    pub grafana: Grafana,
    /// Loki, its log shipper and the router's syslog receiver.
    #[serde(default)]
    pub loki: Loki,
    /// What outside the cluster is scraped (every kind on by default).
    #[serde(default)]
    pub targets: Targets,
    /// The Pushgateway rackpipe's CI jobs push their metrics to (also scraped, with
    /// `honor_labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushgateway: Option<Pushgateway>,
    /// Thresholds of the alert rules.
    #[serde(default)]
    pub alerts: AlertThresholds,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            deploy: Deploy::default(),
            namespace: default_namespace(),
            prometheus: Prometheus::default(),
            alertmanager: Alertmanager::default(),
            grafana: Grafana::default(),
            loki: Loki::default(),
            targets: Targets::default(),
            pushgateway: None,
            alerts: AlertThresholds::default(),
        }
    }
}

fn default_namespace() -> Name {
    "monitoring"
        .parse()
        .unwrap_or_else(|_| unreachable!("static name"))
}

/// Where the monitoring stack runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Deploy {
    /// In the site's Kubernetes cluster, as kubeadm-join addons.
    #[default]
    Kubernetes,
    /// Elsewhere: rackpipe generates the scrape configuration only.
    External,
}

/// A persistent volume: a StorageClass of `kubernetes.storage_classes` and a size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// StorageClass name (one of `kubernetes.storage_classes[].name`).
    pub class: Name,
    /// Requested size (`50G`).
    pub size: Size,
}

/// Prometheus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prometheus {
    /// How long samples are kept (`--storage.tsdb.retention.time`).
    #[serde(default = "default_prometheus_retention")]
    pub retention: Duration,
    /// Largest TSDB size kept (`--storage.tsdb.retention.size`); absent: no size limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_size: Option<Size>,
    /// Time between scrapes of the targets outside the cluster.
    #[serde(default = "default_scrape_interval")]
    pub scrape_interval: Duration,
    /// Persistent volume; absent: an `emptyDir` (data lost when the pod moves; a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Volume>,
}

impl Default for Prometheus {
    fn default() -> Self {
        Self {
            retention: default_prometheus_retention(),
            retention_size: None,
            scrape_interval: default_scrape_interval(),
            storage: None,
        }
    }
}

fn duration(s: &str) -> Duration {
    s.parse()
        .unwrap_or_else(|_| unreachable!("static duration {s}"))
}

fn default_prometheus_retention() -> Duration {
    duration("15d")
}

fn default_scrape_interval() -> Duration {
    duration("30s")
}

/// Alertmanager.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alertmanager {
    /// Persistent volume for silences and notification state; absent: an `emptyDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Volume>,
    /// Where alerts go.
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    /// Receiver of the root route (absent: the first receiver; with none, alerts go nowhere,
    /// a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_receiver: Option<Name>,
}

/// An Alertmanager receiver: any number of webhooks and e-mail addresses. Anything secret (a
/// webhook URL carries its token, an SMTP password) is a secret reference, never the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// Receiver name (routes name it).
    pub name: Name,
    /// Webhooks (Alertmanager `webhook_configs`).
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// E-mail (Alertmanager `email_configs`).
    #[serde(default)]
    pub emails: Vec<Email>,
}

/// A webhook receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The URL, by reference (Alertmanager reads it from a mounted file, `url_file`).
    pub url: SecretRef,
    /// Also notify when an alert resolves.
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

/// An e-mail receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// Recipient address.
    #[schemars(regex(pattern = "^[^@\\s]+@[^@\\s]+$"))]
    pub to: String,
    /// Sender address.
    #[schemars(regex(pattern = "^[^@\\s]+@[^@\\s]+$"))]
    pub from: String,
    /// SMTP server, `HOST:PORT`.
    #[schemars(regex(pattern = "^[A-Za-z0-9.:\\[\\]-]+:[0-9]{1,5}$"))]
    pub smarthost: String,
    /// SMTP user, if the server wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// SMTP password, by reference (Alertmanager reads it from a mounted file,
    /// `auth_password_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Require STARTTLS.
    #[serde(default = "default_true")]
    pub require_tls: bool,
}

fn default_true() -> bool {
    true
}

/// Grafana.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grafana {
    /// Persistent volume for Grafana's database; absent: an `emptyDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Volume>,
    /// The `admin` user's password, by reference; absent: the chart generates one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<SecretRef>,
}

/// Loki and its log shipper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Loki {
    /// How long logs are kept (Loki's `limits_config.retention_period`, at least 24h).
    #[serde(default = "default_loki_retention")]
    pub retention: Duration,
    /// Persistent volume; absent: an `emptyDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Volume>,
    /// The syslog receiver of the log shipper the router sends its logs to; absent: no
    /// syslog into Loki.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syslog: Option<SyslogReceiver>,
}

impl Default for Loki {
    fn default() -> Self {
        Self {
            retention: default_loki_retention(),
            storage: None,
            syslog: None,
        }
    }
}

fn default_loki_retention() -> Duration {
    duration("7d")
}

/// The log shipper's syslog receiver: where the router's logs enter the log pipeline. One of
/// `router.syslog[]` must send to exactly this address and port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyslogReceiver {
    /// Address the router sends to: a cluster node's or a VIP's (in the cluster, the
    /// receiver is a NodePort Service).
    pub address: IpAddr,
    /// Port the router sends to (in the cluster: the NodePort, 30000-32767).
    pub port: u16,
    /// Transport (RouterOS remote logging sends UDP).
    #[serde(default)]
    pub protocol: SyslogProtocol,
}

/// Syslog transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    /// UDP (RFC 3164 messages from RouterOS).
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

/// The Pushgateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pushgateway {
    /// Base URL (`http://pushgateway.example:9091`); jobs push to `URL/metrics/job/<job>`.
    #[schemars(regex(pattern = "^https?://[A-Za-z0-9.\\[\\]:-]+(:[0-9]{1,5})?(/[^\\s]*)?$"))]
    pub url: String,
}

/// Targets outside the cluster, each kind generated from the site and each one able to be
/// turned off (`enabled: false`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// HAProxy's built-in Prometheus exporter on every `load_balancer.instances[]`.
    #[serde(default)]
    pub haproxy: HaproxyTarget,
    /// keepalived's VRRP state on every `load_balancer.instances[]`: keepalived has no
    /// Prometheus endpoint, so haproxy-gen renders a notify script writing node_exporter
    /// textfile metrics, and this scrapes node_exporter there (default `:9100`).
    #[serde(default)]
    pub keepalived: ExporterTarget<KeepalivedPort>,
    /// Vault/OpenBao `/v1/sys/metrics?format=prometheus` on every `vault.nodes[]`.
    #[serde(default)]
    pub vault: VaultTarget,
    /// etcd's metrics listener on every `kubernetes.masters[]` (stacked etcd).
    #[serde(default)]
    pub etcd: ExporterTarget<EtcdPort>,
    /// The Prometheus PVE exporter on every `proxmox.nodes[]`.
    #[serde(default)]
    pub proxmox: ExporterTarget<PvePort>,
    /// node_exporter on the NAS (`nas.host`).
    #[serde(default)]
    pub nas: ExporterTarget<NodeExporterPort>,
}

/// HAProxy's Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaproxyTarget {
    /// Scrape it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Port of the exporter; absent: `load_balancer.stats.port` (the stats frontend also
    /// serves the exporter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Path of the exporter.
    #[serde(default = "default_metrics_path")]
    pub path: UrlPath,
}

impl Default for HaproxyTarget {
    fn default() -> Self {
        Self {
            enabled: true,
            port: None,
            path: default_metrics_path(),
        }
    }
}

fn default_metrics_path() -> UrlPath {
    "/metrics"
        .parse()
        .unwrap_or_else(|_| unreachable!("static path"))
}

/// Vault/OpenBao telemetry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultTarget {
    /// Scrape it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Port; absent: each node's `api_port` (the endpoint is on the API listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Token allowed to read `sys/metrics`, by reference (sent as a bearer token, read by
    /// Prometheus from a mounted file; vault-bootstrap keeps a periodic token of this value
    /// with the `prometheus-metrics` policy). Absent: vault-bootstrap renders the listener
    /// with unauthenticated metrics access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// CA certificate (PEM) that signs the nodes' API certificates, by reference; absent:
    /// the system trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<SecretRef>,
}

impl Default for VaultTarget {
    fn default() -> Self {
        Self {
            enabled: true,
            port: None,
            token: None,
            ca: None,
        }
    }
}

/// The default port of an exporter kind.
pub trait DefaultPort {
    /// The port.
    const PORT: u16;
}

/// node_exporter on a load-balancer instance, serving keepalived's textfile metrics (`:9100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepalivedPort;
impl DefaultPort for KeepalivedPort {
    const PORT: u16 = 9100;
}

/// etcd's plain-HTTP metrics listener (`--listen-metrics-urls`, kubeadm's `:2381`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtcdPort;
impl DefaultPort for EtcdPort {
    const PORT: u16 = 2381;
}

/// prometheus-pve-exporter (`:9221`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PvePort;
impl DefaultPort for PvePort {
    const PORT: u16 = 9221;
}

/// node_exporter (`:9100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeExporterPort;
impl DefaultPort for NodeExporterPort {
    const PORT: u16 = 9100;
}

/// An exporter on every machine of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(serialize = "", deserialize = "P: DefaultPort")
)]
pub struct ExporterTarget<P> {
    /// Scrape it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Port of the exporter.
    #[serde(default = "port_of::<P>")]
    pub port: u16,
    #[serde(skip)]
    kind: std::marker::PhantomData<P>,
}

impl<P: DefaultPort> ExporterTarget<P> {
    /// A target with the given switch and port.
    #[must_use]
    pub fn new(enabled: bool, port: u16) -> Self {
        Self {
            enabled,
            port,
            kind: std::marker::PhantomData,
        }
    }
}

impl<P: DefaultPort> Default for ExporterTarget<P> {
    fn default() -> Self {
        Self::new(true, P::PORT)
    }
}

fn port_of<P: DefaultPort>() -> u16 {
    P::PORT
}

impl<P: DefaultPort> JsonSchema for ExporterTarget<P> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("ExporterTarget{}", P::PORT).into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": format!("An exporter on every machine of one kind (default port {}).", P::PORT),
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "enabled": {"description": "Scrape it.", "type": "boolean", "default": true},
                "port": {
                    "description": "Port of the exporter.",
                    "type": "integer", "minimum": 1, "maximum": 65535, "default": P::PORT,
                },
            },
        })
    }
}

/// Thresholds of the alert rules (the rules themselves live with kubeadm-join's addons).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertThresholds {
    /// Fire when the last successful etcd or router backup is older than this (a day and a
    /// bit: the nightly schedule plus slack).
    #[serde(default = "default_backup_max_age")]
    pub backup_max_age: Duration,
    /// Fire when a certificate issued by vault-bootstrap expires within this.
    #[serde(default = "default_certificate_min_validity")]
    pub certificate_min_validity: Duration,
    /// Fire when a VIP changes holder more than this many times within `vip_flap_window`.
    #[serde(default = "default_vip_max_moves")]
    pub vip_max_moves: u32,
    /// Window of `vip_max_moves`.
    #[serde(default = "default_vip_flap_window")]
    pub vip_flap_window: Duration,
    /// Fire when a target has been down this long.
    #[serde(default = "default_target_down_for")]
    pub target_down_for: Duration,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self {
            backup_max_age: default_backup_max_age(),
            certificate_min_validity: default_certificate_min_validity(),
            vip_max_moves: default_vip_max_moves(),
            vip_flap_window: default_vip_flap_window(),
            target_down_for: default_target_down_for(),
        }
    }
}

fn default_backup_max_age() -> Duration {
    duration("26h")
}

fn default_certificate_min_validity() -> Duration {
    duration("14d")
}

fn default_vip_max_moves() -> u32 {
    3
}

fn default_vip_flap_window() -> Duration {
    duration("1h")
}

fn default_target_down_for() -> Duration {
    duration("5m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_is_the_whole_default_stack() {
        let m: Monitoring = serde_json::from_str("{}").unwrap();
        assert_eq!(m, Monitoring::default());
        assert_eq!(m.namespace.as_str(), "monitoring");
        assert_eq!(m.alerts.backup_max_age.as_secs(), 26 * 3600);
        assert_eq!(m.targets.etcd.port, 2381);
        assert_eq!(m.targets.keepalived.port, 9100);
        assert!(m.targets.nas.enabled);
    }

    #[test]
    fn a_literal_webhook_url_is_refused() {
        let err = serde_json::from_str::<Webhook>(r#"{"url": "https://hooks.example/T0K3N"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("not a secret reference"), "{err}");
    }

    #[test]
    fn a_target_can_be_turned_off() {
        let t: Targets =
            serde_json::from_str(r#"{"proxmox": {"enabled": false}, "nas": {"port": 9101}}"#)
                .unwrap();
        assert!(!t.proxmox.enabled);
        assert_eq!(t.proxmox.port, 9221);
        assert_eq!(t.nas.port, 9101);
    }
}
