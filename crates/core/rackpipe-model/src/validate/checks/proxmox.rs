//! The `proxmox` section: API node, nodes, storages, pools, templates and guests.

use super::{Checker, suspicious_repeats, unique};
use crate::proxmox::{Guest, GuestKind};
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
            self.guest_device_rules(i, g);
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
                        None if !self.known("segments") => {}
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
                            if seg.vlan.is_none()
                                && let Some(tag) = nic.vlan
                            {
                                self.err(
                                    "vlan-mismatch",
                                    format!("{base}.nics[{j}].vlan"),
                                    format!(
                                        "the NIC is tagged {tag} but segment {:?} is untagged (no vlan): Proxmox tags the guest's frames with VLAN {tag} on {:?} and they never reach {}",
                                        seg_name.as_str(),
                                        nic.bridge.as_str(),
                                        seg.cidr
                                    ),
                                );
                            }
                            if let Some(v) = seg.vlan
                                && seg.vlan != nic.vlan
                            {
                                let tag = nic.vlan.map_or_else(
                                    || "untagged".to_owned(),
                                    |t| format!("tagged {t}"),
                                );
                                self.err(
                                    "vlan-mismatch",
                                    format!("{base}.nics[{j}].vlan"),
                                    format!(
                                        "segment {:?} is on VLAN {v} but the NIC is {tag}",
                                        seg_name.as_str()
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

/// Highest index Proxmox VE accepts per slot prefix (its API schema: `scsi[n]` "n is 0 to 30",
/// `virtio[n]` 0 to 15, `sata[n]` 0 to 5, `ide[n]` 0 to 3; LXC `mp0-255`; `net0-31` for both).
const SLOT_LIMITS: [(&str, u32); 6] = [
    ("scsi", 30),
    ("virtio", 15),
    ("sata", 5),
    ("ide", 3),
    ("mp", 255),
    ("net", 31),
];

/// Why Proxmox would refuse `slot` (`scsi31`, `net32`), if it would.
fn slot_problem(slot: &str) -> Option<String> {
    let digits = slot.find(|c: char| c.is_ascii_digit())?;
    let (prefix, index) = slot.split_at(digits);
    let (_, max) = SLOT_LIMITS.iter().find(|(p, _)| *p == prefix)?;
    let n: u64 = index.parse().unwrap_or(u64::MAX);
    (n > u64::from(*max)).then(|| {
        format!("Proxmox VE has {prefix}0 to {prefix}{max} only and refuses {slot:?} (\"property is not defined in schema\")")
    })
}

/// Why `name` is not a DNS name as Proxmox VE's `dns-name` format reads it (labels of letters,
/// digits and inner hyphens, separated by single dots), if it is not.
pub(super) fn dns_name_problem(name: &str) -> Option<String> {
    if name.contains('_') {
        return Some("'_' is not allowed in a host name".to_owned());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("a host name has no empty label ('..' or a '.' at either end)".to_owned());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!("label {label:?} starts or ends with '-'"));
        }
    }
    None
}

impl Checker<'_> {
    /// What Proxmox VE itself refuses in one guest: its name as a host name, slot numbers, empty
    /// disks, mount points.
    fn guest_device_rules(&mut self, i: usize, g: &Guest) {
        let base = format!("proxmox.guests[{i}]");
        if let Some(why) = dns_name_problem(g.name.as_str()) {
            let field = match g.kind {
                GuestKind::Lxc => "hostname",
                GuestKind::Qemu => "name",
            };
            self.err(
                "guest-hostname",
                format!("{base}.name"),
                format!(
                    "{:?} becomes the guest's {field}, which Proxmox VE checks as a DNS name and refuses (\"value does not look like a valid DNS name\"): {why}",
                    g.name.as_str()
                ),
            );
        }
        for (j, d) in g.disks.iter().enumerate() {
            if let Some(why) = slot_problem(&d.slot) {
                self.err("slot-range", format!("{base}.disks[{j}].slot"), why);
            }
            if d.size.bytes() == 0 {
                self.err(
                    "disk-size",
                    format!("{base}.disks[{j}].size"),
                    "the size is 0: Proxmox VE allocates new volumes as STORAGE:SIZE_IN_GiB and reads STORAGE:0 as an import of an existing volume, which needs import-from",
                );
            }
            let mount_slot = d.slot.starts_with("mp");
            match &d.mountpoint {
                None if mount_slot => self.err(
                    "mountpoint",
                    format!("{base}.disks[{j}].slot"),
                    format!(
                        "mount point {:?} has no mountpoint: Proxmox VE requires mp=PATH for every mpN volume",
                        d.slot
                    ),
                ),
                Some(_) if !mount_slot => self.err(
                    "mountpoint",
                    format!("{base}.disks[{j}].mountpoint"),
                    format!(
                        "only container mount points (mpN) take a mountpoint; {:?} has none in Proxmox VE",
                        d.slot
                    ),
                ),
                Some(m) => self.file_path(format!("{base}.disks[{j}].mountpoint"), m),
                None => {}
            }
        }
        for (j, nic) in g.nics.iter().enumerate() {
            if let Some(why) = slot_problem(&nic.slot) {
                self.err("slot-range", format!("{base}.nics[{j}].slot"), why);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{dns_name_problem, slot_problem};

    #[test]
    fn guest_names_follow_proxmox_dns_name() {
        for good in ["vault-1", "k8s-w1", "a.b.c", "A1", "x"] {
            assert_eq!(dns_name_problem(good), None, "{good}");
        }
        for bad in ["runner_1", "k8s-w1-", "a..b", "a.", "a.-b"] {
            assert!(dns_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn slots_within_proxmox_limits() {
        for good in [
            "scsi0", "scsi30", "virtio15", "sata5", "ide3", "mp255", "net31", "rootfs",
        ] {
            assert_eq!(slot_problem(good), None, "{good}");
        }
        for bad in [
            "scsi31",
            "virtio16",
            "sata6",
            "ide4",
            "mp256",
            "net32",
            "net99999999999999999999",
        ] {
            assert!(slot_problem(bad).is_some(), "{bad}");
        }
    }
}
