//! Cluster addons: what they are, how they are installed, and how apply knows they are current.
//!
//! | addon             | how                                                                 |
//! |-------------------|---------------------------------------------------------------------|
//! | `calico` (CNI)    | the Tigera operator manifest of the site's `cni.version` downloaded and checked, `kubectl apply --server-side` of it, wait for its CRDs, then the rendered `Installation`/`APIServer` |
//! | `nfs-provisioner` | `kubectl apply --server-side` of rendered manifests: the upstream `deploy/` objects of nfs-subdir-external-provisioner, one Deployment + StorageClass per `storage_classes[]` |
//! | `traefik`         | `helm upgrade --install` of the `traefik` chart ([`TRAEFIK_REPO`], [`TRAEFIK_VERSION`]), pulled and checked, with the rendered values |
//! | `metrics-server`  | `helm upgrade --install` of the `metrics-server` chart ([`METRICS_SERVER_REPO`], [`METRICS_SERVER_VERSION`]), pulled and checked, with the rendered values |
//! | `kube-prometheus-stack`, `loki`, `alloy` | with a `monitoring` section (`deploy: kubernetes`): `helm upgrade --install` of each chart into `monitoring.namespace`, pinned and checked the same way, values from the site ([`crate::monitoring`]) |
//!
//! **Nothing downloaded is used unchecked.** Every upstream artefact (the operator manifest, each
//! chart archive) is pinned by version *and* SHA-256: the site's `kubernetes.artifacts` maps its
//! file name with the version (`tigera-operator-v3.29.1.yaml`, `traefik-35.4.0.tgz`) to the hash,
//! and an artefact without a pin is refused before anything runs. Apply downloads it on the
//! master into a fresh private directory (`curl --proto =https` for a manifest, `helm pull --repo
//! URL --version V` for a chart: no `helm repo add`, nothing left in the node's helm config),
//! checks `sha256sum` against the pin, and only then runs `kubectl apply -f FILE` or `helm
//! upgrade --install RELEASE FILE.tgz ... --wait`, so what is installed is byte for byte what
//! was pinned (a URL handed to kubectl, or a chart re-resolved by helm, could be another file).
//! A mismatch stops the addon with one line naming the artefact, the URL, both hashes and the
//! field to change. Plain manifests go through server-side apply (`--force-conflicts`, field
//! manager `rackpipe`), which takes the Tigera operator's large CRDs that client-side apply
//! cannot annotate.
//!
//! **What is applied** is recorded the way kOps' channels tool records addon versions: after an
//! addon is applied, the ConfigMap `kube-system/rackpipe-addons` gets `data.<addon>` = the
//! SHA-256 of the addon (install spec, pinned versions and rendered files). Plan reads that
//! ConfigMap and plans exactly the addons whose hash differs; an addon changed behind
//! rackpipe's back (objects edited or deleted by hand) is not detected.
//!
//! Order: the CNI is applied right after `kubeadm init` (or before any join on an existing
//! cluster), because nodes stay NotReady until a CNI runs; apply waits for the first master to
//! be Ready only after it. The other addons come last, after joins, labels and taints.

use std::collections::BTreeMap;
use std::path::Path;

use rackpipe_model::Site;
use rackpipe_model::documents::{Action, Change};
use serde::Serialize;

use crate::remote::{ChecksumMismatch, JoinError, Node};
use crate::{ClusterView, Error, cluster_view, environment, mj, render_template};

/// Chart repository of the `traefik` chart.
pub const TRAEFIK_REPO: &str = "https://traefik.github.io/charts";
/// Pinned `traefik` chart version (Traefik Proxy v3.4).
pub const TRAEFIK_VERSION: &str = "35.4.0";
/// Chart repository of the `metrics-server` chart.
pub const METRICS_SERVER_REPO: &str = "https://kubernetes-sigs.github.io/metrics-server/";
/// Pinned `metrics-server` chart version (metrics-server v0.7.2).
pub const METRICS_SERVER_VERSION: &str = "3.12.2";
/// Pinned nfs-subdir-external-provisioner image tag.
pub const NFS_PROVISIONER_TAG: &str = "v4.0.2";
/// Namespace of the NFS provisioners.
pub const NFS_NAMESPACE: &str = "nfs-provisioner";
/// The ConfigMap (in `kube-system`) recording the hash of every applied addon.
pub const RECORD_CONFIGMAP: &str = "rackpipe-addons";
/// Field manager of rackpipe's server-side applies.
pub const FIELD_MANAGER: &str = "rackpipe";
/// Limit of `helm --wait` and `kubectl wait`.
const WAIT_TIMEOUT: &str = "10m0s";
/// Largest artefact `curl` downloads (the Tigera operator manifest is about 2 MB).
const MAX_DOWNLOAD_BYTES: u64 = 64 << 20;

/// An upstream artefact pinned by version and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// File name with the version, the key in the site's `kubernetes.artifacts`
    /// (`tigera-operator-v3.29.1.yaml`, `traefik-35.4.0.tgz`).
    pub name: String,
    /// Where it comes from: the manifest's URL, or the chart repository.
    pub url: String,
    /// The pinned SHA-256, lower-case hex.
    pub sha256: String,
}

/// The pin of `name` in the site (`kubernetes.artifacts`), checked for shape.
pub(crate) fn pinned(
    pins: &BTreeMap<String, String>,
    name: &str,
    url: &str,
) -> Result<Artifact, Error> {
    let sha = pins.get(name).ok_or_else(|| Error::Unresolved {
        path: "kubernetes.artifacts".to_owned(),
        message: format!(
            "no sha256 pinned for {name} ({url}): download it, check it, and add `{name}: <sha256sum>`"
        ),
    })?;
    if !is_sha256(sha) {
        return Err(Error::Unresolved {
            path: format!("kubernetes.artifacts.{name}"),
            message: format!("{sha:?} is not a SHA-256 (64 lower-case hex digits)"),
        });
    }
    Ok(Artifact {
        name: name.to_owned(),
        url: url.to_owned(),
        sha256: sha.clone(),
    })
}

/// 64 lower-case hex digits.
pub(crate) fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// How an addon is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum Install {
    /// `kubectl apply --server-side` of `upstream` (pinned manifests, downloaded and checked),
    /// `kubectl wait` for `crds` to be Established, then of every file.
    Manifests {
        /// Upstream manifests applied first.
        upstream: Vec<Artifact>,
        /// CRDs (`name.group`) that must be Established before the files are applied.
        crds: Vec<String>,
    },
    /// `helm upgrade --install` with the (single) values file.
    Helm {
        /// Release name.
        release: String,
        /// Namespace (created when missing).
        namespace: String,
        /// Chart name in the repository.
        chart: String,
        /// Chart repository URL.
        repo: String,
        /// Pinned chart version.
        version: String,
        /// The chart archive (`CHART-VERSION.tgz`) and its pinned hash.
        archive: Artifact,
    },
}

/// One command of an addon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddonCommand {
    /// Short label for errors (`kubectl apply`).
    pub label: &'static str,
    /// The shell command.
    pub command: String,
    /// `Some`: the command is `sha256sum` of a downloaded file, whose hash must be this pin.
    pub verify: Option<Artifact>,
}

/// A rendered file of an addon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddonFile {
    /// File name (`calico.yaml`, `traefik-values.yaml`).
    pub name: String,
    /// Content.
    pub content: String,
}

/// One addon, rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Addon {
    /// Name (`calico`, `nfs-provisioner`, `traefik`, `metrics-server`).
    pub name: String,
    /// The cluster network: applied before nodes can become Ready.
    pub cni: bool,
    /// How it is installed.
    pub install: Install,
    /// Rendered manifests or values.
    pub files: Vec<AddonFile>,
}

impl Addon {
    /// SHA-256 (hex) of everything that defines the addon: install spec, versions, files.
    #[must_use]
    pub fn sha256(&self) -> String {
        crate::plan::digest(self)
    }

    /// The commands apply runs, with `dir` the remote directory holding the files and
    /// `admin` the (quoted) admin kubeconfig. A `sha256sum` line is followed by the hash it
    /// must print; apply stops there when it prints another.
    #[must_use]
    pub fn commands(&self, dir: &str, admin: &str) -> Vec<String> {
        self.labelled_commands(dir, admin)
            .into_iter()
            .map(|c| match c.verify {
                Some(a) => format!("{}  # must be {}", c.command, a.sha256),
                None => c.command,
            })
            .collect()
    }

    /// [`Addon::commands`], each with a short label for errors and the pin it checks.
    pub(crate) fn labelled_commands(&self, dir: &str, admin: &str) -> Vec<AddonCommand> {
        let q = rackpipe_ssh::shell_quote;
        let run = |label: &'static str, command: String| AddonCommand {
            label,
            command,
            verify: None,
        };
        let verify = |path: &str, a: &Artifact| AddonCommand {
            label: "sha256sum",
            command: format!("sha256sum -- {}", q(path)),
            verify: Some(a.clone()),
        };
        let apply = |what: &str| {
            run(
                "kubectl apply",
                format!(
                    "kubectl --kubeconfig {admin} apply --server-side --force-conflicts --field-manager={FIELD_MANAGER} -f {}",
                    q(what)
                ),
            )
        };
        match &self.install {
            Install::Manifests { upstream, crds } => {
                let mut out = Vec::new();
                for a in upstream {
                    let path = format!("{dir}/{}", a.name);
                    out.push(run(
                        "curl",
                        format!(
                            "curl -fsSL --proto =https --max-redirs 3 --max-filesize {MAX_DOWNLOAD_BYTES} --max-time 300 -o {} -- {}",
                            q(&path),
                            q(&a.url)
                        ),
                    ));
                    out.push(verify(&path, a));
                    out.push(apply(&path));
                }
                if !crds.is_empty() {
                    out.push(run("kubectl wait", format!(
                        "kubectl --kubeconfig {admin} wait --for=condition=Established --timeout={WAIT_TIMEOUT} {}",
                        crds.iter()
                            .map(|c| format!("crd/{c}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )));
                }
                out.extend(
                    self.files
                        .iter()
                        .map(|f| apply(&format!("{dir}/{}", f.name))),
                );
                out
            }
            Install::Helm {
                release,
                namespace,
                chart,
                repo,
                version,
                archive,
            } => {
                let path = format!("{dir}/{}", archive.name);
                let mut out = vec![
                    run(
                        "helm pull",
                        format!(
                            "helm pull --repo {} --version {} --destination {} -- {}",
                            q(repo),
                            q(version),
                            q(dir),
                            q(chart)
                        ),
                    ),
                    verify(&path, archive),
                ];
                out.extend(self.files.iter().map(|f| {
                    run("helm upgrade", format!(
                        "helm upgrade --install --namespace {} --create-namespace --kubeconfig {admin} -f {} --wait --timeout {WAIT_TIMEOUT} -- {} {}",
                        q(namespace),
                        q(&format!("{dir}/{}", f.name)),
                        q(release),
                        q(&path),
                    ))
                }));
                out
            }
        }
    }
}

/// The site's addons in the order they are applied (the CNI first).
///
/// # Errors
/// [`Error`] when the site has no cluster, a StorageClass names a missing export, or a
/// template fails.
pub fn addons(site: &Site, templates: Option<&Path>) -> Result<Vec<Addon>, Error> {
    let cluster = cluster_view(site)?;
    addons_of(site, &cluster, templates)
}

pub(crate) fn addons_of(
    site: &Site,
    cluster: &ClusterView,
    templates: Option<&Path>,
) -> Result<Vec<Addon>, Error> {
    let k = site.kubernetes.as_ref().ok_or(Error::NoCluster)?;
    let env = environment(templates)?;
    let file = |name: &str, template: &str, ctx: minijinja::Value| -> Result<AddonFile, Error> {
        Ok(AddonFile {
            name: name.to_owned(),
            content: render_template(&env, template, ctx)?,
        })
    };
    let helm = |release: &str, chart: &str, repo: &str, version: &str| {
        Ok::<_, Error>(Install::Helm {
            release: release.to_owned(),
            namespace: release.to_owned(),
            chart: chart.to_owned(),
            repo: repo.to_owned(),
            version: version.to_owned(),
            archive: pinned(&k.artifacts, &format!("{chart}-{version}.tgz"), repo)?,
        })
    };
    let mut out = Vec::new();
    if k.cni.name != "calico" {
        return Err(Error::Unresolved {
            path: "kubernetes.cni.name".to_owned(),
            message: format!("{:?} is not supported (calico is)", k.cni.name),
        });
    }
    out.push(Addon {
        name: "calico".to_owned(),
        cni: true,
        install: Install::Manifests {
            upstream: vec![pinned(
                &k.artifacts,
                &format!("tigera-operator-{}.yaml", k.cni.version),
                &format!(
                    "https://raw.githubusercontent.com/projectcalico/calico/{}/manifests/tigera-operator.yaml",
                    k.cni.version
                ),
            )?],
            crds: vec![
                "installations.operator.tigera.io".to_owned(),
                "apiservers.operator.tigera.io".to_owned(),
            ],
        },
        files: vec![file(
            "calico.yaml",
            "addons/calico.yaml.j2",
            minijinja::context! { cni => mj(&k.cni), cluster => mj(cluster) },
        )?],
    });
    if !k.storage_classes.is_empty() {
        let nas = site.nas.as_ref();
        let server = nas
            .and_then(|n| site.hosts.iter().find(|h| h.name == n.host))
            .map(|h| {
                h.fqdn
                    .as_ref()
                    .map_or_else(|| h.address.to_string(), ToString::to_string)
            });
        let mut classes = Vec::new();
        for (i, sc) in k.storage_classes.iter().enumerate() {
            let export = nas
                .and_then(|n| n.exports.iter().find(|e| e.name == sc.export))
                .ok_or_else(|| Error::Unresolved {
                    path: format!("kubernetes.storage_classes[{i}].export"),
                    message: format!("no NFS export {:?}", sc.export.as_str()),
                })?;
            let server = server.clone().ok_or_else(|| Error::Unresolved {
                path: format!("kubernetes.storage_classes[{i}].export"),
                message: "the NAS host has no address".to_owned(),
            })?;
            classes.push(serde_json::json!({
                "name": sc.name.as_str(), "server": server, "path": export.path,
                "default": sc.default, "reclaim_policy": sc.reclaim_policy,
                "provisioner": format!("nfs.rackpipe.io/{}", sc.name),
            }));
        }
        out.push(Addon {
            name: "nfs-provisioner".to_owned(),
            cni: false,
            install: Install::Manifests {
                upstream: Vec::new(),
                crds: Vec::new(),
            },
            files: vec![file(
                "nfs-provisioner.yaml",
                "addons/nfs-provisioner.yaml.j2",
                minijinja::context! {
                    classes => mj(&classes),
                    namespace => NFS_NAMESPACE,
                    image_tag => NFS_PROVISIONER_TAG,
                },
            )?],
        });
    }
    if k.ingress.name != "traefik" {
        return Err(Error::Unresolved {
            path: "kubernetes.ingress.name".to_owned(),
            message: format!("{:?} is not supported (traefik is)", k.ingress.name),
        });
    }
    let traefik = helm("traefik", "traefik", TRAEFIK_REPO, TRAEFIK_VERSION)?;
    out.push(Addon {
        name: "traefik".to_owned(),
        cni: false,
        files: vec![file(
            "traefik-values.yaml",
            "addons/traefik-values.yaml.j2",
            minijinja::context! { ingress => mj(&k.ingress), chart => mj(&traefik) },
        )?],
        install: traefik,
    });
    let metrics = helm(
        "metrics-server",
        "metrics-server",
        METRICS_SERVER_REPO,
        METRICS_SERVER_VERSION,
    )?;
    out.push(Addon {
        name: "metrics-server".to_owned(),
        cni: false,
        files: vec![file(
            "metrics-server-values.yaml",
            "addons/metrics-server-values.yaml.j2",
            minijinja::context! { chart => mj(&metrics) },
        )?],
        install: metrics,
    });
    // The monitoring stack (issue 21) comes last: its CRDs and PVCs need the cluster up, the
    // StorageClasses provisioned. Its PrometheusRule holds the site's alert rules.
    if site.monitoring.is_some() {
        let rules = crate::monitoring_rules::alert_rules_with(site, templates)?;
        out.extend(crate::monitoring::addons(
            site,
            &k.artifacts,
            crate::monitoring::rule_groups(&rules)?,
        )?);
    }
    Ok(out)
}

/// An addon step: apply `addon` on `node` (the master whose admin.conf is used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonStep {
    /// The master it runs on.
    pub node: String,
    /// Addon name.
    pub name: String,
    /// Desired hash.
    pub sha256: String,
    /// Recorded hash (`None`: never applied).
    pub before: Option<String>,
    /// The CNI.
    pub cni: bool,
    /// Commands (files under `$ADDONS_DIR`).
    pub commands: Vec<String>,
}

impl AddonStep {
    /// The change document.
    #[must_use]
    pub fn change(&self) -> Change {
        Change {
            action: if self.before.is_some() {
                Action::Update
            } else {
                Action::Create
            },
            target: self.node.clone(),
            resource: format!("addon {}", self.name),
            before: self
                .before
                .as_ref()
                .map(|b| serde_json::json!({ "sha256": b })),
            after: Some(serde_json::json!({ "sha256": self.sha256 })),
            diff: None,
            commands: self.commands.clone(),
        }
    }
}

/// The addon steps: every addon whose recorded hash differs from its hash, in order.
pub(crate) fn steps(
    node: &str,
    kdir: &str,
    addons: &[Addon],
    recorded: &BTreeMap<String, String>,
) -> Vec<AddonStep> {
    let admin = rackpipe_ssh::shell_quote(&format!("{kdir}/admin.conf"));
    addons
        .iter()
        .filter_map(|a| {
            let sha = a.sha256();
            let before = recorded.get(&a.name).cloned();
            (before.as_deref() != Some(sha.as_str())).then(|| AddonStep {
                node: node.to_owned(),
                name: a.name.clone(),
                cni: a.cni,
                commands: a.commands("$ADDONS_DIR", &admin),
                sha256: sha,
                before,
            })
        })
        .collect()
}

/// `kubectl get configmap rackpipe-addons -n kube-system`: addon name → recorded hash.
pub(crate) async fn recorded(api: &Node) -> Result<BTreeMap<String, String>, JoinError> {
    let cmd = format!(
        "kubectl --kubeconfig {} get configmap {RECORD_CONFIGMAP} -n kube-system --ignore-not-found -o json",
        api.kpath("admin.conf")
    );
    let out = api
        .check(&cmd, &format!("kubectl get configmap {RECORD_CONFIGMAP}"))
        .await?;
    if out.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let doc: serde_json::Value = serde_json::from_str(&out).map_err(|e| JoinError::Output {
        node: api.name.clone(),
        command: format!("kubectl get configmap {RECORD_CONFIGMAP} -o json"),
        message: e.to_string(),
    })?;
    Ok(doc
        .get("data")
        .and_then(|d| d.as_object())
        .map(|d| {
            d.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default())
}

/// The record ConfigMap as a manifest.
fn record_manifest(record: &BTreeMap<String, String>) -> String {
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": RECORD_CONFIGMAP,
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/managed-by": "rackpipe"},
        },
        "data": record,
    });
    // JSON is YAML.
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Applies `addon` through `api`'s admin.conf: uploads its files to a fresh temporary
/// directory, runs its commands one by one, records its hash in `record` and in the
/// `rackpipe-addons` ConfigMap, and removes the directory.
///
/// # Errors
/// [`JoinError::Command`] naming the node and the addon (`k8s-master-1: addon traefik: helm
/// upgrade failed: ...`); SSH errors.
pub(crate) async fn apply_addon(
    api: &Node,
    addon: &Addon,
    step: &AddonStep,
    record: &mut BTreeMap<String, String>,
) -> Result<Change, JoinError> {
    let dir = api
        .check(
            "mktemp -d \"${TMPDIR:-/tmp}/rackpipe-addons.XXXXXX\"",
            &format!("addon {}: mktemp", addon.name),
        )
        .await?
        .trim()
        .to_owned();
    if dir.is_empty() {
        return Err(JoinError::Output {
            node: api.name.clone(),
            command: "mktemp -d".to_owned(),
            message: "no directory printed".to_owned(),
        });
    }
    let result = apply_in(api, addon, step, record, &dir).await;
    let removed = api
        .check(
            &format!("rm -rf {}", rackpipe_ssh::shell_quote(&dir)),
            &format!("addon {}: rm -rf", addon.name),
        )
        .await;
    let change = result?;
    removed?;
    Ok(change)
}

async fn apply_in(
    api: &Node,
    addon: &Addon,
    step: &AddonStep,
    record: &mut BTreeMap<String, String>,
    dir: &str,
) -> Result<Change, JoinError> {
    let ssh = |source| JoinError::Ssh {
        node: api.name.clone(),
        source,
    };
    for f in &addon.files {
        api.session
            .write_file_atomic(&format!("{dir}/{}", f.name), f.content.as_bytes(), 0o600)
            .await
            .map_err(ssh)?;
    }
    let admin = api.kpath("admin.conf");
    for c in addon.labelled_commands(dir, &admin) {
        tracing::info!("{}: addon {}: {}", api.name, addon.name, c.label);
        let out = api
            .check(&c.command, &format!("addon {}: {}", addon.name, c.label))
            .await?;
        if let Some(pin) = &c.verify {
            check_sha256(api, addon, pin, &out)?;
        }
    }
    let mut next = record.clone();
    next.insert(addon.name.clone(), step.sha256.clone());
    let path = format!("{dir}/{RECORD_CONFIGMAP}.yaml");
    api.session
        .write_file_atomic(&path, record_manifest(&next).as_bytes(), 0o600)
        .await
        .map_err(ssh)?;
    api.check(
        &format!(
            "kubectl --kubeconfig {admin} apply --server-side --force-conflicts --field-manager={FIELD_MANAGER} -f {}",
            rackpipe_ssh::shell_quote(&path)
        ),
        &format!("addon {}: recording its hash in configmap {RECORD_CONFIGMAP}", addon.name),
    )
    .await?;
    *record = next;
    Ok(step.change())
}

/// Compares what `sha256sum` printed for a downloaded artefact with its pin.
fn check_sha256(api: &Node, addon: &Addon, pin: &Artifact, out: &str) -> Result<(), JoinError> {
    let got = out.split_whitespace().next().unwrap_or_default();
    if !is_sha256(got) {
        return Err(JoinError::Output {
            node: api.name.clone(),
            command: format!("addon {}: sha256sum {}", addon.name, pin.name),
            message: "no SHA-256 printed".to_owned(),
        });
    }
    if got == pin.sha256 {
        Ok(())
    } else {
        Err(JoinError::Checksum(Box::new(ChecksumMismatch {
            node: api.name.clone(),
            addon: addon.name.clone(),
            artifact: pin.name.clone(),
            url: pin.url.clone(),
            got: got.to_owned(),
            pinned: pin.sha256.clone(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addon(name: &str, content: &str) -> Addon {
        Addon {
            name: name.to_owned(),
            cni: false,
            install: Install::Manifests {
                upstream: Vec::new(),
                crds: Vec::new(),
            },
            files: vec![AddonFile {
                name: format!("{name}.yaml"),
                content: content.to_owned(),
            }],
        }
    }

    #[test]
    fn only_changed_addons_are_planned() {
        let a = [addon("a", "x"), addon("b", "y")];
        let mut rec = BTreeMap::new();
        let s = steps("m1", "/etc/kubernetes", &a, &rec);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].change().action, Action::Create);
        rec.insert("a".to_owned(), a[0].sha256());
        rec.insert("b".to_owned(), a[1].sha256());
        assert!(steps("m1", "/etc/kubernetes", &a, &rec).is_empty());
        let b2 = [addon("a", "x"), addon("b", "z")];
        let s = steps("m1", "/etc/kubernetes", &b2, &rec);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "b");
        assert_eq!(s[0].change().action, Action::Update);
        assert_eq!(s[0].change().resource, "addon b");
    }

    #[test]
    fn helm_commands_pin_the_chart() {
        let a = Addon {
            name: "traefik".to_owned(),
            cni: false,
            install: Install::Helm {
                release: "traefik".to_owned(),
                namespace: "traefik".to_owned(),
                chart: "traefik".to_owned(),
                repo: TRAEFIK_REPO.to_owned(),
                version: TRAEFIK_VERSION.to_owned(),
                archive: Artifact {
                    name: "traefik-35.4.0.tgz".to_owned(),
                    url: TRAEFIK_REPO.to_owned(),
                    sha256: "ab".repeat(32),
                },
            },
            files: vec![AddonFile {
                name: "traefik-values.yaml".to_owned(),
                content: String::new(),
            }],
        };
        let c = a.commands("/tmp/x", "/etc/kubernetes/admin.conf");
        assert_eq!(
            c,
            vec![
                "helm pull --repo https://traefik.github.io/charts --version 35.4.0 --destination /tmp/x -- traefik".to_owned(),
                format!("sha256sum -- /tmp/x/traefik-35.4.0.tgz  # must be {}", "ab".repeat(32)),
                "helm upgrade --install --namespace traefik --create-namespace --kubeconfig /etc/kubernetes/admin.conf -f /tmp/x/traefik-values.yaml --wait --timeout 10m0s -- traefik /tmp/x/traefik-35.4.0.tgz".to_owned(),
            ]
        );
    }

    #[test]
    fn an_artefact_needs_a_well_formed_pin() {
        let mut pins = BTreeMap::new();
        let err = pinned(&pins, "traefik-35.4.0.tgz", TRAEFIK_REPO).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kubernetes.artifacts: no sha256 pinned for traefik-35.4.0.tgz (https://traefik.github.io/charts): download it, check it, and add `traefik-35.4.0.tgz: <sha256sum>`"
        );
        pins.insert("traefik-35.4.0.tgz".to_owned(), "AB".repeat(32));
        let err = pinned(&pins, "traefik-35.4.0.tgz", TRAEFIK_REPO).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("kubernetes.artifacts.traefik-35.4.0.tgz: \"ABAB"),
            "{err}"
        );
        pins.insert("traefik-35.4.0.tgz".to_owned(), "ab".repeat(32));
        assert_eq!(
            pinned(&pins, "traefik-35.4.0.tgz", TRAEFIK_REPO)
                .unwrap()
                .sha256,
            "ab".repeat(32)
        );
    }

    #[test]
    fn the_record_is_a_configmap() {
        let mut r = BTreeMap::new();
        r.insert("calico".to_owned(), "ab".to_owned());
        let m: serde_json::Value = serde_json::from_str(&record_manifest(&r)).unwrap();
        assert_eq!(m["kind"], "ConfigMap");
        assert_eq!(m["metadata"]["namespace"], "kube-system");
        assert_eq!(m["data"]["calico"], "ab");
    }
}
