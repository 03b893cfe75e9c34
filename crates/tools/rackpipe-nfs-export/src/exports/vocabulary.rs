//! What exportfs (nfs-utils 2.6) accepts: the forms of a client spec, the options with and
//! without a value, the pairs that contradict each other, the security flavours and `fsid`.

use std::net::IpAddr;

use ipnet::IpNet;

/// What kind of client a spec is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKind {
    /// `*` (or a `(opts)` without a spec): everyone.
    World,
    /// A network.
    Network(IpNet),
    /// A single address.
    Address(IpAddr),
    /// A host name.
    Host(String),
    /// A host-name wildcard.
    Wildcard(String),
    /// `@netgroup`.
    Netgroup(String),
}

/// Classifies a client spec, or says why it is not valid.
pub fn classify_client(spec: &str) -> Result<ClientKind, String> {
    if spec.is_empty() || spec == "*" {
        return Ok(ClientKind::World);
    }
    if spec.starts_with('[') || spec.ends_with(']') && spec.contains(':') {
        return Err(format!("{spec:?}: IPv6 addresses must not be in brackets"));
    }
    if let Some(group) = spec.strip_prefix('@') {
        return if !group.is_empty()
            && group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            Ok(ClientKind::Netgroup(group.to_owned()))
        } else {
            Err(format!("{spec:?}: not a valid netgroup"))
        };
    }
    if let Some((addr, mask)) = spec.split_once('/') {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{spec:?}: {addr:?} is not an IP address"))?;
        let prefix = if let Ok(bits) = mask.parse::<u8>() {
            bits
        } else if let (IpAddr::V4(_), Ok(std::net::IpAddr::V4(m))) = (ip, mask.parse::<IpAddr>()) {
            let bits = u32::from(m);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(format!("{spec:?}: {mask} is not a contiguous netmask"));
            }
            u8::try_from(bits.leading_ones()).map_err(|_| format!("{spec:?}: bad netmask"))?
        } else {
            return Err(format!(
                "{spec:?}: {mask:?} is not a prefix length or netmask"
            ));
        };
        let net = IpNet::new(ip, prefix)
            .map_err(|_| format!("{spec:?}: prefix /{prefix} is too long"))?;
        return Ok(ClientKind::Network(net));
    }
    if let Ok(ip) = spec.parse::<IpAddr>() {
        return Ok(ClientKind::Address(ip));
    }
    let wildcard = spec.contains(['*', '?', '[']);
    let looks_numeric = spec.split('.').all(|label| {
        label
            .chars()
            .all(|c| c.is_ascii_digit() || "*?[]-".contains(c))
    });
    if wildcard && looks_numeric {
        return Err(format!(
            "{spec:?}: wildcards do not work on IP addresses; use a CIDR network such as 192.168.1.0/24"
        ));
    }
    if !spec
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._*?[]".contains(c))
    {
        return Err(format!(
            "{spec:?}: not a host name, network, wildcard or netgroup"
        ));
    }
    if spec.contains(':') {
        return Err(format!("{spec:?}: not a valid IPv6 address"));
    }
    if wildcard {
        Ok(ClientKind::Wildcard(spec.to_owned()))
    } else {
        Ok(ClientKind::Host(spec.to_owned()))
    }
}

/// Options exportfs 2.6 accepts without a value.
pub(super) const FLAG_OPTIONS: &[&str] = &[
    "ro",
    "rw",
    "sync",
    "async",
    "secure",
    "insecure",
    "root_squash",
    "no_root_squash",
    "all_squash",
    "no_all_squash",
    "subtree_check",
    "no_subtree_check",
    "wdelay",
    "no_wdelay",
    "hide",
    "nohide",
    "crossmnt",
    "nocrossmnt",
    "secure_locks",
    "insecure_locks",
    "auth_nlm",
    "no_auth_nlm",
    "acl",
    "no_acl",
    "mp",
    "mountpoint",
    "nordirplus",
    "security_label",
    "pnfs",
    "no_pnfs",
];

/// Options that take `=value`.
pub(super) const VALUE_OPTIONS: &[&str] = &[
    "anonuid",
    "anongid",
    "fsid",
    "sec",
    "mountpoint",
    "mp",
    "refer",
    "replicas",
    "xprtsec",
];

/// Pairs that contradict each other.
pub(super) const CONTRADICTIONS: &[(&str, &str)] = &[
    ("ro", "rw"),
    ("sync", "async"),
    ("secure", "insecure"),
    ("root_squash", "no_root_squash"),
    ("all_squash", "no_all_squash"),
    ("all_squash", "no_root_squash"),
    ("subtree_check", "no_subtree_check"),
    ("wdelay", "no_wdelay"),
    ("hide", "nohide"),
    ("crossmnt", "nocrossmnt"),
    ("secure_locks", "insecure_locks"),
    ("auth_nlm", "no_auth_nlm"),
    ("acl", "no_acl"),
    ("pnfs", "no_pnfs"),
];

/// Security flavours exportfs knows.
pub const SEC_FLAVOURS: &[&str] = &["sys", "krb5", "krb5i", "krb5p", "none"];

/// Whether `fsid` is a number, `root`, or a UUID.
#[must_use]
pub fn valid_fsid(value: &str) -> bool {
    value == "root"
        || value.parse::<u32>().is_ok()
        || (value.len() >= 32 && value.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_specs() {
        assert_eq!(classify_client("*").unwrap(), ClientKind::World);
        assert!(matches!(
            classify_client("10.3.2.0/24").unwrap(),
            ClientKind::Network(_)
        ));
        assert!(
            matches!(classify_client("10.3.2.0/255.255.255.0").unwrap(), ClientKind::Network(n) if n.prefix_len() == 24)
        );
        assert!(matches!(
            classify_client("2001:db8::/64").unwrap(),
            ClientKind::Network(_)
        ));
        assert!(matches!(
            classify_client("*.rachuna.dev").unwrap(),
            ClientKind::Wildcard(_)
        ));
        assert!(matches!(
            classify_client("@trusted").unwrap(),
            ClientKind::Netgroup(_)
        ));
        assert!(classify_client("192.168.1.*").unwrap_err().contains("CIDR"));
        assert!(
            classify_client("[2001:db8::1]")
                .unwrap_err()
                .contains("brackets")
        );
        assert!(classify_client("10.0.0.0/33").is_err());
        assert!(classify_client("host$").is_err());
    }
}
