//! `kubeadm-join apply`: preflight, `kubeadm init --upload-certs` when there is no cluster,
//! the CNI addon (then a wait until the first master is Ready: nodes are NotReady without a
//! CNI), masters joined one at a time, workers in parallel (bounded), each waited for until
//! Ready, labels and taints, and the other addons (see [`crate::addons`]).
//!
//! Order of work: connect to every node and observe (an unreachable node or a wrong host key
//! stops here, nothing started); preflight every node that will be initialised or joined
//! (swap off, container runtime answering `crictl info`, kubeadm's ports free, clock skew);
//! then the steps. A failed join is `kubeadm reset -f` on that node before the next attempt;
//! a join that failed because the uploaded certificates expired (the `kubeadm-certs` Secret
//! lives 2 h) gets a fresh certificate key first. Join tokens and certificate keys go into the
//! node's config file (mode 0600, removed after the join) and nowhere else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rackpipe_model::Site;
use rackpipe_model::documents::{ApplyResult, Change, ChangeCounts};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;

use crate::addons::{Addon, AddonStep};
use crate::plan::{self, NodeState, Nodes, Step};
use crate::remote::{
    JoinCommand, JoinError, Node, Options, Secret, parse_certificate_key, parse_join_command,
};
use crate::{ClusterView, JoinSecrets, NodeView, cluster_view, node_config};

/// Lifetime of the bootstrap token joins use: it is deleted after the joins anyway, this bounds
/// it when the deletion cannot run (kubeadm's default is 24 h). Longer than the uploaded
/// certificates' 2 h, which apply renews, so a long run of master joins keeps its token.
const TOKEN_TTL: &str = "4h0m0s";

/// Uploaded certificates are deleted after 2 h; renew the key well before.
const CERT_KEY_MAX_AGE: Duration = Duration::from_secs(110 * 60);

/// Ports kubeadm's preflight wants free on a control-plane node.
const CONTROL_PLANE_PORTS: &[u16] = &[6443, 2379, 2380, 10250, 10257, 10259];
/// Ports kubeadm's preflight wants free on a worker.
const WORKER_PORTS: &[u16] = &[10250];

/// A certificate key and when it was uploaded.
struct CertKey {
    key: Secret,
    uploaded: Instant,
}

/// Everything a join needs, shared by the join tasks.
struct Ctx {
    site: Site,
    cluster: ClusterView,
    options: Options,
    api: Arc<Node>,
    join: JoinCommand,
    cert_key: Mutex<Option<CertKey>>,
}

/// Applies the site's cluster: see the module documentation.
///
/// # Errors
/// [`JoinError`] naming the node: unreachable or wrong host key (nothing started), preflight
/// (nothing started), a join that still fails after `options.join_attempts` attempts, a node
/// not Ready in time.
pub async fn apply(site: &Site, options: &Options) -> Result<ApplyResult, JoinError> {
    apply_plan(site, options, None).await
}

/// [`apply`], refusing to start when `expected` (a saved [`Plan`](rackpipe_model::documents::Plan))
/// was made from another site or against nodes that have changed since.
///
/// # Errors
/// As [`apply`]; [`JoinError::StalePlan`] when a digest differs (nothing started).
pub async fn apply_plan(
    site: &Site,
    options: &Options,
    expected: Option<&rackpipe_model::documents::Plan>,
) -> Result<ApplyResult, JoinError> {
    let cluster = cluster_view(site)?;
    let nodes = plan::connect_all(&cluster, options).await?;
    let result = apply_connected(site, &cluster, options, &nodes, expected).await;
    plan::close_all(nodes).await;
    result
}

fn node_of<'a>(nodes: &'a Nodes, name: &str) -> Result<&'a Arc<Node>, JoinError> {
    nodes
        .get(name)
        .ok_or_else(|| JoinError::Cluster(format!("{name}: not connected")))
}

fn view_of<'a>(cluster: &'a ClusterView, name: &str) -> Result<&'a NodeView, JoinError> {
    cluster
        .nodes
        .iter()
        .find(|n| n.name == name)
        .ok_or_else(|| JoinError::Cluster(format!("{name}: not in the site")))
}

async fn apply_connected(
    site: &Site,
    cluster: &ClusterView,
    options: &Options,
    nodes: &Nodes,
    expected: Option<&rackpipe_model::documents::Plan>,
) -> Result<ApplyResult, JoinError> {
    let addons = crate::addons::addons_of(site, cluster, options.templates.as_deref())?;
    let observed = plan::observe(cluster, nodes).await?;
    rackpipe_model::documents::check_digests(
        expected,
        &plan::desired_digest(cluster, &addons),
        &plan::digest(&observed),
        "the nodes",
    )?;
    let api_view = plan::api_master(cluster, &observed)
        .ok_or_else(|| JoinError::Cluster("no master in the site".to_owned()))?;
    let steps = plan::all_steps(
        cluster,
        &addons,
        &observed,
        &api_view.name,
        &options.target_for(api_view).kubernetes_dir,
    );
    let mut applied = Vec::new();
    let joins: Vec<&Step> = steps
        .iter()
        .filter(|s| !matches!(s, Step::Label(..) | Step::Taint(..) | Step::Addon(..)))
        .collect();
    let (cni_steps, addon_steps): (Vec<&AddonStep>, Vec<&AddonStep>) = steps
        .iter()
        .filter_map(|s| match s {
            Step::Addon(a) => Some(a),
            _ => None,
        })
        .partition(|a| a.cni);
    let mut record = observed.addons.clone();

    // Preflight every node that will run kubeadm, before anything is started.
    let mut set = JoinSet::new();
    for step in &joins {
        let node = Arc::clone(node_of(nodes, step.node())?);
        let view = view_of(cluster, step.node())?.clone();
        let fresh = observed
            .nodes
            .iter()
            .any(|o| o.name == view.name && o.state == NodeState::Absent);
        let (cri, skew) = (cluster.cri_socket.clone(), options.max_clock_skew);
        // The config as it will be, secrets as well-formed placeholders, for `config validate`.
        let config = node_config(
            site,
            cluster,
            &view,
            options.api_version_for(cluster),
            &JoinSecrets::placeholders(),
            options.templates.as_deref(),
        )?;
        set.spawn(async move {
            preflight(&node, &view, &cri, fresh, skew).await?;
            validate_config(&node, &config).await
        });
    }
    let mut preflight_errors = Vec::new();
    while let Some(j) = set.join_next().await {
        if let Err(e) = j.map_err(|e| JoinError::Cluster(format!("preflight task failed: {e}")))? {
            preflight_errors.push(e);
        }
    }
    if let Some(e) = preflight_errors.into_iter().min_by_key(|e| e.to_string()) {
        return Err(e);
    }

    // Init.
    let mut cert_key = None;
    let mut api_name = observed.api_node.clone();
    let mut initialized = None;
    // Bootstrap tokens this apply made (init's and `token create`'s), deleted after the joins.
    let mut tokens: Vec<String> = Vec::new();
    if let Some(step @ (Step::Init(name) | Step::ResetInit(name))) = joins.first() {
        let node = node_of(nodes, name)?;
        if matches!(step, Step::ResetInit(_)) {
            reset(node).await?;
        }
        let view = view_of(cluster, name)?;
        let config = node_config(
            site,
            cluster,
            view,
            options.api_version_for(cluster),
            &JoinSecrets::placeholders(),
            options.templates.as_deref(),
        )?;
        node.write("kubeadm-config.yaml", &config).await?;
        tracing::info!("{name}: kubeadm init");
        let out = node
            .check(
                &format!(
                    "kubeadm init --config {} --upload-certs",
                    node.kpath("kubeadm-config.yaml")
                ),
                "kubeadm init",
            )
            .await?;
        cert_key = parse_certificate_key(&out).map(|key| CertKey {
            key,
            uploaded: Instant::now(),
        });
        // `kubeadm init` makes a bootstrap token (24 h) that rackpipe never uses: joins get
        // their own. It goes with the others after the joins.
        tokens.extend(parse_join_command(&out).map(|j| token_id(&j.token)));
        api_name = Some(name.clone());
        initialized = Some(name.clone());
        applied.push(step.change(&node.kdir));
    }

    let rest: Vec<&Step> = joins
        .iter()
        .copied()
        .filter(|s| matches!(s, Step::Join(_) | Step::ResetRejoin(_)))
        .collect();
    let Some(api_name) = api_name else {
        return Ok(result(site, applied));
    };
    let api = Arc::clone(node_of(nodes, &api_name)?);
    let joined = cni_and_joins(
        site,
        cluster,
        options,
        nodes,
        &api,
        (&cni_steps, &rest),
        (&addons, &mut record),
        cert_key,
        initialized.as_deref(),
        &mut tokens,
    )
    .await;
    // Whether the joins worked or not, no bootstrap token made here outlives the apply.
    let deleted = delete_tokens(&api, &tokens).await;
    match (joined, deleted) {
        (Ok(changes), Ok(())) => applied.extend(changes),
        (Err(e), Ok(())) | (Ok(_), Err(e)) => return Err(e),
        (Err(e), Err(d)) => {
            tracing::error!("{d}");
            return Err(e);
        }
    }
    finish(
        cluster,
        &api,
        &joins,
        observed,
        (&addons, &addon_steps),
        record,
        applied,
    )
    .await
    .map(|applied| result(site, applied))
}

/// Deletes the bootstrap tokens `ids` (`kubeadm token delete -- ID...`), trying twice.
async fn delete_tokens(api: &Node, ids: &[String]) -> Result<(), JoinError> {
    if ids.is_empty() {
        return Ok(());
    }
    let cmd = format!("kubeadm token delete -- {}", ids.join(" "));
    tracing::info!("{}: {cmd}", api.name);
    if let Err(e) = api.check(&cmd, "kubeadm token delete").await {
        tracing::warn!("{e}; trying again");
        api.check(&cmd, "kubeadm token delete").await.map_err(|e| {
            JoinError::Cluster(format!(
                "{e} (bootstrap token {} stays valid until it expires: `kubeadm token delete` it)",
                ids.join(", ")
            ))
        })?;
    }
    Ok(())
}

/// The public id of a bootstrap token (`abcdef` of `abcdef.0123456789abcdef`): not a secret.
fn token_id(token: &Secret) -> String {
    token
        .expose()
        .split_once('.')
        .map_or_else(String::new, |(id, _)| id.to_owned())
}

/// The CNI, the new first master's Ready wait, then the joins (masters one at a time, workers
/// in parallel). Pushes the id of every bootstrap token it creates to `tokens`.
#[allow(clippy::too_many_arguments)]
async fn cni_and_joins(
    site: &Site,
    cluster: &ClusterView,
    options: &Options,
    nodes: &Nodes,
    api: &Arc<Node>,
    (cni_steps, rest): (&[&AddonStep], &[&Step]),
    (addons, record): (&[Addon], &mut BTreeMap<String, String>),
    cert_key: Option<CertKey>,
    initialized: Option<&str>,
    tokens: &mut Vec<String>,
) -> Result<Vec<Change>, JoinError> {
    let mut applied = Vec::new();
    let api_name = api.name.clone();
    // The CNI, then the new first master's Ready wait (nodes are NotReady without a CNI).
    for step in cni_steps {
        applied.push(apply_addon(api, addons, step, record).await?);
    }
    if let Some(name) = initialized {
        wait_ready(api, name, options.ready_timeout).await?;
    }

    if !rest.is_empty() {
        let out = api
            .check(
                &format!("kubeadm token create --ttl {TOKEN_TTL} --print-join-command"),
                "kubeadm token create",
            )
            .await?;
        let join = parse_join_command(&out).ok_or_else(|| JoinError::Output {
            node: api_name.clone(),
            command: "kubeadm token create --print-join-command".to_owned(),
            message: "no `kubeadm join <endpoint> --token ... --discovery-token-ca-cert-hash sha256:...` line".to_owned(),
        })?;
        tokens.push(token_id(&join.token));
        let ctx = Arc::new(Ctx {
            site: site.clone(),
            cluster: cluster.clone(),
            options: options.clone(),
            api: Arc::clone(api),
            join,
            cert_key: Mutex::new(cert_key),
        });
        // Masters one at a time.
        for step in rest.iter().filter(|s| is_master(cluster, s.node())) {
            tracing::info!(target: "progress", step = %format!("join master {}", step.node()));
            let node = Arc::clone(node_of(nodes, step.node())?);
            applied.push(join_node(&ctx, &node, step, true).await?);
        }
        // Workers in parallel, bounded.
        let sem = Arc::new(Semaphore::new(options.parallelism.max(1)));
        let mut set = JoinSet::new();
        for step in rest.iter().filter(|s| !is_master(cluster, s.node())) {
            let node = Arc::clone(node_of(nodes, step.node())?);
            let (ctx, sem, step) = (Arc::clone(&ctx), Arc::clone(&sem), (*step).clone());
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                join_node(&ctx, &node, &step, false).await
            });
        }
        let mut worker_changes = Vec::new();
        let mut errors = Vec::new();
        while let Some(j) = set.join_next().await {
            let done = (worker_changes.len() + errors.len() + 1) as u64;
            tracing::info!(target: "progress", step = "join workers", done, total = done + set.len() as u64);
            match j {
                Ok(Ok(c)) => worker_changes.push(c),
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(JoinError::Cluster(format!("join task failed: {e}"))),
            }
        }
        worker_changes.sort_by(|a, b| a.target.cmp(&b.target));
        applied.extend(worker_changes);
        if let Some(e) = errors.into_iter().min_by_key(|e| e.to_string()) {
            return Err(e);
        }
    }
    Ok(applied)
}

/// Labels and taints, then the other addons.
async fn finish(
    cluster: &ClusterView,
    api: &Node,
    joins: &[&Step],
    observed: plan::Observed,
    (addons, addon_steps): (&[Addon], &[&AddonStep]),
    mut record: BTreeMap<String, String>,
    mut applied: Vec<Change>,
) -> Result<Vec<Change>, JoinError> {
    // Labels and taints, from the API server's current view (joined nodes are members now).
    let mut reobserved = observed;
    if !joins.is_empty() {
        let view = plan::api_nodes(api).await?;
        for o in &mut reobserved.nodes {
            if let Some((ready, labels, taints)) = view.get(&o.name) {
                if joins.iter().any(|s| s.node() == o.name) {
                    o.state = NodeState::Member;
                }
                o.listed = true;
                o.ready = *ready;
                o.labels.clone_from(labels);
                o.taints.clone_from(taints);
            }
        }
    }
    for step in plan::metadata_steps(cluster, &reobserved) {
        let admin = api.kpath("admin.conf");
        let Some((verb, args)) = step.kubectl_args() else {
            continue;
        };
        api.check(
            &format!("kubectl --kubeconfig {admin} {args}"),
            &format!("kubectl {verb} node {}", step.node()),
        )
        .await?;
        applied.push(step.change(&api.kdir));
    }

    // The other addons, in order; the first failure stops the rest.
    for step in addon_steps {
        applied.push(apply_addon(api, addons, step, &mut record).await?);
    }
    Ok(applied)
}

async fn apply_addon(
    api: &Node,
    addons: &[Addon],
    step: &AddonStep,
    record: &mut BTreeMap<String, String>,
) -> Result<Change, JoinError> {
    let addon = addons
        .iter()
        .find(|a| a.name == step.name)
        .ok_or_else(|| JoinError::Cluster(format!("addon {}: not in the site", step.name)))?;
    crate::addons::apply_addon(api, addon, step, record).await
}

fn is_master(cluster: &ClusterView, name: &str) -> bool {
    cluster
        .nodes
        .iter()
        .any(|n| n.name == name && n.control_plane)
}

fn result(site: &Site, applied: Vec<Change>) -> ApplyResult {
    ApplyResult {
        api_version: "rackpipe/v1".to_owned(),
        kind: "ApplyResult".to_owned(),
        tool: "kubeadm-join".to_owned(),
        site: site.metadata.name.to_string(),
        summary: ChangeCounts::of(&applied),
        applied,
        facts: BTreeMap::new(),
    }
}

/// Swap, container runtime, ports (for a node kubeadm never touched) and clock skew.
async fn preflight(
    node: &Node,
    view: &NodeView,
    cri_socket: &str,
    check_ports: bool,
    max_skew: Duration,
) -> Result<(), JoinError> {
    let ports: &[u16] = if !check_ports {
        &[]
    } else if view.control_plane {
        CONTROL_PLANE_PORTS
    } else {
        WORKER_PORTS
    };
    let port_checks = ports
        .iter()
        .map(|p| {
            format!("if ss -Htln 'sport = :{p}' | grep -q .; then echo 'port {p} is in use'; fi")
        })
        .collect::<Vec<_>>()
        .join("; ");
    let cri = rackpipe_ssh::shell_quote(cri_socket);
    let script = format!(
        "if [ \"$(awk 'NR>1' /proc/swaps | wc -l)\" -ne 0 ]; then echo 'swap is on (swapoff -a and remove it from /etc/fstab)'; fi; \
         if ! command -v kubeadm >/dev/null; then echo 'kubeadm is not installed'; fi; \
         if ! crictl --runtime-endpoint={cri} info >/dev/null 2>&1; then echo 'container runtime at '{cri}' does not answer crictl info'; fi; \
         {port_checks}{sep} echo \"clock $(date +%s)\"",
        sep = if port_checks.is_empty() { "" } else { ";" }
    );
    let out = node.check(&script, "preflight").await?;
    let mut problems: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with("clock ") && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let remote = out
        .lines()
        .find_map(|l| l.strip_prefix("clock "))
        .and_then(|s| s.trim().parse::<i64>().ok());
    let local = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    match remote {
        Some(r) if (r - local).unsigned_abs() > max_skew.as_secs() => problems.push(format!(
            "clock is {}s off this machine's (limit {}s)",
            r - local,
            max_skew.as_secs()
        )),
        Some(_) => {}
        None => problems.push("no clock reading from `date +%s`".to_owned()),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(JoinError::Preflight {
            node: node.name.clone(),
            problems: problems.join("; "),
        })
    }
}

/// `kubeadm config validate` of the node's config (written beside the real one, then removed).
async fn validate_config(node: &Node, config: &str) -> Result<(), JoinError> {
    let rel = ".kubeadm-config.validate.yaml";
    node.write(rel, config).await?;
    let path = node.kpath(rel);
    let out = node
        .run(&format!(
            "kubeadm config validate --config {path}; rc=$?; rm -f {path}; exit $rc"
        ))
        .await?;
    if out.success() {
        Ok(())
    } else {
        Err(JoinError::Preflight {
            node: node.name.clone(),
            problems: format!(
                "kubeadm config validate: {}",
                crate::remote::mask_secrets(&out.first_error_line())
            ),
        })
    }
}

async fn reset(node: &Node) -> Result<(), JoinError> {
    tracing::info!("{}: kubeadm reset -f", node.name);
    node.check("kubeadm reset -f", "kubeadm reset")
        .await
        .map(drop)
}

/// A certificate key young enough for one more master join (uploads a fresh one if not).
async fn fresh_cert_key(ctx: &Ctx, force: bool) -> Result<Secret, JoinError> {
    let mut guard = ctx.cert_key.lock().await;
    if let Some(k) = guard.as_ref()
        && !force
        && k.uploaded.elapsed() < CERT_KEY_MAX_AGE
    {
        return Ok(k.key.clone());
    }
    tracing::info!(
        "{}: uploading control-plane certificates with a fresh certificate key",
        ctx.api.name
    );
    let out = ctx
        .api
        .check(
            "kubeadm init phase upload-certs --upload-certs",
            "kubeadm init phase upload-certs",
        )
        .await?;
    let key = parse_certificate_key(&out).ok_or_else(|| JoinError::Output {
        node: ctx.api.name.clone(),
        command: "kubeadm init phase upload-certs --upload-certs".to_owned(),
        message: "no `[upload-certs] Using certificate key:` line".to_owned(),
    })?;
    *guard = Some(CertKey {
        key: key.clone(),
        uploaded: Instant::now(),
    });
    Ok(key)
}

/// Joins one node: reset first when half-joined, reset after each failed attempt, renew the
/// certificate key when the uploaded certificates are gone; then wait until Ready.
async fn join_node(
    ctx: &Ctx,
    node: &Node,
    step: &Step,
    control_plane: bool,
) -> Result<Change, JoinError> {
    let view = view_of(&ctx.cluster, &node.name)?;
    if matches!(step, Step::ResetRejoin(_)) {
        reset(node).await?;
    }
    let attempts = ctx.options.join_attempts.max(1);
    let mut renew = false;
    let mut resets = Vec::new();
    for attempt in 1..=attempts {
        let certificate_key = if control_plane {
            fresh_cert_key(ctx, renew).await?.expose().to_owned()
        } else {
            String::new()
        };
        let secrets = JoinSecrets {
            token: ctx.join.token.expose().to_owned(),
            ca_cert_hash: ctx.join.ca_cert_hashes.first().cloned().unwrap_or_default(),
            certificate_key,
            placeholder: false,
        };
        let config = node_config(
            &ctx.site,
            &ctx.cluster,
            view,
            ctx.options.api_version_for(&ctx.cluster),
            &secrets,
            ctx.options.templates.as_deref(),
        )?;
        node.write("kubeadm-config.yaml", &config).await?;
        tracing::info!("{}: kubeadm join (attempt {attempt}/{attempts})", node.name);
        let joined = node
            .check(
                &format!(
                    "kubeadm join --config {}",
                    node.kpath("kubeadm-config.yaml")
                ),
                "kubeadm join",
            )
            .await;
        // The config holds the token (and the certificate key): never leave it behind.
        let removed = node
            .check(
                &format!("rm -f {}", node.kpath("kubeadm-config.yaml")),
                "rm kubeadm-config.yaml",
            )
            .await;
        match joined {
            Ok(_) => {
                removed?;
                wait_ready(&ctx.api, &node.name, ctx.options.ready_timeout).await?;
                let mut change = step.change(&node.kdir);
                if !resets.is_empty() {
                    change.commands.extend(resets);
                    change.after = Some(serde_json::json!({ "attempts": attempt }));
                }
                return Ok(change);
            }
            Err(e) => {
                tracing::warn!("{e}");
                if attempt == attempts {
                    return Err(e);
                }
                renew = control_plane && e.to_string().contains("kubeadm-certs");
                reset(node).await?;
                resets.push(format!(
                    "kubeadm reset -f (after failed attempt {attempt}: {e})"
                ));
                if renew {
                    resets.push(
                        "kubeadm init phase upload-certs --upload-certs (certificate key renewed)"
                            .to_owned(),
                    );
                }
            }
        }
    }
    Err(JoinError::Cluster(format!(
        "{}: no join attempt made",
        node.name
    )))
}

/// Polls the API server until `name` is Ready.
async fn wait_ready(api: &Node, name: &str, timeout: Duration) -> Result<(), JoinError> {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        let nodes = plan::api_nodes(api).await?;
        if nodes.get(name).is_some_and(|n| n.0) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(JoinError::NotReady {
                node: name.to_owned(),
                // The time actually waited: a slow last read can run past the deadline.
                seconds: started.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
