//! The plan: a minimal, ordered diff between `desired(site)` and the read-back state.
//!
//! Matching follows Ansible's `api_modify` (see `routeros.md` §2):
//! - each menu has a natural key: `default-name` for ethernet ports, `name` for interfaces,
//!   pools, DHCP servers and services, `(bridge, vlan-ids)` for the bridge VLAN table,
//!   `(address, interface)` for addresses, `(server, mac-address)` for leases, ...;
//! - firewall filter and NAT rules are an ordered list matched by their comment (the site
//!   requires one per rule; duplicates are matched by occurrence), and their order is
//!   fixed with `move`;
//! - only the properties the site sets are compared (plus `comment` and `disabled`, and
//!   every writable property of a firewall rule), with RouterOS spellings normalised
//!   (`yes` = `true`, MAC case, list order of port sets, durations);
//! - dynamic and built-in rows are ignored; rows the site does not describe are reported
//!   as unmanaged and only removed with `allow_destroy`, except rows rackpipe added on its
//!   own account ([`OwnedRows`], e.g. leases from guest facts), which [`diff_with`] removes
//!   once they are no longer desired.
//!
//! Operations run as: deletes (reverse dependency order), then per menu in dependency order
//! updates and creates (bond → bridge → ports → VLAN → addresses → pools → DHCP → firewall),
//! then firewall moves.

use std::collections::{BTreeMap, HashMap};

use rackpipe_model::documents::{Action, Change, Plan};
use rackpipe_model::router::{MenuKey, menu_key};
use rackpipe_routeros::config::is_secret_property;
use rackpipe_routeros::export::quote;
use rackpipe_routeros::{Command, Config, Props, Selector};
use serde_json::Value;

use crate::readback::{Observed, Row, managed_menus, read_back};
use crate::rest::{Error, RestClient};

mod matching;

pub use matching::{MenuKind, menu_kind, normalize, prop_changes};
use matching::{key_of, key_props, observed_value};

/// A reference to a row: an existing `.id` or the n-th row this plan creates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ref {
    /// Existing row.
    Id(String),
    /// The row created by the `n`-th `Add` op.
    New(usize),
}

/// One REST operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `PUT /rest<menu>`; `slot` numbers the creates (for later moves).
    Add {
        /// Menu.
        menu: String,
        /// Properties.
        props: Props,
        /// Number of this create.
        slot: usize,
    },
    /// `PATCH /rest<menu>/<id>`, or `POST /rest<menu>/set` for singletons (`id` = `None`).
    Set {
        /// Menu.
        menu: String,
        /// Row id.
        id: Option<String>,
        /// Properties (`!key` unsets).
        props: Props,
    },
    /// `DELETE /rest<menu>/<id>`.
    Remove {
        /// Menu.
        menu: String,
        /// Row id.
        id: String,
    },
    /// `POST /rest<menu>/move {numbers, destination}`.
    Move {
        /// Menu.
        menu: String,
        /// The row moved.
        item: Ref,
        /// It goes right before this row.
        before: Ref,
    },
}

/// What [`diff`] produces: the human/JSON changes and the operations, index-aligned.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    /// One change per op.
    pub changes: Vec<Change>,
    /// The operations, in execution order.
    pub ops: Vec<Op>,
    /// Rows the site does not describe.
    pub unmanaged: Vec<String>,
}

/// Rows rackpipe adds on its own account (not described by the site), recognised by their
/// comment: when the desired state no longer has one, it is deleted even without
/// `allow_destroy` (they are not the user's rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnedRows {
    /// Menu (`/ip/dhcp-server/lease`).
    pub menu: &'static str,
    /// Comment prefix marking them (`rackpipe: guest `).
    pub comment_prefix: &'static str,
}

impl OwnedRows {
    fn owns(&self, path: &str, row: &Row) -> bool {
        path == self.menu
            && row
                .props
                .get("comment")
                .is_some_and(|c| c.starts_with(self.comment_prefix))
    }
}

/// Options of a plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Delete unmanaged rows (in the menus the site manages).
    pub allow_destroy: bool,
}

/// A plan with what apply needs.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The plan document.
    pub plan: Plan,
    /// The operations, aligned with `plan.changes`.
    pub ops: Vec<Op>,
    /// The read-back state.
    pub observed: Observed,
    /// REST requests the plan took.
    pub requests: u64,
}

/// `/ip/firewall/filter` → `/ip firewall filter`.
#[must_use]
pub fn console_menu(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    format!("/{}", trimmed.replace('/', " "))
}

fn command_line(path: &str, mut command: Command) -> String {
    command.props = redacted_props(&command.props);
    let mut config = Config::default();
    config.push(path, command);
    rackpipe_routeros::print_terse(&config)
        .trim_end()
        .to_owned()
}

/// `props` with the value of every secret property replaced by `<redacted>`.
fn redacted_props(props: &Props) -> Props {
    props
        .iter()
        .map(|(k, v)| {
            if is_secret_property(k) && !v.is_empty() {
                (k, "<redacted>")
            } else {
                (k, v)
            }
        })
        .collect()
}

/// `config` with every secret property's value replaced (what the plan's
/// `desired_digest` is taken over: a digest of a password could be guessed back).
#[must_use]
pub fn redacted_config(config: &Config) -> Config {
    let mut out = config.clone();
    for menu in &mut out.menus {
        for command in &mut menu.commands {
            command.props = redacted_props(&command.props);
        }
    }
    out
}

fn redacted(props: &Props) -> Value {
    Value::Object(
        props
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_property(k) && !v.is_empty() {
                    "<redacted>"
                } else {
                    v
                };
                (k.to_owned(), Value::String(v.to_owned()))
            })
            .collect(),
    )
}

fn describe(path: &str, props: &Props) -> String {
    let key = key_props(path, props);
    let mut s = path.to_owned();
    for (k, v) in key.iter() {
        s.push(' ');
        s.push_str(k);
        s.push('=');
        s.push_str(&quote(v));
    }
    s
}

/// One desired entry: its full properties (selector conditions included).
fn desired_entries(config: &Config, path: &str) -> Vec<Props> {
    config
        .commands(path)
        .map(|c| {
            let mut props = Props::new();
            if let Some(Selector::Find(cond)) = &c.selector {
                for (k, v) in cond.iter() {
                    props.insert(k, v);
                }
            }
            for (k, v) in c.props.iter() {
                props.insert(k, v);
            }
            props
        })
        .collect()
}

struct Builder<'a> {
    target: &'a str,
    diff: Diff,
    slots: usize,
}

impl Builder<'_> {
    fn push(&mut self, change: Change, op: Op) {
        self.diff.changes.push(change);
        self.diff.ops.push(op);
    }

    fn change(&self, action: Action, resource: String) -> Change {
        Change {
            action,
            target: self.target.to_owned(),
            resource,
            before: None,
            after: None,
            diff: None,
            commands: Vec::new(),
        }
    }

    fn add(&mut self, path: &str, props: &Props) -> usize {
        let slot = self.slots;
        self.slots += 1;
        let mut change = self.change(Action::Create, describe(path, props));
        change.after = Some(redacted(props));
        change.commands = vec![command_line(path, Command::add(props.clone()))];
        self.push(
            change,
            Op::Add {
                menu: path.to_owned(),
                props: props.clone(),
                slot,
            },
        );
        slot
    }

    fn set(&mut self, path: &str, row: &Row, desired: &Props, props: Props) {
        let mut change = self.change(Action::Update, describe(path, desired));
        let before = Props::from_pairs(props.keys().map(|k| {
            let k = k.trim_start_matches('!');
            (k, row.props.get(k).unwrap_or(""))
        }));
        change.before = Some(redacted(&before));
        change.after = Some(redacted(&props));
        let selector = match menu_kind(path) {
            MenuKind::Singleton => None,
            // A generic menu's own settings (`set` without `[ find ]`).
            _ if row.id.is_none() => None,
            _ => Some(Selector::Find(key_props(path, desired))),
        };
        change.commands = vec![command_line(path, Command::set(selector, props.clone()))];
        self.push(
            change,
            Op::Set {
                menu: path.to_owned(),
                id: row.id.clone(),
                props,
            },
        );
    }

    fn remove(&mut self, path: &str, row: &Row) {
        let mut change = self.change(Action::Delete, describe(path, &row.props));
        change.before = Some(redacted(&row.props));
        let mut command = Command::set(
            Some(Selector::Find(key_props(path, &row.props))),
            Props::new(),
        );
        command.verb = rackpipe_routeros::Verb::Remove;
        change.commands = vec![command_line(path, command)];
        self.push(
            change,
            Op::Remove {
                menu: path.to_owned(),
                id: row.id.clone().unwrap_or_default(),
            },
        );
    }
}

fn unmanaged_line(path: &str, row: &Row) -> String {
    format!(
        "{} ({})",
        describe(path, &row.props),
        row.id.as_deref().unwrap_or("-")
    )
}

/// One menu matched: what to update and create, and (ordered menus) the order.
struct MenuPlan<'o> {
    path: String,
    updates: Vec<(Row, Props, Props)>,
    creates: Vec<(usize, Props)>,
    /// Ordered menus: desired index → matched row (None = create).
    order: Vec<Option<&'o Row>>,
    /// Whether the order is fixed with moves.
    ordered: bool,
    /// The desired entries (for the moves' descriptions).
    wanted: Vec<Props>,
}

/// Computes the changes that take `observed` to `desired`. `target` names the router in
/// the changes (its identity).
#[must_use]
pub fn diff(target: &str, desired: &Config, observed: &Observed, opts: PlanOptions) -> Diff {
    diff_with(target, desired, observed, opts, &[])
}

/// The menus a plan reads and diffs: those `desired` writes (in dependency order), then the
/// menus of `owned` rows it does not write.
#[must_use]
pub fn planned_menus(desired: &Config, owned: &[OwnedRows]) -> Vec<String> {
    let mut menus = managed_menus(desired);
    for o in owned {
        if !menus.iter().any(|m| m == o.menu) {
            menus.push(o.menu.to_owned());
        }
    }
    menus
}

/// [`diff`], also deleting the `owned` rows that are not desired.
#[must_use]
pub fn diff_with(
    target: &str,
    desired: &Config,
    observed: &Observed,
    opts: PlanOptions,
    owned: &[OwnedRows],
) -> Diff {
    let menus = planned_menus(desired, owned);
    let mut b = Builder {
        target,
        diff: Diff::default(),
        slots: 0,
    };
    // Pass 1: match every menu; collect deletes (run first, in reverse order).
    let mut plans: Vec<MenuPlan<'_>> = Vec::new();
    let mut deletes: Vec<(String, &Row)> = Vec::new();
    for path in &menus {
        let kind = menu_kind(path);
        let wanted = desired_entries(desired, path);
        let rows = observed.rows(path);
        let mut mp = MenuPlan {
            path: path.clone(),
            updates: Vec::new(),
            creates: Vec::new(),
            order: Vec::new(),
            ordered: kind == MenuKind::Ordered,
            wanted: Vec::new(),
        };
        if crate::menus::is_generic(path) {
            mp.ordered = menu_key(path) == MenuKey::Ordered;
            generic_menu(
                &mut mp,
                desired,
                rows,
                opts,
                &mut deletes,
                &mut b.diff.unmanaged,
            );
            plans.push(mp);
            continue;
        }
        mp.wanted.clone_from(&wanted);
        match kind {
            MenuKind::Singleton => {
                let merged = wanted.iter().fold(Props::new(), |mut acc, p| {
                    for (k, v) in p.iter() {
                        acc.insert(k, v);
                    }
                    acc
                });
                let empty = Row {
                    id: None,
                    builtin: true,
                    props: Props::new(),
                };
                let row = rows.first().unwrap_or(&empty);
                let mut changes = Props::new();
                for (k, v) in merged.iter() {
                    let same = observed_value(&row.props, k)
                        .is_some_and(|o| normalize(k, o) == normalize(k, v));
                    if !same {
                        changes.insert(k, v);
                    }
                }
                if !changes.is_empty() {
                    mp.updates.push((row.clone(), merged, changes));
                }
            }
            MenuKind::Fixed(keys) | MenuKind::Keyed(keys) => {
                let mut index: HashMap<Vec<String>, Vec<&Row>> = HashMap::new();
                for row in rows {
                    index.entry(key_of(path, &row.props)).or_default().push(row);
                }
                let mut used: Vec<*const Row> = Vec::new();
                for (i, want) in wanted.iter().enumerate() {
                    let key = key_of(path, want);
                    let found = index.get_mut(&key).and_then(|c| {
                        if c.is_empty() {
                            None
                        } else {
                            Some(c.remove(0))
                        }
                    });
                    match found {
                        Some(row) => {
                            used.push(row);
                            let changes = prop_changes(path, want, &row.props, keys);
                            if !changes.is_empty() {
                                mp.updates.push((row.clone(), want.clone(), changes));
                            }
                        }
                        None if matches!(kind, MenuKind::Fixed(_)) => {
                            // A port or service the router does not have: setting it
                            // fails loudly at apply, as RouterOS would.
                            mp.creates.push((i, want.clone()));
                        }
                        None => mp.creates.push((i, want.clone())),
                    }
                }
                if matches!(kind, MenuKind::Keyed(_)) {
                    for row in rows {
                        if row.builtin || used.contains(&std::ptr::from_ref(row)) {
                            continue;
                        }
                        if opts.allow_destroy || owned.iter().any(|o| o.owns(path, row)) {
                            deletes.push((path.clone(), row));
                        } else {
                            b.diff.unmanaged.push(unmanaged_line(path, row));
                        }
                    }
                }
            }
            MenuKind::Ordered => {
                // Match by comment, k-th occurrence to k-th occurrence.
                let mut by_comment: HashMap<String, Vec<&Row>> = HashMap::new();
                for row in rows {
                    if row.builtin {
                        continue;
                    }
                    by_comment
                        .entry(row.props.get("comment").unwrap_or("").to_owned())
                        .or_default()
                        .push(row);
                }
                let mut used: Vec<*const Row> = Vec::new();
                for (i, want) in wanted.iter().enumerate() {
                    let comment = want.get("comment").unwrap_or("");
                    // Among rows with this comment, take the one needing the fewest
                    // changes (the first on a tie), as api_modify scores its pairs.
                    let found = by_comment.get_mut(comment).and_then(|c| {
                        if c.is_empty() {
                            return None;
                        }
                        if comment.is_empty() {
                            // No comment: the rule is its content (the first row equal to it).
                            let at = (0..c.len())
                                .find(|&j| prop_changes(path, want, &c[j].props, &[]).is_empty())?;
                            return Some(c.remove(at));
                        }
                        let best = (0..c.len())
                            .min_by_key(|&j| prop_changes(path, want, &c[j].props, &[]).len())
                            .unwrap_or(0);
                        Some(c.remove(best))
                    });
                    match found {
                        Some(row) => {
                            used.push(row);
                            mp.order.push(Some(row));
                            let changes = prop_changes(path, want, &row.props, &[]);
                            if !changes.is_empty() {
                                mp.updates.push((row.clone(), want.clone(), changes));
                            }
                        }
                        None => {
                            mp.order.push(None);
                            mp.creates.push((i, want.clone()));
                        }
                    }
                }
                for row in rows {
                    if row.builtin || used.contains(&std::ptr::from_ref(row)) {
                        continue;
                    }
                    if opts.allow_destroy {
                        deletes.push((path.clone(), row));
                    } else {
                        b.diff.unmanaged.push(unmanaged_line(path, row));
                    }
                }
            }
        }
        plans.push(mp);
    }
    for (path, row) in deletes.iter().rev() {
        b.remove(path, row);
    }
    for mp in &plans {
        for (row, desired_props, changes) in &mp.updates {
            b.set(&mp.path, row, desired_props, changes.clone());
        }
        let mut slot_of: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, props) in &mp.creates {
            if matches!(menu_kind(&mp.path), MenuKind::Fixed(_)) {
                // Set a built-in row that was not found: RouterOS will refuse it; keep it
                // visible as an update against nothing.
                let missing = Row {
                    id: Some(format!("[ find {} ]", describe(&mp.path, props))),
                    builtin: true,
                    props: Props::new(),
                };
                let keys = match menu_kind(&mp.path) {
                    MenuKind::Fixed(k) => k,
                    _ => &[],
                };
                let changes = prop_changes(&mp.path, props, &Props::new(), keys);
                b.set(&mp.path, &missing, props, changes);
                continue;
            }
            slot_of.insert(*i, b.add(&mp.path, props));
        }
        if mp.ordered {
            moves(
                &mut b,
                mp.path.as_str(),
                &mp.order,
                &slot_of,
                observed.rows(&mp.path),
                &mp.wanted,
            );
        }
    }
    b.diff
}

/// Matches a generic menu (see [`crate::menus`]): its settings like a singleton's, its
/// entries by the menu's key; unmatched rows rackpipe owns (or every unmatched row, with
/// `allow_destroy`) are deleted, the others reported as unmanaged.
fn generic_menu<'o>(
    mp: &mut MenuPlan<'o>,
    desired: &Config,
    rows: &'o [Row],
    opts: PlanOptions,
    deletes: &mut Vec<(String, &'o Row)>,
    unmanaged: &mut Vec<String>,
) {
    let path = mp.path.clone();
    let (settings, wanted) = crate::menus::split(desired, &path);
    if !settings.is_empty() {
        let empty = Row {
            id: None,
            builtin: true,
            props: Props::new(),
        };
        let row = rows.iter().find(|r| r.id.is_none()).unwrap_or(&empty);
        let mut changes = Props::new();
        for (k, v) in settings.iter() {
            let same =
                observed_value(&row.props, k).is_some_and(|o| normalize(k, o) == normalize(k, v));
            if !same {
                changes.insert(k, v);
            }
        }
        if !changes.is_empty() {
            mp.updates.push((row.clone(), settings, changes));
        }
    }
    let matched = crate::menus::match_entries(&path, &wanted, rows);
    for (i, (want, found)) in wanted.iter().zip(&matched.rows).enumerate() {
        mp.order.push(*found);
        match found {
            Some(row) => {
                let changes = crate::menus::changes(want, &row.props);
                if !changes.is_empty() {
                    mp.updates.push(((*row).clone(), want.clone(), changes));
                }
            }
            None => mp.creates.push((i, want.clone())),
        }
    }
    for row in matched.left {
        if opts.allow_destroy || crate::menus::is_owned(row) {
            deletes.push((path.clone(), row));
        } else {
            unmanaged.push(unmanaged_line(&path, row));
        }
    }
    mp.wanted = wanted;
}

/// Moves that put the managed rules in desired order (unmanaged rules keep their place).
fn moves(
    b: &mut Builder<'_>,
    path: &str,
    order: &[Option<&Row>],
    slot_of: &BTreeMap<usize, usize>,
    rows: &[Row],
    wanted: &[Props],
) {
    let desired_refs: Vec<Ref> = order
        .iter()
        .enumerate()
        .map(|(i, row)| match row {
            Some(r) => Ref::Id(r.id.clone().unwrap_or_default()),
            None => Ref::New(slot_of.get(&i).copied().unwrap_or(usize::MAX)),
        })
        .collect();
    let comment_of: HashMap<Ref, String> = desired_refs
        .iter()
        .zip(wanted)
        .map(|(r, p)| (r.clone(), p.get("comment").unwrap_or("").to_owned()))
        .collect();
    // Current order: matched rows in router order, then creates (appended).
    let mut current: Vec<Ref> = rows
        .iter()
        .filter_map(|row| {
            let r = Ref::Id(row.id.clone().unwrap_or_default());
            desired_refs.contains(&r).then_some(r)
        })
        .collect();
    current.extend(
        desired_refs
            .iter()
            .filter(|r| matches!(r, Ref::New(_)))
            .cloned(),
    );
    for (i, want) in desired_refs.iter().enumerate() {
        if current.get(i) == Some(want) {
            continue;
        }
        let Some(before) = current.get(i).cloned() else {
            break;
        };
        if let Some(pos) = current.iter().position(|r| r == want) {
            current.remove(pos);
        }
        current.insert(i, want.clone());
        let item_comment = comment_of.get(want).cloned().unwrap_or_default();
        let before_comment = comment_of.get(&before).cloned().unwrap_or_default();
        let mut change = b.change(
            Action::Move,
            format!("{path} comment={}", quote(&item_comment)),
        );
        change.after = Some(serde_json::json!({ "before": before_comment }));
        change.commands = vec![format!(
            "{} move [ find comment={} ] destination=[ find comment={} ]",
            console_menu(path),
            quote(&item_comment),
            quote(&before_comment)
        )];
        b.push(
            change,
            Op::Move {
                menu: path.to_owned(),
                item: want.clone(),
                before,
            },
        );
    }
}

/// Reads the router and plans `desired` against it.
///
/// # Errors
/// REST failures while reading back.
pub async fn plan_config(
    site: &str,
    target: &str,
    desired: &Config,
    client: &RestClient,
    opts: PlanOptions,
) -> Result<Planned, Error> {
    plan_config_with(site, target, desired, client, opts, &[]).await
}

/// [`plan_config`] that also deletes the `owned` rows no longer desired (see [`OwnedRows`]).
///
/// # Errors
/// REST failures while reading back.
pub async fn plan_config_with(
    site: &str,
    target: &str,
    desired: &Config,
    client: &RestClient,
    opts: PlanOptions,
    owned: &[OwnedRows],
) -> Result<Planned, Error> {
    let before = client.requests();
    let observed = read_back(client, &planned_menus(desired, owned)).await?;
    let diff = diff_with(target, desired, &observed, opts, owned);
    let mut plan = Plan::new(
        "ros-render",
        site,
        rackpipe_model::documents::digest(&redacted_config(desired)),
        observed.digest(),
        diff.changes,
    );
    plan.unmanaged = diff.unmanaged;
    Ok(Planned {
        plan,
        ops: diff.ops,
        observed,
        requests: client.requests() - before,
    })
}

/// Plans the site's router section.
///
/// # Errors
/// No router section; REST failures while reading back.
pub async fn plan(
    site: &rackpipe_model::Site,
    client: &RestClient,
    opts: PlanOptions,
) -> Result<Planned, Error> {
    plan_with_facts(site, None, client, opts).await
}

/// What plan and apply compare the router with: the desired configuration (the typed menus,
/// the facts' leases, `router.menus`), the router's identity and the rows rackpipe owns
/// (with facts: the leases earlier facts added).
pub(crate) fn desired_router(
    site: &rackpipe_model::Site,
    facts: Option<&crate::GuestFacts>,
) -> Result<(Config, String, &'static [OwnedRows]), Error> {
    const WITH_FACTS: &[OwnedRows] = &[crate::facts::OWNED_LEASES];
    let mut desired = crate::desired_with_facts(site, facts)?;
    if let Some(router) = &site.router {
        crate::menus::push_router_menus(&mut desired, router)?;
    }
    let identity = site
        .router
        .as_ref()
        .map(|r| r.identity.clone())
        .unwrap_or_default();
    let owned = if facts.is_some() { WITH_FACTS } else { &[] };
    Ok((desired, identity, owned))
}

/// Plans the site's router section with the leases guest facts add; with facts, leases
/// added from earlier facts that these no longer produce are deleted (see [`crate::facts`]).
///
/// # Errors
/// No router section; facts that contradict the site; REST failures while reading back.
pub async fn plan_with_facts(
    site: &rackpipe_model::Site,
    facts: Option<&crate::GuestFacts>,
    client: &RestClient,
    opts: PlanOptions,
) -> Result<Planned, Error> {
    let (desired, identity, owned) = desired_router(site, facts)?;
    plan_config_with(
        site.metadata.name.as_str(),
        &identity,
        &desired,
        client,
        opts,
        owned,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readback::ObservedMenu;

    fn row(id: &str, pairs: &[(&str, &str)]) -> Row {
        Row {
            id: Some(id.to_owned()),
            builtin: false,
            props: Props::from_pairs(pairs.iter().copied()),
        }
    }

    fn rule(comment: &str) -> Command {
        Command::add(Props::from_pairs([
            ("chain", "input"),
            ("action", "accept"),
            ("comment", comment),
        ]))
    }

    fn observed(path: &str, rows: Vec<Row>) -> Observed {
        Observed {
            menus: vec![ObservedMenu {
                path: path.to_owned(),
                rows,
            }],
        }
    }

    use proptest::prelude::*;

    fn arb_rules() -> impl Strategy<Value = Vec<(String, String, bool)>> {
        proptest::collection::vec(
            (
                "[a-z]{1,6}",
                prop_oneof![Just("accept"), Just("drop")].prop_map(str::to_owned),
                any::<bool>(),
            ),
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// A router that holds exactly the desired rules (RouterOS spellings, any order)
        /// needs no change except moves, and the moves put it in order.
        #[test]
        fn converged_router_needs_only_moves(rules in arb_rules(), seed in any::<u64>()) {
            let mut desired = Config::default();
            let mut rows = Vec::new();
            for (i, (comment, action, log)) in rules.iter().enumerate() {
                let mut p = Props::from_pairs([("chain", "input"), ("action", action.as_str()), ("comment", comment.as_str())]);
                if *log { p.insert("log", "yes"); }
                desired.push("/ip/firewall/filter", Command::add(p));
                let mut r = vec![("chain", "input".to_owned()), ("action", action.clone()), ("comment", comment.clone()), ("bytes", "9".to_owned())];
                if *log { r.push(("log", "true".to_owned())); }
                rows.push(Row { id: Some(format!("*{i:X}")), builtin: false, props: Props::from_pairs(r) });
            }
            // Shuffle deterministically.
            let n = rows.len();
            for i in (1..n).rev() {
                let j = usize::try_from(seed.wrapping_mul(i as u64 + 7) % (i as u64 + 1)).unwrap();
                rows.swap(i, j);
            }
            let obs = observed("/ip/firewall/filter", rows.clone());
            let d = diff("r", &desired, &obs, PlanOptions::default());
            prop_assert!(d.ops.iter().all(|o| matches!(o, Op::Move { .. })), "{:?}", d.ops);
            prop_assert!(d.unmanaged.is_empty());
            let mut order: Vec<String> = rows.iter().map(|r| r.id.clone().unwrap()).collect();
            for op in &d.ops {
                if let Op::Move { item: Ref::Id(item), before: Ref::Id(before), .. } = op {
                    order.retain(|x| x != item);
                    let at = order.iter().position(|x| x == before).unwrap();
                    order.insert(at, item.clone());
                }
            }
            let reordered: Vec<Row> = order.iter().map(|id| rows.iter().find(|r| r.id.as_ref() == Some(id)).unwrap().clone()).collect();
            let again = diff("r", &desired, &observed("/ip/firewall/filter", reordered), PlanOptions::default());
            prop_assert!(again.ops.is_empty(), "{:?}", again.ops);
        }

        /// Arbitrary observed rows never make the planner panic.
        #[test]
        fn random_rows_never_panic(rows in proptest::collection::vec(proptest::collection::vec(("[a-z.!-]{0,8}", ".{0,8}"), 0..6), 0..10)) {
            let mut desired = Config::default();
            desired.push("/ip/firewall/filter", rule("a"));
            desired.push("/interface/bridge", Command::add(Props::from_pairs([("name", "a")])));
            desired.push("/ip/dns", Command::set(None, Props::from_pairs([("servers", "1.1.1.1")])));
            let rows: Vec<Row> = rows.into_iter().enumerate().map(|(i, pairs)| Row { id: Some(format!("*{i}")), builtin: false, props: Props::from_pairs(pairs) }).collect();
            for path in ["/ip/firewall/filter", "/interface/bridge", "/ip/dns"] {
                let _ = diff("r", &desired, &observed(path, rows.clone()), PlanOptions { allow_destroy: true });
            }
        }
    }

    #[test]
    fn keyed_update_create_and_unmanaged() {
        let mut desired = Config::default();
        desired.push(
            "/interface/bridge",
            Command::add(Props::from_pairs([
                ("name", "br0"),
                ("vlan-filtering", "yes"),
            ])),
        );
        desired.push(
            "/interface/bridge",
            Command::add(Props::from_pairs([("name", "br1")])),
        );
        let obs = observed(
            "/interface/bridge",
            vec![
                row(
                    "*1",
                    &[
                        ("name", "br0"),
                        ("vlan-filtering", "false"),
                        ("comment", "x"),
                        ("disabled", "false"),
                    ],
                ),
                row("*2", &[("name", "old")]),
            ],
        );
        let d = diff("r", &desired, &obs, PlanOptions::default());
        assert_eq!(d.ops.len(), 2, "{:?}", d.ops);
        match &d.ops[0] {
            Op::Set { props, id, .. } => {
                assert_eq!(id.as_deref(), Some("*1"));
                assert_eq!(props.get("vlan-filtering"), Some("yes"));
                assert_eq!(props.get("!comment"), Some(""));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&d.ops[1], Op::Add { .. }));
        assert_eq!(d.unmanaged.len(), 1);
        let d = diff(
            "r",
            &desired,
            &obs,
            PlanOptions {
                allow_destroy: true,
            },
        );
        assert!(matches!(&d.ops[0], Op::Remove { id, .. } if id == "*2"));
        assert!(
            d.changes[0].commands[0].contains("remove [ find name=old ]"),
            "{:?}",
            d.changes[0].commands
        );
    }

    #[test]
    fn owned_rows_are_removed_when_no_longer_desired() {
        let owned = [OwnedRows {
            menu: "/ip/dhcp-server/lease",
            comment_prefix: "rackpipe: guest ",
        }];
        let mut desired = Config::default();
        desired.push(
            "/ip/dhcp-server/lease",
            add_lease("BC:24:11:00:00:01", "rackpipe: guest a vmid 1"),
        );
        let lease = |id: &str, mac: &str, comment: &str| {
            row(
                id,
                &[
                    ("server", "d"),
                    ("address", "10.0.0.1"),
                    ("mac-address", mac),
                    ("comment", comment),
                ],
            )
        };
        let obs = observed(
            "/ip/dhcp-server/lease",
            vec![
                lease("*1", "BC:24:11:00:00:01", "rackpipe: guest a vmid 1"),
                lease("*2", "BC:24:11:00:00:02", "rackpipe: guest b vmid 2"),
                lease("*3", "BC:24:11:00:00:03", "printer"),
            ],
        );
        let d = diff_with("r", &desired, &obs, PlanOptions::default(), &owned);
        assert!(
            matches!(&d.ops[..], [Op::Remove { id, .. }] if id == "*2"),
            "{:?}",
            d.ops
        );
        assert_eq!(d.unmanaged.len(), 1, "{:?}", d.unmanaged);
        assert!(d.unmanaged[0].contains("BC:24:11:00:00:03"));
        // Not owned: both are only reported.
        let d = diff("r", &desired, &obs, PlanOptions::default());
        assert!(d.ops.is_empty(), "{:?}", d.ops);
        assert_eq!(d.unmanaged.len(), 2);
        // The menu is read even when nothing desired is in it.
        let mut other = Config::default();
        other.push(
            "/ip/dns",
            Command::set(None, Props::from_pairs([("servers", "1.1.1.1")])),
        );
        assert_eq!(
            planned_menus(&other, &owned),
            ["/ip/dns", "/ip/dhcp-server/lease"]
        );
        let d = diff_with("r", &other, &obs, PlanOptions::default(), &owned);
        assert_eq!(
            d.ops
                .iter()
                .filter(|o| matches!(o, Op::Remove { .. }))
                .count(),
            2
        );
    }

    fn add_lease(mac: &str, comment: &str) -> Command {
        Command::add(Props::from_pairs([
            ("server", "d"),
            ("address", "10.0.0.1"),
            ("mac-address", mac),
            ("comment", comment),
        ]))
    }

    #[test]
    fn firewall_order_is_fixed_with_moves() {
        let mut desired = Config::default();
        for c in ["a", "b", "c"] {
            desired.push("/ip/firewall/filter", rule(c));
        }
        let obs = observed(
            "/ip/firewall/filter",
            vec![
                row(
                    "*3",
                    &[("chain", "input"), ("action", "accept"), ("comment", "c")],
                ),
                row(
                    "*9",
                    &[("chain", "input"), ("action", "drop"), ("comment", "hand")],
                ),
                row(
                    "*1",
                    &[("chain", "input"), ("action", "accept"), ("comment", "a")],
                ),
                row(
                    "*2",
                    &[("chain", "input"), ("action", "accept"), ("comment", "b")],
                ),
            ],
        );
        let d = diff("r", &desired, &obs, PlanOptions::default());
        assert_eq!(d.unmanaged.len(), 1);
        assert!(
            d.ops.iter().all(|o| matches!(o, Op::Move { .. })),
            "{:?}",
            d.ops
        );
        // Simulate the moves on the managed order.
        let mut order = vec!["*3", "*1", "*2"];
        for op in &d.ops {
            if let Op::Move {
                item: Ref::Id(item),
                before: Ref::Id(before),
                ..
            } = op
            {
                order.retain(|x| x != item);
                let at = order.iter().position(|x| x == before).unwrap();
                order.insert(at, item);
            }
        }
        assert_eq!(order, ["*1", "*2", "*3"]);
    }

    #[test]
    fn firewall_extra_properties_are_unset_and_no_change_when_equal() {
        let mut desired = Config::default();
        desired.push("/ip/firewall/filter", rule("a"));
        let obs = observed(
            "/ip/firewall/filter",
            vec![row(
                "*1",
                &[
                    ("chain", "input"),
                    ("action", "accept"),
                    ("comment", "a"),
                    ("log", "true"),
                    ("bytes", "5"),
                    ("disabled", "false"),
                ],
            )],
        );
        let d = diff("r", &desired, &obs, PlanOptions::default());
        match &d.ops[..] {
            [Op::Set { props, .. }] => {
                assert_eq!(props.get("!log"), Some(""));
                assert_eq!(props.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        let clean = observed(
            "/ip/firewall/filter",
            vec![row(
                "*1",
                &[("chain", "input"), ("action", "accept"), ("comment", "a")],
            )],
        );
        assert!(
            diff("r", &desired, &clean, PlanOptions::default())
                .ops
                .is_empty()
        );
    }
}
