//! Quantities: durations (`1d`, `500ms`) and storage sizes (`32G`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
