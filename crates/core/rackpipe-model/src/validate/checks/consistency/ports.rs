//! Ports stated twice: the router's management ports and its services, a load-balancer
//! backend and the listener it reaches, the PKI URLs and the VIP or Vault node they name.

use std::collections::HashSet;

use super::super::Checker;
use super::Url;
use crate::diagnostic::Diagnostic;
use crate::loadbalancer::HealthCheck;
use crate::router::{Router, ServiceName};

/// The port kubeadm-join binds every API server to (`bindPort` in its init and join configs).
const API_SERVER_PORT: u16 = 6443;

/// The NodePort range of a default kube-apiserver (`--service-node-port-range`).
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Rule id of the warning about a management address the router is not given.
const MANAGEMENT_ADDRESS: &str = "management-address";

/// Rule id of the warning about a load-balancer backend on a NodePort of a Kubernetes node
/// that is not one of the ingress's.
const BACKEND_NODE_PORT: &str = "backend-node-port";

impl Checker<'_> {
    /// The router's management address and ports are the ones the router serves.
    pub(super) fn router_management(&mut self, r: &Router) {
        let m = &r.management;
        if !r.addresses.is_empty() && !r.addresses.iter().any(|a| a.address.ip() == m.address) {
            // The router may be reached through a NAT, a jump host or an address it takes
            // by DHCP: a warning, acknowledgeable.
            self.warn(
                MANAGEMENT_ADDRESS,
                "router.management.address",
                format!(
                    "the tools connect to {} but router.addresses gives the router no such address",
                    m.address
                ),
            );
        }
        let backups = self
            .site
            .backups
            .as_ref()
            .is_some_and(|b| b.router.is_some());
        for (service, port, field, what, needed) in [
            (
                ServiceName::WwwSsl,
                m.rest_port,
                "rest_port",
                "REST API",
                true,
            ),
            (ServiceName::Ssh, m.ssh_port, "ssh_port", "SSH", backups),
        ] {
            let Some((k, s)) = r
                .services
                .iter()
                .enumerate()
                .find(|(_, s)| s.name == service)
            else {
                continue;
            };
            let name = match service {
                ServiceName::WwwSsl => "www-ssl",
                _ => "ssh",
            };
            if s.disabled {
                if needed {
                    self.stated_twice(
                        "port-mismatch",
                        format!("router.management.{field}"),
                        format!("router.services[{k}].disabled"),
                        format!(
                            "the tools reach the router's {what} through {name}, which router.services disables"
                        ),
                    );
                }
            } else if let Some(p) = s.port
                && p != port
            {
                self.stated_twice(
                    "port-mismatch",
                    format!("router.management.{field}"),
                    format!("router.services[{k}].port"),
                    format!("the tools connect to port {port} but {name} listens on {p}"),
                );
            }
        }
    }

    /// A load-balancer backend's port is the port its target listens on: Vault's api_port,
    /// the API server's 6443, the ingress's NodePorts (HTTP for plain, HTTPS for TLS).
    pub(super) fn backend_ports(&mut self) {
        let Some(lb) = &self.site.load_balancer else {
            return;
        };
        let vault_nodes: Vec<(usize, &crate::vault::VaultNode)> = self
            .site
            .vault
            .iter()
            .flat_map(|v| v.nodes.iter().enumerate())
            .collect();
        let kube = self.site.kubernetes.as_ref();
        let masters: HashSet<&str> = kube
            .iter()
            .flat_map(|k| k.masters.iter().map(|m| m.guest.as_str()))
            .collect();
        let k8s_nodes: HashSet<&str> = kube
            .iter()
            .flat_map(|k| k.nodes_with_paths().map(|(_, n)| n.guest.as_str()))
            .collect();
        for (i, s) in lb.services.iter().enumerate() {
            let api_service = kube.is_some_and(|k| k.control_plane.service == s.name);
            for (j, b) in s.backends.iter().enumerate() {
                let at = format!("load_balancer.services[{i}].backends[{j}].port");
                let target = b.target.as_str();
                if s.check == HealthCheck::VaultActive
                    && let Some((n, node)) = vault_nodes.iter().find(|(_, n)| n.guest == b.target)
                    && node.api_port != b.port
                {
                    self.stated_twice(
                        "port-mismatch",
                        at.clone(),
                        format!("vault.nodes[{n}].api_port"),
                        format!(
                            "Vault on {target:?} listens on {}, not {}",
                            node.api_port, b.port
                        ),
                    );
                }
                if (api_service || s.check == HealthCheck::KubernetesReadyz)
                    && masters.contains(target)
                    && b.port != API_SERVER_PORT
                {
                    self.err(
                        "port-mismatch",
                        at.clone(),
                        format!(
                            "the API server on {target:?} listens on {API_SERVER_PORT} (the bindPort kubeadm-join configures), not {}",
                            b.port
                        ),
                    );
                }
                let Some(k) = kube else { continue };
                if !k8s_nodes.contains(target) || !NODE_PORTS.contains(&b.port) {
                    continue;
                }
                let (http, https) = (k.ingress.http_node_port, k.ingress.https_node_port);
                let tls_to_backend = s.backend_tls.as_ref().is_some_and(|t| t.enabled);
                if b.port != http && b.port != https {
                    // Another Service of type NodePort (one the site does not model) may
                    // listen there: a warning, acknowledgeable.
                    self.out.push(
                        Diagnostic::warning(
                            BACKEND_NODE_PORT,
                            at,
                            format!(
                                "nothing of the site listens on NodePort {}: the ingress has {http} (http_node_port) and {https} (https_node_port)",
                                b.port
                            ),
                        )
                        .with_related("kubernetes.ingress"),
                    );
                } else if http != https
                    && b.port == https
                    && s.tls_certificate.is_some()
                    && !tls_to_backend
                {
                    self.stated_twice(
                        "port-mismatch",
                        at,
                        "kubernetes.ingress.https_node_port",
                        format!(
                            "TLS ends at HAProxy (tls_certificate) and plain HTTP goes to the ingress's HTTPS NodePort {https}; use {http} (http_node_port) or backend_tls"
                        ),
                    );
                } else if http != https && b.port == http && tls_to_backend {
                    self.stated_twice(
                        "port-mismatch",
                        at,
                        "kubernetes.ingress.http_node_port",
                        format!(
                            "backend_tls sends TLS to the ingress's plain-HTTP NodePort {http}; use {https} (https_node_port)"
                        ),
                    );
                }
            }
        }
    }

    /// A PKI's `urls_base` reaches Vault: its name resolves (by a static DNS record) to a VIP
    /// with a service on that port, or to a Vault node listening on it.
    pub(super) fn pki_urls(&mut self) {
        let (Some(v), Some(r)) = (&self.site.vault, &self.site.router) else {
            return;
        };
        for (i, ca) in v.pki.iter().enumerate() {
            let Some(url) = ca.urls_base.as_deref().and_then(Url::parse) else {
                continue;
            };
            let Some(port) = url.port_or_default() else {
                continue;
            };
            let Some((k, rec)) = r
                .dns
                .records
                .iter()
                .enumerate()
                .find(|(_, rec)| rec.name.as_str().eq_ignore_ascii_case(&url.host))
            else {
                continue;
            };
            let path = format!("vault.pki[{i}].urls_base");
            let host = &url.host;
            if let Some(lb) = &self.site.load_balancer
                && let Some(vip) = lb.vips.iter().find(|x| x.address == rec.address)
            {
                if !lb
                    .services
                    .iter()
                    .any(|s| s.vip == vip.name && s.port == port)
                {
                    self.stated_twice(
                        "port-mismatch",
                        path,
                        format!("router.dns.records[{k}].address"),
                        format!(
                            "{host}:{port} is VIP {:?} ({} by the DNS record) where no load_balancer.services listens on port {port}",
                            vip.name.as_str(),
                            rec.address
                        ),
                    );
                }
            } else if let Some((n, node)) = v
                .nodes
                .iter()
                .enumerate()
                .find(|(_, n)| self.address_of(&n.guest) == Some(rec.address))
                && node.api_port != port
            {
                self.stated_twice(
                    "port-mismatch",
                    path,
                    format!("vault.nodes[{n}].api_port"),
                    format!(
                        "{host}:{port} is Vault node {:?} ({} by router.dns.records[{k}]) which listens on {}",
                        node.name.as_str(),
                        rec.address,
                        node.api_port
                    ),
                );
            }
        }
    }
}
