//! RouterOS value syntax the checks share: durations, IPv4 addresses and prefixes.

/// Parses a RouterOS duration (`1d2h3m4s`, `100ms`, `1w`, `00:05:00`, `30`) into milliseconds.
#[must_use]
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 3 {
            return None;
        }
        let h: u64 = parts[0].parse().ok()?;
        let m: u64 = parts[1].parse().ok()?;
        let (sec, frac) = parts[2].split_once('.').unwrap_or((parts[2], ""));
        let sec: u64 = sec.parse().ok()?;
        if !frac.bytes().all(|b| b.is_ascii_digit()) || m >= 60 || sec >= 60 || h > 1_000_000 {
            return None;
        }
        let ms: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}")[..3].parse().ok()?
        };
        return Some(((h * 60 + m) * 60 + sec) * 1000 + ms);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            number.push(char::from(c));
            i += 1;
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        let unit = if c == b'm' && bytes.get(i + 1) == Some(&b's') {
            i += 1;
            1
        } else {
            match c {
                b'w' => 7 * 86_400_000,
                b'd' => 86_400_000,
                b'h' => 3_600_000,
                b'm' => 60_000,
                b's' => 1000,
                _ => return None,
            }
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        i += 1;
    }
    if !number.is_empty() {
        total = total.checked_add(number.parse::<u64>().ok()?.checked_mul(1000)?)?;
    }
    Some(total)
}

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
