//! `plan` and `apply` against nine real sshd hosts on loopback (one per node of the example
//! site), each with its own kubernetes directory and a kubeadm/kubectl/crictl **test double**
//! (`standin/kubeadm-standin.py`) on its PATH. The double validates configs strictly, prints
//! kubeadm's real output formats and keeps cluster and node state on disk.
#![allow(clippy::print_stderr, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rackpipe_kubeadm::{NodeTarget, Options, apply, apply_plan, plan};
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
    let path = rackpipe_testkit::project_root().join("examples/rachuna-net/site.yaml");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("skipped: {} is absent", path.display());
        return None;
    };
    Some(
        rackpipe_model::load_and_validate("site.yaml", &bytes)
            .expect("example validates")
            .site,
    )
}

impl Harness {
    fn start() -> Option<Self> {
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
        let site = example_site()?;
        let cluster = rackpipe_kubeadm::cluster_view(&site).unwrap();
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
            for tool in ["kubeadm", "kubectl", "crictl"] {
                let wrapper = format!(
                    "#!/bin/sh\n# TEST DOUBLE: rackpipe-kubeadm's test stand-in, not the real {tool}.\n\
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

    fn set_faults(&self, lines: &str) {
        std::fs::write(self.state().join("faults"), lines).unwrap();
    }

    /// Every token and certificate key the cluster ever issued.
    fn secrets(&self) -> Vec<String> {
        let c = self.cluster();
        let mut s: Vec<String> = c["tokens"]
            .as_array()
            .into_iter()
            .flatten()
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

    // Plan on empty nodes: every step, nothing run.
    let p = rt.block_on(plan(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&p.changes), all_joins);
    assert_eq!(p.summary.create, 9);
    assert!(h.calls().is_empty(), "plan ran {:?}", h.calls());

    // Apply: worker-2 fails half-way once; master-3's join finds the uploaded certs expired.
    h.set_faults("join-fail k8s-worker-2 1\nexpire-certs k8s-master-3\n");
    let r = rt.block_on(apply(&h.site, &h.options)).unwrap();
    assert_eq!(resources(&r.applied), all_joins);
    let calls = h.calls();
    let count = |needle: &str| calls.iter().filter(|c| c.as_str() == needle).count();
    assert_eq!(count("k8s-master-1 kubeadm init"), 1, "{calls:#?}");
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
        "plan: the nodes changed since the plan was made, nothing started (run plan again)"
    );
    let r2 = rt
        .block_on(apply_plan(&h.site, &h.options, Some(&p2)))
        .unwrap();
    assert!(r2.applied.is_empty(), "{:?}", resources(&r2.applied));
    assert_eq!(mutating(&h.calls()[before..]), Vec::<String>::new());

    // A label changed in the site: only that label is applied.
    let k = h.site.kubernetes.as_mut().unwrap();
    k.workers[2]
        .labels
        .insert("topology.kubernetes.io/zone".into(), "pve-s9".into());
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
    let src = rackpipe_testkit::project_root().join("templates/kubeadm");
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
    let files = rackpipe_kubeadm::render_for_site(&h.site, None).unwrap();
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
