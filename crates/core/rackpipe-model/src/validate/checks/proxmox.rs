//! The `proxmox` section: API node, nodes, storages, pools, templates and guests.

use super::{Checker, suspicious_repeats, unique};
use crate::types::Name;

impl Checker<'_> {
    pub(super) fn proxmox(&mut self) {
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
}
