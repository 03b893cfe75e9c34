//! Addressing: IP addresses, pools, DHCP, then (in that order) DNS, address lists and firewall rules.

use std::str::FromStr;

use rackpipe_model::router::{Address, AddressListEntry, DhcpLease, DhcpNetwork, DhcpServer, Pool};
use rackpipe_model::types::{Hostname, Name};

use super::fit::duration;
use super::mapper::Mapper;
use crate::import::source::EntryKind;

impl Mapper<'_> {
    pub(super) fn addressing(&mut self) {
        let addresses = self.each("/ip/address", EntryKind::Add, |_, _, f| {
            let address: rackpipe_model::types::InterfaceAddress = f.need("address")?;
            if let Some(network) = f.get("network")
                && network != address.network().0.addr().to_string()
                && !f.live
            {
                return Err(format!(
                    "`network={network}` is not the address's own network"
                ));
            }
            Ok(Address {
                address,
                interface: f.need("interface")?,
                comment: f.comment(),
            })
        });
        for (i, a) in addresses {
            self.origin(
                format!("router.addresses[{}]", self.router.addresses.len()),
                "/ip/address",
                i,
            );
            self.router.addresses.push(a);
        }
        let pools = self.each("/ip/pool", EntryKind::Add, |_, _, f| {
            let ranges: Vec<rackpipe_model::types::AddressRange> = f.list("ranges")?;
            let text = f.props.get("ranges").unwrap_or_default();
            if ranges.is_empty() || crate::join(&ranges) != text {
                return Err(format!(
                    "`ranges={text}` is not written the way the typed field writes it"
                ));
            }
            Ok(Pool {
                name: f.need("name")?,
                ranges,
                comment: f.comment(),
            })
        });
        for (i, p) in pools {
            self.origin(
                format!("router.pools[{}]", self.router.pools.len()),
                "/ip/pool",
                i,
            );
            self.router.pools.push(p);
        }
        let default_lease = if self.source.is_v6() { "3d" } else { "30m" };
        let servers = self.each("/ip/dhcp-server", EntryKind::Add, |m, _, f| {
            let pool = match f.get("address-pool") {
                None | Some("static-only") => None,
                Some(p) => Some(Name::from_str(p).map_err(|e| e.to_string())?),
            };
            let lease_time = match f.get("lease-time") {
                Some(v) => duration(v)?,
                None => {
                    m.choices.push(format!(
                        "a DHCP server without `lease-time` gets RouterOS's default, {default_lease}"
                    ));
                    duration(default_lease)?
                }
            };
            Ok(DhcpServer {
                name: f.need("name")?,
                interface: f.need("interface")?,
                pool,
                lease_time,
                dynamic_lease_identifiers: f.get_live("dynamic-lease-identifiers", "client-mac,client-id").map(str::to_owned),
                dhcp_option_set: f.get_live("dhcp-option-set", "none").map(str::to_owned),
                bootp_support: f.get_live("bootp-support", "static").map(str::to_owned),
                comment: f.comment(),
                disabled: f.flag("disabled")?,
            })
        });
        for (i, s) in servers {
            let path = format!("router.dhcp.servers[{}]", self.router.dhcp.servers.len());
            if self.entries("/ip/dhcp-server")[i]
                .props
                .get("lease-time")
                .is_none()
            {
                self.comment(
                    format!("{path}.lease_time"),
                    format!("not in the export: RouterOS's default, {default_lease}"),
                );
            }
            self.origin(path, "/ip/dhcp-server", i);
            self.router.dhcp.servers.push(s);
        }
        let networks = self.each("/ip/dhcp-server/network", EntryKind::Add, |_, _, f| {
            Ok(DhcpNetwork {
                address: f.need("address")?,
                gateway: f.need("gateway")?,
                dns_servers: f.list("dns-server")?,
                ntp_servers: f.list("ntp-server")?,
                domain: f
                    .get("domain")
                    .filter(|d| !d.is_empty())
                    .map(Hostname::from_str)
                    .transpose()
                    .map_err(|e| e.to_string())?,
                netmask: f.opt("netmask")?.filter(|n| !(f.live && *n == 0)),
                next_server: f.opt("next-server")?,
                boot_file_name: f
                    .get("boot-file-name")
                    .filter(|b| !b.is_empty())
                    .map(str::to_owned),
                comment: f.comment(),
            })
        });
        for (i, n) in networks {
            self.origin(
                format!("router.dhcp.networks[{}]", self.router.dhcp.networks.len()),
                "/ip/dhcp-server/network",
                i,
            );
            self.router.dhcp.networks.push(n);
        }
        let leases = self.each("/ip/dhcp-server/lease", EntryKind::Add, |_, _, f| {
            Ok(DhcpLease {
                server: f
                    .opt("server")?
                    .unwrap_or_else(|| Name::from_str("all").unwrap_or_else(|_| unreachable!())),
                address: f.need("address")?,
                mac: f.need("mac-address")?,
                client_id: f
                    .get("client-id")
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
                lease_time: f.get_live("lease-time", "0s").map(duration).transpose()?,
                comment: f.comment(),
            })
        });
        for (i, l) in leases {
            self.origin(
                format!("router.dhcp.leases[{}]", self.router.dhcp.leases.len()),
                "/ip/dhcp-server/lease",
                i,
            );
            self.router.dhcp.leases.push(l);
        }
        self.dns();
        let lists = self.each("/ip/firewall/address-list", EntryKind::Add, |_, _, f| {
            let _ = f.get("creation-time");
            Ok(AddressListEntry {
                list: f.req("list")?.to_owned(),
                address: f.req("address")?.to_owned(),
                comment: f.comment(),
            })
        });
        for (i, a) in lists {
            self.origin(
                format!(
                    "router.firewall.address_lists[{}]",
                    self.router.firewall.address_lists.len()
                ),
                "/ip/firewall/address-list",
                i,
            );
            self.router.firewall.address_lists.push(a);
        }
        self.firewall_tables();
    }
}
