//! Guest facts from `pve-sync` (`pve-sync apply | ros-render plan -`): DHCP static leases
//! for the guests the site places on a DHCP-served segment.
//!
//! `pve-sync apply` and `pve-sync facts` print a document that embeds the site and carries
//! `facts.guests[]`: `{name, vmid, node, kind, nics: [{slot, mac, address, bridge, vlan}]}`.
//! The model keeps those other fields as [`LoadedSite::envelope`]; [`GuestFacts::from_envelope`]
//! reads them back.
//!
//! [`fact_leases`] turns them into leases: for every guest NIC with a MAC in the facts that
//! the site gives a DHCP address (`proxmox.guests[].nics[]` with `address`, not
//! `static_address`) inside a network served by one of the router's DHCP servers (the
//! server's interface carries an `/ip address` of that network):
//! - a site lease for that address with the same MAC confirms it: nothing is added (the site's
//!   lease is rendered as always);
//! - a site lease for that address with another MAC, a site lease giving that MAC another
//!   address, or a NIC MAC in the site that differs from the facts is an error naming the
//!   field: facts never override the site;
//! - otherwise a lease `server, address, mac-address` is added with the comment
//!   `rackpipe: guest <name> vmid <vmid>` ([`LEASE_COMMENT_PREFIX`]), so the plan keys it like
//!   any lease (`server`, `mac-address`) and a second plan has nothing to do.
//!
//! When facts are given, leases carrying that comment which the facts no longer produce (a
//! guest destroyed or moved) are deleted by the plan ([`OWNED_LEASES`]); without facts
//! they are rows like any other the site does not describe (reported, removed only with
//! `allow_destroy`).
//!
//! [`LoadedSite::envelope`]: rackpipe_model::load::LoadedSite::envelope

use std::collections::HashMap;
use std::net::IpAddr;

use rackpipe_model::Site;
use rackpipe_model::router::Router;
use rackpipe_model::types::MacAddress;
use serde_json::{Map, Value};

use crate::Error;
use crate::plan::OwnedRows;

/// Comment prefix of the leases derived from facts.
pub const LEASE_COMMENT_PREFIX: &str = "rackpipe: guest ";

/// The lease rows rackpipe owns when facts are given.
pub const OWNED_LEASES: OwnedRows = OwnedRows {
    menu: "/ip/dhcp-server/lease",
    comment_prefix: LEASE_COMMENT_PREFIX,
};

pub use rackpipe_model::facts::{GuestFact, NicFact};

/// `facts.guests` of a `pve-sync` document ([`rackpipe_model::facts::GuestFacts`], in
/// `facts.schema.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestFacts {
    /// The guests as pve-sync found them.
    pub guests: Vec<GuestFact>,
}

fn facts_error(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Facts {
        field: field.into(),
        message: message.into(),
    }
}

impl GuestFacts {
    /// The facts of an input document's envelope: `None` without an envelope or without
    /// `facts.guests` (a plain site, or another tool's document).
    ///
    /// # Errors
    /// `facts.guests` is present but not a list of guests.
    pub fn from_envelope(envelope: Option<&Map<String, Value>>) -> Result<Option<Self>, Error> {
        let Some(facts) = envelope
            .and_then(|e| e.get("facts"))
            .filter(|f| f.get("guests").is_some())
        else {
            return Ok(None);
        };
        let facts: rackpipe_model::facts::GuestFacts = serde_json::from_value(facts.clone())
            .map_err(|e| {
                facts_error(
                    "facts.guests",
                    format!("not pve-sync guest facts: {}", one_line(&e.to_string())),
                )
            })?;
        Ok(Some(Self {
            guests: facts.guests,
        }))
    }
}

fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// A static lease derived from facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactLease {
    /// DHCP server serving the guest's segment.
    pub server: String,
    /// The guest's address from the site.
    pub address: IpAddr,
    /// The MAC from the facts.
    pub mac: MacAddress,
    /// `rackpipe: guest <name> vmid <vmid>`.
    pub comment: String,
}

/// The DHCP server whose interface carries an address of a network containing `ip`.
fn serving_server(router: &Router, ip: IpAddr) -> Option<&str> {
    router.dhcp.servers.iter().find_map(|s| {
        router
            .addresses
            .iter()
            .any(|a| a.interface == s.interface && a.address.network().contains(ip))
            .then(|| s.name.as_str())
    })
}

/// The leases the facts add to the site's (see the module docs).
///
/// # Errors
/// A fact that contradicts the site (MAC or VMID), an unparsable MAC, or one MAC reported for
/// two NICs, each naming the field.
pub fn fact_leases(site: &Site, facts: &GuestFacts) -> Result<Vec<FactLease>, Error> {
    let (Some(router), Some(pve)) = (&site.router, &site.proxmox) else {
        return Ok(Vec::new());
    };
    let leases = &router.dhcp.leases;
    let mut out: Vec<FactLease> = Vec::new();
    let mut seen: HashMap<MacAddress, String> = HashMap::new();
    for (fi, fg) in facts.guests.iter().enumerate() {
        let Some((gi, g)) = pve
            .guests
            .iter()
            .enumerate()
            .find(|(_, g)| g.name.as_str() == fg.name)
        else {
            tracing::warn!(guest = %fg.name, "facts.guests[{fi}]: not a guest of the site; no lease");
            continue;
        };
        if let Some(vmid) = g.vmid
            && vmid != fg.vmid
        {
            return Err(facts_error(
                format!("facts.guests[{fi}].vmid"),
                format!(
                    "pve-sync reports guest {} as vmid {} but proxmox.guests[{gi}].vmid is {vmid}",
                    fg.name, fg.vmid
                ),
            ));
        }
        for (ni, nf) in fg.nics.iter().enumerate() {
            let Some(raw) = nf.mac.as_deref().filter(|m| !m.is_empty()) else {
                continue;
            };
            let field = format!("facts.guests[{fi}].nics[{ni}].mac");
            let mac: MacAddress = raw.parse().map_err(|e: String| facts_error(&field, e))?;
            let who = format!("guest {} vmid {} {}", fg.name, fg.vmid, nf.slot);
            if let Some(first) = seen.insert(mac, who.clone()) {
                return Err(facts_error(
                    &field,
                    format!("MAC {mac} is reported for {first} and for {who}"),
                ));
            }
            let Some((nj, nic)) = g.nics.iter().enumerate().find(|(_, n)| n.slot == nf.slot) else {
                continue;
            };
            if let Some(declared) = nic.mac
                && declared != mac
            {
                return Err(facts_error(
                    format!("proxmox.guests[{gi}].nics[{nj}].mac"),
                    format!("the site says {declared} but pve-sync reports {mac} for {who}"),
                ));
            }
            if nic.static_address {
                continue;
            }
            let Some(ip) = nic.address.map(|a| a.ip()) else {
                continue;
            };
            let Some(server) = serving_server(router, ip) else {
                continue;
            };
            if let Some((li, l)) = leases.iter().enumerate().find(|(_, l)| l.address == ip) {
                if l.mac != mac {
                    return Err(facts_error(
                        format!("router.dhcp.leases[{li}].mac"),
                        format!(
                            "the site leases {ip} to {} but pve-sync reports {mac} for {who}",
                            l.mac
                        ),
                    ));
                }
                continue; // The site's own lease, confirmed.
            }
            if let Some((li, l)) = leases.iter().enumerate().find(|(_, l)| l.mac == mac) {
                return Err(facts_error(
                    format!("router.dhcp.leases[{li}].address"),
                    format!(
                        "the site leases {} to {mac} but proxmox.guests[{gi}].nics[{nj}].address is {ip} ({who})",
                        l.address
                    ),
                ));
            }
            out.push(FactLease {
                server: server.to_owned(),
                address: ip,
                mac,
                comment: format!("{LEASE_COMMENT_PREFIX}{} vmid {}", fg.name, fg.vmid),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// vault-1: leased in the site (MAC known); vault-2: DHCP, no MAC, no lease; vault-3:
    /// static address; mgmt-1: on a segment no DHCP server serves.
    const SITE: &str = r#"
apiVersion: rackpipe/v1
kind: Site
metadata: {name: facts, domain: facts.test}
segments:
  - {name: mgmt, cidr: 10.3.0.0/24, gateway: 10.3.0.1}
  - {name: prod, cidr: 10.3.2.0/24, gateway: 10.3.2.1, vlan: 20}
router:
  identity: router.facts.test
  management: {address: 10.3.0.1, user: admin, password: "env:ROUTER_PASSWORD"}
  ethernet:
    - {default_name: ether2, name: LAN-01}
  bridges:
    - name: BRIDGE-PROXMOX
      vlan_filtering: true
      ports:
        - {interface: LAN-01}
      vlans:
        - {vlan_ids: [20], tagged: [BRIDGE-PROXMOX, LAN-01]}
  vlans:
    - {name: VLAN-PROD, interface: BRIDGE-PROXMOX, vlan_id: 20}
  addresses:
    - {address: 10.3.0.1/24, interface: BRIDGE-PROXMOX}
    - {address: 10.3.2.1/24, interface: VLAN-PROD}
  pools:
    - {name: PROD-POOL, ranges: [10.3.2.100-10.3.2.200]}
  dhcp:
    servers:
      - {name: DHCP-PROD, interface: VLAN-PROD, pool: PROD-POOL, lease_time: 1d}
    networks:
      - {address: 10.3.2.0/24, gateway: 10.3.2.1}
    leases:
      - {server: DHCP-PROD, address: 10.3.2.5, mac: "BC:24:11:00:00:05", comment: vault-1}
proxmox:
  cluster: facts
  api: {node: pve-s1, token: "env:PVE_TOKEN"}
  nodes:
    - {name: pve-s1, address: 10.3.0.11}
  storages:
    - {name: local, type: dir, content: [rootdir, images, vztmpl], shared: true}
  templates:
    - {name: ubuntu, storage: local, node: pve-s1, url: "https://example.invalid/ubuntu.tar.zst", file_name: ubuntu.tar.zst, content: vztmpl}
  guests:
    - &ct
      name: vault-1
      kind: lxc
      vmid: 1005
      node: pve-s1
      cores: 1
      memory_mib: 512
      disks: [{slot: rootfs, storage: local, size: 8G}]
      nics: [{slot: net0, bridge: vmbr0, vlan: 20, mac: "BC:24:11:00:00:05", address: 10.3.2.5/24, segment: prod}]
      source: {template: ubuntu}
    - <<: *ct
      name: vault-2
      vmid: 1006
      nics: [{slot: net0, bridge: vmbr0, vlan: 20, address: 10.3.2.6/24, segment: prod}]
    - <<: *ct
      name: vault-3
      vmid: 1007
      nics: [{slot: net0, bridge: vmbr0, vlan: 20, address: 10.3.2.7/24, static_address: true, segment: prod}]
    - <<: *ct
      name: mgmt-1
      vmid: 1008
      nics: [{slot: net0, bridge: vmbr0, address: 10.3.0.8/24, segment: mgmt}]
"#;

    fn site(text: &str) -> Site {
        rackpipe_model::load_and_validate("facts.yaml", text.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
            .site
    }

    fn facts(guests: serde_json::Value) -> GuestFacts {
        GuestFacts::from_envelope(json!({ "facts": { "guests": guests } }).as_object())
            .unwrap()
            .unwrap()
    }

    fn guest(name: &str, vmid: u32, mac: &str) -> serde_json::Value {
        json!({"name": name, "vmid": vmid, "node": "pve-s1", "kind": "lxc",
               "nics": [{"slot": "net0", "mac": mac, "address": null, "bridge": "vmbr0", "vlan": 20}]})
    }

    fn all_guests() -> serde_json::Value {
        json!([
            guest("vault-1", 1005, "BC:24:11:00:00:05"),
            guest("vault-2", 1006, "bc:24:11:00:00:06"),
            guest("vault-3", 1007, "BC:24:11:00:00:07"),
            guest("mgmt-1", 1008, "BC:24:11:00:00:08"),
            guest("not-in-site", 1999, "BC:24:11:00:00:99"),
        ])
    }

    #[test]
    fn leases_only_for_dhcp_guests_the_site_does_not_lease() {
        let leases = fact_leases(&site(SITE), &facts(all_guests())).unwrap();
        assert_eq!(
            leases,
            [FactLease {
                server: "DHCP-PROD".to_owned(),
                address: "10.3.2.6".parse().unwrap(),
                mac: "BC:24:11:00:00:06".parse().unwrap(),
                comment: "rackpipe: guest vault-2 vmid 1006".to_owned(),
            }]
        );
    }

    #[test]
    fn desired_gets_the_lease_and_is_unchanged_without_facts() {
        let s = site(SITE);
        let plain = crate::desired(&s).unwrap();
        assert_eq!(crate::desired_with_facts(&s, None).unwrap(), plain);
        let with = crate::desired_with_facts(&s, Some(&facts(all_guests()))).unwrap();
        let leases: Vec<String> = with
            .commands("/ip/dhcp-server/lease")
            .map(|c| {
                rackpipe_routeros::print_terse(&{
                    let mut one = rackpipe_routeros::Config::default();
                    one.push("/ip/dhcp-server/lease", c.clone());
                    one
                })
            })
            .collect();
        assert_eq!(leases.len(), 2, "{leases:?}");
        for token in [
            "/ip dhcp-server lease add ",
            "server=DHCP-PROD",
            "address=10.3.2.6",
            "mac-address=BC:24:11:00:00:06",
        ] {
            assert!(leases[1].contains(token), "{token}: {leases:?}");
        }
        assert!(
            leases[1].contains("comment=\"rackpipe: guest vault-2 vmid 1006\""),
            "{leases:?}"
        );
        assert_eq!(
            with.paths(),
            plain.paths(),
            "the lease goes into the existing lease menu"
        );
    }

    fn error_of(site_text: &str, guests: serde_json::Value) -> String {
        fact_leases(&site(site_text), &facts(guests))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn facts_never_override_the_site() {
        // The NIC's MAC in the site differs.
        let e = error_of(SITE, json!([guest("vault-1", 1005, "BC:24:11:00:00:55")]));
        assert_eq!(
            e,
            "proxmox.guests[0].nics[0].mac: the site says BC:24:11:00:00:05 but pve-sync reports BC:24:11:00:00:55 for guest vault-1 vmid 1005 net0"
        );
        // No MAC on the NIC, but the site's lease for its address has another one (the
        // model rejects such a site; a site built in code may still say it).
        let mut no_nic_mac = site(SITE);
        if let Some(p) = no_nic_mac.proxmox.as_mut() {
            p.guests[0].nics[0].mac = None;
        }
        let e = fact_leases(
            &no_nic_mac,
            &facts(json!([guest("vault-1", 1005, "BC:24:11:00:00:55")])),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "router.dhcp.leases[0].mac: the site leases 10.3.2.5 to BC:24:11:00:00:05 but pve-sync reports BC:24:11:00:00:55 for guest vault-1 vmid 1005 net0"
        );
        // The site leases the reported MAC to another address.
        let e = error_of(SITE, json!([guest("vault-2", 1006, "BC:24:11:00:00:05")]));
        assert!(
            e.starts_with("router.dhcp.leases[0].address: the site leases 10.3.2.5 to BC:24:11:00:00:05 but proxmox.guests[1].nics[0].address is 10.3.2.6"),
            "{e}"
        );
        // Another VMID.
        let e = error_of(SITE, json!([guest("vault-2", 2006, "BC:24:11:00:00:06")]));
        assert_eq!(
            e,
            "facts.guests[0].vmid: pve-sync reports guest vault-2 as vmid 2006 but proxmox.guests[1].vmid is 1006"
        );
        // A MAC reported twice, a malformed MAC.
        let e = error_of(
            SITE,
            json!([
                guest("vault-2", 1006, "BC:24:11:00:00:06"),
                guest("mgmt-1", 1008, "BC:24:11:00:00:06")
            ]),
        );
        assert!(
            e.starts_with(
                "facts.guests[1].nics[0].mac: MAC BC:24:11:00:00:06 is reported for guest vault-2"
            ),
            "{e}"
        );
        let e = error_of(SITE, json!([guest("vault-2", 1006, "BC:24:11")]));
        assert!(e.starts_with("facts.guests[0].nics[0].mac: "), "{e}");
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn envelope_without_facts_and_malformed_facts() {
        assert_eq!(GuestFacts::from_envelope(None).unwrap(), None);
        let other = json!({"kind": "Plan", "changes": []});
        assert_eq!(GuestFacts::from_envelope(other.as_object()).unwrap(), None);
        let bad = json!({"facts": {"guests": [{"name": "x"}]}});
        let e = GuestFacts::from_envelope(bad.as_object())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("facts.guests: not pve-sync guest facts: "),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn a_site_without_proxmox_gets_no_leases() {
        let mut s = site(SITE);
        s.proxmox = None;
        assert!(fact_leases(&s, &facts(all_guests())).unwrap().is_empty());
    }
}
