//! The monitoring stack as cluster addons, and the Prometheus scrape configuration of what lives
//! outside the cluster, both from the site's `monitoring` section.
//!
//! | addon | chart | what |
//! |---|---|---|
//! | `kube-prometheus-stack` | [`PROMETHEUS_STACK_REPO`] `kube-prometheus-stack` [`PROMETHEUS_STACK_VERSION`] | Prometheus (retention, storage, [`scrape_configs`] as `additionalScrapeConfigs`), Alertmanager (receivers), Grafana (Loki data source), the operator, node-exporter, kube-state-metrics |
//! | `loki` | [`GRAFANA_REPO`] `loki` [`LOKI_VERSION`] | single-binary Loki on a filesystem volume, compactor retention |
//! | `alloy` | [`GRAFANA_REPO`] `alloy` [`ALLOY_VERSION`] | the log shipper: every pod's logs, and the router's syslog on a NodePort |
//!
//! **Log shipper: Grafana Alloy, not Promtail.** The Loki chart 6.x installs no shipper of its
//! own (its 5.x self-monitoring agent is gone) and Grafana's docs send Loki 3 users to Alloy;
//! Promtail is deprecated (LTS ended 28 Feb 2026, end of life 2 Mar 2026). Alloy's
//! `loki.source.syslog` also listens on UDP and reads RFC 3164 messages (`syslog_format`),
//! which is what RouterOS remote logging sends; Promtail's syslog target wants RFC 5424.
//!
//! **Pins.** Like every chart, each archive is pinned by version here and by SHA-256 in the
//! site's `kubernetes.artifacts` (`kube-prometheus-stack-81.2.2.tgz`, `loki-6.54.0.tgz`,
//! `alloy-1.5.1.tgz`). The real digests (`digest:` of the repositories' `index.yaml`) could not be
//! looked up from where this was written (no network, no copy of those index files): the
//! site's pins must be filled from `helm pull --repo URL --version V CHART && sha256sum`.
//!
//! **Secrets.** No secret value is in a rendered file. Every secret the stack needs (receiver
//! webhook URLs, SMTP passwords, the Vault metrics token and CA, Grafana's admin password) is a
//! key of the Kubernetes Secret [`SECRET_NAME`] in the namespace ([`secret_keys`] lists key and
//! reference); Prometheus and Alertmanager mount it (`secrets:`) and read files
//! (`credentials_file`, `url_file`, `auth_password_file`), Grafana reads `admin.existingSecret`.
//!
//! **Keepalived.** keepalived has no Prometheus endpoint, and the third-party exporters
//! (`gen2brain/keepalived_exporter`, `mehdy/keepalived-exporter`) are not Debian packages and
//! signal keepalived to dump its state. Instead haproxy-gen renders a `notify` script that
//! writes `keepalived_vrrp_state` / `keepalived_vrrp_transitions_total` as node_exporter
//! textfile metrics on every instance (`prometheus-node-exporter`, a Debian package); the
//! `keepalived` job scrapes node_exporter there (`monitoring.targets.keepalived.port`, 9100).

use std::fmt::Write as _;

use rackpipe_model::Site;
use rackpipe_model::monitoring::{Deploy, Monitoring, Volume};
use rackpipe_model::types::SecretRef;
use serde_json::{Value, json};

use crate::Error;
use crate::addons::{Addon, AddonFile, Install, pinned};

/// Chart repository of `kube-prometheus-stack`.
pub const PROMETHEUS_STACK_REPO: &str = "https://prometheus-community.github.io/helm-charts";
/// Pinned `kube-prometheus-stack` chart version.
pub const PROMETHEUS_STACK_VERSION: &str = "81.2.2";
/// Chart repository of `loki` and `alloy`.
pub const GRAFANA_REPO: &str = "https://grafana.github.io/helm-charts";
/// Pinned `loki` chart version (Loki 3).
pub const LOKI_VERSION: &str = "6.54.0";
/// Pinned `alloy` chart version.
pub const ALLOY_VERSION: &str = "1.5.1";
/// The Secret (in the monitoring namespace) holding every secret the stack reads.
pub const SECRET_NAME: &str = "rackpipe-monitoring";
/// Port the log shipper's syslog receiver listens on inside its pod.
pub const SYSLOG_CONTAINER_PORT: u16 = 1514;

/// Where Prometheus (the operator's `secrets:`) mounts [`SECRET_NAME`].
fn prometheus_secrets_dir() -> String {
    format!("/etc/prometheus/secrets/{SECRET_NAME}")
}

/// One key of [`SECRET_NAME`] and the site's reference its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKey {
    /// Key in the Secret (a file name where it is mounted).
    pub key: String,
    /// Where the value comes from.
    pub reference: SecretRef,
    /// The field of the site that names it.
    pub field: String,
}

/// Every secret the stack reads, by key of [`SECRET_NAME`].
#[must_use]
pub fn secret_keys(m: &Monitoring) -> Vec<SecretKey> {
    let mut out = Vec::new();
    let mut push = |key: String, reference: &SecretRef, field: String| {
        out.push(SecretKey {
            key,
            reference: reference.clone(),
            field,
        });
    };
    if let Some(t) = &m.targets.vault.token {
        push(
            "vault-token".to_owned(),
            t,
            "monitoring.targets.vault.token".to_owned(),
        );
    }
    if let Some(c) = &m.targets.vault.ca {
        push(
            "vault-ca.pem".to_owned(),
            c,
            "monitoring.targets.vault.ca".to_owned(),
        );
    }
    for (i, r) in m.alertmanager.receivers.iter().enumerate() {
        for (j, w) in r.webhooks.iter().enumerate() {
            push(
                webhook_key(r.name.as_str(), j),
                &w.url,
                format!("monitoring.alertmanager.receivers[{i}].webhooks[{j}].url"),
            );
        }
        for (j, e) in r.emails.iter().enumerate() {
            if let Some(p) = &e.password {
                push(
                    email_key(r.name.as_str(), j),
                    p,
                    format!("monitoring.alertmanager.receivers[{i}].emails[{j}].password"),
                );
            }
        }
    }
    if let Some(p) = &m.grafana.admin_password {
        push(
            "grafana-admin-password".to_owned(),
            p,
            "monitoring.grafana.admin_password".to_owned(),
        );
    }
    out
}

fn webhook_key(receiver: &str, i: usize) -> String {
    format!("webhook-{receiver}-{i}")
}

fn email_key(receiver: &str, i: usize) -> String {
    format!("smtp-{receiver}-{i}")
}

/// A machine's name (FQDN when it has one) and address.
struct Machine {
    name: String,
    dns: String,
    address: String,
}

fn guest_machine(site: &Site, guest: &str) -> Option<Machine> {
    if let Some(g) = site
        .proxmox
        .as_ref()
        .and_then(|p| p.guests.iter().find(|g| g.name.as_str() == guest))
    {
        let address = g.nics.iter().find_map(|n| n.address.map(|a| a.ip()))?;
        return Some(Machine {
            name: g.name.to_string(),
            dns: g
                .fqdn
                .as_ref()
                .map_or_else(|| address.to_string(), ToString::to_string),
            address: address.to_string(),
        });
    }
    site.hosts
        .iter()
        .find(|h| h.name.as_str() == guest)
        .map(|h| Machine {
            name: h.name.to_string(),
            dns: h
                .fqdn
                .as_ref()
                .map_or_else(|| h.address.to_string(), ToString::to_string),
            address: h.address.to_string(),
        })
}

/// `host:port`, bracketing an IPv6 address.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One static target per machine, labelled with its site name.
fn statics(machines: &[Machine], port: u16, dns: bool) -> Value {
    machines
        .iter()
        .map(|m| {
            json!({
                "targets": [host_port(if dns { &m.dns } else { &m.address }, port)],
                "labels": {"instance": m.name},
            })
        })
        .collect()
}

/// The scrape jobs of what lives outside the cluster, generated from the site. `secrets_dir`
/// is where the files of [`secret_keys`] are (`/etc/prometheus/secrets/rackpipe-monitoring` in
/// the cluster). Empty when the site has no monitoring section.
#[must_use]
pub fn scrape_configs(site: &Site, secrets_dir: &str) -> Vec<Value> {
    let Some(m) = &site.monitoring else {
        return Vec::new();
    };
    let t = &m.targets;
    let interval = m.prometheus.scrape_interval.to_string();
    let mut jobs = Vec::new();
    let job = |name: &str, path: &str, targets: Value| {
        json!({
            "job_name": name,
            "scrape_interval": interval,
            "metrics_path": path,
            "static_configs": targets,
        })
    };
    if let Some(lb) = &site.load_balancer {
        let instances: Vec<Machine> = lb
            .instances
            .iter()
            .filter_map(|i| guest_machine(site, i.guest.as_str()))
            .collect();
        if t.haproxy.enabled
            && let Some(port) = t.haproxy.port.or(lb.stats.as_ref().map(|s| s.port))
            && !instances.is_empty()
        {
            jobs.push(job(
                "haproxy",
                t.haproxy.path.as_str(),
                statics(&instances, port, false),
            ));
        }
        if t.keepalived.enabled && !instances.is_empty() {
            jobs.push(job(
                "keepalived",
                "/metrics",
                statics(&instances, t.keepalived.port, false),
            ));
        }
    }
    if let Some(v) = &site.vault
        && t.vault.enabled
    {
        let targets: Vec<Value> = v
            .nodes
            .iter()
            .filter_map(|n| {
                let m = guest_machine(site, n.guest.as_str())?;
                Some(json!({
                    "targets": [host_port(&m.dns, t.vault.port.unwrap_or(n.api_port))],
                    "labels": {"instance": n.name.as_str()},
                }))
            })
            .collect();
        let mut j = job("vault", "/v1/sys/metrics", Value::Array(targets));
        j["scheme"] = json!("https");
        j["params"] = json!({"format": ["prometheus"]});
        if t.vault.token.is_some() {
            j["authorization"] =
                json!({"type": "Bearer", "credentials_file": format!("{secrets_dir}/vault-token")});
        }
        if t.vault.ca.is_some() {
            j["tls_config"] = json!({"ca_file": format!("{secrets_dir}/vault-ca.pem")});
        }
        jobs.push(j);
    }
    if let Some(k) = &site.kubernetes
        && t.etcd.enabled
    {
        let masters: Vec<Machine> = k
            .masters
            .iter()
            .filter_map(|n| {
                guest_machine(site, n.guest.as_str()).map(|mut m| {
                    m.name = n.name.to_string();
                    m
                })
            })
            .collect();
        jobs.push(job(
            "etcd",
            "/metrics",
            statics(&masters, t.etcd.port, false),
        ));
    }
    if let Some(p) = &site.proxmox
        && t.proxmox.enabled
    {
        let nodes: Vec<Machine> = p
            .nodes
            .iter()
            .map(|n| Machine {
                name: n.name.to_string(),
                dns: n.address.to_string(),
                address: n.address.to_string(),
            })
            .collect();
        // prometheus-pve-exporter on every node asks that node's own API (`target`).
        let mut j = job("proxmox", "/pve", statics(&nodes, t.proxmox.port, false));
        j["params"] = json!({"module": ["default"], "cluster": ["1"], "node": ["1"]});
        j["relabel_configs"] = json!([{
            "source_labels": ["__address__"],
            "regex": "\\[?([^\\]]+?)\\]?:[0-9]+",
            "target_label": "__param_target",
            "replacement": "$1",
        }]);
        jobs.push(j);
    }
    if let Some(n) = &site.nas
        && t.nas.enabled
        && let Some(m) = guest_machine(site, n.host.as_str())
    {
        jobs.push(job("nas", "/metrics", statics(&[m], t.nas.port, false)));
    }
    if let Some(pg) = &m.pushgateway
        && let Some((scheme, rest)) = pg.url.split_once("://")
    {
        let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let host = if host.contains(':') && !host.ends_with(']') {
            host.to_owned()
        } else {
            format!("{host}:{}", if scheme == "https" { 443 } else { 80 })
        };
        let mut j = job(
            "pushgateway",
            &format!(
                "/{}metrics",
                if path.is_empty() {
                    String::new()
                } else {
                    format!("{}/", path.trim_end_matches('/'))
                }
            ),
            json!([{"targets": [host]}]),
        );
        j["scheme"] = json!(scheme);
        j["honor_labels"] = json!(true);
        jobs.push(j);
    }
    jobs
}

/// A standalone `prometheus.yml` with the site's scrape jobs ([`scrape_configs`]), for
/// `promtool check config` and for a Prometheus outside the cluster (`deploy: external`).
///
/// # Errors
/// The site has no monitoring section.
pub fn prometheus_config(site: &Site, secrets_dir: &str) -> Result<String, Error> {
    let m = monitoring(site)?;
    let doc = json!({
        "global": {
            "scrape_interval": m.prometheus.scrape_interval.to_string(),
            "external_labels": {"site": site.metadata.name.as_str()},
        },
        "scrape_configs": scrape_configs(site, secrets_dir),
    });
    let mut out = format!(
        "# Prometheus scrape configuration of site {}, generated by kubeadm-join from its\n# monitoring section. JSON is YAML.\n",
        site.metadata.name
    );
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    );
    Ok(out)
}

fn monitoring(site: &Site) -> Result<&Monitoring, Error> {
    site.monitoring.as_ref().ok_or_else(|| Error::Unresolved {
        path: "monitoring".to_owned(),
        message: "the site has no monitoring section".to_owned(),
    })
}

/// A PVC template's spec.
fn claim(v: &Volume) -> Value {
    json!({
        "storageClassName": v.class.as_str(),
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": quantity(v)}},
    })
}

/// A Kubernetes quantity of the volume's size (binary units).
fn quantity(v: &Volume) -> String {
    let s = v.size.to_string();
    match s.chars().last() {
        Some('K' | 'M' | 'G' | 'T') => format!("{s}i"),
        _ => s,
    }
}

/// The kube-prometheus-stack values. `rules` are the alert rule groups (a `PrometheusRule`).
pub(crate) fn prometheus_stack_values(site: &Site, m: &Monitoring, rules: Value) -> Value {
    let ns = m.namespace.as_str();
    let keys = secret_keys(m);
    let has_secrets = !keys.is_empty();
    let mut prom = json!({
        "retention": m.prometheus.retention.to_string(),
        "scrapeInterval": m.prometheus.scrape_interval.to_string(),
        "additionalScrapeConfigs": scrape_configs(site, &prometheus_secrets_dir()),
        "ruleSelectorNilUsesHelmValues": false,
        "serviceMonitorSelectorNilUsesHelmValues": false,
        "podMonitorSelectorNilUsesHelmValues": false,
        "externalLabels": {"site": site.metadata.name.as_str()},
    });
    if let Some(s) = m.prometheus.retention_size {
        // Prometheus' size units are powers of 1024: MB is MiB.
        prom["retentionSize"] = json!(format!("{}MB", s.bytes() >> 20));
    }
    if let Some(v) = &m.prometheus.storage {
        prom["storageSpec"] = json!({"volumeClaimTemplate": {"spec": claim(v)}});
    }
    if has_secrets {
        prom["secrets"] = json!([SECRET_NAME]);
    }
    let am_dir = format!("/etc/alertmanager/secrets/{SECRET_NAME}");
    let receivers: Vec<Value> = m
        .alertmanager
        .receivers
        .iter()
        .map(|r| {
            let webhooks: Vec<Value> = r
                .webhooks
                .iter()
                .enumerate()
                .map(|(j, w)| json!({"url_file": format!("{am_dir}/{}", webhook_key(r.name.as_str(), j)), "send_resolved": w.send_resolved}))
                .collect();
            let emails: Vec<Value> = r
                .emails
                .iter()
                .enumerate()
                .map(|(j, e)| {
                    let mut c = json!({"to": e.to, "from": e.from, "smarthost": e.smarthost, "require_tls": e.require_tls});
                    if let Some(u) = &e.username {
                        c["auth_username"] = json!(u);
                    }
                    if e.password.is_some() {
                        c["auth_password_file"] = json!(format!("{am_dir}/{}", email_key(r.name.as_str(), j)));
                    }
                    c
                })
                .collect();
            let mut out = json!({"name": r.name.as_str()});
            if !webhooks.is_empty() {
                out["webhook_configs"] = Value::Array(webhooks);
            }
            if !emails.is_empty() {
                out["email_configs"] = Value::Array(emails);
            }
            out
        })
        .collect();
    let default = m
        .alertmanager
        .default_receiver
        .as_ref()
        .map(ToString::to_string)
        .or_else(|| m.alertmanager.receivers.first().map(|r| r.name.to_string()));
    let (root, receivers) = match default {
        Some(d) => (d, receivers),
        None => ("null".to_owned(), vec![json!({"name": "null"})]),
    };
    let mut am_spec = json!({});
    if let Some(v) = &m.alertmanager.storage {
        am_spec["storage"] = json!({"volumeClaimTemplate": {"spec": claim(v)}});
    }
    if has_secrets {
        am_spec["secrets"] = json!([SECRET_NAME]);
    }
    let mut grafana = json!({
        "additionalDataSources": [{
            "name": "Loki",
            "type": "loki",
            "access": "proxy",
            "url": format!("http://loki-gateway.{ns}.svc"),
        }],
    });
    if let Some(v) = &m.grafana.storage {
        grafana["persistence"] = json!({"enabled": true, "type": "pvc", "storageClassName": v.class.as_str(), "accessModes": ["ReadWriteOnce"], "size": quantity(v)});
    }
    if m.grafana.admin_password.is_some() {
        grafana["admin"] = json!({"existingSecret": SECRET_NAME, "userKey": "grafana-admin-user", "passwordKey": "grafana-admin-password"});
    }
    json!({
        "fullnameOverride": "kps",
        "prometheus": {"prometheusSpec": prom},
        "alertmanager": {
            "alertmanagerSpec": am_spec,
            "config": {
                "route": {"receiver": root, "group_by": ["alertname", "site", "job"]},
                "receivers": receivers,
            },
        },
        "grafana": grafana,
        // etcd is scraped by the site's own job (scrape_configs), on the masters' addresses.
        "kubeEtcd": {"enabled": false},
        "additionalPrometheusRulesMap": {"rackpipe": {"groups": rules}},
    })
}

/// The loki chart's values: one single-binary Loki on a filesystem volume, retention by the
/// compactor.
pub(crate) fn loki_values(m: &Monitoring) -> Value {
    let hours = m.loki.retention.as_secs() / 3600;
    let mut single = json!({"replicas": 1});
    single["persistence"] = match &m.loki.storage {
        Some(v) => json!({"enabled": true, "storageClass": v.class.as_str(), "size": quantity(v)}),
        None => json!({"enabled": false}),
    };
    json!({
        "deploymentMode": "SingleBinary",
        "loki": {
            "auth_enabled": false,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {"configs": [{
                "from": "2024-04-01", "store": "tsdb", "object_store": "filesystem",
                "schema": "v13", "index": {"prefix": "loki_index_", "period": "24h"},
            }]},
            "limits_config": {"retention_period": format!("{hours}h")},
            "compactor": {"retention_enabled": true, "delete_request_store": "filesystem"},
        },
        "singleBinary": single,
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "chunksCache": {"enabled": false},
        "resultsCache": {"enabled": false},
        "lokiCanary": {"enabled": false},
        "test": {"enabled": false},
    })
}

/// The alloy chart's values: pod logs of every node, and the router's syslog on a NodePort.
pub(crate) fn alloy_values(m: &Monitoring) -> Value {
    let ns = m.namespace.as_str();
    let mut config = format!(
        r#"// Rendered by rackpipe kubeadm-join from the site's monitoring section.
discovery.kubernetes "pods" {{
  role = "pod"
}}

discovery.relabel "pods" {{
  targets = discovery.kubernetes.pods.targets
  rule {{
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }}
}}

loki.source.kubernetes "pods" {{
  targets    = discovery.relabel.pods.output
  forward_to = [loki.write.default.receiver]
}}

loki.write "default" {{
  endpoint {{
    url = "http://loki-gateway.{ns}.svc/loki/api/v1/push"
  }}
}}
"#
    );
    let mut values = json!({
        "alloy": {
            "configMap": {"create": true},
            "mounts": {"varlog": true},
        },
    });
    if let Some(s) = &m.loki.syslog {
        let protocol = match s.protocol {
            rackpipe_model::monitoring::SyslogProtocol::Udp => "udp",
            rackpipe_model::monitoring::SyslogProtocol::Tcp => "tcp",
        };
        let _ = write!(
            config,
            r#"
// The router's remote logging (RFC 3164 over {protocol}), NodePort {port}.
loki.source.syslog "router" {{
  listener {{
    address       = "0.0.0.0:{SYSLOG_CONTAINER_PORT}"
    protocol      = "{protocol}"
    syslog_format = "rfc3164"
    labels        = {{ job = "syslog", source = "router" }}
  }}
  forward_to = [loki.write.default.receiver]
}}
"#,
            port = s.port,
        );
        values["alloy"]["extraPorts"] = json!([{
            "name": "syslog",
            "port": SYSLOG_CONTAINER_PORT,
            "targetPort": SYSLOG_CONTAINER_PORT,
            "nodePort": s.port,
            "protocol": protocol.to_uppercase(),
        }]);
        values["service"] = json!({"type": "NodePort"});
    }
    values["alloy"]["configMap"]["content"] = json!(config);
    values
}

/// The `groups` of a Prometheus rules file (what [`crate::monitoring_rules::alert_rules`]
/// renders), for the stack's `PrometheusRule`.
///
/// # Errors
/// The file is not YAML with a `groups` list.
pub fn rule_groups(rules: &str) -> Result<Value, Error> {
    let bad = |message: String| Error::Unresolved {
        path: "monitoring.alerts".to_owned(),
        message: format!("the rendered alert rules: {message}"),
    };
    let doc: Value = serde_saphyr::from_str(rules).map_err(|e| bad(e.to_string()))?;
    match doc.get("groups") {
        Some(g @ Value::Array(_)) => Ok(g.clone()),
        _ => Err(bad("no `groups:` list".to_owned())),
    }
}

/// The monitoring addons of the site (none when it has no `monitoring` section or the stack
/// runs elsewhere), in the order they are applied. `pins` are the site's
/// `kubernetes.artifacts`; `rules` the alert rule groups the `PrometheusRule` holds.
///
/// # Errors
/// A chart without a well-formed pin.
pub(crate) fn addons(
    site: &Site,
    pins: &std::collections::BTreeMap<String, String>,
    rules: Value,
) -> Result<Vec<Addon>, Error> {
    let Some(m) = &site.monitoring else {
        return Ok(Vec::new());
    };
    if m.deploy != Deploy::Kubernetes {
        return Ok(Vec::new());
    }
    let ns = m.namespace.as_str();
    let addon = |chart: &str, repo: &str, version: &str, values: Value| -> Result<Addon, Error> {
        let mut content = format!(
            "# Helm values for the {chart} chart ({repo}, version {version}) of site {}, rendered by\n# kubeadm-join from its monitoring section. JSON is YAML.\n",
            site.metadata.name
        );
        content.push_str(&serde_json::to_string_pretty(&values).unwrap_or_default());
        content.push('\n');
        Ok(Addon {
            name: chart.to_owned(),
            cni: false,
            files: vec![AddonFile {
                name: format!("{chart}-values.yaml"),
                content,
            }],
            install: Install::Helm {
                release: chart.to_owned(),
                namespace: ns.to_owned(),
                chart: chart.to_owned(),
                repo: repo.to_owned(),
                version: version.to_owned(),
                archive: pinned(pins, &format!("{chart}-{version}.tgz"), repo)?,
            },
        })
    };
    Ok(vec![
        addon(
            "kube-prometheus-stack",
            PROMETHEUS_STACK_REPO,
            PROMETHEUS_STACK_VERSION,
            prometheus_stack_values(site, m, rules),
        )?,
        addon("loki", GRAFANA_REPO, LOKI_VERSION, loki_values(m))?,
        addon("alloy", GRAFANA_REPO, ALLOY_VERSION, alloy_values(m))?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tests/sites/minimal.yaml` with a monitoring section (every target kind, a webhook,
    /// storage on the cluster's class, a Pushgateway, a Vault token).
    fn site() -> Site {
        let root = rackpipe_testkit::project_root();
        let mut text = std::fs::read_to_string(root.join("tests/sites/minimal.yaml")).unwrap();
        text.push_str(
            "monitoring:
  prometheus: {retention: 15d, retention_size: 18G, storage: {class: nfs, size: 20G}}
  alertmanager:
    storage: {class: nfs, size: 1G}
    receivers:
      - name: ops
        webhooks: [{url: env:ALERT_WEBHOOK_URL}]
        emails:
          - {to: ops@mini.test, from: alerts@mini.test, smarthost: \"smtp.mini.test:587\", username: alerts, password: env:SMTP_PASSWORD}
  grafana: {storage: {class: nfs, size: 1G}, admin_password: env:GRAFANA_ADMIN}
  loki: {retention: 7d, storage: {class: nfs, size: 10G}}
  targets:
    vault: {token: env:VAULT_METRICS_TOKEN, ca: env:VAULT_CA}
  pushgateway: {url: \"http://10.3.2.21:30091\"}
",
        );
        let mut site = rackpipe_model::load_and_validate("minimal+monitoring", text.as_bytes())
            .expect("valid")
            .site;
        let k = site.kubernetes.as_mut().unwrap();
        for (chart, version) in [
            ("kube-prometheus-stack", PROMETHEUS_STACK_VERSION),
            ("loki", LOKI_VERSION),
            ("alloy", ALLOY_VERSION),
        ] {
            k.artifacts
                .insert(format!("{chart}-{version}.tgz"), "ab".repeat(32));
        }
        site
    }

    fn job<'a>(jobs: &'a [Value], name: &str) -> &'a Value {
        jobs.iter()
            .find(|j| j["job_name"] == name)
            .unwrap_or_else(|| panic!("no job {name}"))
    }

    fn targets(j: &Value) -> Vec<String> {
        j["static_configs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["targets"].as_array().unwrap().clone())
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_target_kind_is_generated_from_the_site() {
        let site = site();
        let jobs = scrape_configs(&site, "/s");
        let names: Vec<&str> = jobs
            .iter()
            .map(|j| j["job_name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "haproxy",
                "keepalived",
                "vault",
                "etcd",
                "proxmox",
                "nas",
                "pushgateway"
            ]
        );
        let lb: Vec<String> = ["10.3.2.11", "10.3.2.12", "10.3.2.13"]
            .iter()
            .map(|a| format!("{a}:8404"))
            .collect();
        let haproxy = job(&jobs, "haproxy");
        assert_eq!(targets(haproxy).len(), 3);
        assert_eq!(haproxy["metrics_path"], "/metrics");
        assert!(
            targets(haproxy).iter().all(|t| t.ends_with(":8404")),
            "{lb:?}"
        );
        assert!(
            targets(job(&jobs, "keepalived"))
                .iter()
                .all(|t| t.ends_with(":9100"))
        );
        let vault = job(&jobs, "vault");
        assert_eq!(vault["scheme"], "https");
        assert_eq!(vault["metrics_path"], "/v1/sys/metrics");
        assert_eq!(vault["params"]["format"][0], "prometheus");
        assert_eq!(vault["authorization"]["credentials_file"], "/s/vault-token");
        assert_eq!(vault["tls_config"]["ca_file"], "/s/vault-ca.pem");
        assert!(targets(vault).iter().all(|t| t.ends_with(":8200")));
        assert_eq!(targets(job(&jobs, "etcd")).len(), 3);
        assert!(
            targets(job(&jobs, "etcd"))
                .iter()
                .all(|t| t.ends_with(":2381"))
        );
        assert_eq!(job(&jobs, "proxmox")["metrics_path"], "/pve");
        assert_eq!(targets(job(&jobs, "nas")), ["10.2.0.11:9100"]);
        let pg = job(&jobs, "pushgateway");
        assert_eq!(targets(pg), ["10.3.2.21:30091"]);
        assert_eq!(pg["honor_labels"], true);
    }

    #[test]
    fn a_target_turned_off_is_not_scraped() {
        let mut site = site();
        let m = site.monitoring.as_mut().unwrap();
        m.targets.proxmox.enabled = false;
        m.targets.haproxy.enabled = false;
        let jobs = scrape_configs(&site, "/s");
        assert!(
            jobs.iter()
                .all(|j| j["job_name"] != "proxmox" && j["job_name"] != "haproxy")
        );
    }

    #[test]
    fn the_scrape_config_passes_promtool() {
        let Some(promtool) = rackpipe_testkit::require_tool("promtool") else {
            return;
        };
        let site = site();
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        for k in secret_keys(site.monitoring.as_ref().unwrap()) {
            std::fs::write(secrets.join(&k.key), "placeholder\n").unwrap();
        }
        let config = prometheus_config(&site, &secrets.display().to_string()).unwrap();
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, &config).unwrap();
        let out = std::process::Command::new(promtool)
            .args(["check", "config"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check config failed:\n{}\n{}\n{config}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn the_stack_is_three_pinned_charts_after_the_others() {
        let site = site();
        let all = crate::addons::addons(&site, None).unwrap();
        let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            &names[names.len() - 3..],
            ["kube-prometheus-stack", "loki", "alloy"]
        );
        for a in &all[all.len() - 3..] {
            let Install::Helm {
                namespace, archive, ..
            } = &a.install
            else {
                panic!("{} is not a chart", a.name)
            };
            assert_eq!(namespace, "monitoring");
            assert_eq!(archive.sha256, "ab".repeat(32));
            let c = a.commands("/tmp/x", "/etc/kubernetes/admin.conf");
            assert!(c[1].starts_with("sha256sum -- /tmp/x/"), "{c:?}");
        }
    }

    #[test]
    fn a_chart_without_a_pin_is_refused() {
        let mut site = site();
        site.kubernetes
            .as_mut()
            .unwrap()
            .artifacts
            .remove(&format!("loki-{LOKI_VERSION}.tgz"));
        let err = crate::addons::addons(&site, None).unwrap_err().to_string();
        assert!(
            err.starts_with("kubernetes.artifacts: no sha256 pinned for loki-"),
            "{err}"
        );
    }

    fn values(a: &Addon) -> Value {
        let text = &a.files[0].content;
        let json = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn values_come_from_the_site_and_hold_no_secret() {
        let site = site();
        let all = crate::addons::addons(&site, None).unwrap();
        let by = |n: &str| all.iter().find(|a| a.name == n).unwrap();
        let kps = values(by("kube-prometheus-stack"));
        let prom = &kps["prometheus"]["prometheusSpec"];
        assert_eq!(prom["retention"], "15d");
        assert_eq!(prom["retentionSize"], "18432MB");
        assert_eq!(
            prom["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"],
            "nfs"
        );
        assert_eq!(
            prom["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"],
            "20Gi"
        );
        assert_eq!(prom["secrets"][0], SECRET_NAME);
        assert_eq!(
            prom["additionalScrapeConfigs"],
            Value::Array(scrape_configs(
                &site,
                "/etc/prometheus/secrets/rackpipe-monitoring"
            ))
        );
        let groups = &kps["additionalPrometheusRulesMap"]["rackpipe"]["groups"];
        let rules = crate::monitoring_rules::alert_rules(&site).unwrap();
        assert_eq!(groups, &rule_groups(&rules).unwrap());
        assert!(groups.as_array().is_some_and(|g| !g.is_empty()));
        let am = &kps["alertmanager"]["config"];
        assert_eq!(am["route"]["receiver"], "ops");
        assert_eq!(
            am["receivers"][0]["webhook_configs"][0]["url_file"],
            "/etc/alertmanager/secrets/rackpipe-monitoring/webhook-ops-0"
        );
        assert_eq!(
            am["receivers"][0]["email_configs"][0]["auth_password_file"],
            "/etc/alertmanager/secrets/rackpipe-monitoring/smtp-ops-0"
        );
        assert_eq!(kps["grafana"]["admin"]["existingSecret"], SECRET_NAME);
        let loki = values(by("loki"));
        assert_eq!(loki["loki"]["limits_config"]["retention_period"], "168h");
        assert_eq!(loki["singleBinary"]["persistence"]["storageClass"], "nfs");
        // The references name where secrets are; the files name neither them nor values.
        let keys: Vec<String> = secret_keys(site.monitoring.as_ref().unwrap())
            .into_iter()
            .map(|k| k.reference.to_string())
            .collect();
        assert_eq!(keys.len(), 5);
        for a in &all {
            for f in &a.files {
                for k in &keys {
                    assert!(!f.content.contains(k.as_str()), "{} names {k}", f.name);
                }
            }
        }
    }

    #[test]
    fn the_router_syslog_enters_the_log_pipeline_on_its_node_port() {
        let mut site = site();
        site.monitoring.as_mut().unwrap().loki.syslog =
            Some(serde_json::from_value(json!({"address": "10.3.2.21", "port": 30514})).unwrap());
        let alloy = values(
            crate::addons::addons(&site, None)
                .unwrap()
                .iter()
                .find(|a| a.name == "alloy")
                .unwrap(),
        );
        assert_eq!(alloy["service"]["type"], "NodePort");
        let port = &alloy["alloy"]["extraPorts"][0];
        assert_eq!(port["nodePort"], 30514);
        assert_eq!(port["protocol"], "UDP");
        let config = alloy["alloy"]["configMap"]["content"].as_str().unwrap();
        assert!(config.contains("loki.source.syslog \"router\""), "{config}");
        assert!(
            config.contains("address       = \"0.0.0.0:1514\""),
            "{config}"
        );
        assert!(config.contains("syslog_format = \"rfc3164\""), "{config}");
    }

    #[test]
    fn an_external_stack_is_no_addon_but_still_a_scrape_config() {
        let mut site = site();
        site.monitoring.as_mut().unwrap().deploy = Deploy::External;
        let all = crate::addons::addons(&site, None).unwrap();
        assert!(all.iter().all(|a| a.name != "kube-prometheus-stack"));
        assert!(
            prometheus_config(&site, "/s")
                .unwrap()
                .contains("\"job_name\": \"etcd\"")
        );
    }
}
