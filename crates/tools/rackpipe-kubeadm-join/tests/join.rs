//! `plan` and `apply` against nine real sshd hosts on loopback (one per node of the example
//! site, or fewer), each with its own kubernetes directory and a kubeadm/kubectl/helm/crictl/curl
//! **test double** (`standin/kubeadm-standin.py`) on its PATH. The double validates configs strictly, prints
//! kubeadm's real output formats and keeps cluster and node state on disk.
#![allow(clippy::print_stderr, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rackpipe_kubeadm_join::{NodeTarget, Options, apply, apply_plan, plan};
use rackpipe_model::Site;
use rackpipe_ssh::HostKeyPolicy;
use rackpipe_ssh::testing::SshServer;

struct Harness {
    dir: tempfile::TempDir,
    servers: BTreeMap<String, SshServer>,
    site: Site,
    options: Options,
    python: PathBuf,
}

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("standin/kubeadm-standin.py")
}

fn example_site() -> Option<Site> {
    let (_, bytes) = rackpipe_testkit::example_site("rachuna-net");
    Some(
        rackpipe_model::load_and_validate("site.yaml", &bytes)
            .expect("example validates")
            .site,
    )
}

impl Harness {
    fn start() -> Option<Self> {
        Self::start_with(|_| {})
    }

    /// A harness for the example site changed by `edit` (e.g. fewer nodes).
    fn start_with(edit: impl FnOnce(&mut Site)) -> Option<Self> {
        let python = rackpipe_testkit::require_tool("python3")?;
        let has_yaml = Command::new(&python)
            .args(["-c", "import yaml"])
            .status()
            .is_ok_and(|s| s.success());
        if !has_yaml {
            assert!(
                !rackpipe_testkit::services_required(),
                "python3-yaml is required"
            );
            eprintln!("skipped: python3 has no yaml module");
            return None;
        }
        // The interpreter itself (a pyenv shim costs 0.1 s per call).
        let python = Command::new(&python)
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .unwrap_or(python);
        let mut site = example_site()?;
        edit(&mut site);
        let cluster = rackpipe_kubeadm_join::cluster_view(&site).unwrap();
        let dir = rackpipe_testkit::temp_dir();
        let state = dir.path().join("cluster");
        std::fs::create_dir_all(&state).unwrap();
        let mut servers = BTreeMap::new();
        let mut targets = BTreeMap::new();
        for node in &cluster.nodes {
            let server = SshServer::start()?;
            let root = dir.path().join("nodes").join(&node.name);
            let bin = root.join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            for tool in ["kubeadm", "kubectl", "helm", "crictl", "curl"] {
                let wrapper = format!(
                    "#!/bin/sh\n# TEST DOUBLE: rackpipe-kubeadm-join's test stand-in, not the real {tool}.\n\
                     STANDIN_STATE='{}' STANDIN_NODE='{}' STANDIN_KDIR='{}' STANDIN_READY_DELAY=0.3 \
                     exec '{}' '{}' {tool} \"$@\"\n",
                    state.display(),
                    node.name,
                    root.join("kubernetes").display(),
                    python.display(),
                    standin().display()
                );
                let path = bin.join(tool);
                std::fs::write(&path, wrapper).unwrap();
                Command::new("chmod")
                    .arg("755")
                    .arg(&path)
                    .status()
                    .unwrap();
            }
            let mut connect = server.options();
            connect.exec_timeout = Duration::from_secs(30);
            targets.insert(
                node.name.clone(),
                NodeTarget {
                    connect,
                    kubernetes_dir: root.join("kubernetes").display().to_string(),
                    path_prefix: Some(bin.display().to_string()),
                },
            );
            servers.insert(node.name.clone(), server);
        }
        let first = servers.values().next().unwrap();
        let mut options = Options::new(
            first.user(),
            first.client_key(),
            HostKeyPolicy::KnownHosts {
                path: first.known_hosts(),
                accept_new: false,
            },
        );
        options.targets = targets;
        options.ready_timeout = Duration::from_secs(20);
        options.command_timeout = Duration::from_secs(30);
        options.parallelism = 4;
        Some(Self {
            dir,
            servers,
            site,
            options,
            python,
        })
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("cluster")
    }

    fn node_root(&self, node: &str) -> PathBuf {
        self.dir.path().join("nodes").join(node)
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn cluster(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.state().join("cluster.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// The bootstrap tokens that still join (not deleted).
    fn live_tokens(&self) -> usize {
        self.cluster()["tokens"].as_array().map_or(0, Vec::len)
    }

    fn set_faults(&self, lines: &str) {
        std::fs::write(self.state().join("faults"), lines).unwrap();
    }

    /// Every token and certificate key the cluster ever issued (deleted tokens too).
    fn secrets(&self) -> Vec<String> {
        let c = self.cluster();
        let mut s: Vec<String> = ["tokens", "deleted_tokens"]
            .iter()
            .flat_map(|k| c[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t["token"].as_str().map(str::to_owned))
            .collect();
        s.extend(c["cert_key"]["key"].as_str().map(str::to_owned));
        s
    }

    /// Runs a stand-in command as node `node` would (for operator actions in tests).
    fn run_as(&self, node: &str, tool: &str, args: &[&str]) -> std::process::Output {
        Command::new(self.node_root(node).join("bin").join(tool))
            .args(args)
            .output()
            .unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

const ADDONS_AFTER: [&str; 3] = [
    "addon nfs-provisioner",
    "addon traefik",
    "addon metrics-server",
];

fn resources(changes: &[rackpipe_model::documents::Change]) -> Vec<String> {
    changes.iter().map(|c| c.resource.clone()).collect()
}

fn mutating(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| !c.ends_with(" kubectl get"))
        .cloned()
        .collect()
}

#[test]
fn init_join_fail_renew_and_idempotent_second_apply() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let rt = rt();
    let all_joins: Vec<String> = [
        "init k8s-master-1",
        "join k8s-master-2",
        "join k8s-master-3",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain((1..=6).map(|i| format!("join k8s-worker-{i}")))
    .collect();
    // The CNI right after init, the other addons last.
    let mut all_steps = all_joins.clone();
    all_steps.insert(1, "addon calico".to_owned());
    all_steps.extend(ADDONS_AFTER.iter().map(|s| (*s).to_owned()));

    // Plan on empty nodes: every step, nothing run.
    let p = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&p.changes), all_steps);
    assert_eq!(p.summary.create, 13);
    assert!(h.calls().is_empty(), "plan ran {:?}", h.calls());

    // Apply: worker-2 fails half-way once; master-3's join finds the uploaded certs expired.
    h.set_faults("join-fail k8s-worker-2 1\nexpire-certs k8s-master-3\n");
    let r = rt.block_on(apply(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&r.applied), all_steps);
    let calls = h.calls();
    let count = |needle: &str| calls.iter().filter(|c| c.as_str() == needle).count();
    assert_eq!(count("k8s-master-1 kubeadm init"), 1, "{calls:#?}");
    // init's token and the one the joins used are deleted once the joins are over.
    assert_eq!(count("k8s-master-1 kubeadm token delete"), 1, "{calls:#?}");
    assert_eq!(h.live_tokens(), 0, "{}", h.cluster()["tokens"]);
    assert_eq!(
        h.cluster()["deleted_tokens"].as_array().map_or(0, Vec::len),
        2
    );
    assert_eq!(count("k8s-worker-2 kubeadm reset"), 1);
    assert_eq!(count("k8s-worker-2 kubeadm join"), 2);
    assert_eq!(count("k8s-master-3 kubeadm reset"), 1);
    assert_eq!(count("k8s-master-3 kubeadm join"), 2);
    assert_eq!(
        count("k8s-master-1 kubeadm init phase upload-certs"),
        1,
        "renewed once"
    );
    let w2 = r
        .applied
        .iter()
        .find(|c| c.target == "k8s-worker-2")
        .unwrap();
    assert_eq!(w2.after, Some(serde_json::json!({"attempts": 2})));
    assert!(
        w2.commands
            .iter()
            .any(|c| c.starts_with("kubeadm reset -f"))
    );
    let m3 = r
        .applied
        .iter()
        .find(|c| c.target == "k8s-master-3")
        .unwrap();
    assert!(
        m3.commands
            .iter()
            .any(|c| c.contains("certificate key renewed"))
    );
    // Workers joined in parallel, masters one at a time: masters' joins come first.
    let first_worker = calls
        .iter()
        .position(|c| c.contains("worker") && c.ends_with("kubeadm join"))
        .unwrap();
    let last_master = calls
        .iter()
        .rposition(|c| c.contains("master") && c.ends_with("kubeadm join"))
        .unwrap();
    assert!(last_master < first_worker);

    let c = h.cluster();
    let members = c["members"].as_object().unwrap();
    assert_eq!(members.len(), 9);
    assert_eq!(
        members
            .values()
            .filter(|m| m["control_plane"] == true)
            .count(),
        3
    );
    assert_eq!(
        members["k8s-worker-1"]["labels"]["topology.kubernetes.io/zone"],
        "pve-s1"
    );
    assert_eq!(
        members["k8s-worker-6"]["taints"],
        serde_json::json!([{"key": "dedicated", "value": "nonprod", "effect": "PreferNoSchedule"}])
    );
    for n in ["k8s-master-2", "k8s-worker-2"] {
        let kdir = h.node_root(n).join("kubernetes");
        assert!(kdir.join("kubelet.conf").exists(), "{n}");
        assert!(
            !kdir.join("kubeadm-config.yaml").exists(),
            "{n}: join config (with the token) left behind"
        );
    }
    assert!(
        h.node_root("k8s-master-2")
            .join("kubernetes/admin.conf")
            .exists()
    );
    assert!(
        !h.node_root("k8s-worker-2")
            .join("kubernetes/admin.conf")
            .exists()
    );

    // No secret in the documents.
    let secrets = h.secrets();
    assert!(!secrets.is_empty());
    let docs = serde_json::to_string(&r).unwrap() + &serde_json::to_string(&p).unwrap();
    for s in &secrets {
        assert!(
            !docs.contains(s.as_str()),
            "a secret leaked into a document"
        );
    }

    // Second plan/apply: nothing to do, nothing run but reads.
    let before = h.calls().len();
    let p2 = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert!(p2.changes.is_empty(), "{:?}", resources(&p2.changes));
    let stale = rt
        .block_on(apply_plan(&h.site, &h.options, Some(&p)))
        .unwrap_err();
    assert_eq!(
        stale.to_string(),
        "stale plan: the nodes changed since the plan was made; run plan again"
    );
    let r2 = rt
        .block_on(apply_plan(&h.site, &h.options, Some(&p2)))
        .unwrap();
    assert!(r2.applied.is_empty(), "{:?}", resources(&r2.applied));
    assert_eq!(mutating(&h.calls()[before..]), Vec::<String>::new());

    // A label changed in the site: only that label is applied.
    let k = h.site.kubernetes.as_mut().unwrap();
    k.workers[2].labels.insert(
        "topology.kubernetes.io/zone".parse().unwrap(),
        "pve-s9".parse().unwrap(),
    );
    let p3 = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&p3.changes), vec!["label k8s-worker-3"]);
    let r3 = rt.block_on(apply(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&r3.applied), vec!["label k8s-worker-3"]);
    assert_eq!(
        h.cluster()["members"]["k8s-worker-3"]["labels"]["topology.kubernetes.io/zone"],
        "pve-s9"
    );

    // worker-5 was reset by hand and its joins keep failing: apply gives up naming it.
    assert!(
        h.run_as("k8s-worker-5", "kubeadm", &["reset", "-f"])
            .status
            .success()
    );
    h.set_faults("join-fail k8s-worker-5 9\n");
    h.options.join_attempts = 2;
    let err = rt.block_on(apply(&h.site, &h.options)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("k8s-worker-5: kubeadm join failed:"),
        "{msg}"
    );
    assert!(msg.contains("timed out waiting for the condition"), "{msg}");
    for s in h.secrets() {
        assert!(!msg.contains(s.as_str()), "secret in error");
    }
    assert!(!err.is_transient());
    // The join failed for good, and its token is deleted all the same.
    assert_eq!(h.live_tokens(), 0, "{}", h.cluster()["tokens"]);
    assert_eq!(
        h.calls().last().map(String::as_str),
        Some("k8s-master-1 kubeadm token delete")
    );
    // It is half-joined now (pki/ca.crt left behind): plan says reset+rejoin.
    assert!(
        h.node_root("k8s-worker-5")
            .join("kubernetes/pki/ca.crt")
            .exists()
    );
    let p4 = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&p4.changes), vec!["reset+rejoin k8s-worker-5"]);
    h.set_faults("");
    let r4 = rt.block_on(apply(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&r4.applied), vec!["reset+rejoin k8s-worker-5"]);
    assert!(
        rt.block_on(plan(&h.site, &h.options))
            .unwrap()
            .changes
            .is_empty()
    );
    assert_eq!(h.cluster()["members"].as_object().unwrap().len(), 9);
}

#[test]
fn unreachable_node_or_wrong_host_key_starts_nothing() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let rt = rt();
    // Wrong host key: worker-4 pinned to another server's fingerprint.
    let other = h.servers["k8s-master-1"].host_fingerprint().to_owned();
    let saved = h.options.targets["k8s-worker-4"].connect.host_key.clone();
    h.options
        .targets
        .get_mut("k8s-worker-4")
        .unwrap()
        .connect
        .host_key = HostKeyPolicy::Fingerprint(other);
    for result in [
        rt.block_on(plan(&h.site, &h.options)).map(drop),
        rt.block_on(apply(&h.site, &h.options)).map(drop),
    ] {
        let msg = result.unwrap_err().to_string();
        assert!(msg.starts_with("k8s-worker-4: 127.0.0.1:"), "{msg}");
        assert!(
            msg.contains("does not match the pinned fingerprint"),
            "{msg}"
        );
    }
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    h.options
        .targets
        .get_mut("k8s-worker-4")
        .unwrap()
        .connect
        .host_key = saved;

    // Unreachable: worker-3's sshd is gone.
    h.servers.get_mut("k8s-worker-3").unwrap().stop();
    let err = rt.block_on(apply(&h.site, &h.options)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("k8s-worker-3: 127.0.0.1:"), "{msg}");
    assert!(msg.contains("cannot connect"), "{msg}");
    assert!(err.is_transient());
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    assert!(!h.state().join("cluster.json").exists());
}

#[test]
fn failed_preflight_starts_nothing() {
    let Some(h) = Harness::start() else {
        return;
    };
    let rt = rt();
    std::fs::write(h.node_root("k8s-worker-4").join("runtime-down"), "").unwrap();
    let err = rt.block_on(apply(&h.site, &h.options)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("k8s-worker-4: preflight failed, nothing started: container runtime"),
        "{msg}"
    );
    assert!(
        h.calls()
            .iter()
            .all(|c| c.ends_with(" kubeadm config validate")),
        "{:?}",
        h.calls()
    );
    assert!(!h.state().join("cluster.json").exists(), "no init");
}

#[test]
fn a_config_kubeadm_rejects_stops_apply_before_anything_starts() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let rt = rt();
    // Templates with a misspelt field in the join config.
    let templates = h.dir.path().join("templates");
    let src = rackpipe_testkit::project_root().join("crates/tools/rackpipe-kubeadm-join/templates");
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(&src)
            .arg(&templates)
            .status()
            .unwrap()
            .success()
    );
    let join = templates.join("join.yaml.j2");
    let text = std::fs::read_to_string(&join).unwrap();
    std::fs::write(&join, text.replace("nodeRegistration:", "nodeRegistraton:")).unwrap();
    h.options.templates = Some(templates);
    let msg = rt
        .block_on(apply(&h.site, &h.options))
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(
            "k8s-master-2: preflight failed, nothing started: kubeadm config validate:"
        ),
        "{msg}"
    );
    assert!(msg.contains("unknown field \"nodeRegistraton\""), "{msg}");
    assert!(!h.state().join("cluster.json").exists(), "no init");
}

#[test]
fn the_standin_validates_configs_strictly() {
    let Some(h) = Harness::start() else {
        return;
    };
    let files = rackpipe_kubeadm_join::render_for_site(&h.site, None).unwrap();
    let cfg = |host: &str| {
        files
            .iter()
            .find(|f| f.host == host)
            .unwrap()
            .content
            .clone()
    };
    let path = h.dir.path().join("cfg.yaml");
    let validate = |content: &str, node: &str| {
        std::fs::write(&path, content).unwrap();
        h.run_as(
            node,
            "kubeadm",
            &["config", "validate", "--config", path.to_str().unwrap()],
        )
    };
    for node in ["k8s-master-1", "k8s-master-2", "k8s-worker-6"] {
        let out = validate(&cfg(node), node);
        assert!(
            out.status.success(),
            "{node}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    }
    let worker = cfg("k8s-worker-6");
    for (bad, expect) in [
        (
            worker.replace("nodeRegistration:", "nodeRegistraton:"),
            "unknown field \"nodeRegistraton\"",
        ),
        (
            worker.replace("xxxxxx.xxxxxxxxxxxxxxxx", "NOT-A-TOKEN"),
            "the bootstrap token is invalid",
        ),
        (worker.replace("sha256:0000", "md5:0000"), "invalid hash"),
        (
            worker.replace("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta9"),
            "no kind \"JoinConfiguration\" is registered",
        ),
    ] {
        let out = validate(&bad, "k8s-worker-6");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{expect}: {err}");
    }
    // The wrong node's config is refused.
    assert!(!validate(&worker, "k8s-worker-1").status.success());
    let _ = &h.python;
}

/// The example site with one master and one worker.
fn small(site: &mut Site) {
    let k = site.kubernetes.as_mut().unwrap();
    k.masters.truncate(1);
    k.workers.truncate(1);
}

impl Harness {
    fn objects(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.state().join("objects.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    fn releases(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.state().join("helm.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// The `rackpipe-addons` record as the stand-in's API server holds it.
    fn record(&self) -> serde_json::Value {
        self.objects()["v1|ConfigMap|kube-system|rackpipe-addons"]["data"].clone()
    }
}

#[test]
fn addons_are_applied_once_in_order_and_only_a_changed_one_again() {
    let Some(mut h) = Harness::start_with(small) else {
        return;
    };
    let rt = rt();
    let fresh = vec![
        "init k8s-master-1",
        "addon calico",
        "join k8s-worker-1",
        "addon nfs-provisioner",
        "addon traefik",
        "addon metrics-server",
    ];
    let p = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&p.changes), fresh);
    let calico = &p.changes[1];
    assert_eq!(calico.target, "k8s-master-1");
    // Downloaded, checked against the site's pin, and only then applied from the file.
    let pin = &h.site.kubernetes.as_ref().unwrap().artifacts["tigera-operator-v3.29.1.yaml"];
    assert_eq!(
        calico.commands[..2],
        [
            "curl -fsSL --proto =https --max-redirs 3 --max-filesize 67108864 --max-time 300 -o '$ADDONS_DIR/tigera-operator-v3.29.1.yaml' -- https://raw.githubusercontent.com/projectcalico/calico/v3.29.1/manifests/tigera-operator.yaml".to_owned(),
            format!("sha256sum -- '$ADDONS_DIR/tigera-operator-v3.29.1.yaml'  # must be {pin}"),
        ],
        "{:?}",
        calico.commands
    );
    assert!(
        calico.commands[2].contains(" apply --server-side --force-conflicts --field-manager=rackpipe -f '$ADDONS_DIR/tigera-operator-v3.29.1.yaml'"),
        "{:?}",
        calico.commands
    );
    let r = rt
        .block_on(apply_plan(&h.site, &h.options, Some(&p)))
        .unwrap();
    assert_eq!(resources(&r.applied), fresh);

    // Each addon once, the CNI before the worker joined (it could not get Ready without it).
    let calls = h.calls();
    let at = |needle: &str| {
        let hits: Vec<usize> = calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.as_str() == needle)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(hits.len(), 1, "{needle}: {calls:#?}");
        hits[0]
    };
    let order = [
        at("k8s-master-1 kubeadm init"),
        at("k8s-master-1 curl tigera-operator.yaml"),
        at("k8s-master-1 kubectl apply tigera-operator-v3.29.1.yaml"),
        at("k8s-master-1 kubectl wait"),
        at("k8s-master-1 kubectl apply calico.yaml"),
        at("k8s-worker-1 kubeadm join"),
        at("k8s-master-1 kubectl apply nfs-provisioner.yaml"),
        at("k8s-master-1 helm pull traefik"),
        at("k8s-master-1 helm upgrade traefik"),
        at("k8s-master-1 helm pull metrics-server"),
        at("k8s-master-1 helm upgrade metrics-server"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{calls:#?}");

    // What the "API server" holds: the StorageClasses, the releases with pinned charts and the
    // rendered values, and the record of every addon's hash.
    let objects = h.objects();
    let prod = &objects["storage.k8s.io/v1|StorageClass||nfs-prod"];
    assert_eq!(prod["reclaimPolicy"], "Retain");
    assert_eq!(
        prod["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert_eq!(
        objects["storage.k8s.io/v1|StorageClass||nfs-nonprod"]["reclaimPolicy"],
        "Delete"
    );
    assert!(objects["apps/v1|Deployment|nfs-provisioner|nfs-provisioner-nfs-prod"].is_object());
    let releases = h.releases();
    let traefik = &releases["traefik/traefik"];
    assert_eq!(
        traefik["version"],
        rackpipe_kubeadm_join::addons::TRAEFIK_VERSION
    );
    assert_eq!(traefik["repo"], rackpipe_kubeadm_join::addons::TRAEFIK_REPO);
    let http = h.site.kubernetes.as_ref().unwrap().ingress.http_node_port;
    assert_eq!(traefik["values"]["ports"]["web"]["nodePort"], http);
    assert_eq!(releases["metrics-server/metrics-server"]["revision"], 1);
    let addons = rackpipe_kubeadm_join::addons(&h.site, None).unwrap();
    let expected: serde_json::Map<String, serde_json::Value> = addons
        .iter()
        .map(|a| (a.name.clone(), serde_json::json!(a.sha256())))
        .collect();
    assert_eq!(h.record(), serde_json::Value::Object(expected));
    assert_eq!(
        h.cluster()["members"].as_object().unwrap().len(),
        2,
        "both nodes joined"
    );

    // Nothing changed: zero steps, and an apply runs nothing but reads.
    let p2 = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert!(p2.changes.is_empty(), "{:?}", resources(&p2.changes));
    let before = h.calls().len();
    let r2 = rt.block_on(apply(&h.site, &h.options)).unwrap();
    assert!(r2.applied.is_empty());
    assert_eq!(mutating(&h.calls()[before..]), Vec::<String>::new());

    // The Traefik NodePort changed in the site: exactly that addon, as an update.
    h.site.kubernetes.as_mut().unwrap().ingress.http_node_port = http + 1;
    let p3 = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&p3.changes), vec!["addon traefik"]);
    assert_eq!(
        p3.changes[0].action,
        rackpipe_model::documents::Action::Update
    );
    let stale = rt.block_on(apply_plan(&h.site, &h.options, Some(&p2)));
    assert!(
        stale
            .unwrap_err()
            .to_string()
            .contains("the site changed since the plan was made")
    );
    let before = h.calls().len();
    let r3 = rt
        .block_on(apply_plan(&h.site, &h.options, Some(&p3)))
        .unwrap();
    assert_eq!(resources(&r3.applied), vec!["addon traefik"]);
    assert_eq!(
        mutating(&h.calls()[before..]),
        vec![
            "k8s-master-1 helm pull traefik",
            "k8s-master-1 helm upgrade traefik",
            "k8s-master-1 kubectl apply rackpipe-addons.yaml"
        ]
    );
    let traefik = &h.releases()["traefik/traefik"];
    assert_eq!(traefik["revision"], 2);
    assert_eq!(traefik["values"]["ports"]["web"]["nodePort"], http + 1);
    assert!(
        rt.block_on(plan(&h.site, &h.options))
            .unwrap()
            .changes
            .is_empty()
    );
}

#[test]
fn a_failing_addon_names_the_host_and_the_addon_and_stops_the_rest() {
    let Some(h) = Harness::start_with(small) else {
        return;
    };
    let rt = rt();
    h.set_faults("apply-fail StorageClass/nfs-prod\n");
    let err = rt.block_on(apply(&h.site, &h.options)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("k8s-master-1: addon nfs-provisioner: kubectl apply failed: Error from server (Forbidden)"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(!err.is_transient());
    let calls = h.calls();
    assert!(
        !calls.iter().any(|c| c.contains(" helm ")),
        "later addons ran: {calls:#?}"
    );
    // The CNI went in and is recorded; the failed addon is not.
    let record = h.record();
    assert!(record["calico"].is_string(), "{record}");
    assert!(record.get("nfs-provisioner").is_none(), "{record}");
    let p = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&p.changes), ADDONS_AFTER.to_vec());
    h.set_faults("");
    let r = rt.block_on(apply(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&r.applied), ADDONS_AFTER.to_vec());
    assert!(
        rt.block_on(plan(&h.site, &h.options))
            .unwrap()
            .changes
            .is_empty()
    );
}

#[test]
fn the_standin_checks_kubectl_and_helm_like_the_real_tools() {
    let Some(h) = Harness::start_with(small) else {
        return;
    };
    let files = rackpipe_kubeadm_join::render_for_site(&h.site, None).unwrap();
    let content = |host: &str, path: &str| {
        files
            .iter()
            .find(|f| f.host == host && f.path.ends_with(path))
            .unwrap()
            .content
            .clone()
    };
    let dir = h.dir.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let cfg = write("init.yaml", &content("k8s-master-1", "kubeadm-config.yaml"));
    let m = "k8s-master-1";
    let init = h.run_as(m, "kubeadm", &["init", "--config", &cfg, "--upload-certs"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let admin = h.node_root(m).join("kubernetes/admin.conf");
    let admin = admin.to_str().unwrap();
    let kubectl = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", admin];
        all.extend_from_slice(args);
        let out = h.run_as(m, "kubectl", &all);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // No CNI yet: the master stays NotReady however long it waits.
    std::thread::sleep(Duration::from_millis(400));
    let (_, nodes, _) = kubectl(&["get", "nodes", "-o", "json"]);
    assert!(nodes.contains("\"status\": \"False\""), "{nodes}");

    let calico = write("calico.yaml", &content("addons", "calico.yaml"));
    let ss = ["apply", "--server-side", "-f"];
    // Client-side apply is refused; a custom resource before its CRD is refused as kubectl does.
    let (ok, _, err) = kubectl(&["apply", "-f", &calico]);
    assert!(!ok && err.contains("--server-side"), "{err}");
    let (ok, _, err) = kubectl(&[ss[0], ss[1], ss[2], &calico]);
    assert!(!ok, "CR before CRD");
    assert!(
        err.contains("no matches for kind \"Installation\" in version \"operator.tigera.io/v1\""),
        "{err}"
    );
    let (ok, _, err) = kubectl(&["apply", "--server-side", "-f", "/nonexistent.yaml"]);
    assert!(
        !ok && err.contains("the path \"/nonexistent.yaml\" does not exist"),
        "{err}"
    );
    let bad = write("bad.yaml", "metadata:\n  name: x\n");
    let (ok, _, err) = kubectl(&["apply", "--server-side", "-f", &bad]);
    assert!(
        !ok && err.contains("apiVersion not set, kind not set"),
        "{err}"
    );
    let url = "https://raw.githubusercontent.com/projectcalico/calico/v3.29.1/manifests/tigera-operator.yaml";
    // A URL handed to kubectl is refused: rackpipe applies only what it downloaded and checked.
    let (ok, _, err) = kubectl(&["apply", "--server-side", "-f", url]);
    assert!(!ok && err.contains("checksum-verified"), "{err}");
    let operator = dir.join("tigera-operator.yaml");
    let operator = operator.to_str().unwrap();
    let got = h.run_as(m, "curl", &["-fsSL", "-o", operator, "--", url]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let missing = h.run_as(
        m,
        "curl",
        &[
            "-fsSL",
            "-o",
            operator,
            "--",
            &url.replace("v3.29.1", "v0.0.0-nope"),
        ],
    );
    assert!(!missing.status.success());
    let (ok, out, err) = kubectl(&["apply", "--server-side", "-f", operator]);
    assert!(ok, "{err}");
    assert!(
        out.contains("deployment.apps/tigera-operator serverside-applied"),
        "{out}"
    );
    let (ok, out, _) = kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/installations.operator.tigera.io",
    ]);
    assert!(ok && out.contains("condition met"), "{out}");
    let (ok, out, err) = kubectl(&["apply", "--server-side", "-f", &calico]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "installation.operator.tigera.io/default serverside-applied\napiserver.operator.tigera.io/default serverside-applied\n"
    );
    let (ok, out, _) = kubectl(&["get", "installation", "default", "-o", "json"]);
    assert!(ok && out.contains("\"cidr\""), "{out}");
    std::thread::sleep(Duration::from_millis(400));
    let (_, nodes, _) = kubectl(&["get", "nodes", "-o", "json"]);
    assert!(
        nodes.contains("\"status\": \"True\""),
        "Ready with a CNI: {nodes}"
    );

    // helm: the chart is pulled at a pinned version, installed from the pulled archive only,
    // and the values must be a YAML mapping.
    let values = write(
        "traefik-values.yaml",
        &content("addons", "traefik-values.yaml"),
    );
    let dest = dir.to_str().unwrap();
    let pull = |extra: &[&str]| {
        let mut args = vec![
            "pull",
            "--repo",
            rackpipe_kubeadm_join::addons::TRAEFIK_REPO,
            "--destination",
            dest,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "traefik"]);
        h.run_as(m, "helm", &args)
    };
    let out = pull(&[]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--version"),
        "unpinned pull"
    );
    assert!(pull(&["--version", "35.4.0"]).status.success());
    let archive = dir.join("traefik-35.4.0.tgz");
    let archive = archive.to_str().unwrap();
    let helm = |chart: &str, values: &str| {
        let args = vec![
            "upgrade",
            "--install",
            "--namespace",
            "traefik",
            "--create-namespace",
            "--kubeconfig",
            admin,
            "-f",
            values,
            "--wait",
            "--",
            "traefik",
            chart,
        ];
        let out = h.run_as(m, "helm", &args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = helm("traefik", &values);
    assert!(
        !ok && err.contains("checksum-verified chart archive"),
        "{err}"
    );
    let list = write("list.yaml", "- a\n");
    let (ok, _, err) = helm(archive, &list);
    assert!(!ok && err.contains("cannot unmarshal"), "{err}");
    let (ok, out, err) = helm(archive, &values);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("Release \"traefik\" does not exist. Installing it now.\nNAME: traefik\n"),
        "{out}"
    );
    let (ok, out, _) = helm(archive, &values);
    assert!(
        ok && out.contains("has been upgraded") && out.contains("REVISION: 2"),
        "{out}"
    );
}

/// [`small`] with a taint of its own on the master.
fn small_with_master_taint(site: &mut Site) {
    small(site);
    let k = site.kubernetes.as_mut().unwrap();
    k.masters[0].taints =
        vec![serde_json::from_value(serde_json::json!("dedicated=infra:NoExecute")).unwrap()];
}

#[test]
fn masters_taints_are_planned_and_applied_like_workers() {
    let Some(h) = Harness::start_with(small_with_master_taint) else {
        return;
    };
    let rt = rt();
    rt.block_on(apply(&h.site, &h.options)).unwrap();
    let taints = |node: &str| {
        let mut t: Vec<String> = h.cluster()["members"][node]["taints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["key"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    assert_eq!(
        taints("k8s-master-1"),
        ["dedicated", "node-role.kubernetes.io/control-plane"]
    );
    assert!(
        rt.block_on(plan(&h.site, &h.options))
            .unwrap()
            .changes
            .is_empty()
    );

    // Both taints of the master removed behind rackpipe's back: plan and apply put them back.
    let path = h.state().join("cluster.json");
    let mut c = h.cluster();
    c["members"]["k8s-master-1"]["taints"] = serde_json::json!([]);
    std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
    let p = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&p.changes), vec!["taint k8s-master-1"]);
    assert_eq!(
        p.changes[0].after,
        Some(serde_json::json!({"taints": [
            "node-role.kubernetes.io/control-plane:NoSchedule",
            "dedicated=infra:NoExecute"
        ]}))
    );
    let r = rt
        .block_on(apply_plan(&h.site, &h.options, Some(&p)))
        .unwrap();
    assert_eq!(resources(&r.applied), vec!["taint k8s-master-1"]);
    assert_eq!(
        taints("k8s-master-1"),
        ["dedicated", "node-role.kubernetes.io/control-plane"]
    );
    assert!(
        rt.block_on(plan(&h.site, &h.options))
            .unwrap()
            .changes
            .is_empty()
    );
}

#[test]
fn a_tampered_manifest_or_chart_is_refused_before_it_is_used() {
    let Some(h) = Harness::start_with(small) else {
        return;
    };
    let rt = rt();
    let pins = h.site.kubernetes.as_ref().unwrap().artifacts.clone();

    // The operator manifest served is not the pinned one (a compromised mirror, a moved tag).
    h.set_faults("tamper tigera-operator\n");
    let err = rt.block_on(apply(&h.site, &h.options)).unwrap_err();
    let msg = err.to_string();
    let pin = &pins["tigera-operator-v3.29.1.yaml"];
    assert!(
        msg.starts_with("k8s-master-1: addon calico: tigera-operator-v3.29.1.yaml from https://raw.githubusercontent.com/projectcalico/calico/v3.29.1/manifests/tigera-operator.yaml has sha256 "),
        "{msg}"
    );
    assert!(
        msg.ends_with(&format!(
            ", not the {pin} pinned in kubernetes.artifacts; nothing applied from it"
        )),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(!err.is_transient());
    let calls = h.calls();
    assert!(calls.contains(&"k8s-master-1 curl tigera-operator.yaml".to_owned()));
    assert!(
        !calls.iter().any(|c| c.contains("kubectl apply")),
        "something was applied: {calls:#?}"
    );
    assert!(h.objects().is_null(), "no object reached the API server");
    // The token kubeadm init made is gone although the apply stopped before any join.
    assert_eq!(h.live_tokens(), 0);

    // The operator is fine now; a chart archive is not: nothing is installed from it.
    h.set_faults("tamper traefik\n");
    let msg = rt
        .block_on(apply(&h.site, &h.options))
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("k8s-master-1: addon traefik: traefik-35.4.0.tgz from https://traefik.github.io/charts has sha256 "),
        "{msg}"
    );
    assert!(msg.contains(&pins["traefik-35.4.0.tgz"]), "{msg}");
    assert!(
        !h.calls()
            .iter()
            .any(|c| c.ends_with("helm upgrade traefik"))
    );
    assert!(h.releases().get("traefik/traefik").is_none());
    assert!(
        h.record().get("traefik").is_none(),
        "not recorded as applied"
    );
    assert_eq!(h.live_tokens(), 0);

    // Served as pinned again: the rest goes in, and nothing is left to do.
    h.set_faults("");
    let r = rt.block_on(apply(&h.site, &h.options)).unwrap();
    assert_eq!(
        resources(&r.applied),
        vec!["addon traefik", "addon metrics-server"]
    );
    assert!(
        rt.block_on(plan(&h.site, &h.options))
            .unwrap()
            .changes
            .is_empty()
    );
}

#[test]
fn an_artefact_without_a_pin_is_refused_before_anything_runs() {
    let Some(mut h) = Harness::start_with(small) else {
        return;
    };
    let rt = rt();
    h.site
        .kubernetes
        .as_mut()
        .unwrap()
        .artifacts
        .remove("metrics-server-3.12.2.tgz");
    for result in [
        rt.block_on(plan(&h.site, &h.options)).map(drop),
        rt.block_on(apply(&h.site, &h.options)).map(drop),
    ] {
        assert_eq!(
            result.unwrap_err().to_string(),
            "kubernetes.artifacts: no sha256 pinned for metrics-server-3.12.2.tgz (https://kubernetes-sigs.github.io/metrics-server/): download it, check it, and add `metrics-server-3.12.2.tgz: <sha256sum>`"
        );
    }
    assert!(h.calls().is_empty(), "{:?}", h.calls());
}
