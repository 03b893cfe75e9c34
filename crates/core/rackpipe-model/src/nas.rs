//! The NAS and its NFS exports.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::router::TlsTrust;
use crate::types::{Name, Network, SecretRef};

/// The NAS section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Nas {
    /// Host name (a `hosts` entry).
    pub host: Name,
    /// Which NFS server the NAS runs.
    pub server: NfsServer,
    /// Exports.
    #[serde(default)]
    pub exports: Vec<Export>,
    /// Base name of the rendered file: `/etc/exports.d/<name>.exports` (Linux) or
    /// `/etc/ganesha/<name>.conf` (nfs-ganesha). Defaults to the site name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exports_file: Option<Name>,
}

/// NFS server implementations nfs-export can drive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
pub enum NfsServer {
    /// Linux kernel NFS server managed over SSH (`/etc/exports.d`).
    Linux {
        /// SSH user.
        ssh_user: String,
    },
    /// nfs-ganesha (`EXPORT` blocks).
    Ganesha {
        /// SSH user.
        ssh_user: String,
    },
    /// Synology DSM over its HTTPS Web API.
    Synology {
        /// DSM user.
        user: String,
        /// DSM password, by reference.
        password: SecretRef,
        /// Volume prefix, e.g. `/volume1`.
        volume: String,
        /// HTTPS port of the DSM Web API (DSM's default is 5001).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        /// How the DSM certificate is verified (CA file or SHA-256 fingerprint).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<TlsTrust>,
    },
}

/// One export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Export name, referenced by consumers.
    pub name: Name,
    /// Absolute path on the NAS, rendered into exports(5) and ganesha's `Path`: letters,
    /// digits and `/ . _ - + @ ~` only (`crate::types::check_file_path`).
    #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
    pub path: String,
    /// Who may mount it.
    #[schemars(length(min = 1))]
    pub clients: Vec<ExportClient>,
    /// nfs-ganesha `Export_Id` (1..65535); defaults to the export's position plus one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub export_id: Option<u16>,
    /// NFSv4 pseudo path for nfs-ganesha; defaults to `path` (same characters as `path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
    pub pseudo: Option<String>,
}

/// A client specification with its options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportClient {
    /// A segment of the site, by name ("the storage network").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Name>,
    /// A literal network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// A single host by address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// A host name or wildcard (`*.rachuna.dev`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[A-Za-z0-9*?.-]+$"))]
    pub host: Option<String>,
    /// Read-write (else read-only).
    #[serde(default)]
    pub rw: bool,
    /// Synchronous writes (the safe default).
    #[serde(default = "default_true")]
    pub sync: bool,
    /// Root squashing.
    #[serde(default)]
    pub squash: Squash,
    /// Anonymous uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonuid: Option<u32>,
    /// Anonymous gid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anongid: Option<u32>,
    /// Subtree checking (off is the recommended default).
    #[serde(default)]
    pub subtree_check: bool,
    /// Allow source ports above 1024.
    #[serde(default)]
    pub insecure: bool,
    /// Security flavours in order of preference (`sys`, `krb5`, `krb5i`, `krb5p`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = "^[a-z0-9]+$")))]
    pub sec: Vec<String>,
    /// File system id (`root`, a number or a UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[A-Za-z0-9-]+$"))]
    pub fsid: Option<String>,
    /// Export child mounts.
    #[serde(default)]
    pub crossmnt: bool,
}

fn default_true() -> bool {
    true
}

/// Root squashing modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Squash {
    /// Map uid 0 to the anonymous user (the default).
    #[default]
    Root,
    /// Do not map root.
    None,
    /// Map every uid.
    All,
}

/// An NFS mount used by a consumer (runners' cache, Proxmox storage, backups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NfsMount {
    /// Export name.
    pub export: Name,
    /// Mount point on the consumer (rendered into fstab and a systemd mount unit; same
    /// characters as an export's `path`).
    #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
    pub mountpoint: String,
    /// Mount options, one per item (`rw`, `timeo=10`): joined with `,` into fstab and the
    /// mount unit, so no `,`, white space, quotes or comment characters.
    #[serde(default)]
    #[schemars(inner(regex(pattern = "^[A-Za-z0-9_][A-Za-z0-9_.=:/+@-]*$")))]
    pub options: Vec<String>,
    /// Path on the NAS that is mounted, when it is not the export's own path (a directory
    /// inside the export). Must lie inside the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
    pub path: Option<String>,
}
