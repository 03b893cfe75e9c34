//! RouterOS value syntax the checks share: durations, IPv4 addresses and prefixes.

pub use rackpipe_routeros::values::duration_ms as parse_duration_ms;

/// Parses `a.b.c.d`.
#[must_use]
pub fn parse_ip(s: &str) -> Option<std::net::Ipv4Addr> {
    s.parse().ok()
}

/// Parses `a.b.c.d/len` (len defaults to 32) into (address, prefix length).
#[must_use]
pub fn parse_cidr(s: &str) -> Option<(std::net::Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/').unwrap_or((s, "32"));
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some(())?;
    Some((parse_ip(ip)?, len))
}

/// The network address of `ip/len`.
#[must_use]
pub fn network_of(ip: std::net::Ipv4Addr, len: u8) -> std::net::Ipv4Addr {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    std::net::Ipv4Addr::from(u32::from(ip) & mask)
}

/// Whether `ip` is inside `cidr` (`a.b.c.d/len` or a single address).
#[must_use]
pub fn cidr_contains(cidr: &str, ip: std::net::Ipv4Addr) -> bool {
    parse_cidr(cidr).is_some_and(|(net, len)| network_of(net, len) == network_of(ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1d2h"), Some(93_600_000));
        assert_eq!(parse_duration_ms("100ms"), Some(100));
        assert_eq!(parse_duration_ms("00:05:00"), Some(300_000));
        assert_eq!(parse_duration_ms("30"), Some(30_000));
        assert_eq!(parse_duration_ms("1x"), None);
        assert_eq!(parse_duration_ms(""), None);
    }

    #[test]
    fn cidrs() {
        assert!(cidr_contains("10.0.0.0/8", "10.1.2.3".parse().unwrap()));
        assert!(!cidr_contains("10.0.0.0/8", "11.1.2.3".parse().unwrap()));
        assert_eq!(
            parse_cidr("192.168.88.1/24"),
            Some(("192.168.88.1".parse().unwrap(), 24))
        );
        assert_eq!(parse_cidr("1.2.3.4/33"), None);
    }
}
