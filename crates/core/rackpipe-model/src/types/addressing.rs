//! Addressing scalars: networks, interface addresses, address ranges, MAC addresses.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
