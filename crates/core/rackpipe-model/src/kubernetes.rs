//! The kubeadm Kubernetes cluster, the GitLab runners, and backups.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::nas::NfsMount;
use crate::types::{Duration, Hostname, LabelKey, LabelValue, Name, Network, Taint};

/// The Kubernetes section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// Cluster name.
    pub cluster_name: Name,
    /// Kubernetes version, e.g. `v1.31.4`.
    #[schemars(regex(pattern = "^v[0-9]+\\.[0-9]+\\.[0-9]+$"))]
    pub version: String,
    /// Control-plane endpoint behind the load balancer.
    pub control_plane: ControlPlane,
    /// Pod network (Calico's pool).
    pub pod_subnet: Network,
    /// Service network.
    pub service_subnet: Network,
    /// Cluster DNS domain.
    #[serde(default = "default_dns_domain")]
    pub dns_domain: Hostname,
    /// CRI socket, a `unix://` URL of an absolute path (kubeadm's `criSocket`, and
    /// `crictl --runtime-endpoint` in apply's preflight).
    #[serde(default = "default_cri")]
    #[schemars(regex(pattern = "^unix://(/[A-Za-z0-9._+@~-]+)+$"))]
    pub cri_socket: String,
    /// CNI plugin.
    pub cni: Cni,
    /// Ingress controller.
    pub ingress: Ingress,
    /// Control-plane nodes (odd, at least 3 for HA).
    #[schemars(length(min = 1))]
    pub masters: Vec<K8sNode>,
    /// Worker nodes.
    #[serde(default)]
    pub workers: Vec<K8sNode>,
    /// Allow two masters on one Proxmox node (off: an error).
    #[serde(default)]
    pub allow_colocation: bool,
    /// NFS StorageClasses.
    #[serde(default)]
    pub storage_classes: Vec<StorageClass>,
    /// SHA-256 (64 lower-case hex digits) of every artefact the addons download, by file name
    /// with its version (`tigera-operator-v3.29.1.yaml`, `traefik-35.4.0.tgz`,
    /// `metrics-server-3.12.2.tgz`). Apply downloads each one, checks its hash before it is
    /// applied or installed, and refuses an artefact that has no pin here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, String>,
}

impl Kubernetes {
    /// Every node, masters first, each with its field path (`kubernetes.masters[0]`,
    /// `kubernetes.workers[2]`, ...).
    pub fn nodes_with_paths(&self) -> impl Iterator<Item = (String, &K8sNode)> {
        let masters = self
            .masters
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("kubernetes.masters[{i}]"), n));
        let workers = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("kubernetes.workers[{i}]"), n));
        masters.chain(workers)
    }
}

fn default_dns_domain() -> Hostname {
    "cluster.local"
        .parse()
        .unwrap_or_else(|_| unreachable!("static name"))
}

fn default_cri() -> String {
    "unix:///run/containerd/containerd.sock".to_owned()
}

/// The API endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlPlane {
    /// Load-balancer service that publishes the API (its VIP and port are used).
    pub service: Name,
    /// DNS name of the endpoint.
    pub dns_name: Hostname,
}

/// CNI choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cni {
    /// Plugin (`calico`).
    #[schemars(regex(pattern = "^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub name: String,
    /// Version, `vMAJOR.MINOR.PATCH` (it names the manifest downloaded and its file).
    #[schemars(regex(pattern = "^v[0-9]+\\.[0-9]+\\.[0-9]+$"))]
    pub version: String,
}

/// Ingress controller exposed through HAProxy on NodePorts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ingress {
    /// Controller (`traefik`): a lowercase name, like `cni.name`.
    #[schemars(regex(pattern = "^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub name: String,
    /// HTTP NodePort.
    #[schemars(range(min = 30000, max = 32767))]
    pub http_node_port: u16,
    /// HTTPS NodePort.
    #[schemars(range(min = 30000, max = 32767))]
    pub https_node_port: u16,
}

/// A node of the cluster, running on a guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sNode {
    /// Node name.
    pub name: Name,
    /// Guest it runs on.
    pub guest: Name,
    /// Node labels (Kubernetes label keys and values; rendered into kubelet's
    /// `--node-labels` and `kubectl label`).
    #[serde(default)]
    #[schemars(schema_with = "labels_schema")]
    pub labels: BTreeMap<LabelKey, LabelValue>,
    /// Extra taints (`key[=value]:Effect`); masters get the control-plane taint anyway.
    #[serde(default)]
    pub taints: Vec<Taint>,
}

/// Labels: every key a [`LabelKey`], every value a [`LabelValue`] (`propertyNames`, so a bad
/// key is reported as one, not as an unknown field).
fn labels_schema(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "propertyNames": generator.subschema_for::<LabelKey>(),
        "additionalProperties": generator.subschema_for::<LabelValue>(),
    })
}

/// An NFS StorageClass served by the NFS subdir provisioner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageClass {
    /// Class name (`nfs-prod`).
    pub name: Name,
    /// NAS export backing it.
    pub export: Name,
    /// The cluster's default class.
    #[serde(default)]
    pub default: bool,
    /// `Delete` or `Retain`.
    #[serde(default = "default_reclaim")]
    #[schemars(regex(pattern = "^(Delete|Retain)$"))]
    pub reclaim_policy: String,
}

fn default_reclaim() -> String {
    "Retain".to_owned()
}

/// GitLab runners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runners {
    /// GitLab URL the runners register to.
    pub gitlab_url: String,
    /// Shared cache on NFS, mounted on every runner.
    pub cache: NfsMount,
    /// Runners.
    #[schemars(length(min = 1))]
    pub runners: Vec<Runner>,
}

/// One runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runner {
    /// Runner name.
    pub name: Name,
    /// Guest it runs on.
    pub guest: Name,
    /// Executor (`docker`, `shell`).
    pub executor: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Concurrent jobs.
    #[serde(default = "default_concurrent")]
    pub concurrent: u16,
}

fn default_concurrent() -> u16 {
    4
}

/// Backups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backups {
    /// etcd snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<BackupJob>,
    /// Router exports and binary backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<BackupJob>,
}

/// A scheduled backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupJob {
    /// Cron schedule of the CI pipeline.
    #[schemars(regex(pattern = "^\\S+ \\S+ \\S+ \\S+ \\S+$"))]
    pub schedule: String,
    /// Where snapshots go: an NFS export and a sub-directory.
    pub destination: BackupDestination,
    /// What to keep.
    pub retention: Retention,
    /// Compress with zstd.
    #[serde(default)]
    pub compress: bool,
    /// Give up after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// Backup destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupDestination {
    /// NAS export.
    pub export: Name,
    /// Sub-directory inside the export.
    #[serde(default)]
    pub subdir: String,
}

/// Retention policy: keep-last N plus grandfather-father-son.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// The newest N snapshots.
    #[serde(default)]
    pub keep_last: u32,
    /// The newest snapshot of each of the last N days.
    #[serde(default)]
    pub daily: u32,
    /// The newest snapshot of each of the last N ISO weeks.
    #[serde(default)]
    pub weekly: u32,
    /// The newest snapshot of each of the last N months.
    #[serde(default)]
    pub monthly: u32,
}
