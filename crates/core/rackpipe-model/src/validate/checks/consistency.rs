//! Facts the site states twice agree: a machine's address (nodes, hosts, DNS records), prefix
//! lengths and gateways (segments, router addresses, DHCP networks, guest NICs), ports (the
//! router's management ports and its services, a load-balancer backend and the listener it
//! reaches, the PKI URLs and the VIP), and GitLab identity claims (project paths, refs, the
//! issuer the runners' GitLab signs with).
//!
//! Each error sits on the field that restates the fact and names the other place as its
//! related field (printed `(see segments[1].cidr, line 14)`).
//!
//! Three findings are warnings (acknowledgeable in `metadata.acknowledge`), because a working
//! site may mean them: a segment gateway that is no address of the site (`segment-gateway`: a
//! gateway the site does not model), a management address that is none of the router's
//! (`management-address`: reached through NAT or a jump host), and a load-balancer backend on
//! a Kubernetes node's NodePort that is not the ingress's (`backend-node-port`: another
//! NodePort Service).

use std::collections::HashSet;
use std::net::IpAddr;

use super::Checker;
use crate::diagnostic::Diagnostic;
use crate::loadbalancer::HealthCheck;
use crate::router::{Router, ServiceName};

/// The port kubeadm-join binds every API server to (`bindPort` in its init and join configs).
const API_SERVER_PORT: u16 = 6443;

/// The NodePort range of a default kube-apiserver (`--service-node-port-range`).
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Rule id of the warning about a segment gateway that is neither the router's address on the
/// segment nor any machine's of the site.
const SEGMENT_GATEWAY: &str = "segment-gateway";

/// Rule id of the warning about a management address the router is not given.
const MANAGEMENT_ADDRESS: &str = "management-address";

/// Rule id of the warning about a load-balancer backend on a NodePort of a Kubernetes node
/// that is not one of the ingress's.
const BACKEND_NODE_PORT: &str = "backend-node-port";

impl Checker<'_> {
    /// Every rule of this module.
    pub(super) fn consistency(&mut self) {
        self.node_addresses();
        if let Some(r) = &self.site.router {
            let machines = self.named_machines();
            self.dns_records(r, &machines);
            self.lease_comments(r, &machines);
            self.router_management(r);
        }
        self.prefixes_and_gateways();
        self.backend_ports();
        self.pki_urls();
        self.identity_claims();
    }

    /// An error at `path` about a fact `other` states differently (the message names the
    /// values; the report names `other`, with its line, as the place to compare with).
    fn stated_twice(
        &mut self,
        rule: &str,
        path: impl Into<String>,
        other: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.out
            .push(Diagnostic::conflict(rule, path, other, message));
    }

    /// A Proxmox node listed under `hosts` too (for its MAC and lease) is one machine.
    fn node_addresses(&mut self) {
        let Some(p) = &self.site.proxmox else { return };
        for (i, n) in p.nodes.iter().enumerate() {
            if let Some((j, h)) = self
                .site
                .hosts
                .iter()
                .enumerate()
                .find(|(_, h)| h.name == n.name)
                && h.address != n.address
            {
                self.stated_twice(
                    "address-mismatch",
                    format!("proxmox.nodes[{i}].address"),
                    format!("hosts[{j}].address"),
                    format!(
                        "node {:?} is at {} here but at {} under hosts; one machine has one address",
                        n.name.as_str(),
                        n.address,
                        h.address
                    ),
                );
            }
        }
    }

    /// Whether some machine of the site (host, node, guest NIC, VIP, router) has `ip`.
    fn machine_at(&self, ip: IpAddr) -> bool {
        let s = self.site;
        s.hosts.iter().any(|h| h.address == ip)
            || s.proxmox.as_ref().is_some_and(|p| {
                p.nodes.iter().any(|n| n.address == ip)
                    || p.guests
                        .iter()
                        .flat_map(|g| &g.nics)
                        .any(|n| n.address.is_some_and(|a| a.ip() == ip))
            })
            || s.load_balancer
                .as_ref()
                .is_some_and(|lb| lb.vips.iter().any(|v| v.address == ip))
            || s.router
                .as_ref()
                .is_some_and(|r| r.addresses.iter().any(|a| a.address.ip() == ip))
    }

    /// The hosts and guests that have an FQDN, with their addresses.
    fn named_machines(&self) -> Vec<Named> {
        let mut machines: Vec<Named> = Vec::new();
        for (i, h) in self.site.hosts.iter().enumerate() {
            if let Some(f) = &h.fqdn {
                machines.push(Named {
                    fqdn: f.as_str().to_ascii_lowercase(),
                    what: format!("host {:?}", h.name.as_str()),
                    addresses: vec![(h.address, format!("hosts[{i}].address"))],
                });
            }
        }
        if let Some(p) = &self.site.proxmox {
            for (i, g) in p.guests.iter().enumerate() {
                let addresses: Vec<(IpAddr, String)> = g
                    .nics
                    .iter()
                    .enumerate()
                    .filter_map(|(j, n)| {
                        n.address
                            .map(|a| (a.ip(), format!("proxmox.guests[{i}].nics[{j}].address")))
                    })
                    .collect();
                if let Some(f) = &g.fqdn
                    && !addresses.is_empty()
                {
                    machines.push(Named {
                        fqdn: f.as_str().to_ascii_lowercase(),
                        what: format!("guest {:?}", g.name.as_str()),
                        addresses,
                    });
                }
            }
        }
        machines
    }

    /// A static lease whose comment is a machine's FQDN (the convention the examples follow)
    /// gives that machine's address. (A lease whose MAC is the machine's is compared by
    /// `addresses_and_macs` already; this catches the lease whose MAC is mistyped too, which
    /// would hand the address to nobody while the machine takes one from the pool.)
    fn lease_comments(&mut self, r: &Router, machines: &[Named]) {
        if !self.machines_known() {
            return; // a lease's MAC may be a machine's in the left-out section
        }
        let guest_macs = self.site.proxmox.iter().flat_map(|p| {
            p.guests
                .iter()
                .flat_map(|g| g.nics.iter().filter_map(|n| n.mac))
        });
        let known_macs: HashSet<String> = self
            .site
            .hosts
            .iter()
            .filter_map(|h| h.mac)
            .chain(guest_macs)
            .map(|m| m.to_string())
            .collect();
        for (k, l) in r.dhcp.leases.iter().enumerate() {
            let Some(comment) = &l.comment else { continue };
            if known_macs.contains(&l.mac.to_string()) {
                continue; // the machine with this MAC is compared by addresses_and_macs
            }
            let name = comment.trim().trim_end_matches('.').to_ascii_lowercase();
            if let Some(m) = machines.iter().find(|m| m.fqdn == name)
                && !m.addresses.iter().any(|(ip, _)| *ip == l.address)
                && let Some((ip, at)) = m.addresses.first()
            {
                self.stated_twice(
                    "address-mismatch",
                    format!("router.dhcp.leases[{k}].address"),
                    at.clone(),
                    format!(
                        "the lease for {name} (its comment) gives {} but {} is at {ip}",
                        l.address, m.what
                    ),
                );
            }
        }
    }

    /// A static DNS record for a name the site gives a machine (a host's or guest's FQDN, the
    /// router's identity, `vault.fqdn`, the Kubernetes API name) points at that machine.
    /// `vault.fqdn` is checked only beside a `load_balancer` section: a site parsed in part
    /// (a section with schema errors left out) must not read as one without a VIP.
    fn dns_records(&mut self, r: &Router, machines: &[Named]) {
        let lb = self.site.load_balancer.as_ref();
        for (k, rec) in r.dns.records.iter().enumerate() {
            let name = rec.name.as_str().trim_end_matches('.').to_ascii_lowercase();
            let path = format!("router.dns.records[{k}].address");
            if let Some(Named {
                what, addresses, ..
            }) = machines.iter().find(|m| m.fqdn == name)
            {
                if !addresses.iter().any(|(ip, _)| *ip == rec.address)
                    && let Some((ip, at)) = addresses.first()
                {
                    self.stated_twice(
                        "address-mismatch",
                        path,
                        at.clone(),
                        format!(
                            "{name} resolves to {} here but {what} with that name is at {ip}",
                            rec.address
                        ),
                    );
                }
                continue;
            }
            if name == r.identity.to_ascii_lowercase() {
                let ours = r.addresses.iter().map(|a| a.address.ip());
                if !ours
                    .chain([r.management.address])
                    .any(|ip| ip == rec.address)
                {
                    self.err(
                        "address-mismatch",
                        path,
                        format!(
                            "{name} is the router (router.identity) but {} is none of its addresses (router.addresses, router.management.address)",
                            rec.address
                        ),
                    );
                }
                continue;
            }
            if let Some(v) = &self.site.vault
                && let Some(lb) = lb
                && name == v.fqdn.as_str().to_ascii_lowercase()
            {
                if !self.machines_known() {
                    continue; // the Vault nodes' addresses are in a left-out section
                }
                let guests: HashSet<&str> = v.nodes.iter().map(|n| n.guest.as_str()).collect();
                let at_node = v
                    .nodes
                    .iter()
                    .any(|n| self.address_of(&n.guest) == Some(rec.address));
                let at_vip = lb.vips.iter().any(|vip| {
                    vip.address == rec.address
                        && lb.services.iter().any(|s| {
                            s.vip == vip.name
                                && s.backends
                                    .iter()
                                    .any(|b| guests.contains(b.target.as_str()))
                        })
                });
                if !at_node && !at_vip {
                    self.err(
                        "address-mismatch",
                        path,
                        format!(
                            "{name} is Vault's name (vault.fqdn) but {} is neither a Vault node nor a VIP with a load-balancer service in front of one",
                            rec.address
                        ),
                    );
                }
                continue;
            }
            if let Some(kube) = &self.site.kubernetes
                && name == kube.control_plane.dns_name.as_str().to_ascii_lowercase()
                && let Some(lb) = lb
                && let Some(service) = lb
                    .services
                    .iter()
                    .find(|s| s.name == kube.control_plane.service)
                && let Some((n, vip)) = lb
                    .vips
                    .iter()
                    .enumerate()
                    .find(|(_, v)| v.name == service.vip)
                && vip.address != rec.address
            {
                self.stated_twice(
                    "address-mismatch",
                    path,
                    format!("load_balancer.vips[{n}].address"),
                    format!(
                        "{name} is the Kubernetes API's name (kubernetes.control_plane.dns_name) but the API is published on VIP {:?} at {}, not {}",
                        vip.name.as_str(),
                        vip.address,
                        rec.address
                    ),
                );
            }
        }
    }

    /// Prefix lengths of router addresses, guest NICs and DHCP networks match their segment;
    /// a DHCP network hands out its segment's gateway; a segment's gateway is the router's
    /// address on it (or some machine's of the site).
    fn prefixes_and_gateways(&mut self) {
        let segments = &self.site.segments;
        let segment_of = |ip: IpAddr| {
            segments
                .iter()
                .enumerate()
                .filter(|(_, s)| s.cidr.contains(ip))
                .max_by_key(|(_, s)| s.cidr.0.prefix_len())
        };
        let mut stated: Vec<(String, ipnet::IpNet)> = Vec::new();
        if let Some(r) = &self.site.router {
            for (i, a) in r.addresses.iter().enumerate() {
                stated.push((format!("router.addresses[{i}].address"), a.address.0));
            }
        }
        if let Some(p) = &self.site.proxmox {
            for (i, g) in p.guests.iter().enumerate() {
                for (j, n) in g.nics.iter().enumerate() {
                    let Some(a) = n.address else { continue };
                    // A NIC outside the segment it names is reported as such already.
                    if n.segment
                        .as_ref()
                        .and_then(|s| self.segment(s))
                        .is_some_and(|s| !s.cidr.contains(a.ip()))
                    {
                        continue;
                    }
                    stated.push((format!("proxmox.guests[{i}].nics[{j}].address"), a.0));
                }
            }
        }
        for (path, net) in stated {
            if let Some((k, s)) = segment_of(net.addr())
                && net.prefix_len() != s.cidr.0.prefix_len()
            {
                self.stated_twice(
                    "prefix-mismatch",
                    path,
                    format!("segments[{k}].cidr"),
                    format!(
                        "{net} says its network is a /{} but segment {:?} is {}",
                        net.prefix_len(),
                        s.name.as_str(),
                        s.cidr
                    ),
                );
            }
        }
        let Some(r) = &self.site.router else { return };
        for (i, n) in r.dhcp.networks.iter().enumerate() {
            let Some((k, s)) = segment_of(n.address.0.network()) else {
                continue;
            };
            if n.address != s.cidr {
                self.stated_twice(
                    "prefix-mismatch",
                    format!("router.dhcp.networks[{i}].address"),
                    format!("segments[{k}].cidr"),
                    format!(
                        "DHCP network {} but segment {:?} is {}",
                        n.address,
                        s.name.as_str(),
                        s.cidr
                    ),
                );
            } else if let Some(gw) = s.gateway
                && gw != n.gateway
            {
                self.stated_twice(
                    "gateway-mismatch",
                    format!("router.dhcp.networks[{i}].gateway"),
                    format!("segments[{k}].gateway"),
                    format!(
                        "DHCP hands out gateway {} but segment {:?} says {gw}",
                        n.gateway,
                        s.name.as_str()
                    ),
                );
            }
        }
        for (k, s) in segments.iter().enumerate() {
            let Some(gw) = s.gateway else { continue };
            let inside: Vec<(usize, &crate::router::Address)> = r
                .addresses
                .iter()
                .enumerate()
                .filter(|(_, a)| s.cidr.contains(a.address.ip()))
                .collect();
            if let Some((j, a)) = inside.first()
                && !inside.iter().any(|(_, a)| a.address.ip() == gw)
                && self.machines_known()
                && self.known("load_balancer")
                && !self.machine_at(gw)
            {
                // A gateway the site does not model (another router, a firewall appliance)
                // is legitimate: a warning, acknowledgeable.
                self.out.push(
                    Diagnostic::warning(
                        SEGMENT_GATEWAY,
                        format!("segments[{k}].gateway"),
                        format!(
                            "gateway {gw} is neither the router's address on this segment ({}) nor any machine's of the site",
                            a.address.ip()
                        ),
                    )
                    .with_related(format!("router.addresses[{j}].address")),
                );
            }
        }
    }

    /// The router's management address and ports are the ones the router serves.
    fn router_management(&mut self, r: &Router) {
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
    fn backend_ports(&mut self) {
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
    fn pki_urls(&mut self) {
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

    /// GitLab ID-token claims the JWT roles bind can match what GitLab sends.
    fn identity_claims(&mut self) {
        let Some(jwt) = self
            .site
            .vault
            .as_ref()
            .and_then(|v| v.auth.gitlab_jwt.as_ref())
        else {
            return;
        };
        for (i, r) in jwt.roles.iter().enumerate() {
            let at = format!("vault.auth.gitlab_jwt.roles[{i}]");
            for (j, p) in r.project_paths.iter().enumerate() {
                if let Err(why) = project_path(p) {
                    self.err("identity-claim", format!("{at}.project_paths[{j}]"), why);
                }
            }
            for (j, name) in r.refs.iter().enumerate() {
                if let Some(rest) = name.strip_prefix("refs/") {
                    let bare = rest
                        .strip_prefix("heads/")
                        .or_else(|| rest.strip_prefix("tags/"))
                        .unwrap_or(rest);
                    self.err(
                        "identity-claim",
                        format!("{at}.refs[{j}]"),
                        format!(
                            "GitLab's ref claim is the bare branch or tag name ({bare:?}), never {name:?}; the role would never match"
                        ),
                    );
                }
            }
        }
        let issuer = Url::parse(&jwt.issuer);
        if let Some(runners) = &self.site.runners
            && let (Some(iss), Some(gitlab)) = (&issuer, Url::parse(&runners.gitlab_url))
            && iss.origin_and_path() != gitlab.origin_and_path()
        {
            self.stated_twice(
                "identity-claim",
                "vault.auth.gitlab_jwt.issuer",
                "runners.gitlab_url",
                format!(
                    "the runners' GitLab ({}) signs ID tokens as its own URL, but Vault only accepts issuer {}",
                    gitlab.origin_and_path(),
                    iss.origin_and_path()
                ),
            );
        }
        if let (Some(iss), Some(jwks)) = (&issuer, jwt.jwks_url.as_deref().and_then(Url::parse))
            && !iss.host.eq_ignore_ascii_case(&jwks.host)
        {
            self.stated_twice(
                "identity-claim",
                "vault.auth.gitlab_jwt.jwks_url",
                "vault.auth.gitlab_jwt.issuer",
                format!(
                    "keys from {} cannot verify tokens GitLab at {} signs",
                    jwks.host, iss.host
                ),
            );
        }
    }
}

/// A machine the site gives an FQDN: what it is and its addresses, with their field paths.
struct Named {
    fqdn: String,
    what: String,
    addresses: Vec<(IpAddr, String)>,
}

/// Why `p` cannot be a GitLab `project_path` claim (`namespace[/subgroup...]/project`; `*`
/// globs allowed, as vault-bootstrap binds them with `bound_claims_type: glob`).
fn project_path(p: &str) -> Result<(), String> {
    if p.contains("://") {
        return Err(format!(
            "{p:?} is a URL; the project_path claim is the path alone, e.g. group/project"
        ));
    }
    if p.starts_with('/') || p.ends_with('/') {
        return Err(format!(
            "{p:?} starts or ends with '/'; the project_path claim is namespace/project"
        ));
    }
    if p.ends_with(".git") {
        return Err(format!(
            "{p:?} ends in .git; the project_path claim is the path without it"
        ));
    }
    let segments: Vec<&str> = p.split('/').collect();
    if segments.len() < 2 {
        return Err(format!(
            "{p:?} is not namespace/project: every GitLab project sits in a group or user namespace, and the project_path claim names both"
        ));
    }
    for s in segments {
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*'));
        if s.is_empty() || !ok_chars || s.starts_with('-') || s.ends_with(".atom") {
            return Err(format!(
                "{p:?}: {s:?} is not a GitLab path segment (letters, digits, '_', '-', '.'; not starting with '-')"
            ));
        }
    }
    Ok(())
}

/// The port a URL of `scheme` means when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

/// The parts of an `http(s)://` URL these rules compare; the user-info part (which may hold a
/// credential) is dropped, so nothing printed from here can leak one.
struct Url {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
}

impl Url {
    fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.trim().split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let path = rest[end..].split(['?', '#']).next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, tail) = v6.split_once(']')?;
            match tail.strip_prefix(':') {
                Some(p) => (h, Some(p.parse().ok()?)),
                None => (h, None),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p.parse().ok()?)),
                None => (authority, None),
            }
        };
        Some(Self {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    fn port_or_default(&self) -> Option<u16> {
        self.port.or(default_port(&self.scheme))
    }

    /// `scheme://host[:port]/path`, the default port left out.
    fn origin_and_path(&self) -> String {
        let port = match self.port {
            Some(p) if Some(p) != default_port(&self.scheme) => format!(":{p}"),
            _ => String::new(),
        };
        format!("{}://{}{port}{}", self.scheme, self.host, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths() {
        for ok in [
            "mini/infra",
            "pl.rachuna-net/infrastructure/rackpipe",
            "group/*",
        ] {
            assert!(project_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "infra",
            "/group/project",
            "group/project/",
            "group/project.git",
            "https://gitlab.com/group/project",
            "group/my project",
            "group//project",
        ] {
            assert!(project_path(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn url_parse_never_panics(text in "[a-z0-9@:/?#\\[\\].\u{e9}\u{3000}-]{0,40}") {
            if let Some(u) = Url::parse(&text) {
                let _ = u.origin_and_path();
            }
            let _ = project_path(&text);
        }
    }

    #[test]
    fn urls_drop_credentials() {
        let u = Url::parse("https://user:secret@GitLab.example:8443/sub/?x=1").unwrap();
        assert_eq!(u.origin_and_path(), "https://gitlab.example:8443/sub");
        let u = Url::parse("https://gitlab.com/").unwrap();
        assert_eq!(u.origin_and_path(), "https://gitlab.com");
        assert_eq!(u.port_or_default(), Some(443));
        let u = Url::parse("https://gitlab.com:443").unwrap();
        assert_eq!(u.origin_and_path(), "https://gitlab.com");
    }
}
