//! `/interface`: ethernet ports (fixed), bonding, bridges with their ports and VLANs, VLAN
//! and WireGuard interfaces.

use super::MenuKind::{Fixed, List};
use super::{MenuSpec, PropSpec, Ty, common_tail, menu, p};

const ARP: &[&str] = &[
    "enabled",
    "disabled",
    "local-proxy-arp",
    "proxy-arp",
    "reply-only",
];
const FRAME_TYPES: &[&str] = &[
    "admit-all",
    "admit-only-untagged-and-priority-tagged",
    "admit-only-vlan-tagged",
];

/// The menus of this tree, in the order `/export` prints them.
pub(super) fn menus() -> Vec<MenuSpec> {
    let iface = |path, props: Vec<PropSpec>| {
        let mut spec = menu(path, List, common_tail(props));
        spec.interface = true;
        spec.props.push(p("running", Ty::Bool).d("true").ro());
        spec
    };
    let mut ethernet = menu(
        "/interface/ethernet",
        Fixed,
        common_tail(vec![
            p("name", Ty::Name).req(),
            p("default-name", Ty::Str).ro(),
            p("mtu", Ty::Int(0, 65535)).d("1500"),
            p("l2mtu", Ty::Int(0, 65535)).d("1592"),
            p("mac-address", Ty::Mac),
            p("orig-mac-address", Ty::Mac).ro(),
            p("arp", Ty::Enum(ARP)).d("enabled"),
            p("auto-negotiation", Ty::Bool).d("true"),
            p("rx-flow-control", Ty::Enum(&["auto", "off", "on"])).d("off"),
            p("tx-flow-control", Ty::Enum(&["auto", "off", "on"])).d("off"),
        ]),
    );
    ethernet.interface = true;
    ethernet.props.push(p("running", Ty::Bool).d("true").ro());

    let mut bridge_port = menu(
        "/interface/bridge/port",
        List,
        common_tail(vec![
            p("bridge", Ty::Bridge).req(),
            p("interface", Ty::Iface).req(),
            p("pvid", Ty::Int(1, 4094)).d("1"),
            p("frame-types", Ty::Enum(FRAME_TYPES)).d("admit-all"),
            p("ingress-filtering", Ty::Bool).d("true"),
            p("hw", Ty::Bool).d("true"),
            p(
                "edge",
                Ty::Enum(&["auto", "no", "no-discover", "yes", "yes-discover"]),
            )
            .d("auto"),
            p("horizon", Ty::Str).d("none"),
            p("trusted", Ty::Bool).d("false"),
            p("dynamic", Ty::Bool).d("false").ro(),
        ]),
    );
    bridge_port.unique = &["interface"];
    let mut bridge_vlan = menu(
        "/interface/bridge/vlan",
        List,
        common_tail(vec![
            p("bridge", Ty::Bridge).req(),
            p("vlan-ids", Ty::VlanIds).req(),
            p("tagged", Ty::IfaceList).d(""),
            p("untagged", Ty::IfaceList).d(""),
            p("current-tagged", Ty::Str).d("").ro(),
            p("current-untagged", Ty::Str).d("").ro(),
            p("dynamic", Ty::Bool).d("false").ro(),
        ]),
    );
    bridge_vlan.unique = &["bridge", "vlan-ids"];

    vec![
        ethernet,
        iface(
            "/interface/bonding",
            vec![
                p("name", Ty::Name).req(),
                p("slaves", Ty::IfaceList).req(),
                p(
                    "mode",
                    Ty::Enum(&[
                        "802.3ad",
                        "active-backup",
                        "balance-alb",
                        "balance-rr",
                        "balance-tlb",
                        "balance-xor",
                        "broadcast",
                    ]),
                )
                .d("balance-rr"),
                p(
                    "transmit-hash-policy",
                    Ty::Enum(&[
                        "encap-2-and-3",
                        "encap-3-and-4",
                        "layer-2",
                        "layer-2-and-3",
                        "layer-3-and-4",
                    ]),
                )
                .d("layer-2"),
                p("lacp-rate", Ty::Enum(&["1sec", "30secs"])).d("30secs"),
                p("link-monitoring", Ty::Enum(&["arp", "mii", "none"])).d("mii"),
                p("mii-interval", Ty::Duration).d("100ms"),
                p("min-links", Ty::Int(0, 4_294_967_295)).d("0"),
                p("mtu", Ty::Int(0, 65535)).d("1500"),
                p("arp", Ty::Enum(ARP)).d("enabled"),
            ],
        ),
        iface(
            "/interface/bridge",
            vec![
                p("name", Ty::Name).req(),
                p("vlan-filtering", Ty::Bool).d("false"),
                p("protocol-mode", Ty::Enum(&["mstp", "none", "rstp", "stp"])).d("rstp"),
                p("pvid", Ty::Int(1, 4094)).d("1"),
                p("frame-types", Ty::Enum(FRAME_TYPES)).d("admit-all"),
                p("ingress-filtering", Ty::Bool).d("true"),
                p("mtu", Ty::Str).d("auto"),
                p("admin-mac", Ty::Mac),
                p("auto-mac", Ty::Bool).d("true"),
                p("igmp-snooping", Ty::Bool).d("false"),
                p("dhcp-snooping", Ty::Bool).d("false"),
                p("add-dhcp-option82", Ty::Bool).d("false"),
                p("arp", Ty::Enum(ARP)).d("enabled"),
            ],
        ),
        iface(
            "/interface/vlan",
            vec![
                p("name", Ty::Name).req(),
                p("vlan-id", Ty::Int(1, 4094)).req(),
                p("interface", Ty::Iface).req(),
                p("mtu", Ty::Int(0, 65535)).d("1500"),
                p("arp", Ty::Enum(ARP)).d("enabled"),
                p("use-service-tag", Ty::Bool).d("false"),
            ],
        ),
        // WireGuard: RouterOS generates `private-key` when none is given and derives
        // `public-key` from it (the simulator's derivation is a stand-in, not Curve25519).
        iface(
            "/interface/wireguard",
            vec![
                p("name", Ty::Name).req(),
                p("listen-port", Ty::Int(1, 65535)).d("13231"),
                p("mtu", Ty::Int(0, 65535)).d("1420"),
                p("private-key", Ty::Str).sens(),
                p("public-key", Ty::Str).ro(),
            ],
        ),
        bridge_port,
        bridge_vlan,
    ]
}
