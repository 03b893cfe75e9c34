//! How rows match: each menu's kind and natural key, and how property values compare (normalised).

use rackpipe_routeros::Props;

/// How a menu's entries are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuKind {
    /// One object (`/ip/dns`): a single `set`.
    Singleton,
    /// Built-in rows that can only be `set` (ethernet ports, services), keyed by these
    /// properties.
    Fixed(&'static [&'static str]),
    /// A list keyed by these properties.
    Keyed(&'static [&'static str]),
    /// An ordered list matched by `comment` (firewall rules).
    Ordered,
}

/// The kind of a managed menu.
#[must_use]
pub fn menu_kind(path: &str) -> MenuKind {
    match path {
        "/ip/dns" | "/system/identity" | "/system/clock" | "/system/ntp/client"
        | "/system/ntp/server" => MenuKind::Singleton,
        "/interface/ethernet" => MenuKind::Fixed(&["default-name"]),
        "/ip/service" => MenuKind::Fixed(&["name"]),
        "/ip/neighbor/discovery-settings" => MenuKind::Singleton,
        "/ip/firewall/filter"
        | "/ip/firewall/nat"
        | "/ip/firewall/mangle"
        | "/ip/firewall/raw"
        | "/ipv6/firewall/filter"
        | "/ipv6/firewall/raw"
        | "/ipv6/firewall/mangle" => MenuKind::Ordered,
        "/interface/list/member" => MenuKind::Keyed(&["list", "interface"]),
        "/interface/wireguard/peers" => MenuKind::Keyed(&["interface", "public-key"]),
        "/ipv6/address" => MenuKind::Keyed(&["address", "interface"]),
        "/ip/route" | "/ipv6/route" => {
            MenuKind::Keyed(&["dst-address", "gateway", "routing-table"])
        }
        "/ip/dhcp-client" => MenuKind::Keyed(&["interface"]),
        "/system/ntp/client/servers" => MenuKind::Keyed(&["address"]),
        "/interface/bridge/port" => MenuKind::Keyed(&["interface"]),
        "/interface/bridge/vlan" => MenuKind::Keyed(&["bridge", "vlan-ids"]),
        "/ip/address" => MenuKind::Keyed(&["address", "interface"]),
        "/ip/dhcp-server/network" => MenuKind::Keyed(&["address"]),
        "/ip/dhcp-server/lease" => MenuKind::Keyed(&["server", "mac-address"]),
        "/ip/firewall/address-list" => MenuKind::Keyed(&["list", "address"]),
        "/system/logging" => MenuKind::Keyed(&["action", "topics"]),
        _ => MenuKind::Keyed(&["name"]),
    }
}

/// Read-only values of firewall rules (never unset).
const RULE_READ_ONLY: &[&str] = &["bytes", "packets", "invalid", "dynamic", "builtin"];
/// Properties managed even when the site does not mention them (unset / enabled back).
const ALWAYS_MANAGED: &[&str] = &["comment", "disabled"];
/// Comma lists whose order RouterOS does not keep.
const SET_LIKE: &[&str] = &["tagged", "untagged", "slaves", "vlan-ids", "topics"];
/// Duration-valued properties.
const DURATIONS: &[&str] = &["lease-time", "ttl", "interval", "address-list-timeout"];

/// The value RouterOS reports when a property is not shown.
fn absent_default(key: &str) -> Option<&'static str> {
    match key {
        "comment" | "log-prefix" | "address" => Some(""),
        "disabled" | "log" => Some("false"),
        "server" => Some("all"),
        _ => None,
    }
}

/// A value in comparable form.
#[must_use]
pub fn normalize(key: &str, value: &str) -> String {
    match value {
        "yes" | "true" => return "true".to_owned(),
        "no" | "false" => return "false".to_owned(),
        _ => {}
    }
    if key == "mac-address" {
        return value.to_ascii_uppercase();
    }
    if DURATIONS.contains(&key)
        && let Some(ms) = rackpipe_routeros::values::duration_ms(value)
    {
        return format!("{ms}ms");
    }
    if SET_LIKE.contains(&key) {
        let mut items: Vec<&str> = value.split(',').filter(|s| !s.is_empty()).collect();
        items.sort_unstable();
        return items.join(",");
    }
    value.to_owned()
}

pub(super) fn observed_value<'a>(row: &'a Props, key: &str) -> Option<&'a str> {
    row.get(key).or_else(|| absent_default(key))
}

/// The properties to write so that `row` matches `desired` (`!key` unsets).
#[must_use]
pub fn prop_changes(path: &str, desired: &Props, row: &Props, skip: &[&str]) -> Props {
    let mut out = Props::new();
    for (k, v) in desired.iter() {
        if skip.contains(&k) {
            continue;
        }
        let same = observed_value(row, k).is_some_and(|o| normalize(k, o) == normalize(k, v));
        if !same {
            out.insert(k, v);
        }
    }
    let ordered = menu_kind(path) == MenuKind::Ordered;
    for (k, v) in row.iter() {
        if desired.contains(k) || skip.contains(&k) {
            continue;
        }
        let managed = if ordered {
            !RULE_READ_ONLY.contains(&k) && k != "action" && k != "chain"
        } else {
            ALWAYS_MANAGED.contains(&k)
        };
        if !managed {
            continue;
        }
        if absent_default(k).is_some_and(|d| normalize(k, d) == normalize(k, v)) {
            continue;
        }
        if k == "disabled" {
            out.insert("disabled", "no");
        } else {
            out.insert(format!("!{k}"), "");
        }
    }
    out
}

pub(super) fn key_props(path: &str, props: &Props) -> Props {
    if crate::menus::is_generic(path) {
        return crate::menus::key_props(path, props);
    }
    match menu_kind(path) {
        MenuKind::Fixed(keys) | MenuKind::Keyed(keys) => Props::from_pairs(keys.iter().map(|k| {
            let default = rackpipe_model::router::menu_key_default(path, k);
            (
                *k,
                props
                    .get(k)
                    .or_else(|| absent_default(k))
                    .unwrap_or(default),
            )
        })),
        MenuKind::Ordered => Props::from_pairs([("comment", props.get("comment").unwrap_or(""))]),
        MenuKind::Singleton => Props::new(),
    }
}

pub(super) fn key_of(path: &str, props: &Props) -> Vec<String> {
    key_props(path, props)
        .iter()
        .map(|(k, v)| normalize(k, v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize("vlan-filtering", "yes"), "true");
        assert_eq!(normalize("tagged", "b,a"), normalize("tagged", "a,b"));
        assert_eq!(
            normalize("lease-time", "1h"),
            normalize("lease-time", "60m")
        );
        assert_eq!(
            normalize("mac-address", "aa:bb:cc:dd:ee:ff"),
            "AA:BB:CC:DD:EE:FF"
        );
    }
}
