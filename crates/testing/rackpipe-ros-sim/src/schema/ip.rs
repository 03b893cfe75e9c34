//! `/ip`: pools, DHCP server with networks and leases, addresses, DNS and its static
//! entries, firewall address lists, filter and NAT rules, IPsec peers and identities, and
//! services.

use super::MenuKind::{Fixed, List, Singleton};
use super::{MenuKind, MenuSpec, Ty, common_tail, menu, p};

const FILTER_ACTIONS: &[&str] = &[
    "accept",
    "add-dst-to-address-list",
    "add-src-to-address-list",
    "drop",
    "fasttrack-connection",
    "jump",
    "log",
    "passthrough",
    "reject",
    "return",
    "tarpit",
];
const NAT_ACTIONS: &[&str] = &[
    "accept",
    "add-dst-to-address-list",
    "add-src-to-address-list",
    "dst-nat",
    "endpoint-independent-nat",
    "jump",
    "log",
    "masquerade",
    "netmap",
    "passthrough",
    "redirect",
    "return",
    "same",
    "src-nat",
];

fn firewall(path: &'static str, actions: &'static [&'static str]) -> MenuSpec {
    let mut props = vec![
        p("chain", Ty::Name).req(),
        p("action", Ty::Enum(actions)).d("accept"),
    ];
    for name in [
        "src-address",
        "dst-address",
        "src-address-list",
        "dst-address-list",
        "protocol",
        "src-port",
        "dst-port",
        "port",
        "in-interface",
        "out-interface",
        "in-interface-list",
        "out-interface-list",
        "connection-state",
        "connection-nat-state",
        "connection-type",
        "jump-target",
        "reject-with",
        "to-addresses",
        "to-ports",
        "address-list",
        "address-list-timeout",
        "icmp-options",
        "limit",
        "log-prefix",
        "packet-mark",
        "connection-mark",
        "ipsec-policy",
    ] {
        props.push(p(name, Ty::Str));
    }
    props.push(p("log", Ty::Bool));
    props.push(p("hw-offload", Ty::Bool));
    props.push(p("comment", Ty::Str));
    props.push(p("disabled", Ty::Bool));
    props.push(p("bytes", Ty::Str).d("0").ro());
    props.push(p("packets", Ty::Str).d("0").ro());
    props.push(p("invalid", Ty::Bool).d("false").ro());
    props.push(p("dynamic", Ty::Bool).d("false").ro());
    let mut spec = menu(path, MenuKind::List, props);
    spec.sparse = true;
    spec
}

/// The menus of this tree, in the order `/export` prints them.
pub(super) fn menus() -> Vec<MenuSpec> {
    let mut address = menu(
        "/ip/address",
        List,
        common_tail(vec![
            p("address", Ty::Addr).req(),
            p("network", Ty::Ip),
            p("interface", Ty::Iface).req(),
            p("actual-interface", Ty::Str).ro(),
            p("invalid", Ty::Bool).d("false").ro(),
            p("dynamic", Ty::Bool).d("false").ro(),
        ]),
    );
    address.unique = &["address", "interface"];
    let mut dhcp_network = menu(
        "/ip/dhcp-server/network",
        List,
        vec![
            p("address", Ty::Prefix).req(),
            p("gateway", Ty::IpList).d(""),
            p("dns-server", Ty::IpList).d(""),
            p("ntp-server", Ty::IpList).d(""),
            p("domain", Ty::Str).d(""),
            p("netmask", Ty::Int(0, 32)),
            p("dhcp-option-set", Ty::Str),
            p("comment", Ty::Str),
            p("dynamic", Ty::Bool).d("false").ro(),
        ],
    );
    dhcp_network.unique = &["address"];
    let mut lease = menu(
        "/ip/dhcp-server/lease",
        List,
        common_tail(vec![
            p("address", Ty::Str).req(),
            p("mac-address", Ty::Mac),
            p("client-id", Ty::Str),
            p("server", Ty::Str).d("all"),
            p("lease-time", Ty::Duration),
            p("block-access", Ty::Bool).d("false"),
            p("host-name", Ty::Str).ro(),
            p("status", Ty::Str).d("waiting").ro(),
            p("dynamic", Ty::Bool).d("false").ro(),
        ]),
    );
    lease.unique = &["server", "mac-address"];
    let mut dns_static = menu(
        "/ip/dns/static",
        List,
        common_tail(vec![
            p("name", Ty::Name),
            p("regexp", Ty::Str),
            p(
                "type",
                Ty::Enum(&[
                    "A", "AAAA", "CNAME", "FWD", "MX", "NS", "NXDOMAIN", "SRV", "TXT",
                ]),
            ),
            p("address", Ty::Str),
            p("cname", Ty::Str),
            p("text", Ty::Str),
            p("forward-to", Ty::Str),
            p("ttl", Ty::Duration).d("1d"),
            p("match-subdomain", Ty::Bool).d("false"),
            p("dynamic", Ty::Bool).d("false").ro(),
        ]),
    );
    dns_static.named = false;
    let mut address_list = menu(
        "/ip/firewall/address-list",
        List,
        common_tail(vec![
            p("list", Ty::Name).req(),
            p("address", Ty::Str).req(),
            p("timeout", Ty::Duration),
            p("creation-time", Ty::Str).ro(),
            p("dynamic", Ty::Bool).d("false").ro(),
        ]),
    );
    address_list.unique = &["list", "address"];

    vec![
        menu(
            "/ip/pool",
            List,
            vec![
                p("name", Ty::Name).req(),
                p("ranges", Ty::Str).req(),
                p("next-pool", Ty::Str).d("none"),
                p("comment", Ty::Str),
            ],
        ),
        menu(
            "/ip/dhcp-server",
            List,
            common_tail(vec![
                p("name", Ty::Name).req(),
                p("interface", Ty::Iface).req(),
                p("address-pool", Ty::Str).d("static-only"),
                p("lease-time", Ty::Duration).d("30m"),
                p(
                    "authoritative",
                    Ty::Enum(&["after-10sec-delay", "after-2sec-delay", "no", "yes"]),
                )
                .d("yes"),
                p("use-radius", Ty::Enum(&["accounting", "no", "yes"])).d("no"),
                p("add-arp", Ty::Bool).d("false"),
                p(
                    "dynamic-lease-identifiers",
                    Ty::EnumList(&["client-mac", "client-id"]),
                )
                .d("client-mac,client-id"),
                p("dhcp-option-set", Ty::Str),
                p("dynamic", Ty::Bool).d("false").ro(),
                p("invalid", Ty::Bool).d("false").ro(),
            ]),
        ),
        address,
        dhcp_network,
        lease,
        menu(
            "/ip/dns",
            Singleton,
            vec![
                p("servers", Ty::IpList).d(""),
                p("dynamic-servers", Ty::Str).d("").ro(),
                p("allow-remote-requests", Ty::Bool).d("false"),
                p("cache-size", Ty::Int(64, 4_294_967_295)).d("2048"),
                p("cache-max-ttl", Ty::Duration).d("1w"),
                p("max-concurrent-queries", Ty::Int(1, 65535)).d("100"),
                p("use-doh-server", Ty::Str).d(""),
                p("verify-doh-cert", Ty::Bool).d("false"),
                p("cache-used", Ty::Str).d("16").ro(),
            ],
        ),
        dns_static,
        address_list,
        firewall("/ip/firewall/filter", FILTER_ACTIONS),
        firewall("/ip/firewall/nat", NAT_ACTIONS),
        menu(
            "/ip/ipsec/peer",
            List,
            vec![
                p("name", Ty::Name).req(),
                p("address", Ty::Str),
                p("exchange-mode", Ty::Enum(&["aggressive", "ike2", "main"])).d("main"),
                p("comment", Ty::Str),
                p("disabled", Ty::Bool).d("false"),
            ],
        ),
        menu(
            "/ip/ipsec/identity",
            List,
            vec![
                p("peer", Ty::Str).req(),
                p(
                    "auth-method",
                    Ty::Enum(&["digital-signature", "eap", "pre-shared-key"]),
                )
                .d("pre-shared-key"),
                p("secret", Ty::Str).sens(),
                p("comment", Ty::Str),
                p("disabled", Ty::Bool).d("false"),
            ],
        ),
        menu(
            "/ip/service",
            Fixed,
            vec![
                p("name", Ty::Name).ro(),
                p("port", Ty::Int(1, 65535)),
                p("address", Ty::Str).d(""),
                p("certificate", Ty::Str).d("none"),
                p("tls-version", Ty::Enum(&["any", "only-1.2"])).d("any"),
                p("vrf", Ty::Str).d("main"),
                p("max-sessions", Ty::Int(1, 1000)).d("20"),
                p("disabled", Ty::Bool).d("false"),
                p("invalid", Ty::Bool).d("false").ro(),
            ],
        ),
    ]
}
