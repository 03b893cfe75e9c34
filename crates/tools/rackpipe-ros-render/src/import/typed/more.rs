//! The typed menus beyond interfaces and addressing (issue 18): firewall tables (IPv4 and
//! IPv6), IPv6 addresses and address lists, routes, interface lists and members, WireGuard,
//! VRRP, DHCP clients, neighbor discovery, NTP client servers, scripts and the scheduler.

use rackpipe_model::router::{
    DhcpClient, FirewallRule, InterfaceList, InterfaceListMember, Ipv6Address, NeighborDiscovery,
    NtpClientServer, Route, Router, Scheduler, Script, Vrrp, WireGuardInterface, WireGuardPeer,
};

use super::SETTINGS;
use super::fit::{Fit, describe, duration, enum_word, yes_no};
use super::mapper::Mapper;
use crate::import::source::EntryKind;

/// A text property, when given.
fn text(f: &mut Fit<'_>, k: &str) -> Option<String> {
    f.get(k).map(str::to_owned)
}

/// A comma list, as its items.
fn words(f: &mut Fit<'_>, k: &str) -> Vec<String> {
    f.get(k)
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn route(f: &mut Fit<'_>) -> Result<Route, String> {
    Ok(Route {
        dst_address: f.opt("dst-address")?,
        gateway: text(f, "gateway"),
        distance: f.opt("distance")?,
        routing_table: f.opt("routing-table")?,
        scope: f.opt("scope")?,
        target_scope: f.opt("target-scope")?,
        pref_src: f.opt("pref-src")?,
        suppress_hw_offload: yes_no(f, "suppress-hw-offload")?,
        check_gateway: text(f, "check-gateway"),
        blackhole: f.flag("blackhole")?,
        comment: f.comment(),
        disabled: f.flag("disabled")?,
    })
}

/// Where a firewall table's rules go in the router.
type RuleList = fn(&mut Router) -> &mut Vec<FirewallRule>;

impl Mapper<'_> {
    /// Records where each typed item came from and appends it to its list.
    fn keep<T>(
        &mut self,
        path: &str,
        site: &str,
        items: Vec<(usize, T)>,
        list: fn(&mut Router) -> &mut Vec<T>,
    ) {
        for (i, item) in items {
            let at = list(&mut self.router).len();
            self.origin(format!("router.{site}[{at}]"), path, i);
            list(&mut self.router).push(item);
        }
    }

    /// Every IPv4 firewall table.
    pub(super) fn firewall_tables(&mut self) {
        let tables: [(&str, &str, RuleList); 4] = [
            ("/ip/firewall/filter", "firewall.filter", |r| {
                &mut r.firewall.filter
            }),
            ("/ip/firewall/nat", "firewall.nat", |r| &mut r.firewall.nat),
            ("/ip/firewall/mangle", "firewall.mangle", |r| {
                &mut r.firewall.mangle
            }),
            ("/ip/firewall/raw", "firewall.raw", |r| &mut r.firewall.raw),
        ];
        for (path, table, list) in tables {
            self.rules(path, table, list);
        }
    }

    /// IPv6 addresses, routes and DHCP clients.
    pub(super) fn routing(&mut self) {
        let path = "/ipv6/address";
        let addresses = self.each(path, EntryKind::Add, |_, _, f| {
            Ok(Ipv6Address {
                address: f.need("address")?,
                interface: f.need("interface")?,
                advertise: yes_no(f, "advertise")?,
                comment: f.comment(),
                disabled: f.flag("disabled")?,
            })
        });
        self.keep(path, "ipv6.addresses", addresses, |r| &mut r.ipv6.addresses);
        let routes = self.each("/ip/route", EntryKind::Add, |_, _, f| route(f));
        self.keep("/ip/route", "routes", routes, |r| &mut r.routes);
        let routes = self.each("/ipv6/route", EntryKind::Add, |_, _, f| route(f));
        self.keep("/ipv6/route", "ipv6.routes", routes, |r| &mut r.ipv6.routes);
        let path = "/ip/dhcp-client";
        let clients = self.each(path, EntryKind::Add, |_, _, f| {
            Ok(DhcpClient {
                interface: f.need("interface")?,
                use_peer_dns: yes_no(f, "use-peer-dns")?,
                use_peer_ntp: yes_no(f, "use-peer-ntp")?,
                add_default_route: text(f, "add-default-route"),
                default_route_distance: f.opt("default-route-distance")?,
                script: text(f, "script"),
                comment: f.comment(),
                disabled: f.flag("disabled")?,
            })
        });
        self.keep(path, "dhcp_clients", clients, |r| &mut r.dhcp_clients);
    }

    /// Interface lists and members, WireGuard, VRRP and neighbor discovery.
    pub(super) fn more_interfaces(&mut self) {
        let path = "/interface/list";
        let lists = self.each(path, EntryKind::Add, |_, _, f| {
            Ok(InterfaceList {
                name: f.need("name")?,
                include: f.list("include")?,
                exclude: f.list("exclude")?,
                comment: f.comment(),
            })
        });
        self.keep(path, "interface_lists", lists, |r| &mut r.interface_lists);
        let path = "/interface/list/member";
        let members = self.each(path, EntryKind::Add, |_, _, f| {
            Ok(InterfaceListMember {
                list: f.need("list")?,
                interface: f.need("interface")?,
                comment: f.comment(),
                disabled: f.flag("disabled")?,
            })
        });
        self.keep(path, "interface_list_members", members, |r| {
            &mut r.interface_list_members
        });
        let path = "/interface/wireguard";
        let wg = self.each(path, EntryKind::Add, |m, i, f| {
            let line = m.entries(path).get(i).map_or(0, |e| e.line);
            let entry = describe(path, f.props, i);
            let private_key = f
                .get("private-key")
                .filter(|k| !k.is_empty())
                .map(|_| m.secrets.reference(path, &entry, "private-key", line));
            Ok(WireGuardInterface {
                name: f.need("name")?,
                listen_port: f.opt("listen-port")?,
                mtu: f.mtu()?,
                private_key,
                comment: f.comment(),
                disabled: f.flag("disabled")?,
            })
        });
        self.keep(path, "wireguard.interfaces", wg, |r| {
            &mut r.wireguard.interfaces
        });
        let path = "/interface/wireguard/peers";
        let peers = self.each(path, EntryKind::Add, |m, i, f| {
            let line = m.entries(path).get(i).map_or(0, |e| e.line);
            let entry = describe(path, f.props, i);
            let mut secret = |f: &mut Fit<'_>, k: &str| {
                f.get(k)
                    .filter(|v| !v.is_empty())
                    .map(|_| m.secrets.reference(path, &entry, k, line))
            };
            let private_key = secret(f, "private-key");
            let preshared_key = secret(f, "preshared-key");
            Ok(WireGuardPeer {
                interface: f.need("interface")?,
                public_key: f.req("public-key")?.to_owned(),
                name: text(f, "name"),
                allowed_address: words(f, "allowed-address"),
                endpoint_address: text(f, "endpoint-address"),
                endpoint_port: f.opt("endpoint-port")?,
                persistent_keepalive: text(f, "persistent-keepalive"),
                responder: yes_no(f, "responder")?,
                preshared_key,
                private_key,
                client_address: text(f, "client-address"),
                client_dns: text(f, "client-dns"),
                client_endpoint: text(f, "client-endpoint"),
                client_keepalive: text(f, "client-keepalive"),
                client_listen_port: f.opt("client-listen-port")?,
                comment: f.comment(),
                disabled: f.flag("disabled")?,
            })
        });
        self.keep(path, "wireguard.peers", peers, |r| &mut r.wireguard.peers);
        let path = "/interface/vrrp";
        let vrrp = self.each(path, EntryKind::Add, |_, _, f| {
            Ok(Vrrp {
                name: f.need("name")?,
                interface: f.need("interface")?,
                vrid: f.opt("vrid")?,
                priority: f.opt("priority")?,
                version: f.opt("version")?,
                v3_protocol: f.get("v3-protocol").map(enum_word).transpose()?,
                group_authority: f.opt("group-authority")?,
                authentication: f.get("authentication").map(enum_word).transpose()?,
                mtu: f.mtu()?,
                comment: f.comment(),
                disabled: f.flag("disabled")?,
            })
        });
        self.keep(path, "vrrp", vrrp, |r| &mut r.vrrp);
        let path = "/ip/neighbor/discovery-settings";
        let settings = self.source.menu(path).and_then(|m| m.settings.clone());
        if let Some(settings) = settings {
            let typed = self.allowed(path, SETTINGS).and_then(|()| {
                let mut f = Fit::new(&settings.props, self.live);
                Ok(NeighborDiscovery {
                    discover_interface_list: f.opt("discover-interface-list")?,
                    protocol: words(&mut f, "protocol"),
                })
            });
            match typed {
                Ok(nd) => {
                    self.origin("router.neighbor_discovery".to_owned(), path, SETTINGS);
                    self.router.neighbor_discovery = Some(nd);
                    self.rest_of_settings(path, &["discover-interface-list", "protocol"], None);
                }
                Err(reason) => {
                    self.rest_of_settings(path, &[], Some(&reason));
                }
            }
        }
    }

    /// NTP client servers, scripts and scheduler tasks.
    pub(super) fn automation(&mut self) {
        let path = "/system/ntp/client/servers";
        let servers = self.each(path, EntryKind::Add, |_, _, f| {
            Ok(NtpClientServer {
                address: f.req("address")?.to_owned(),
                comment: f.comment(),
                disabled: f.flag("disabled")?,
            })
        });
        self.keep(path, "ntp_client_servers", servers, |r| {
            &mut r.ntp_client_servers
        });
        let path = "/system/script";
        let scripts = self.each(path, EntryKind::Add, |_, _, f| {
            Ok(Script {
                name: f.req("name")?.to_owned(),
                source: text(f, "source").unwrap_or_default(),
                owner: text(f, "owner"),
                policy: words(f, "policy"),
                dont_require_permissions: yes_no(f, "dont-require-permissions")?,
                comment: f.comment(),
            })
        });
        self.keep(path, "scripts", scripts, |r| &mut r.scripts);
        let path = "/system/scheduler";
        let tasks = self.each(path, EntryKind::Add, |_, _, f| {
            Ok(Scheduler {
                name: f.req("name")?.to_owned(),
                on_event: f.req("on-event")?.to_owned(),
                start_date: text(f, "start-date"),
                start_time: text(f, "start-time"),
                interval: f.get("interval").map(duration).transpose()?,
                policy: words(f, "policy"),
                comment: f.comment(),
                disabled: f.flag("disabled")?,
            })
        });
        self.keep(path, "scheduler", tasks, |r| &mut r.scheduler);
    }
}
