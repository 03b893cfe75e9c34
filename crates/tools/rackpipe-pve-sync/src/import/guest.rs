//! One `proxmox.guests` entry from a guest's config: disks, NICs, cloud-init, what is not imported.

use std::collections::BTreeSet;
use std::str::FromStr;

use rackpipe_model::proxmox::{
    CloudInit, Disk, Features, Guest, GuestKind, GuestSource, Nic, Template,
};
use rackpipe_model::types::{Name, SecretRef, Size};
use rackpipe_proxmox::normalize::{decode_percent, parse_property_string, parse_size};
use rackpipe_proxmox::{ClusterResource, GuestConfig, GuestType};

use super::cluster::Read;
use super::{Options, SecretEntry};
use crate::OWNER_TAG;

/// Config keys Proxmox writes itself or that only describe the guest's make-up, not a
/// setting a site states: not reported as missing.
const GENERATED: &[&str] = &[
    "digest", "vmgenid", "smbios1", "meta", "arch", "ostype", "boot", "scsihw", "lock", "parent",
    "template", "cpuunits", "agent", "unused0",
];

/// Config keys the model describes.
const MODELLED: &[&str] = &[
    "cores",
    "memory",
    "swap",
    "onboot",
    "protection",
    "tags",
    "description",
    "name",
    "hostname",
    "features",
    "unprivileged",
    "ciuser",
    "sshkeys",
];

pub(crate) fn label(r: &ClusterResource, name: &str) -> String {
    format!(
        "{name} ({} {})",
        r.kind,
        r.vmid.map(|v| v.to_string()).unwrap_or_default()
    )
}

/// Builds one guest; `Err` lists why it cannot be in the site at all.
pub(crate) struct Built {
    pub(crate) guest: Guest,
    pub(crate) missing: Vec<String>,
    pub(crate) comments: Vec<(String, String)>,
    pub(crate) secrets: Vec<SecretEntry>,
    /// SSH key reference → key, for the plan check.
    pub(crate) keys: Vec<(String, String)>,
}

fn flag(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "1")
}

#[allow(clippy::too_many_lines)]
pub(crate) fn build_guest(
    r: &ClusterResource,
    config: &GuestConfig,
    read: &Read,
    templates: &[Template],
    ha: bool,
    options: &Options,
    idx: usize,
) -> Result<Built, Vec<String>> {
    let kind = if r.kind == "lxc" {
        GuestType::Lxc
    } else {
        GuestType::Qemu
    };
    let c = &config.values;
    let vmid = r.vmid.unwrap_or_default();
    let name_key = match kind {
        GuestType::Lxc => "hostname",
        GuestType::Qemu => "name",
    };
    let raw_name = c
        .get(name_key)
        .cloned()
        .or_else(|| r.name.clone())
        .unwrap_or_else(|| format!("guest-{vmid}"));
    let name = Name::from_str(&raw_name).map_err(|e| vec![format!("{name_key}: {e}")])?;
    let node_s = r.node.clone().unwrap_or_default();
    let node = Name::from_str(&node_s).map_err(|e| vec![format!("node: {e}")])?;
    let field = format!("proxmox.guests[{idx}]");
    let mut missing = Vec::new();
    let mut comments = Vec::new();
    let mut secrets = Vec::new();
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    let num = |k: &str, default: u32| -> u32 {
        c.get(k)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(default)
    };
    // Disks and NICs.
    let mut disks = Vec::new();
    let mut nics = Vec::new();
    let mut linked_base = None;
    let mut handled: BTreeSet<&str> = BTreeSet::new();
    for (key, value) in c {
        let is_disk = match kind {
            GuestType::Lxc => key == "rootfs" || indexed(key, "mp"),
            GuestType::Qemu => ["scsi", "virtio", "sata", "ide"]
                .iter()
                .any(|b| indexed(key, b)),
        };
        if is_disk {
            handled.insert(key);
            let Ok(map) = parse_property_string(kind, key, value) else {
                problems.push(format!("{key}: cannot parse {value:?}"));
                continue;
            };
            if map.get("media").is_some_and(|m| m == "cdrom") {
                if !value.contains("cloudinit") && !value.starts_with("none") {
                    missing.push(format!(
                        "{key} (a CD-ROM drive: the model has no field for it)"
                    ));
                }
                continue;
            }
            let volume_key = if kind == GuestType::Lxc {
                "volume"
            } else {
                "file"
            };
            let vol = map.get(volume_key).cloned().unwrap_or_default();
            let Some((storage, volname)) = vol.split_once(':') else {
                problems.push(format!(
                    "{key}: volume {vol:?} is not on a storage (a bind mount or a device)"
                ));
                continue;
            };
            if let Some(base) = volname
                .strip_prefix("base-")
                .and_then(|b| b.split('-').next())
                .and_then(|b| b.parse::<u32>().ok())
            {
                linked_base = Some(base);
            }
            let Ok(storage) = Name::from_str(storage) else {
                problems.push(format!("{key}: storage {storage:?} is not a name"));
                continue;
            };
            let bytes = map
                .get("size")
                .and_then(|s| parse_size(s).ok())
                .unwrap_or(0);
            let extra: Vec<&String> = map
                .keys()
                .filter(|k| !matches!(k.as_str(), "volume" | "file" | "size" | "mp"))
                .collect();
            if !extra.is_empty() {
                missing.push(format!(
                    "{key} options {} (the model has no field for them)",
                    extra
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            disks.push(Disk {
                slot: key.clone(),
                storage,
                size: Size(bytes),
                mountpoint: map.get("mp").cloned(),
            });
        } else if indexed(key, "net") {
            handled.insert(key);
            let Ok(map) = parse_property_string(kind, key, value) else {
                problems.push(format!("{key}: cannot parse {value:?}"));
                continue;
            };
            let Some(bridge) = map.get("bridge").and_then(|b| Name::from_str(b).ok()) else {
                problems.push(format!("{key}: no bridge"));
                continue;
            };
            let idx_s = key.trim_start_matches("net");
            let mac_key = if kind == GuestType::Lxc {
                "hwaddr"
            } else {
                "macaddr"
            };
            let ip = match kind {
                GuestType::Lxc => map.get("ip").cloned(),
                GuestType::Qemu => c.get(&format!("ipconfig{idx_s}")).and_then(|v| {
                    v.split(',')
                        .find_map(|p| p.strip_prefix("ip=").map(str::to_owned))
                }),
            };
            let address = ip
                .as_deref()
                .filter(|ip| *ip != "dhcp" && *ip != "manual")
                .and_then(|ip| ip.parse().ok());
            let known: &[&str] = match kind {
                GuestType::Lxc => &["name", "bridge", "hwaddr", "ip", "type", "firewall", "tag"],
                GuestType::Qemu => &["model", "macaddr", "bridge", "firewall", "tag"],
            };
            let extra: Vec<&str> = map
                .keys()
                .map(String::as_str)
                .filter(|k| !known.contains(k))
                .collect();
            if !extra.is_empty() {
                missing.push(format!(
                    "{key} options {} (the model has no field for them)",
                    extra.join(", ")
                ));
            }
            if kind == GuestType::Qemu && map.get("model").is_some_and(|m| m != "virtio") {
                problems.push(format!(
                    "{key}: NIC model {} (the model makes virtio NICs only)",
                    map.get("model").map_or("", String::as_str)
                ));
            }
            if kind == GuestType::Lxc
                && map.get("name").is_some_and(|n| *n != format!("eth{idx_s}"))
            {
                problems.push(format!(
                    "{key}: interface name {} (the model names it eth{idx_s})",
                    map.get("name").map_or("", String::as_str)
                ));
            }
            nics.push(Nic {
                slot: key.clone(),
                bridge,
                vlan: map.get("tag").and_then(|t| t.parse().ok()),
                mac: map.get(mac_key).and_then(|m| m.parse().ok()),
                firewall: flag(map.get("firewall")),
                address,
                static_address: address.is_some(),
                segment: None,
            });
        } else if indexed(key, "ipconfig") {
            handled.insert(key);
            let extra: Vec<&str> = value.split(',').filter(|p| !p.starts_with("ip=")).collect();
            if !extra.is_empty() {
                missing.push(format!(
                    "{key} {} (the model has no field for it)",
                    extra.join(",")
                ));
            }
        }
    }
    // Cloud-init.
    let cloud_init = match (kind, c.get("ciuser")) {
        (GuestType::Qemu, Some(user)) => {
            let mut refs = Vec::new();
            if let Some(enc) = c.get("sshkeys") {
                let decoded = decode_percent(enc);
                for (ki, key) in decoded.lines().filter(|l| !l.trim().is_empty()).enumerate() {
                    let reference = format!(
                        "{}_{}_{}",
                        options.secret_prefix,
                        env_part(name.as_str()),
                        ki
                    );
                    let Ok(sr) = SecretRef::from_str(&reference) else {
                        problems.push(format!("sshkeys: reference {reference} does not parse"));
                        continue;
                    };
                    secrets.push(SecretEntry {
                        reference: reference.clone(),
                        guest: label(r, name.as_str()),
                        property: format!("sshkeys[{ki}]"),
                        in_site: true,
                    });
                    keys.push((reference, key.trim().to_owned()));
                    refs.push(sr);
                }
            }
            Some(CloudInit {
                user: user.clone(),
                ssh_keys: refs,
            })
        }
        (_, None) if c.contains_key("sshkeys") => {
            missing.push("sshkeys without ciuser (the model sets keys with a user)".to_owned());
            None
        }
        _ => None,
    };
    if c.contains_key("cipassword") {
        let reference = format!(
            "{}_{}_CIPASSWORD",
            options
                .secret_prefix
                .trim_end_matches("_SSH_KEY")
                .trim_end_matches("SSH_KEY"),
            env_part(name.as_str())
        );
        secrets.push(SecretEntry {
            reference,
            guest: label(r, name.as_str()),
            property: "cipassword".to_owned(),
            in_site: false,
        });
        missing.push("cipassword (a secret: not read; the model has no field for it)".to_owned());
    }
    // Settings the model lacks.
    for key in c.keys() {
        if handled.contains(key.as_str())
            || MODELLED.contains(&key.as_str())
            || GENERATED.contains(&key.as_str())
            || key == "cipassword"
            || indexed(key, "unused")
        {
            continue;
        }
        missing.push(format!(
            "{key}={} (the model has no field for it)",
            shown(key, &c[key])
        ));
    }
    // Features.
    let features = match (kind, c.get("features")) {
        (GuestType::Lxc, Some(f)) => {
            let mut out = Features::default();
            for part in f.split(',') {
                match part.split_once('=') {
                    Some(("nesting", v)) => out.nesting = v == "1",
                    Some(("keyctl", v)) => out.keyctl = v == "1",
                    Some(("fuse", v)) => out.fuse = v == "1",
                    _ => missing.push(format!("features {part} (the model has no field for it)")),
                }
            }
            Some(out)
        }
        _ => None,
    };
    // Source.
    let source = match kind {
        GuestType::Lxc => {
            let reach = |storage: &str| {
                read.storages
                    .iter()
                    .any(|s| s.name.as_str() == storage && s.shared)
            };
            let t = templates
                .iter()
                .find(|t| t.node == node || reach(t.storage.as_str()));
            match t {
                Some(t) => {
                    comments.push((
                        format!("{field}.source"),
                        format!(
                            "Proxmox does not record a container's template: {} chosen",
                            t.name
                        ),
                    ));
                    Some(GuestSource::Template(t.name.clone()))
                }
                None => {
                    problems.push("source: no container template on a storage its node reaches (the model needs one)".to_owned());
                    None
                }
            }
        }
        GuestType::Qemu => {
            let template = linked_base.map(|b| (b, false)).or_else(|| {
                let ts: Vec<&ClusterResource> = read
                    .observed
                    .guests
                    .values()
                    .filter(|g| g.template && g.kind == "qemu")
                    .collect();
                ts.iter()
                    .find(|g| g.node.as_deref() == Some(node_s.as_str()))
                    .or(ts.first())
                    .and_then(|g| g.vmid)
                    .map(|v| (v, true))
            });
            match template {
                Some((v, full)) => {
                    if full {
                        comments.push((
                            format!("{field}.source"),
                            format!("Proxmox does not record a full clone's template: VM template {v} chosen"),
                        ));
                    }
                    Some(GuestSource::Clone { vmid: v, full })
                }
                None => {
                    problems.push("source: no VM template in the cluster (the model makes VMs by cloning one)".to_owned());
                    None
                }
            }
        }
    };
    if kind == GuestType::Lxc && !disks.iter().any(|d| d.slot == "rootfs") {
        problems.push("rootfs: none on a storage".to_owned());
    }
    if disks.is_empty() {
        problems.push("disks: none on a storage (the model needs one)".to_owned());
    }
    let (Some(source), true) = (source, problems.is_empty()) else {
        problems.extend(missing);
        return Err(problems);
    };
    let running = if ha {
        read.observed
            .ha
            .get(&format!(
                "{}:{vmid}",
                if kind == GuestType::Lxc { "ct" } else { "vm" }
            ))
            .is_some_and(|s| s == "started")
    } else {
        r.status.as_deref() == Some("running")
    };
    let mut tags: Vec<String> = c
        .get("tags")
        .map(|t| {
            t.split(|ch: char| ch == ';' || ch == ',' || ch.is_whitespace())
                .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(OWNER_TAG))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    tags.dedup();
    let guest = Guest {
        name,
        fqdn: None,
        kind: match kind {
            GuestType::Lxc => GuestKind::Lxc,
            GuestType::Qemu => GuestKind::Qemu,
        },
        vmid: Some(vmid),
        node,
        pool: r.pool.as_deref().and_then(|p| Name::from_str(p).ok()),
        cores: u16::try_from(num("cores", 1)).unwrap_or(1),
        memory_mib: num("memory", 512),
        swap_mib: if kind == GuestType::Lxc {
            num("swap", 512)
        } else {
            0
        },
        disks,
        nics,
        source,
        unprivileged: kind == GuestType::Qemu || flag(c.get("unprivileged")),
        features,
        tags,
        description: c.get("description").cloned(),
        onboot: flag(c.get("onboot")),
        protection: flag(c.get("protection")),
        running,
        ha,
        cloud_init,
    };
    Ok(Built {
        guest,
        missing,
        comments,
        secrets,
        keys,
    })
}

/// A config value in a report: long ones shortened (no secret reaches here: `cipassword` is
/// handled before).
fn shown(_key: &str, value: &str) -> String {
    if value.chars().count() > 60 {
        format!("{}...", value.chars().take(57).collect::<String>())
    } else {
        value.to_owned()
    }
}

fn env_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn indexed(key: &str, base: &str) -> bool {
    key.strip_prefix(base)
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
}
