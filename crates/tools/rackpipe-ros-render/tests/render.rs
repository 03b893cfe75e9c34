//! Rendering the example sites: snapshots, the real rachuna-dev router's facts, and a round
//! trip through the export parser.

use rackpipe_model::Site;
use rackpipe_ros_render::{desired, render};

fn example(name: &str) -> Site {
    let path = rackpipe_testkit::project_root().join(format!("examples/{name}/site.yaml"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rackpipe_model::load_and_validate(&path.display().to_string(), &bytes)
        .expect("example validates")
        .site
}

fn rsc(name: &str) -> String {
    render(&example(name), None)
        .unwrap()
        .files
        .remove(0)
        .content
}

#[test]
fn examples_render_stably() {
    for name in ["rachuna-net", "rachuna-dev"] {
        insta::assert_snapshot!(format!("{name}.rsc"), rsc(name));
    }
}

/// The facts recorded from the real router (../shared/reference/rachuna-real.md §1).
#[test]
fn rachuna_dev_matches_the_real_router() {
    let text = rsc("rachuna-dev");
    let expected = [
        // §1.2 ports
        r#"set [ find default-name=ether1 ] name=WAN comment="WAN - ISP""#,
        "set [ find default-name=ether9 ] name=LAN-08 comment=storage.rachuna.dev mtu=1592",
        "set [ find default-name=sfp-sfpplus1 ] name=sfp-sfpplus1 disabled=yes",
        // §1.3 VLANs
        r#"add name=VLAN-APPS-TEST interface=BRIDGE-PROXMOX vlan-id=10 comment="Proxmox Test 10.3.1.0/24""#,
        r#"add name=VLAN-APPS-PROD interface=BRIDGE-PROXMOX vlan-id=20 comment="Proxmox Prod 10.3.2.0/24""#,
        // §1.4 bond and bridges
        "add name=BONDING-STORAGE slaves=LAN-08,LAN-09 mode=802.3ad mtu=1592",
        "add name=BRIDGE-PROXMOX vlan-filtering=yes protocol-mode=rstp dhcp-snooping=yes igmp-snooping=yes",
        "add bridge=BRIDGE-STORAGE interface=BONDING-STORAGE trusted=yes",
        "add bridge=BRIDGE-PROXMOX vlan-ids=10 tagged=BRIDGE-PROXMOX,LAN-01,LAN-02,LAN-03",
        // §1.5 leases
        "add server=DHCP-PROXMOX address=10.3.0.11 mac-address=38:05:25:33:B8:49",
        "add server=DHCP-STORAGE address=10.2.0.11 mac-address=00:11:32:FE:1F:E3",
        "add server=DHCP-VLAN-APPS-PROD address=10.3.2.5 mac-address=BC:24:11:B6:06:01",
        // §1.6 DNS
        "set servers=8.8.8.8,4.4.4.4 allow-remote-requests=yes",
        "add name=vault.rachuna.dev address=10.3.2.254 ttl=1w",
        // §1.7 NAT and identity
        "add chain=srcnat action=masquerade out-interface=WAN",
        "set name=router.rachuna.dev",
    ];
    for line in expected {
        assert!(text.contains(line), "missing: {line}");
    }
    let servers = text
        .lines()
        .filter(|l| l.starts_with("add name=DHCP-"))
        .count();
    assert_eq!(servers, 5, "five DHCP servers");
    let leases = text
        .lines()
        .filter(|l| l.starts_with("add server=DHCP-"))
        .count();
    assert_eq!(
        leases, 14,
        "4 Proxmox + NAS + 3 runners + 3 Vault + 3 PostgreSQL leases"
    );
}

#[test]
fn rendered_script_parses_back_to_the_desired_state() {
    for name in ["rachuna-net", "rachuna-dev"] {
        let site = example(name);
        let want = desired(&site).unwrap();
        let got = rackpipe_routeros::parse(&rsc(name)).expect("render parses");
        assert_eq!(got.menus.len(), want.menus.len(), "{name}");
        for (g, w) in got.menus.iter().zip(&want.menus) {
            assert_eq!(g.path, w.path);
            let strip =
                |c: &rackpipe_routeros::Command| (c.verb, c.selector.clone(), c.props.clone());
            assert_eq!(
                g.commands.iter().map(strip).collect::<Vec<_>>(),
                w.commands.iter().map(strip).collect::<Vec<_>>(),
                "{name} {}",
                g.path
            );
        }
    }
}

#[test]
fn a_site_without_router_is_an_error() {
    let mut site = example("rachuna-dev");
    site.router = None;
    assert_eq!(
        render(&site, None).unwrap_err().to_string(),
        "router: the site has no router section"
    );
}

/// The generic menus (`router.menus`) are part of the script, after the typed menus; a
/// secret is left out and named in a comment, never resolved.
#[test]
fn generic_menus_are_rendered_and_their_secrets_left_out() {
    let mut site = example("rachuna-net");
    let menus: Vec<rackpipe_model::router::Menu> = serde_json::from_value(serde_json::json!([
        {"path": "/tool/mac-server", "settings": {"allowed-interface-list": "LAN"}},
        {"path": "/ppp/secret", "entries": [
            {"name": "vpn9", "service": "l2tp", "password": {"secret": "env:RACKPIPE_TEST_PPP9"}}
        ]}
    ]))
    .unwrap();
    let router = site.router.as_mut().unwrap();
    router.menus = menus;
    let text = render(&site, None).unwrap().files.remove(0).content;
    assert!(
        text.contains("/tool mac-server\nset allowed-interface-list=LAN"),
        "{text}"
    );
    assert!(
        text.contains("/ppp secret\nadd name=vpn9 service=l2tp comment=rackpipe"),
        "{text}"
    );
    assert!(!text.contains("password="), "{text}");
    assert!(text.contains(
        "# secret left out (ros-render apply sets it): router.menus[1].entries[0].password: env:RACKPIPE_TEST_PPP9"
    ));
    // The generic menus come after the typed ones.
    assert!(text.find("/system identity").unwrap() < text.find("/ppp secret").unwrap());
}
