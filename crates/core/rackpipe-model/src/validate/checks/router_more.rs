//! The router's typed menus beyond interfaces and addressing: firewall rule identities (every
//! IPv4 table), interface lists and members, WireGuard, VRRP, routes, IPv6
//! addresses, DHCP clients, neighbor discovery, NTP client servers, scripts and the scheduler.
//! References must name something the router has, natural keys must not repeat.

use std::collections::HashSet;

use super::{Checker, unique};
use crate::router::{BUILTIN_INTERFACE_LISTS, FirewallRule, MenuValue, Route, Router};

/// Interface names the typed WireGuard and VRRP fields and the generic `/interface/...`
/// menus define, with their field paths (for the one interface namespace).
pub(super) fn other_interfaces(r: &Router) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    for (i, w) in r.wireguard.interfaces.iter().enumerate() {
        out.push((
            format!("router.wireguard.interfaces[{i}].name"),
            w.name.as_str(),
        ));
    }
    for (i, v) in r.vrrp.iter().enumerate() {
        out.push((format!("router.vrrp[{i}].name"), v.name.as_str()));
    }
    for (i, m) in r.menus.iter().enumerate() {
        let Some(kind) = m.path.strip_prefix("/interface/") else {
            continue;
        };
        // `/interface/veth`, `/interface/6to4`, ...: one level, entries named.
        if kind.contains('/') || kind == "list" {
            continue;
        }
        for (j, e) in m.entries.iter().enumerate() {
            if let Some(MenuValue::Text(name)) = e.properties.get("name") {
                out.push((
                    format!("router.menus[{i}].entries[{j}].name"),
                    name.as_str(),
                ));
            }
        }
    }
    out
}

/// Every interface name the router defines.
fn interface_names(r: &Router) -> HashSet<&str> {
    let mut names: HashSet<&str> = r
        .ethernet
        .iter()
        .map(|e| e.interface_name().as_str())
        .chain(r.bonds.iter().map(|b| b.name.as_str()))
        .chain(r.bridges.iter().map(|b| b.name.as_str()))
        .chain(r.vlans.iter().map(|v| v.name.as_str()))
        .collect();
    names.extend(other_interfaces(r).into_iter().map(|(_, n)| n));
    names
}

/// A rule table's comments must be unique (the comment is the rule's identity); rules
/// without a comment are matched by their content.
fn comments<'r>(table: &str, rules: &'r [FirewallRule]) -> impl Iterator<Item = (String, &'r str)> {
    let table = table.to_owned();
    rules.iter().enumerate().filter_map(move |(i, f)| {
        f.comment
            .as_deref()
            .map(|c| (format!("{table}[{i}].comment"), c))
    })
}

fn route_key(r: &Route, v6: bool) -> String {
    let dst = r.dst_address.map_or_else(
        || if v6 { "::/0" } else { "0.0.0.0/0" }.to_owned(),
        |d| d.to_string(),
    );
    format!(
        "{dst} via {} table {}",
        r.gateway.as_deref().unwrap_or(""),
        r.routing_table.as_ref().map_or("main", |t| t.as_str())
    )
}

impl Checker<'_> {
    pub(super) fn rule_comments(&mut self, r: &Router) {
        for (table, rules, what) in [
            (
                "router.firewall.filter",
                &r.firewall.filter,
                "filter rule comment",
            ),
            ("router.firewall.nat", &r.firewall.nat, "NAT rule comment"),
            (
                "router.firewall.mangle",
                &r.firewall.mangle,
                "mangle rule comment",
            ),
            ("router.firewall.raw", &r.firewall.raw, "raw rule comment"),
        ] {
            unique(self.out, what, comments(table, rules));
        }
    }

    pub(super) fn router_more(&mut self) {
        let Some(r) = &self.site.router else { return };
        let interfaces = interface_names(r);
        let mut lists: HashSet<&str> = BUILTIN_INTERFACE_LISTS.iter().copied().collect();
        lists.extend(r.interface_lists.iter().map(|l| l.name.as_str()));
        let dangling = |c: &mut Self, path: String, what: &str, name: &str| {
            c.err(
                "dangling-reference",
                path,
                format!("unknown {what} {name:?}"),
            );
        };
        // Interface lists and their members.
        unique(
            self.out,
            "interface list",
            r.interface_lists
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("router.interface_lists[{i}].name"), l.name.as_str())),
        );
        for (i, l) in r.interface_lists.iter().enumerate() {
            for (field, names) in [("include", &l.include), ("exclude", &l.exclude)] {
                for (j, n) in names.iter().enumerate() {
                    if !lists.contains(n.as_str()) {
                        let path = format!("router.interface_lists[{i}].{field}[{j}]");
                        dangling(self, path, "interface list", n.as_str());
                    }
                }
            }
        }
        let member_keys: Vec<(String, String)> = r
            .interface_list_members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                (
                    format!("router.interface_list_members[{i}]"),
                    format!("{} in {}", m.interface.as_str(), m.list.as_str()),
                )
            })
            .collect();
        unique(
            self.out,
            "list member",
            member_keys.iter().map(|(p, k)| (p.clone(), k.as_str())),
        );
        for (i, m) in r.interface_list_members.iter().enumerate() {
            if !lists.contains(m.list.as_str()) {
                let path = format!("router.interface_list_members[{i}].list");
                dangling(self, path, "interface list", m.list.as_str());
            }
            let name = m.interface.as_str();
            if !interfaces.contains(name) && !lists.contains(name) {
                let path = format!("router.interface_list_members[{i}].interface");
                dangling(self, path, "interface", name);
            }
        }
        // WireGuard peers sit on a WireGuard interface; one peer per key and interface.
        let wg: HashSet<&str> = r
            .wireguard
            .interfaces
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        let peer_keys: Vec<(String, String)> = r
            .wireguard
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    format!("router.wireguard.peers[{i}].public_key"),
                    format!("{} on {}", p.public_key, p.interface.as_str()),
                )
            })
            .collect();
        unique(
            self.out,
            "WireGuard peer",
            peer_keys.iter().map(|(p, k)| (p.clone(), k.as_str())),
        );
        for (i, p) in r.wireguard.peers.iter().enumerate() {
            if !wg.contains(p.interface.as_str()) {
                let path = format!("router.wireguard.peers[{i}].interface");
                dangling(self, path, "WireGuard interface", p.interface.as_str());
            }
        }
        // VRRP: on an interface; a group authority is another VRRP interface (or itself).
        let vrrp: HashSet<&str> = r.vrrp.iter().map(|v| v.name.as_str()).collect();
        for (i, v) in r.vrrp.iter().enumerate() {
            if !interfaces.contains(v.interface.as_str()) {
                let path = format!("router.vrrp[{i}].interface");
                dangling(self, path, "interface", v.interface.as_str());
            }
            if let Some(g) = &v.group_authority
                && g.as_str() != "self"
                && !vrrp.contains(g.as_str())
            {
                let path = format!("router.vrrp[{i}].group_authority");
                dangling(self, path, "VRRP interface", g.as_str());
            }
        }
        // Routes: one per destination, gateway and table.
        for (base, routes, v6) in [
            ("router.routes", &r.routes, false),
            ("router.ipv6.routes", &r.ipv6.routes, true),
        ] {
            let keys: Vec<(String, String)> = routes
                .iter()
                .enumerate()
                .map(|(i, rt)| (format!("{base}[{i}]"), route_key(rt, v6)))
                .collect();
            unique(
                self.out,
                "route",
                keys.iter().map(|(p, k)| (p.clone(), k.as_str())),
            );
            for (i, rt) in routes.iter().enumerate() {
                if let Some(d) = rt.dst_address
                    && d.0.addr().is_ipv6() != v6
                {
                    self.err(
                        "address-family",
                        format!("{base}[{i}].dst_address"),
                        format!("{d} is not an IPv{} network", if v6 { 6 } else { 4 }),
                    );
                }
            }
        }
        // IPv6 addresses on known interfaces, IPv6 only, not twice.
        let keys: Vec<(String, String)> = r
            .ipv6
            .addresses
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    format!("router.ipv6.addresses[{i}]"),
                    format!("{} on {}", a.address, a.interface.as_str()),
                )
            })
            .collect();
        unique(
            self.out,
            "IPv6 address",
            keys.iter().map(|(p, k)| (p.clone(), k.as_str())),
        );
        for (i, a) in r.ipv6.addresses.iter().enumerate() {
            if !a.address.0.addr().is_ipv6() {
                self.err(
                    "address-family",
                    format!("router.ipv6.addresses[{i}].address"),
                    format!("{} is not an IPv6 address", a.address),
                );
            }
            if !interfaces.contains(a.interface.as_str()) {
                let path = format!("router.ipv6.addresses[{i}].interface");
                dangling(self, path, "interface", a.interface.as_str());
            }
        }
        // DHCP clients: one per interface, on a known one.
        unique(
            self.out,
            "DHCP client interface",
            r.dhcp_clients.iter().enumerate().map(|(i, c)| {
                (
                    format!("router.dhcp_clients[{i}].interface"),
                    c.interface.as_str(),
                )
            }),
        );
        for (i, c) in r.dhcp_clients.iter().enumerate() {
            if !interfaces.contains(c.interface.as_str()) {
                let path = format!("router.dhcp_clients[{i}].interface");
                dangling(self, path, "interface", c.interface.as_str());
            }
        }
        if let Some(nd) = &r.neighbor_discovery
            && let Some(l) = &nd.discover_interface_list
            && !lists.contains(l.as_str())
        {
            let path = "router.neighbor_discovery.discover_interface_list".to_owned();
            dangling(self, path, "interface list", l.as_str());
        }
        // Names and addresses that identify entries.
        unique(
            self.out,
            "NTP server",
            r.ntp_client_servers.iter().enumerate().map(|(i, s)| {
                (
                    format!("router.ntp_client_servers[{i}].address"),
                    s.address.as_str(),
                )
            }),
        );
        unique(
            self.out,
            "script",
            r.scripts
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("router.scripts[{i}].name"), s.name.as_str())),
        );
        unique(
            self.out,
            "scheduler task",
            r.scheduler
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("router.scheduler[{i}].name"), s.name.as_str())),
        );
    }
}
