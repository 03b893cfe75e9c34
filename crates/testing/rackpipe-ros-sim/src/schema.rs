//! The menus the simulator models: their kind, properties, types and defaults.
//!
//! Property sets follow RouterOS 7.x (`/console/inspect` dumps and the MikroTik help pages)
//! for the properties `ros-render` uses; anything else is rejected with RouterOS's
//! `unknown parameter <name>`, so a client cannot rely on a property the simulator does not
//! understand.

/// How entries of a menu come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuKind {
    /// A list: `add`, `set`, `remove`.
    List,
    /// A list of built-in entries that can only be `set` (ethernet ports, services).
    Fixed,
    /// One object without `.id` (`/ip/dns`, `/system/identity`).
    Singleton,
}

/// Value types, with the checks RouterOS applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Free text.
    Str,
    /// Non-empty text without control characters.
    Name,
    /// `yes`/`no`/`true`/`false`; stored and returned as `"true"`/`"false"`.
    Bool,
    /// Decimal integer within bounds (JSON numbers, `0x..` hex accepted).
    Int(i64, i64),
    /// One of the listed words.
    Enum(&'static [&'static str]),
    /// `a.b.c.d/len` (an interface address; the host part may be non-zero).
    Addr,
    /// `a.b.c.d/len` network with a zero host part.
    Prefix,
    /// `a.b.c.d`.
    Ip,
    /// Comma-separated `a.b.c.d` (may be empty).
    IpList,
    /// A RouterOS duration: `30s`, `1d2h`, `00:05:00`, `100ms`.
    Duration,
    /// `AA:BB:CC:DD:EE:FF`.
    Mac,
    /// The name of an existing interface.
    Iface,
    /// The name of an existing bridge.
    Bridge,
    /// Comma-separated existing interface names (may be empty).
    IfaceList,
    /// VLAN ids and ranges: `10,20-30`.
    VlanIds,
    /// A non-empty comma-separated subset of the listed words (`client-mac,client-id`).
    EnumList(&'static [&'static str]),
    /// Logging topics: comma-separated known topic names, each optionally negated with `!`.
    Topics,
    /// The name of an existing `/system/logging/action` entry.
    LogAction,
}

/// One property of a menu.
#[derive(Debug, Clone)]
pub struct PropSpec {
    /// Name as in the REST API.
    pub name: &'static str,
    /// Type.
    pub ty: Ty,
    /// Value when not set (`None`: omitted from replies when not set).
    pub default: Option<&'static str>,
    /// Must be given on `add`.
    pub required: bool,
    /// Returned but never written by clients.
    pub read_only: bool,
    /// A secret (password, private or preshared key): `/export` leaves it out unless
    /// `show-sensitive` is given.
    pub sensitive: bool,
    /// Written (or generated) but never shown: not in replies, never exported (user
    /// passwords, certificates' private keys). Only a binary backup carries it.
    pub hidden: bool,
}

fn p(name: &'static str, ty: Ty) -> PropSpec {
    PropSpec {
        name,
        ty,
        default: None,
        required: false,
        read_only: false,
        sensitive: false,
        hidden: false,
    }
}

impl PropSpec {
    fn d(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }
    fn req(mut self) -> Self {
        self.required = true;
        self
    }
    fn ro(mut self) -> Self {
        self.read_only = true;
        self
    }
    fn sens(mut self) -> Self {
        self.sensitive = true;
        self
    }
    fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }
}

/// One modelled menu.
#[derive(Debug, Clone)]
pub struct MenuSpec {
    /// v7 path, e.g. `/interface/bridge/port`.
    pub path: &'static str,
    /// Kind.
    pub kind: MenuKind,
    /// Properties in the order replies list them.
    pub props: Vec<PropSpec>,
    /// Whether entries have a unique `name` (GET `/rest/<menu>/<name>` works).
    pub named: bool,
    /// Whether entries are interfaces (names unique across all interface menus).
    pub interface: bool,
    /// Whether unset defaults are omitted from replies (firewall rules).
    pub sparse: bool,
    /// Properties that together must be unique (`failure: ... already`).
    pub unique: &'static [&'static str],
    /// Whether `/export` prints the menu (`/user`, `/certificate` and `/file` are never
    /// exported).
    pub exported: bool,
}

fn menu(path: &'static str, kind: MenuKind, props: Vec<PropSpec>) -> MenuSpec {
    let named = props.iter().any(|p| p.name == "name") && kind != MenuKind::Singleton;
    MenuSpec {
        path,
        kind,
        props,
        named,
        interface: false,
        sparse: false,
        unique: &[],
        exported: true,
    }
}

/// A menu `/export` never prints.
fn unexported(path: &'static str, props: Vec<PropSpec>) -> MenuSpec {
    let mut spec = menu(path, MenuKind::List, props);
    spec.exported = false;
    spec
}

impl MenuSpec {
    /// The property spec of `name`.
    #[must_use]
    pub fn prop(&self, name: &str) -> Option<&PropSpec> {
        self.props.iter().find(|p| p.name == name)
    }
}

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
/// Logging topics RouterOS 7 knows (terraform-provider-routeros `validTopics`).
pub const LOG_TOPICS: &[&str] = &[
    "account",
    "async",
    "backup",
    "bfd",
    "bgp",
    "bridge",
    "calc",
    "caps",
    "certificate",
    "clock",
    "container",
    "critical",
    "ddns",
    "debug",
    "dhcp",
    "disk",
    "dns",
    "dot1x",
    "dude",
    "e-mail",
    "error",
    "event",
    "fetch",
    "firewall",
    "gps",
    "gsm",
    "health",
    "hotspot",
    "igmp-proxy",
    "info",
    "interface",
    "ipsec",
    "iscsi",
    "isdn",
    "isis",
    "kvm",
    "l2tp",
    "ldp",
    "lora",
    "lte",
    "manager",
    "mme",
    "mpls",
    "mqtt",
    "natpmp",
    "netinstall",
    "netwatch",
    "ntp",
    "ospf",
    "ovpn",
    "packet",
    "pim",
    "poe-out",
    "ppp",
    "pppoe",
    "pptp",
    "queue",
    "radius",
    "radvd",
    "raw",
    "read",
    "rip",
    "route",
    "rpki",
    "rsvp",
    "script",
    "sertcp",
    "simulator",
    "smb",
    "snmp",
    "ssh",
    "sstp",
    "state",
    "store",
    "stp",
    "system",
    "telephony",
    "tftp",
    "timer",
    "tr069",
    "update",
    "upnp",
    "ups",
    "vpls",
    "vrrp",
    "warning",
    "watchdog",
    "web-proxy",
    "wireguard",
    "wireless",
    "write",
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

fn common_tail(mut props: Vec<PropSpec>) -> Vec<PropSpec> {
    props.push(p("comment", Ty::Str));
    props.push(p("disabled", Ty::Bool).d("false"));
    props
}

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

/// Every modelled menu, in the order `/export` prints them (dependencies first).
#[must_use]
pub fn menus() -> Vec<MenuSpec> {
    use MenuKind::{Fixed, List, Singleton};
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
    let mut logging_action = menu(
        "/system/logging/action",
        List,
        vec![
            p("name", Ty::Name).req(),
            p(
                "target",
                Ty::Enum(&["disk", "echo", "email", "memory", "remote"]),
            )
            .req(),
            p("remote", Ty::Str).d("0.0.0.0"),
            p("remote-port", Ty::Int(0, 65535)).d("514"),
            p("src-address", Ty::Ip).d("0.0.0.0"),
            p("bsd-syslog", Ty::Bool).d("false"),
            p("syslog-facility", Ty::Str).d("daemon"),
            p("syslog-severity", Ty::Str).d("auto"),
            p("memory-lines", Ty::Int(1, 65535)).d("1000"),
            p("disk-file-name", Ty::Str).d("log"),
            p("disk-lines-per-file", Ty::Int(1, 65535)).d("1000"),
            p("disk-file-count", Ty::Int(1, 65535)).d("2"),
            p("remember", Ty::Bool).d("true"),
            p("default", Ty::Bool).d("false").ro(),
        ],
    );
    logging_action.named = true;
    // Rules: a list whose four factory rows (`default=yes`) can be changed and disabled but
    // not removed; an export addresses them by print index (`set 0 topics=info,!debug`).
    let logging = menu(
        "/system/logging",
        List,
        vec![
            p("topics", Ty::Topics).d("info"),
            p("action", Ty::LogAction).d("memory"),
            p("prefix", Ty::Str).d(""),
            p("regex", Ty::Str),
            p("comment", Ty::Str),
            p("disabled", Ty::Bool).d("false"),
            p("invalid", Ty::Bool).d("false").ro(),
            p("default", Ty::Bool).d("false").ro(),
        ],
    );

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
        menu(
            "/system/clock",
            Singleton,
            vec![
                p("time-zone-name", Ty::Str).d("manual"),
                p("time-zone-autodetect", Ty::Bool).d("true"),
                p("date", Ty::Str).ro(),
                p("time", Ty::Str).ro(),
                p("gmt-offset", Ty::Str).d("+00:00").ro(),
            ],
        ),
        menu(
            "/system/identity",
            Singleton,
            vec![p("name", Ty::Name).d("MikroTik")],
        ),
        logging_action,
        logging,
        menu(
            "/system/ntp/client",
            Singleton,
            vec![
                p("enabled", Ty::Bool).d("false"),
                p(
                    "mode",
                    Ty::Enum(&["broadcast", "manycast", "multicast", "unicast"]),
                )
                .d("unicast"),
                p("servers", Ty::Str).d(""),
                p("vrf", Ty::Str).d("main"),
                p("status", Ty::Str).d("stopped").ro(),
            ],
        ),
        // `/system/ntp/server`: one object (`set enabled=yes`), as `help.mikrotik.com` NTP
        // "NTP Server settings" and terraform's `routeros_system_ntp_server` describe it.
        menu(
            "/system/ntp/server",
            Singleton,
            vec![
                p("enabled", Ty::Bool).d("false"),
                p("broadcast", Ty::Bool).d("false"),
                p("broadcast-addresses", Ty::IpList).d(""),
                p("multicast", Ty::Bool).d("false"),
                p("manycast", Ty::Bool).d("false"),
                p("use-local-clock", Ty::Bool).d("false"),
                p("local-clock-stratum", Ty::Int(1, 16)).d("5"),
                p("auth-key", Ty::Str).d("none"),
                p("vrf", Ty::Str).d("main"),
            ],
        ),
        menu(
            "/system/scheduler",
            List,
            common_tail(vec![
                p("name", Ty::Name).req(),
                p("start-date", Ty::Str),
                p("start-time", Ty::Str),
                p("interval", Ty::Duration).d("0s"),
                p("on-event", Ty::Str).d(""),
                p("policy", Ty::Str)
                    .d("ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon"),
                p("owner", Ty::Str).ro(),
                p("run-count", Ty::Str).d("0").ro(),
                p("next-run", Ty::Str).ro(),
            ]),
        ),
        unexported(
            "/file",
            vec![
                p("name", Ty::Name).req(),
                p("type", Ty::Str).ro(),
                p("size", Ty::Str).ro(),
                p("creation-time", Ty::Str).ro(),
                p("contents", Ty::Str).d(""),
            ],
        ),
        // Users, their SSH keys and certificates are not configuration an export prints
        // (docs/reference/routeros-revert.md §1); passwords and private keys are never shown.
        unexported(
            "/user",
            vec![
                p("name", Ty::Name).req(),
                p("group", Ty::Enum(&["full", "read", "write"])).req(),
                p("password", Ty::Str).hidden(),
                p("address", Ty::Str).d(""),
                p("comment", Ty::Str),
                p("disabled", Ty::Bool).d("false"),
            ],
        ),
        unexported(
            "/user/ssh-keys",
            vec![
                p("user", Ty::Str).req(),
                p("key", Ty::Str).req(),
                p("key-owner", Ty::Str).ro(),
            ],
        ),
        unexported(
            "/certificate",
            vec![
                p("name", Ty::Name).req(),
                p("common-name", Ty::Str),
                p("fingerprint", Ty::Str).ro(),
                p("private-key", Ty::Bool).d("false").ro(),
                p("key", Ty::Str).ro().hidden(),
            ],
        ),
    ]
}

/// Parses a RouterOS duration (`1d2h3m4s`, `100ms`, `1w`, `00:05:00`, `30`) into milliseconds.
#[must_use]
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 3 {
            return None;
        }
        let h: u64 = parts[0].parse().ok()?;
        let m: u64 = parts[1].parse().ok()?;
        let (sec, frac) = parts[2].split_once('.').unwrap_or((parts[2], ""));
        let sec: u64 = sec.parse().ok()?;
        if !frac.bytes().all(|b| b.is_ascii_digit()) || m >= 60 || sec >= 60 || h > 1_000_000 {
            return None;
        }
        let ms: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}")[..3].parse().ok()?
        };
        return Some(((h * 60 + m) * 60 + sec) * 1000 + ms);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            number.push(char::from(c));
            i += 1;
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        let unit = if c == b'm' && bytes.get(i + 1) == Some(&b's') {
            i += 1;
            1
        } else {
            match c {
                b'w' => 7 * 86_400_000,
                b'd' => 86_400_000,
                b'h' => 3_600_000,
                b'm' => 60_000,
                b's' => 1000,
                _ => return None,
            }
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        i += 1;
    }
    if !number.is_empty() {
        total = total.checked_add(number.parse::<u64>().ok()?.checked_mul(1000)?)?;
    }
    Some(total)
}

/// Parses `a.b.c.d`.
#[must_use]
pub fn parse_ip(s: &str) -> Option<std::net::Ipv4Addr> {
    s.parse().ok()
}

/// Parses `a.b.c.d/len` (len defaults to 32) into (address, prefix length).
#[must_use]
pub fn parse_cidr(s: &str) -> Option<(std::net::Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/').unwrap_or((s, "32"));
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some(())?;
    Some((parse_ip(ip)?, len))
}

/// The network address of `ip/len`.
#[must_use]
pub fn network_of(ip: std::net::Ipv4Addr, len: u8) -> std::net::Ipv4Addr {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    std::net::Ipv4Addr::from(u32::from(ip) & mask)
}

/// Whether `ip` is inside `cidr` (`a.b.c.d/len` or a single address).
#[must_use]
pub fn cidr_contains(cidr: &str, ip: std::net::Ipv4Addr) -> bool {
    parse_cidr(cidr).is_some_and(|(net, len)| network_of(net, len) == network_of(ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1d2h"), Some(93_600_000));
        assert_eq!(parse_duration_ms("100ms"), Some(100));
        assert_eq!(parse_duration_ms("00:05:00"), Some(300_000));
        assert_eq!(parse_duration_ms("30"), Some(30_000));
        assert_eq!(parse_duration_ms("1x"), None);
        assert_eq!(parse_duration_ms(""), None);
    }

    #[test]
    fn cidrs() {
        assert!(cidr_contains("10.0.0.0/8", "10.1.2.3".parse().unwrap()));
        assert!(!cidr_contains("10.0.0.0/8", "11.1.2.3".parse().unwrap()));
        assert_eq!(
            parse_cidr("192.168.88.1/24"),
            Some(("192.168.88.1".parse().unwrap(), 24))
        );
        assert_eq!(parse_cidr("1.2.3.4/33"), None);
    }

    #[test]
    fn every_menu_path_is_unique() {
        let menus = menus();
        for (i, m) in menus.iter().enumerate() {
            assert!(
                menus[i + 1..].iter().all(|o| o.path != m.path),
                "{}",
                m.path
            );
        }
    }
}
