//! The mapping: entries of the menus the site models become typed fields where they fit
//! without loss; everything else goes to the generic per-menu section.
//!
//! An entry fits when every property it has is one the typed field holds (or the RouterOS
//! default, e.g. `disabled=no`) and every value parses as the field's type. A live read-back
//! shows every property, defaults included, and does not say which are defaults: there,
//! properties the typed field does not hold are left out (the plan does not compare them),
//! except `comment` and `disabled`, which the plan always compares.
//!
//! The result is then checked twice, and every entry that fails a check goes to the generic
//! section, until both hold: the plan of the typed part against the entries it came from
//! must be empty ([`crate::plan::diff`]), and the site must validate.

mod addressing;
mod fit;
mod interfaces;
mod mapper;
mod more;
mod services;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::str::FromStr;

use rackpipe_model::Site;
use rackpipe_model::router::{
    Dhcp, Dns, Firewall, Ipv6, Management, Menu, MenuEntry, MenuValue, Router, WireGuard,
};
use rackpipe_model::types::Name;
use rackpipe_routeros::Props;

use super::secrets::Secrets;
use super::source::Source;
use super::{Counts, Error, NotImported, Options, Report};
use crate::plan::{MenuKind, Op, PlanOptions, diff, menu_kind};
use crate::readback::{Observed, ObservedMenu, Row};
use mapper::Mapper;

/// One entry of the generic section.
#[derive(Debug, Clone, Default)]
pub(crate) struct GenericEntry {
    /// Index of the entry in its source menu.
    pub index: usize,
    /// Properties in router order.
    pub properties: Vec<(String, MenuValue)>,
    /// Why it is here, for the `#` comment.
    pub note: Option<String>,
}

/// One menu of the generic section.
#[derive(Debug, Clone, Default)]
pub(crate) struct GenericMenu {
    /// v7 path.
    pub path: String,
    /// Singleton settings.
    pub settings: Vec<(String, MenuValue)>,
    /// Why the settings are here.
    pub settings_note: Option<String>,
    /// List entries.
    pub entries: Vec<GenericEntry>,
}

/// The import's result before it is written.
#[derive(Debug, Clone)]
pub(crate) struct Mapped {
    pub site: Site,
    /// `#` comments by site path (`router.bridges[0]`).
    pub comments: Vec<(String, String)>,
    /// Lines of the header comment.
    pub header: Vec<String>,
    pub report: Report,
}

/// Index of the settings of a menu among "entries" (for demotion).
const SETTINGS: usize = usize::MAX;

/// Where a typed item came from.
type Origin = (String, usize);

/// Rows as the plan would read them: the typed entries' own properties, plus the defaults
/// RouterOS reports for the ones an export leaves out.
fn observed_for(source: &Source, site: &Site, origins: &[(String, Origin)]) -> Observed {
    let mut observed = Observed::default();
    let v6 = source.is_v6();
    let fill = |path: &str, props: &mut Props| {
        if source.live {
            return;
        }
        let defaults: &[(&str, &str)] = match path {
            "/interface/ethernet" => &[("disabled", "false")],
            "/interface/bridge" => &[
                ("vlan-filtering", "false"),
                ("dhcp-snooping", "false"),
                ("igmp-snooping", "false"),
            ],
            "/interface/bridge/port" => &[("trusted", "false")],
            "/ip/dns" => &[("allow-remote-requests", "false"), ("servers", "")],
            "/ip/dhcp-server" => &[("lease-time", if v6 { "3d" } else { "30m" })],
            p if menu_kind(p) == MenuKind::Ordered => &[("action", "accept")],
            "/ip/service" => &[("disabled", "false")],
            "/system/ntp/server" => &[("enabled", "false")],
            _ => &[],
        };
        for (k, v) in defaults {
            if !props.contains(k) {
                props.insert(*k, *v);
            }
        }
        if path == "/interface/ethernet"
            && !props.contains("name")
            && let Some(d) = props.get("default-name").map(str::to_owned)
        {
            props.insert("name", d);
        }
    };
    let push = |observed: &mut Observed, path: &str, id: Option<String>, mut props: Props| {
        fill(path, &mut props);
        let row = Row {
            id,
            builtin: false,
            props,
        };
        match observed.menus.iter_mut().find(|m| m.path == path) {
            Some(m) => m.rows.push(row),
            None => observed.menus.push(ObservedMenu {
                path: path.to_owned(),
                rows: vec![row],
            }),
        }
    };
    let mut done: HashSet<&Origin> = HashSet::new();
    for (_, origin) in origins {
        if !done.insert(origin) {
            continue;
        }
        let (path, index) = origin;
        let Some(menu) = source.menu(path) else {
            continue;
        };
        if *index == SETTINGS {
            if let Some(s) = &menu.settings {
                push(&mut observed, path, None, s.props.clone());
            }
        } else if let Some(e) = menu.entries.get(*index) {
            push(
                &mut observed,
                path,
                Some(format!("*{index}")),
                e.props.clone(),
            );
        }
    }
    // Ports listed with factory settings, and the singletons the typed clock always writes.
    if let Some(r) = &site.router {
        for e in &r.ethernet {
            let known = observed
                .rows("/interface/ethernet")
                .iter()
                .any(|row| row.props.get("default-name") == Some(e.default_name.as_str()));
            if !known {
                push(
                    &mut observed,
                    "/interface/ethernet",
                    Some(format!("*port-{}", e.default_name)),
                    Props::from_pairs([("default-name", e.default_name.as_str())]),
                );
            }
        }
        if r.clock.is_some() && observed.rows("/system/ntp/server").is_empty() {
            let props = source
                .menu("/system/ntp/server")
                .and_then(|m| m.settings.as_ref())
                .map(|s| s.props.clone())
                .unwrap_or_default();
            push(&mut observed, "/system/ntp/server", None, props);
        }
        let identity = source
            .menu("/system/identity")
            .and_then(|m| m.settings.as_ref())
            .map(|s| s.props.clone())
            .unwrap_or_else(|| Props::from_pairs([("name", "MikroTik")]));
        push(&mut observed, "/system/identity", None, identity);
    }
    observed
}

/// Entries (and whole menus) to move out of the typed fields, each with why.
type Problems = (Vec<(Origin, String)>, Vec<(String, String)>);

/// The entries whose typed form does not plan to zero changes against where it came from.
fn plan_problems(source: &Source, site: &Site, origins: &[(String, Origin)]) -> Problems {
    let Ok(desired) = crate::desired(site) else {
        return (Vec::new(), Vec::new());
    };
    let observed = observed_for(source, site, origins);
    let d = diff("import", &desired, &observed, PlanOptions::default());
    let mut entries = Vec::new();
    let mut menus = Vec::new();
    for (op, change) in d.ops.iter().zip(&d.changes) {
        let why = format!(
            "as a typed field it would plan a change: {}",
            change.commands.join("; ")
        );
        match op {
            Op::Set { menu, id, .. } if menu != "/system/identity" => match id
                .as_deref()
                .and_then(|i| i.strip_prefix('*'))
                .and_then(|i| i.parse::<usize>().ok())
            {
                Some(i) => entries.push(((menu.clone(), i), why)),
                None if matches!(menu_kind(menu), MenuKind::Singleton) => {
                    entries.push(((menu.clone(), SETTINGS), why))
                }
                None => menus.push((menu.clone(), why)),
            },
            Op::Set { .. } => {}
            Op::Add { menu, .. } | Op::Move { menu, .. } | Op::Remove { menu, .. } => {
                menus.push((menu.clone(), why))
            }
        }
    }
    (entries, menus)
}

fn placeholder_site(router: Router, name: &str, domain: &str) -> Result<Site, Error> {
    let value = serde_json::json!({
        "apiVersion": "rackpipe/v1",
        "kind": "Site",
        "metadata": { "name": name, "domain": domain },
    });
    let mut site: Site =
        serde_json::from_value(value).map_err(|e| Error::Invalid(e.to_string()))?;
    site.router = Some(router);
    Ok(site)
}

/// One mapping attempt.
struct Attempt {
    site: Site,
    generic_menus: Vec<(String, usize)>,
    not_imported: Vec<NotImported>,
    comments: Vec<(String, String)>,
    origins: Vec<(String, Origin)>,
    counts: Counts,
    choices: Vec<String>,
    secrets: Vec<super::SecretEntry>,
}

fn attempt(
    source: &Source,
    options: &Options,
    forced: &HashMap<Origin, String>,
    forced_menus: &HashMap<String, String>,
) -> Result<Attempt, Error> {
    let mut secrets = Secrets::new(options.secret_prefix.clone());
    let mut comments: Vec<(String, String)> = Vec::new();
    let management = match &options.management {
        Some(m) => Management {
            address: m.address,
            rest_port: m.rest_port,
            ssh_port: 22,
            user: m.user.clone(),
            password: m.password.clone(),
            backup_password: None,
            tls: m.tls.clone(),
        },
        None => {
            comments.push((
                "router.management".to_owned(),
                "placeholder: an export does not say how rackpipe reaches the router; set the address, user and TLS trust".to_owned(),
            ));
            Management {
                address: IpAddr::from([192, 168, 88, 1]),
                rest_port: 443,
                ssh_port: 22,
                user: "admin".to_owned(),
                password: secrets.api_password(),
                backup_password: None,
                tls: None,
            }
        }
    };
    let mut m = Mapper {
        source,
        live: source.live,
        forced,
        forced_menus,
        secrets,
        router: Router {
            identity: String::new(),
            management,
            ethernet: Vec::new(),
            bonds: Vec::new(),
            bridges: Vec::new(),
            vlans: Vec::new(),
            addresses: Vec::new(),
            pools: Vec::new(),
            dhcp: Dhcp::default(),
            dns: Dns::default(),
            firewall: Firewall::default(),
            services: Vec::new(),
            clock: None,
            syslog: Vec::new(),
            interface_lists: Vec::new(),
            interface_list_members: Vec::new(),
            wireguard: WireGuard::default(),
            vrrp: Vec::new(),
            routes: Vec::new(),
            ipv6: Ipv6::default(),
            dhcp_clients: Vec::new(),
            neighbor_discovery: None,
            ntp_client_servers: Vec::new(),
            scripts: Vec::new(),
            scheduler: Vec::new(),
            menus: Vec::new(),
        },
        generic: Vec::new(),
        comments,
        origins: Vec::new(),
        counts: Counts::default(),
        choices: Vec::new(),
        not_imported: source.not_imported.clone(),
    };
    m.interfaces();
    m.more_interfaces();
    m.addressing();
    m.routing();
    m.system();
    m.automation();
    m.the_rest();
    m.factory_ports();
    m.ports_from_services(options.management.is_none());
    m.counts.not_imported += source.not_imported.len();
    m.counts.total = source.total;
    let mut menus = Vec::new();
    for (i, g) in m.generic.iter().enumerate() {
        if let Some(n) = &g.settings_note {
            m.comments
                .push((format!("router.menus[{i}].settings"), n.clone()));
        }
        if !g.settings.is_empty() {
            m.origins.push((
                format!("router.menus[{i}].settings"),
                (g.path.clone(), SETTINGS),
            ));
        }
        for (j, e) in g.entries.iter().enumerate() {
            m.origins.push((
                format!("router.menus[{i}].entries[{j}]"),
                (g.path.clone(), e.index),
            ));
        }
        for (j, e) in g.entries.iter().enumerate() {
            if let Some(n) = &e.note {
                m.comments
                    .push((format!("router.menus[{i}].entries[{j}]"), n.clone()));
            }
        }
        menus.push(Menu {
            path: g.path.clone(),
            settings: g.settings.iter().cloned().collect(),
            entries: g
                .entries
                .iter()
                .map(|e| MenuEntry {
                    properties: e.properties.iter().cloned().collect(),
                })
                .collect(),
        });
    }
    m.router.menus = menus;
    let mut generic_menus: Vec<(String, usize)> = m
        .generic
        .iter()
        .map(|g| {
            (
                g.path.clone(),
                g.entries.len() + usize::from(!g.settings.is_empty()),
            )
        })
        .collect();
    generic_menus.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    let (name, domain) = header_fields(&m.router);
    let site = placeholder_site(m.router.clone(), &name, &domain)?;
    m.comments.push((
        "metadata".to_owned(),
        "placeholders: the router does not know the site's name and domain".to_owned(),
    ));
    Ok(Attempt {
        site,
        generic_menus,
        not_imported: m.not_imported,
        comments: m.comments,
        origins: m.origins,
        counts: m.counts,
        choices: m.choices,
        secrets: m.secrets.entries,
    })
}

/// Site name (from the identity's first label) and domain (the one DHCP domain, if one).
fn header_fields(r: &Router) -> (String, String) {
    let first = r.identity.split('.').next().unwrap_or_default();
    let name = if Name::from_str(first).is_ok() {
        first.to_owned()
    } else {
        "imported".to_owned()
    };
    let mut domains: Vec<String> = r
        .dhcp
        .networks
        .iter()
        .filter_map(|n| n.domain.as_ref().map(ToString::to_string))
        .collect();
    domains.sort();
    domains.dedup();
    let domain = match &domains[..] {
        [one] => one.clone(),
        _ => "example.invalid".to_owned(),
    };
    (name, domain)
}

fn origin_of<'o>(origins: &'o [(String, Origin)], path: &str) -> Option<&'o Origin> {
    origins
        .iter()
        .filter(|(p, _)| {
            path == p
                || path
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .max_by_key(|(p, _)| p.len())
        .map(|(_, o)| o)
}

/// Maps `source`, moving entries to the generic section until the typed part plans to zero
/// changes against its source and the site validates.
pub(crate) fn import(source: &Source, options: &Options) -> Result<Mapped, Error> {
    let mut forced: HashMap<Origin, String> = HashMap::new();
    let mut forced_menus: HashMap<String, String> = HashMap::new();
    let mut last_error = String::new();
    for _ in 0..40 {
        let a = attempt(source, options, &forced, &forced_menus)?;
        let (entries, menus) = plan_problems(source, &a.site, &a.origins);
        if !entries.is_empty() || !menus.is_empty() {
            let before = forced.len() + forced_menus.len();
            for (o, why) in entries {
                forced.entry(o).or_insert(why);
            }
            for (m, why) in menus {
                forced_menus.entry(m).or_insert(why);
            }
            if forced.len() + forced_menus.len() > before {
                continue;
            }
        }
        let header = header(source, &a);
        let yaml = super::yaml::write(&a.site, &a.comments, &header);
        match rackpipe_model::load::load_and_validate("import", yaml.as_bytes()) {
            Ok(_) => return Ok(finish(source, a, header)),
            Err(rackpipe_model::load::LoadError::Invalid { diagnostics, .. }) => {
                let before = forced.len();
                for d in diagnostics.iter().filter(|d| d.is_error()) {
                    // A finding about the router's own fields (its management ports) names
                    // the entry it disagrees with as the related field.
                    let related = d.related.as_ref().map(|r| r.path.as_str());
                    let origin = origin_of(&a.origins, &d.path)
                        .or_else(|| related.and_then(|r| origin_of(&a.origins, r)));
                    if let Some(o) = origin {
                        forced.entry(o.clone()).or_insert_with(|| {
                            format!(
                                "as a typed field it would not validate: {}: {}",
                                d.path, d.message
                            )
                        });
                    }
                }
                last_error = diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map(ToString::to_string)
                    .unwrap_or_default();
                if forced.len() == before {
                    return Err(Error::Invalid(last_error));
                }
            }
            Err(e) => return Err(Error::Invalid(e.to_string())),
        }
    }
    Err(Error::Invalid(last_error))
}

fn header(source: &Source, a: &Attempt) -> Vec<String> {
    let mut h = vec![
        "yaml-language-server: $schema=./site.schema.json".to_owned(),
        "(the schema: `ros-render schema > site.schema.json`)".to_owned(),
        String::new(),
    ];
    let what = match (&source.version, &source.model) {
        (Some(v), Some(m)) => format!(" (RouterOS {v}, {m})"),
        (Some(v), None) => format!(" (RouterOS {v})"),
        _ => String::new(),
    };
    h.push(format!(
        "Imported by `ros-render import` from {}{what}.",
        source.name
    ));
    let c = &a.counts;
    h.push(format!(
        "{} commands: {} in typed fields, {} in router.menus (the generic section), {} not imported.",
        c.total, c.typed, c.generic, c.not_imported
    ));
    if !a.secrets.is_empty() {
        h.push(format!(
            "secret values replaced by references (see the import report; store them before plan): {}",
            a.secrets.len()
        ));
    }
    for n in &a.not_imported {
        let at = if n.line > 0 {
            format!(" line {}", n.line)
        } else {
            String::new()
        };
        h.push(format!("not imported: {}{at}: {}", n.menu, n.reason));
    }
    for choice in &a.choices {
        h.push(format!("choice: {choice}"));
    }
    h
}

fn finish(source: &Source, a: Attempt, header: Vec<String>) -> Mapped {
    let mut choices = a.choices;
    choices.sort();
    choices.dedup();
    Mapped {
        site: a.site,
        comments: a.comments,
        header,
        report: Report {
            source: source.name.clone(),
            routeros_version: source.version.clone(),
            counts: a.counts,
            generic_menus: a.generic_menus,
            secrets: a.secrets,
            choices,
            not_imported: a.not_imported,
        },
    }
}
