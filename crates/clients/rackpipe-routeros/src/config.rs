//! The RouterOS configuration as data.
//!
//! A [`Config`] is what `/export` prints: an ordered list of [`Menu`]s (a menu path such as
//! `/interface/bridge/port` with its [`Command`]s, in file order). Every command has a
//! [`Verb`] (`add`, `set`, `remove`, ...), an optional [`Selector`] (`[ find
//! default-name=ether1 ]`, `ftp`, `*1A`, `0`) and its properties as [`Props`]: an ordered
//! map of property name → string value, the way the RouterOS REST API returns them.
//!
//! Conventions shared with the REST API:
//! - every value is a string (`"1500"`, `"yes"`, `"established,related"`);
//! - a property *unset* with `!name` in an export (`!keepalive`) is stored under the key
//!   `!name` with an empty value, which is also how REST clients unset a property
//!   (`"!comment": ""`);
//! - wifi's leading-dot shorthand (`configuration.mode=ap .ssid=x`) is expanded to full
//!   names (`configuration.ssid`).
//!
//! All types serialise to JSON (`Props` as a JSON object in order), so other tools can read
//! them. `Debug` output of [`Props`] redacts secret-looking properties (passwords, keys).

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole configuration, as printed by `/export`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// What the export's header comments said about the device.
    #[serde(default)]
    pub header: Header,
    /// Menus in file order. Consecutive blocks of the same menu are merged by the parser;
    /// the same menu can still appear again later (exports print menus in dependency order).
    #[serde(default)]
    pub menus: Vec<Menu>,
}

/// Facts from the export's `#` header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `7.18` from `# 2024-01-01 10:00:00 by RouterOS 7.18` (or `# RouterOS 6.48.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routeros_version: Option<String>,
    /// `CCR2004-1G-12S+2XS` from `# model = CCR2004-1G-12S+2XS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// One menu block: a path and its commands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Menu {
    /// Slash-separated menu path, always in v7 form: `/interface/bridge/port`.
    pub path: String,
    /// The commands, in order.
    #[serde(default)]
    pub commands: Vec<Command>,
}

/// The console command of one export line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verb {
    /// `add`: create an entry.
    Add,
    /// `set`: change an entry (with a selector) or a singleton menu (without).
    Set,
    /// `remove`: delete entries.
    Remove,
    /// `unset`: reset properties.
    Unset,
    /// `enable`.
    Enable,
    /// `disable`.
    Disable,
    /// `move`.
    Move,
}

impl Verb {
    /// All verbs, in declaration order.
    pub const ALL: [Verb; 7] = [
        Verb::Add,
        Verb::Set,
        Verb::Remove,
        Verb::Unset,
        Verb::Enable,
        Verb::Disable,
        Verb::Move,
    ];

    /// The console spelling (`add`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Add => "add",
            Verb::Set => "set",
            Verb::Remove => "remove",
            Verb::Unset => "unset",
            Verb::Enable => "enable",
            Verb::Disable => "disable",
            Verb::Move => "move",
        }
    }

    /// Parses the console spelling.
    #[must_use]
    pub fn from_word(word: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == word)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which entries a `set`/`remove`/... command applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// `[ find default-name=ether1 ]`: the entries whose properties equal all of these
    /// (empty = every entry).
    Find(Props),
    /// A single item named by the console: a name (`ftp`, `default`), an internal id
    /// (`*FFFFFFFE`) or a print index (`0`).
    Item(String),
}

impl Selector {
    /// `[ find k=v ]` with one condition.
    #[must_use]
    pub fn find(key: &str, value: &str) -> Selector {
        let mut props = Props::new();
        props.insert(key, value);
        Selector::Find(props)
    }

    /// Whether the item is an internal id such as `*1A`.
    #[must_use]
    pub fn is_id(&self) -> bool {
        matches!(self, Selector::Item(item) if is_internal_id(item))
    }
}

/// Whether `s` looks like a RouterOS internal id: `*` followed by 1–8 hex digits.
#[must_use]
pub fn is_internal_id(s: &str) -> bool {
    s.strip_prefix('*').is_some_and(|hex| {
        !hex.is_empty() && hex.len() <= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// One command line.
#[derive(Clone, Serialize, Deserialize)]
pub struct Command {
    /// The verb.
    pub verb: Verb,
    /// The selector (`None` for `add`, and for `set` on a singleton menu like `/ip dns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// The properties, in order.
    #[serde(default)]
    pub props: Props,
    /// Bare flag arguments without a value, in order (`blackhole` in `/ip route add
    /// blackhole dst-address=...`). Printed before the properties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// 1-based line of the command in the parsed text (0 when built in code). Not part of
    /// equality and not serialised.
    #[serde(skip)]
    pub line: u32,
}

impl Command {
    /// `add` with these properties.
    #[must_use]
    pub fn add(props: Props) -> Command {
        Command {
            verb: Verb::Add,
            selector: None,
            props,
            flags: Vec::new(),
            line: 0,
        }
    }

    /// `set` with an optional selector.
    #[must_use]
    pub fn set(selector: Option<Selector>, props: Props) -> Command {
        Command {
            verb: Verb::Set,
            selector,
            props,
            flags: Vec::new(),
            line: 0,
        }
    }
}

impl PartialEq for Command {
    fn eq(&self, other: &Self) -> bool {
        self.verb == other.verb
            && self.selector == other.selector
            && self.props == other.props
            && self.flags == other.flags
    }
}

impl Eq for Command {}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("verb", &self.verb)
            .field("selector", &self.selector)
            .field("props", &self.props)
            .field("flags", &self.flags)
            .field("line", &self.line)
            .finish()
    }
}

/// Properties of one entry: an ordered map of name → string value.
///
/// Inserting an existing name replaces the value in place. Serialises as a JSON object in
/// order. `Debug` redacts values of secret properties (see [`is_secret_property`]).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Props(Vec<(String, String)>);

impl Props {
    /// An empty map.
    #[must_use]
    pub fn new() -> Props {
        Props(Vec::new())
    }

    /// Builds from pairs (later duplicates replace earlier ones).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Props {
        let mut props = Props::new();
        for (k, v) in pairs {
            props.insert(k, v);
        }
        props
    }

    /// The value of `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// Sets `name` (in place if present, else appended). Returns the previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let name = name.into();
        let value = value.into();
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == name) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.0.push((name, value));
        None
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let index = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(index).1)
    }

    /// Pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Property names in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Number of properties.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no properties.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every pair of `subset` is present here with the same value.
    #[must_use]
    pub fn matches(&self, subset: &Props) -> bool {
        subset.iter().all(|(k, v)| self.get(k) == Some(v))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Props {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Props::from_pairs(iter)
    }
}

impl IntoIterator for Props {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Whether a property holds a secret (password, pre-shared or private key) that must not be
/// logged. Matching is on the name (the last dotted part): `password`, `secret`, `passphrase`,
/// `psk`, `pin` (an LTE SIM's), `key` and every `*-key` but `public-key` (`private-key`,
/// `wpa2-pre-shared-key`, `tcp-md5-key` of BGP, `auth-key` of OSPF, the v6 wireless security
/// profile's `static-key-0`..`3`, `static-sta-private-key`, `management-protection-key`).
#[must_use]
pub fn is_secret_property(name: &str) -> bool {
    let name = name.trim_start_matches('!');
    let last = name.rsplit('.').next().unwrap_or(name);
    let static_key = last
        .strip_prefix("static-key-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    last.contains("password")
        || last.contains("secret")
        || last.contains("passphrase")
        || (last.ends_with("-key") && !last.ends_with("public-key"))
        || static_key
        || last == "psk"
        || last == "pin"
        || last == "key"
}

impl fmt::Debug for Props {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.0 {
            if is_secret_property(k) && !v.is_empty() {
                map.entry(k, &"<redacted>");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

impl Serialize for Props {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Props {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PropsVisitor;
        impl<'de> Visitor<'de> for PropsVisitor {
            type Value = Props;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of property name to string value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Props, A::Error> {
                let mut props = Props::new();
                while let Some((k, v)) = access.next_entry::<String, String>()? {
                    props.insert(k, v);
                }
                Ok(props)
            }
        }
        deserializer.deserialize_map(PropsVisitor)
    }
}

impl Config {
    /// The commands of every block of `path` (v7 or v6 spelling), in file order.
    pub fn commands<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a Command> + 'a {
        let path = normalize_path(path);
        self.menus
            .iter()
            .filter(move |m| m.path == path)
            .flat_map(|m| m.commands.iter())
    }

    /// Distinct menu paths in order of first appearance.
    #[must_use]
    pub fn paths(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for menu in &self.menus {
            if !seen.contains(&menu.path.as_str()) {
                seen.push(&menu.path);
            }
        }
        seen
    }

    /// Appends `command` to `path`, extending the last block when it has that path.
    pub fn push(&mut self, path: &str, command: Command) {
        let path = normalize_path(path);
        match self.menus.last_mut() {
            Some(last) if last.path == path => last.commands.push(command),
            _ => self.menus.push(Menu {
                path,
                commands: vec![command],
            }),
        }
    }

    /// Number of commands in all menus.
    #[must_use]
    pub fn command_count(&self) -> usize {
        self.menus.iter().map(|m| m.commands.len()).sum()
    }

    /// The first command whose menu is not in `known` (v7 paths), with its line, or `None`.
    /// Callers that only understand some menus use this to report `export:12:1: unknown
    /// menu /caps-man/channel` (see [`crate::export::ParseError::unknown_menu`]).
    #[must_use]
    pub fn first_unknown_menu(&self, known: &[&str]) -> Option<(&str, u32)> {
        self.menus
            .iter()
            .find(|m| !known.contains(&m.path.as_str()))
            .map(|m| (m.path.as_str(), m.commands.first().map_or(0, |c| c.line)))
    }
}

/// Normalises a menu path to v7 form: `/interface bridge port`, `interface/bridge/port` and
/// `/interface/bridge/port` all give `/interface/bridge/port`; the root is `/`.
#[must_use]
pub fn normalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    for segment in path
        .split(|c: char| c == '/' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_keep_order_and_replace_in_place() {
        let mut p = Props::from_pairs([("b", "1"), ("a", "2")]);
        assert_eq!(p.insert("b", "3"), Some("1".to_owned()));
        assert_eq!(p.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"b":"3","a":"2"}"#);
        let back: Props = serde_json::from_str(r#"{"z":"1","a":"2"}"#).unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), ["z", "a"]);
    }

    #[test]
    fn debug_redacts_secrets() {
        let p = Props::from_pairs([
            ("name", "vpn"),
            ("password", "hunter2"),
            ("private-key", "abc="),
        ]);
        let shown = format!("{p:?}");
        assert!(shown.contains("vpn"));
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("abc="));
    }

    #[test]
    fn secret_properties_by_name() {
        for name in [
            "password",
            "mschapv2-password",
            "ipsec-secret",
            "security.passphrase",
            "wpa2-pre-shared-key",
            "private-key",
            "preshared-key",
            "tcp-md5-key",
            "auth-key",
            "authentication-key",
            "static-key-0",
            "static-key-3",
            "static-sta-private-key",
            "management-protection-key",
            "!password",
            "psk",
            "pin",
            "key",
        ] {
            assert!(is_secret_property(name), "{name}");
        }
        for name in [
            "public-key",
            "name",
            "static-algo-0",
            "key-size",
            "group-key-update",
            "host-key-size",
            "static-key-",
        ] {
            assert!(!is_secret_property(name), "{name}");
        }
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(
            normalize_path("/interface bridge port"),
            "/interface/bridge/port"
        );
        assert_eq!(normalize_path("interface/bridge"), "/interface/bridge");
        assert_eq!(normalize_path("/"), "/");
    }

    #[test]
    fn internal_ids() {
        assert!(is_internal_id("*1A"));
        assert!(is_internal_id("*FFFFFFFE"));
        assert!(!is_internal_id("*"));
        assert!(!is_internal_id("ether1"));
    }

    #[test]
    fn command_equality_ignores_line() {
        let mut a = Command::add(Props::from_pairs([("name", "x")]));
        let b = a.clone();
        a.line = 7;
        assert_eq!(a, b);
    }
}
