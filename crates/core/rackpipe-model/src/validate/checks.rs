//! The semantic rules, grouped by concern. Each pushes diagnostics with the field path of the
//! offending value; nothing stops at the first problem.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::proxmox::Guest;
use crate::site::{KNOWN_SECTIONS, Site};
use crate::types::{AddressRange, Name, Network};
use crate::vault::{MountType, VaultStorage};

/// Runs every rule.
pub(crate) fn run(site: &Site, document: &Value, out: &mut Vec<Diagnostic>) {
    let mut c = Checker { site, out };
    c.passthrough(document);
    c.segments();
    c.hosts();
    c.router();
    c.proxmox();
    c.addresses_and_macs();
    c.nas();
    c.vault();
    c.load_balancer();
    c.kubernetes();
    c.runners_and_backups();
}

struct Checker<'a> {
    site: &'a Site,
    out: &'a mut Vec<Diagnostic>,
}

/// Pushes an error for every repeated key: `items` yields (path, key).
fn unique<'k>(
    out: &mut Vec<Diagnostic>,
    what: &str,
    items: impl IntoIterator<Item = (String, &'k str)>,
) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (path, key) in items {
        if let Some(first) = seen.get(key) {
            out.push(Diagnostic::error(
                "duplicate",
                path,
                format!("duplicate {what} {key:?} (first at {first})"),
            ));
        } else {
            seen.insert(key, path);
        }
    }
}

/// Pushes a warning for every repeated non-empty text (copy-paste suspects).
fn suspicious_repeats<'k>(
    out: &mut Vec<Diagnostic>,
    what: &str,
    items: impl IntoIterator<Item = (String, &'k str)>,
) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (path, text) in items {
        if text.is_empty() {
            continue;
        }
        if let Some(first) = seen.get(text) {
            out.push(Diagnostic::warning(
                "copy-paste",
                path,
                format!("same {what} {text:?} as {first}; copy-pasted?"),
            ));
        } else {
            seen.insert(text, path);
        }
    }
}

fn is_odd_quorum(n: usize) -> bool {
    n >= 3 && !n.is_multiple_of(2)
}

impl<'a> Checker<'a> {
    fn err(&mut self, rule: &str, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Diagnostic::error(rule, path, message));
    }

    fn warn(&mut self, rule: &str, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Diagnostic::warning(rule, path, message));
    }

    fn segment(&self, name: &Name) -> Option<&'a crate::network::Segment> {
        self.site.segments.iter().find(|s| &s.name == name)
    }

    fn guest(&self, name: &Name) -> Option<&'a Guest> {
        self.site
            .proxmox
            .as_ref()?
            .guests
            .iter()
            .find(|g| &g.name == name)
    }

    /// The primary address of a guest or host, by name.
    fn address_of(&self, name: &Name) -> Option<IpAddr> {
        if let Some(g) = self.guest(name) {
            return g.nics.iter().find_map(|n| n.address.map(|a| a.ip()));
        }
        self.site
            .hosts
            .iter()
            .find(|h| &h.name == name)
            .map(|h| h.address)
    }

    fn exists_export(&self, name: &Name) -> bool {
        self.site
            .nas
            .as_ref()
            .is_some_and(|n| n.exports.iter().any(|e| &e.name == name))
    }

    fn check_export_ref(&mut self, path: String, name: &Name) {
        if !self.exists_export(name) {
            self.err(
                "dangling-reference",
                path,
                format!("no NFS export named {:?} in nas.exports", name.as_str()),
            );
        }
    }

    /// A path the tools write into a configuration or a command line (the same rule as
    /// [`crate::types::FilePath`], for fields still held as plain strings).
    fn file_path(&mut self, path: String, value: &str) {
        if let Err(message) = crate::types::check_file_path(value) {
            self.err("unsafe-path", path, message);
        }
    }

    fn check_guest_ref(&mut self, path: String, name: &Name) {
        if self.guest(name).is_none() {
            self.err(
                "dangling-reference",
                path,
                format!("no guest named {:?} in proxmox.guests", name.as_str()),
            );
        }
    }

    fn passthrough(&mut self, document: &Value) {
        if let Some(obj) = document.as_object() {
            for key in obj.keys().filter(|k| !KNOWN_SECTIONS.contains(&k.as_str())) {
                self.warn(
                    "unknown-section",
                    key.clone(),
                    "unknown top-level section, passed through untouched",
                );
            }
        }
    }

    fn segments(&mut self) {
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

    fn overlaps(&mut self, nets: &[(String, Network)]) {
        // Sort by start address so only neighbours need comparing (nested networks sort
        // right after their parent).
        let mut sorted: Vec<&(String, Network)> = nets.iter().collect();
        sorted.sort_by_key(|(_, n)| (n.0.network(), n.0.prefix_len()));
        let mut open: Vec<&(String, Network)> = Vec::new();
        for item in sorted {
            open.retain(|(_, o)| o.overlaps(&item.1));
            for (path, other) in &open {
                self.err(
                    "overlap",
                    item.0.clone(),
                    format!("{} overlaps {other} at {path}", item.1),
                );
            }
            open.push(item);
        }
    }

    fn hosts(&mut self) {
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
                None => self.err(
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
                Some(_) => {}
            }
        }
    }

    fn router(&mut self) {
        let Some(r) = &self.site.router else { return };
        // One namespace for every interface name.
        let mut names: Vec<(String, &str)> = Vec::new();
        for (i, e) in r.ethernet.iter().enumerate() {
            names.push((
                format!("router.ethernet[{i}].name"),
                e.interface_name().as_str(),
            ));
        }
        for (i, b) in r.bonds.iter().enumerate() {
            names.push((format!("router.bonds[{i}].name"), b.name.as_str()));
        }
        for (i, b) in r.bridges.iter().enumerate() {
            names.push((format!("router.bridges[{i}].name"), b.name.as_str()));
        }
        for (i, v) in r.vlans.iter().enumerate() {
            names.push((format!("router.vlans[{i}].name"), v.name.as_str()));
        }
        unique(
            self.out,
            "interface name",
            names.iter().map(|(p, n)| (p.clone(), *n)),
        );
        unique(
            self.out,
            "factory port",
            r.ethernet.iter().enumerate().map(|(i, e)| {
                (
                    format!("router.ethernet[{i}].default_name"),
                    e.default_name.as_str(),
                )
            }),
        );
        let interfaces: HashSet<&str> = names.iter().map(|(_, n)| *n).collect();
        let ethernets: HashSet<&str> = r
            .ethernet
            .iter()
            .map(|e| e.interface_name().as_str())
            .collect();
        let iface = |c: &mut Self, path: String, n: &Name| {
            if !interfaces.contains(n.as_str()) {
                c.err(
                    "dangling-reference",
                    path,
                    format!("unknown interface {:?}", n.as_str()),
                );
            }
        };

        let mut enslaved: HashMap<&str, String> = HashMap::new();
        for (i, b) in r.bonds.iter().enumerate() {
            for (j, s) in b.slaves.iter().enumerate() {
                let path = format!("router.bonds[{i}].slaves[{j}]");
                if !ethernets.contains(s.as_str()) {
                    self.err(
                        "dangling-reference",
                        path.clone(),
                        format!("bond slave {:?} is not an ethernet port", s.as_str()),
                    );
                }
                if let Some(first) = enslaved.get(s.as_str()) {
                    self.err(
                        "duplicate",
                        path,
                        format!("{:?} is already a slave at {first}", s.as_str()),
                    );
                } else {
                    enslaved.insert(s.as_str(), path);
                }
            }
        }
        let mut ported: HashMap<&str, String> = HashMap::new();
        for (i, b) in r.bridges.iter().enumerate() {
            for (j, p) in b.ports.iter().enumerate() {
                let path = format!("router.bridges[{i}].ports[{j}].interface");
                iface(self, path.clone(), &p.interface);
                if let Some(slave_at) = enslaved.get(p.interface.as_str()) {
                    self.err(
                        "slave-and-port",
                        path.clone(),
                        format!(
                            "{:?} is a bond slave ({slave_at}) and cannot be a bridge port",
                            p.interface.as_str()
                        ),
                    );
                }
                if p.interface == b.name {
                    self.err(
                        "dangling-reference",
                        path.clone(),
                        "a bridge cannot be its own port",
                    );
                }
                if let Some(first) = ported.get(p.interface.as_str()) {
                    self.err(
                        "duplicate",
                        path,
                        format!(
                            "{:?} is already a bridge port at {first}",
                            p.interface.as_str()
                        ),
                    );
                } else {
                    ported.insert(p.interface.as_str(), path);
                }
            }
            let mut ids: HashMap<u16, String> = HashMap::new();
            for (j, row) in b.vlans.iter().enumerate() {
                for (k, id) in row.vlan_ids.iter().enumerate() {
                    let path = format!("router.bridges[{i}].vlans[{j}].vlan_ids[{k}]");
                    if let Some(first) = ids.get(id) {
                        self.err(
                            "duplicate",
                            path,
                            format!("VLAN {id} is already in this bridge's VLAN table at {first}"),
                        );
                    } else {
                        ids.insert(*id, path);
                    }
                }
                for (list, members) in [("tagged", &row.tagged), ("untagged", &row.untagged)] {
                    for (k, m) in members.iter().enumerate() {
                        let path = format!("router.bridges[{i}].vlans[{j}].{list}[{k}]");
                        if m != &b.name && !b.ports.iter().any(|p| &p.interface == m) {
                            self.err(
                                "dangling-reference",
                                path,
                                format!(
                                    "{:?} is not a port of bridge {:?}",
                                    m.as_str(),
                                    b.name.as_str()
                                ),
                            );
                        }
                    }
                }
                for (k, m) in row.untagged.iter().enumerate() {
                    if row.tagged.contains(m) {
                        self.err(
                            "conflict",
                            format!("router.bridges[{i}].vlans[{j}].untagged[{k}]"),
                            format!("{:?} is both tagged and untagged", m.as_str()),
                        );
                    }
                }
            }
            if !b.vlan_filtering && !b.vlans.is_empty() {
                self.warn(
                    "unused",
                    format!("router.bridges[{i}].vlans"),
                    "VLAN table has no effect while vlan_filtering is off",
                );
            }
        }
        let mut vids: HashMap<(&str, u16), String> = HashMap::new();
        for (i, v) in r.vlans.iter().enumerate() {
            iface(self, format!("router.vlans[{i}].interface"), &v.interface);
            let path = format!("router.vlans[{i}].vlan_id");
            if let Some(first) = vids.get(&(v.interface.as_str(), v.vlan_id)) {
                self.err(
                    "duplicate",
                    path,
                    format!(
                        "VLAN {} on {:?} is already defined at {first}",
                        v.vlan_id,
                        v.interface.as_str()
                    ),
                );
            } else {
                vids.insert((v.interface.as_str(), v.vlan_id), path);
            }
        }
        for (i, a) in r.addresses.iter().enumerate() {
            iface(
                self,
                format!("router.addresses[{i}].interface"),
                &a.interface,
            );
        }
        // Networks of router interfaces must not overlap (except the same network twice on one
        // interface) and must sit in the addressing plan when one is given.
        let nets: Vec<(String, Network)> = r
            .addresses
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    format!("router.addresses[{i}].address"),
                    a.address.network(),
                )
            })
            .collect();
        let mut dedup: BTreeMap<Network, String> = BTreeMap::new();
        for (path, net) in nets {
            dedup.entry(net).or_insert(path);
        }
        let distinct: Vec<(String, Network)> = dedup.into_iter().map(|(n, p)| (p, n)).collect();
        self.overlaps(&distinct);
        unique(
            self.out,
            "pool name",
            r.pools
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("router.pools[{i}].name"), p.name.as_str())),
        );
        self.dhcp(r);
        unique(
            self.out,
            "filter rule comment",
            r.firewall.filter.iter().enumerate().map(|(i, f)| {
                (
                    format!("router.firewall.filter[{i}].comment"),
                    f.comment.as_str(),
                )
            }),
        );
        unique(
            self.out,
            "NAT rule comment",
            r.firewall.nat.iter().enumerate().map(|(i, f)| {
                (
                    format!("router.firewall.nat[{i}].comment"),
                    f.comment.as_str(),
                )
            }),
        );
        suspicious_repeats(
            self.out,
            "comment",
            r.ethernet.iter().enumerate().filter_map(|(i, e)| {
                e.comment
                    .as_deref()
                    .map(|c| (format!("router.ethernet[{i}].comment"), c))
            }),
        );
        suspicious_repeats(
            self.out,
            "comment",
            r.dns.records.iter().enumerate().filter_map(|(i, d)| {
                d.comment
                    .as_deref()
                    .map(|c| (format!("router.dns.records[{i}].comment"), c))
            }),
        );
        let services: Vec<(String, String)> = r
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    format!("router.services[{i}].name"),
                    format!("{:?}", s.name),
                )
            })
            .collect();
        unique(
            self.out,
            "service",
            services.iter().map(|(p, n)| (p.clone(), n.as_str())),
        );
    }

    fn dhcp(&mut self, r: &crate::router::Router) {
        let d = &r.dhcp;
        unique(
            self.out,
            "DHCP server name",
            d.servers
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("router.dhcp.servers[{i}].name"), s.name.as_str())),
        );
        unique(
            self.out,
            "DHCP server interface",
            d.servers.iter().enumerate().map(|(i, s)| {
                (
                    format!("router.dhcp.servers[{i}].interface"),
                    s.interface.as_str(),
                )
            }),
        );
        let pools: HashMap<&str, &crate::router::Pool> =
            r.pools.iter().map(|p| (p.name.as_str(), p)).collect();
        // The networks of each interface, from its addresses.
        let iface_nets = |name: &Name| -> Vec<crate::types::InterfaceAddress> {
            r.addresses
                .iter()
                .filter(|a| &a.interface == name)
                .map(|a| a.address)
                .collect()
        };
        let mut gateways: Vec<IpAddr> = r.addresses.iter().map(|a| a.address.ip()).collect();
        gateways.extend(d.networks.iter().map(|n| n.gateway));
        let vips: Vec<IpAddr> = self
            .site
            .load_balancer
            .iter()
            .flat_map(|lb| lb.vips.iter().map(|v| v.address))
            .collect();
        let mut server_ranges: HashMap<&str, Vec<AddressRange>> = HashMap::new();
        for (i, s) in d.servers.iter().enumerate() {
            if !r.bridges.iter().any(|b| b.name == s.interface)
                && !r.vlans.iter().any(|v| v.name == s.interface)
                && !r.bonds.iter().any(|b| b.name == s.interface)
                && !r
                    .ethernet
                    .iter()
                    .any(|e| e.interface_name() == &s.interface)
            {
                self.err(
                    "dangling-reference",
                    format!("router.dhcp.servers[{i}].interface"),
                    format!("unknown interface {:?}", s.interface.as_str()),
                );
            }
            let nets = iface_nets(&s.interface);
            if nets.is_empty() {
                self.err(
                    "missing-address",
                    format!("router.dhcp.servers[{i}].interface"),
                    format!(
                        "interface {:?} has no address in router.addresses",
                        s.interface.as_str()
                    ),
                );
            }
            let Some(pool_name) = &s.pool else { continue };
            let Some(pool) = pools.get(pool_name.as_str()) else {
                self.err(
                    "dangling-reference",
                    format!("router.dhcp.servers[{i}].pool"),
                    format!("no pool named {:?}", pool_name.as_str()),
                );
                continue;
            };
            let pool_index = r
                .pools
                .iter()
                .position(|p| p.name == *pool_name)
                .unwrap_or(0);
            for (j, range) in pool.ranges.iter().enumerate() {
                let path = format!("router.pools[{pool_index}].ranges[{j}]");
                let inside = nets.iter().any(|n| {
                    let net = n.network();
                    net.contains(IpAddr::V4(range.start)) && net.contains(IpAddr::V4(range.end))
                });
                if !nets.is_empty() && !inside {
                    self.err(
                        "outside-segment",
                        path.clone(),
                        format!(
                            "range {range} is outside the network of {:?}",
                            s.interface.as_str()
                        ),
                    );
                }
                for gw in &gateways {
                    if range.contains(*gw) {
                        self.err(
                            "pool-overlap",
                            path.clone(),
                            format!("range {range} contains the gateway/router address {gw}"),
                        );
                    }
                }
                for vip in &vips {
                    if range.contains(*vip) {
                        self.err(
                            "pool-overlap",
                            path.clone(),
                            format!("range {range} contains the VIP {vip}"),
                        );
                    }
                }
            }
            server_ranges.insert(s.name.as_str(), pool.ranges.clone());
        }
        for (i, n) in d.networks.iter().enumerate() {
            if !n.address.contains(n.gateway) {
                self.err(
                    "outside-segment",
                    format!("router.dhcp.networks[{i}].gateway"),
                    format!("gateway {} is outside {}", n.gateway, n.address),
                );
            }
        }
        for (i, l) in d.leases.iter().enumerate() {
            let Some(server) = d.servers.iter().find(|s| s.name == l.server) else {
                self.err(
                    "dangling-reference",
                    format!("router.dhcp.leases[{i}].server"),
                    format!("no DHCP server named {:?}", l.server.as_str()),
                );
                continue;
            };
            let nets = iface_nets(&server.interface);
            if !nets.is_empty() && !nets.iter().any(|n| n.network().contains(l.address)) {
                self.err(
                    "outside-segment",
                    format!("router.dhcp.leases[{i}].address"),
                    format!(
                        "{} is outside the network of server {:?}",
                        l.address,
                        l.server.as_str()
                    ),
                );
            }
            if let Some(ranges) = server_ranges.get(l.server.as_str())
                && let Some(range) = ranges.iter().find(|r| r.contains(l.address))
            {
                self.err(
                    "pool-overlap",
                    format!("router.dhcp.leases[{i}].address"),
                    format!(
                        "static lease {} lies inside the dynamic pool {range}",
                        l.address
                    ),
                );
            }
        }
        let lease_macs: Vec<(String, String)> = d
            .leases
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("router.dhcp.leases[{i}].mac"), l.mac.to_string()))
            .collect();
        unique(
            self.out,
            "lease MAC",
            lease_macs.iter().map(|(p, m)| (p.clone(), m.as_str())),
        );
    }

    fn proxmox(&mut self) {
        let Some(p) = &self.site.proxmox else { return };
        unique(
            self.out,
            "node name",
            p.nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("proxmox.nodes[{i}].name"), n.name.as_str())),
        );
        unique(
            self.out,
            "storage name",
            p.storages
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("proxmox.storages[{i}].name"), s.name.as_str())),
        );
        unique(
            self.out,
            "pool name",
            p.pools
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("proxmox.pools[{i}].name"), s.name.as_str())),
        );
        unique(
            self.out,
            "template name",
            p.templates
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("proxmox.templates[{i}].name"), s.name.as_str())),
        );
        unique(
            self.out,
            "guest name",
            p.guests
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("proxmox.guests[{i}].name"), g.name.as_str())),
        );
        let fqdns: Vec<(String, String)> = self
            .site
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                h.fqdn
                    .as_ref()
                    .map(|f| (format!("hosts[{i}].fqdn"), f.as_str().to_ascii_lowercase()))
            })
            .chain(p.guests.iter().enumerate().filter_map(|(i, g)| {
                g.fqdn.as_ref().map(|f| {
                    (
                        format!("proxmox.guests[{i}].fqdn"),
                        f.as_str().to_ascii_lowercase(),
                    )
                })
            }))
            .collect();
        unique(
            self.out,
            "host name",
            fqdns.iter().map(|(a, b)| (a.clone(), b.as_str())),
        );
        let vmids: Vec<(String, String)> = p
            .guests
            .iter()
            .enumerate()
            .filter_map(|(i, g)| {
                g.vmid
                    .map(|v| (format!("proxmox.guests[{i}].vmid"), v.to_string()))
            })
            .collect();
        unique(
            self.out,
            "VMID",
            vmids.iter().map(|(a, b)| (a.clone(), b.as_str())),
        );
        if !p.nodes.iter().any(|n| n.name == p.api.node) {
            self.err(
                "dangling-reference",
                "proxmox.api.node",
                format!("no node named {:?}", p.api.node.as_str()),
            );
        }
        let node = |n: &Name| p.nodes.iter().find(|x| &x.name == n);
        let storage = |n: &Name| p.storages.iter().find(|x| &x.name == n);
        for (i, s) in p.storages.iter().enumerate() {
            if let Some(e) = &s.export {
                self.check_export_ref(format!("proxmox.storages[{i}].export"), e);
            }
        }
        for (i, t) in p.templates.iter().enumerate() {
            if node(&t.node).is_none() {
                self.err(
                    "dangling-reference",
                    format!("proxmox.templates[{i}].node"),
                    format!("no node named {:?}", t.node.as_str()),
                );
            }
            match storage(&t.storage) {
                None => self.err(
                    "dangling-reference",
                    format!("proxmox.templates[{i}].storage"),
                    format!("no storage named {:?}", t.storage.as_str()),
                ),
                Some(s) if !s.content.contains(&t.content) => {
                    self.err(
                        "wrong-content",
                        format!("proxmox.templates[{i}].storage"),
                        format!(
                            "storage {:?} does not hold {:?} content",
                            t.storage.as_str(),
                            t.content
                        ),
                    );
                }
                Some(_) => {}
            }
            if t.checksum.is_some() != t.checksum_algorithm.is_some() {
                self.err(
                    "incomplete",
                    format!("proxmox.templates[{i}].checksum"),
                    "checksum and checksum_algorithm go together",
                );
            }
        }
        for (i, g) in p.guests.iter().enumerate() {
            let base = format!("proxmox.guests[{i}]");
            let Some(n) = node(&g.node) else {
                self.err(
                    "dangling-reference",
                    format!("{base}.node"),
                    format!("no Proxmox node named {:?}", g.node.as_str()),
                );
                continue;
            };
            if let Some(pool) = &g.pool
                && !p.pools.iter().any(|x| &x.name == pool)
            {
                self.err(
                    "dangling-reference",
                    format!("{base}.pool"),
                    format!("no pool named {:?}", pool.as_str()),
                );
            }
            let wanted = if g.kind == crate::proxmox::GuestKind::Lxc {
                crate::proxmox::Content::Rootdir
            } else {
                crate::proxmox::Content::Images
            };
            for (j, d) in g.disks.iter().enumerate() {
                match storage(&d.storage) {
                    None => self.err(
                        "dangling-reference",
                        format!("{base}.disks[{j}].storage"),
                        format!("no storage named {:?}", d.storage.as_str()),
                    ),
                    Some(s) if !s.content.contains(&wanted) => {
                        self.err(
                            "wrong-content",
                            format!("{base}.disks[{j}].storage"),
                            format!("storage {:?} does not hold {wanted:?}", d.storage.as_str()),
                        );
                    }
                    Some(_) => {}
                }
                let lxc_slot = d.slot == "rootfs" || d.slot.starts_with("mp");
                if lxc_slot != (g.kind == crate::proxmox::GuestKind::Lxc) {
                    self.err(
                        "wrong-slot",
                        format!("{base}.disks[{j}].slot"),
                        format!("slot {:?} does not fit a {:?} guest", d.slot, g.kind),
                    );
                }
            }
            unique(
                self.out,
                "disk slot",
                g.disks
                    .iter()
                    .enumerate()
                    .map(|(j, d)| (format!("{base}.disks[{j}].slot"), d.slot.as_str())),
            );
            unique(
                self.out,
                "NIC slot",
                g.nics
                    .iter()
                    .enumerate()
                    .map(|(j, d)| (format!("{base}.nics[{j}].slot"), d.slot.as_str())),
            );
            for (j, nic) in g.nics.iter().enumerate() {
                if !n.bridges.contains(&nic.bridge) {
                    self.err(
                        "dangling-reference",
                        format!("{base}.nics[{j}].bridge"),
                        format!(
                            "node {:?} has no bridge {:?}",
                            n.name.as_str(),
                            nic.bridge.as_str()
                        ),
                    );
                }
                if let Some(seg_name) = &nic.segment {
                    match self.segment(seg_name) {
                        None => self.err(
                            "dangling-reference",
                            format!("{base}.nics[{j}].segment"),
                            format!("no segment named {:?}", seg_name.as_str()),
                        ),
                        Some(seg) => {
                            if let Some(a) = nic.address
                                && !seg.cidr.contains(a.ip())
                            {
                                let cidr = seg.cidr;
                                self.err(
                                    "outside-segment",
                                    format!("{base}.nics[{j}].address"),
                                    format!(
                                        "{} is outside segment {:?} ({cidr})",
                                        a.ip(),
                                        seg_name.as_str()
                                    ),
                                );
                            }
                            if seg.vlan.is_some() && seg.vlan != nic.vlan {
                                let v = seg.vlan;
                                self.err(
                                    "vlan-mismatch",
                                    format!("{base}.nics[{j}].vlan"),
                                    format!(
                                        "segment {:?} is on VLAN {v:?} but the NIC is tagged {:?}",
                                        seg_name.as_str(),
                                        nic.vlan
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            match &g.source {
                crate::proxmox::GuestSource::Template(t) => {
                    if g.kind != crate::proxmox::GuestKind::Lxc {
                        self.err(
                            "wrong-source",
                            format!("{base}.source"),
                            "only containers are created from templates; VMs clone",
                        );
                    }
                    if !p.templates.iter().any(|x| &x.name == t) {
                        self.err(
                            "dangling-reference",
                            format!("{base}.source.template"),
                            format!("no template named {:?}", t.as_str()),
                        );
                    }
                }
                crate::proxmox::GuestSource::Clone { .. } => {
                    if g.kind != crate::proxmox::GuestKind::Qemu {
                        self.err(
                            "wrong-source",
                            format!("{base}.source"),
                            "containers are created from templates, not cloned",
                        );
                    }
                }
            }
        }
        suspicious_repeats(
            self.out,
            "description",
            p.guests.iter().enumerate().filter_map(|(i, g)| {
                g.description
                    .as_deref()
                    .map(|d| (format!("proxmox.guests[{i}].description"), d))
            }),
        );
    }

    /// Addresses and MACs are unique across the site: guests, hosts, router, VIPs and leases
    /// (a lease whose MAC belongs to a guest or host describes that machine and must agree).
    fn addresses_and_macs(&mut self) {
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
                    None => claim_ip(&mut out, l.address, &format!("lease {}", l.mac), path),
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

    fn nas(&mut self) {
        let Some(n) = &self.site.nas else { return };
        if !self.site.hosts.iter().any(|h| h.name == n.host) {
            self.err(
                "dangling-reference",
                "nas.host",
                format!("no host named {:?} in hosts", n.host.as_str()),
            );
        }
        unique(
            self.out,
            "export name",
            n.exports
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("nas.exports[{i}].name"), e.name.as_str())),
        );
        unique(
            self.out,
            "export path",
            n.exports
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("nas.exports[{i}].path"), e.path.as_str())),
        );
        for (i, e) in n.exports.iter().enumerate() {
            self.file_path(format!("nas.exports[{i}].path"), &e.path);
            if let Some(p) = &e.pseudo {
                self.file_path(format!("nas.exports[{i}].pseudo"), p);
            }
            for (j, c) in e.clients.iter().enumerate() {
                let path = format!("nas.exports[{i}].clients[{j}]");
                let count = usize::from(c.segment.is_some())
                    + usize::from(c.network.is_some())
                    + usize::from(c.address.is_some())
                    + usize::from(c.host.is_some());
                if count != 1 {
                    self.err(
                        "client-spec",
                        path.clone(),
                        "give exactly one of segment, network, address, host",
                    );
                }
                if let Some(s) = &c.segment
                    && self.segment(s).is_none()
                {
                    self.err(
                        "dangling-reference",
                        format!("{path}.segment"),
                        format!("no segment named {:?}", s.as_str()),
                    );
                }
            }
        }
    }

    fn vault(&mut self) {
        let Some(v) = &self.site.vault else { return };
        if let crate::vault::VaultStorage::Raft { path, .. } = &v.storage {
            self.file_path("vault.storage.path".to_owned(), path);
        }
        for (field, value) in [
            ("cert_file", &v.tls.cert_file),
            ("key_file", &v.tls.key_file),
            ("ca_file", &v.tls.ca_file),
        ] {
            self.file_path(format!("vault.tls.{field}"), value);
        }
        for (i, a) in v.audit.iter().enumerate() {
            self.file_path(format!("vault.audit[{i}].file"), &a.file);
        }
        unique(
            self.out,
            "node name",
            v.nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("vault.nodes[{i}].name"), n.name.as_str())),
        );
        for (i, n) in v.nodes.iter().enumerate() {
            self.check_guest_ref(format!("vault.nodes[{i}].guest"), &n.guest);
        }
        let backend = match v.storage {
            VaultStorage::Raft { .. } => "raft",
            VaultStorage::Consul { .. } => "Consul",
        };
        if !is_odd_quorum(v.nodes.len()) {
            self.err(
                "quorum",
                "vault.nodes",
                format!(
                    "{} {backend} members; a quorum needs an odd number, at least 3",
                    v.nodes.len()
                ),
            );
        }
        self.placement(
            "vault",
            v.allow_colocation,
            v.nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("vault.nodes[{i}].guest"), &n.guest)),
        );
        if v.seal.threshold > v.seal.shares {
            self.err(
                "seal",
                "vault.seal.threshold",
                format!(
                    "threshold {} is more than the {} shares",
                    v.seal.threshold, v.seal.shares
                ),
            );
        }
        if !v.seal.pgp_keys.is_empty() && v.seal.pgp_keys.len() != usize::from(v.seal.shares) {
            self.err(
                "seal",
                "vault.seal.pgp_keys",
                format!(
                    "{} PGP keys for {} shares; give one per share",
                    v.seal.pgp_keys.len(),
                    v.seal.shares
                ),
            );
        }
        unique(
            self.out,
            "mount path",
            v.mounts.iter().enumerate().map(|(i, m)| {
                (
                    format!("vault.mounts[{i}].path"),
                    m.path.trim_end_matches('/'),
                )
            }),
        );
        let pki_mounts: HashSet<&str> = v
            .mounts
            .iter()
            .filter(|m| m.kind == MountType::Pki)
            .map(|m| m.path.trim_end_matches('/'))
            .collect();
        let domain = self.site.metadata.domain.as_str().to_ascii_lowercase();
        for (i, ca) in v.pki.iter().enumerate() {
            if !pki_mounts.contains(ca.mount.trim_end_matches('/')) {
                self.err(
                    "dangling-reference",
                    format!("vault.pki[{i}].mount"),
                    format!("{:?} is not a pki mount in vault.mounts", ca.mount),
                );
            }
            if let Some(parent) = &ca.signed_by
                && !v.pki.iter().any(|x| &x.mount == parent)
            {
                self.err(
                    "dangling-reference",
                    format!("vault.pki[{i}].signed_by"),
                    format!("no CA at mount {parent:?} in vault.pki"),
                );
            }
            for (j, role) in ca.roles.iter().enumerate() {
                for (k, d) in role.allowed_domains.iter().enumerate() {
                    let d = d.as_str().to_ascii_lowercase();
                    if d != domain && !d.ends_with(&format!(".{domain}")) {
                        self.err(
                            "foreign-domain",
                            format!("vault.pki[{i}].roles[{j}].allowed_domains[{k}]"),
                            format!("{d:?} is outside the site's domain {domain:?}"),
                        );
                    }
                }
            }
        }
        self.vault_certificates(v, &pki_mounts);
        unique(
            self.out,
            "policy name",
            v.policies
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("vault.policies[{i}].name"), p.name.as_str())),
        );
        let policies: HashSet<&str> = v
            .policies
            .iter()
            .map(|p| p.name.as_str())
            .chain(["default"])
            .collect();
        let mut refs: Vec<(String, &Name)> = Vec::new();
        if let Some(jwt) = &v.auth.gitlab_jwt {
            for (i, r) in jwt.roles.iter().enumerate() {
                refs.extend(
                    r.policies.iter().enumerate().map(|(j, p)| {
                        (format!("vault.auth.gitlab_jwt.roles[{i}].policies[{j}]"), p)
                    }),
                );
                if r.project_paths.is_empty() && r.project_ids.is_empty() {
                    self.err("unbound-role", format!("vault.auth.gitlab_jwt.roles[{i}]"), "bind the role to project_paths or project_ids, or any GitLab project can log in");
                }
            }
        }
        for (i, r) in v.auth.approles.iter().enumerate() {
            refs.extend(
                r.policies
                    .iter()
                    .enumerate()
                    .map(|(j, p)| (format!("vault.auth.approles[{i}].policies[{j}]"), p)),
            );
        }
        for (i, u) in v.auth.users.iter().enumerate() {
            refs.extend(
                u.policies
                    .iter()
                    .enumerate()
                    .map(|(j, p)| (format!("vault.auth.users[{i}].policies[{j}]"), p)),
            );
        }
        for (path, p) in refs {
            if !policies.contains(p.as_str()) {
                self.err(
                    "dangling-reference",
                    path,
                    format!("no policy named {:?} in vault.policies", p.as_str()),
                );
            }
        }
    }

    /// `vault.certificates`: unique names, a pki mount with a CA and the role, a kv-v2 store,
    /// and a renewal margin shorter than the validity.
    fn vault_certificates(&mut self, v: &crate::vault::Vault, pki_mounts: &HashSet<&str>) {
        unique(
            self.out,
            "certificate name",
            v.certificates
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("vault.certificates[{i}].name"), c.name.as_str())),
        );
        for (i, c) in v.certificates.iter().enumerate() {
            let at = format!("vault.certificates[{i}]");
            let mount = c.pki.trim_matches('/');
            let ca = v.pki.iter().find(|ca| ca.mount.trim_matches('/') == mount);
            let role = ca.and_then(|ca| ca.roles.iter().find(|r| r.name == c.role));
            if !pki_mounts.contains(mount) {
                self.err(
                    "dangling-reference",
                    format!("{at}.pki"),
                    format!("{:?} is not a pki mount in vault.mounts", c.pki),
                );
            } else if ca.is_none() {
                self.err(
                    "dangling-reference",
                    format!("{at}.pki"),
                    format!("no CA at mount {:?} in vault.pki", c.pki),
                );
            } else if role.is_none() {
                self.err(
                    "dangling-reference",
                    format!("{at}.role"),
                    format!("unknown role {:?} in pki {:?}", c.role.as_str(), c.pki),
                );
            }
            let store = c.store.mount.trim_matches('/');
            match v.mounts.iter().find(|m| m.path.trim_matches('/') == store) {
                None => self.err(
                    "dangling-reference",
                    format!("{at}.store.mount"),
                    format!("no mount {:?} in vault.mounts", c.store.mount),
                ),
                Some(m) if m.kind != MountType::KvV2 => self.err(
                    "certificate-store",
                    format!("{at}.store.mount"),
                    format!("{:?} is not a kv-v2 mount", c.store.mount),
                ),
                Some(_) => {}
            }
            if c.store.path.trim_matches('/').is_empty() {
                self.err(
                    "certificate-store",
                    format!("{at}.store.path"),
                    "the KV path is empty",
                );
            }
            if let Some(role) = role {
                if !c.ip_sans.is_empty() && !role.allow_ip_sans {
                    self.err(
                        "certificate-role",
                        format!("{at}.ip_sans"),
                        format!("role {:?} does not allow IP SANs", role.name.as_str()),
                    );
                }
                if let Some(ttl) = &c.ttl
                    && ttl.as_secs() > role.max_ttl.as_secs()
                {
                    self.err(
                        "certificate-ttl",
                        format!("{at}.ttl"),
                        format!(
                            "ttl {ttl} is longer than role {:?}'s max_ttl {}",
                            role.name.as_str(),
                            role.max_ttl
                        ),
                    );
                }
            }
            let role_ttl = role.map(|r| &r.ttl);
            if let Some(ttl) = c.ttl_secs(role_ttl) {
                let renew = c.renew_before_secs(role_ttl);
                if renew >= ttl {
                    let given = c
                        .renew_before
                        .as_ref()
                        .map_or_else(|| format!("{renew}s (default)"), ToString::to_string);
                    let of = match &c.ttl {
                        Some(t) => format!("ttl {t}"),
                        None => format!("the role's ttl {ttl}s"),
                    };
                    self.err(
                        "certificate-renewal",
                        format!("{at}.renew_before"),
                        format!(
                            "renew_before {given} is not shorter than {of}; every apply would renew"
                        ),
                    );
                }
            }
        }
    }

    /// HA members must sit on distinct Proxmox nodes unless `allowed`.
    fn placement<'n>(
        &mut self,
        what: &str,
        allowed: bool,
        members: impl Iterator<Item = (String, &'n Name)>,
    ) {
        let mut by_node: HashMap<String, String> = HashMap::new();
        for (path, guest) in members {
            let Some(g) = self.guest(guest) else { continue };
            let node = g.node.to_string();
            if let Some(first) = by_node.get(&node) {
                if !allowed {
                    self.err("placement", path, format!("{what} members {first} and this one both run on Proxmox node {node:?}; one node failure takes both (set allow_colocation to accept)"));
                }
            } else {
                by_node.insert(node, path);
            }
        }
    }

    fn load_balancer(&mut self) {
        let Some(lb) = &self.site.load_balancer else {
            return;
        };
        let mut vrids: HashMap<(&str, u8), String> = HashMap::new();
        for (i, v) in lb.vips.iter().enumerate() {
            let path = format!("load_balancer.vips[{i}].vrid");
            if let Some(first) = vrids.get(&(v.segment.as_str(), v.vrid)) {
                self.err(
                    "duplicate",
                    path,
                    format!(
                        "VRID {} is already used on segment {:?} by {first}",
                        v.vrid,
                        v.segment.as_str()
                    ),
                );
            } else {
                vrids.insert((v.segment.as_str(), v.vrid), path);
            }
        }
        // Services sharing a VIP and port are told apart by distinct SNI names; one may be the default.
        let mut listeners: HashMap<(&str, u16), Vec<usize>> = HashMap::new();
        for (i, s) in lb.services.iter().enumerate() {
            listeners
                .entry((s.vip.as_str(), s.port))
                .or_default()
                .push(i);
        }
        let mut shared: Vec<(&(&str, u16), &Vec<usize>)> =
            listeners.iter().filter(|(_, v)| v.len() > 1).collect();
        shared.sort_by_key(|(_, v)| v[0]);
        for ((vip, port), services) in shared {
            let mut names: HashMap<String, usize> = HashMap::new();
            let mut default_of_listener: Option<usize> = None;
            for &i in services.iter() {
                let s = &lb.services[i];
                let path = format!("load_balancer.services[{i}]");
                match &s.sni {
                    None => {
                        // One service without SNI may take what no name matches (the default).
                        if let Some(first) = default_of_listener {
                            self.err(
                                "port-conflict",
                                path,
                                format!("port {port} on VIP {vip:?} already has load_balancer.services[{first}] as its default (no sni); give this service an sni"),
                            );
                        } else {
                            default_of_listener = Some(i);
                        }
                    }
                    Some(name) => {
                        let key = name.as_str().to_ascii_lowercase();
                        if let Some(first) = names.get(&key) {
                            self.err("duplicate", format!("{path}.sni"), format!("SNI {key:?} on {vip}:{port} is already routed to load_balancer.services[{first}]"));
                        } else {
                            names.insert(key, i);
                        }
                    }
                }
            }
        }
        unique(
            self.out,
            "VIP name",
            lb.vips
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("load_balancer.vips[{i}].name"), v.name.as_str())),
        );
        unique(
            self.out,
            "instance name",
            lb.instances.iter().enumerate().map(|(i, v)| {
                (
                    format!("load_balancer.instances[{i}].name"),
                    v.name.as_str(),
                )
            }),
        );
        unique(
            self.out,
            "service name",
            lb.services
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("load_balancer.services[{i}].name"), v.name.as_str())),
        );
        for (i, v) in lb.vips.iter().enumerate() {
            match self.segment(&v.segment) {
                None => self.err(
                    "dangling-reference",
                    format!("load_balancer.vips[{i}].segment"),
                    format!("no segment named {:?}", v.segment.as_str()),
                ),
                Some(s) if !s.cidr.contains(v.address) => {
                    let cidr = s.cidr;
                    self.err(
                        "outside-segment",
                        format!("load_balancer.vips[{i}].address"),
                        format!(
                            "VIP {} is outside segment {:?} ({cidr})",
                            v.address,
                            v.segment.as_str()
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        for (i, inst) in lb.instances.iter().enumerate() {
            if self.address_of(&inst.guest).is_none() {
                self.err(
                    "dangling-reference",
                    format!("load_balancer.instances[{i}].guest"),
                    format!("no guest or host {:?} with an address", inst.guest.as_str()),
                );
            }
        }
        self.placement(
            "load balancer",
            lb.allow_colocation,
            lb.instances
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("load_balancer.instances[{i}].guest"), &n.guest)),
        );
        for (i, s) in lb.services.iter().enumerate() {
            if !lb.vips.iter().any(|v| v.name == s.vip) {
                self.err(
                    "dangling-reference",
                    format!("load_balancer.services[{i}].vip"),
                    format!("no VIP named {:?}", s.vip.as_str()),
                );
            }
            for (j, b) in s.backends.iter().enumerate() {
                if self.address_of(&b.target).is_none() {
                    self.err(
                        "dangling-reference",
                        format!("load_balancer.services[{i}].backends[{j}].target"),
                        format!("no guest or host {:?} with an address", b.target.as_str()),
                    );
                }
            }
        }
    }

    fn kubernetes(&mut self) {
        let Some(k) = &self.site.kubernetes else {
            return;
        };
        let nodes: Vec<(String, &crate::kubernetes::K8sNode)> = k
            .masters
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("kubernetes.masters[{i}]"), n))
            .chain(
                k.workers
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (format!("kubernetes.workers[{i}]"), n)),
            )
            .collect();
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

    fn runners_and_backups(&mut self) {
        if let Some(r) = &self.site.runners {
            self.check_export_ref("runners.cache.export".to_owned(), &r.cache.export);
            self.file_path("runners.cache.mountpoint".to_owned(), &r.cache.mountpoint);
            if let Some(p) = &r.cache.path {
                self.file_path("runners.cache.path".to_owned(), p);
            }
            unique(
                self.out,
                "runner name",
                r.runners
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (format!("runners.runners[{i}].name"), x.name.as_str())),
            );
            for (i, x) in r.runners.iter().enumerate() {
                self.check_guest_ref(format!("runners.runners[{i}].guest"), &x.guest);
            }
        }
        if let Some(b) = &self.site.backups {
            for (name, job) in [("etcd", &b.etcd), ("router", &b.router)] {
                let Some(job) = job else { continue };
                self.check_export_ref(
                    format!("backups.{name}.destination.export"),
                    &job.destination.export,
                );
                let r = job.retention;
                if r.keep_last + r.daily + r.weekly + r.monthly == 0 {
                    self.err(
                        "retention",
                        format!("backups.{name}.retention"),
                        "keeps nothing; set keep_last or a daily/weekly/monthly count",
                    );
                }
            }
            if b.etcd.is_some() && self.site.kubernetes.is_none() {
                self.err(
                    "dangling-reference",
                    "backups.etcd",
                    "etcd backups need a kubernetes section (its masters run etcd)",
                );
            }
        }
    }
}
