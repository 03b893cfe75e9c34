//! Addresses stated twice: a Proxmox node under `hosts` too, a static lease whose comment
//! names a machine, a static DNS record for a name the site gives a machine.

use std::collections::HashSet;
use std::net::IpAddr;

use super::super::Checker;
use super::Named;
use crate::router::Router;

impl Checker<'_> {
    /// A Proxmox node listed under `hosts` too (for its MAC and lease) is one machine.
    pub(super) fn node_addresses(&mut self) {
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
    pub(super) fn machine_at(&self, ip: IpAddr) -> bool {
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
    pub(super) fn named_machines(&self) -> Vec<Named> {
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
    pub(super) fn lease_comments(&mut self, r: &Router, machines: &[Named]) {
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
    pub(super) fn dns_records(&mut self, r: &Router, machines: &[Named]) {
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
}
