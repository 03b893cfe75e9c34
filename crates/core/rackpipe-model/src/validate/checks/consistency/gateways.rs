//! Prefix lengths and gateways stated twice: segments, router addresses, DHCP networks,
//! guest NICs.

use std::net::IpAddr;

use super::super::Checker;
use crate::diagnostic::Diagnostic;

/// Rule id of the warning about a segment gateway that is neither the router's address on the
/// segment nor any machine's of the site.
const SEGMENT_GATEWAY: &str = "segment-gateway";

impl Checker<'_> {
    /// Prefix lengths of router addresses, guest NICs and DHCP networks match their segment;
    /// a DHCP network hands out its segment's gateway; a segment's gateway is the router's
    /// address on it (or some machine's of the site).
    pub(super) fn prefixes_and_gateways(&mut self) {
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
}
