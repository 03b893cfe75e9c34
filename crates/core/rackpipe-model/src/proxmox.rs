//! The Proxmox VE cluster: nodes, storages, pools, templates and guests (VMs and LXC containers).

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::router::TlsTrust;
use crate::types::{Hostname, InterfaceAddress, MacAddress, Name, SecretRef, Size};

/// The Proxmox section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proxmox {
    /// Cluster name.
    pub cluster: Name,
    /// API access.
    pub api: PveApi,
    /// Cluster nodes.
    #[schemars(length(min = 1))]
    pub nodes: Vec<PveNode>,
    /// Storages.
    #[serde(default)]
    pub storages: Vec<Storage>,
    /// Resource pools.
    #[serde(default)]
    pub pools: Vec<PvePool>,
    /// Container templates and images to download.
    #[serde(default)]
    pub templates: Vec<Template>,
    /// Guests.
    #[serde(default)]
    pub guests: Vec<Guest>,
}

/// API endpoint and credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PveApi {
    /// Node the tools talk to (by name).
    pub node: Name,
    /// API port.
    #[serde(default = "default_pve_port")]
    pub port: u16,
    /// API token `USER@REALM!ID=SECRET`, by reference.
    pub token: SecretRef,
    /// TLS trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsTrust>,
}

fn default_pve_port() -> u16 {
    8006
}

/// A cluster node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PveNode {
    /// Node name (`pve-s1`).
    pub name: Name,
    /// Management address.
    pub address: IpAddr,
    /// Linux bridges guests can attach to (`vmbr0`).
    #[serde(default = "default_bridges")]
    pub bridges: Vec<Name>,
}

fn default_bridges() -> Vec<Name> {
    vec![
        "vmbr0"
            .parse()
            .unwrap_or_else(|_| unreachable!("static name")),
    ]
}

/// Content types a storage holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Content {
    /// VM disk images.
    Images,
    /// Container root file systems.
    Rootdir,
    /// Container templates.
    Vztmpl,
    /// ISO images.
    Iso,
    /// Backups.
    Backup,
    /// Snippets.
    Snippets,
}

/// A storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// Storage id.
    pub name: Name,
    /// Storage type: `dir`, `nfs`, `lvmthin`, `zfspool`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// What it holds.
    #[schemars(length(min = 1))]
    pub content: Vec<Content>,
    /// Shared between nodes (NFS).
    #[serde(default)]
    pub shared: bool,
    /// For NFS storages: the NAS export it mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<Name>,
}

/// A resource pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PvePool {
    /// Pool id.
    pub name: Name,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Checksum algorithms `download-url` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    /// MD5.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// A template or image to download onto a storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Name referenced by guests.
    pub name: Name,
    /// Target storage.
    pub storage: Name,
    /// Node that downloads it (any node for shared storage).
    pub node: Name,
    /// Source URL.
    #[schemars(regex(pattern = "^https?://"))]
    pub url: String,
    /// File name on the storage.
    pub file_name: String,
    /// `vztmpl` for containers, `iso` for images.
    pub content: Content,
    /// Expected checksum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Algorithm of `checksum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}

/// Guest type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// LXC container.
    Lxc,
    /// QEMU virtual machine.
    Qemu,
}

/// A VM or container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guest {
    /// Guest name (its host name), referenced by other sections.
    pub name: Name,
    /// Fully qualified name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<Hostname>,
    /// LXC or QEMU.
    pub kind: GuestKind,
    /// VMID (declared; allocation without races is pve-sync's job when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 999_999_999))]
    pub vmid: Option<u32>,
    /// Node it runs on.
    pub node: Name,
    /// Resource pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Name>,
    /// CPU cores.
    #[schemars(range(min = 1, max = 512))]
    pub cores: u16,
    /// Memory in MiB.
    #[schemars(range(min = 16))]
    pub memory_mib: u32,
    /// Swap in MiB (containers).
    #[serde(default)]
    pub swap_mib: u32,
    /// Disks: `rootfs`/`mpN` for containers, `scsiN`/`virtioN` for VMs.
    #[schemars(length(min = 1))]
    pub disks: Vec<Disk>,
    /// Network interfaces.
    #[serde(default)]
    pub nics: Vec<Nic>,
    /// Where the guest comes from.
    pub source: GuestSource,
    /// Container runs unprivileged.
    #[serde(default = "default_true")]
    pub unprivileged: bool,
    /// Container features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Features>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Start at boot.
    #[serde(default)]
    pub onboot: bool,
    /// Protected against deletion.
    #[serde(default)]
    pub protection: bool,
    /// Desired run state.
    #[serde(default = "default_true")]
    pub running: bool,
    /// Managed as a Proxmox HA resource.
    #[serde(default)]
    pub ha: bool,
    /// Cloud-init settings (VMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInit>,
}

fn default_true() -> bool {
    true
}

/// A disk or mount point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Slot: `rootfs`, `mp0`, `scsi0`, `virtio0`, ...
    #[schemars(regex(
        pattern = "^(rootfs|mp[0-9]+|scsi[0-9]+|virtio[0-9]+|sata[0-9]+|ide[0-9]+)$"
    ))]
    pub slot: String,
    /// Storage holding it.
    pub storage: Name,
    /// Size.
    pub size: Size,
    /// Mount point inside a container (`mpN` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mountpoint: Option<String>,
}

/// A network interface of a guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// Slot: `net0`, `net1`, ...
    #[schemars(regex(pattern = "^net[0-9]+$"))]
    pub slot: String,
    /// Node bridge (`vmbr0`).
    pub bridge: Name,
    /// VLAN tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4094))]
    pub vlan: Option<u16>,
    /// MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddress>,
    /// Proxmox firewall on this NIC.
    #[serde(default)]
    pub firewall: bool,
    /// Address the guest gets (by DHCP static lease or static configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<InterfaceAddress>,
    /// Whether the address is configured statically (else DHCP).
    #[serde(default)]
    pub static_address: bool,
    /// Segment the NIC is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Name>,
}

/// Where a guest comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum GuestSource {
    /// A container template from `templates`.
    Template(Name),
    /// A clone of an existing VM template.
    Clone {
        /// VMID of the template VM.
        vmid: u32,
        /// Full clone (else linked).
        #[serde(default = "default_true")]
        full: bool,
    },
}

/// LXC features.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// Allow nested containers.
    #[serde(default)]
    pub nesting: bool,
    /// Allow keyctl.
    #[serde(default)]
    pub keyctl: bool,
    /// Allow FUSE mounts.
    #[serde(default)]
    pub fuse: bool,
}

/// Cloud-init settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudInit {
    /// Default user.
    pub user: String,
    /// Public SSH keys, by reference.
    #[serde(default)]
    pub ssh_keys: Vec<SecretRef>,
}
