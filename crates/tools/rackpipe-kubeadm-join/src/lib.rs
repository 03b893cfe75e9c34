//! kubeadm-join's library: the site's `kubernetes` section as kubeadm configuration.
//!
//! - [`cluster_view`] resolves the section against the rest of the site (guest addresses, the
//!   load-balancer service that publishes the API, the NFS exports of the StorageClasses);
//! - [`render`] writes one kubeadm config per node (the first master gets `InitConfiguration` +
//!   `ClusterConfiguration`, the others `JoinConfiguration`), in `kubeadm.k8s.io/v1beta4` or
//!   `v1beta3`, and the addon manifests and Helm values (Calico, Traefik, NFS provisioner,
//!   metrics-server), from the templates under this crate's `templates/`;
//! - [`addons`] says how each addon is installed (server-side `kubectl apply` or
//!   `helm upgrade --install` with pinned chart versions) and records what is applied;
//! - [`schema`] holds strict JSON Schemas of the kubeadm types, written from the upstream field
//!   lists (not from this crate's output), against which rendered documents are checked;
//! - [`plan`] and [`apply`] bring the nodes into the cluster over SSH (host keys verified):
//!   `kubeadm init --upload-certs`, the CNI, masters joined one at a time, workers in parallel,
//!   labels and taints, then the other addons.

pub mod addons;
pub mod apply;
pub mod monitoring;
pub mod monitoring_rules;
pub mod plan;
pub mod remote;
pub mod schema;
pub mod tool;

pub use addons::{Addon, addons};
pub use apply::{apply, apply_plan};
pub use plan::plan;
pub use remote::{JoinError, NodeTarget, Options, Secret};

use std::net::IpAddr;
use std::path::Path;

use rackpipe_model::documents::RenderedFile;
use rackpipe_model::kubernetes::K8sNode;
use rackpipe_model::{Diagnostic, Site};
use serde::Serialize;

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The site has no `kubernetes` section.
    #[error("kubernetes: the site has no kubernetes section")]
    NoCluster,
    /// Something the section refers to is missing (validation normally catches this first).
    #[error("{path}: {message}")]
    Unresolved {
        /// Field path.
        path: String,
        /// What is missing.
        message: String,
    },
    /// A template failed to load or render (`template NAME: MESSAGE`).
    #[error(transparent)]
    Template(#[from] rackpipe_render::TemplateError),
}

impl Error {
    /// Rendering never fails for a transient reason.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        false
    }
}

/// The kubeadm config API version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiVersion {
    /// `kubeadm.k8s.io/v1beta4` (Kubernetes 1.31+): extra args are `{name, value}` lists.
    #[default]
    V1beta4,
    /// `kubeadm.k8s.io/v1beta3` (older clusters): extra args are maps.
    V1beta3,
}

impl ApiVersion {
    /// The version kubeadm of Kubernetes `version` (`v1.30.2`) reads best: v1beta4 from 1.31
    /// on (where kubeadm writes it), v1beta3 before.
    #[must_use]
    pub fn for_kubernetes(version: &str) -> Self {
        let minor = version
            .trim_start_matches('v')
            .split('.')
            .nth(1)
            .and_then(|m| m.parse::<u32>().ok());
        match (version.trim_start_matches('v').split('.').next(), minor) {
            (Some("1"), Some(m)) if m < 31 => Self::V1beta3,
            _ => Self::V1beta4,
        }
    }

    /// The `apiVersion` string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1beta4 => "kubeadm.k8s.io/v1beta4",
            Self::V1beta3 => "kubeadm.k8s.io/v1beta3",
        }
    }
}

/// The cluster as kubeadm sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterView {
    /// Cluster name.
    pub name: String,
    /// Kubernetes version.
    pub version: String,
    /// `VIP:port` of the API.
    pub endpoint: String,
    /// Pod network.
    pub pod_subnet: String,
    /// Service network.
    pub service_subnet: String,
    /// DNS domain.
    pub dns_domain: String,
    /// CRI socket.
    pub cri_socket: String,
    /// API server certificate SANs: VIP, DNS name, every master's address and name.
    pub cert_sans: Vec<String>,
    /// Nodes, first master first.
    pub nodes: Vec<NodeView>,
}

/// A node as kubeadm sees it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    /// Node name.
    pub name: String,
    /// Guest it runs on.
    pub guest: String,
    /// Its address.
    pub address: String,
    /// Control-plane node.
    pub control_plane: bool,
    /// Taints as kubeadm objects.
    pub taints: Vec<serde_json::Value>,
    /// Node labels, `k=v` joined with commas (passed to the kubelet).
    pub labels: String,
}

/// Resolves the kubernetes section against the rest of the site.
pub fn cluster_view(site: &Site) -> Result<ClusterView, Error> {
    let k = site.kubernetes.as_ref().ok_or(Error::NoCluster)?;
    let unresolved = |path: &str, message: String| Error::Unresolved {
        path: path.to_owned(),
        message,
    };
    let lb = site.load_balancer.as_ref().ok_or_else(|| {
        unresolved(
            "kubernetes.control_plane.service",
            "no load_balancer section".into(),
        )
    })?;
    let service = lb
        .services
        .iter()
        .find(|s| s.name == k.control_plane.service)
        .ok_or_else(|| {
            unresolved(
                "kubernetes.control_plane.service",
                format!("no service {:?}", k.control_plane.service.as_str()),
            )
        })?;
    let vip = lb
        .vips
        .iter()
        .find(|v| v.name == service.vip)
        .ok_or_else(|| {
            unresolved(
                "kubernetes.control_plane.service",
                format!("no VIP {:?}", service.vip.as_str()),
            )
        })?;
    let address_of = |path: String, n: &K8sNode| -> Result<IpAddr, Error> {
        site.proxmox
            .as_ref()
            .and_then(|p| p.guests.iter().find(|g| g.name == n.guest))
            .and_then(|g| g.nics.iter().find_map(|nic| nic.address.map(|a| a.ip())))
            .ok_or_else(|| {
                unresolved(
                    &path,
                    format!("guest {:?} has no address", n.guest.as_str()),
                )
            })
    };
    let mut nodes = Vec::new();
    for (i, m) in k.masters.iter().enumerate() {
        nodes.push(node_view(
            m,
            address_of(format!("kubernetes.masters[{i}].guest"), m)?,
            true,
        ));
    }
    for (i, w) in k.workers.iter().enumerate() {
        nodes.push(node_view(
            w,
            address_of(format!("kubernetes.workers[{i}].guest"), w)?,
            false,
        ));
    }
    let mut cert_sans = vec![
        vip.address.to_string(),
        k.control_plane.dns_name.to_string(),
    ];
    for n in nodes.iter().filter(|n| n.control_plane) {
        cert_sans.push(n.address.clone());
        cert_sans.push(n.name.clone());
    }
    Ok(ClusterView {
        name: k.cluster_name.to_string(),
        version: k.version.clone(),
        endpoint: format!("{}:{}", vip.address, service.port),
        pod_subnet: k.pod_subnet.to_string(),
        service_subnet: k.service_subnet.to_string(),
        dns_domain: k.dns_domain.to_string(),
        cri_socket: k.cri_socket.clone(),
        cert_sans,
        nodes,
    })
}

fn node_view(n: &K8sNode, address: IpAddr, control_plane: bool) -> NodeView {
    let mut taints: Vec<serde_json::Value> = Vec::new();
    if control_plane {
        taints.push(serde_json::json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}));
    }
    for t in &n.taints {
        // `key=value:Effect` or `key:Effect`.
        let (kv, effect) = t.rsplit_once(':').unwrap_or((t.as_str(), "NoSchedule"));
        let (key, value) = kv.split_once('=').map_or((kv, None), |(k, v)| (k, Some(v)));
        let mut taint = serde_json::json!({"key": key, "effect": effect});
        if let Some(v) = value {
            taint["value"] = serde_json::json!(v);
        }
        taints.push(taint);
    }
    let labels = n
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    NodeView {
        name: n.name.to_string(),
        guest: n.guest.to_string(),
        address: address.to_string(),
        control_plane,
        taints,
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::ApiVersion;

    #[test]
    fn join_secrets_debug_is_redacted() {
        let s = super::JoinSecrets {
            token: "abcdef.0123456789abcdef".to_owned(),
            ca_cert_hash: "sha256:00".to_owned(),
            certificate_key: "f".repeat(64),
            placeholder: false,
        };
        let text = format!("{s:?}");
        assert!(
            !text.contains("abcdef.0123") && !text.contains(&"f".repeat(64)),
            "{text}"
        );
    }

    #[test]
    fn api_version_follows_kubernetes() {
        assert_eq!(ApiVersion::for_kubernetes("v1.31.4"), ApiVersion::V1beta4);
        assert_eq!(ApiVersion::for_kubernetes("v1.34.0"), ApiVersion::V1beta4);
        assert_eq!(ApiVersion::for_kubernetes("v1.30.9"), ApiVersion::V1beta3);
        assert_eq!(ApiVersion::for_kubernetes("v2.0.0"), ApiVersion::V1beta4);
    }
}

/// The join secrets written into a `JoinConfiguration`.
#[derive(Clone, Serialize)]
pub struct JoinSecrets {
    /// Bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub token: String,
    /// `sha256:<hex>` of the cluster CA's public key.
    pub ca_cert_hash: String,
    /// Hex key decrypting the uploaded control-plane certificates.
    pub certificate_key: String,
    /// Whether these are placeholders (rendered for review) rather than live values.
    pub placeholder: bool,
}

/// Never prints the token or the certificate key, even in debug logs.
impl std::fmt::Debug for JoinSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinSecrets")
            .field("token", &"<redacted>")
            .field("ca_cert_hash", &self.ca_cert_hash)
            .field("certificate_key", &"<redacted>")
            .field("placeholder", &self.placeholder)
            .finish()
    }
}

impl JoinSecrets {
    /// Well-formed placeholders for rendered files: real values are made at apply time.
    #[must_use]
    pub fn placeholders() -> Self {
        Self {
            token: "xxxxxx.xxxxxxxxxxxxxxxx".to_owned(),
            ca_cert_hash: format!("sha256:{}", "0".repeat(64)),
            certificate_key: "0".repeat(64),
            placeholder: true,
        }
    }
}

/// Any serialisable value as a template value.
fn mj<T: Serialize + ?Sized>(value: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

/// Built-in templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("init.yaml.j2", include_str!("../templates/init.yaml.j2")),
    ("join.yaml.j2", include_str!("../templates/join.yaml.j2")),
    (
        "addons/calico.yaml.j2",
        include_str!("../templates/addons/calico.yaml.j2"),
    ),
    (
        "addons/traefik-values.yaml.j2",
        include_str!("../templates/addons/traefik-values.yaml.j2"),
    ),
    (
        "addons/nfs-provisioner.yaml.j2",
        include_str!("../templates/addons/nfs-provisioner.yaml.j2"),
    ),
    (
        "addons/metrics-server-values.yaml.j2",
        include_str!("../templates/addons/metrics-server-values.yaml.j2"),
    ),
    (
        "addons/alert-rules.yaml.j2",
        include_str!("../templates/addons/alert-rules.yaml.j2"),
    ),
];

/// The template environment (`rackpipe_render`): the built-in templates, each replaced by
/// the file of the same name under `dir` when there is one.
fn environment(dir: Option<&Path>) -> Result<minijinja::Environment<'static>, Error> {
    rackpipe_render::environment(TEMPLATES, dir, rackpipe_render::Whitespace::default())
        .map_err(Error::from)
}

fn render_template(
    env: &minijinja::Environment<'_>,
    name: &str,
    ctx: minijinja::Value,
) -> Result<String, Error> {
    rackpipe_render::render(env, name, ctx)
        .map(|mut s| {
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s
        })
        .map_err(Error::from)
}

/// The kubelet extra args in the shape `version` wants.
fn kubelet_args(node: &NodeView, version: ApiVersion) -> serde_json::Value {
    if node.labels.is_empty() {
        return serde_json::Value::Null;
    }
    match version {
        ApiVersion::V1beta4 => serde_json::json!([{"name": "node-labels", "value": node.labels}]),
        ApiVersion::V1beta3 => serde_json::json!({"node-labels": node.labels}),
    }
}

/// The kubeadm config of one node, with `secrets` for a joining node.
pub fn node_config(
    site: &Site,
    cluster: &ClusterView,
    node: &NodeView,
    version: ApiVersion,
    secrets: &JoinSecrets,
    templates: Option<&Path>,
) -> Result<String, Error> {
    let env = environment(templates)?;
    let first = cluster.nodes.first().is_some_and(|n| n.name == node.name);
    let mut node_value = serde_json::to_value(node).unwrap_or_default();
    node_value["kubelet_args"] = kubelet_args(node, version);
    let ctx = minijinja::context! {
        site => site.metadata.name.as_str(),
        api_version => version.as_str(),
        cluster => mj(cluster),
        node => mj(&node_value),
        secrets => mj(secrets),
    };
    render_template(
        &env,
        if first {
            "init.yaml.j2"
        } else {
            "join.yaml.j2"
        },
        ctx,
    )
}

/// Renders every node's kubeadm config (join secrets as placeholders) and the addons, in the
/// API version the site's Kubernetes version reads.
pub fn render_for_site(site: &Site, templates: Option<&Path>) -> Result<Vec<RenderedFile>, Error> {
    let version = site.kubernetes.as_ref().map_or(ApiVersion::V1beta4, |k| {
        ApiVersion::for_kubernetes(&k.version)
    });
    render(site, version, templates)
}

/// Renders every node's kubeadm config (join secrets as placeholders) and the addons.
pub fn render(
    site: &Site,
    version: ApiVersion,
    templates: Option<&Path>,
) -> Result<Vec<RenderedFile>, Error> {
    let cluster = cluster_view(site)?;
    let secrets = JoinSecrets::placeholders();
    let mut files = Vec::new();
    for node in &cluster.nodes {
        files.push(RenderedFile {
            host: node.name.clone(),
            path: "/etc/kubernetes/kubeadm-config.yaml".to_owned(),
            mode: "0600".to_owned(),
            content: node_config(site, &cluster, node, version, &secrets, templates)?,
        });
    }
    for addon in addons::addons_of(site, &cluster, templates)? {
        for f in addon.files {
            files.push(RenderedFile {
                host: "addons".to_owned(),
                path: f.name,
                mode: "0644".to_owned(),
                content: f.content,
            });
        }
    }
    Ok(files)
}

/// kubeadm-specific rules beyond the generic site checks.
#[must_use]
pub fn check(site: &Site) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(k) = &site.kubernetes else {
        return out;
    };
    if let Some(service) = site.load_balancer.as_ref().and_then(|lb| {
        lb.services
            .iter()
            .find(|s| s.name == k.control_plane.service)
    }) {
        if service.port != 6443 {
            out.push(Diagnostic::warning(
                "api-port",
                "kubernetes.control_plane.service",
                format!(
                    "service {:?} publishes the API on port {}, not 6443",
                    service.name.as_str(),
                    service.port
                ),
            ));
        }
        if service.mode != rackpipe_model::loadbalancer::ProxyMode::Tcp {
            out.push(Diagnostic::error("api-mode", "kubernetes.control_plane.service", "the API must be proxied in tcp mode (kubeadm's certificates end at the API server)"));
        }
    }
    // Masters' taints as much as workers' (the typed `Taint` rejects these when the site is
    // parsed; this keeps the rule for documents built in code).
    for (field, node) in k.nodes_with_paths() {
        for (j, t) in node.taints.iter().enumerate() {
            let effect = t.rsplit_once(':').map(|(_, e)| e);
            if !matches!(
                effect,
                Some("NoSchedule" | "PreferNoSchedule" | "NoExecute")
            ) {
                out.push(Diagnostic::error(
                    "taint",
                    format!("{field}.taints[{j}]"),
                    format!("{t:?} is not key[=value]:NoSchedule|PreferNoSchedule|NoExecute"),
                ));
            }
        }
    }
    // Every downloaded artefact needs its pin (plan, apply and render refuse without one).
    if let Err(Error::Unresolved { path, message }) = addons::addons(site, None)
        && path.starts_with("kubernetes.artifacts")
    {
        out.push(Diagnostic::error("artifact-pin", path, message));
    }
    out
}
