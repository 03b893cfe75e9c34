//! The `monitoring` section: where the stack runs and what it stores on, whether the targets it
//! scrapes exist in the site and listen where the site says their services do, where alerts
//! go, and whether the router sends its syslog to the log pipeline's receiver.

use std::net::IpAddr;

use super::{Checker, unique};
use crate::monitoring::{Deploy, Monitoring, Volume};
use crate::types::Duration;

/// NodePort range of a default kube-apiserver (`--service-node-port-range`).
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Ports of a kubeadm control-plane node the etcd metrics target must not claim.
const CONTROL_PLANE_PORTS: [(u16, &str); 5] = [
    (
        2379,
        "etcd's client port (it serves /metrics only to clients with a certificate)",
    ),
    (2380, "etcd's peer port"),
    (6443, "the Kubernetes API"),
    (10250, "the kubelet"),
    (10257, "kube-controller-manager"),
];

impl Checker<'_> {
    pub(super) fn monitoring(&mut self) {
        let Some(m) = &self.site.monitoring else {
            return;
        };
        self.monitoring_placement(m);
        self.monitoring_retention(m);
        self.monitoring_receivers(m);
        self.monitoring_targets(m);
        self.monitoring_syslog(m);
        self.monitoring_alerts(m);
    }

    fn monitoring_placement(&mut self, m: &Monitoring) {
        let volumes = [
            ("prometheus", &m.prometheus.storage),
            ("alertmanager", &m.alertmanager.storage),
            ("grafana", &m.grafana.storage),
            ("loki", &m.loki.storage),
        ];
        if m.deploy == Deploy::External {
            return;
        }
        if self.site.kubernetes.is_none() {
            if self.known("kubernetes") {
                self.err(
                    "monitoring-no-cluster",
                    "monitoring.deploy",
                    "the stack runs in the Kubernetes cluster (the default) but the site has no \
                     kubernetes section; add one or set `deploy: external`",
                );
            }
            return;
        }
        for (part, volume) in volumes {
            match volume {
                Some(v) => self.monitoring_volume(&format!("monitoring.{part}.storage"), v),
                None => self.warn(
                    "monitoring-no-storage",
                    format!("monitoring.{part}"),
                    format!(
                        "no storage: {part} keeps its data in an emptyDir, lost when its pod moves"
                    ),
                ),
            }
        }
    }

    fn monitoring_volume(&mut self, path: &str, v: &Volume) {
        let Some(k) = &self.site.kubernetes else {
            return;
        };
        if !k.storage_classes.iter().any(|c| c.name == v.class) {
            let known: Vec<&str> = k.storage_classes.iter().map(|c| c.name.as_str()).collect();
            self.err(
                "dangling-reference",
                format!("{path}.class"),
                format!(
                    "no StorageClass named {:?} in kubernetes.storage_classes (there are: {})",
                    v.class.as_str(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        if v.size.bytes() == 0 {
            self.err(
                "zero-size",
                format!("{path}.size"),
                "a volume needs a size above 0",
            );
        }
    }

    fn monitoring_retention(&mut self, m: &Monitoring) {
        let p = &m.prometheus;
        self.positive("monitoring.prometheus.retention", &p.retention);
        self.positive("monitoring.prometheus.scrape_interval", &p.scrape_interval);
        if p.retention.as_millis() > 0 && p.retention.as_millis() < 2 * 3_600_000 {
            self.err(
                "retention",
                "monitoring.prometheus.retention",
                format!(
                    "{} is shorter than one TSDB block (2h): Prometheus would delete samples before they are compacted",
                    p.retention
                ),
            );
        }
        if !p.scrape_interval.as_millis().is_multiple_of(1000) {
            self.err(
                "retention",
                "monitoring.prometheus.scrape_interval",
                format!("{} is not a whole number of seconds", p.scrape_interval),
            );
        }
        if p.retention_size.is_some_and(|s| s.bytes() == 0) {
            self.err(
                "retention",
                "monitoring.prometheus.retention_size",
                "0 would delete every block; leave it out for no size limit",
            );
        }
        if let (Some(limit), Some(v)) = (p.retention_size, &p.storage)
            && limit.bytes() > v.size.bytes()
        {
            self.err(
                "retention",
                "monitoring.prometheus.retention_size",
                format!(
                    "{limit} is more than the volume holds (monitoring.prometheus.storage.size {})",
                    v.size
                ),
            );
        }
        let day = 86_400_000;
        let r = m.loki.retention.as_millis();
        if r < day || !r.is_multiple_of(day) {
            self.err(
                "retention",
                "monitoring.loki.retention",
                format!(
                    "{} is not a whole number of days: Loki's compactor deletes by 24h index period",
                    m.loki.retention
                ),
            );
        }
    }

    fn positive(&mut self, path: &str, d: &Duration) {
        if d.as_millis() == 0 {
            self.err("retention", path, "must be longer than 0s");
        }
    }

    fn monitoring_receivers(&mut self, m: &Monitoring) {
        let am = &m.alertmanager;
        unique(
            self.out,
            "receiver name",
            am.receivers.iter().enumerate().map(|(i, r)| {
                (
                    format!("monitoring.alertmanager.receivers[{i}].name"),
                    r.name.as_str(),
                )
            }),
        );
        for (i, r) in am.receivers.iter().enumerate() {
            let path = format!("monitoring.alertmanager.receivers[{i}]");
            if r.webhooks.is_empty() && r.emails.is_empty() {
                self.err(
                    "receiver-empty",
                    path.clone(),
                    "a receiver needs at least one of webhooks, emails",
                );
            }
            for (j, e) in r.emails.iter().enumerate() {
                if e.username.is_some() != e.password.is_some() {
                    self.err(
                        "receiver-auth",
                        format!("{path}.emails[{j}]"),
                        "give both username and password (a secret reference), or neither",
                    );
                }
            }
        }
        match &am.default_receiver {
            Some(d) if !am.receivers.iter().any(|r| &r.name == d) => self.err(
                "dangling-reference",
                "monitoring.alertmanager.default_receiver",
                format!(
                    "no receiver named {:?} in monitoring.alertmanager.receivers",
                    d.as_str()
                ),
            ),
            _ if am.receivers.is_empty() && m.deploy == Deploy::Kubernetes => self.warn(
                "monitoring-no-receiver",
                "monitoring.alertmanager.receivers",
                "no receiver: alerts fire but reach nobody",
            ),
            _ => {}
        }
    }

    fn monitoring_targets(&mut self, m: &Monitoring) {
        let t = &m.targets;
        let defaults = crate::monitoring::Targets::default();
        // A target kind set by hand (anything but its defaults) for a section the site lacks.
        let missing = |c: &mut Self, kind: &str, section: &str, absent: bool, set: bool| {
            if absent && set && c.known(section) {
                c.err(
                    "dangling-reference",
                    format!("monitoring.targets.{kind}"),
                    format!("the site has no {section} section to scrape"),
                );
            }
        };
        let lb = self.site.load_balancer.as_ref();
        missing(
            self,
            "haproxy",
            "load_balancer",
            lb.is_none(),
            t.haproxy.enabled && t.haproxy != defaults.haproxy,
        );
        missing(
            self,
            "keepalived",
            "load_balancer",
            lb.is_none(),
            t.keepalived.enabled && t.keepalived != defaults.keepalived,
        );
        missing(
            self,
            "vault",
            "vault",
            self.site.vault.is_none(),
            t.vault.enabled && t.vault != defaults.vault,
        );
        missing(
            self,
            "etcd",
            "kubernetes",
            self.site.kubernetes.is_none(),
            t.etcd.enabled && t.etcd != defaults.etcd,
        );
        missing(
            self,
            "proxmox",
            "proxmox",
            self.site.proxmox.is_none(),
            t.proxmox.enabled && t.proxmox != defaults.proxmox,
        );
        missing(
            self,
            "nas",
            "nas",
            self.site.nas.is_none(),
            t.nas.enabled && t.nas != defaults.nas,
        );

        if let Some(lb) = lb {
            let stats = lb.stats.as_ref().map(|s| s.port);
            if t.haproxy.enabled {
                match (t.haproxy.port, stats) {
                    (None, None) => self.err(
                        "monitoring-port",
                        "monitoring.targets.haproxy",
                        "HAProxy's Prometheus exporter is served on the stats frontend, and \
                         load_balancer.stats is missing; add it, or give targets.haproxy.port",
                    ),
                    (Some(p), Some(s)) if p != s => self.err(
                        "monitoring-port",
                        "monitoring.targets.haproxy.port",
                        format!(
                            "{p} is not where HAProxy serves its exporter (load_balancer.stats.port {s})"
                        ),
                    ),
                    _ => {}
                }
            }
            let mut taken: Vec<(u16, String)> = lb
                .services
                .iter()
                .map(|s| {
                    (
                        s.port,
                        format!("load-balancer service {:?}", s.name.as_str()),
                    )
                })
                .collect();
            if let Some(s) = stats {
                taken.push((s, "load_balancer.stats.port".to_owned()));
            }
            if let Some(v) = &self.site.vault {
                let guests: Vec<&str> = lb.instances.iter().map(|i| i.guest.as_str()).collect();
                for n in v
                    .nodes
                    .iter()
                    .filter(|n| guests.contains(&n.guest.as_str()))
                {
                    taken.push((
                        n.api_port,
                        format!("Vault node {:?}'s api_port", n.name.as_str()),
                    ));
                    taken.push((
                        n.cluster_port,
                        format!("Vault node {:?}'s cluster_port", n.name.as_str()),
                    ));
                }
            }
            if t.keepalived.enabled {
                self.port_free(
                    "monitoring.targets.keepalived.port",
                    t.keepalived.port,
                    &taken,
                );
            }
        }
        if let Some(v) = &self.site.vault
            && t.vault.enabled
            && let Some(p) = t.vault.port
        {
            for (i, n) in v.nodes.iter().enumerate() {
                if n.api_port != p {
                    self.out.push(
                            crate::Diagnostic::error(
                                "monitoring-port",
                                "monitoring.targets.vault.port",
                                format!(
                                    "{p} is not Vault node {:?}'s API port {} (sys/metrics is served on the API listener)",
                                    n.name.as_str(),
                                    n.api_port
                                ),
                            )
                            .with_related(format!("vault.nodes[{i}].api_port")),
                        );
                }
            }
        }
        if self.site.kubernetes.is_some() && t.etcd.enabled {
            let taken: Vec<(u16, String)> = CONTROL_PLANE_PORTS
                .iter()
                .map(|(p, w)| (*p, (*w).to_owned()))
                .collect();
            self.port_free("monitoring.targets.etcd.port", t.etcd.port, &taken);
        }
        if let Some(p) = &self.site.proxmox
            && t.proxmox.enabled
        {
            let taken = vec![
                (p.api.port, "proxmox.api.port".to_owned()),
                (22, "SSH".to_owned()),
                (3128, "the SPICE proxy".to_owned()),
            ];
            self.port_free("monitoring.targets.proxmox.port", t.proxmox.port, &taken);
        }
        if let Some(n) = &self.site.nas
            && t.nas.enabled
        {
            let mut taken = vec![(22, "SSH".to_owned()), (2049, "NFS".to_owned())];
            if let crate::nas::NfsServer::Synology { port, .. } = &n.server {
                taken.push((port.unwrap_or(5001), "nas.server.port (DSM)".to_owned()));
            }
            self.port_free("monitoring.targets.nas.port", t.nas.port, &taken);
        }
    }

    /// An error when `port` is one of `taken` (port, what listens there).
    fn port_free(&mut self, path: &str, port: u16, taken: &[(u16, String)]) {
        if port == 0 {
            self.err("monitoring-port", path, "port 0 is not a port");
        }
        if let Some((_, what)) = taken.iter().find(|(p, _)| *p == port) {
            self.err(
                "monitoring-port",
                path,
                format!("{port} is already {what} on the same machines"),
            );
        }
    }

    fn monitoring_syslog(&mut self, m: &Monitoring) {
        let Some(s) = &m.loki.syslog else { return };
        let path = "monitoring.loki.syslog";
        if let Some(r) = &self.site.router
            && !r
                .syslog
                .iter()
                .any(|t| t.remote == s.address && t.port == s.port)
        {
            let sent: Vec<String> = r
                .syslog
                .iter()
                .map(|t| format!("{}:{}", t.remote, t.port))
                .collect();
            self.err(
                "syslog-mismatch",
                path,
                format!(
                    "no router.syslog target sends to the receiver {}:{} (the router sends to: {})",
                    s.address,
                    s.port,
                    if sent.is_empty() {
                        "nothing".to_owned()
                    } else {
                        sent.join(", ")
                    }
                ),
            );
        }
        if m.deploy != Deploy::Kubernetes {
            return;
        }
        let Some(k) = &self.site.kubernetes else {
            return;
        };
        if !NODE_PORTS.contains(&s.port) {
            self.err(
                "syslog-mismatch",
                format!("{path}.port"),
                format!(
                    "{} is outside the NodePort range 30000-32767 the in-cluster receiver listens on",
                    s.port
                ),
            );
        } else if s.port == k.ingress.http_node_port || s.port == k.ingress.https_node_port {
            self.err(
                "syslog-mismatch",
                format!("{path}.port"),
                format!("{} is already the ingress controller's NodePort", s.port),
            );
        }
        if !self.machines_known() || !self.known("load_balancer") {
            return;
        }
        let nodes: Vec<IpAddr> = k
            .nodes_with_paths()
            .filter_map(|(_, n)| self.address_of(&n.guest))
            .collect();
        let vips: Vec<IpAddr> = self
            .site
            .load_balancer
            .iter()
            .flat_map(|lb| lb.vips.iter().map(|v| v.address))
            .collect();
        if !nodes.contains(&s.address) && !vips.contains(&s.address) {
            self.err(
                "syslog-mismatch",
                format!("{path}.address"),
                format!(
                    "{} is neither a Kubernetes node's address nor a VIP: nothing there receives the NodePort",
                    s.address
                ),
            );
        }
    }

    fn monitoring_alerts(&mut self, m: &Monitoring) {
        let a = &m.alerts;
        self.positive("monitoring.alerts.backup_max_age", &a.backup_max_age);
        self.positive(
            "monitoring.alerts.certificate_min_validity",
            &a.certificate_min_validity,
        );
        self.positive("monitoring.alerts.vip_flap_window", &a.vip_flap_window);
        if a.vip_max_moves == 0 {
            self.err(
                "retention",
                "monitoring.alerts.vip_max_moves",
                "0 would fire on the first failover; use 1 or more",
            );
        }
        if a.backup_max_age.as_millis() < 86_400_000 && self.site.backups.is_some() {
            self.warn(
                "backup-max-age",
                "monitoring.alerts.backup_max_age",
                format!(
                    "{} is less than a day: a nightly backup would alert every night before it runs",
                    a.backup_max_age
                ),
            );
        }
    }
}
