//! Typed scalars of the site model: networks, interface addresses, MAC addresses, durations,
//! sizes, hostnames and names. Each parses from (and prints as) the string users write, and
//! describes itself in the JSON Schema with a pattern so editors catch typos early.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
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

/// An IP network in CIDR form whose host bits are zero, e.g. `10.3.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Network(pub IpNet);

impl Network {
    /// Whether `addr` lies inside this network.
    #[must_use]
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&addr)
    }

    /// Whether the two networks share at least one address.
    #[must_use]
    pub fn overlaps(&self, other: &Network) -> bool {
        self.0.contains(&other.0.network()) || other.0.contains(&self.0.network())
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let net: IpNet = s
            .parse()
            .map_err(|_| format!("{s:?} is not a CIDR network like 10.3.0.0/24"))?;
        if net.network() != net.addr() {
            return Err(format!(
                "{s:?} has host bits set; the network is {}",
                net.trunc()
            ));
        }
        Ok(Self(net))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_newtype!(
    Network,
    "^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}/([0-9]|[12][0-9]|3[0-2])$|^[0-9a-fA-F:]+/[0-9]{1,3}$",
    "An IP network in CIDR form with zero host bits, e.g. 10.3.0.0/24."
);

/// An interface address with its prefix length, e.g. `10.3.0.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceAddress(pub IpNet);

impl InterfaceAddress {
    /// The address itself, without the prefix.
    #[must_use]
    pub fn ip(&self) -> IpAddr {
        self.0.addr()
    }

    /// The network the address belongs to.
    #[must_use]
    pub fn network(&self) -> Network {
        Network(self.0.trunc())
    }
}

impl FromStr for InterfaceAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse()
            .map(Self)
            .map_err(|_| format!("{s:?} is not an address with prefix like 10.3.0.1/24"))
    }
}

impl fmt::Display for InterfaceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_newtype!(
    InterfaceAddress,
    "^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}/([0-9]|[12][0-9]|3[0-2])$|^[0-9a-fA-F:]+/[0-9]{1,3}$",
    "An interface address with prefix length, e.g. 10.3.0.1/24."
);

/// An inclusive IPv4 address range, `10.3.0.11-10.3.0.14`, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange {
    /// First address of the range.
    pub start: std::net::Ipv4Addr,
    /// Last address of the range (equal to `start` for a single address).
    pub end: std::net::Ipv4Addr,
}

impl AddressRange {
    /// Whether `addr` lies inside the range.
    #[must_use]
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(v4) => self.start <= v4 && v4 <= self.end,
            IpAddr::V6(_) => false,
        }
    }

    /// Whether two ranges share an address.
    #[must_use]
    pub fn overlaps(&self, other: &AddressRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

impl FromStr for AddressRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an address range like 10.3.0.11-10.3.0.14");
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let start: std::net::Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
        let end: std::net::Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
        if start > end {
            return Err(format!("{s:?} ends before it starts"));
        }
        Ok(Self { start, end })
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

string_newtype!(
    AddressRange,
    "^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}(-(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})?$",
    "An inclusive IPv4 range first-last, or one address."
);

/// A MAC address, normalised to upper case with colons: `BC:24:11:0F:BD:61`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddress(pub [u8; 6]);

impl FromStr for MacAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a MAC address like BC:24:11:0F:BD:61");
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (slot, part) in out.iter_mut().zip(&parts) {
            if part.len() != 2 {
                return Err(bad());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        Ok(Self(out))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

string_newtype!(
    MacAddress,
    "^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$",
    "A MAC address, e.g. BC:24:11:0F:BD:61."
);

/// A duration written the RouterOS / Go way: `1d`, `12h`, `30s`, `1w2d`, `500ms`, `0s`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Duration {
    millis: u64,
    text: String,
}

impl Duration {
    /// The length in milliseconds.
    #[must_use]
    pub fn as_millis(&self) -> u64 {
        self.millis
    }

    /// The length in whole seconds.
    #[must_use]
    pub fn as_secs(&self) -> u64 {
        self.millis / 1000
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a duration like 30s, 12h, 1d or 1w2d");
        if s.is_empty() {
            return Err(bad());
        }
        let mut millis: u64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let (unit, len) = if rest.starts_with("ms") {
                (1, 2)
            } else {
                let unit = match rest.chars().next() {
                    Some('s') => 1000,
                    Some('m') => 60_000,
                    Some('h') => 3_600_000,
                    Some('d') => 86_400_000,
                    Some('w') => 604_800_000,
                    _ => return Err(bad()),
                };
                (unit, 1)
            };
            rest = &rest[len..];
            millis = value
                .checked_mul(unit)
                .and_then(|v| millis.checked_add(v))
                .ok_or_else(bad)?;
        }
        Ok(Self {
            millis,
            text: s.to_owned(),
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

string_newtype!(
    Duration,
    "^([0-9]+(ms|s|m|h|d|w))+$",
    "A duration, e.g. 30s, 12h, 1d, 1w2d."
);

/// A storage size with a binary unit: `512M`, `32G`, `1T` (no unit = bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Size(pub u64);

impl Size {
    /// The size in bytes.
    #[must_use]
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a size like 512M, 32G or 1T");
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let value: u64 = num.parse().map_err(|_| bad())?;
        let mult: u64 = match unit {
            "" | "B" => 1,
            "K" | "KiB" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            "G" | "GiB" => 1 << 30,
            "T" | "TiB" => 1 << 40,
            _ => return Err(bad()),
        };
        value.checked_mul(mult).map(Self).ok_or_else(bad)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (1 << 40, "T"),
            (1 << 30, "G"),
            (1 << 20, "M"),
            (1 << 10, "K"),
        ];
        for (mult, unit) in UNITS {
            if self.0 >= mult && self.0.is_multiple_of(mult) {
                return write!(f, "{}{unit}", self.0 / mult);
            }
        }
        write!(f, "{}", self.0)
    }
}

string_newtype!(
    Size,
    "^[0-9]+(B|K|M|G|T|KiB|MiB|GiB|TiB)?$",
    "A size with a binary unit, e.g. 32G."
);

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

string_newtype!(
    Hostname,
    "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
    "A DNS host name or FQDN."
);

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
            || s.strip_prefix("vault:").is_some_and(|n| n.contains('#'));
        if ok {
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
    "^(env:.+|file:.+|vault:.+#.+)$",
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
