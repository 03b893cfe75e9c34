//! ros-render's library: the site's `router` section as RouterOS v7 configuration.
//!
//! [`desired`] maps the site to a [`Config`] (menus of commands with string properties, the
//! same data the REST API and `/export` speak), ordered by dependency: interfaces before the
//! ports, VLANs and addresses that use them, pools before DHCP servers, and so on. [`render`]
//! prints it as a complete `.rsc` script for a fresh router (through the template
//! this crate's `templates/full.rsc.j2`) and returns the desired state as JSON.
//!
//! Against a live router (RouterOS v7 REST API):
//! - [`rest`]: the HTTPS client (CA file or pinned SHA-256 fingerprint; the password the
//!   caller resolved from the site's references, [`rest::secret_refs`], never logged);
//! - [`readback`]: the current state, one `GET` per managed menu;
//! - [`plan`](mod@plan): the minimal ordered diff (natural keys, firewall order by comment);
//! - [`apply`](mod@apply): the plan applied under an automatic revert (safe-mode semantics);
//! - [`backup`](mod@backup): `/export` and `/system backup` downloaded with checksums.
//!
//! Fed a `pve-sync` document (`pve-sync apply | ros-render plan -`), [`facts`] adds DHCP
//! static leases for the guests with the MACs Proxmox gave them ([`desired_with_facts`],
//! [`plan_with_facts`], [`apply_with_facts`]).

pub mod apply;
pub mod backup;
pub mod facts;
pub mod import;
pub mod menus;
mod more_menus;
pub mod plan;
pub mod readback;
pub mod rest;
pub mod tool;

pub use apply::{ApplyOptions, apply, apply_config, apply_with_facts};
pub use backup::{BackupResult, backup};
pub use facts::GuestFacts;
pub use plan::{PlanOptions, Planned, plan, plan_config, plan_with_facts};
pub use rest::{Connection, Fingerprint, Password, RestClient, Trust};

/// A current-thread tokio runtime for the binary's async work.
///
/// # Errors
/// When the runtime cannot be created.
pub fn runtime() -> Result<tokio::runtime::Runtime, rest::Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| rest::Error::Io {
            path: "tokio runtime".to_owned(),
            message: e.to_string(),
        })
}

use std::path::Path;

use rackpipe_model::Site;
use rackpipe_model::documents::RenderedFile;
use rackpipe_model::router::{Bond, BondMode, FrameTypes, Router, ServiceName, StpMode};
use rackpipe_routeros::{Command, Config, Menu, Props, Selector};

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The site has no `router` section.
    #[error("router: the site has no router section")]
    NoRouter,
    /// Guest facts (from pve-sync) that are malformed or contradict the site.
    #[error("{field}: {message}")]
    Facts {
        /// Field path (`facts.guests[0].nics[0].mac`, `router.dhcp.leases[3].mac`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A generic menu (`router.menus`) that cannot be written.
    #[error("{field}: {message}")]
    Menu {
        /// Field path (`router.menus[1].entries[0].name`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A template could not be read or rendered.
    #[error("template {name}: {message}")]
    Template {
        /// Template file name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Rendering never fails for a transient reason.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        false
    }
}

const FULL_TEMPLATE: &str = include_str!("../templates/full.rsc.j2");

/// What [`render`] produces.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The `.rsc` file.
    pub files: Vec<RenderedFile>,
    /// The desired state per menu.
    pub desired: serde_json::Value,
}

pub(crate) fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub(crate) fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Builds a property list, skipping absent values.
pub(crate) struct P(pub(crate) Props);

impl P {
    pub(crate) fn new() -> Self {
        Self(Props::new())
    }
    pub(crate) fn set(mut self, k: &str, v: impl Into<String>) -> Self {
        self.0.insert(k, v);
        self
    }
    pub(crate) fn opt(self, k: &str, v: Option<impl ToString>) -> Self {
        match v {
            Some(v) => self.set(k, v.to_string()),
            None => self,
        }
    }
    /// `k=yes` only when `v` (a flag whose default is no).
    pub(crate) fn flag(self, k: &str, v: bool) -> Self {
        if v { self.set(k, "yes") } else { self }
    }
    /// `k=yes|no` when given.
    pub(crate) fn opt_yes(self, k: &str, v: Option<rackpipe_model::router::YesNo>) -> Self {
        self.opt(k, v.map(rackpipe_model::router::YesNo::word))
    }
    pub(crate) fn list<T: ToString>(self, k: &str, v: &[T]) -> Self {
        if v.is_empty() {
            self
        } else {
            self.set(k, join(v))
        }
    }
}

fn bond_mode(b: &Bond) -> &'static str {
    match b.mode {
        BondMode::Lacp => "802.3ad",
        BondMode::ActiveBackup => "active-backup",
        BondMode::BalanceRr => "balance-rr",
        BondMode::BalanceXor => "balance-xor",
        BondMode::BalanceAlb => "balance-alb",
        BondMode::BalanceTlb => "balance-tlb",
        BondMode::Broadcast => "broadcast",
    }
}

fn service_name(s: ServiceName) -> &'static str {
    match s {
        ServiceName::Ftp => "ftp",
        ServiceName::Ssh => "ssh",
        ServiceName::Telnet => "telnet",
        ServiceName::Www => "www",
        ServiceName::WwwSsl => "www-ssl",
        ServiceName::Winbox => "winbox",
        ServiceName::Api => "api",
        ServiceName::ApiSsl => "api-ssl",
    }
}

/// The menus rackpipe manages, in the order a fresh router needs them (creates follow this
/// order; deletes go in reverse): the model's list of typed menus, which validation also
/// keeps out of `router.menus`.
pub const MENU_ORDER: &[&str] = rackpipe_model::router::TYPED_MENUS;

/// The router's desired configuration.
///
/// # Errors
/// No router section.
pub fn desired(site: &Site) -> Result<Config, Error> {
    desired_with_facts(site, None)
}

/// The router's desired configuration, with the DHCP static leases that guest facts add
/// (see [`facts`]).
///
/// # Errors
/// No router section; facts that contradict the site.
pub fn desired_with_facts(site: &Site, facts: Option<&GuestFacts>) -> Result<Config, Error> {
    let r = site.router.as_ref().ok_or(Error::NoRouter)?;
    let fact_leases = match facts {
        Some(f) => facts::fact_leases(site, f)?,
        None => Vec::new(),
    };
    let mut menus: Vec<Menu> = MENU_ORDER
        .iter()
        .map(|p| Menu {
            path: (*p).to_owned(),
            commands: Vec::new(),
        })
        .collect();
    let mut push = |path: &str, command: Command| {
        if let Some(menu) = menus.iter_mut().find(|m| m.path == path) {
            menu.commands.push(command);
        }
    };
    interfaces(r, &mut push);
    addressing(r, &mut push);
    more_menus::push_all(r, &mut push);
    for l in &fact_leases {
        let props = P::new()
            .set("server", l.server.as_str())
            .set("address", l.address.to_string())
            .set("mac-address", l.mac.to_string())
            .set("comment", l.comment.as_str());
        push("/ip/dhcp-server/lease", Command::add(props.0));
    }
    services_and_system(r, &mut push);
    menus.retain(|m| !m.commands.is_empty());
    Ok(Config {
        header: rackpipe_routeros::Header::default(),
        menus,
    })
}

fn interfaces(r: &Router, push: &mut impl FnMut(&str, Command)) {
    for e in &r.ethernet {
        let props = P::new()
            .set("name", e.interface_name().as_str())
            .opt("comment", e.comment.as_ref())
            .opt("mtu", e.mtu)
            .opt("l2mtu", e.l2mtu)
            .opt_yes("auto-negotiation", e.auto_negotiation)
            .opt("speed", e.speed.as_ref())
            .opt("advertise", e.advertise.as_ref())
            .opt("rx-flow-control", e.rx_flow_control.as_ref())
            .opt("tx-flow-control", e.tx_flow_control.as_ref())
            .opt("fec-mode", e.fec_mode.as_ref())
            .set("disabled", yes(e.disabled));
        push(
            "/interface/ethernet",
            Command::set(
                Some(Selector::find("default-name", e.default_name.as_str())),
                props.0,
            ),
        );
    }
    for b in &r.bonds {
        let props = P::new()
            .set("name", b.name.as_str())
            .set("slaves", join(&b.slaves))
            .set("mode", bond_mode(b))
            .opt("transmit-hash-policy", b.transmit_hash_policy.as_ref())
            .opt("mtu", b.mtu)
            .opt("comment", b.comment.as_ref());
        push("/interface/bonding", Command::add(props.0));
    }
    for b in &r.bridges {
        let mode = b.protocol_mode.map(|m| match m {
            StpMode::None => "none",
            StpMode::Stp => "stp",
            StpMode::Rstp => "rstp",
            StpMode::Mstp => "mstp",
        });
        let props = P::new()
            .set("name", b.name.as_str())
            .set("vlan-filtering", yes(b.vlan_filtering))
            .opt("protocol-mode", mode)
            .set("dhcp-snooping", yes(b.dhcp_snooping))
            .set("igmp-snooping", yes(b.igmp_snooping))
            .opt_yes("auto-mac", b.auto_mac)
            .opt("admin-mac", b.admin_mac.as_ref())
            .opt("mtu", b.mtu)
            .opt("comment", b.comment.as_ref());
        push("/interface/bridge", Command::add(props.0));
    }
    for v in &r.vlans {
        let props = P::new()
            .set("name", v.name.as_str())
            .set("interface", v.interface.as_str())
            .set("vlan-id", v.vlan_id.to_string())
            .opt("mtu", v.mtu)
            .opt("comment", v.comment.as_ref());
        push("/interface/vlan", Command::add(props.0));
    }
    for b in &r.bridges {
        for p in &b.ports {
            let frame_types = p.frame_types.map(|f| match f {
                FrameTypes::AdmitAll => "admit-all",
                FrameTypes::AdmitOnlyUntaggedAndPriorityTagged => {
                    "admit-only-untagged-and-priority-tagged"
                }
                FrameTypes::AdmitOnlyVlanTagged => "admit-only-vlan-tagged",
            });
            let props = P::new()
                .set("bridge", b.name.as_str())
                .set("interface", p.interface.as_str())
                .opt("pvid", p.pvid)
                .opt("frame-types", frame_types)
                .set("trusted", yes(p.trusted))
                .opt("multicast-router", p.multicast_router.as_ref())
                .opt("comment", p.comment.as_ref());
            push("/interface/bridge/port", Command::add(props.0));
        }
        for v in &b.vlans {
            let props = P::new()
                .set("bridge", b.name.as_str())
                .set("vlan-ids", join(&v.vlan_ids))
                .list("tagged", &v.tagged)
                .list("untagged", &v.untagged)
                .opt("comment", v.comment.as_ref());
            push("/interface/bridge/vlan", Command::add(props.0));
        }
    }
}

fn addressing(r: &Router, push: &mut impl FnMut(&str, Command)) {
    for a in &r.addresses {
        let props = P::new()
            .set("address", a.address.to_string())
            .set("interface", a.interface.as_str())
            .opt("comment", a.comment.as_ref());
        push("/ip/address", Command::add(props.0));
    }
    for p in &r.pools {
        let props = P::new()
            .set("name", p.name.as_str())
            .set("ranges", join(&p.ranges))
            .opt("comment", p.comment.as_ref());
        push("/ip/pool", Command::add(props.0));
    }
    for s in &r.dhcp.servers {
        let props = P::new()
            .set("name", s.name.as_str())
            .set("interface", s.interface.as_str())
            .opt("address-pool", s.pool.as_ref())
            .set("lease-time", s.lease_time.to_string())
            .opt(
                "dynamic-lease-identifiers",
                s.dynamic_lease_identifiers.as_ref(),
            )
            .opt("dhcp-option-set", s.dhcp_option_set.as_ref())
            .opt("bootp-support", s.bootp_support.as_ref())
            .flag("disabled", s.disabled)
            .opt("comment", s.comment.as_ref());
        push("/ip/dhcp-server", Command::add(props.0));
    }
    for n in &r.dhcp.networks {
        let props = P::new()
            .set("address", n.address.to_string())
            .set("gateway", n.gateway.to_string())
            .list("dns-server", &n.dns_servers)
            .list("ntp-server", &n.ntp_servers)
            .opt("domain", n.domain.as_ref())
            .opt("netmask", n.netmask)
            .opt("next-server", n.next_server)
            .opt("boot-file-name", n.boot_file_name.as_ref())
            .opt("comment", n.comment.as_ref());
        push("/ip/dhcp-server/network", Command::add(props.0));
    }
    for l in &r.dhcp.leases {
        let props = P::new()
            .set("server", l.server.as_str())
            .set("address", l.address.to_string())
            .set("mac-address", l.mac.to_string())
            .opt("client-id", l.client_id.as_ref())
            .opt("lease-time", l.lease_time.as_ref())
            .opt("comment", l.comment.as_ref());
        push("/ip/dhcp-server/lease", Command::add(props.0));
    }
    let dns = &r.dns;
    if !dns.servers.is_empty() || dns.allow_remote_requests {
        let props = P::new()
            .list("servers", &dns.servers)
            .set("allow-remote-requests", yes(dns.allow_remote_requests));
        push("/ip/dns", Command::set(None, props.0));
    }
    for d in &dns.records {
        let props = P::new()
            .set("name", d.name.as_str())
            .set("address", d.address.to_string())
            .opt("ttl", d.ttl.as_ref())
            .opt("comment", d.comment.as_ref());
        push("/ip/dns/static", Command::add(props.0));
    }
    for a in &r.firewall.address_lists {
        let props = P::new()
            .set("list", a.list.as_str())
            .set("address", a.address.as_str())
            .opt("comment", a.comment.as_ref());
        push("/ip/firewall/address-list", Command::add(props.0));
    }
    for (path, rules) in [
        ("/ip/firewall/filter", &r.firewall.filter),
        ("/ip/firewall/nat", &r.firewall.nat),
        ("/ip/firewall/mangle", &r.firewall.mangle),
        ("/ip/firewall/raw", &r.firewall.raw),
    ] {
        more_menus::rules(path, rules, push);
    }
}

fn services_and_system(r: &Router, push: &mut impl FnMut(&str, Command)) {
    for s in &r.services {
        let props = P::new()
            .opt("port", s.port)
            .set("address", join(&s.address))
            .opt("certificate", s.certificate.as_ref())
            .opt("tls-version", s.tls_version.as_ref())
            .set("disabled", yes(s.disabled));
        push(
            "/ip/service",
            Command::set(Some(Selector::find("name", service_name(s.name))), props.0),
        );
    }
    push(
        "/system/identity",
        Command::set(None, P::new().set("name", r.identity.as_str()).0),
    );
    if let Some(c) = &r.clock {
        push(
            "/system/clock",
            Command::set(None, P::new().set("time-zone-name", c.time_zone.as_str()).0),
        );
        if !c.ntp_servers.is_empty() {
            push(
                "/system/ntp/client",
                Command::set(
                    None,
                    P::new()
                        .set("enabled", "yes")
                        .set("servers", join(&c.ntp_servers))
                        .0,
                ),
            );
        }
        push(
            "/system/ntp/server",
            Command::set(None, P::new().set("enabled", yes(c.ntp_server)).0),
        );
    }
    for s in &r.syslog {
        let props = P::new()
            .set("name", s.name.as_str())
            .set("target", "remote")
            .set("remote", s.remote.to_string())
            .set("remote-port", s.port.to_string());
        push("/system/logging/action", Command::add(props.0));
        for topic in &s.topics {
            push(
                "/system/logging",
                Command::add(
                    P::new()
                        .set("action", s.name.as_str())
                        .set("topics", topic.as_str())
                        .0,
                ),
            );
        }
    }
}

/// Template filter `rsc_string`: a value as a RouterOS script word, bare when it only has
/// safe characters, else double-quoted with `"`, `\`, `$`, `?` and control characters escaped
/// (the printer's own [`rackpipe_routeros::export::quote`], the one place the script is
/// quoted). For values a custom template writes outside the generated body.
fn rsc_string(value: &str) -> String {
    rackpipe_routeros::export::quote(value)
}

/// Template filter `rsc_comment`: a value for a `#` comment line, every control character
/// (a newline would end the comment and start a command) replaced by a space.
fn rsc_comment(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Renders the full `.rsc` (from the built-in template, or `templates_dir/full.rsc.j2` when
/// that file exists; see `rackpipe_render`) and the desired state.
///
/// # Errors
/// No router section; a template that cannot be read or rendered.
pub fn render(site: &Site, templates_dir: Option<&Path>) -> Result<Rendered, Error> {
    render_with_facts(site, None, templates_dir)
}

fn template_error(e: rackpipe_render::TemplateError) -> Error {
    Error::Template {
        name: e.name,
        message: e.message,
    }
}

/// [`render`] with the leases guest facts add (see [`facts`]).
///
/// # Errors
/// As [`render`]; facts that contradict the site.
pub fn render_with_facts(
    site: &Site,
    facts: Option<&GuestFacts>,
    templates_dir: Option<&Path>,
) -> Result<Rendered, Error> {
    let mut config = desired_with_facts(site, facts)?;
    // The generic menus follow the typed ones (as in a plan); their secrets are left out.
    let left_out = match &site.router {
        Some(router) => menus::push_rendered_menus(&mut config, router).map_err(|e| match e {
            rest::Error::Config { what, message } => Error::Menu {
                field: what,
                message,
            },
            other => Error::Menu {
                field: "router.menus".to_owned(),
                message: other.to_string(),
            },
        })?,
        None => Vec::new(),
    };
    let mut env = rackpipe_render::environment(
        &[("full.rsc.j2", FULL_TEMPLATE)],
        templates_dir,
        rackpipe_render::Whitespace::default(),
    )
    .map_err(template_error)?;
    env.add_filter("rsc_string", rsc_string);
    env.add_filter("rsc_comment", rsc_comment);
    let identity = site
        .router
        .as_ref()
        .map(|r| r.identity.clone())
        .unwrap_or_default();
    let mut body = String::new();
    for line in &left_out {
        body.push_str(&format!(
            "# secret left out (ros-render apply sets it): {}\n",
            rsc_comment(line)
        ));
    }
    body.push_str(&rackpipe_routeros::print_standard(&config));
    let content = rackpipe_render::render(
        &env,
        "full.rsc.j2",
        minijinja::context! { identity => identity.clone(), site => site.metadata.name.as_str(), body => body },
    )
    .map_err(template_error)?;
    let desired = serde_json::to_value(&config).unwrap_or(serde_json::Value::Null);
    Ok(Rendered {
        files: vec![RenderedFile {
            host: identity,
            path: "rackpipe.rsc".to_owned(),
            mode: "0600".to_owned(),
            content,
        }],
        desired,
    })
}
