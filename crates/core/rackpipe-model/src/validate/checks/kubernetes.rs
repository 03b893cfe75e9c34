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
        if k.storage_classes.iter().filter(|s| s.default).count() > 1 {
            self.err(
                "conflict",
                "kubernetes.storage_classes",
                "more than one default StorageClass",
            );
        }
    }
}
