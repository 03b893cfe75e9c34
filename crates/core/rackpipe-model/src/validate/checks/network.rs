//! Segments, hosts, overlapping networks, and addresses and MACs unique across the site.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{Checker, unique};
use crate::diagnostic::Diagnostic;
use crate::types::Network;

impl Checker<'_> {
    pub(super) fn segments(&mut self) {
        let segs = &self.site.segments;
        unique(
            self.out,
            "segment name",
            segs.iter()
                .enumerate()
                .map(|(i, s)| (format!("segments[{i}].name"), s.name.as_str())),
        );
        for (i, s) in segs.iter().enumerate() {
            if let Some(gw) = s.gateway
                && !s.cidr.contains(gw)
            {
                self.err(
                    "outside-segment",
                    format!("segments[{i}].gateway"),
                    format!("gateway {gw} is outside {}", s.cidr),
                );
            }
        }
        let mut vlans: HashMap<u16, usize> = HashMap::new();
        for (i, s) in segs.iter().enumerate() {
            if let Some(v) = s.vlan {
                if let Some(first) = vlans.get(&v) {
                    self.err(
                        "duplicate",
                        format!("segments[{i}].vlan"),
                        format!("VLAN {v} already carries segments[{first}]"),
                    );
                } else {
                    vlans.insert(v, i);
                }
            }
        }
        let mut nets: Vec<(String, Network)> = segs
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("segments[{i}].cidr"), s.cidr))
            .collect();
        if let Some(k) = &self.site.kubernetes {
            nets.push(("kubernetes.pod_subnet".to_owned(), k.pod_subnet));
            nets.push(("kubernetes.service_subnet".to_owned(), k.service_subnet));
        }
        self.overlaps(&nets);
    }

    pub(super) fn hosts(&mut self) {
        let hosts = &self.site.hosts;
        unique(
            self.out,
            "host name",
            hosts
                .iter()
                .enumerate()
                .map(|(i, h)| (format!("hosts[{i}].name"), h.name.as_str())),
        );
        for (i, h) in hosts.iter().enumerate() {
            match self.segment(&h.segment) {
                None if self.known("segments") => self.err(
                    "dangling-reference",
                    format!("hosts[{i}].segment"),
                    format!("no segment named {:?}", h.segment.as_str()),
                ),
                Some(s) if !s.cidr.contains(h.address) => {
                    let cidr = s.cidr;
                    self.err(
                        "outside-segment",
                        format!("hosts[{i}].address"),
                        format!(
                            "{} is outside segment {:?} ({cidr})",
                            h.address,
                            h.segment.as_str()
                        ),
                    );
                }
                _ => {}
            }
        }
    }

    /// Addresses and MACs are unique across the site: guests, hosts, router, VIPs and leases
    /// (a lease whose MAC belongs to a guest or host describes that machine and must agree).
    pub(super) fn addresses_and_macs(&mut self) {
        let mut owners: HashMap<IpAddr, (String, String)> = HashMap::new(); // ip -> (owner, path)
        let mut macs: HashMap<String, (String, String, Option<IpAddr>)> = HashMap::new(); // mac -> (owner, path, ip)
        let mut claim_ip = |c: &mut Vec<Diagnostic>, ip: IpAddr, owner: &str, path: String| {
            match owners.get(&ip) {
                Some((o, first)) if o != owner => c.push(Diagnostic::error(
                    "duplicate",
                    path,
                    format!("address {ip} is already used by {o} ({first})"),
                )),
                Some(_) => {}
                None => {
                    owners.insert(ip, (owner.to_owned(), path));
                }
            }
        };
        // Whether every MAC the site gives a machine is known: a lease whose MAC is none of
        // them is taken as its own owner only then (else it may be a machine's, in the left-out
        // section, and its address that machine's).
        let machines_known = self.machines_known();
        let mut out = Vec::new();
        for (i, h) in self.site.hosts.iter().enumerate() {
            let owner = format!("host {}", h.name);
            claim_ip(&mut out, h.address, &owner, format!("hosts[{i}].address"));
            if let Some(m) = h.mac {
                macs.insert(
                    m.to_string(),
                    (owner, format!("hosts[{i}].mac"), Some(h.address)),
                );
            }
        }
        if let Some(p) = &self.site.proxmox {
            for (i, n) in p.nodes.iter().enumerate() {
                // A node is a physical host: listing it under `hosts` too (for its MAC and
                // DHCP lease) names the same machine.
                claim_ip(
                    &mut out,
                    n.address,
                    &format!("host {}", n.name),
                    format!("proxmox.nodes[{i}].address"),
                );
            }
            for (i, g) in p.guests.iter().enumerate() {
                let owner = format!("guest {}", g.name);
                for (j, nic) in g.nics.iter().enumerate() {
                    if let Some(a) = nic.address {
                        claim_ip(
                            &mut out,
                            a.ip(),
                            &owner,
                            format!("proxmox.guests[{i}].nics[{j}].address"),
                        );
                    }
                    if let Some(m) = nic.mac {
                        let path = format!("proxmox.guests[{i}].nics[{j}].mac");
                        if let Some((o, first, _)) = macs.get(&m.to_string()) {
                            out.push(Diagnostic::error(
                                "duplicate",
                                path,
                                format!("MAC {m} is already used by {o} ({first})"),
                            ));
                        } else {
                            macs.insert(
                                m.to_string(),
                                (owner.clone(), path, nic.address.map(|a| a.ip())),
                            );
                        }
                    }
                }
            }
        }
        if let Some(r) = &self.site.router {
            for (i, a) in r.addresses.iter().enumerate() {
                claim_ip(
                    &mut out,
                    a.address.ip(),
                    "the router",
                    format!("router.addresses[{i}].address"),
                );
            }
            for (i, l) in r.dhcp.leases.iter().enumerate() {
                let path = format!("router.dhcp.leases[{i}].address");
                match macs.get(&l.mac.to_string()) {
                    Some((owner, first, Some(ip))) if *ip != l.address => {
                        out.push(Diagnostic::error(
                            "lease-mismatch",
                            path,
                            format!(
                                "lease gives {} to {} but {first} says {ip}",
                                l.address, owner
                            ),
                        ))
                    }
                    Some((owner, _, _)) => claim_ip(&mut out, l.address, owner, path),
                    None if machines_known => {
                        claim_ip(&mut out, l.address, &format!("lease {}", l.mac), path);
                    }
                    None => {}
                }
            }
        }
        if let Some(lb) = &self.site.load_balancer {
            for (i, v) in lb.vips.iter().enumerate() {
                claim_ip(
                    &mut out,
                    v.address,
                    &format!("VIP {}", v.name),
                    format!("load_balancer.vips[{i}].address"),
                );
            }
        }
        self.out.extend(out);
    }
}
