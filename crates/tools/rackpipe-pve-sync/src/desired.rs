//! The site's guests as Proxmox config parameters, checked against the site (nodes,
//! storages, bridges, templates, pools) before any request is made.

use std::collections::{BTreeMap, BTreeSet};

use rackpipe_model::proxmox::{Content, Guest, GuestKind, GuestSource, Proxmox};
use rackpipe_model::types::SecretRef;
use rackpipe_proxmox::GuestType;
use rackpipe_proxmox::normalize::encode_sshkeys;

use crate::Error;

pub use rackpipe_secrets::SecretSource;
use rackpipe_secrets::{ErrorKind, Secret};

/// Resolves `env:NAME`, `file:PATH` and `vault:MOUNT/PATH#KEY` with the process's
/// [`rackpipe_secrets::Resolver::global`] (Vault from `VAULT_ADDR`, `VAULT_CACERT`,
/// `VAULT_TOKEN` or a JWT login; each path read once). When Vault is not configured
/// (`VAULT_ADDR` unset), a `vault:` reference is still read from the environment variable
/// `KEY`, as GitLab CI provides masked variables (pve-sync's earlier behaviour).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvFileSecrets;

impl SecretSource for EnvFileSecrets {
    fn resolve(
        &self,
        reference: &SecretRef,
        field: &str,
    ) -> Result<Secret, rackpipe_secrets::Error> {
        let resolver = rackpipe_secrets::Resolver::global();
        let key = reference
            .as_str()
            .strip_prefix("vault:")
            .and_then(|v| v.rsplit_once('#'))
            .map(|(_, key)| key);
        if let Some(key) = key
            && resolver.settings().addr.is_none()
        {
            return std::env::var(key)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Secret::new)
                .ok_or_else(|| {
                    rackpipe_secrets::Error::new(
                        field,
                        reference.as_str(),
                        ErrorKind::NotConfigured(format!(
                            "VAULT_ADDR is not set; set it (and VAULT_TOKEN or VAULT_JWT_ROLE), or export the value as environment variable {key}"
                        )),
                    )
                });
        }
        resolver.resolve(reference, field)
    }
}

/// The field path of the API token ([`secret_refs`]).
pub const TOKEN_FIELD: &str = "proxmox.api.token";

/// Every secret reference pve-sync reads, with its site field path: the API token
/// ([`TOKEN_FIELD`]), then the SSH keys of every guest's `cloud_init`. Resolved all at once
/// (`rackpipe_secrets::resolve_all`), so one run names every missing secret.
#[must_use]
pub fn secret_refs(pve: &Proxmox) -> Vec<(&SecretRef, String)> {
    let mut refs = vec![(&pve.api.token, TOKEN_FIELD.to_owned())];
    refs.extend(ssh_key_refs(pve));
    refs
}

/// The SSH keys of every guest's `cloud_init`, with their field paths.
fn ssh_key_refs(pve: &Proxmox) -> impl Iterator<Item = (&SecretRef, String)> {
    pve.guests.iter().enumerate().flat_map(|(i, g)| {
        g.cloud_init.iter().flat_map(move |ci| {
            ci.ssh_keys
                .iter()
                .enumerate()
                .map(move |(ki, r)| (r, format!("proxmox.guests[{i}].cloud_init.ssh_keys[{ki}]")))
        })
    })
}

/// The SSH keys of every guest's `cloud_init`, resolved at once: every reference that fails is
/// reported in one error (one line each, with its field path), not one per run.
struct ResolvedKeys(BTreeMap<String, Secret>);

impl ResolvedKeys {
    fn resolve(pve: &Proxmox, secrets: &dyn SecretSource) -> Result<Self, Error> {
        let wanted: Vec<(&SecretRef, String)> = ssh_key_refs(pve).collect();
        let fields: Vec<String> = wanted.iter().map(|(_, f)| f.clone()).collect();
        match rackpipe_secrets::resolve_all(secrets, wanted) {
            Ok(values) => Ok(Self(fields.into_iter().zip(values).collect())),
            Err(unresolved) if unresolved.errors().len() == 1 => {
                let e = unresolved.first();
                Err(Error::Secret {
                    field: e.field().to_owned(),
                    message: e.reason(),
                })
            }
            Err(unresolved) => Err(Error::Secrets(unresolved)),
        }
    }
}

impl SecretSource for ResolvedKeys {
    fn resolve(
        &self,
        reference: &SecretRef,
        field: &str,
    ) -> Result<Secret, rackpipe_secrets::Error> {
        self.0.get(field).cloned().ok_or_else(|| {
            rackpipe_secrets::Error::new(
                field,
                reference.as_str(),
                ErrorKind::Internal("not resolved beforehand".to_owned()),
            )
        })
    }
}

/// One disk of a desired guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredDisk {
    /// Config key (`rootfs`, `mp0`, `scsi0`).
    pub slot: String,
    /// Storage id.
    pub storage: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Mount point (`mpN`).
    pub mountpoint: Option<String>,
}

impl DesiredDisk {
    /// Whole GiB, rounded up (the create syntax `STORAGE:SIZE_GiB`).
    #[must_use]
    pub fn gib(&self) -> u64 {
        self.bytes.div_ceil(1 << 30).max(1)
    }

    /// The create value (`local-lvm:32`, `local-lvm:8,mp=/srv`).
    #[must_use]
    pub fn create_value(&self) -> String {
        match &self.mountpoint {
            Some(mp) => format!("{}:{},mp={mp}", self.storage, self.gib()),
            None => format!("{}:{}", self.storage, self.gib()),
        }
    }
}

/// Where a desired guest comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredSource {
    /// LXC from an `ostemplate` volume id.
    OsTemplate {
        /// `storage:vztmpl/file`.
        volid: String,
        /// Index in `proxmox.templates`.
        template: usize,
    },
    /// A clone of a VM template.
    Clone {
        /// Template VMID.
        vmid: u32,
        /// Full clone.
        full: bool,
    },
}

/// One guest as pve-sync wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGuest {
    /// Index in `proxmox.guests` (for field paths).
    pub index: usize,
    /// Guest name.
    pub name: String,
    /// QEMU or LXC.
    pub kind: GuestType,
    /// Declared VMID.
    pub vmid: Option<u32>,
    /// Node.
    pub node: String,
    /// Pool.
    pub pool: Option<String>,
    /// Managed config keys → value as sent (disks excluded).
    pub config: BTreeMap<String, String>,
    /// Keys only sent at creation (`unprivileged`).
    pub create_only: BTreeMap<String, String>,
    /// Disks.
    pub disks: Vec<DesiredDisk>,
    /// Source.
    pub source: DesiredSource,
    /// Desired run state.
    pub running: bool,
    /// HA-managed.
    pub ha: bool,
    /// Addresses by NIC slot (for facts).
    pub addresses: BTreeMap<String, String>,
}

impl DesiredGuest {
    /// `proxmox.guests[i]`.
    #[must_use]
    pub fn field(&self) -> String {
        format!("proxmox.guests[{}]", self.index)
    }

    /// HA resource id (`vm:100`, `ct:101`).
    #[must_use]
    pub fn ha_sid(&self, vmid: u32) -> String {
        match self.kind {
            GuestType::Qemu => format!("vm:{vmid}"),
            GuestType::Lxc => format!("ct:{vmid}"),
        }
    }
}

/// A template to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredTemplate {
    /// Index in `proxmox.templates`.
    pub index: usize,
    /// Node that downloads it.
    pub node: String,
    /// Storage.
    pub storage: String,
    /// `storage:vztmpl/file`.
    pub volid: String,
    /// download-url parameters.
    pub url: String,
    /// File name.
    pub file_name: String,
    /// `vztmpl` or `iso`.
    pub content: String,
    /// Checksum and algorithm.
    pub checksum: Option<(String, String)>,
}

/// Everything pve-sync manages, derived from the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Guests, in site order.
    pub guests: Vec<DesiredGuest>,
    /// Templates the guests use.
    pub templates: Vec<DesiredTemplate>,
    /// Pools (id → comment).
    pub pools: BTreeMap<String, String>,
}

fn content_name(c: Content) -> &'static str {
    match c {
        Content::Images => "images",
        Content::Rootdir => "rootdir",
        Content::Vztmpl => "vztmpl",
        Content::Iso => "iso",
        Content::Backup => "backup",
        Content::Snippets => "snippets",
    }
}

fn site_err(field: String, message: String) -> Error {
    Error::Site { field, message }
}

/// Builds the desired state and checks every reference inside the site.
///
/// # Errors
/// [`Error::Site`] for unknown nodes, storages, bridges, templates or pools, duplicate
/// VMIDs or names, bad disk slots; [`Error::Secret`] for SSH keys that cannot be read.
#[allow(clippy::too_many_lines)]
pub fn desired(pve: &Proxmox, secrets: &dyn SecretSource) -> Result<Desired, Error> {
    let secrets = &ResolvedKeys::resolve(pve, secrets)?;
    let node_names: Vec<&str> = pve.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut templates = Vec::new();
    for (i, t) in pve.templates.iter().enumerate() {
        let field = format!("proxmox.templates[{i}]");
        if !node_names.contains(&t.node.as_str()) {
            return Err(site_err(
                format!("{field}.node"),
                format!(
                    "unknown node \"{}\" (nodes: {})",
                    t.node,
                    node_names.join(", ")
                ),
            ));
        }
        let Some(storage) = pve.storages.iter().find(|s| s.name == t.storage) else {
            return Err(site_err(
                format!("{field}.storage"),
                format!("unknown storage \"{}\"", t.storage),
            ));
        };
        if !storage.content.contains(&t.content) {
            return Err(site_err(
                format!("{field}.storage"),
                format!(
                    "storage \"{}\" does not hold content {}",
                    t.storage,
                    content_name(t.content)
                ),
            ));
        }
        let checksum = match (&t.checksum, t.checksum_algorithm) {
            (Some(sum), Some(algo)) => Some((
                sum.to_ascii_lowercase(),
                serde_json::to_value(algo)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            )),
            (Some(_), None) => {
                return Err(site_err(
                    format!("{field}.checksum_algorithm"),
                    "required when checksum is set".into(),
                ));
            }
            _ => None,
        };
        templates.push(DesiredTemplate {
            index: i,
            node: t.node.to_string(),
            storage: t.storage.to_string(),
            volid: format!("{}:{}/{}", t.storage, content_name(t.content), t.file_name),
            url: t.url.clone(),
            file_name: t.file_name.clone(),
            content: content_name(t.content).to_owned(),
            checksum,
        });
    }
    let pools: BTreeMap<String, String> = pve
        .pools
        .iter()
        .map(|p| (p.name.to_string(), p.comment.clone().unwrap_or_default()))
        .collect();

    let mut guests = Vec::new();
    let mut vmids: BTreeMap<u32, usize> = BTreeMap::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, g) in pve.guests.iter().enumerate() {
        let field = format!("proxmox.guests[{index}]");
        if let Some(prev) = names.insert(g.name.as_str(), index) {
            return Err(site_err(
                format!("{field}.name"),
                format!(
                    "guest name \"{}\" is also used by proxmox.guests[{prev}]",
                    g.name
                ),
            ));
        }
        if let Some(v) = g.vmid
            && let Some(prev) = vmids.insert(v, index)
        {
            return Err(site_err(
                format!("{field}.vmid"),
                format!(
                    "VMID {v} clashes with proxmox.guests[{prev}] ({})",
                    pve.guests[prev].name
                ),
            ));
        }
        guests.push(guest(pve, index, g, &templates, &pools, secrets)?);
    }
    Ok(Desired {
        guests,
        templates,
        pools,
    })
}

#[allow(clippy::too_many_lines)]
fn guest(
    pve: &Proxmox,
    index: usize,
    g: &Guest,
    templates: &[DesiredTemplate],
    pools: &BTreeMap<String, String>,
    secrets: &dyn SecretSource,
) -> Result<DesiredGuest, Error> {
    let field = format!("proxmox.guests[{index}]");
    let kind = match g.kind {
        GuestKind::Lxc => GuestType::Lxc,
        GuestKind::Qemu => GuestType::Qemu,
    };
    let Some(node) = pve.nodes.iter().find(|n| n.name == g.node) else {
        let names: Vec<&str> = pve.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(site_err(
            format!("{field}.node"),
            format!("unknown node \"{}\" (nodes: {})", g.node, names.join(", ")),
        ));
    };
    if let Some(pool) = &g.pool
        && !pools.contains_key(pool.as_str())
    {
        return Err(site_err(
            format!("{field}.pool"),
            format!("unknown pool \"{pool}\" (declare it under proxmox.pools)"),
        ));
    }
    let mut config = BTreeMap::new();
    let mut create_only = BTreeMap::new();
    let b = |v: bool| if v { "1" } else { "0" }.to_owned();
    config.insert("cores".to_owned(), g.cores.to_string());
    config.insert("memory".to_owned(), g.memory_mib.to_string());
    config.insert("onboot".to_owned(), b(g.onboot));
    config.insert("protection".to_owned(), b(g.protection));
    // The site's tags and the ownership tag: what `--allow-destroy` may delete carries it.
    let tags: Vec<&str> = g
        .tags
        .iter()
        .map(AsRef::as_ref)
        .chain([crate::OWNER_TAG])
        .collect();
    config.insert(
        "tags".to_owned(),
        rackpipe_proxmox::normalize::normalize_tags(&tags.join(";")),
    );
    if let Some(d) = &g.description {
        config.insert("description".to_owned(), d.clone());
    }
    match kind {
        GuestType::Lxc => {
            config.insert("hostname".to_owned(), g.name.to_string());
            config.insert("swap".to_owned(), g.swap_mib.to_string());
            create_only.insert("unprivileged".to_owned(), b(g.unprivileged));
            if let Some(f) = &g.features {
                config.insert(
                    "features".to_owned(),
                    format!(
                        "fuse={},keyctl={},nesting={}",
                        b(f.fuse),
                        b(f.keyctl),
                        b(f.nesting)
                    ),
                );
            }
        }
        GuestType::Qemu => {
            config.insert("name".to_owned(), g.name.to_string());
        }
    }
    // Disks.
    let wanted_content = match kind {
        GuestType::Lxc => Content::Rootdir,
        GuestType::Qemu => Content::Images,
    };
    let mut disks = Vec::new();
    let mut slots = BTreeSet::new();
    for (di, d) in g.disks.iter().enumerate() {
        let dfield = format!("{field}.disks[{di}]");
        let lxc_slot = d.slot == "rootfs" || d.slot.starts_with("mp");
        if (kind == GuestType::Lxc) != lxc_slot {
            return Err(site_err(
                format!("{dfield}.slot"),
                format!("slot \"{}\" is not a {} disk slot", d.slot, kind),
            ));
        }
        if !slots.insert(d.slot.clone()) {
            return Err(site_err(
                format!("{dfield}.slot"),
                format!("slot \"{}\" is used twice", d.slot),
            ));
        }
        let Some(storage) = pve.storages.iter().find(|s| s.name == d.storage) else {
            let names: Vec<&str> = pve.storages.iter().map(|s| s.name.as_str()).collect();
            return Err(site_err(
                format!("{dfield}.storage"),
                format!(
                    "unknown storage \"{}\" (storages: {})",
                    d.storage,
                    names.join(", ")
                ),
            ));
        };
        if !storage.content.contains(&wanted_content) {
            return Err(site_err(
                format!("{dfield}.storage"),
                format!(
                    "storage \"{}\" does not hold {} (content: {})",
                    d.storage,
                    content_name(wanted_content),
                    storage
                        .content
                        .iter()
                        .map(|c| content_name(*c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if d.slot.starts_with("mp") && d.mountpoint.is_none() {
            return Err(site_err(
                format!("{dfield}.mountpoint"),
                format!("mount point slot \"{}\" needs a mountpoint", d.slot),
            ));
        }
        disks.push(DesiredDisk {
            slot: d.slot.clone(),
            storage: d.storage.to_string(),
            bytes: d.size.bytes(),
            mountpoint: d.mountpoint.clone(),
        });
    }
    if kind == GuestType::Lxc && !slots.contains("rootfs") {
        return Err(site_err(
            format!("{field}.disks"),
            "a container needs a rootfs disk".into(),
        ));
    }
    // NICs.
    let mut addresses = BTreeMap::new();
    for (ni, n) in g.nics.iter().enumerate() {
        let nfield = format!("{field}.nics[{ni}]");
        if !node.bridges.contains(&n.bridge) {
            return Err(site_err(
                format!("{nfield}.bridge"),
                format!(
                    "unknown bridge \"{}\" on node {} (bridges: {})",
                    n.bridge,
                    node.name,
                    node.bridges
                        .iter()
                        .map(|b| b.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let idx = n.slot.trim_start_matches("net");
        let mut parts = Vec::new();
        match kind {
            GuestType::Qemu => {
                match &n.mac {
                    Some(mac) => parts.push(format!("virtio={mac}")),
                    None => parts.push("virtio".to_owned()),
                }
                parts.push(format!("bridge={}", n.bridge));
            }
            GuestType::Lxc => {
                parts.push(format!("name=eth{idx}"));
                parts.push(format!("bridge={}", n.bridge));
                if let Some(mac) = &n.mac {
                    parts.push(format!("hwaddr={mac}"));
                }
                match (&n.address, n.static_address) {
                    (Some(a), true) => parts.push(format!("ip={a}")),
                    _ => parts.push("ip=dhcp".to_owned()),
                }
                parts.push("type=veth".to_owned());
            }
        }
        if n.firewall {
            parts.push("firewall=1".to_owned());
        }
        if let Some(tag) = n.vlan {
            parts.push(format!("tag={tag}"));
        }
        config.insert(n.slot.clone(), parts.join(","));
        if let Some(a) = &n.address {
            addresses.insert(n.slot.clone(), a.ip().to_string());
        }
        if kind == GuestType::Qemu && g.cloud_init.is_some() {
            let ip = match (&n.address, n.static_address) {
                (Some(a), true) => format!("ip={a}"),
                _ => "ip=dhcp".to_owned(),
            };
            config.insert(format!("ipconfig{idx}"), ip);
        }
    }
    if let Some(ci) = &g.cloud_init {
        if kind == GuestType::Lxc {
            return Err(site_err(
                format!("{field}.cloud_init"),
                "cloud-init applies to VMs only".into(),
            ));
        }
        config.insert("ciuser".to_owned(), ci.user.clone());
        if !ci.ssh_keys.is_empty() {
            let mut keys = Vec::new();
            for (ki, r) in ci.ssh_keys.iter().enumerate() {
                let path = format!("{field}.cloud_init.ssh_keys[{ki}]");
                let key = secrets.resolve(r, &path).map_err(|e| Error::Secret {
                    field: path.clone(),
                    message: e.reason(),
                })?;
                keys.push(key.expose().trim().to_owned());
            }
            config.insert("sshkeys".to_owned(), encode_sshkeys(&keys.join("\n")));
        }
    }
    let source = match &g.source {
        GuestSource::Template(name) => {
            if kind != GuestType::Lxc {
                return Err(site_err(
                    format!("{field}.source"),
                    "a VM is made by cloning (source.clone), not from a container template".into(),
                ));
            }
            let Some(t) = pve
                .templates
                .iter()
                .position(|t| t.name == *name)
                .and_then(|i| templates.iter().find(|t| t.index == i))
            else {
                return Err(site_err(
                    format!("{field}.source.template"),
                    format!("unknown template \"{name}\" (declare it under proxmox.templates)"),
                ));
            };
            let shared = pve
                .storages
                .iter()
                .any(|s| s.name.as_str() == t.storage && s.shared);
            if !shared && t.node != g.node.as_str() {
                return Err(site_err(
                    format!("{field}.source.template"),
                    format!(
                        "template \"{name}\" is on storage {} of node {}, not shared with node {}",
                        t.storage, t.node, g.node
                    ),
                ));
            }
            DesiredSource::OsTemplate {
                volid: t.volid.clone(),
                template: t.index,
            }
        }
        GuestSource::Clone { vmid, full } => {
            if kind != GuestType::Qemu {
                return Err(site_err(
                    format!("{field}.source"),
                    "a container is made from a template (source.template), not a clone".into(),
                ));
            }
            DesiredSource::Clone {
                vmid: *vmid,
                full: *full,
            }
        }
    };
    Ok(DesiredGuest {
        index,
        name: g.name.to_string(),
        kind,
        vmid: g.vmid,
        node: g.node.to_string(),
        pool: g.pool.as_ref().map(ToString::to_string),
        config,
        create_only,
        disks,
        source,
        running: g.running,
        ha: g.ha,
        addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Key;
    impl SecretSource for Key {
        fn resolve(&self, _: &SecretRef, _: &str) -> Result<Secret, rackpipe_secrets::Error> {
            Ok(Secret::new("ssh-ed25519 AAAA a@b\n"))
        }
    }

    const SITE: &str = r#"
apiVersion: rackpipe/v1
kind: Site
metadata: {name: t, domain: t.test}
proxmox:
  cluster: t
  api: {node: pve1, token: "env:PVE_TOKEN"}
  nodes: [{name: pve1, address: 10.9.0.1}]
  storages: [{name: local-lvm, type: lvmthin, content: [images, rootdir]}]
  guests:
    - name: vm1
      kind: qemu
      vmid: 150
      node: pve1
      cores: 2
      memory_mib: 2048
      disks: [{slot: scsi0, storage: local-lvm, size: 1536M}]
      nics: [{slot: net1, bridge: vmbr0, vlan: 20, mac: "bc:24:11:00:00:09", address: 10.0.0.5/24, static_address: true}]
      source: {clone: {vmid: 9000, full: false}}
      cloud_init: {user: admin, ssh_keys: ["env:KEY"]}
"#;

    #[test]
    fn qemu_guest_params() {
        let site = rackpipe_model::load_and_validate("t.yaml", SITE.as_bytes())
            .unwrap()
            .site;
        let d = desired(site.proxmox.as_ref().unwrap(), &Key).unwrap();
        let g = &d.guests[0];
        assert_eq!(
            g.config["net1"],
            "virtio=BC:24:11:00:00:09,bridge=vmbr0,tag=20"
        );
        assert_eq!(g.config["ipconfig1"], "ip=10.0.0.5/24");
        assert_eq!(g.config["sshkeys"], "ssh-ed25519%20AAAA%20a%40b");
        assert_eq!(g.config["onboot"], "0");
        assert_eq!(g.disks[0].gib(), 2, "rounded up to whole GiB");
        assert_eq!(g.addresses["net1"], "10.0.0.5");
        assert_eq!(
            g.source,
            DesiredSource::Clone {
                vmid: 9000,
                full: false
            }
        );
        let err = desired(site.proxmox.as_ref().unwrap(), &EnvFileSecrets);
        // KEY is not set in the test environment (or set by a user: then it resolves).
        if std::env::var_os("KEY").is_none() {
            let e = err.unwrap_err().to_string();
            assert_eq!(
                e,
                "proxmox.guests[0].cloud_init.ssh_keys[0]: env:KEY: environment variable KEY is not set"
            );
        }
    }

    /// Issue 17: every missing SSH key of the site is named in one run, with its field path.
    #[test]
    fn every_missing_key_is_reported_at_once() {
        let two = SITE.replace(
            r#"ssh_keys: ["env:KEY"]"#,
            r#"ssh_keys: ["env:RACKPIPE_UNSET_KEY_A", "env:CARGO_PKG_NAME", "env:RACKPIPE_UNSET_KEY_B"]"#,
        );
        let site = rackpipe_model::load_and_validate("t.yaml", two.as_bytes())
            .unwrap()
            .site;
        let e = desired(site.proxmox.as_ref().unwrap(), &EnvFileSecrets).unwrap_err();
        assert!(matches!(e, Error::Secrets(_)), "{e:?}");
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string(),
            "proxmox.guests[0].cloud_init.ssh_keys[0]: env:RACKPIPE_UNSET_KEY_A: environment variable RACKPIPE_UNSET_KEY_A is not set\n\
             proxmox.guests[0].cloud_init.ssh_keys[2]: env:RACKPIPE_UNSET_KEY_B: environment variable RACKPIPE_UNSET_KEY_B is not set"
        );
    }

    #[test]
    fn vault_refs_read_the_key_from_the_environment() {
        if std::env::var_os("VAULT_ADDR").is_some() {
            return; // Vault is configured: the reference goes to Vault.
        }
        let r: SecretRef = "vault:kv/x#RACKPIPE_TEST_UNSET_KEY".parse().unwrap();
        let e = EnvFileSecrets.resolve(&r, "f").unwrap_err().to_string();
        assert!(
            e.contains("environment variable RACKPIPE_TEST_UNSET_KEY"),
            "{e}"
        );
    }
}
