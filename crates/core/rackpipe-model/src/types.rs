//! Typed scalars of the site model: networks, interface addresses, MAC addresses, durations,
//! sizes, hostnames and names. Each parses from (and prints as) the string users write, and
//! describes itself in the JSON Schema with a pattern so editors catch typos early.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Implements `Serialize`/`Deserialize` through `Display`/`FromStr` and a string JSON Schema
/// with the given pattern and description.
macro_rules! string_newtype {
    ($ty:ident, $pattern:expr, $desc:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "pattern": $pattern, "description": $desc })
            }
        }
    };
}

mod addressing;
mod quantity;

pub use addressing::{AddressRange, InterfaceAddress, MacAddress, Network};
pub use quantity::{Duration, Size};

/// A DNS host name or fully qualified domain name (RFC 1123 labels).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(String);

impl Hostname {
    /// The name as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Hostname {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if s.len() > 253 || !s.split('.').all(valid_label) {
            return Err(format!("{s:?} is not a valid host name"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The JSON Schema pattern of [`Hostname`] (without the 253-byte limit).
pub const HOSTNAME_PATTERN: &str = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$";

string_newtype!(Hostname, HOSTNAME_PATTERN, "A DNS host name or FQDN.");

/// A reference to a secret held outside the site document: `env:NAME`, `file:/path` or
/// `vault:mount/path#key`. The site never holds secret values themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRef(String);

impl SecretRef {
    /// The reference as written (safe to print: it names the secret, it is not the secret).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SecretRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s.strip_prefix("env:").is_some_and(|n| !n.is_empty())
            || s.strip_prefix("file:").is_some_and(|n| !n.is_empty())
            || s.strip_prefix("vault:")
                .and_then(|n| n.split_once('#'))
                .is_some_and(|(path, key)| !path.is_empty() && !key.is_empty());
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            // A reference is written into comments of rendered configs (Vault's HCL names
            // the Consul token's reference): a newline there would start a directive.
            Err(format!(
                "{s:?} contains the control character {c:?}; a secret reference is one line of text"
            ))
        } else if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a secret reference (env:NAME, file:PATH or vault:MOUNT/PATH#KEY)"
            ))
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_newtype!(
    SecretRef,
    "^(env:[^\\x00-\\x1F\\x7F-\\x9F]+|file:[^\\x00-\\x1F\\x7F-\\x9F]+|vault:[^\\x00-\\x1F\\x7F-\\x9F]+#[^\\x00-\\x1F\\x7F-\\x9F]+)$",
    "Where a secret is read from: env:NAME, file:PATH or vault:MOUNT/PATH#KEY. Never the secret itself."
);

/// Pattern of `Name` (kept next to the type so the schema and the parser agree).
const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";

/// An object name used for references inside the site (interfaces, guests, pools, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// The name as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if first_ok && rest_ok && s.len() <= 63 {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a name (letters, digits, '.', '_', '-'; at most 63)"
            ))
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

string_newtype!(
    Name,
    NAME_PATTERN,
    "A name: letters, digits, '.', '_' and '-', at most 63 characters."
);

/// Implements the common parts of a checked string newtype: `as_str`, `Display`, `Deref` to
/// `str`, `Debug` as the string, and comparisons with `str`.
macro_rules! checked_string {
    ($ty:ident) => {
        impl $ty {
            /// The text as written.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
        impl std::ops::Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// The one rule for a file path that the tools write into a daemon configuration, a script,
/// an fstab line or a command line (certificate and CA files, NFS export paths, mount
/// points): absolute, at most 4096 bytes, and only letters, digits and `/ . _ - + @ ~`; no
/// empty (`//`, a trailing `/`), `.` or `..` component, so it names one file, the same one
/// everywhere.
/// Everything else is refused: white space (splits a directive or an fstab field), quotes
/// and `\` (end or escape a quoted value), `#`, `;` and `!` (start a comment or a statement),
/// `{ }` (open or close a block), `$` and `` ` `` (shell expansion), `%`, `,`, `:` and `=`
/// (option and format syntax), control and non-ASCII characters. A path always starts with
/// `/`, so it never reads as a command-line option.
///
/// # Errors
/// One line saying what is wrong with `s`.
pub fn check_file_path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!("{s:?} is not an absolute path"));
    }
    if s.len() > 4096 {
        return Err(format!("{s:?} is longer than 4096 bytes"));
    }
    if let Some(c) = s.chars().find(|&c| !is_path_char(c)) {
        return Err(format!(
            "{s:?} contains {c:?}; a path may hold only letters, digits and / . _ - + @ ~"
        ));
    }
    for component in s[1..].split('/') {
        match component {
            "" => {
                return Err(format!(
                    "{s:?} has an empty component ('//' or a trailing '/')"
                ));
            }
            "." | ".." => return Err(format!("{s:?} has a '{component}' component")),
            _ => {}
        }
    }
    Ok(())
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@' | '~')
}

/// The JSON Schema pattern of [`check_file_path`] (without the length limit): components
/// of the allowed characters, none empty, `.` or `..`.
pub const FILE_PATH_PATTERN: &str =
    "^(/(\\.{0,2}[A-Za-z0-9_+@~-][A-Za-z0-9._+@~-]*|\\.{3,}[A-Za-z0-9._+@~-]*))+$";

/// An absolute file path safe to write into a configuration, script or command line; see
/// [`check_file_path`] for the rule.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilePath(String);

impl FromStr for FilePath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        check_file_path(s).map(|()| Self(s.to_owned()))
    }
}

checked_string!(FilePath);
string_newtype!(
    FilePath,
    FILE_PATH_PATTERN,
    "An absolute path: letters, digits and / . _ - + @ ~ only (no spaces, quotes, braces, comment or shell characters)."
);

/// A Linux network interface name as keepalived's `interface` and `dev` take it: 1 to 15
/// bytes (the kernel's `IFNAMSIZ` is 16 with the NUL; `dev_valid_name` in
/// `net/core/dev.c` also refuses `/`, `:`, white space, `.` and `..`), here letters, digits,
/// `_`, `.` and `-`, starting with a letter, digit or `_` (never `-`, so it never reads as an
/// option).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceName(String);

impl FromStr for InterfaceName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if first_ok && rest_ok && s.len() <= 15 {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not an interface name (1 to 15 letters, digits, '_', '.', '-'; not starting with '.' or '-')"
            ))
        }
    }
}

checked_string!(InterfaceName);
string_newtype!(
    InterfaceName,
    "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$",
    "A network interface name (Linux: at most 15 characters), e.g. eth0, ens18, bond0.30."
);

/// The path of an HTTP URL as HAProxy's `stats uri` and a shell-quoted `curl` URL take it:
/// starts with `/`, at most 256 bytes, RFC 3986 unreserved characters (letters, digits,
/// `- . _ ~`) and `/` only: no white space, quotes, `#`, `;`, `%`, `?` or control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UrlPath(String);

impl FromStr for UrlPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s.starts_with('/')
            && s.len() <= 256
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '.' | '_' | '~'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a URL path (starts with '/'; letters, digits and / - . _ ~ only)"
            ))
        }
    }
}

checked_string!(UrlPath);
string_newtype!(
    UrlPath,
    "^/[A-Za-z0-9/._~-]{0,255}$",
    "A URL path, e.g. /stats: '/' then letters, digits and / - . _ ~ only."
);

/// A RouterOS property name as a command line takes it before `=` (`out-interface`,
/// `connection-state`, `dst-port`, `to-addresses`): a lowercase letter, then at most 63
/// lowercase letters, digits and `-`. The script printer writes the key unquoted (RouterOS has
/// no quoting for a parameter name), so a space, `=`, `;`, `"`, `[`, `$` or a newline in it
/// would add or change arguments or start another command.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RosPropertyName(String);

impl FromStr for RosPropertyName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 64
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a RouterOS property name (a lowercase letter, then at most 63 lowercase letters, digits and '-')"
            ))
        }
    }
}

checked_string!(RosPropertyName);
string_newtype!(
    RosPropertyName,
    "^[a-z][a-z0-9-]{0,63}$",
    "A RouterOS property name, e.g. out-interface: a lowercase letter, then lowercase letters, digits and '-'."
);

/// Kubernetes' name part of a qualified name and a label value: at most 63 characters,
/// `[A-Za-z0-9]` at both ends, `[-A-Za-z0-9_.]` between.
fn is_k8s_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A lowercase RFC 1123 DNS subdomain of at most 253 characters (a label key's prefix).
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Whether `s` is a Kubernetes qualified name: `[prefix/]name`.
fn is_qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_k8s_name(name),
        None => is_k8s_name(s),
    }
}

const K8S_NAME_PATTERN: &str = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?";
const DNS_SUBDOMAIN_PATTERN: &str =
    "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*";

/// A Kubernetes label key: an optional prefix (a lowercase DNS subdomain, at most 253
/// characters) and `/`, then a name of at most 63 characters, alphanumeric at both ends with
/// `-`, `_` and `.` between — the "Syntax and character set" of
/// <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/> (the API
/// server's `IsQualifiedName`). Taint keys follow the same rule.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelKey(String);

impl FromStr for LabelKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if is_qualified_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a Kubernetes label key ([prefix/]name: a lowercase DNS prefix, then at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends)"
            ))
        }
    }
}

checked_string!(LabelKey);

impl Serialize for LabelKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for LabelKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
impl JsonSchema for LabelKey {
    fn schema_name() -> Cow<'static, str> {
        "LabelKey".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": 317,
            "pattern": format!("^({DNS_SUBDOMAIN_PATTERN}/)?{K8S_NAME_PATTERN}$"),
            "description": "A Kubernetes label key: [prefix/]name (a lowercase DNS subdomain, then at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends)."
        })
    }
}

/// A Kubernetes label value: empty, or at most 63 characters, alphanumeric at both ends with
/// `-`, `_` and `.` between (<https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/>,
/// "Syntax and character set"; the API server's `IsValidLabelValue`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelValue(String);

impl FromStr for LabelValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() || is_k8s_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a Kubernetes label value (at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends)"
            ))
        }
    }
}

checked_string!(LabelValue);

impl Serialize for LabelValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
impl JsonSchema for LabelValue {
    fn schema_name() -> Cow<'static, str> {
        "LabelValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": format!("^({K8S_NAME_PATTERN})?$"),
            "description": "A Kubernetes label value: empty, or at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends."
        })
    }
}

/// A node taint written as `kubectl taint` takes it, `key[=value]:Effect`: the key a
/// qualified name (as a [`LabelKey`]), the value a [`LabelValue`], the effect `NoSchedule`,
/// `PreferNoSchedule` or `NoExecute`
/// (<https://kubernetes.io/docs/reference/kubectl/generated/kubectl_taint/>; the API server
/// validates a taint's key with `IsQualifiedName` and its value with `IsValidLabelValue`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Taint(String);

/// The effects a taint may have.
pub const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

impl Taint {
    fn parts(&self) -> (&str, Option<&str>, &str) {
        let (kv, effect) = self.0.rsplit_once(':').unwrap_or((&self.0, ""));
        let (key, value) = kv.split_once('=').map_or((kv, None), |(k, v)| (k, Some(v)));
        (key, value, effect)
    }

    /// The taint's key.
    #[must_use]
    pub fn key(&self) -> &str {
        self.parts().0
    }

    /// The taint's value, when it has one.
    #[must_use]
    pub fn value(&self) -> Option<&str> {
        self.parts().1
    }

    /// The effect: `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[must_use]
    pub fn effect(&self) -> &str {
        self.parts().2
    }
}

impl FromStr for Taint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let taint = Self(s.to_owned());
        let (key, value, effect) = taint.parts();
        let ok = is_qualified_name(key)
            && value.is_none_or(|v| v.is_empty() || is_k8s_name(v))
            && TAINT_EFFECTS.contains(&effect);
        if ok {
            Ok(taint)
        } else {
            Err(format!(
                "{s:?} is not a taint key[=value]:NoSchedule|PreferNoSchedule|NoExecute (key and value as Kubernetes label keys and values)"
            ))
        }
    }
}

checked_string!(Taint);

impl Serialize for Taint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Taint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
impl JsonSchema for Taint {
    fn schema_name() -> Cow<'static, str> {
        "Taint".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": format!("^({DNS_SUBDOMAIN_PATTERN}/)?{K8S_NAME_PATTERN}(=({K8S_NAME_PATTERN})?)?:(NoSchedule|PreferNoSchedule|NoExecute)$"),
            "description": "A node taint key[=value]:Effect, e.g. dedicated=nonprod:PreferNoSchedule (key and value as Kubernetes label keys and values; Effect NoSchedule, PreferNoSchedule or NoExecute)."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_rejects_host_bits() {
        assert!("10.3.0.0/24".parse::<Network>().is_ok());
        let err = "10.3.0.1/24".parse::<Network>().unwrap_err();
        assert!(err.contains("10.3.0.0/24"), "{err}");
    }

    #[test]
    fn overlap_is_symmetric() {
        let a: Network = "10.0.0.0/8".parse().unwrap();
        let b: Network = "10.3.0.0/24".parse().unwrap();
        let c: Network = "10.4.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!b.overlaps(&c));
    }

    #[test]
    fn mac_normalises_case() {
        let mac: MacAddress = "bc:24:11:0f:bd:61".parse().unwrap();
        assert_eq!(mac.to_string(), "BC:24:11:0F:BD:61");
        assert!("bc:24:11:0f:bd".parse::<MacAddress>().is_err());
        assert!("zz:24:11:0f:bd:61".parse::<MacAddress>().is_err());
    }

    #[test]
    fn durations() {
        assert_eq!("1d".parse::<Duration>().unwrap().as_secs(), 86_400);
        assert_eq!("1w2d".parse::<Duration>().unwrap().as_secs(), 9 * 86_400);
        assert_eq!("500ms".parse::<Duration>().unwrap().as_millis(), 500);
        assert!("".parse::<Duration>().is_err());
        assert!("5x".parse::<Duration>().is_err());
        assert!("99999999999999999999w".parse::<Duration>().is_err());
    }

    #[test]
    fn sizes_round_trip() {
        for text in ["32G", "512M", "1T", "100"] {
            assert_eq!(text.parse::<Size>().unwrap().to_string(), text);
        }
        assert_eq!("1024M".parse::<Size>().unwrap().to_string(), "1G");
        assert!("12Q".parse::<Size>().is_err());
    }

    #[test]
    fn ranges() {
        let r: AddressRange = "10.3.0.11-10.3.0.14".parse().unwrap();
        assert!(r.contains("10.3.0.12".parse().unwrap()));
        assert!(!r.contains("10.3.0.15".parse().unwrap()));
        assert!("10.3.0.14-10.3.0.11".parse::<AddressRange>().is_err());
    }

    /// Characters that end a directive or start a new one in HAProxy, keepalived, ganesha,
    /// fstab, exports(5), a shell script or a command line.
    const HOSTILE: &[&str] = &[
        "\n", "\r", " ", "\t", "\"", "'", "{", "}", "#", ";", "!", "\\", "$", "`", "%", "\0",
        "\u{1b}", "\u{85}", "\u{2028}", ",", "=", ":",
    ];

    #[test]
    fn file_paths_refuse_every_hostile_character() {
        assert!("/etc/haproxy/certs/app.pem".parse::<FilePath>().is_ok());
        assert!("/volume1/k8s-prod_v2/x+y@z~".parse::<FilePath>().is_ok());
        assert!("/a/.hidden/..x/.../b.".parse::<FilePath>().is_ok());
        for bad in ["/", "/a/", "/a//b", "/a/./b", "/a/../b", "/.."] {
            assert!(bad.parse::<FilePath>().is_err(), "{bad:?}");
        }
        assert!("relative/x.pem".parse::<FilePath>().is_err());
        assert!("-rf".parse::<FilePath>().is_err());
        for bad in HOSTILE {
            let text = format!("/srv/a{bad}b");
            let e = text.parse::<FilePath>().unwrap_err();
            assert!(e.starts_with(&format!("{text:?} ")), "{e}");
        }
    }

    #[test]
    fn interface_names_and_url_paths() {
        for ok in ["eth0", "ens18", "bond0.30", "vlan_100", "BRIDGE-X"] {
            assert!(ok.parse::<InterfaceName>().is_ok(), "{ok}");
        }
        for bad in ["", "-eth0", ".x", "sixteen-chars-xx", "eth/0", "eth0:1"] {
            assert!(bad.parse::<InterfaceName>().is_err(), "{bad:?}");
        }
        assert!("/stats".parse::<UrlPath>().is_ok());
        assert!("/haproxy/stats~x".parse::<UrlPath>().is_ok());
        assert!("stats".parse::<UrlPath>().is_err());
        for bad in HOSTILE.iter().chain(&["?", "&"]) {
            assert!(
                format!("eth{bad}0").parse::<InterfaceName>().is_err(),
                "{bad:?}"
            );
            assert!(
                format!("/st{bad}ats").parse::<UrlPath>().is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn kubernetes_labels_and_taints() {
        for ok in [
            "topology.kubernetes.io/zone",
            "app",
            "a",
            "node-role.kubernetes.io/worker",
            "x.y_z-1",
        ] {
            assert!(ok.parse::<LabelKey>().is_ok(), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "-app",
            "app-",
            "Example.com/x",
            "a/b/c",
            "/x",
            "x/",
            long.as_str(),
            "a=b",
            "a,b",
        ] {
            assert!(bad.parse::<LabelKey>().is_err(), "{bad:?}");
        }
        assert!("".parse::<LabelValue>().is_ok());
        assert!("pve-s1".parse::<LabelValue>().is_ok());
        for bad in ["a,b=c", "a b", "-a", "a/b", long.as_str()] {
            assert!(bad.parse::<LabelValue>().is_err(), "{bad:?}");
        }
        let t: Taint = "dedicated=nonprod:PreferNoSchedule".parse().unwrap();
        assert_eq!(
            (t.key(), t.value(), t.effect()),
            ("dedicated", Some("nonprod"), "PreferNoSchedule")
        );
        let t: Taint = "example.com/gpu:NoExecute".parse().unwrap();
        assert_eq!(
            (t.key(), t.value(), t.effect()),
            ("example.com/gpu", None, "NoExecute")
        );
        for bad in [
            "dedicated",
            "dedicated=x",
            "dedicated=x:Never",
            "-x:NoSchedule",
            "a b:NoSchedule",
            "a=b c:NoSchedule",
            "a=b\n:NoSchedule",
        ] {
            assert!(bad.parse::<Taint>().is_err(), "{bad:?}");
        }
        for bad in HOSTILE {
            assert!(format!("a{bad}b").parse::<LabelKey>().is_err(), "{bad:?}");
            assert!(format!("a{bad}b").parse::<LabelValue>().is_err(), "{bad:?}");
            let taint = format!("a{bad}b=c:NoSchedule");
            assert!(taint.parse::<Taint>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routeros_property_names() {
        for ok in [
            "out-interface",
            "dst-port",
            "to-addresses",
            "layer7-protocol",
            "p",
        ] {
            assert!(ok.parse::<RosPropertyName>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "7bit",
            "Out-Interface",
            "a=b",
            "a b",
            "a;b",
            "!comment",
            &"a".repeat(65),
        ] {
            assert!(bad.parse::<RosPropertyName>().is_err(), "{bad:?}");
        }
        for bad in HOSTILE {
            assert!(
                format!("a{bad}b").parse::<RosPropertyName>().is_err(),
                "{bad:?}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// The JSON Schema pattern and the parser agree on every string.
        #[test]
        fn schema_patterns_agree_with_the_parsers(text in "[ -~\\n\t]{0,24}|/[a-z0-9/._#;\"' {}-]{0,12}|(/\\.{0,3}[a-z~]{0,2}){1,4}/?|[a-z./-]{1,10}(=[a-z.-]{0,5})?:(NoSchedule|Never)") {
            fn agree<T: FromStr + JsonSchema>(text: &str) -> bool {
                let schema = T::json_schema(&mut SchemaGenerator::default());
                let pattern = schema.get("pattern").and_then(|p| p.as_str()).unwrap_or_default().to_owned();
                let re = jsonschema::validator_for(&serde_json::json!({"type": "string", "pattern": pattern})).unwrap();
                re.is_valid(&serde_json::json!(text)) == text.parse::<T>().is_ok()
            }
            proptest::prop_assert!(agree::<FilePath>(&text), "FilePath {text:?}");
            proptest::prop_assert!(agree::<InterfaceName>(&text), "InterfaceName {text:?}");
            proptest::prop_assert!(agree::<UrlPath>(&text), "UrlPath {text:?}");
            proptest::prop_assert!(agree::<LabelKey>(&text), "LabelKey {text:?}");
            proptest::prop_assert!(agree::<LabelValue>(&text), "LabelValue {text:?}");
            proptest::prop_assert!(agree::<Taint>(&text), "Taint {text:?}");
            proptest::prop_assert!(agree::<crate::loadbalancer::TlsCertificate>(&text), "TlsCertificate {text:?}");
            proptest::prop_assert!(agree::<RosPropertyName>(&text), "RosPropertyName {text:?}");
            for prefix in ["env:", "file:", "vault:", "vault:a#"] {
                let reference = format!("{prefix}{text}");
                proptest::prop_assert!(agree::<SecretRef>(&reference), "SecretRef {reference:?}");
            }
        }
    }

    #[test]
    fn names_and_hosts() {
        assert!("BRIDGE-PROXMOX".parse::<Name>().is_ok());
        assert!("-x".parse::<Name>().is_err());
        assert!("vault-1005.rachuna.dev".parse::<Hostname>().is_ok());
        assert!("bad_host".parse::<Hostname>().is_err());
        assert!("env:PVE_TOKEN".parse::<SecretRef>().is_ok());
        assert!("hunter2".parse::<SecretRef>().is_err());
    }
}
