//! Generic menus (`router.menus`): the RouterOS menus the typed site fields do not model,
//! planned and applied like the typed ones.
//!
//! - **Desired state.** [`push_site_menus`] appends each generic menu to the desired
//!   [`Config`] after the typed menus: its `settings` as one `set` without a selector, its
//!   entries as `add`s in site order. Secret references are resolved here (the values never
//!   reach a plan: a secret may only sit on a property RouterOS itself treats as secret, which
//!   the plan redacts).
//! - **Matching.** [`rackpipe_model::router::menu_key`] is the key table: `name` where the menu names its entries,
//!   `/ip/route` by destination, gateway and routing table, list members by list and
//!   interface, ...; firewall-like menus (`/ip/firewall/mangle`, `/ipv6/firewall/*`) are
//!   ordered and fixed with moves; any other menu matches an entry by every property the site
//!   gives it. Only the properties the site names are compared (and `comment`, `disabled`):
//!   RouterOS's defaults a site does not mention are left as they are.
//! - **Ownership.** An entry rackpipe creates in a generic menu carries the comment marker
//!   [`OWNED_MARK`] (`rackpipe: ` before the site's comment, or `rackpipe` alone): the same
//!   rule as the leases rackpipe adds for guests ([`crate::plan::OwnedRows`]). When the site
//!   no longer has it, the plan deletes it; an entry without the marker (made by hand, or
//!   adopted by `ros-render import`) is only reported as unmanaged, and deleted only with
//!   `--allow-destroy`, as in the typed menus. Comments are compared without the marker.

use rackpipe_model::router::{
    Menu, MenuKey, MenuProperties, MenuValue, Router, TYPED_MENUS, menu_key, menu_key_default,
};
use rackpipe_model::types::SecretRef;
use rackpipe_routeros::config::is_secret_property;
use rackpipe_routeros::{Command, Config, Props, Verb};

use crate::plan::normalize;
use crate::readback::Row;
use crate::rest::Error;

/// The comment of an entry rackpipe created in a generic menu: exactly this, or this and
/// `": "` before the site's comment.
pub const OWNED_MARK: &str = "rackpipe";

/// Whether `path` is planned as a generic menu (not one of
/// [`rackpipe_model::router::TYPED_MENUS`]).
#[must_use]
pub fn is_generic(path: &str) -> bool {
    !TYPED_MENUS.contains(&path)
}

/// A comment without rackpipe's ownership marker.
#[must_use]
pub fn strip_mark(comment: &str) -> &str {
    if comment == OWNED_MARK {
        return "";
    }
    comment
        .strip_prefix(OWNED_MARK)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(comment)
}

/// Whether a row carries rackpipe's ownership marker.
#[must_use]
pub fn is_owned(row: &Row) -> bool {
    row.props
        .get("comment")
        .is_some_and(|c| c == OWNED_MARK || c.starts_with("rackpipe: "))
}

/// `comment` with rackpipe's ownership marker.
#[must_use]
pub fn marked(comment: &str) -> String {
    let bare = strip_mark(comment);
    if bare.is_empty() {
        OWNED_MARK.to_owned()
    } else {
        format!("{OWNED_MARK}: {bare}")
    }
}

/// The field path of a generic property, for messages: `router.menus[2].entries[0].gateway`.
fn field(menu: usize, entry: Option<usize>, key: &str) -> String {
    match entry {
        Some(e) => format!("router.menus[{menu}].entries[{e}].{key}"),
        None => format!("router.menus[{menu}].settings.{key}"),
    }
}

/// A secret of a typed field: the menu, the entry's index among the menu's entries, the
/// RouterOS property, the reference and the field path.
type TypedSecret<'r> = (&'static str, usize, &'static str, &'r SecretRef, String);

/// The secrets of the typed fields (WireGuard keys): [`crate::desired`] leaves them out (it
/// never resolves a secret), the plan and apply add them resolved, the render names them.
fn typed_secrets(router: &Router) -> Vec<TypedSecret<'_>> {
    let mut out = Vec::new();
    for (i, w) in router.wireguard.interfaces.iter().enumerate() {
        if let Some(key) = &w.private_key {
            let field = format!("router.wireguard.interfaces[{i}].private_key");
            out.push(("/interface/wireguard", i, "private-key", key, field));
        }
    }
    for (i, p) in router.wireguard.peers.iter().enumerate() {
        for (prop, name, value) in [
            ("private-key", "private_key", &p.private_key),
            ("preshared-key", "preshared_key", &p.preshared_key),
        ] {
            if let Some(key) = value {
                let field = format!("router.wireguard.peers[{i}].{name}");
                out.push(("/interface/wireguard/peers", i, prop, key, field));
            }
        }
    }
    out
}

/// Adds the typed fields' secrets to `desired`, resolved with `resolve` (`None`: left out).
fn push_typed_secrets(
    desired: &mut Config,
    router: &Router,
    resolve: Resolve<'_>,
) -> Result<(), Error> {
    for (path, index, prop, reference, field) in typed_secrets(router) {
        let Some(value) = resolve(reference, &field)? else {
            continue;
        };
        if let Some(command) = desired
            .menus
            .iter_mut()
            .find(|m| m.path == path)
            .and_then(|m| m.commands.get_mut(index))
        {
            command.props.insert(prop, value);
        }
    }
    Ok(())
}

/// The secret references of the generic menus and of the typed fields that hold secrets,
/// with their field paths (for the driver's one resolution of every secret,
/// [`crate::rest::secret_refs`]).
#[must_use]
pub fn secret_refs(router: &Router) -> Vec<(&SecretRef, String)> {
    let mut out: Vec<(&SecretRef, String)> = typed_secrets(router)
        .into_iter()
        .map(|(_, _, _, reference, field)| (reference, field))
        .collect();
    for (m, menu) in router.menus.iter().enumerate() {
        let all = std::iter::once((None, &menu.settings)).chain(
            menu.entries
                .iter()
                .enumerate()
                .map(|(e, entry)| (Some(e), &entry.properties)),
        );
        for (e, props) in all {
            for (key, value) in props {
                if let MenuValue::Secret(reference) = value {
                    out.push((reference, field(m, e, key)));
                }
            }
        }
    }
    out
}

/// How [`props_of`] turns a secret reference into text: `None` leaves the property out.
type Resolve<'r> = &'r dyn Fn(&SecretRef, &str) -> Result<Option<String>, Error>;

fn props_of(
    m: usize,
    e: Option<usize>,
    props: &MenuProperties,
    resolve: Resolve<'_>,
) -> Result<Props, Error> {
    let mut out = Props::new();
    for (key, value) in props {
        let text = match value {
            MenuValue::Text(text) => text.clone(),
            MenuValue::Secret(reference) => {
                let at = field(m, e, key);
                if !is_secret_property(key) {
                    return Err(Error::Config {
                        what: at,
                        message: format!(
                            "a secret reference on {key:?}, which RouterOS shows in the clear: plans would show its value; give the value as text or use a secret property"
                        ),
                    });
                }
                match resolve(reference, &at)? {
                    Some(text) => text,
                    None => continue,
                }
            }
        };
        out.insert(key.as_str(), text);
    }
    Ok(out)
}

/// Appends the site's generic menus to `desired` (see the module docs), resolving secret
/// references with `resolve` (reference, field path).
///
/// # Errors
/// A secret that cannot be resolved, or one on a property RouterOS does not treat as secret.
pub fn push_site_menus(
    desired: &mut Config,
    menus: &[Menu],
    resolve: &dyn Fn(&SecretRef, &str) -> Result<String, Error>,
) -> Result<(), Error> {
    push_menus(desired, menus, &|reference, at| {
        resolve(reference, at).map(Some)
    })
}

/// The generic menus for the rendered script (`ros-render render`): as
/// [`push_site_menus`], but a secret is never resolved: its property is left out of the
/// script (`ros-render apply` sets it), and the returned lines name each one
/// (`router.menus[1].entries[0].private-key: env:WG_KEY`) for the script's header.
///
/// # Errors
/// A secret reference on a property RouterOS does not treat as secret.
pub fn push_rendered_menus(desired: &mut Config, router: &Router) -> Result<Vec<String>, Error> {
    let left_out = std::cell::RefCell::new(Vec::new());
    let leave_out: Resolve<'_> = &|reference, at| {
        left_out
            .borrow_mut()
            .push(format!("{at}: {}", reference.as_str()));
        Ok(None)
    };
    push_typed_secrets(desired, router, leave_out)?;
    push_menus(desired, &router.menus, leave_out)?;
    Ok(left_out.into_inner())
}

fn push_menus(desired: &mut Config, menus: &[Menu], resolve: Resolve<'_>) -> Result<(), Error> {
    for (m, menu) in menus.iter().enumerate() {
        if !menu.settings.is_empty() {
            let props = props_of(m, None, &menu.settings, resolve)?;
            desired.push(&menu.path, Command::set(None, props));
        }
        for (e, entry) in menu.entries.iter().enumerate() {
            let mut props = props_of(m, Some(e), &entry.properties, resolve)?;
            let comment = props.get("comment").unwrap_or("").to_owned();
            props.insert("comment", marked(&comment));
            desired.push(&menu.path, Command::add(props));
        }
    }
    Ok(())
}

/// [`push_site_menus`] with the shared resolver (`env:`, `file:`, `vault:` references).
///
/// # Errors
/// As [`push_site_menus`].
pub fn push_router_menus(desired: &mut Config, router: &Router) -> Result<(), Error> {
    let resolver = rackpipe_secrets::Resolver::global();
    let resolve = |reference: &SecretRef, at: &str| {
        resolver
            .resolve(reference, at)
            .map(rackpipe_secrets::Secret::into_exposed)
            .map_err(|e| Error::Config {
                what: at.to_owned(),
                message: e.reason(),
            })
    };
    push_typed_secrets(desired, router, &|reference, at| {
        resolve(reference, at).map(Some)
    })?;
    push_site_menus(desired, &router.menus, &resolve)
}

/// The `set` (settings) and `add` (entries) of a generic menu in `desired`.
#[must_use]
pub fn split(desired: &Config, path: &str) -> (Props, Vec<Props>) {
    let mut settings = Props::new();
    let mut entries = Vec::new();
    for command in desired.commands(path) {
        match command.verb {
            Verb::Add => entries.push(command.props.clone()),
            _ => {
                for (k, v) in command.props.iter() {
                    settings.insert(k, v);
                }
            }
        }
    }
    (settings, entries)
}

/// The key of `props` in a keyed generic menu.
fn key_of(path: &str, keys: &[&str], props: &Props) -> Vec<String> {
    keys.iter()
        .map(|k| normalize(k, props.get(k).unwrap_or_else(|| menu_key_default(path, k))))
        .collect()
}

/// The properties that name an entry of the generic menu `path` in plans and in the
/// `[ find ... ]` of the commands shown: its key, or (menus matched by every property) the
/// entry's properties other than `comment`, `disabled` and secrets.
#[must_use]
pub fn key_props(path: &str, props: &Props) -> Props {
    let keys: &[&str] = match menu_key(path) {
        MenuKey::Keyed(keys) => keys,
        _ if props.contains("name") => &["name"],
        _ => {
            return props
                .iter()
                .filter(|(k, _)| *k != "comment" && *k != "disabled" && !is_secret_property(k))
                .collect();
        }
    };
    keys.iter()
        .map(|k| {
            (
                *k,
                props.get(k).unwrap_or_else(|| menu_key_default(path, k)),
            )
        })
        .collect()
}

/// Whether `row` has every property `want` gives (other than `comment`, `disabled`).
fn has_all(path: &str, want: &Props, row: &Props) -> bool {
    want.iter()
        .filter(|(k, _)| *k != "comment" && *k != "disabled")
        .all(|(k, v)| {
            normalize(k, row.get(k).unwrap_or_else(|| menu_key_default(path, k))) == normalize(k, v)
        })
}

/// The properties to write so that `row` matches `want`: the properties the site names,
/// `comment` compared without the ownership marker (a row keeps its ownership), `disabled`
/// enabled back when the site does not disable it.
#[must_use]
pub fn changes(want: &Props, row: &Props) -> Props {
    let mut out = Props::new();
    for (k, v) in want.iter() {
        if k == "comment" {
            let have = row.get("comment").unwrap_or("");
            if strip_mark(have) != strip_mark(v) {
                let owned = have == OWNED_MARK || have.starts_with("rackpipe: ");
                let bare = strip_mark(v);
                out.insert(
                    "comment",
                    if owned { marked(bare) } else { bare.to_owned() },
                );
            }
            continue;
        }
        let have = row
            .get(k)
            .or_else(|| (k == "disabled").then_some("false"))
            .map(|o| normalize(k, o));
        if have.as_deref() != Some(normalize(k, v).as_str()) {
            out.insert(k, v);
        }
    }
    if !want.contains("disabled")
        && row
            .get("disabled")
            .is_some_and(|d| normalize("disabled", d) == "true")
    {
        out.insert("disabled", "no");
    }
    out
}

/// One generic list menu matched: desired index → row (`None`: created), and the rows left.
pub struct Matched<'o> {
    /// For each desired entry, the row it matched.
    pub rows: Vec<Option<&'o Row>>,
    /// Rows no desired entry matched (built-in rows excluded).
    pub left: Vec<&'o Row>,
}

/// Matches the desired entries of the generic menu `path` with its rows.
#[must_use]
pub fn match_entries<'o>(path: &str, wanted: &[Props], rows: &'o [Row]) -> Matched<'o> {
    let mut free: Vec<&'o Row> = rows
        .iter()
        .filter(|r| !r.builtin && r.id.is_some())
        .collect();
    let kind = menu_key(path);
    let named =
        kind == MenuKey::Whole && !wanted.is_empty() && wanted.iter().all(|w| w.contains("name"));
    let mut matched = Vec::with_capacity(wanted.len());
    for want in wanted {
        let position = match kind {
            MenuKey::Keyed(keys) => {
                let key = key_of(path, keys, want);
                free.iter()
                    .position(|r| key_of(path, keys, &r.props) == key)
            }
            MenuKey::Whole if named => {
                let key = key_of(path, &["name"], want);
                free.iter()
                    .position(|r| key_of(path, &["name"], &r.props) == key)
            }
            MenuKey::Ordered => {
                let comment = strip_mark(want.get("comment").unwrap_or(""));
                if comment.is_empty() {
                    free.iter().position(|r| has_all(path, want, &r.props))
                } else {
                    free.iter()
                        .position(|r| strip_mark(r.props.get("comment").unwrap_or("")) == comment)
                }
            }
            MenuKey::Whole => free.iter().position(|r| has_all(path, want, &r.props)),
        };
        matched.push(position.map(|at| free.remove(at)));
    }
    Matched {
        rows: matched,
        left: free,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, pairs: &[(&str, &str)]) -> Row {
        Row {
            id: Some(id.to_owned()),
            builtin: false,
            props: Props::from_pairs(pairs.iter().copied()),
        }
    }

    #[test]
    fn the_marker_is_added_once_and_compared_away() {
        assert_eq!(marked(""), "rackpipe");
        assert_eq!(marked("uplink"), "rackpipe: uplink");
        assert_eq!(marked("rackpipe: uplink"), "rackpipe: uplink");
        assert_eq!(strip_mark("rackpipe: uplink"), "uplink");
        assert_eq!(strip_mark("rackpipe"), "");
        assert_eq!(strip_mark("rackpipes"), "rackpipes");
        let want = Props::from_pairs([("gateway", "192.0.2.1"), ("comment", "rackpipe: up")]);
        // An adopted row (no marker) with the same comment needs nothing.
        let adopted = Props::from_pairs([("gateway", "192.0.2.1"), ("comment", "up")]);
        assert!(changes(&want, &adopted).is_empty());
        // A changed comment keeps the row's ownership.
        let other = Props::from_pairs([("gateway", "192.0.2.1"), ("comment", "down")]);
        assert_eq!(changes(&want, &other).get("comment"), Some("up"));
    }

    #[test]
    fn routes_match_by_destination_gateway_and_table() {
        let wanted = vec![
            Props::from_pairs([("gateway", "192.0.2.1")]),
            Props::from_pairs([("dst-address", "10.9.0.0/16"), ("gateway", "192.0.2.2")]),
        ];
        let rows = vec![
            row(
                "*2",
                &[
                    ("dst-address", "10.9.0.0/16"),
                    ("gateway", "192.0.2.2"),
                    ("routing-table", "main"),
                    ("distance", "1"),
                ],
            ),
            row(
                "*1",
                &[
                    ("dst-address", "0.0.0.0/0"),
                    ("gateway", "192.0.2.1"),
                    ("routing-table", "main"),
                ],
            ),
            row(
                "*3",
                &[("dst-address", "10.8.0.0/16"), ("gateway", "192.0.2.2")],
            ),
        ];
        let m = match_entries("/ip/route", &wanted, &rows);
        let ids: Vec<_> = m
            .rows
            .iter()
            .map(|r| r.and_then(|r| r.id.as_deref()))
            .collect();
        assert_eq!(ids, [Some("*1"), Some("*2")]);
        assert_eq!(m.left.len(), 1);
    }

    #[test]
    fn other_menus_match_by_name_or_by_every_given_property() {
        let named = vec![Props::from_pairs([
            ("name", "LAN"),
            ("comment", "rackpipe"),
        ])];
        let rows = vec![row("*1", &[("name", "LAN"), ("include", "")])];
        assert!(match_entries("/interface/list", &named, &rows).rows[0].is_some());
        let whole = vec![Props::from_pairs([("interface", "ether1"), ("area", "a")])];
        let rows = vec![
            row("*1", &[("interface", "ether1"), ("area", "b")]),
            row(
                "*2",
                &[("interface", "ether1"), ("area", "a"), ("cost", "10")],
            ),
        ];
        let m = match_entries("/routing/ospf/interface-template", &whole, &rows);
        assert_eq!(m.rows[0].and_then(|r| r.id.as_deref()), Some("*2"));
    }
}
