//! The named PVE formats pve-sync's requests use (`pve-vmid`, `mac-addr`, `disk-size`,
//! `pve-volume-id`, `pve-qm-ipconfig`, CIDRs, ...); every other named format is accepted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use regex::Regex;

use super::params::anchored_regex;

/// Named formats the validator checks; every other named format is accepted unchecked.
pub const KNOWN_FORMATS: &[&str] = &[
    "pve-vmid",
    "pve-vmid-list",
    "pve-node",
    "pve-node-list",
    "pve-storage-id",
    "pve-storage-id-list",
    "pve-configid",
    "pve-configid-list",
    "pve-poolid",
    "dns-name",
    "pve-tag-list",
    "mac-addr",
    "ipv4",
    "ipv6",
    "ip",
    "CIDR",
    "CIDRv4",
    "CIDRv6",
    "pve-ipv4-config",
    "pve-ipv6-config",
    "pve-qm-ipconfig",
    "disk-size",
    "urlencoded",
    "pve-volume-id",
    "pve-volume-id-or-qm-path",
    "pve-volume-id-or-absolute-path",
    "pve-bridge-id",
    "pve-storage-content",
    "pve-storage-content-list",
    "pve-ha-resource-or-vm-id",
];

fn re(pattern: &str) -> Option<Regex> {
    anchored_regex(pattern)
}

fn matches(pattern: &str, text: &str) -> bool {
    re(pattern).is_some_and(|r| r.is_match(text))
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

fn is_cidr(text: &str, v4: bool, v6: bool) -> bool {
    let Some((addr, mask)) = text.split_once('/') else {
        return false;
    };
    let Ok(mask) = mask.parse::<u8>() else {
        return false;
    };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => v4 && mask <= 32,
        Ok(IpAddr::V6(_)) => v6 && mask <= 128,
        Err(_) => false,
    }
}

/// Checks a named PVE format.
///
/// # Errors
/// The detail text PVE prints after `invalid format - `.
pub fn check_named_format(name: &str, text: &str) -> Result<(), String> {
    if let Some(base) = name.strip_suffix("-list")
        && KNOWN_FORMATS.contains(&base)
        && base != "pve-tag"
    {
        for item in split_list(text) {
            check_named_format(base, item)?;
        }
        return Ok(());
    }
    let ok = match name {
        "pve-vmid" => {
            return if matches(r"[1-9][0-9]{2,8}", text) {
                Ok(())
            } else {
                Err("value does not look like a valid VM ID".to_owned())
            };
        }
        "pve-node" => {
            return if matches(r"(?i:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)", text) {
                Ok(())
            } else {
                Err("value does not look like a valid node name".to_string())
            };
        }
        "pve-storage-id" => {
            return if matches(r"(?i:[a-z][a-z0-9\-_.]*[a-z0-9])", text) {
                Ok(())
            } else {
                Err(format!("storage ID '{text}' contains illegal characters"))
            };
        }
        "pve-configid" => {
            return if matches(r"(?i:[a-z][a-z0-9_-]+)", text) {
                Ok(())
            } else {
                Err(format!("invalid configuration ID '{text}'"))
            };
        }
        "pve-poolid" => {
            return if matches(r"[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+){0,2}", text) {
                Ok(())
            } else {
                Err(format!("invalid pool ID '{text}'"))
            };
        }
        "dns-name" => {
            return if matches(
                r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)\.)*(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)",
                text,
            ) {
                Ok(())
            } else {
                Err("value does not look like a valid DNS name".to_string())
            };
        }
        "pve-tag-list" => {
            for tag in split_list(text) {
                if !matches(r"(?i:[a-z0-9_][a-z0-9_\-+.]*)", tag) {
                    return Err(format!("invalid tag '{tag}'"));
                }
            }
            return Ok(());
        }
        "mac-addr" => {
            return if matches(r"(?i:[a-f0-9][02468ace](?::[a-f0-9]{2}){5})", text) {
                Ok(())
            } else {
                Err("value does not look like a valid unicast MAC address".to_string())
            };
        }
        "ipv4" => text.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<Ipv6Addr>().is_ok(),
        "ip" => text.parse::<IpAddr>().is_ok(),
        "CIDR" => is_cidr(text, true, true),
        "CIDRv4" => is_cidr(text, true, false),
        "CIDRv6" => is_cidr(text, false, true),
        "pve-ipv4-config" => matches!(text, "dhcp" | "manual") || is_cidr(text, true, false),
        "pve-ipv6-config" => {
            matches!(text, "dhcp" | "manual" | "auto") || is_cidr(text, false, true)
        }
        "pve-qm-ipconfig" => return check_ipconfig(text),
        "disk-size" => {
            return if matches(r"\d+(?:\.\d+)?[KMGT]?", text) {
                Ok(())
            } else {
                Err(format!("unable to parse size '{text}'"))
            };
        }
        "urlencoded" => {
            return if matches(r"[-%a-zA-Z0-9_.!~*'()]*", text) {
                Ok(())
            } else {
                Err(format!("value '{text}' is not urlencoded"))
            };
        }
        "pve-volume-id" => {
            return if is_volume_id(text) {
                Ok(())
            } else {
                Err(format!("unable to parse volume ID '{text}'"))
            };
        }
        "pve-volume-id-or-qm-path" | "pve-volume-id-or-absolute-path" => {
            return if is_volume_id(text)
                || text.starts_with('/')
                || matches!(text, "none" | "cdrom")
            {
                Ok(())
            } else {
                Err(format!("unable to parse volume ID '{text}'"))
            };
        }
        "pve-bridge-id" => matches(r"[-_.\w\d]+", text),
        "pve-storage-content" => {
            matches!(
                text,
                "images" | "rootdir" | "vztmpl" | "iso" | "backup" | "snippets" | "import" | "none"
            )
        }
        "pve-ha-resource-or-vm-id" => matches(r"(?:(?:vm|ct):)?[1-9][0-9]{2,8}", text),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("value '{text}' does not match format '{name}'"))
    }
}

fn is_volume_id(text: &str) -> bool {
    matches(r"(?i:[a-z][a-z0-9\-_.]*[a-z0-9]):.+", text)
}

fn check_ipconfig(text: &str) -> Result<(), String> {
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(
                "format error\nvalue without key, but schema does not define a default key"
                    .to_owned(),
            );
        };
        let ok = match k {
            "ip" => v == "dhcp" || is_cidr(v, true, false),
            "gw" => v.parse::<Ipv4Addr>().is_ok(),
            "ip6" => matches!(v, "dhcp" | "auto") || is_cidr(v, false, true),
            "gw6" => v.parse::<Ipv6Addr>().is_ok(),
            _ => {
                return Err(format!(
                    "format error\n{k}: invalid key in comma-separated list property: {k}"
                ));
            }
        };
        if !ok {
            return Err(format!("format error\n{k}: invalid value '{v}'"));
        }
    }
    Ok(())
}
