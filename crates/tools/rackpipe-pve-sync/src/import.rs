//! `pve-sync import`: a site document whose `proxmox` section describes a running cluster, such
//! that `pve-sync plan` of it shows zero changes.
//!
//! The cluster is read the way `plan` reads it ([`crate::observe`]: one inventory call, then
//! every guest's config with bounded concurrency, HA resources when a guest is HA-managed),
//! plus the lists a site names: nodes, storages (`/cluster/resources?type=storage`), pools and
//! the container templates on the storages. Every guest becomes a `proxmox.guests` entry when
//! the model can hold it; the result is then checked the way it will be used: the site's
//! desired state ([`crate::desired`]) compared with the configs just read ([`crate::guest_ops`])
//! must be empty, and the YAML must read back as the same, valid site. A guest that fails the
//! check, or that the model cannot hold at all, is listed (report and a `#` comment), never
//! dropped silently; a guest with settings the model has no field for is imported with those
//! settings named as not imported.
//!
//! Secrets: the API token and the guests' SSH keys are written as references (`env:...`)
//! listed in the report; a cloud-init password is never read into the site, only named.
//! Nothing is printed unless the whole import succeeded.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use rackpipe_cli::driver::{Context, Secrets};
use rackpipe_cli::{CliError, ExitStatus};
use rackpipe_model::Site;
use rackpipe_model::proxmox::{
    CloudInit, Content, Disk, Features, Guest, GuestKind, GuestSource, Nic, PveApi, PveNode,
    PvePool, Storage, Template,
};
use rackpipe_model::types::{Name, SecretRef, Size};
use rackpipe_proxmox::normalize::{decode_percent, parse_property_string, parse_size};
use rackpipe_proxmox::{Client, ClusterResource, GuestConfig, GuestType};
use serde::Serialize;
use serde_json::{Value, json};

use crate::desired::{Desired, SecretSource};
use crate::observe::Observed;
use crate::tool::Conn;
use crate::{EnvFileSecrets, Error, OWNER_TAG, TOKEN_FIELD};

/// `pve-sync import`'s flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// How to reach the cluster (`--url` of a node's API is required).
    #[command(flatten)]
    pub conn: Conn,
    /// Where the API token comes from: a secret reference (`env:NAME`, `file:PATH`,
    /// `vault:MOUNT/PATH#KEY`), also written into the site as `proxmox.api.token`.
    #[arg(long, value_name = "REF", default_value = "env:PVE_TOKEN")]
    pub token: String,
    /// The site's `metadata.name` and `proxmox.cluster`.
    #[arg(long, value_name = "NAME", default_value = "imported")]
    pub name: String,
    /// The site's `metadata.domain`.
    #[arg(long, value_name = "DOMAIN", default_value = "example.invalid")]
    pub domain: String,
    /// How the references that stand for the guests' SSH keys are named: `env:PREFIX`
    /// gives `env:PREFIX_<GUEST>_<N>`.
    #[arg(long, value_name = "PREFIX", default_value = "env:PVE_SSH_KEY")]
    pub secret_prefix: String,
    /// Write the import report as JSON to FILE instead of as text on stderr. It never holds
    /// a secret value.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// What the import is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// The site's name (also the cluster's).
    pub name: String,
    /// The site's domain.
    pub domain: String,
    /// The API token reference written into the site.
    pub token: SecretRef,
    /// The address the API was reached at (the API node's address in the site).
    pub api_address: Option<IpAddr>,
    /// API port.
    pub api_port: u16,
    /// `env:PREFIX` for the SSH key references.
    pub secret_prefix: String,
    /// Config reads in flight at most.
    pub concurrency: usize,
}

/// A secret the import replaced by a reference, or named without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretEntry {
    /// The reference (written into the site, or to use when adding the setting).
    pub reference: String,
    /// The guest (`vm-a (qemu 301)`).
    pub guest: String,
    /// The config key (`sshkeys`, `cipassword`).
    pub property: String,
    /// Whether the reference is in the site (`false`: the model has no field for it).
    pub in_site: bool,
}

/// A guest that is not in the site, or is with settings left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotImported {
    /// The guest (`vm-a (qemu 301)`).
    pub guest: String,
    /// Whether the guest is in the site (with `missing` left out) or not at all.
    pub in_site: bool,
    /// What is missing, and why.
    pub missing: Vec<String>,
}

/// Guests by where they went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Guests read (templates excluded).
    pub guests: usize,
    /// In the site, fully described.
    pub imported: usize,
    /// In the site, some settings not imported.
    pub partly: usize,
    /// Not in the site.
    pub not_imported: usize,
}

/// What the import did: printed on stderr, or written as JSON with `--report FILE`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The cluster's URL.
    pub source: String,
    /// Guests by destination.
    pub counts: Counts,
    /// Every secret reference the user must store (or would use).
    pub secrets: Vec<SecretEntry>,
    /// Choices the import made, one line each.
    pub choices: Vec<String>,
    /// Guests not (fully) imported.
    pub not_imported: Vec<NotImported>,
}

impl Report {
    /// The report as lines for a person (stderr).
    #[must_use]
    pub fn human(&self) -> String {
        let c = &self.counts;
        let mut s = format!(
            "imported {}: {} guests, {} fully, {} partly, {} not imported\n",
            self.source, c.guests, c.imported, c.partly, c.not_imported
        );
        if !self.secrets.is_empty() {
            let _ = writeln!(
                s,
                "{} secrets are references; store each value there before plan/apply:",
                self.secrets.len()
            );
            for e in &self.secrets {
                let note = if e.in_site { "" } else { " (not in the site)" };
                let _ = writeln!(s, "  {}  <- {} {}{note}", e.reference, e.guest, e.property);
            }
        }
        for c in &self.choices {
            let _ = writeln!(s, "choice: {c}");
        }
        for n in &self.not_imported {
            let what = if n.in_site {
                "partly imported"
            } else {
                "not imported"
            };
            let _ = writeln!(s, "{what}: {}: {}", n.guest, n.missing.join("; "));
        }
        s
    }
}

/// An imported site: the model, its YAML and the report.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The site (validated).
    pub site: Site,
    /// The site as YAML with comments (what `import` prints).
    pub yaml: String,
    /// What the import did.
    pub report: Report,
}

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

struct Read {
    observed: Observed,
    nodes: Vec<String>,
    storages: Vec<Storage>,
    pools: Vec<PvePool>,
    /// (storage, node, file name) of every container template.
    templates: Vec<(String, String, String)>,
}

fn content_of(name: &str) -> Option<Content> {
    serde_json::from_value(json!(name)).ok()
}

async fn read(client: &Client, options: &Options) -> Result<Read, Error> {
    let none = Desired {
        guests: Vec::new(),
        templates: Vec::new(),
        pools: BTreeMap::new(),
    };
    let observed = crate::observe(client, &none, options.concurrency).await?;
    let nodes_v = client
        .get("/nodes", &rackpipe_proxmox::Params::new())
        .await
        .map_err(|e| Error::api("nodes (/nodes)", e))?;
    let mut nodes: Vec<String> = nodes_v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("node")?.as_str().map(str::to_owned))
        .collect();
    nodes.sort();
    let st = client
        .get(
            "/cluster/resources",
            &rackpipe_proxmox::Params::new().with("type", "storage"),
        )
        .await
        .map_err(|e| Error::api("storages (/cluster/resources?type=storage)", e))?;
    let mut storages: BTreeMap<String, Storage> = BTreeMap::new();
    let mut storage_nodes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in st.as_array().into_iter().flatten() {
        let (Some(id), Some(node)) = (
            s.get("storage").and_then(Value::as_str),
            s.get("node").and_then(Value::as_str),
        ) else {
            continue;
        };
        storage_nodes
            .entry(id.to_owned())
            .or_default()
            .push(node.to_owned());
        let Ok(name) = Name::from_str(id) else {
            continue;
        };
        let content: Vec<Content> = s
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split(',')
            .filter_map(content_of)
            .collect();
        if content.is_empty() {
            continue;
        }
        storages.entry(id.to_owned()).or_insert(Storage {
            name,
            kind: s
                .get("plugintype")
                .and_then(Value::as_str)
                .unwrap_or("dir")
                .to_owned(),
            content,
            shared: s.get("shared").and_then(Value::as_i64) == Some(1),
            export: None,
        });
    }
    let pools_v = client
        .pools()
        .await
        .map_err(|e| Error::api("pools (/pools)", e))?;
    let pools = pools_v
        .iter()
        .filter_map(|p| {
            Some(PvePool {
                name: Name::from_str(p.get("poolid")?.as_str()?).ok()?,
                comment: p
                    .get("comment")
                    .and_then(Value::as_str)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            })
        })
        .collect();
    let mut templates = Vec::new();
    for s in storages.values() {
        if !s.content.contains(&Content::Vztmpl) {
            continue;
        }
        let on: Vec<String> = storage_nodes
            .get(s.name.as_str())
            .cloned()
            .unwrap_or_default();
        let on = if s.shared {
            on.into_iter().take(1).collect()
        } else {
            on
        };
        for node in on {
            let vols = client
                .storage_content(&node, s.name.as_str(), Some("vztmpl"))
                .await
                .map_err(|e| Error::api(format!("storage {} on node {node}", s.name), e))?;
            for v in vols {
                if let Some((_, file)) = v.volid.split_once(":vztmpl/") {
                    templates.push((s.name.to_string(), node.clone(), file.to_owned()));
                }
            }
        }
    }
    Ok(Read {
        observed,
        nodes,
        storages: storages.into_values().collect(),
        pools,
        templates,
    })
}

/// A template's site name from its file name (`debian-12-standard_12.7-1_amd64.tar.zst` →
/// `debian-12-standard_12.7-1_amd64`).
fn template_name(file: &str) -> String {
    let stem = file
        .strip_suffix(".tar.zst")
        .or_else(|| file.strip_suffix(".tar.gz"))
        .or_else(|| file.strip_suffix(".tar.xz"))
        .unwrap_or(file);
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        s.insert(0, 't');
        s.truncate(63);
    }
    s
}

fn label(r: &ClusterResource, name: &str) -> String {
    format!(
        "{name} ({} {})",
        r.kind,
        r.vmid.map(|v| v.to_string()).unwrap_or_default()
    )
}

/// Builds one guest; `Err` lists why it cannot be in the site at all.
struct Built {
    guest: Guest,
    missing: Vec<String>,
    comments: Vec<(String, String)>,
    secrets: Vec<SecretEntry>,
    /// SSH key reference → key, for the plan check.
    keys: Vec<(String, String)>,
}

fn flag(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "1")
}

#[allow(clippy::too_many_lines)]
fn build_guest(
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

/// Takes out of `ops` what adopting a guest rackpipe did not make changes and nothing else:
/// the ownership tag added, `onboot`/`protection` written as `0` where the config leaves
/// them out (PVE's default; pve-sync's plan compares them as set). Returns what the first
/// apply will do for them (empty when nothing).
fn adoption(ops: &mut crate::GuestOps) -> String {
    let mut done = Vec::new();
    if let Some(t) = ops.set.get("tags")
        && ops.before.get("tags").cloned().flatten().is_none_or(|b| {
            !crate::has_owner_tag(&b)
                && rackpipe_proxmox::normalize::normalize_tags(&format!("{b};{OWNER_TAG}")) == *t
        })
    {
        ops.set.remove("tags");
        done.push(format!("adds the tag `{OWNER_TAG}`"));
    }
    for key in ["onboot", "protection"] {
        if ops.set.get(key).is_some_and(|v| v == "0")
            && ops.before.get(key).is_some_and(Option::is_none)
        {
            ops.set.remove(key);
            done.push(format!(
                "writes {key}=0 (PVE's default, absent from the config)"
            ));
        }
    }
    done.join(", ")
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

/// The SSH keys the import read, by the references it wrote (for the plan check).
struct ReadKeys(BTreeMap<String, String>);

impl SecretSource for ReadKeys {
    fn resolve(
        &self,
        reference: &SecretRef,
        field: &str,
    ) -> Result<rackpipe_secrets::Secret, rackpipe_secrets::Error> {
        self.0
            .get(reference.as_str())
            .map(|k| rackpipe_secrets::Secret::new(k.clone()))
            .ok_or_else(|| {
                rackpipe_secrets::Error::new(
                    field,
                    reference.as_str(),
                    rackpipe_secrets::ErrorKind::Internal("not read by the import".to_owned()),
                )
            })
    }
}

/// Imports the cluster `client` reaches.
///
/// # Errors
/// [`Error::Api`] when a read fails (nothing is returned then); [`Error::Site`] when the
/// imported site does not validate (a bug, reported rather than printed).
#[allow(clippy::too_many_lines)]
pub async fn import(client: &Client, options: &Options) -> Result<Imported, Error> {
    let read = read(client, options).await?;
    let mut report = Report {
        source: client.options().base_url.clone(),
        counts: Counts::default(),
        secrets: Vec::new(),
        choices: Vec::new(),
        not_imported: Vec::new(),
    };
    let mut comments: Vec<(String, String)> = Vec::new();
    let mut header = vec![format!(
        "Imported by pve-sync import from {}.",
        report.source
    )];
    // Templates: every container template on the storages.
    let mut templates: Vec<Template> = Vec::new();
    let mut used_names = BTreeSet::new();
    for (storage, node, file) in &read.templates {
        let mut name = template_name(file);
        if !used_names.insert(name.clone()) {
            name = template_name(&format!("{storage}-{file}"));
            if !used_names.insert(name.clone()) {
                continue;
            }
        }
        let (Ok(name), Ok(storage), Ok(node)) = (
            Name::from_str(&name),
            Name::from_str(storage),
            Name::from_str(node),
        ) else {
            continue;
        };
        comments.push((
            format!("proxmox.templates[{}].url", templates.len()),
            "Proxmox does not record where a template was downloaded from: set the real URL (and checksum)".to_owned(),
        ));
        templates.push(Template {
            name,
            storage,
            node,
            url: format!("https://templates.example.invalid/{file}"),
            file_name: file.clone(),
            content: Content::Vztmpl,
            checksum: None,
            checksum_algorithm: None,
        });
    }
    // Guests.
    let mut guests: Vec<Guest> = Vec::new();
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    let mut partial: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut labels = Vec::new();
    for (vmid, r) in &read.observed.guests {
        if r.template {
            continue;
        }
        report.counts.guests += 1;
        let name = r.name.clone().unwrap_or_else(|| vmid.to_string());
        let Some(config) = read.observed.configs.get(vmid) else {
            report.not_imported.push(NotImported {
                guest: label(r, &name),
                in_site: false,
                missing: vec!["its config was not read".to_owned()],
            });
            continue;
        };
        let sid = format!("{}:{vmid}", if r.kind == "lxc" { "ct" } else { "vm" });
        let ha = read.observed.ha.contains_key(&sid);
        match build_guest(r, config, &read, &templates, ha, options, guests.len()) {
            Ok(b) => {
                comments.extend(b.comments);
                report.secrets.extend(b.secrets);
                keys.extend(b.keys);
                if !b.missing.is_empty() {
                    partial.insert(guests.len(), b.missing);
                }
                labels.push(label(r, b.guest.name.as_str()));
                guests.push(b.guest);
            }
            Err(why) => {
                report.not_imported.push(NotImported {
                    guest: label(r, &name),
                    in_site: false,
                    missing: why,
                });
            }
        }
    }
    // Nodes: their bridges are those the guests use.
    let mut bridges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in &guests {
        for n in &g.nics {
            bridges
                .entry(g.node.to_string())
                .or_default()
                .insert(n.bridge.to_string());
        }
    }
    let mut nodes = Vec::new();
    for (i, n) in read.nodes.iter().enumerate() {
        let Ok(name) = Name::from_str(n) else {
            continue;
        };
        let address = match (i, options.api_address) {
            (0, Some(a)) => a,
            _ => {
                comments.push((
                    format!("proxmox.nodes[{i}].address"),
                    "the import does not read node addresses: a placeholder, set the real one"
                        .to_owned(),
                ));
                IpAddr::from([192, 0, 2, u8::try_from(i + 1).unwrap_or(254)])
            }
        };
        let node_bridges: Vec<Name> = bridges
            .get(n)
            .map(|b| b.iter().filter_map(|b| Name::from_str(b).ok()).collect())
            .filter(|b: &Vec<Name>| !b.is_empty())
            .unwrap_or_else(|| vec![Name::from_str("vmbr0").unwrap_or_else(|_| unreachable!())]);
        comments.push((
            format!("proxmox.nodes[{i}].bridges"),
            "the bridges its guests use (the import does not read the node's network)".to_owned(),
        ));
        nodes.push(PveNode {
            name,
            address,
            bridges: node_bridges,
        });
    }
    let Some(api_node) = nodes.first().map(|n| n.name.clone()) else {
        return Err(Error::Site {
            field: "proxmox.nodes".to_owned(),
            message: "the cluster lists no node (/nodes)".to_owned(),
        });
    };
    comments.push((
        "proxmox.api.node".to_owned(),
        "the node the import reached, at the address of --url".to_owned(),
    ));
    let site_v = json!({
        "apiVersion": "rackpipe/v1",
        "kind": "Site",
        "metadata": {"name": options.name, "domain": options.domain},
    });
    let mut site: Site = serde_json::from_value(site_v).map_err(|e| Error::Site {
        field: "metadata".to_owned(),
        message: e.to_string(),
    })?;
    let cluster = Name::from_str(&options.name).map_err(|e| Error::Site {
        field: "proxmox.cluster".to_owned(),
        message: e,
    })?;
    site.proxmox = Some(rackpipe_model::proxmox::Proxmox {
        cluster,
        api: PveApi {
            node: api_node,
            port: options.api_port,
            token: options.token.clone(),
            tls: None,
        },
        nodes,
        storages: read.storages.clone(),
        pools: read.pools.clone(),
        templates,
        guests,
    });
    // The check: the plan of every imported guest against the config just read is empty.
    let keys = ReadKeys(keys);
    let mut notes: Vec<(usize, String)> = Vec::new();
    let mut check = |site: &Site| -> Result<Vec<(usize, String)>, Error> {
        notes.clear();
        let pve = site.proxmox.as_ref().unwrap_or_else(|| unreachable!());
        let desired = crate::desired(pve, &keys)?;
        let mut bad = Vec::new();
        for g in &desired.guests {
            let vmid = g.vmid.unwrap_or_default();
            let (Some(r), Some(c)) = (
                read.observed.guests.get(&vmid),
                read.observed.configs.get(&vmid),
            ) else {
                continue;
            };
            match crate::guest_ops(g, r, c, &read.observed.ha) {
                Ok(mut ops) => {
                    let adopted = adoption(&mut ops);
                    if !adopted.is_empty() {
                        notes.push((g.index, adopted));
                    }
                    if !ops.is_empty() {
                        let mut what: Vec<String> = ops.set.keys().cloned().collect();
                        what.extend(ops.delete.iter().map(|k| format!("delete {k}")));
                        what.extend(ops.resize.keys().map(|k| format!("resize {k}")));
                        if ops.pool.is_some() {
                            what.push("pool".to_owned());
                        }
                        if ops.ha.is_some() {
                            what.push("HA".to_owned());
                        }
                        if ops.power.is_some() {
                            what.push("power".to_owned());
                        }
                        bad.push((
                            g.index,
                            format!(
                                "plan would change {} (the model cannot say it as it is)",
                                what.join(", ")
                            ),
                        ));
                    }
                }
                Err(e) => bad.push((g.index, e.to_string())),
            }
        }
        Ok(bad)
    };
    let bad = check(&site)?;
    if !bad.is_empty() {
        let pve = site.proxmox.as_mut().unwrap_or_else(|| unreachable!());
        let drop: BTreeSet<usize> = bad.iter().map(|(i, _)| *i).collect();
        for (i, why) in bad {
            report.not_imported.push(NotImported {
                guest: labels[i].clone(),
                in_site: false,
                missing: vec![why],
            });
        }
        let mut kept = Vec::new();
        let mut moved: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, g) in std::mem::take(&mut pve.guests).into_iter().enumerate() {
            if !drop.contains(&i) {
                moved.insert(i, kept.len());
                kept.push(g);
            }
        }
        pve.guests = kept;
        partial = partial
            .into_iter()
            .filter_map(|(i, m)| moved.get(&i).map(|&j| (j, m)))
            .collect();
        let renumber = |path: &str| -> Option<String> {
            let rest = path.strip_prefix("proxmox.guests[")?;
            let (n, tail) = rest.split_once(']')?;
            let j = moved.get(&n.parse::<usize>().ok()?)?;
            Some(format!("proxmox.guests[{j}]{tail}"))
        };
        comments = comments
            .into_iter()
            .filter_map(|(p, c)| {
                if p.starts_with("proxmox.guests[") {
                    renumber(&p).map(|p| (p, c))
                } else {
                    Some((p, c))
                }
            })
            .collect();
        report.secrets.retain(|s| {
            !report
                .not_imported
                .iter()
                .any(|n| n.guest == s.guest && !n.in_site)
        });
        let again = check(&site)?;
        if let Some((_, why)) = again.first() {
            return Err(Error::Site {
                field: "proxmox.guests".to_owned(),
                message: format!("the imported site still plans changes: {why}"),
            });
        }
    }
    for (i, note) in notes {
        let g = &site
            .proxmox
            .as_ref()
            .unwrap_or_else(|| unreachable!())
            .guests[i];
        report.choices.push(format!(
            "{} (vmid {}): adopting it, the first apply {note}",
            g.name,
            g.vmid.unwrap_or_default()
        ));
        comments.push((
            format!("proxmox.guests[{i}]"),
            format!("the first apply {note}"),
        ));
    }
    let pve = site.proxmox.as_ref().unwrap_or_else(|| unreachable!());
    for (i, missing) in &partial {
        let g = &pve.guests[*i];
        let guest = format!(
            "{} ({} {})",
            g.name,
            if g.kind == GuestKind::Lxc {
                "lxc"
            } else {
                "qemu"
            },
            g.vmid.unwrap_or_default()
        );
        comments.push((
            format!("proxmox.guests[{i}]"),
            format!("not imported: {}", missing.join("; ")),
        ));
        report.not_imported.push(NotImported {
            guest,
            in_site: true,
            missing: missing.clone(),
        });
    }
    report.counts.partly = partial.len();
    report.counts.imported = pve.guests.len() - partial.len();
    report.counts.not_imported = report.counts.guests - pve.guests.len();
    for n in report.not_imported.iter().filter(|n| !n.in_site) {
        header.push(format!(
            "not imported: {}: {}",
            n.guest,
            n.missing.join("; ")
        ));
    }
    let adoptions = std::mem::take(&mut report.choices);
    report.choices = comments
        .iter()
        .filter(|(_, c)| !c.starts_with("not imported") && !c.starts_with("the first apply"))
        .map(|(p, c)| format!("{p}: {c}"))
        .chain(adoptions)
        .collect();
    let yaml = rackpipe_model::site_yaml::write(&site, &comments, &header);
    let loaded =
        rackpipe_model::load::load_and_validate("import", yaml.as_bytes()).map_err(|e| {
            Error::Site {
                field: "import".to_owned(),
                message: format!("the imported site does not validate: {e}"),
            }
        })?;
    if loaded.site != site {
        let path = first_difference(
            &serde_json::to_value(&site).unwrap_or_default(),
            &serde_json::to_value(&loaded.site).unwrap_or_default(),
            String::new(),
        )
        .unwrap_or_default();
        return Err(Error::Site {
            field: format!("import{path}"),
            message: "the YAML written does not read back as the imported site".to_owned(),
        });
    }
    if let Some(d) = crate::check(&site).first() {
        return Err(Error::Site {
            field: "import".to_owned(),
            message: format!("the imported site does not validate: {d}"),
        });
    }
    Ok(Imported { site, yaml, report })
}

/// The path of the first value where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let null = Value::Null;
                first_difference(
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    format!("{path}.{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

fn address_of(url: &str) -> (Option<IpAddr>, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or_default();
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, p.parse::<u16>().unwrap_or(8006))
        }
        _ => (host_port, 8006),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (IpAddr::from_str(host).ok(), port)
}

/// Runs `import`: the site on stdout (YAML), the report on stderr or in `--report FILE`.
/// Nothing is printed on stdout unless the whole import succeeded.
///
/// # Errors
/// Usage errors, an unresolvable token, a failing read, an unwritable report.
pub async fn run(args: &ImportArgs, _ctx: &Context<'_>) -> Result<ExitStatus, CliError> {
    let url = args
        .conn
        .url()
        .ok_or_else(|| CliError::usage("import needs --url URL of a node's API"))?
        .to_owned();
    let token =
        SecretRef::from_str(&args.token).map_err(|e| CliError::usage(format!("--token: {e}")))?;
    if !args.secret_prefix.starts_with("env:") {
        return Err(CliError::usage(
            "--secret-prefix: expected env:NAME (references env:NAME_<GUEST>_<N>)",
        ));
    }
    let secrets = Secrets::resolve(&EnvFileSecrets, [(&token, TOKEN_FIELD.to_owned())])?;
    let (api_address, api_port) = address_of(&url);
    let options = Options {
        name: args.name.clone(),
        domain: args.domain.clone(),
        token,
        api_address,
        api_port,
        secret_prefix: args.secret_prefix.clone(),
        concurrency: args.conn.parallel(),
    };
    let client = crate::tool::client_for_url(&args.conn, &secrets)?;
    let imported = import(&client, &options)
        .await
        .map_err(|e| CliError::from_tool(&e, e.is_transient()))?;
    rackpipe_cli::emit_import(
        &imported.report,
        &imported.report.human(),
        args.report.as_deref(),
        &imported.yaml,
    )?;
    Ok(ExitStatus::Success)
}
