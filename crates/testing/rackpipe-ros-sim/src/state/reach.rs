//! The reachability rule: management path over ports, bonds, bridges, VLANs, services and firewall.

use std::net::Ipv4Addr;

use super::keys::SIM_CERTIFICATE;
use super::{Entry, Router};
use crate::Management;
use crate::schema;

impl Router {
    /// Whether the management client can still reach the REST API (see the crate docs).
    pub fn reachable(&self) -> Result<(), String> {
        if self.forced_unreachable {
            return Err("forced unreachable by /__sim/reachable".to_owned());
        }
        if self.rebooting() {
            return Err("rebooting".to_owned());
        }
        if let Some(cached) = self.reach_cache.borrow().as_ref() {
            return cached.clone();
        }
        let result = self.compute_reachable();
        self.reach_cache.replace(Some(result.clone()));
        result
    }

    fn compute_reachable(&self) -> Result<(), String> {
        if let Some(served) = &self.tls_fingerprint {
            // HTTPS needs the certificate the simulator serves, with its private key, in
            // /certificate (whatever name www-ssl gives it: the simulator has one identity).
            let usable = self.table("/certificate").iter().any(|e| {
                e.props.get("fingerprint") == Some(served.as_str())
                    && e.props.get("private-key") == Some("true")
            });
            if !usable {
                return Err(format!(
                    "/ip/service www-ssl: the certificate it serves ({SIM_CERTIFICATE}, sha256 {served}) is no longer in /certificate with its private key (no TLS handshake)"
                ));
            }
        }
        let Some(mgmt) = &self.management else {
            return Ok(());
        };
        let Some(client) = schema::parse_ip(&mgmt.client) else {
            return Ok(());
        };
        self.path_to_client(mgmt, client)?;
        let service = if self.tls { "www-ssl" } else { "www" };
        let svc = self
            .table("/ip/service")
            .iter()
            .find(|e| e.props.get("name") == Some(service));
        if let Some(svc) = svc {
            if svc.props.get("disabled") == Some("true") {
                return Err(format!("/ip/service {service} is disabled"));
            }

            if let Some(allowed) = svc.props.get("address").filter(|a| !a.is_empty())
                && !allowed
                    .split(',')
                    .any(|cidr| schema::cidr_contains(cidr, client))
            {
                return Err(format!(
                    "/ip/service {service} address={allowed} excludes {client}"
                ));
            }
        }
        self.firewall_allows(mgmt, client)
    }

    fn enabled(entry: &Entry) -> bool {
        entry.props.get("disabled") != Some("true")
    }

    /// An enabled address in the client's subnet on an interface that carries the client's
    /// frames (untagged, or tagged with `mgmt.vlan`) from the management port.
    fn path_to_client(&self, mgmt: &Management, client: Ipv4Addr) -> Result<(), String> {
        let port = self
            .table("/interface/ethernet")
            .iter()
            .find(|e| e.props.get("default-name") == Some(mgmt.port.as_str()))
            .ok_or_else(|| format!("management port {} does not exist", mgmt.port))?;
        if !Self::enabled(port) {
            return Err(format!("management port {} is disabled", mgmt.port));
        }
        let port_name = port.props.get("name").unwrap_or("").to_owned();
        // The port may be a bond slave: frames then arrive on the bond.
        let bond = self.table("/interface/bonding").iter().find(|b| {
            Self::enabled(b)
                && b.props
                    .get("slaves")
                    .is_some_and(|s| s.split(',').any(|n| n == port_name))
        });
        let ingress = bond
            .and_then(|b| b.props.get("name"))
            .unwrap_or(&port_name)
            .to_owned();
        let bridge_port = self
            .table("/interface/bridge/port")
            .iter()
            .find(|p| Self::enabled(p) && p.props.get("interface") == Some(ingress.as_str()));
        let candidates = self.table("/ip/address").iter().filter(|a| {
            Self::enabled(a)
                && a.props
                    .get("address")
                    .and_then(schema::parse_cidr)
                    .is_some_and(|(ip, len)| {
                        schema::network_of(ip, len) == schema::network_of(client, len)
                            && ip != client
                    })
        });
        for address in candidates {
            let iface = address.props.get("interface").unwrap_or("");
            if self.l3_reaches(iface, &ingress, bridge_port, mgmt.vlan) {
                return Ok(());
            }
        }
        Err(format!(
            "no enabled /ip/address in {}'s subnet on an interface reachable from {}{}",
            client,
            mgmt.port,
            mgmt.vlan
                .map(|v| format!(" (vlan {v})"))
                .unwrap_or_default()
        ))
    }

    fn l3_reaches(
        &self,
        iface: &str,
        ingress: &str,
        bridge_port: Option<&Entry>,
        vlan: Option<u16>,
    ) -> bool {
        let Some((kind, entry)) = self.interface_kind(iface) else {
            return false;
        };
        if !Self::enabled(entry) {
            return false;
        }
        match (kind, vlan) {
            // Untagged frames straight on the port (or bond) that is not a bridge port.
            ("/interface/ethernet" | "/interface/bonding", None) => {
                iface == ingress && bridge_port.is_none()
            }
            ("/interface/bridge", None) => self.bridge_carries(entry, bridge_port, None),
            ("/interface/vlan", Some(tag)) => {
                if entry.props.get("vlan-id") != Some(tag.to_string().as_str()) {
                    return false;
                }
                let parent = entry.props.get("interface").unwrap_or("");
                match self.interface_kind(parent) {
                    Some(("/interface/bridge", bridge)) => {
                        Self::enabled(bridge) && self.bridge_carries(bridge, bridge_port, Some(tag))
                    }
                    Some((_, p)) => Self::enabled(p) && parent == ingress && bridge_port.is_none(),
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// Whether `bridge` passes the client's frames (untagged or `tag`) from `port` to the
    /// bridge's own interface, honouring `vlan-filtering`.
    fn bridge_carries(&self, bridge: &Entry, port: Option<&Entry>, tag: Option<u16>) -> bool {
        let Some(port) = port else { return false };
        let name = bridge.props.get("name").unwrap_or("");
        if port.props.get("bridge") != Some(name) {
            return false;
        }
        if bridge.props.get("vlan-filtering") != Some("true") {
            return true;
        }
        let port_iface = port.props.get("interface").unwrap_or("");
        let pvid: u16 = port
            .props
            .get("pvid")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let bridge_pvid: u16 = bridge
            .props
            .get("pvid")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let frame_types = port.props.get("frame-types").unwrap_or("admit-all");
        let vid = match tag {
            None if frame_types == "admit-only-vlan-tagged" => return false,
            None => pvid,
            Some(_) if frame_types == "admit-only-untagged-and-priority-tagged" => return false,
            Some(t) => t,
        };
        let member =
            |list: Option<&str>, who: &str| list.is_some_and(|l| l.split(',').any(|n| n == who));
        let vlan_rows: Vec<&Entry> = self
            .table("/interface/bridge/vlan")
            .iter()
            .filter(|v| {
                Self::enabled(v)
                    && v.props.get("bridge") == Some(name)
                    && vlan_ids_contain(v.props.get("vlan-ids").unwrap_or(""), vid)
            })
            .collect();
        // Ingress filtering: the port must be a member of the VLAN (pvid counts as dynamic untagged).
        let port_member = tag.is_none() && vid == pvid
            || vlan_rows.iter().any(|v| {
                member(v.props.get("tagged"), port_iface)
                    || member(v.props.get("untagged"), port_iface)
            });
        if !port_member && port.props.get("ingress-filtering") != Some("false") {
            return false;
        }
        // The bridge interface itself: untagged when vid is its pvid, else it must be tagged.
        if tag.is_none() {
            vid == bridge_pvid
        } else {
            vlan_rows
                .iter()
                .any(|v| member(v.props.get("tagged"), name))
        }
    }

    /// Walks the input chain for a new TCP connection from the client to the API port.
    fn firewall_allows(&self, mgmt: &Management, client: Ipv4Addr) -> Result<(), String> {
        let port = if self.tls { "443" } else { "80" };
        let svc_port = self
            .table("/ip/service")
            .iter()
            .find(|e| e.props.get("name") == Some(if self.tls { "www-ssl" } else { "www" }))
            .and_then(|e| e.props.get("port"))
            .unwrap_or(port)
            .to_owned();
        let in_iface = self.ingress_l3_name(mgmt);
        for (index, rule) in self.table("/ip/firewall/filter").iter().enumerate() {
            if !Self::enabled(rule) || rule.props.get("chain") != Some("input") {
                continue;
            }
            let mut matches = true;
            for (key, value) in rule.props.iter() {
                let (negated, value) = match value.strip_prefix('!') {
                    Some(v) => (true, v),
                    None => (false, value),
                };
                let hit = match key {
                    "chain" | "action" | "comment" | "disabled" | "log" | "log-prefix" | "reject-with" | "jump-target" => continue,
                    "src-address" => schema::cidr_contains(value, client),
                    "protocol" => value == "tcp" || value == "6",
                    "dst-port" | "port" => value.split(',').any(|p| match p.split_once('-') {
                        Some((a, b)) => (a..=b).contains(&svc_port.as_str()) || matches!((a.parse::<u16>(), b.parse::<u16>(), svc_port.parse::<u16>()), (Ok(a), Ok(b), Ok(s)) if (a..=b).contains(&s)),
                        None => p == svc_port,
                    }),
                    "connection-state" => value.split(',').any(|s| s == "new"),
                    "in-interface" => in_iface.as_deref() == Some(value),
                    "src-address-list" => self.table("/ip/firewall/address-list").iter().any(|e| {
                        Self::enabled(e) && e.props.get("list") == Some(value) && e.props.get("address").is_some_and(|a| schema::cidr_contains(a, client))
                    }),
                    // Matchers the simulator does not evaluate never match.
                    _ => false,
                };
                if hit == negated {
                    matches = false;
                    break;
                }
            }
            if !matches {
                continue;
            }
            match rule.props.get("action").unwrap_or("accept") {
                "accept" => return Ok(()),
                "drop" | "reject" | "tarpit" => {
                    return Err(format!(
                        "/ip/firewall/filter rule {index} (*{:X}) drops the API connection",
                        rule.id
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The L3 interface name the client's packets arrive on (best effort).
    fn ingress_l3_name(&self, mgmt: &Management) -> Option<String> {
        let client = schema::parse_ip(&mgmt.client)?;
        self.table("/ip/address")
            .iter()
            .find(|a| {
                Self::enabled(a)
                    && a.props
                        .get("address")
                        .and_then(schema::parse_cidr)
                        .is_some_and(|(ip, len)| {
                            schema::network_of(ip, len) == schema::network_of(client, len)
                        })
            })
            .and_then(|a| a.props.get("interface").map(str::to_owned))
    }
}

fn vlan_ids_contain(list: &str, vid: u16) -> bool {
    list.split(',').any(|part| {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&vid))
    })
}
