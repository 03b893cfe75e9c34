//! Interfaces: ethernet ports, bonds, bridges (ports, VLANs) and VLAN interfaces.

use std::collections::HashSet;
use std::str::FromStr;

use rackpipe_model::router::{
    Bond, BondMode, Bridge, BridgePort, BridgeVlan, Ethernet, FrameTypes, StpMode, Vlan,
};
use rackpipe_model::types::Name;

use super::fit::{Fit, enum_word, yes_no};
use super::mapper::Mapper;
use crate::import::source::EntryKind;

impl Mapper<'_> {
    pub(super) fn interfaces(&mut self) {
        let ethernet = self.each("/interface/ethernet", EntryKind::Existing, |_, _, f| {
            let default_name: Name = f.need("default-name")?;
            let name: Option<Name> = f.opt("name")?;
            Ok(Ethernet {
                name: name.filter(|n| *n != default_name),
                default_name,
                comment: f.comment(),
                mtu: f.mtu()?,
                l2mtu: f.opt("l2mtu")?,
                speed: f.get("speed").map(str::to_owned),
                advertise: f.get("advertise").map(str::to_owned),
                auto_negotiation: yes_no(f, "auto-negotiation")?,
                rx_flow_control: f.get_live("rx-flow-control", "off").map(str::to_owned),
                tx_flow_control: f.get_live("tx-flow-control", "off").map(str::to_owned),
                fec_mode: f.get("fec-mode").map(str::to_owned),
                disabled: f.flag("disabled")?,
            })
        });
        for (i, e) in ethernet {
            self.origin(
                format!("router.ethernet[{}]", self.router.ethernet.len()),
                "/interface/ethernet",
                i,
            );
            self.router.ethernet.push(e);
        }
        let bonds = self.each("/interface/bonding", EntryKind::Add, |m, _, f| {
            let mode = match f.get("mode") {
                Some(v) => enum_word::<BondMode>(v)?,
                None => {
                    m.choices
                        .push("a bond without `mode` is balance-rr, RouterOS's default".to_owned());
                    BondMode::BalanceRr
                }
            };
            let slaves: Vec<Name> = f.list("slaves")?;
            if slaves.is_empty() {
                return Err("no `slaves`".to_owned());
            }
            Ok(Bond {
                name: f.need("name")?,
                slaves,
                mode,
                transmit_hash_policy: f.get("transmit-hash-policy").map(str::to_owned),
                mtu: f.mtu()?,
                comment: f.comment(),
            })
        });
        for (i, b) in bonds {
            self.origin(
                format!("router.bonds[{}]", self.router.bonds.len()),
                "/interface/bonding",
                i,
            );
            self.router.bonds.push(b);
        }
        let bridges = self.each("/interface/bridge", EntryKind::Add, |_, _, f| {
            Ok(Bridge {
                name: f.need("name")?,
                comment: f.comment(),
                vlan_filtering: f.flag("vlan-filtering")?,
                protocol_mode: f
                    .get_live("protocol-mode", "rstp")
                    .map(enum_word::<StpMode>)
                    .transpose()?,
                dhcp_snooping: f.flag("dhcp-snooping")?,
                igmp_snooping: f.flag("igmp-snooping")?,
                admin_mac: f.opt("admin-mac")?,
                auto_mac: yes_no(f, "auto-mac")?,
                mtu: f.mtu()?,
                ports: Vec::new(),
                vlans: Vec::new(),
            })
        });
        for (i, b) in bridges {
            self.origin(
                format!("router.bridges[{}]", self.router.bridges.len()),
                "/interface/bridge",
                i,
            );
            self.router.bridges.push(b);
        }
        let vlans = self.each("/interface/vlan", EntryKind::Add, |_, _, f| {
            Ok(Vlan {
                name: f.need("name")?,
                interface: f.need("interface")?,
                vlan_id: f.need("vlan-id")?,
                mtu: f.mtu()?,
                comment: f.comment(),
            })
        });
        for (i, v) in vlans {
            self.origin(
                format!("router.vlans[{}]", self.router.vlans.len()),
                "/interface/vlan",
                i,
            );
            self.router.vlans.push(v);
        }
        let bridge_names: Vec<String> = self
            .router
            .bridges
            .iter()
            .map(|b| b.name.to_string())
            .collect();
        let bridge_of = |f: &mut Fit<'_>| -> Result<usize, String> {
            let name = f.req("bridge")?;
            bridge_names
                .iter()
                .position(|b| b == name)
                .ok_or_else(|| format!("its bridge `{name}` is not a typed bridge"))
        };
        let ports = self.each("/interface/bridge/port", EntryKind::Add, |_, _, f| {
            let bridge = bridge_of(f)?;
            let frame_types = f
                .get_live("frame-types", "admit-all")
                .map(enum_word::<FrameTypes>)
                .transpose()?;
            let pvid = f.get_live("pvid", "1");
            Ok((
                bridge,
                BridgePort {
                    interface: f.need("interface")?,
                    pvid: f.parse("pvid", pvid)?,
                    frame_types,
                    trusted: f.flag("trusted")?,
                    multicast_router: f
                        .get_live("multicast-router", "temporary-query")
                        .map(str::to_owned),
                    comment: f.comment(),
                },
            ))
        });
        for (i, (b, p)) in ports {
            let bridge = &mut self.router.bridges[b];
            let path = format!("router.bridges[{b}].ports[{}]", bridge.ports.len());
            bridge.ports.push(p);
            self.origin(path, "/interface/bridge/port", i);
        }
        let vlans = self.each("/interface/bridge/vlan", EntryKind::Add, |_, _, f| {
            let bridge = bridge_of(f)?;
            Ok((
                bridge,
                BridgeVlan {
                    vlan_ids: f.list("vlan-ids")?,
                    tagged: f.list("tagged")?,
                    untagged: f.list("untagged")?,
                    comment: f.comment(),
                },
            ))
        });
        for (i, (b, v)) in vlans {
            if v.vlan_ids.is_empty() {
                continue;
            }
            let bridge = &mut self.router.bridges[b];
            let path = format!("router.bridges[{b}].vlans[{}]", bridge.vlans.len());
            bridge.vlans.push(v);
            self.origin(path, "/interface/bridge/vlan", i);
        }
    }

    /// Ethernet ports other typed fields name that the export does not list (it prints only
    /// changed ports): listed with their factory settings, so references resolve.
    pub(super) fn factory_ports(&mut self) {
        if self.live {
            return;
        }
        let mut defined: HashSet<String> = HashSet::new();
        for e in &self.router.ethernet {
            defined.insert(e.interface_name().to_string());
            defined.insert(e.default_name.to_string());
        }
        for m in &self.source.menus {
            if m.path.starts_with("/interface/") && m.path.matches('/').count() == 2 {
                for e in &m.entries {
                    if let Some(n) = e.props.get("name") {
                        defined.insert(n.to_owned());
                    }
                }
            }
        }
        let r = &self.router;
        let mut wanted: Vec<String> = Vec::new();
        let mut want = |n: &Name| {
            if !wanted.iter().any(|w| w == n.as_str()) {
                wanted.push(n.to_string());
            }
        };
        r.bonds.iter().flat_map(|b| &b.slaves).for_each(&mut want);
        r.bridges
            .iter()
            .flat_map(|b| &b.ports)
            .for_each(|p| want(&p.interface));
        r.vlans.iter().for_each(|v| want(&v.interface));
        r.addresses.iter().for_each(|a| want(&a.interface));
        r.dhcp.servers.iter().for_each(|s| want(&s.interface));
        let factory = |n: &str| {
            ["ether", "sfp", "combo", "qsfp"]
                .iter()
                .any(|p| n.starts_with(p))
        };
        for name in wanted {
            if defined.contains(&name) || !factory(&name) {
                continue;
            }
            let Ok(default_name) = Name::from_str(&name) else {
                continue;
            };
            let path = format!("router.ethernet[{}]", self.router.ethernet.len());
            self.comment(
                path,
                "not in the export (factory settings); listed because other entries name it"
                    .to_owned(),
            );
            self.router.ethernet.push(Ethernet {
                default_name,
                name: None,
                comment: None,
                mtu: None,
                l2mtu: None,
                speed: None,
                advertise: None,
                auto_negotiation: None,
                rx_flow_control: None,
                tx_flow_control: None,
                fec_mode: None,
                disabled: false,
            });
        }
    }
}
