//! `router.menus`: generic menus are not ones the typed fields manage, appear once each,
//! their entries do not repeat a natural key ([`crate::router::menu_key`]), and a property
//! RouterOS treats as a secret ([`crate::router::is_secret_property`]) is a secret reference,
//! never plain text in the site.

use super::{Checker, unique};
use crate::router::{
    Menu, MenuKey, MenuProperties, MenuValue, TYPED_MENUS, is_secret_property, menu_key,
    menu_key_default,
};

/// The text of `key` in an entry (a secret counts as its reference), or the key's default.
fn text_of<'a>(menu: &Menu, props: &'a crate::router::MenuProperties, key: &str) -> &'a str {
    match props.get(key) {
        Some(MenuValue::Text(text)) => text,
        Some(MenuValue::Secret(reference)) => reference.as_str(),
        None => menu_key_default(&menu.path, key),
    }
}

/// The natural key of entry `props` of `menu`, as one string (`None`: the entry has no key
/// that must be unique, an ordered rule without a comment).
fn key_of(menu: &Menu, named: bool, props: &crate::router::MenuProperties) -> Option<String> {
    let keyed = |keys: &[&str]| {
        keys.iter()
            .map(|k| format!("{k}={}", text_of(menu, props, k)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match menu_key(&menu.path) {
        MenuKey::Keyed(keys) => Some(keyed(keys)),
        MenuKey::Whole if named => Some(keyed(&["name"])),
        MenuKey::Ordered => {
            let comment = text_of(menu, props, "comment");
            (!comment.is_empty()).then(|| format!("comment={comment}"))
        }
        MenuKey::Whole => Some(
            props
                .keys()
                .filter(|k| *k != "comment" && *k != "disabled")
                .map(|k| format!("{k}={}", text_of(menu, props, k)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

impl Checker<'_> {
    /// A secret property given as plain text (an empty value, which clears it, is allowed).
    fn plain_secrets(&mut self, at: &str, props: &MenuProperties) {
        for (key, value) in props {
            if let MenuValue::Text(text) = value
                && !text.is_empty()
                && is_secret_property(key)
            {
                self.err(
                    "plain-secret",
                    format!("{at}.{key}"),
                    format!(
                        "{key} is a secret RouterOS keeps: give it as {{secret: REFERENCE}} (env:, file: or vault:), never as text in the site"
                    ),
                );
            }
        }
    }

    pub(super) fn router_menus(&mut self) {
        let Some(r) = &self.site.router else { return };
        unique(
            self.out,
            "generic menu",
            r.menus
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("router.menus[{i}].path"), m.path.as_str())),
        );
        for (i, menu) in r.menus.iter().enumerate() {
            if TYPED_MENUS.contains(&menu.path.as_str()) {
                self.err(
                    "typed-menu",
                    format!("router.menus[{i}].path"),
                    format!(
                        "{} is managed by the router's typed fields; describe it there, not as a generic menu",
                        menu.path
                    ),
                );
            }
            self.plain_secrets(&format!("router.menus[{i}].settings"), &menu.settings);
            for (j, entry) in menu.entries.iter().enumerate() {
                self.plain_secrets(
                    &format!("router.menus[{i}].entries[{j}]"),
                    &entry.properties,
                );
            }
            let named = !menu.entries.is_empty()
                && menu
                    .entries
                    .iter()
                    .all(|e| e.properties.contains_key("name"));
            let keys: Vec<(String, String)> = menu
                .entries
                .iter()
                .enumerate()
                .filter_map(|(j, e)| {
                    key_of(menu, named, &e.properties)
                        .map(|k| (format!("router.menus[{i}].entries[{j}]"), k))
                })
                .collect();
            unique(
                self.out,
                &format!("{} entry", menu.path),
                keys.iter().map(|(p, k)| (p.clone(), k.as_str())),
            );
        }
    }
}
