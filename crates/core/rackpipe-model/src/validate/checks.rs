//! The semantic rules, grouped by concern. Each pushes diagnostics with the field path of the
//! offending value; nothing stops at the first problem. The entry point and the helpers shared by
//! several sections live here; the rules of each site section live in one submodule each.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::proxmox::Guest;
use crate::site::{KNOWN_SECTIONS, Site};
use crate::types::{Name, Network};

mod consistency;
mod kubernetes;
mod load_balancer;
mod menus;
mod monitoring;
mod nas;
mod network;
mod proxmox;
mod router;
mod router_more;
mod runners_and_backups;
pub(crate) mod secrets;
mod vault;

/// Runs every rule. `gaps` are the top-level sections of the document left out of `site`
/// (they break the schema): what they would hold is unknown, so no rule reports a consequence
/// of their absence (a reference into one, an address one would claim).
pub(crate) fn run(site: &Site, document: &Value, gaps: &[String], out: &mut Vec<Diagnostic>) {
    let mut c = Checker { site, gaps, out };
    c.passthrough(document);
    c.segments();
    c.hosts();
    c.router();
    c.router_menus();
    c.router_more();
    c.proxmox();
    c.addresses_and_macs();
    c.nas();
    c.vault();
    c.load_balancer();
    c.kubernetes();
    c.runners_and_backups();
    c.monitoring();
    c.consistency();
    c.secrets(document);
}

struct Checker<'a> {
    site: &'a Site,
    /// Sections of the document left out of `site` (see [`run`]).
    gaps: &'a [String],
    out: &'a mut Vec<Diagnostic>,
}

/// Pushes an error for every repeated key: `items` yields (path, key).
fn unique<'k>(
    out: &mut Vec<Diagnostic>,
    what: &str,
    items: impl IntoIterator<Item = (String, &'k str)>,
) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (path, key) in items {
        if let Some(first) = seen.get(key) {
            out.push(Diagnostic::conflict(
                "duplicate",
                path,
                first.clone(),
                format!("duplicate {what} {key:?}"),
            ));
        } else {
            seen.insert(key, path);
        }
    }
}

/// Pushes a warning for every repeated non-empty text (copy-paste suspects).
fn suspicious_repeats<'k>(
    out: &mut Vec<Diagnostic>,
    what: &str,
    items: impl IntoIterator<Item = (String, &'k str)>,
) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (path, text) in items {
        if text.is_empty() {
            continue;
        }
        if let Some(first) = seen.get(text) {
            out.push(
                Diagnostic::warning(
                    "copy-paste",
                    path,
                    format!("same {what} {text:?} as another; copy-pasted?"),
                )
                .with_related(first.clone()),
            );
        } else {
            seen.insert(text, path);
        }
    }
}

fn is_odd_quorum(n: usize) -> bool {
    n >= 3 && !n.is_multiple_of(2)
}

impl<'a> Checker<'a> {
    fn err(&mut self, rule: &str, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Diagnostic::error(rule, path, message));
    }

    fn warn(&mut self, rule: &str, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Diagnostic::warning(rule, path, message));
    }

    /// Whether `section` of the document is in the site as written (not left out for its
    /// schema errors): only then may a rule conclude that something is not in it.
    fn known(&self, section: &str) -> bool {
        !self.gaps.iter().any(|g| g == section)
    }

    /// Whether every machine of the site is known (`hosts` and `proxmox`, the sections
    /// [`Self::address_of`] looks in).
    fn machines_known(&self) -> bool {
        self.known("hosts") && self.known("proxmox")
    }

    /// Whether a reference to segment `name` is dangling: there is no such segment and the
    /// `segments` section is known.
    fn no_segment(&self, name: &Name) -> bool {
        self.known("segments") && self.segment(name).is_none()
    }

    fn segment(&self, name: &Name) -> Option<&'a crate::network::Segment> {
        self.site.segments.iter().find(|s| &s.name == name)
    }

    fn guest(&self, name: &Name) -> Option<&'a Guest> {
        self.site
            .proxmox
            .as_ref()?
            .guests
            .iter()
            .find(|g| &g.name == name)
    }

    /// The primary address of a guest or host, by name.
    fn address_of(&self, name: &Name) -> Option<IpAddr> {
        if let Some(g) = self.guest(name) {
            return g.nics.iter().find_map(|n| n.address.map(|a| a.ip()));
        }
        self.site
            .hosts
            .iter()
            .find(|h| &h.name == name)
            .map(|h| h.address)
    }

    fn exists_export(&self, name: &Name) -> bool {
        self.site
            .nas
            .as_ref()
            .is_some_and(|n| n.exports.iter().any(|e| &e.name == name))
    }

    fn check_export_ref(&mut self, path: String, name: &Name) {
        if self.known("nas") && !self.exists_export(name) {
            self.err(
                "dangling-reference",
                path,
                format!("no NFS export named {:?} in nas.exports", name.as_str()),
            );
        }
    }

    /// A path the tools write into a configuration or a command line (the same rule as
    /// [`crate::types::FilePath`], for fields still held as plain strings).
    fn file_path(&mut self, path: String, value: &str) {
        if let Err(message) = crate::types::check_file_path(value) {
            self.err("unsafe-path", path, message);
        }
    }

    fn check_guest_ref(&mut self, path: String, name: &Name) {
        if self.known("proxmox") && self.guest(name).is_none() {
            self.err(
                "dangling-reference",
                path,
                format!("no guest named {:?} in proxmox.guests", name.as_str()),
            );
        }
    }

    fn passthrough(&mut self, document: &Value) {
        if let Some(obj) = document.as_object() {
            for key in obj.keys().filter(|k| !KNOWN_SECTIONS.contains(&k.as_str())) {
                self.warn(
                    "unknown-section",
                    key.clone(),
                    "unknown top-level section, passed through untouched",
                );
            }
        }
    }

    /// Every pair of overlapping networks, reported at the later of the two in `nets` (the one
    /// most likely just added or edited) and naming the earlier one (with its line).
    fn overlaps(&mut self, nets: &[(String, Network)]) {
        // Sort by start address so only neighbours need comparing (nested networks sort
        // right after their parent).
        let mut sorted: Vec<(usize, &(String, Network))> = nets.iter().enumerate().collect();
        sorted.sort_by_key(|(_, (_, n))| (n.0.network(), n.0.prefix_len()));
        let mut open: Vec<(usize, &(String, Network))> = Vec::new();
        for (index, item) in sorted {
            open.retain(|(_, (_, o))| o.overlaps(&item.1));
            for &(other_index, other) in &open {
                let (later, earlier) = if index > other_index {
                    (item, other)
                } else {
                    (other, item)
                };
                self.out.push(Diagnostic::conflict(
                    "overlap",
                    later.0.clone(),
                    earlier.0.clone(),
                    format!("{} overlaps {}", later.1, earlier.1),
                ));
            }
            open.push((index, item));
        }
    }

    /// HA members must sit on distinct Proxmox nodes unless `allowed`.
    fn placement<'n>(
        &mut self,
        what: &str,
        allowed: bool,
        members: impl Iterator<Item = (String, &'n Name)>,
    ) {
        let mut by_node: HashMap<String, String> = HashMap::new();
        for (path, guest) in members {
            let Some(g) = self.guest(guest) else { continue };
            let node = g.node.to_string();
            if let Some(first) = by_node.get(&node) {
                if !allowed {
                    self.err("placement", path, format!("{what} members {first} and this one both run on Proxmox node {node:?}; one node failure takes both (set allow_colocation to accept)"));
                }
            } else {
                by_node.insert(node, path);
            }
        }
    }
}
