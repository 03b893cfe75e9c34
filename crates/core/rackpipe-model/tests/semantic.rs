//! Each semantic rule, driven by one mutation of a small valid site.

use rackpipe_model::load::{LoadError, parse};
use rackpipe_model::{Diagnostic, load_and_validate};
use serde_json::{Value, json};

const SMALL: &str = include_str!("fixtures/small.yaml");

fn base() -> Value {
    parse("small.yaml", SMALL.as_bytes())
        .expect("fixture parses")
        .value
}

/// Validates `doc` and returns its diagnostics (empty when valid).
fn diagnostics(doc: &Value) -> Vec<Diagnostic> {
    let text = serde_json::to_string_pretty(doc).unwrap();
    match load_and_validate("t.json", text.as_bytes()) {
        Ok(loaded) => loaded.warnings,
        Err(LoadError::Invalid { diagnostics, .. }) => diagnostics,
        Err(other) => panic!("unexpected load error: {other}"),
    }
}

/// Asserts an error with `rule` at `path` after `mutate`.
#[track_caller]
fn expect_error(rule: &str, path: &str, mutate: impl FnOnce(&mut Value)) {
    let mut doc = base();
    mutate(&mut doc);
    let diags = diagnostics(&doc);
    assert!(
        diags
            .iter()
            .any(|d| d.is_error() && d.rule == rule && d.path == path),
        "expected {rule} at {path}, got:\n{}",
        diags
            .iter()
            .map(|d| format!("  {:?} {} {}", d.severity, d.rule, d))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_small_site_is_valid() {
    let diags = diagnostics(&base());
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
}

#[test]
fn errors_carry_yaml_positions() {
    let text = SMALL.replace("interface: LAN-02}", "interface: ether42}");
    let Err(LoadError::Invalid { diagnostics, .. }) = load_and_validate("s.yaml", text.as_bytes())
    else {
        panic!("expected invalid");
    };
    let d = diagnostics
        .iter()
        .find(|d| d.path == "router.bridges[0].ports[1].interface")
        .expect("dangling port");
    let line = SMALL
        .lines()
        .position(|l| l.contains("interface: LAN-02}"))
        .unwrap()
        + 1;
    assert_eq!(d.position.map(|p| p.line), Some(line as u64));
}

#[test]
fn all_errors_are_collected() {
    let mut doc = base();
    doc["router"]["bridges"][0]["ports"][0]["interface"] = json!("nope1");
    doc["proxmox"]["guests"][0]["node"] = json!("pve-s9");
    doc["vault"]["nodes"].as_array_mut().unwrap().pop();
    let errors = diagnostics(&doc)
        .into_iter()
        .filter(Diagnostic::is_error)
        .count();
    assert!(errors >= 3, "{errors}");
}

#[test]
fn dangling_bridge_port() {
    expect_error(
        "dangling-reference",
        "router.bridges[0].ports[0].interface",
        |d| {
            d["router"]["bridges"][0]["ports"][0]["interface"] = json!("ether42");
        },
    );
}

#[test]
fn dangling_bond_slave() {
    expect_error("dangling-reference", "router.bonds[0].slaves[1]", |d| {
        d["router"]["bonds"][0]["slaves"][1] = json!("ether11");
    });
}

#[test]
fn dangling_vlan_parent() {
    expect_error("dangling-reference", "router.vlans[0].interface", |d| {
        d["router"]["vlans"][0]["interface"] = json!("BRIDGE-NOPE");
    });
}

#[test]
fn bond_slave_used_as_bridge_port() {
    expect_error(
        "slave-and-port",
        "router.bridges[1].ports[1].interface",
        |d| {
            d["router"]["bridges"][1]["ports"]
                .as_array_mut()
                .unwrap()
                .push(json!({"interface": "ether9"}));
        },
    );
}

#[test]
fn bridge_port_used_twice() {
    expect_error("duplicate", "router.bridges[1].ports[1].interface", |d| {
        d["router"]["bridges"][1]["ports"]
            .as_array_mut()
            .unwrap()
            .push(json!({"interface": "LAN-01"}));
    });
}

#[test]
fn duplicate_vlan_in_bridge_table() {
    expect_error("duplicate", "router.bridges[0].vlans[1].vlan_ids[0]", |d| {
        d["router"]["bridges"][0]["vlans"]
            .as_array_mut()
            .unwrap()
            .push(json!({"vlan_ids": [20], "tagged": ["LAN-01"]}));
    });
}

#[test]
fn duplicate_interface_names() {
    expect_error("duplicate", "router.bridges[1].name", |d| {
        d["router"]["bridges"][1]["name"] = json!("BRIDGE-PROXMOX");
    });
}

#[test]
fn overlapping_segments() {
    // Reported at the field that was changed, naming the one it now overlaps.
    expect_error("overlap", "segments[2].cidr", |d| {
        d["segments"][2]["cidr"] = json!("10.3.0.0/16");
    });
}

#[test]
fn gateway_outside_segment() {
    expect_error("outside-segment", "segments[0].gateway", |d| {
        d["segments"][0]["gateway"] = json!("10.9.0.1");
    });
}

#[test]
fn vip_outside_segment() {
    expect_error("outside-segment", "load_balancer.vips[0].address", |d| {
        d["load_balancer"]["vips"][0]["address"] = json!("10.3.0.254");
    });
}

#[test]
fn pool_outside_network() {
    expect_error("outside-segment", "router.pools[0].ranges[0]", |d| {
        d["router"]["pools"][0]["ranges"][0] = json!("10.3.9.100-10.3.9.200");
    });
}

#[test]
fn pool_contains_gateway_and_vip() {
    expect_error("pool-overlap", "router.pools[0].ranges[0]", |d| {
        d["router"]["pools"][0]["ranges"][0] = json!("10.3.2.1-10.3.2.254");
    });
}

#[test]
fn lease_inside_pool() {
    expect_error("pool-overlap", "router.dhcp.leases[0].address", |d| {
        d["router"]["dhcp"]["leases"][0]["address"] = json!("10.3.2.150");
        d["proxmox"]["guests"][0]["nics"][0]["address"] = json!("10.3.2.150/24");
    });
}

#[test]
fn lease_disagrees_with_guest() {
    expect_error("lease-mismatch", "router.dhcp.leases[0].address", |d| {
        d["router"]["dhcp"]["leases"][0]["address"] = json!("10.3.2.9");
    });
}

#[test]
fn duplicate_address_across_sections() {
    expect_error("duplicate", "load_balancer.vips[0].address", |d| {
        d["load_balancer"]["vips"][0]["address"] = json!("10.3.2.6");
    });
}

#[test]
fn duplicate_mac() {
    expect_error("duplicate", "proxmox.guests[1].nics[0].mac", |d| {
        d["proxmox"]["guests"][1]["nics"][0]["mac"] = json!("bc:24:11:00:00:05");
    });
}

#[test]
fn duplicate_vmid() {
    expect_error("duplicate", "proxmox.guests[2].vmid", |d| {
        d["proxmox"]["guests"][2]["vmid"] = json!(1005);
    });
}

#[test]
fn guest_on_unknown_node_storage_bridge() {
    expect_error("dangling-reference", "proxmox.guests[0].node", |d| {
        d["proxmox"]["guests"][0]["node"] = json!("pve-s7")
    });
    expect_error(
        "dangling-reference",
        "proxmox.guests[0].disks[0].storage",
        |d| {
            d["proxmox"]["guests"][0]["disks"][0]["storage"] = json!("nope");
        },
    );
    expect_error(
        "dangling-reference",
        "proxmox.guests[0].nics[0].bridge",
        |d| {
            d["proxmox"]["guests"][0]["nics"][0]["bridge"] = json!("vmbr9");
        },
    );
}

#[test]
fn lb_backend_must_resolve() {
    expect_error(
        "dangling-reference",
        "load_balancer.services[0].backends[1].target",
        |d| {
            d["load_balancer"]["services"][0]["backends"][1]["target"] = json!("ghost");
        },
    );
}

#[test]
fn vault_quorum_must_be_odd() {
    expect_error("quorum", "vault.nodes", |d| {
        d["vault"]["nodes"].as_array_mut().unwrap().pop();
    });
}

#[test]
fn ha_members_on_one_node() {
    expect_error("placement", "vault.nodes[1].guest", |d| {
        d["proxmox"]["guests"][1]["node"] = json!("pve-s1");
    });
    // Explicitly allowed: no placement error for Vault.
    let mut doc = base();
    doc["proxmox"]["guests"][1]["node"] = json!("pve-s1");
    doc["vault"]["allow_colocation"] = json!(true);
    doc["load_balancer"]["allow_colocation"] = json!(true);
    assert!(diagnostics(&doc).iter().all(|d| d.rule != "placement"));
}

#[test]
fn pki_role_outside_domain() {
    expect_error(
        "foreign-domain",
        "vault.pki[0].roles[0].allowed_domains[0]",
        |d| {
            d["vault"]["pki"][0]["roles"][0]["allowed_domains"][0] = json!("evil.example");
        },
    );
}

#[test]
fn backup_destination_must_be_an_export() {
    expect_error(
        "dangling-reference",
        "backups.router.destination.export",
        |d| {
            d["backups"] = json!({"router": {"schedule": "0 3 * * *", "destination": {"export": "nope"}, "retention": {"keep_last": 3}}});
        },
    );
}

#[test]
fn unknown_sections_pass_through_with_a_warning() {
    let mut doc = base();
    doc["facts"] = json!({"from": "pve-sync"});
    let diags = diagnostics(&doc);
    assert!(
        diags
            .iter()
            .any(|d| d.rule == "unknown-section" && d.path == "facts" && !d.is_error())
    );
}

#[test]
fn copy_pasted_comments_are_warnings() {
    let mut doc = base();
    doc["router"]["ethernet"][2]["comment"] = json!("pve-s1");
    let diags = diagnostics(&doc);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    assert!(
        diags
            .iter()
            .any(|d| d.rule == "copy-paste" && d.path == "router.ethernet[2].comment")
    );
}

#[test]
fn generic_menus_valid_and_their_rules() {
    let menus = json!([
        {"path": "/ipv6/nd", "entries": [
            {"interface": "LAN-01"},
            {"interface": "LAN-02", "ra-interval": "20s-60s", "comment": "lab"}
        ]},
        {"path": "/ppp/secret", "entries": [
            {"name": "vpn1", "service": "l2tp", "password": {"secret": "env:PPP_VPN1"}}
        ]},
        {"path": "/tool/mac-server", "settings": {"allowed-interface-list": "LAN"}}
    ]);
    let mut doc = base();
    doc["router"]["menus"] = menus.clone();
    let diags = diagnostics(&doc);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    // A menu the typed fields manage.
    expect_error("typed-menu", "router.menus[1].path", |d| {
        d["router"]["menus"] = menus.clone();
        d["router"]["menus"][1]["path"] = json!("/ip/address");
    });
    // A menu given twice.
    expect_error("duplicate", "router.menus[2].path", |d| {
        d["router"]["menus"] = menus.clone();
        d["router"]["menus"][2]["path"] = json!("/ipv6/nd");
    });
    // Two entries with one natural key (neighbor discovery is keyed by interface).
    expect_error("duplicate", "router.menus[0].entries[1]", |d| {
        d["router"]["menus"] = menus.clone();
        d["router"]["menus"][0]["entries"][1]["interface"] = json!("LAN-01");
    });
    // A secret property in plain text is named by its field path.
    expect_error("plain-secret", "router.menus[1].entries[0].password", |d| {
        d["router"]["menus"] = menus.clone();
        d["router"]["menus"][1]["entries"][0]["password"] = json!("hunter22");
    });
    // Schema: a menu path and a property name as RouterOS writes them, a secret as a reference.
    for (pointer, value) in [
        ("/router/menus/0/path", json!("/ip route")),
        (
            "/router/menus/1/entries/0/password",
            json!({"secret": "hunter2"}),
        ),
    ] {
        let mut d = base();
        d["router"]["menus"] = menus.clone();
        *d.pointer_mut(pointer).unwrap() = value;
        assert!(
            diagnostics(&d)
                .iter()
                .any(|x| x.is_error() && x.rule == "schema"),
            "{pointer}: {:?}",
            diagnostics(&d)
        );
    }
}
