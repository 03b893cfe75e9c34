//! From an `/export` (parsed into a [`Config`]) to the [`Source`] the mapping reads.

use rackpipe_routeros::config::is_internal_id;
use rackpipe_routeros::{Config, Props, Selector, Verb};

use super::source::{Entry, EntryKind, Settings, Source};
use super::{Error, NotImported};

/// Menus RouterOS 6 has and 7 replaced (v7 spelling of the v6 path).
const V6_ONLY: &[&str] = &[
    "/routing/ospf/interface",
    "/routing/ospf/network",
    "/routing/ospf/nbma-neighbor",
    "/routing/ospf-v3",
    "/routing/bgp/peer",
    "/routing/bgp/network",
    "/routing/bgp/aggregate",
    "/routing/filter",
    "/routing/rip/interface",
    "/ip/route/vrf",
    "/ip/route/rule",
    "/tool/user-manager",
];

/// Menus RouterOS 7 added.
const V7_ONLY: &[&str] = &[
    "/routing/ospf/interface-template",
    "/routing/bgp/connection",
    "/routing/bgp/template",
    "/routing/filter/rule",
    "/routing/filter/num-list",
    "/routing/table",
    "/routing/rule",
    "/ip/vrf",
    "/interface/wifi",
    "/interface/wifiwave2",
    "/interface/wireguard",
    "/user-manager",
    "/container",
];

fn under(path: &str, menus: &[&str]) -> bool {
    menus.iter().any(|m| {
        path == *m
            || path
                .strip_prefix(m)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The major version a menu belongs to, when only one has it.
fn menu_major(path: &str) -> Option<u8> {
    // `/routing/filter/rule` is v7 while its parent `/routing/filter` is v6.
    if under(path, V7_ONLY) {
        Some(7)
    } else if under(path, V6_ONLY) {
        Some(6)
    } else {
        None
    }
}

/// The source of an export; refuses menus of the other major version.
pub(crate) fn source(source_name: &str, config: &Config) -> Result<Source, Error> {
    let version = config.header.routeros_version.clone();
    let major: Option<u8> = version
        .as_deref()
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok());
    let mut source = Source {
        name: source_name.to_owned(),
        live: false,
        version: version.clone(),
        model: config.header.model.clone(),
        ..Source::default()
    };
    for menu in &config.menus {
        if let (Some(found), Some(header)) = (menu_major(&menu.path), major)
            && found != header
            && matches!(header, 6 | 7)
        {
            return Err(Error::OtherVersion {
                source_name: source_name.to_owned(),
                line: menu.commands.first().map_or(0, |c| c.line),
                menu: menu.path.clone(),
                menu_major: found,
                version: version.clone().unwrap_or_default(),
            });
        }
        for command in &menu.commands {
            source.total += 1;
            let not = |reason: String| NotImported {
                menu: menu.path.clone(),
                line: command.line,
                reason,
            };
            match (command.verb, &command.selector) {
                (Verb::Add, None) => {
                    source.menu_mut(&menu.path).entries.push(Entry {
                        kind: EntryKind::Add,
                        props: command.props.clone(),
                        line: command.line,
                        flags: command.flags.clone(),
                    });
                }
                (Verb::Set, None) => {
                    let m = source.menu_mut(&menu.path);
                    let settings = m.settings.get_or_insert_with(|| Settings {
                        line: command.line,
                        ..Settings::default()
                    });
                    settings.commands += 1;
                    for (k, v) in command.props.iter() {
                        settings.props.insert(k, v);
                    }
                }
                (Verb::Set, Some(selector)) => {
                    let mut props = Props::new();
                    match selector {
                        Selector::Find(cond) if !cond.is_empty() => {
                            for (k, v) in cond.iter() {
                                props.insert(k, v);
                            }
                        }
                        Selector::Find(_) => {
                            source.not_imported.push(not(
                                "`set [ find ]` changes every entry of the menu; a site states entries one by one".to_owned(),
                            ));
                            continue;
                        }
                        Selector::Item(item)
                            if is_internal_id(item) || item.bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            source.not_imported.push(not(format!(
                                "`set {item}` names the entry by its position or internal id, which another router does not share"
                            )));
                            continue;
                        }
                        Selector::Item(item) => {
                            props.insert("name", item.as_str());
                        }
                    }
                    for (k, v) in command.props.iter() {
                        props.insert(k, v);
                    }
                    source.menu_mut(&menu.path).entries.push(Entry {
                        kind: EntryKind::Existing,
                        props,
                        line: command.line,
                        flags: command.flags.clone(),
                    });
                }
                (verb, _) => {
                    source.not_imported.push(not(format!(
                        "`{verb}` is an action on entries, not an entry a site can hold{}",
                        if verb == Verb::Remove {
                            " (it removes a built-in entry; remove it by hand, or keep it)"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menus_of_the_other_major_version_are_refused_with_their_line() {
        let text = "# 2024-01-01 10:00:00 by RouterOS 7.18\n/ip dns\nset servers=1.1.1.1\n/routing bgp peer\nadd name=x\n";
        let config = rackpipe_routeros::export::parse_named("r.rsc", text).unwrap();
        let err = source("r.rsc", &config).unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.rsc:5: /routing/bgp/peer is a RouterOS 6 menu, but the export was written by RouterOS 7.18"
        );
        let text = "# RouterOS 6.48.3\n/interface wireguard\nadd name=wg0\n";
        let config = rackpipe_routeros::export::parse_named("r.rsc", text).unwrap();
        assert!(
            source("r.rsc", &config)
                .unwrap_err()
                .to_string()
                .contains("RouterOS 7 menu")
        );
    }
}
