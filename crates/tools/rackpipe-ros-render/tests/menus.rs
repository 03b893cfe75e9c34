//! Generic menus (`router.menus`) planned and applied against the simulator: a first apply,
//! a second plan of zero changes, secrets never shown, an entry the site removed deleted
//! only when rackpipe made it, and entries rackpipe does not own never touched.

use rackpipe_model::Site;
use rackpipe_model::documents::Action;
use rackpipe_model::router::Menu;
use rackpipe_ros_render::apply::ApplyOptions;
use rackpipe_ros_render::plan::PlanOptions;
use rackpipe_ros_sim::Simulator;
use serde_json::json;

use crate::remote::{client_for, example, quick_apply, sim_config};

/// A PPP password: the secret the plan must never show.
const WG_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn menus(key_file: &std::path::Path, with_second_route: bool) -> Vec<Menu> {
    let mut hosts = vec![json!({"host": "192.0.2.1"})];
    if with_second_route {
        hosts.push(json!({"host": "10.9.0.1", "comment": "lab"}));
    }
    serde_json::from_value(json!([
        {"path": "/ppp/secret", "entries": [
            {"name": "vpn0", "service": "l2tp",
             "password": {"secret": format!("file:{}", key_file.display())}}
        ]},
        {"path": "/ip/ipsec/profile", "entries": [{"name": "LAN"}, {"name": "WAN", "comment": "uplink"}]},
        {"path": "/ipv6/nd", "entries": [{"interface": "ether2"}]},
        {"path": "/tool/netwatch", "entries": hosts},
        {"path": "/ipv6/firewall/nat", "entries": [
            {"chain": "srcnat", "action": "masquerade", "out-interface": "ether1"},
            {"chain": "dstnat", "action": "accept", "comment": "second"}
        ]},
        {"path": "/tool/mac-server", "settings": {"allowed-interface-list": "LAN"}}
    ]))
    .unwrap()
}

fn site_with(menus: Vec<Menu>) -> Site {
    let mut site = example("rachuna-net").unwrap();
    site.router.as_mut().unwrap().menus = menus;
    site
}

async fn sim_for(site: &Site) -> Simulator {
    let ports: Vec<&str> = site
        .router
        .as_ref()
        .unwrap()
        .ethernet
        .iter()
        .map(|e| e.default_name.as_str())
        .collect();
    let sim = Simulator::start(sim_config(&ports)).await.unwrap();
    sim.accept_generic_menus();
    sim
}

#[tokio::test(flavor = "multi_thread")]
async fn generic_menus_plan_apply_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("wg.key");
    std::fs::write(&key_file, WG_KEY).unwrap();
    let site = site_with(menus(&key_file, true));
    let sim = sim_for(&site).await;
    let client = client_for(&sim, "sim-password");

    let first = rackpipe_ros_render::plan(&site, &client, PlanOptions::default())
        .await
        .unwrap();
    let generic: Vec<&str> = first
        .plan
        .changes
        .iter()
        .map(|c| c.resource.as_str())
        .filter(|r| {
            [
                "/ppp/secret",
                "/ip/ipsec/profile",
                "/ipv6/nd",
                "/tool/netwatch",
                "/ipv6/firewall/nat",
                "/tool/mac-server",
            ]
            .iter()
            .any(|p| r.starts_with(p))
        })
        .collect();
    assert_eq!(generic.len(), 9, "{generic:#?}");
    let shown = serde_json::to_string(&first.plan).unwrap();
    assert!(!shown.contains(WG_KEY), "the key is in the plan");
    assert!(shown.contains("<redacted>"), "{shown}");

    let applied = rackpipe_ros_render::apply(
        &site,
        &client,
        &ApplyOptions {
            expected: Some(first.plan.clone()),
            ..quick_apply()
        },
    )
    .await
    .unwrap();
    assert_eq!(applied.applied.len(), first.plan.changes.len());
    assert!(!serde_json::to_string(&applied).unwrap().contains(WG_KEY));

    // The router holds what the site says, in order, marked as rackpipe's.
    let routes = sim.rows("/tool/netwatch");
    assert_eq!(routes.len(), 2, "{routes:?}");
    assert_eq!(routes[1]["comment"], "rackpipe: lab");
    assert_eq!(routes[0]["comment"], "rackpipe");
    let mangle = sim.rows("/ipv6/firewall/nat");
    assert_eq!(mangle[0]["chain"], "srcnat");
    assert_eq!(mangle[1]["comment"], "rackpipe: second");
    assert_eq!(sim.rows("/ppp/secret")[0]["password"], WG_KEY);

    let second = rackpipe_ros_render::plan(&site, &client, PlanOptions::default())
        .await
        .unwrap();
    assert!(second.plan.changes.is_empty(), "{:#?}", second.plan.changes);
    assert!(
        second.plan.unmanaged.is_empty(),
        "{:?}",
        second.plan.unmanaged
    );
    assert_eq!(second.requests, first.requests, "one GET per menu");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_entries_rackpipe_made_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("wg.key");
    std::fs::write(&key_file, WG_KEY).unwrap();
    let site = site_with(menus(&key_file, true));
    let sim = sim_for(&site).await;
    let client = client_for(&sim, "sim-password");
    rackpipe_ros_render::apply(&site, &client, &quick_apply())
        .await
        .unwrap();
    // Someone adds a netwatch host and a NAT rule by hand; rackpipe must leave them alone.
    let hand = client
        .add(
            "/tool/netwatch",
            &rackpipe_routeros::Props::from_pairs([("host", "10.7.0.1"), ("comment", "by hand")]),
        )
        .await
        .unwrap();
    client
        .add(
            "/ipv6/firewall/nat",
            &rackpipe_routeros::Props::from_pairs([("chain", "srcnat"), ("action", "accept")]),
        )
        .await
        .unwrap();

    // The site drops its second route: that one (rackpipe's) is deleted, the hand-made ones
    // are only reported.
    let smaller = site_with(menus(&key_file, false));
    let planned = rackpipe_ros_render::plan(&smaller, &client, PlanOptions::default())
        .await
        .unwrap();
    let changes: Vec<(Action, &str)> = planned
        .plan
        .changes
        .iter()
        .map(|c| (c.action, c.resource.as_str()))
        .collect();
    assert_eq!(
        changes,
        [(Action::Delete, "/tool/netwatch host=10.9.0.1")],
        "{:#?}",
        planned.plan.changes
    );
    assert_eq!(
        planned.plan.unmanaged.len(),
        2,
        "{:?}",
        planned.plan.unmanaged
    );
    rackpipe_ros_render::apply(&smaller, &client, &quick_apply())
        .await
        .unwrap();
    let routes = sim.rows("/tool/netwatch");
    assert_eq!(routes.len(), 2, "{routes:?}");
    assert!(routes.iter().any(|r| r[".id"] == hand.as_str()));
    assert_eq!(sim.rows("/ipv6/firewall/nat").len(), 3);
    let again = rackpipe_ros_render::plan(&smaller, &client, PlanOptions::default())
        .await
        .unwrap();
    assert!(again.plan.changes.is_empty(), "{:#?}", again.plan.changes);
}
