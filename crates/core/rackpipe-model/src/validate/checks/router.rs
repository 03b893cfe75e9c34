//! The `router` section: interfaces, addresses, pools, DHCP, DNS, firewall/NAT and services.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use super::{Checker, suspicious_repeats, unique};
use crate::router::{Bridge, FrameTypes, Router};
use crate::types::{AddressRange, Name, Network};

impl Checker<'_> {
    pub(super) fn router(&mut self) {
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
        names.extend(super::router_more::other_interfaces(r));
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
                match renamed(r, n.as_str()) {
                    Some(message) => c.err("renamed-interface", path, message),
                    None => c.err(
                        "dangling-reference",
                        path,
                        format!("unknown interface {:?}", n.as_str()),
                    ),
                }
            }
        };

        let mut enslaved: HashMap<&str, String> = HashMap::new();
        for (i, b) in r.bonds.iter().enumerate() {
            for (j, s) in b.slaves.iter().enumerate() {
                let path = format!("router.bonds[{i}].slaves[{j}]");
                if !ethernets.contains(s.as_str()) {
                    match renamed(r, s.as_str()) {
                        Some(message) => self.err("renamed-interface", path.clone(), message),
                        None => self.err(
                            "dangling-reference",
                            path.clone(),
                            format!("bond slave {:?} is not an ethernet port", s.as_str()),
                        ),
                    }
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
                            if let Some(message) = renamed(r, m.as_str()) {
                                self.err("renamed-interface", path, message);
                                continue;
                            }
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
        self.layer2(r, &ported, &enslaved);
        self.firewall_interfaces(r, &interfaces);
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
        self.rule_comments(r);
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
                let path = format!("router.dhcp.servers[{i}].interface");
                match renamed(r, s.interface.as_str()) {
                    Some(message) => self.err("renamed-interface", path, message),
                    None => self.err(
                        "dangling-reference",
                        path,
                        format!("unknown interface {:?}", s.interface.as_str()),
                    ),
                }
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
}

/// When `name` is the factory name of a port the site renamed, what RouterOS would do with it.
fn renamed(r: &Router, name: &str) -> Option<String> {
    r.ethernet
        .iter()
        .enumerate()
        .find(|(_, e)| e.default_name.as_str() == name && e.interface_name().as_str() != name)
        .map(|(i, e)| {
            format!(
                "{name:?} is the factory name (default_name) of the port renamed to {:?} at router.ethernet[{i}].name; RouterOS knows it only by its new name and refuses {name:?} (\"input does not match any value of interface\")",
                e.interface_name().as_str()
            )
        })
}

/// The firewall matchers that name one interface (a leading `!` negates).
const FIREWALL_INTERFACE_PROPERTIES: [&str; 4] = [
    "in-interface",
    "out-interface",
    "in-bridge-port",
    "out-bridge-port",
];

impl Checker<'_> {
    /// Bridge, bond and VLAN membership as RouterOS forwards it: addresses, DHCP servers and VLAN
    /// interfaces belong on the bridge (or bond), not on its ports; with `vlan_filtering` the
    /// bridge itself must be a tagged member of every VLAN it has an interface for, and a port's
    /// `pvid` and its untagged membership must name the same VLAN.
    fn layer2(
        &mut self,
        r: &Router,
        ported: &HashMap<&str, String>,
        enslaved: &HashMap<&str, String>,
    ) {
        // Which bridge or bond holds an interface, for the messages.
        let mut holder: HashMap<&str, (String, &Bridge)> = HashMap::new();
        for b in &r.bridges {
            for p in &b.ports {
                if let Some(at) = ported.get(p.interface.as_str()) {
                    holder
                        .entry(p.interface.as_str())
                        .or_insert((at.clone(), b));
                }
            }
        }
        let member_of = |n: &str| -> Option<String> {
            if let Some((at, b)) = holder.get(n) {
                return Some(format!(
                    "{n:?} is a port of bridge {:?} ({at})",
                    b.name.as_str()
                ));
            }
            let bond = r.bonds.iter().find(|b| b.slaves.iter().any(|s| s == n))?;
            let at = enslaved.get(n)?;
            Some(format!(
                "{n:?} is a slave of bond {:?} ({at})",
                bond.name.as_str()
            ))
        };
        let owner = |n: &str| -> &str {
            holder.get(n).map_or_else(
                || {
                    r.bonds
                        .iter()
                        .find(|b| b.slaves.iter().any(|s| s == n))
                        .map_or("bridge", |b| b.name.as_str())
                },
                |(_, b)| b.name.as_str(),
            )
        };
        for (i, a) in r.addresses.iter().enumerate() {
            let n = a.interface.as_str();
            if let Some(what) = member_of(n) {
                self.err(
                    "address-on-port",
                    format!("router.addresses[{i}].interface"),
                    format!(
                        "{what}: RouterOS binds an address given to a bridge port or bond slave to the bridge or bond itself (its actual-interface), so {} would answer on every port of {:?}, not on {n:?} alone as the site says; put it on {:?}",
                        a.address,
                        owner(n),
                        owner(n)
                    ),
                );
            }
        }
        for (i, s) in r.dhcp.servers.iter().enumerate() {
            let n = s.interface.as_str();
            if let Some(what) = member_of(n) {
                self.err(
                    "address-on-port",
                    format!("router.dhcp.servers[{i}].interface"),
                    format!(
                        "{what}: the bridge or bond receives the port's frames, so a DHCP server bound to the port itself gets no DHCP requests (RouterOS shows it invalid); run {:?} on {:?}",
                        s.name.as_str(),
                        owner(n)
                    ),
                );
            }
        }
        for (i, v) in r.vlans.iter().enumerate() {
            let n = v.interface.as_str();
            let filtering = holder.get(n).is_some_and(|(_, b)| b.vlan_filtering);
            if (filtering || enslaved.contains_key(n))
                && let Some(what) = member_of(n)
            {
                self.err(
                    "vlan-on-port",
                    format!("router.vlans[{i}].interface"),
                    format!(
                        "{what}: the {} takes the tagged frames first, so VLAN interface {:?} receives nothing; create it on {:?}",
                        if filtering { "VLAN-filtering bridge" } else { "bond" },
                        v.name.as_str(),
                        owner(n)
                    ),
                );
            }
        }
        for (i, v) in r.vlans.iter().enumerate() {
            let Some((bi, b)) = r
                .bridges
                .iter()
                .enumerate()
                .find(|(_, b)| b.name == v.interface && b.vlan_filtering)
            else {
                continue;
            };
            let tagged = b
                .vlans
                .iter()
                .any(|row| row.vlan_ids.contains(&v.vlan_id) && row.tagged.contains(&b.name));
            if tagged {
                continue;
            }
            let management = r
                .addresses
                .iter()
                .any(|a| a.interface == v.name && a.address.ip() == r.management.address);
            self.err(
                "bridge-not-tagged",
                format!("router.vlans[{i}].vlan_id"),
                format!(
                    "bridge {:?} has vlan_filtering on but no row of router.bridges[{bi}].vlans lists the bridge itself ({:?}) as tagged for VLAN {}, so VLAN interface {:?} on it receives nothing{}",
                    b.name.as_str(),
                    b.name.as_str(),
                    v.vlan_id,
                    v.name.as_str(),
                    if management {
                        format!(
                            "; management.address {} is on it: applying this cuts the router off",
                            r.management.address
                        )
                    } else {
                        String::new()
                    }
                ),
            );
        }
        for (bi, b) in r.bridges.iter().enumerate() {
            if !b.vlan_filtering {
                continue;
            }
            self.management_vlan(r, bi, b);
            self.pvid_membership(bi, b);
        }
    }

    /// The router's own untagged address on a VLAN-filtering bridge lives in the bridge's
    /// `pvid` (1, RouterOS's default; the site cannot change it): some port must carry VLAN 1.
    fn management_vlan(&mut self, r: &Router, bi: usize, b: &Bridge) {
        let Some((ai, _)) = r.addresses.iter().enumerate().find(|(_, a)| {
            a.interface == b.name && a.address.network().contains(r.management.address)
        }) else {
            return;
        };
        let reaches = b.ports.iter().any(|p| {
            p.pvid.unwrap_or(1) == 1
                || b.vlans
                    .iter()
                    .any(|row| row.vlan_ids.contains(&1) && row.tagged.contains(&p.interface))
        });
        if !b.ports.is_empty() && !reaches {
            self.err(
                "management-cut-off",
                format!("router.bridges[{bi}].ports"),
                format!(
                    "management.address {} is reached through router.addresses[{ai}] on bridge {:?}, which filters VLANs: the bridge's own untagged traffic is VLAN 1 (its default pvid) but no port of it carries VLAN 1 (every pvid is another VLAN); applying this cuts the router off",
                    r.management.address,
                    b.name.as_str()
                ),
            );
        }
    }

    /// A port's untagged VLAN is its `pvid` (1 when absent): it must not be tagged in that VLAN
    /// nor untagged in another one.
    fn pvid_membership(&mut self, bi: usize, b: &Bridge) {
        for p in &b.ports {
            if p.frame_types == Some(FrameTypes::AdmitOnlyVlanTagged) {
                continue;
            }
            let pvid = p.pvid.unwrap_or(1);
            let given = if p.pvid.is_some() {
                format!("its pvid is {pvid}")
            } else {
                "its pvid is 1 (the default; pvid not set)".to_owned()
            };
            for (j, row) in b.vlans.iter().enumerate() {
                if p.pvid.is_some()
                    && row.vlan_ids.contains(&pvid)
                    && let Some(k) = row.tagged.iter().position(|t| t == &p.interface)
                {
                    self.err(
                        "pvid-membership",
                        format!("router.bridges[{bi}].vlans[{j}].tagged[{k}]"),
                        format!(
                            "{:?} is tagged in VLAN {pvid}, but {given}: RouterOS takes its untagged frames into VLAN {pvid} and sends VLAN {pvid} back tagged; list it under untagged",
                            p.interface.as_str()
                        ),
                    );
                }
                if !row.vlan_ids.contains(&pvid)
                    && let Some(k) = row.untagged.iter().position(|t| t == &p.interface)
                {
                    let ids: Vec<String> = row.vlan_ids.iter().map(u16::to_string).collect();
                    self.err(
                        "pvid-membership",
                        format!("router.bridges[{bi}].vlans[{j}].untagged[{k}]"),
                        format!(
                            "{:?} is untagged in VLAN {}, but {given}: the untagged frames it receives go to VLAN {pvid}, not VLAN {}; set pvid: {} on the port",
                            p.interface.as_str(),
                            ids.join(","),
                            ids.join(","),
                            ids.first().map_or("", String::as_str)
                        ),
                    );
                }
            }
        }
    }

    /// Firewall matchers that name an interface must name one the router has.
    fn firewall_interfaces(&mut self, r: &Router, interfaces: &HashSet<&str>) {
        for (table, rules) in [("filter", &r.firewall.filter), ("nat", &r.firewall.nat)] {
            for (i, rule) in rules.iter().enumerate() {
                for (key, value) in &rule.properties {
                    if !FIREWALL_INTERFACE_PROPERTIES.contains(&key.as_str()) {
                        continue;
                    }
                    let name = value.strip_prefix('!').unwrap_or(value);
                    if interfaces.contains(name) {
                        continue;
                    }
                    let path = format!("router.firewall.{table}[{i}].properties.{key}");
                    match renamed(r, name) {
                        Some(message) => self.err("renamed-interface", path, message),
                        None => self.err(
                            "dangling-reference",
                            path,
                            format!(
                                "{key}={value:?} names no interface of the router; RouterOS refuses the rule (\"input does not match any value of interface\")"
                            ),
                        ),
                    }
                }
            }
        }
    }
}
