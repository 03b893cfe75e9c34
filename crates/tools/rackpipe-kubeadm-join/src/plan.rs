//! `kubeadm-join plan`: what the nodes are (member, half-joined, absent) and the steps apply
//! would run.
//!
//! A node is a **member** when its `kubelet.conf` exists and the API server (asked through a
//! master's `admin.conf`) lists it; **half-joined** when it has kubeadm's files
//! (`kubelet.conf`, `bootstrap-kubelet.conf`, `pki/ca.crt`, `admin.conf`) but is not a member,
//! or is listed while its kubelet config is gone — such a node is `kubeadm reset -f` before it
//! joins again; **absent** otherwise.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rackpipe_model::Site;
use rackpipe_model::documents::{Action, Change, Plan};
use serde::Serialize;
use sha2::Digest;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::addons::{Addon, AddonStep};
use crate::remote::{JoinError, Node, Options};
use crate::{ClusterView, NodeView, cluster_view};

/// The files whose presence says kubeadm has been at a node.
const KUBEADM_FILES: &[&str] = &[
    "kubelet.conf",
    "admin.conf",
    "bootstrap-kubelet.conf",
    "pki/ca.crt",
];

/// What a node is, as far as kubeadm is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeState {
    /// `kubelet.conf` present and listed by the API server.
    Member,
    /// kubeadm left files behind but the node is not (fully) a member.
    HalfJoined,
    /// Nothing of kubeadm on the node.
    Absent,
}

/// One node as observed.
#[derive(Debug, Clone, Serialize)]
pub struct ObservedNode {
    /// Node name.
    pub name: String,
    /// Control-plane node.
    pub control_plane: bool,
    /// Its state.
    pub state: NodeState,
    /// kubeadm files present under the kubernetes directory.
    pub files: Vec<String>,
    /// Listed by the API server.
    pub listed: bool,
    /// Ready according to the API server.
    pub ready: bool,
    /// Labels on the Node object.
    pub labels: BTreeMap<String, String>,
    /// Taints on the Node object, `key[=value]:Effect`.
    pub taints: Vec<String>,
}

/// The cluster as observed.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    /// The master whose `admin.conf` answered, if any (no cluster otherwise).
    pub api_node: Option<String>,
    /// Every node of the site, first master first.
    pub nodes: Vec<ObservedNode>,
    /// Addon name → SHA-256 recorded in the `kube-system/rackpipe-addons` ConfigMap.
    pub addons: BTreeMap<String, String>,
}

/// One step of apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `kubeadm init --upload-certs` on the first master.
    Init(String),
    /// `kubeadm reset -f`, then init (the first master was half-initialised).
    ResetInit(String),
    /// `kubeadm join`.
    Join(String),
    /// `kubeadm reset -f`, then join.
    ResetRejoin(String),
    /// `kubectl label node` with these labels.
    Label(String, BTreeMap<String, String>),
    /// `kubectl taint node` with these taints (`key[=value]:Effect`).
    Taint(String, Vec<String>),
    /// Apply an addon through the master's admin.conf.
    Addon(AddonStep),
}

impl Step {
    /// The node the step is about.
    #[must_use]
    pub fn node(&self) -> &str {
        match self {
            Self::Init(n) | Self::ResetInit(n) | Self::Join(n) | Self::ResetRejoin(n) => n,
            Self::Label(n, _) | Self::Taint(n, _) => n,
            Self::Addon(a) => &a.node,
        }
    }

    /// The change document of the step (no secrets: configs go to files on the node).
    #[must_use]
    pub fn change(&self, kdir: &str) -> Change {
        let config = format!("{kdir}/kubeadm-config.yaml");
        let (action, commands, after) = match self {
            Self::Init(_) => (
                Action::Create,
                vec![format!("kubeadm init --config {config} --upload-certs")],
                None,
            ),
            Self::ResetInit(_) => (
                Action::Update,
                vec![
                    "kubeadm reset -f".to_owned(),
                    format!("kubeadm init --config {config} --upload-certs"),
                ],
                None,
            ),
            Self::Join(_) => (
                Action::Create,
                vec![format!("kubeadm join --config {config}")],
                None,
            ),
            Self::ResetRejoin(_) => (
                Action::Update,
                vec![
                    "kubeadm reset -f".to_owned(),
                    format!("kubeadm join --config {config}"),
                ],
                None,
            ),
            Self::Label(_, l) => (
                Action::Update,
                self.kubectl_args()
                    .map(|(_, a)| format!("kubectl {a}"))
                    .into_iter()
                    .collect(),
                Some(serde_json::json!({ "labels": l })),
            ),
            Self::Taint(_, t) => (
                Action::Update,
                self.kubectl_args()
                    .map(|(_, a)| format!("kubectl {a}"))
                    .into_iter()
                    .collect(),
                Some(serde_json::json!({ "taints": t })),
            ),
            Self::Addon(a) => return a.change(),
        };
        Change {
            action,
            target: self.node().to_owned(),
            resource: self.to_string(),
            before: None,
            after,
            diff: None,
            commands,
        }
    }
}

impl Step {
    /// For a label or taint step, the verb and the `kubectl` arguments after the kubeconfig,
    /// shell-quoted: `label node --overwrite -- NAME k=v ...`. Option parsing ends with `--`
    /// before the first site value, so a node name, label or taint starting with `-` is never
    /// read as an option.
    #[must_use]
    pub fn kubectl_args(&self) -> Option<(&'static str, String)> {
        let (verb, node, specs) = match self {
            Self::Label(n, l) => (
                "label",
                n,
                l.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>(),
            ),
            Self::Taint(n, t) => ("taint", n, t.clone()),
            _ => return None,
        };
        let q = rackpipe_ssh::shell_quote;
        let mut args = format!("{verb} node --overwrite -- {}", q(node));
        for s in &specs {
            args.push(' ');
            args.push_str(&q(s));
        }
        Some((verb, args))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Init(n) => write!(f, "init {n}"),
            Self::ResetInit(n) => write!(f, "reset+init {n}"),
            Self::Join(n) => write!(f, "join {n}"),
            Self::ResetRejoin(n) => write!(f, "reset+rejoin {n}"),
            Self::Label(n, _) => write!(f, "label {n}"),
            Self::Taint(n, _) => write!(f, "taint {n}"),
            Self::Addon(a) => write!(f, "addon {}", a.name),
        }
    }
}

/// Connected nodes by name.
pub(crate) type Nodes = BTreeMap<String, Arc<Node>>;

/// Connects to every node of the cluster, `options.parallelism` at a time. Any failure
/// (unreachable, wrong host key) is returned before anything is run.
pub(crate) async fn connect_all(
    cluster: &ClusterView,
    options: &Options,
) -> Result<Nodes, JoinError> {
    let sem = Arc::new(Semaphore::new(options.parallelism.max(1)));
    let mut set = JoinSet::new();
    for node in &cluster.nodes {
        let target = options.target_for(node);
        let name = node.name.clone();
        let sem = Arc::clone(&sem);
        let timeout = options.command_timeout;
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            Node::connect(&name, &target, timeout).await
        });
    }
    let mut nodes = BTreeMap::new();
    let mut first_error: Option<JoinError> = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(n)) => {
                nodes.insert(n.name.clone(), Arc::new(n));
            }
            Ok(Err(e)) => {
                // Report the first node in site order, so the message is stable.
                let order = |e: &JoinError| match e {
                    JoinError::Ssh { node, .. } => {
                        cluster.nodes.iter().position(|n| &n.name == node)
                    }
                    _ => None,
                };
                if first_error.as_ref().is_none_or(|f| order(&e) < order(f)) {
                    first_error = Some(e);
                }
            }
            Err(e) => {
                first_error = first_error.or(Some(JoinError::Cluster(format!(
                    "connect task failed: {e}"
                ))))
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(nodes),
    }
}

/// The API server's view: node name → (ready, labels, taints).
pub(crate) type ApiNodes = BTreeMap<String, (bool, BTreeMap<String, String>, Vec<String>)>;

/// `kubectl get nodes -o json` through `api`'s admin.conf.
pub(crate) async fn api_nodes(api: &Node) -> Result<ApiNodes, JoinError> {
    let cmd = format!(
        "kubectl --kubeconfig {} get nodes -o json",
        api.kpath("admin.conf")
    );
    let out = api.check(&cmd, "kubectl get nodes").await?;
    let bad = |m: &str| JoinError::Output {
        node: api.name.clone(),
        command: "kubectl get nodes -o json".to_owned(),
        message: m.to_owned(),
    };
    let doc: serde_json::Value = serde_json::from_str(&out).map_err(|e| bad(&e.to_string()))?;
    let items = doc
        .get("items")
        .and_then(|i| i.as_array())
        .ok_or_else(|| bad("no items"))?;
    let mut nodes = BTreeMap::new();
    for item in items {
        let name = item
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("item without metadata.name"))?;
        let labels = item
            .pointer("/metadata/labels")
            .and_then(|l| l.as_object())
            .map(|l| {
                l.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let taints = item
            .pointer("/spec/taints")
            .and_then(|t| t.as_array())
            .map(|ts| ts.iter().map(taint_string).collect())
            .unwrap_or_default();
        let ready = item
            .pointer("/status/conditions")
            .and_then(|c| c.as_array())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("type").and_then(|t| t.as_str()) == Some("Ready")
                        && c.get("status").and_then(|s| s.as_str()) == Some("True")
                })
            });
        nodes.insert(name.to_owned(), (ready, labels, taints));
    }
    Ok(nodes)
}

/// `key[=value]:Effect` of a taint object.
pub(crate) fn taint_string(t: &serde_json::Value) -> String {
    let s = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let value = s("value");
    if value.is_empty() {
        format!("{}:{}", s("key"), s("effect"))
    } else {
        format!("{}={}:{}", s("key"), value, s("effect"))
    }
}

/// Which kubeadm files exist on every node, and the API server's view.
pub(crate) async fn observe(cluster: &ClusterView, nodes: &Nodes) -> Result<Observed, JoinError> {
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut set = JoinSet::new();
    for node in nodes.values() {
        let node = Arc::clone(node);
        set.spawn(async move {
            let script = KUBEADM_FILES
                .iter()
                .map(|f| format!("if [ -e {} ]; then echo {f}; fi", node.kpath(f)))
                .collect::<Vec<_>>()
                .join("; ");
            let out = node.check(&script, "ls kubernetes dir").await?;
            Ok::<_, JoinError>((
                node.name.clone(),
                out.lines().map(str::to_owned).collect::<Vec<_>>(),
            ))
        });
    }
    while let Some(j) = set.join_next().await {
        let (name, f) =
            j.map_err(|e| JoinError::Cluster(format!("observe task failed: {e}")))??;
        files.insert(name, f);
    }
    let mut api_node = None;
    let mut api = ApiNodes::new();
    let mut addons = BTreeMap::new();
    for m in cluster.nodes.iter().filter(|n| n.control_plane) {
        let has_admin = files
            .get(&m.name)
            .is_some_and(|f| f.iter().any(|x| x == "admin.conf"));
        if let (true, Some(node)) = (has_admin, nodes.get(&m.name)) {
            match api_nodes(node).await {
                Ok(a) => {
                    api = a;
                    api_node = Some(m.name.clone());
                    addons = crate::addons::recorded(node).await?;
                    break;
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }
    let mut observed = Vec::new();
    for n in &cluster.nodes {
        let f = files.get(&n.name).cloned().unwrap_or_default();
        let listed = api.get(&n.name);
        let has_kubelet = f.iter().any(|x| x == "kubelet.conf");
        let state = match (listed.is_some(), has_kubelet, f.is_empty()) {
            (true, true, _) => NodeState::Member,
            (false, _, true) => NodeState::Absent,
            _ => NodeState::HalfJoined,
        };
        observed.push(ObservedNode {
            name: n.name.clone(),
            control_plane: n.control_plane,
            state,
            files: f,
            listed: listed.is_some(),
            ready: listed.is_some_and(|l| l.0),
            labels: listed.map(|l| l.1.clone()).unwrap_or_default(),
            taints: listed.map(|l| l.2.clone()).unwrap_or_default(),
        });
    }
    if api_node.is_none()
        && let Some(stray) = observed
            .iter()
            .find(|o| o.files.iter().any(|f| f == "kubelet.conf"))
    {
        return Err(JoinError::Cluster(format!(
            "no master answers through admin.conf but {} has kubelet.conf: refusing to init a second cluster (check the masters)",
            stray.name
        )));
    }
    Ok(Observed {
        api_node,
        nodes: observed,
        addons,
    })
}

/// The labels (`k=v,...`) of a node view as a map.
pub(crate) fn desired_labels(node: &NodeView) -> BTreeMap<String, String> {
    node.labels
        .split(',')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Label and taint steps for members whose Node object lacks what the site wants.
pub(crate) fn metadata_steps(cluster: &ClusterView, observed: &Observed) -> Vec<Step> {
    let mut steps = Vec::new();
    for (n, o) in cluster.nodes.iter().zip(&observed.nodes) {
        if o.state != NodeState::Member {
            continue;
        }
        let labels: BTreeMap<_, _> = desired_labels(n)
            .into_iter()
            .filter(|(k, v)| o.labels.get(k) != Some(v))
            .collect();
        if !labels.is_empty() {
            steps.push(Step::Label(n.name.clone(), labels));
        }
        let taints: Vec<String> = n
            .taints
            .iter()
            .map(taint_string)
            .filter(|t| !o.taints.contains(t))
            .collect();
        if !taints.is_empty() {
            steps.push(Step::Taint(n.name.clone(), taints));
        }
    }
    steps
}

/// The steps that bring `observed` to the site, in the order apply runs them.
#[must_use]
pub fn steps(cluster: &ClusterView, observed: &Observed) -> Vec<Step> {
    let mut steps = Vec::new();
    let exists = observed.api_node.is_some();
    for (i, o) in observed.nodes.iter().enumerate() {
        let name = o.name.clone();
        match (i == 0 && !exists, o.state) {
            (true, NodeState::Absent) => steps.push(Step::Init(name)),
            (true, _) => steps.push(Step::ResetInit(name)),
            (false, NodeState::Member) => {}
            (false, NodeState::Absent) => steps.push(Step::Join(name)),
            (false, NodeState::HalfJoined) => steps.push(Step::ResetRejoin(name)),
        }
    }
    steps.extend(metadata_steps(cluster, observed));
    steps
}

/// Every step apply would run, in its order: init, the CNI (nodes are NotReady without it),
/// joins, labels and taints, the other addons. Addons run on the API master (`api`, whose
/// kubernetes directory is `api_kdir`): the observed one, or the first master.
#[must_use]
pub fn all_steps(
    cluster: &ClusterView,
    addons: &[Addon],
    observed: &Observed,
    api: &str,
    api_kdir: &str,
) -> Vec<Step> {
    let nodes = steps(cluster, observed);
    let (cni, rest): (Vec<AddonStep>, Vec<AddonStep>) =
        crate::addons::steps(api, api_kdir, addons, &observed.addons)
            .into_iter()
            .partition(|a| a.cni);
    let split = nodes
        .iter()
        .position(|s| !matches!(s, Step::Init(_) | Step::ResetInit(_)))
        .unwrap_or(nodes.len());
    let mut out: Vec<Step> = nodes[..split].to_vec();
    out.extend(cni.into_iter().map(Step::Addon));
    out.extend(nodes[split..].iter().cloned());
    out.extend(rest.into_iter().map(Step::Addon));
    out
}

/// The master addons are applied through: the one that answered, or the first master.
pub(crate) fn api_master<'a>(
    cluster: &'a ClusterView,
    observed: &Observed,
) -> Option<&'a NodeView> {
    match &observed.api_node {
        Some(n) => cluster.nodes.iter().find(|x| &x.name == n),
        None => cluster.nodes.iter().find(|x| x.control_plane),
    }
}

/// What plan and apply compare against: the cluster and every addon's hash.
pub(crate) fn desired_digest(cluster: &ClusterView, addons: &[Addon]) -> String {
    let hashes: BTreeMap<&str, String> = addons
        .iter()
        .map(|a| (a.name.as_str(), a.sha256()))
        .collect();
    digest(&(cluster, hashes))
}

/// SHA-256 of a value's JSON, hex.
pub(crate) fn digest<T: Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(&bytes))
}

/// Connects to every node (host keys verified), observes it and returns the steps apply
/// would run as a [`Plan`]. Runs nothing that changes a node.
///
/// # Errors
/// [`JoinError`]: rendering, an unreachable node or wrong host key (nothing started), a
/// cluster state apply will not touch.
pub async fn plan(site: &Site, options: &Options) -> Result<Plan, JoinError> {
    let cluster = cluster_view(site)?;
    let addons = crate::addons::addons_of(site, &cluster, options.templates.as_deref())?;
    let nodes = connect_all(&cluster, options).await?;
    let observed = observe(&cluster, &nodes).await;
    close_all(nodes).await;
    let observed = observed?;
    let api = api_master(&cluster, &observed)
        .ok_or_else(|| JoinError::Cluster("no master in the site".to_owned()))?;
    let steps = all_steps(
        &cluster,
        &addons,
        &observed,
        &api.name,
        &options.target_for(api).kubernetes_dir,
    );
    let changes: Vec<Change> = steps
        .iter()
        .map(|s| {
            let kdir = cluster
                .nodes
                .iter()
                .find(|n| n.name == s.node())
                .map_or_else(
                    || "/etc/kubernetes".to_owned(),
                    |n| options.target_for(n).kubernetes_dir,
                );
            s.change(&kdir)
        })
        .collect();
    Ok(Plan::new(
        "kubeadm-join",
        site.metadata.name.as_str(),
        desired_digest(&cluster, &addons),
        digest(&observed),
        changes,
    ))
}

/// Closes every session.
pub(crate) async fn close_all(nodes: Nodes) {
    for (_, node) in nodes {
        if let Ok(node) = Arc::try_unwrap(node) {
            node.session.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Option<ClusterView> {
        let path = rackpipe_testkit::project_root().join("examples/rachuna-net/site.yaml");
        let bytes = std::fs::read(&path).ok()?;
        let site = rackpipe_model::load_and_validate("site.yaml", &bytes)
            .ok()?
            .site;
        cluster_view(&site).ok()
    }

    fn observed(
        cluster: &ClusterView,
        api: Option<&str>,
        state: impl Fn(&str) -> NodeState,
    ) -> Observed {
        let nodes = cluster
            .nodes
            .iter()
            .map(|n| {
                let s = state(&n.name);
                ObservedNode {
                    name: n.name.clone(),
                    control_plane: n.control_plane,
                    state: s,
                    files: Vec::new(),
                    listed: s == NodeState::Member,
                    ready: s == NodeState::Member,
                    labels: desired_labels(n),
                    taints: n.taints.iter().map(taint_string).collect(),
                }
            })
            .collect();
        Observed {
            api_node: api.map(str::to_owned),
            nodes,
            addons: BTreeMap::new(),
        }
    }

    #[test]
    fn half_initialised_first_master_is_reset_then_init() {
        let Some(c) = cluster() else { return };
        let o = observed(&c, None, |n| {
            if n == "k8s-master-1" {
                NodeState::HalfJoined
            } else {
                NodeState::Absent
            }
        });
        let s: Vec<String> = steps(&c, &o).iter().map(ToString::to_string).collect();
        assert_eq!(s[0], "reset+init k8s-master-1");
        assert_eq!(s.len(), 9);
    }

    #[test]
    fn site_values_come_after_the_end_of_options() {
        let labels: BTreeMap<String, String> =
            [("--kubeconfig".to_owned(), "/tmp/x".to_owned())].into();
        let (verb, args) = Step::Label("-n".to_owned(), labels).kubectl_args().unwrap();
        assert_eq!(verb, "label");
        assert_eq!(args, "label node --overwrite -- -n --kubeconfig=/tmp/x");
        let step = Step::Taint("--all".to_owned(), vec!["-x=y:NoSchedule".to_owned()]);
        let (_, args) = step.kubectl_args().unwrap();
        assert_eq!(args, "taint node --overwrite -- --all -x=y:NoSchedule");
        assert_eq!(
            step.change("/etc/kubernetes").commands,
            vec![format!("kubectl {args}")]
        );
        assert!(Step::Join("w".to_owned()).kubectl_args().is_none());
    }

    #[test]
    fn members_with_the_right_metadata_need_nothing() {
        let Some(c) = cluster() else { return };
        let mut o = observed(&c, Some("k8s-master-1"), |_| NodeState::Member);
        assert!(steps(&c, &o).is_empty());
        o.nodes[8].taints.clear();
        o.nodes[3].state = NodeState::HalfJoined;
        let s: Vec<String> = steps(&c, &o).iter().map(ToString::to_string).collect();
        assert_eq!(s, vec!["reset+rejoin k8s-worker-1", "taint k8s-worker-6"]);
    }
}
