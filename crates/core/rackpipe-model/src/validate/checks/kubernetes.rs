//! The `kubernetes` section: masters, workers, control-plane service and storage classes.

use std::collections::HashSet;

use super::{Checker, is_odd_quorum, unique};

impl Checker<'_> {
    pub(super) fn kubernetes(&mut self) {
        let Some(k) = &self.site.kubernetes else {
            return;
        };
        let nodes: Vec<(String, &crate::kubernetes::K8sNode)> = k.nodes_with_paths().collect();
        unique(
            self.out,
            "node name",
            nodes
                .iter()
                .map(|(p, n)| (format!("{p}.name"), n.name.as_str())),
        );
        unique(
            self.out,
            "guest",
            nodes
                .iter()
                .map(|(p, n)| (format!("{p}.guest"), n.guest.as_str())),
        );
        for (p, n) in &nodes {
            self.check_guest_ref(format!("{p}.guest"), &n.guest);
        }
        if !is_odd_quorum(k.masters.len()) {
            self.err(
                "quorum",
                "kubernetes.masters",
                format!(
                    "{} masters run {} etcd members; a quorum needs an odd number, at least 3",
                    k.masters.len(),
                    k.masters.len()
                ),
            );
        }
        self.placement(
            "kubernetes master",
            k.allow_colocation,
            k.masters
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("kubernetes.masters[{i}].guest"), &n.guest)),
        );
        match self.site.load_balancer.as_ref().and_then(|lb| {
            lb.services
                .iter()
                .find(|s| s.name == k.control_plane.service)
        }) {
            None if !self.known("load_balancer") => {}
            None => self.err(
                "dangling-reference",
                "kubernetes.control_plane.service",
                format!(
                    "no load-balancer service named {:?} publishes the API",
                    k.control_plane.service.as_str()
                ),
            ),
            Some(s) => {
                let masters: HashSet<&str> = k.masters.iter().map(|m| m.guest.as_str()).collect();
                if !s
                    .backends
                    .iter()
                    .any(|b| masters.contains(b.target.as_str()))
                {
                    self.err(
                        "vip-not-served",
                        "kubernetes.control_plane.service",
                        format!(
                            "service {:?} has no master among its backends",
                            s.name.as_str()
                        ),
                    );
                }
            }
        }
        for (i, sc) in k.storage_classes.iter().enumerate() {
            self.check_export_ref(
                format!("kubernetes.storage_classes[{i}].export"),
                &sc.export,
            );
        }
        unique(
            self.out,
            "storage class",
            k.storage_classes.iter().enumerate().map(|(i, s)| {
                (
                    format!("kubernetes.storage_classes[{i}].name"),
                    s.name.as_str(),
                )
            }),
        );
        self.kubernetes_api_rules(k);
        if k.storage_classes.iter().filter(|s| s.default).count() > 1 {
            self.err(
                "conflict",
                "kubernetes.storage_classes",
                "more than one default StorageClass",
            );
        }
    }
}

/// Why `name` is not a lowercase RFC 1123 subdomain (what Kubernetes requires of node and
/// StorageClass names), if it is not.
fn dns1123_subdomain_problem(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 253 {
        return Some("it must be 1 to 253 characters");
    }
    if b.iter().any(u8::is_ascii_uppercase) {
        return Some("it must be lower case");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
    {
        return Some("it may hold only a-z, 0-9, '-' and '.'");
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Some("it must start and end with a letter or digit");
    }
    None
}

impl Checker<'_> {
    /// What kubeadm and the API server refuse: node and StorageClass names that are not
    /// lowercase RFC 1123 subdomains, one NodePort for two ingress ports, a service network
    /// larger than the API server allocates, a pod network smaller than one node's range.
    fn kubernetes_api_rules(&mut self, k: &crate::kubernetes::Kubernetes) {
        for (p, n) in k.nodes_with_paths() {
            if let Some(why) = dns1123_subdomain_problem(n.name.as_str()) {
                self.err(
                    "k8s-name",
                    format!("{p}.name"),
                    format!(
                        "{:?} becomes the node's name (kubeadm's nodeRegistration.name), which must be a lowercase RFC 1123 subdomain: {why}; kubeadm refuses it",
                        n.name.as_str()
                    ),
                );
            }
        }
        for (i, sc) in k.storage_classes.iter().enumerate() {
            if let Some(why) = dns1123_subdomain_problem(sc.name.as_str()) {
                self.err(
                    "k8s-name",
                    format!("kubernetes.storage_classes[{i}].name"),
                    format!(
                        "{:?} is a StorageClass name, which must be a lowercase RFC 1123 subdomain: {why}; the API server refuses it",
                        sc.name.as_str()
                    ),
                );
            }
        }
        if k.ingress.http_node_port == k.ingress.https_node_port {
            self.err(
                "node-port",
                "kubernetes.ingress.https_node_port",
                format!(
                    "NodePort {} is also kubernetes.ingress.http_node_port: a NodePort belongs to one service port, and the API server refuses the second (\"provided port is already allocated\")",
                    k.ingress.https_node_port
                ),
            );
        }
        let service_prefix = k.service_subnet.0.prefix_len();
        let min_service = match k.service_subnet.0 {
            ipnet::IpNet::V4(_) => 12,
            ipnet::IpNet::V6(_) => 108,
        };
        if service_prefix < min_service {
            self.err(
                "service-subnet",
                "kubernetes.service_subnet",
                format!(
                    "{} is too large: kubeadm and kube-apiserver refuse it (\"specified service subnet is too large; for {}-bit addresses, the mask must be >= {min_service}\")",
                    k.service_subnet,
                    if min_service == 12 { 32 } else { 128 }
                ),
            );
        }
        let pod_prefix = k.pod_subnet.0.prefix_len();
        let pod_node_mask = match k.pod_subnet.0 {
            ipnet::IpNet::V4(_) => 24,
            ipnet::IpNet::V6(_) => 64,
        };
        if pod_prefix > pod_node_mask {
            self.err(
                "pod-subnet",
                "kubernetes.pod_subnet",
                format!(
                    "{} is smaller than one node's pod range: kubeadm refuses it (\"the size of pod subnet with mask {pod_prefix} is smaller than the size of node subnet with mask {pod_node_mask}\", the default node-cidr-mask-size)",
                    k.pod_subnet
                ),
            );
        }
    }
}
