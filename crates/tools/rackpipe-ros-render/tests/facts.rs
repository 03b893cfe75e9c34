//! `pve-sync apply | ros-render plan`: guest facts in a pve-sync document (built with
//! pve-sync's own `facts_document`) become DHCP static leases, planned, applied and planned
//! again against the RouterOS simulator (in-process, 127.0.0.1).
#![allow(clippy::print_stderr)]

use std::time::Duration;

use rackpipe_model::Site;
use rackpipe_pve_sync::{GuestFact, NicFact};
use rackpipe_ros_render::apply::{ApplyOptions, apply_with_facts};
use rackpipe_ros_render::plan::{PlanOptions, plan, plan_with_facts};
use rackpipe_ros_render::{Connection, GuestFacts, Password, RestClient, Trust};
use rackpipe_ros_sim::{SimConfig, Simulator};

const PASSWORD: &str = "sim-password";

fn example(name: &str) -> Option<Site> {
    let (path, bytes) = rackpipe_testkit::example_site(name);
    Some(
        rackpipe_model::load_and_validate(&path.display().to_string(), &bytes)
            .expect("example validates")
            .site,
    )
}

/// The site as a site that does not know its guests' MACs: the NICs lose `mac`, and the
/// leases of those MACs go (the hypervisors' leases stay).
fn without_guest_macs(mut site: Site) -> Site {
    let mut macs = Vec::new();
    if let Some(p) = site.proxmox.as_mut() {
        for g in &mut p.guests {
            for n in &mut g.nics {
                macs.extend(n.mac.take());
            }
        }
    }
    if let Some(r) = site.router.as_mut() {
        r.dhcp.leases.retain(|l| !macs.contains(&l.mac));
    }
    site
}

/// What pve-sync reports for the site's guests: every NIC with a fresh MAC.
fn guest_facts(site: &Site) -> Vec<GuestFact> {
    let pve = site.proxmox.as_ref().expect("proxmox section");
    pve.guests
        .iter()
        .enumerate()
        .map(|(i, g)| GuestFact {
            name: g.name.to_string(),
            vmid: g.vmid.expect("example guests have a vmid"),
            node: g.node.to_string(),
            kind: "lxc".to_owned(),
            nics: g
                .nics
                .iter()
                .enumerate()
                .map(|(j, n)| NicFact {
                    slot: n.slot.clone(),
                    mac: Some(format!("BC:24:11:FA:{i:02X}:{j:02X}")),
                    address: n.address.map(|a| a.ip().to_string()),
                    bridge: Some(n.bridge.to_string()),
                    vlan: n.vlan,
                })
                .collect(),
        })
        .collect()
}

/// The pve-sync document, as the next stage of the pipe reads it.
fn through_the_pipe(site: &Site, facts: &[GuestFact]) -> (Site, GuestFacts) {
    let document = rackpipe_pve_sync::facts_document(site, facts);
    let bytes = serde_json::to_vec(&document).unwrap();
    let loaded = rackpipe_model::load_and_validate("<stdin>", &bytes).unwrap();
    let facts = GuestFacts::from_envelope(loaded.envelope.as_ref())
        .unwrap()
        .expect("the document carries facts.guests");
    (loaded.site, facts)
}

async fn simulator(site: &Site) -> Simulator {
    let mut ports: Vec<String> = (1..=10).map(|i| format!("ether{i}")).collect();
    for e in &site.router.as_ref().unwrap().ethernet {
        if !ports.iter().any(|p| p == e.default_name.as_str()) {
            ports.push(e.default_name.to_string());
        }
    }
    Simulator::start(SimConfig {
        management: None,
        ethernet_ports: ports,
        unreachable_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn client_for(sim: &Simulator) -> RestClient {
    RestClient::new(&Connection {
        url: sim.base_url(),
        user: "admin".to_owned(),
        password: Password::new(PASSWORD),
        trust: Trust::LoopbackHttp,
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn quick_apply(expected: Option<rackpipe_model::documents::Plan>) -> ApplyOptions {
    ApplyOptions {
        revert_after: Duration::from_secs(20),
        verify_timeout: Duration::from_secs(2),
        revert_grace: Duration::from_secs(15),
        expected,
        ..ApplyOptions::default()
    }
}

/// `(server, address, mac, comment)` of every static lease on the router.
fn router_leases(sim: &Simulator) -> Vec<(String, String, String, String)> {
    sim.export_config()
        .commands("/ip/dhcp-server/lease")
        .map(|c| {
            let get = |k: &str| c.props.get(k).unwrap_or("").to_owned();
            (
                get("server"),
                get("address"),
                get("mac-address"),
                get("comment"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_become_leases_plan_apply_plan() {
    let Some(example) = example("rachuna-net") else {
        return;
    };
    let bare = without_guest_macs(example);
    let facts = guest_facts(&bare);
    let (site, guest_facts) = through_the_pipe(&bare, &facts);
    let sim = simulator(&site).await;
    let client = client_for(&sim);

    let first = plan_with_facts(&site, Some(&guest_facts), &client, PlanOptions::default())
        .await
        .unwrap();
    let lease_creates: Vec<&str> = first
        .plan
        .changes
        .iter()
        .filter(|c| c.resource.starts_with("/ip/dhcp-server/lease"))
        .flat_map(|c| c.commands.iter().map(String::as_str))
        .collect();
    // Every guest in rachuna-net takes its address by DHCP on a served VLAN.
    let guests = site.proxmox.as_ref().unwrap().guests.len();
    let hypervisors = site.router.as_ref().unwrap().dhcp.leases.len();
    assert_eq!(
        lease_creates.len(),
        guests + hypervisors,
        "{lease_creates:#?}"
    );
    assert!(
        lease_creates.iter().any(|c| [
            "/ip dhcp-server lease add ",
            "server=DHCP-VMS-INTERNAL",
            "address=10.3.1.2 ",
            "mac-address=BC:24:11:FA:00:00",
            "comment=\"rackpipe: guest ct01002 vmid 1002\"",
        ]
        .iter()
        .all(|t| c.contains(t))),
        "{lease_creates:#?}"
    );

    let result = apply_with_facts(
        &site,
        Some(&guest_facts),
        &client,
        &quick_apply(Some(first.plan.clone())),
    )
    .await
    .unwrap();
    assert_eq!(result.applied.len(), first.plan.changes.len());

    // On the router: one lease per guest NIC, with the facts' MAC and the site's address.
    let leases = router_leases(&sim);
    for (fact, guest) in facts.iter().zip(&site.proxmox.as_ref().unwrap().guests) {
        let mac = fact.nics[0].mac.clone().unwrap();
        let address = guest.nics[0].address.unwrap().ip().to_string();
        let comment = format!("rackpipe: guest {} vmid {}", fact.name, fact.vmid);
        assert!(
            leases
                .iter()
                .any(|(_, a, m, c)| *a == address && *m == mac && *c == comment),
            "{} ({mac} {address}) not leased: {leases:#?}",
            fact.name
        );
    }

    // Idempotent: nothing to do the second time.
    let second = plan_with_facts(&site, Some(&guest_facts), &client, PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(
        second.plan.summary.total(),
        0,
        "second plan: {:#?}",
        second.plan.changes
    );
    assert!(
        second.plan.unmanaged.is_empty(),
        "{:?}",
        second.plan.unmanaged
    );

    // Without facts, behaviour is unchanged: the fact leases are rows the site does not
    // describe (reported, not removed).
    let plain = plan(&site, &client, PlanOptions::default()).await.unwrap();
    assert_eq!(plain.plan.summary.total(), 0, "{:#?}", plain.plan.changes);
    assert_eq!(
        plain.plan.unmanaged.len(),
        guests,
        "{:?}",
        plain.plan.unmanaged
    );

    // A guest gone from the facts: its lease (rackpipe's own) is deleted, nothing else.
    let fewer: Vec<GuestFact> = facts[1..].to_vec();
    let (_, fewer_facts) = through_the_pipe(&bare, &fewer);
    let pruned = plan_with_facts(&site, Some(&fewer_facts), &client, PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(pruned.plan.summary.delete, 1, "{:#?}", pruned.plan.changes);
    assert_eq!(pruned.plan.summary.total(), 1, "{:#?}", pruned.plan.changes);
    assert!(
        pruned.plan.changes[0].commands[0].contains("mac-address=BC:24:11:FA:00:00"),
        "{:?}",
        pruned.plan.changes[0].commands
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_confirming_site_leases_add_nothing_and_conflicts_fail() {
    let Some(site) = example("rachuna-net") else {
        return;
    };
    // pve-sync reports exactly the MACs the site declares: the site's leases, as always.
    let mut facts = guest_facts(&site);
    for (fact, guest) in facts.iter_mut().zip(&site.proxmox.as_ref().unwrap().guests) {
        for (nic, declared) in fact.nics.iter_mut().zip(&guest.nics) {
            nic.mac = declared.mac.map(|m| m.to_string().to_ascii_lowercase());
        }
    }
    let (loaded, confirming) = through_the_pipe(&site, &facts);
    assert_eq!(
        rackpipe_ros_render::desired_with_facts(&loaded, Some(&confirming)).unwrap(),
        rackpipe_ros_render::desired(&loaded).unwrap()
    );

    // Another MAC for ct01002 than the site's: one line naming the field, not transient,
    // and the router is not asked anything.
    facts[0].nics[0].mac = Some("BC:24:11:00:00:01".to_owned());
    let (loaded, conflicting) = through_the_pipe(&site, &facts);
    let sim = simulator(&loaded).await;
    let client = client_for(&sim);
    let err = plan_with_facts(&loaded, Some(&conflicting), &client, PlanOptions::default())
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    let text = err.to_string();
    assert_eq!(
        text,
        "proxmox.guests[0].nics[0].mac: the site says BC:24:11:F1:40:D4 but pve-sync reports BC:24:11:00:00:01 for guest ct01002 vmid 1002 net0"
    );
    assert_eq!(client.requests(), 0);
}
