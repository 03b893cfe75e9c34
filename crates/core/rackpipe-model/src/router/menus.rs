//! Generic RouterOS menus: what the typed router fields do not model, kept as the menu's path,
//! its `set` properties and its `add` entries in order, so that a router's whole configuration
//! can live in the site (issue 18) and `ros-render` plans and applies it like any other menu.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::SecretRef;

/// The JSON Schema pattern of [`Menu::path`]: the menu as `/export` prints it in v7 form,
/// lowercase words joined by `/` (`/ip/route`, `/interface/wireguard/peers`).
pub const MENU_PATH_PATTERN: &str = "^/[a-z0-9-]+(/[a-z0-9-]+)*$";

/// The JSON Schema pattern of a generic menu's property name: RouterOS's rule for a parameter
/// name (`rackpipe_routeros::export::is_property_name` without the `!` of an unset): printable
/// ASCII other than whitespace, `=`, `( ) [ ] { } : ; $`, `"`, `\`, `?`, `#` and `!`.
pub const MENU_PROPERTY_PATTERN: &str = "^[A-Za-z0-9%&'*+,./<>@^_`|~-]+$";

/// The properties of a `set` or an `add`, in the order the site (or the export) gives them.
pub type MenuProperties = IndexMap<String, MenuValue>;

/// Whether `path` is a menu path as [`MENU_PATH_PATTERN`] describes it.
#[must_use]
pub fn is_menu_path(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    })
}

/// Whether `name` is a generic menu property name as [`MENU_PROPERTY_PATTERN`] describes it.
#[must_use]
pub fn is_menu_property(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"=()[]{}:;$\"\\?#!".contains(&b))
}

/// The menus the typed router fields write, in the order a fresh router needs them (what
/// `ros-render` plans from them, creates following this order and deletes going in reverse:
/// its `MENU_ORDER`): a generic menu cannot be one of them. A menu that gains typed fields
/// joins this list.
pub const TYPED_MENUS: &[&str] = &[
    "/interface/ethernet",
    "/interface/bonding",
    "/interface/bridge",
    "/interface/vlan",
    "/interface/wireguard",
    "/interface/wireguard/peers",
    "/interface/vrrp",
    "/interface/bridge/port",
    "/interface/bridge/vlan",
    "/interface/list",
    "/interface/list/member",
    "/ip/neighbor/discovery-settings",
    "/ip/address",
    "/ipv6/address",
    "/ip/dhcp-client",
    "/ip/pool",
    "/ip/dhcp-server",
    "/ip/dhcp-server/network",
    "/ip/dhcp-server/lease",
    "/ip/route",
    "/ipv6/route",
    "/ip/dns",
    "/ip/dns/static",
    "/ip/firewall/address-list",
    "/ip/firewall/filter",
    "/ip/firewall/nat",
    "/ip/firewall/mangle",
    "/ip/firewall/raw",
    "/ip/service",
    "/system/identity",
    "/system/clock",
    "/system/ntp/client",
    "/system/ntp/client/servers",
    "/system/ntp/server",
    "/system/logging/action",
    "/system/logging",
    "/system/script",
    "/system/scheduler",
];

/// How the entries of a generic menu are told apart (its natural key): what `ros-render`
/// matches them with the router's by, and what must not repeat within the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuKey {
    /// These properties (a property an entry does not give counts as its default,
    /// [`menu_key_default`]).
    Keyed(&'static [&'static str]),
    /// An ordered list (firewall-like): the comment when the entry has one, else every
    /// property it gives; the order is part of the configuration.
    Ordered,
    /// `name` when every entry has one, else every property an entry gives (other than
    /// `comment` and `disabled`).
    Whole,
}

/// The natural key of the generic menu `path`.
#[must_use]
pub fn menu_key(path: &str) -> MenuKey {
    match path {
        "/ip/route" | "/ipv6/route" => MenuKey::Keyed(&["dst-address", "gateway", "routing-table"]),
        "/interface/list/member" => MenuKey::Keyed(&["list", "interface"]),
        "/ipv6/address" => MenuKey::Keyed(&["address", "interface"]),
        "/ipv6/firewall/address-list" => MenuKey::Keyed(&["list", "address"]),
        "/interface/wireguard/peers" => MenuKey::Keyed(&["interface", "public-key"]),
        "/ip/dhcp-client" | "/ipv6/dhcp-client" | "/ipv6/nd" | "/ip/neighbor/discovery" => {
            MenuKey::Keyed(&["interface"])
        }
        "/system/ntp/client/servers" => MenuKey::Keyed(&["address"]),
        "/tool/netwatch" => MenuKey::Keyed(&["host"]),
        "/ip/firewall/mangle"
        | "/ip/firewall/raw"
        | "/ipv6/firewall/filter"
        | "/ipv6/firewall/mangle"
        | "/ipv6/firewall/raw"
        | "/ipv6/firewall/nat"
        | "/routing/filter/rule"
        | "/ip/ipsec/policy" => MenuKey::Ordered,
        _ => MenuKey::Whole,
    }
}

/// The value RouterOS shows for the key property `key` of `path` when an entry does not
/// give it (`/ip/route`'s `dst-address` is `0.0.0.0/0`, `routing-table` is `main`).
#[must_use]
pub fn menu_key_default(path: &str, key: &str) -> &'static str {
    match (path, key) {
        ("/ip/route", "dst-address") => "0.0.0.0/0",
        ("/ipv6/route", "dst-address") => "::/0",
        (_, "routing-table") => "main",
        _ => "",
    }
}

/// One RouterOS menu the typed router fields do not manage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    /// The menu as `/export` prints it, with slashes: `/ip/route`,
    /// `/ip/neighbor/discovery-settings`.
    #[schemars(regex(pattern = MENU_PATH_PATTERN))]
    pub path: String,
    /// The menu's own `set` (without `[ find ]`), e.g. of `/ip/neighbor/discovery-settings`:
    /// only these properties are compared and set, the others are left as the router has them.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(schema_with = "properties_schema")]
    pub settings: MenuProperties,
    /// The menu's `add` entries, in export order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<MenuEntry>,
}

/// One `add` entry of a generic menu: its properties, `comment` and `disabled` among them.
/// Written as a plain mapping (`- {dst-address: 0.0.0.0/0, gateway: 192.0.2.1}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct MenuEntry {
    /// The entry's properties, in order.
    #[schemars(schema_with = "entry_schema")]
    pub properties: MenuProperties,
}

/// A generic property's value: text as RouterOS prints it, or a reference to a secret (a
/// WireGuard private key, a PPP password) resolved when the plan is applied and never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuValue {
    /// The value as RouterOS prints it (`yes`, `1d`, `192.0.2.0/24`).
    Text(String),
    /// A secret, written `{secret: "env:WG_KEY"}` in the site.
    Secret(SecretRef),
}

impl MenuValue {
    /// The text, or `None` for a secret.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Secret(_) => None,
        }
    }
}

impl From<&str> for MenuValue {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for MenuValue {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<SecretRef> for MenuValue {
    fn from(secret: SecretRef) -> Self {
        Self::Secret(secret)
    }
}

impl Serialize for MenuValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Text(text) => serializer.serialize_str(text),
            Self::Secret(secret) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("secret", secret.as_str())?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for MenuValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = MenuValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a RouterOS value (text or a number) or {secret: REFERENCE}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MenuValue, E> {
                Ok(MenuValue::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MenuValue, E> {
                Ok(MenuValue::Text(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MenuValue, E> {
                Ok(MenuValue::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MenuValue, E> {
                Ok(MenuValue::Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<MenuValue, E> {
                // RouterOS prints booleans as yes/no; a site's `true` means the same.
                Ok(MenuValue::Text(if v { "yes" } else { "no" }.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MenuValue, A::Error> {
                let mut secret: Option<SecretRef> = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "secret" {
                        return Err(de::Error::unknown_field(&key, &["secret"]));
                    }
                    if secret.is_some() {
                        return Err(de::Error::duplicate_field("secret"));
                    }
                    secret = Some(map.next_value()?);
                }
                secret
                    .map(MenuValue::Secret)
                    .ok_or_else(|| de::Error::missing_field("secret"))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl JsonSchema for MenuValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MenuValue".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A RouterOS value as the router prints it (text; a number or a boolean is read as its text, true as yes), or a secret reference {secret: REFERENCE}, never shown.",
            "anyOf": [
                { "type": ["string", "integer", "boolean"] },
                {
                    "type": "object",
                    "properties": { "secret": generator.subschema_for::<SecretRef>() },
                    "required": ["secret"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A property map: every key a RouterOS property name, every value a [`MenuValue`].
fn properties_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "pattern": MENU_PROPERTY_PATTERN },
        "additionalProperties": generator.subschema_for::<MenuValue>(),
    })
}

/// An entry: a non-empty property map.
fn entry_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = properties_schema(generator);
    schema.insert("minProperties".into(), 1.into());
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_plain_mappings_in_order_and_secrets_are_tagged() {
        let yaml = r#"{"path":"/interface/wireguard","entries":[{"name":"wg0","listen-port":13231,"private-key":{"secret":"env:WG_KEY"},"disabled":true}]}"#;
        let menu: Menu = serde_json::from_str(yaml).unwrap();
        let entry = &menu.entries[0].properties;
        let keys: Vec<&str> = entry.keys().map(String::as_str).collect();
        assert_eq!(keys, ["name", "listen-port", "private-key", "disabled"]);
        assert_eq!(entry["listen-port"], MenuValue::from("13231"));
        assert_eq!(entry["disabled"], MenuValue::from("yes"));
        assert_eq!(
            entry["private-key"],
            MenuValue::Secret("env:WG_KEY".parse().unwrap())
        );
        let back = serde_json::to_string(&menu).unwrap();
        assert_eq!(
            back,
            r#"{"path":"/interface/wireguard","entries":[{"name":"wg0","listen-port":"13231","private-key":{"secret":"env:WG_KEY"},"disabled":"yes"}]}"#
        );
    }

    #[test]
    fn a_secret_is_a_reference_and_nothing_else() {
        for bad in [
            r#"{"secret":"hunter2"}"#,
            r#"{"secret":"env:X","other":"y"}"#,
            r"{}",
            r"[1]",
        ] {
            assert!(serde_json::from_str::<MenuValue>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_and_property_names() {
        for ok in [
            "/ip/route",
            "/ip/neighbor/discovery-settings",
            "/ipv6/firewall/raw",
        ] {
            assert!(is_menu_path(ok), "{ok}");
        }
        for bad in [
            "",
            "/",
            "ip/route",
            "/ip//route",
            "/ip/route/",
            "/IP",
            "/ip route",
        ] {
            assert!(!is_menu_path(bad), "{bad}");
        }
        for ok in [
            "dst-address",
            "basic-rates-a/g",
            "configuration.ssid",
            "a_b",
        ] {
            assert!(is_menu_property(ok), "{ok}");
        }
        for bad in ["", "!keepalive", "a=b", "a b", "a:b", "ä"] {
            assert!(!is_menu_property(bad), "{bad}");
        }
    }
}
