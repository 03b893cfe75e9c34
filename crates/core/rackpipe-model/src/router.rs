//! The MikroTik router: interfaces, bridges, addressing, DHCP, DNS, firewall and system settings.

use std::collections::BTreeMap;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod ipv6;
mod lists;
mod menus;
mod routing;
mod system;
mod tunnels;

pub use ipv6::{Ipv6, Ipv6Address};
pub use lists::{BUILTIN_INTERFACE_LISTS, InterfaceList, InterfaceListMember};
pub use routing::{Route, Vrrp, VrrpAuthentication, VrrpProtocol, YesNo};
pub use system::{DhcpClient, NeighborDiscovery, NtpClientServer, Scheduler, Script};
pub use tunnels::{WireGuard, WireGuardInterface, WireGuardPeer};

pub use menus::{
    MENU_PATH_PATTERN, MENU_PROPERTY_PATTERN, Menu, MenuEntry, MenuKey, MenuProperties, MenuValue,
    TYPED_MENUS, is_menu_path, is_menu_property, menu_key, menu_key_default,
};
/// Whether a RouterOS property holds a secret (the client crate's rule, one copy): a generic
/// menu gives such a property as a secret reference, never as text.
pub use rackpipe_routeros::config::is_secret_property;

use crate::types::{
    AddressRange, Duration, Hostname, InterfaceAddress, MacAddress, Name, Network, RosPropertyName,
    SecretRef,
};

/// The router section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Router {
    /// `/system identity` name: a host name (RFC 1123 labels), because it is written into the
    /// comment header of the rendered script and names the directory `render --out` writes
    /// the script to (a newline would end the comment, a `/` would leave the directory).
    #[schemars(regex(pattern = crate::types::HOSTNAME_PATTERN))]
    pub identity: String,
    /// How rackpipe reaches the router's REST API and SSH.
    pub management: Management,
    /// Physical ports, by factory name.
    #[serde(default)]
    pub ethernet: Vec<Ethernet>,
    /// Link aggregation interfaces.
    #[serde(default)]
    pub bonds: Vec<Bond>,
    /// Bridges with their ports and VLAN table.
    #[serde(default)]
    pub bridges: Vec<Bridge>,
    /// 802.1Q VLAN interfaces.
    #[serde(default)]
    pub vlans: Vec<Vlan>,
    /// `/ip address` entries.
    #[serde(default)]
    pub addresses: Vec<Address>,
    /// `/ip pool` entries.
    #[serde(default)]
    pub pools: Vec<Pool>,
    /// DHCP servers, networks and static leases.
    #[serde(default)]
    pub dhcp: Dhcp,
    /// DNS resolver settings and static records.
    #[serde(default)]
    pub dns: Dns,
    /// Firewall filter and NAT rules and address lists.
    #[serde(default)]
    pub firewall: Firewall,
    /// `/ip service` settings.
    #[serde(default)]
    pub services: Vec<IpService>,
    /// Clock and NTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<Clock>,
    /// Remote syslog targets.
    #[serde(default)]
    pub syslog: Vec<SyslogTarget>,
    /// `/interface/list` lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interface_lists: Vec<InterfaceList>,
    /// `/interface/list/member` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interface_list_members: Vec<InterfaceListMember>,
    /// WireGuard interfaces and peers.
    #[serde(default, skip_serializing_if = "WireGuard::is_empty")]
    pub wireguard: WireGuard,
    /// `/interface/vrrp` virtual routers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vrrp: Vec<Vrrp>,
    /// `/ip/route` static routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// IPv6 addresses and routes.
    #[serde(default, skip_serializing_if = "Ipv6::is_empty")]
    pub ipv6: Ipv6,
    /// `/ip/dhcp-client` entries (the router's own DHCP uplinks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dhcp_clients: Vec<DhcpClient>,
    /// Neighbor discovery settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbor_discovery: Option<NeighborDiscovery>,
    /// `/system/ntp/client/servers` (RouterOS 7's NTP server list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ntp_client_servers: Vec<NtpClientServer>,
    /// `/system/script` scripts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<Script>,
    /// `/system/scheduler` tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduler: Vec<Scheduler>,
    /// Menus the fields above do not model (`/ip/route`, `/interface/wireguard`, ...), each
    /// with its settings and its entries in order; planned and applied like the typed menus.
    /// A menu the fields above manage cannot be one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub menus: Vec<Menu>,
}

/// Management access to the router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Management {
    /// Address the tools connect to (never contacted by tests: they use simulators).
    pub address: IpAddr,
    /// REST API over HTTPS port.
    #[serde(default = "default_https_port")]
    pub rest_port: u16,
    /// SSH port (for `/export` read-back and backups).
    #[serde(default = "default_ssh_port")]
    pub ssh_port: u16,
    /// User name for the API.
    pub user: String,
    /// Where the API password comes from.
    pub password: SecretRef,
    /// Where the password that encrypts the router's binary backups comes from (`ros-render
    /// backup`); without it they are encrypted with the API password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_password: Option<SecretRef>,
    /// TLS trust: a CA file or a pinned SHA-256 fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsTrust>,
}

fn default_https_port() -> u16 {
    443
}

fn default_ssh_port() -> u16 {
    22
}

/// How a tool verifies a server's TLS certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsTrust {
    /// PEM file of the CA that signed the server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// SHA-256 fingerprint of the server's leaf certificate (hex, colons optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$"))]
    pub fingerprint_sha256: Option<String>,
}

/// A physical ethernet port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ethernet {
    /// Factory name, e.g. `ether1`.
    pub default_name: Name,
    /// Name given on the router, e.g. `WAN` (defaults to the factory name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// L3 MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 9216))]
    pub mtu: Option<u16>,
    /// L2 MTU (the largest frame the port carries without its Ethernet header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 16383))]
    pub l2mtu: Option<u16>,
    /// Fixed speed when auto-negotiation is off, e.g. `10G-baseSR` or `1G-baseT-full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<String>,
    /// Speeds advertised while negotiating (comma list as RouterOS prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    /// Auto-negotiation (RouterOS default yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_negotiation: Option<YesNo>,
    /// Receive flow control: `on`, `off` or `auto` (RouterOS default off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_flow_control: Option<String>,
    /// Transmit flow control: `on`, `off` or `auto` (RouterOS default off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_flow_control: Option<String>,
    /// Forward error correction of SFP28/QSFP ports (`auto`, `off`, `fec74`, `fec91`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fec_mode: Option<String>,
    /// Port disabled.
    #[serde(default)]
    pub disabled: bool,
}

impl Ethernet {
    /// The interface name in use on the router.
    #[must_use]
    pub fn interface_name(&self) -> &Name {
        self.name.as_ref().unwrap_or(&self.default_name)
    }
}

/// Bonding modes RouterOS supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BondMode {
    /// LACP.
    #[serde(rename = "802.3ad")]
    Lacp,
    /// Active backup.
    #[serde(rename = "active-backup")]
    ActiveBackup,
    /// Balance round robin.
    #[serde(rename = "balance-rr")]
    BalanceRr,
    /// Balance XOR.
    #[serde(rename = "balance-xor")]
    BalanceXor,
    /// Adaptive load balancing.
    #[serde(rename = "balance-alb")]
    BalanceAlb,
    /// Adaptive transmit load balancing.
    #[serde(rename = "balance-tlb")]
    BalanceTlb,
    /// Broadcast.
    #[serde(rename = "broadcast")]
    Broadcast,
}

/// A bonding interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bond {
    /// Interface name.
    pub name: Name,
    /// Ethernet interfaces enslaved (names in use on the router).
    #[schemars(length(min = 1))]
    pub slaves: Vec<Name>,
    /// Bonding mode.
    pub mode: BondMode,
    /// How traffic is spread over the slaves (`layer-2`, `layer-2-and-3`, `layer-3-and-4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transmit_hash_policy: Option<String>,
    /// L3 MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 9216))]
    pub mtu: Option<u16>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Accepted frame types on a bridge port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FrameTypes {
    /// Tagged and untagged.
    AdmitAll,
    /// Only untagged and priority-tagged frames.
    AdmitOnlyUntaggedAndPriorityTagged,
    /// Only VLAN-tagged frames.
    AdmitOnlyVlanTagged,
}

/// Spanning tree protocol of a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StpMode {
    /// No spanning tree.
    None,
    /// STP.
    Stp,
    /// Rapid STP (RouterOS default).
    Rstp,
    /// Multiple STP.
    Mstp,
}

/// A bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Interface name.
    pub name: Name,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether the bridge filters by its VLAN table.
    #[serde(default)]
    pub vlan_filtering: bool,
    /// Spanning tree protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_mode: Option<StpMode>,
    /// DHCP snooping.
    #[serde(default)]
    pub dhcp_snooping: bool,
    /// IGMP snooping.
    #[serde(default)]
    pub igmp_snooping: bool,
    /// The bridge's own MAC address (with `auto_mac: no`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_mac: Option<MacAddress>,
    /// Take the MAC address from the first port (RouterOS default yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_mac: Option<YesNo>,
    /// L3 MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 9216))]
    pub mtu: Option<u16>,
    /// Member ports.
    #[serde(default)]
    pub ports: Vec<BridgePort>,
    /// The bridge VLAN table (used when `vlan_filtering` is on).
    #[serde(default)]
    pub vlans: Vec<BridgeVlan>,
}

/// A bridge port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgePort {
    /// Member interface (ethernet, bond or VLAN interface name).
    pub interface: Name,
    /// Port VLAN id for untagged ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4094))]
    pub pvid: Option<u16>,
    /// Accepted frame types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_types: Option<FrameTypes>,
    /// DHCP snooping trusts this port.
    #[serde(default)]
    pub trusted: bool,
    /// IGMP snooping's multicast router port setting (`temporary-query`, `permanent`,
    /// `disabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_router: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One row of a bridge VLAN table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeVlan {
    /// VLAN ids of the row.
    #[schemars(length(min = 1), inner(range(min = 1, max = 4094)))]
    pub vlan_ids: Vec<u16>,
    /// Interfaces that carry these VLANs tagged (may include the bridge itself).
    #[serde(default)]
    pub tagged: Vec<Name>,
    /// Interfaces that carry these VLANs untagged.
    #[serde(default)]
    pub untagged: Vec<Name>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An 802.1Q VLAN interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vlan {
    /// Interface name.
    pub name: Name,
    /// Parent interface (ethernet, bond or bridge).
    pub interface: Name,
    /// VLAN id.
    #[schemars(range(min = 1, max = 4094))]
    pub vlan_id: u16,
    /// L3 MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 9216))]
    pub mtu: Option<u16>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An `/ip address` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Address with prefix, e.g. `10.3.0.1/24`.
    pub address: InterfaceAddress,
    /// Interface carrying it.
    pub interface: Name,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An `/ip pool`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Pool name.
    pub name: Name,
    /// Address ranges.
    #[schemars(length(min = 1))]
    pub ranges: Vec<AddressRange>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// DHCP configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dhcp {
    /// DHCP servers.
    #[serde(default)]
    pub servers: Vec<DhcpServer>,
    /// Networks handed out (gateway, DNS, NTP, domain).
    #[serde(default)]
    pub networks: Vec<DhcpNetwork>,
    /// Static leases.
    #[serde(default)]
    pub leases: Vec<DhcpLease>,
}

/// A DHCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpServer {
    /// Server name.
    pub name: Name,
    /// Interface it serves.
    pub interface: Name,
    /// Dynamic address pool (none: static leases only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Name>,
    /// Lease time.
    pub lease_time: Duration,
    /// Identifiers used for dynamic leases, e.g. `client-mac,client-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_lease_identifiers: Option<String>,
    /// The `/ip/dhcp-server/option/sets` entry whose options are handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_option_set: Option<String>,
    /// BOOTP clients: `none`, `static` (RouterOS default) or `dynamic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootp_support: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Server disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// A DHCP network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpNetwork {
    /// The network.
    pub address: Network,
    /// Gateway handed out.
    pub gateway: IpAddr,
    /// DNS servers handed out.
    #[serde(default)]
    pub dns_servers: Vec<IpAddr>,
    /// NTP servers handed out.
    #[serde(default)]
    pub ntp_servers: Vec<IpAddr>,
    /// Domain handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Hostname>,
    /// Prefix length handed out instead of the network's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 32))]
    pub netmask: Option<u8>,
    /// Boot server (PXE `next-server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_server: Option<IpAddr>,
    /// Boot file name (PXE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_file_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A DHCP static lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpLease {
    /// Server that owns the lease.
    pub server: Name,
    /// Address given.
    pub address: IpAddr,
    /// Client MAC address.
    pub mac: MacAddress,
    /// Client identifier (DHCP option 61) the lease is also bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Lease time of this lease (else the server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_time: Option<Duration>,
    /// Free text (by convention the host's FQDN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// DNS resolver settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// Upstream servers.
    #[serde(default)]
    pub servers: Vec<IpAddr>,
    /// Answer queries from the network.
    #[serde(default)]
    pub allow_remote_requests: bool,
    /// Static records.
    #[serde(default)]
    pub records: Vec<DnsRecord>,
}

/// A static DNS record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsRecord {
    /// Record name.
    pub name: Hostname,
    /// A/AAAA address.
    pub address: IpAddr,
    /// Time to live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Firewall configuration; rule order matters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// `/ip firewall filter` rules, in order.
    #[serde(default)]
    pub filter: Vec<FirewallRule>,
    /// `/ip firewall nat` rules, in order.
    #[serde(default)]
    pub nat: Vec<FirewallRule>,
    /// `/ip firewall address-list` entries.
    #[serde(default)]
    pub address_lists: Vec<AddressListEntry>,
    /// `/ip firewall mangle` rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mangle: Vec<FirewallRule>,
    /// `/ip firewall raw` rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw: Vec<FirewallRule>,
}

/// A firewall rule (filter, NAT, mangle, raw). A `comment` doubles as the stable identity tag
/// used to match rules with what the router has (as Ansible's `api_modify` does) and must be
/// unique per table; a rule without one is matched by its chain, action and properties (its
/// whole content), and its place in the table is fixed by the order of the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirewallRule {
    /// Stable identity of the rule (optional: see above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Chain: `input`, `forward`, `output`, `srcnat`, `dstnat` or a custom chain.
    pub chain: String,
    /// Action: `accept`, `drop`, `reject`, `masquerade`, `dst-nat`, `src-nat`, `jump`, ...
    pub action: String,
    /// Other matchers and parameters, as RouterOS names them
    /// (`out-interface`, `connection-state`, `protocol`, `dst-port`, `to-addresses`, ...).
    /// Each key is a [`RosPropertyName`] (it is written unquoted before `=` in the script);
    /// each value is quoted by the script printer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "properties_schema")]
    pub properties: BTreeMap<RosPropertyName, String>,
    /// Rule disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// Rule properties: every key a [`RosPropertyName`] (`propertyNames`, so a bad key is
/// reported as one, not as an unknown field), every value a string.
fn properties_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": generator.subschema_for::<RosPropertyName>(),
        "additionalProperties": { "type": "string" },
    })
}

/// An address-list entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressListEntry {
    /// List name.
    pub list: String,
    /// Address or network.
    pub address: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Names of the `/ip service` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceName {
    /// FTP.
    Ftp,
    /// SSH.
    Ssh,
    /// Telnet.
    Telnet,
    /// HTTP (WebFig, REST).
    Www,
    /// HTTPS (WebFig, REST).
    WwwSsl,
    /// Winbox.
    Winbox,
    /// RouterOS API.
    Api,
    /// RouterOS API over TLS.
    ApiSsl,
}

/// An `/ip service` setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpService {
    /// Which service.
    pub name: ServiceName,
    /// Port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Networks allowed to connect (empty: any).
    #[serde(default)]
    pub address: Vec<Network>,
    /// Service disabled.
    #[serde(default)]
    pub disabled: bool,
    /// Certificate name for TLS services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// TLS versions a TLS service accepts (`any`, `only-1.2`, `only-1.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
}

/// Clock and NTP client settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// Time zone name, e.g. `Europe/Warsaw`.
    pub time_zone: String,
    /// NTP servers (names or addresses).
    #[serde(default)]
    pub ntp_servers: Vec<String>,
    /// Also serve NTP to the network.
    #[serde(default)]
    pub ntp_server: bool,
}

/// A remote syslog target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyslogTarget {
    /// Logging action name.
    pub name: Name,
    /// Remote address.
    pub remote: IpAddr,
    /// Remote port.
    #[serde(default = "default_syslog_port")]
    pub port: u16,
    /// Topics sent, e.g. `info`, `error`.
    #[serde(default)]
    pub topics: Vec<String>,
}

fn default_syslog_port() -> u16 {
    514
}
