//! The Vault (or OpenBao) cluster: nodes, storage, TLS, seal, PKI, mounts, policies, auth,
//! and leaf certificates issued from the PKI into KV.

use std::collections::BTreeMap;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::{Duration, Hostname, Name, SecretRef};

/// The Vault section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vault {
    /// Public name behind the VIP, e.g. `vault.rachuna.dev`.
    pub fqdn: Hostname,
    /// Cluster members; each runs on a guest.
    #[schemars(length(min = 1))]
    pub nodes: Vec<VaultNode>,
    /// Allow two members on one Proxmox node (off: an error).
    #[serde(default)]
    pub allow_colocation: bool,
    /// Storage backend.
    pub storage: VaultStorage,
    /// TLS files on each node.
    pub tls: VaultTls,
    /// Shamir seal parameters for `init`.
    #[serde(default)]
    pub seal: Seal,
    /// Enable the web UI.
    #[serde(default = "default_true")]
    pub ui: bool,
    /// Name the answering node in every response (`X-Vault-Hostname`, the server config's
    /// `enable_response_header_hostname`): shows which member answered behind the VIP.
    #[serde(default, skip_serializing_if = "is_false")]
    pub response_header_hostname: bool,
    /// Audit devices (OpenBao only accepts them from config).
    #[serde(default)]
    pub audit: Vec<AuditDevice>,
    /// Secret engine mounts (KV, PKI).
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// PKI hierarchy.
    #[serde(default)]
    pub pki: Vec<PkiCa>,
    /// ACL policies.
    #[serde(default)]
    pub policies: Vec<Policy>,
    /// Auth methods.
    #[serde(default)]
    pub auth: VaultAuth,
    /// Which server runs the cluster: OpenBao (audit devices only from the config file) or
    /// HashiCorp Vault (audit devices through the API).
    #[serde(default)]
    pub implementation: VaultImplementation,
    /// Leaf certificates `vault-bootstrap` issues from a PKI role and keeps valid in a KV v2
    /// entry (for consumers such as HAProxy, which read the entry's `pem` field).
    #[serde(default)]
    pub certificates: Vec<Certificate>,
}

/// The server software behind the cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VaultImplementation {
    /// OpenBao (`bao`): audit devices are declared in the server config.
    #[default]
    Openbao,
    /// HashiCorp Vault: audit devices are enabled through `sys/audit`.
    Vault,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

fn default_true() -> bool {
    true
}

/// A cluster member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultNode {
    /// Node id (raft node_id).
    pub name: Name,
    /// Guest it runs on.
    pub guest: Name,
    /// API port.
    #[serde(default = "default_api_port")]
    pub api_port: u16,
    /// Cluster port.
    #[serde(default = "default_cluster_port")]
    pub cluster_port: u16,
}

fn default_api_port() -> u16 {
    8200
}

fn default_cluster_port() -> u16 {
    8201
}

/// Storage backends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "backend")]
pub enum VaultStorage {
    /// Integrated storage; members join each other.
    Raft {
        /// Data directory (written into the server config).
        #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
        path: String,
        /// Election speed factor (1 = fastest; Vault's default is 5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        performance_multiplier: Option<u8>,
    },
    /// Consul on each node (local agent over TLS).
    Consul {
        /// Local agent address, `host:port` (written quoted into the server config's HCL:
        /// host name or IPv4 letters, digits, `.` and `-`, or an IPv6 address in brackets).
        #[serde(default = "default_consul_address")]
        #[schemars(regex(pattern = "^([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$"))]
        address: String,
        /// KV path prefix (`vault/`; written quoted into the server config's HCL): segments of
        /// letters, digits, `. _ -` separated by `/`, no empty segment.
        #[serde(default = "default_consul_path")]
        #[schemars(regex(
            pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*/?$"
        ))]
        path: String,
        /// ACL token, by reference.
        token: SecretRef,
        /// Consul datacenter (written quoted into Consul's HCL): letters, digits, `_` and `-`.
        #[serde(default = "default_datacenter")]
        #[schemars(regex(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
        datacenter: String,
    },
}

fn default_consul_address() -> String {
    "127.0.0.1:8501".to_owned()
}

fn default_consul_path() -> String {
    "vault/".to_owned()
}

fn default_datacenter() -> String {
    "dc1".to_owned()
}

/// TLS files on each node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultTls {
    /// Certificate file (written into the server config, like the two below).
    #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
    pub cert_file: String,
    /// Key file.
    #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
    pub key_file: String,
    /// CA file (client verification and peers).
    #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
    pub ca_file: String,
    /// CA bundle the listener verifies client certificates against (its
    /// `tls_client_ca_file`; clients without a certificate are still served). Often the
    /// same file as `ca_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
    pub client_ca_file: Option<String>,
}

/// Shamir seal parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// Number of key shares.
    #[schemars(range(min = 1, max = 255))]
    pub shares: u8,
    /// Shares needed to unseal.
    #[schemars(range(min = 1, max = 255))]
    pub threshold: u8,
    /// Operators' PGP public keys (files), one per share, to encrypt the shares to.
    #[serde(default)]
    pub pgp_keys: Vec<String>,
}

impl Default for Seal {
    fn default() -> Self {
        Self {
            shares: 5,
            threshold: 3,
            pgp_keys: Vec::new(),
        }
    }
}

/// An audit device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditDevice {
    /// Device path name.
    pub name: Name,
    /// File to write (written into the server config).
    #[schemars(regex(pattern = crate::types::FILE_PATH_PATTERN))]
    pub file: String,
}

/// Secret engine types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MountType {
    /// KV version 2.
    KvV2,
    /// KV version 1.
    Kv,
    /// PKI.
    Pki,
    /// Transit.
    Transit,
}

/// A secret engine mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Mount path.
    pub path: String,
    /// Engine type.
    #[serde(rename = "type")]
    pub kind: MountType,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Maximum lease TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lease_ttl: Option<Duration>,
}

/// A CA in the PKI hierarchy: a root, or an intermediate signed by another CA of the site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkiCa {
    /// PKI mount path (must be a `pki` mount).
    pub mount: String,
    /// Common name.
    pub common_name: String,
    /// Mount of the CA that signs this one (absent: a root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// Key type.
    #[serde(default = "default_key_type")]
    pub key_type: String,
    /// Key bits.
    #[serde(default = "default_key_bits")]
    pub key_bits: u32,
    /// Validity.
    pub ttl: Duration,
    /// Subject organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Subject country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Base URL for issuing certificate and CRL distribution URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls_base: Option<String>,
    /// Roles issuing leaf certificates.
    #[serde(default)]
    pub roles: Vec<PkiRole>,
    /// Issuer name, the idempotency key of the CA (default: the mount path with `/` as `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_name: Option<String>,
}

fn default_key_type() -> String {
    "rsa".to_owned()
}

fn default_key_bits() -> u32 {
    4096
}

/// A PKI role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkiRole {
    /// Role name.
    pub name: Name,
    /// Domains the role may issue for (must belong to the site's domain).
    #[schemars(length(min = 1))]
    pub allowed_domains: Vec<Hostname>,
    /// Allow subdomains.
    #[serde(default)]
    pub allow_subdomains: bool,
    /// Allow the bare domains.
    #[serde(default)]
    pub allow_bare_domains: bool,
    /// Allow IP SANs.
    #[serde(default)]
    pub allow_ip_sans: bool,
    /// Server certificates.
    #[serde(default = "default_true")]
    pub server_flag: bool,
    /// Client certificates.
    #[serde(default)]
    pub client_flag: bool,
    /// Default TTL.
    pub ttl: Duration,
    /// Maximum TTL.
    pub max_ttl: Duration,
}

/// An ACL policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Policy name.
    pub name: Name,
    /// Paths and their capabilities (rendered to HCL).
    #[serde(default)]
    pub paths: BTreeMap<String, Vec<Capability>>,
    /// Raw HCL body instead of `paths` (for parameters constraints and the like).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hcl: Option<String>,
}

/// ACL capabilities.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// Create.
    Create,
    /// Read.
    Read,
    /// Update.
    Update,
    /// Patch.
    Patch,
    /// Delete.
    Delete,
    /// List.
    List,
    /// Sudo.
    Sudo,
    /// Deny.
    Deny,
}

/// Auth methods.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultAuth {
    /// JWT auth for GitLab CI `id_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab_jwt: Option<GitlabJwt>,
    /// AppRole roles.
    #[serde(default)]
    pub approles: Vec<AppRole>,
    /// Userpass users.
    #[serde(default)]
    pub users: Vec<UserpassUser>,
}

/// JWT auth for GitLab CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitlabJwt {
    /// Mount path.
    #[serde(default = "default_jwt_path")]
    pub path: String,
    /// GitLab URL (issuer, JWKS at `/oauth/discovery/keys`).
    pub issuer: String,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<JwtRole>,
    /// PEM public keys to verify tokens with instead of fetching GitLab's JWKS (Vault fetches
    /// the JWKS when the config is written, so GitLab must be reachable then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_pubkeys: Vec<String>,
    /// JWKS URL (default: `<issuer>/oauth/discovery/keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
}

fn default_jwt_path() -> String {
    "jwt".to_owned()
}

/// A JWT role bound to GitLab projects and refs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtRole {
    /// Role name.
    pub name: Name,
    /// Required `aud` values (the job's `id_tokens` audience).
    #[schemars(length(min = 1))]
    pub bound_audiences: Vec<String>,
    /// Allowed project paths.
    #[serde(default)]
    pub project_paths: Vec<String>,
    /// Allowed project ids.
    #[serde(default)]
    pub project_ids: Vec<u64>,
    /// Only protected refs.
    #[serde(default)]
    pub protected_refs_only: bool,
    /// Allowed ref names (empty: any).
    #[serde(default)]
    pub refs: Vec<String>,
    /// Policies attached to tokens.
    pub policies: Vec<Name>,
    /// Token TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<Duration>,
    /// Claim used as the entity alias name (default `user_email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_claim: Option<String>,
}

/// An AppRole role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRole {
    /// Role name.
    pub name: Name,
    /// Policies attached to tokens.
    pub policies: Vec<Name>,
    /// Token TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<Duration>,
    /// Token maximum TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_max_ttl: Option<Duration>,
    /// Secret id TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_id_ttl: Option<Duration>,
}

/// A userpass user; the password is set once and never rewritten unless asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserpassUser {
    /// User name.
    pub name: Name,
    /// Policies attached to tokens.
    pub policies: Vec<Name>,
    /// Initial password, by reference.
    pub password: SecretRef,
}

/// A leaf certificate issued from a PKI role and stored in KV v2, renewed by `vault-bootstrap
/// apply` before it expires or when its names or the mount's issuer change.
///
/// ```yaml
/// vault:
///   certificates:
///     - name: lb-ingress
///       pki: pki-int-prod
///       role: web-proxy
///       common_name: apps.rachuna-net.pl
///       alt_names: [apps.rachuna-net.pl, "*.apps.rachuna-net.pl"]
///       ttl: 720h
///       renew_before: 240h
///       store: {mount: kv-gitlab, path: lb/ingress}
/// ```
///
/// The KV entry holds `certificate`, `ca_chain`, `private_key`, `pem` (certificate, chain and
/// key concatenated, what HAProxy's `crt` loads), `serial` and `not_after` (RFC 3339); read it
/// with `vault:MOUNT/PATH#pem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// Name (unique among the certificates).
    pub name: Name,
    /// PKI mount that issues it: a `pki` mount with a `vault.pki` entry.
    pub pki: String,
    /// Role of that `vault.pki` entry to issue with.
    pub role: Name,
    /// Subject common name (also a DNS SAN).
    pub common_name: String,
    /// More DNS names (wildcards allowed when the role allows them).
    #[serde(default)]
    pub alt_names: Vec<String>,
    /// IP SANs (the role must allow IP SANs).
    #[serde(default)]
    pub ip_sans: Vec<IpAddr>,
    /// Validity (default: the role's ttl).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
    /// Renew when less than this is left (default: one third of the validity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before: Option<Duration>,
    /// Where the certificate and its key are written.
    pub store: CertificateStore,
}

impl Certificate {
    /// The validity in seconds: `ttl`, else the role's.
    #[must_use]
    pub fn ttl_secs(&self, role_ttl: Option<&Duration>) -> Option<u64> {
        self.ttl.as_ref().or(role_ttl).map(Duration::as_secs)
    }

    /// The renewal margin in seconds: `renew_before`, else one third of the validity (`ttl`,
    /// else the role's), else 240h.
    #[must_use]
    pub fn renew_before_secs(&self, role_ttl: Option<&Duration>) -> u64 {
        match (&self.renew_before, self.ttl_secs(role_ttl)) {
            (Some(r), _) => r.as_secs(),
            (None, Some(ttl)) => ttl / 3,
            (None, None) => 240 * 3600,
        }
    }
}

/// A KV v2 entry: mount and path below it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateStore {
    /// A `kv-v2` mount of `vault.mounts`.
    pub mount: String,
    /// Path of the entry below the mount, e.g. `lb/ingress`.
    pub path: String,
}
