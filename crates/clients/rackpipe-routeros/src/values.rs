//! RouterOS value syntax shared by the clients, the plan and the simulator.

/// Parses a RouterOS duration (`1d2h3m4s`, `100ms`, `1w`, `00:05:00`, `30`) into milliseconds.
#[must_use]
pub fn duration_ms(s: &str) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::duration_ms;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("1d2h"), Some(93_600_000));
        assert_eq!(duration_ms("100ms"), Some(100));
        assert_eq!(duration_ms("00:05:00"), Some(300_000));
        assert_eq!(duration_ms("30"), Some(30_000));
        assert_eq!(duration_ms("1x"), None);
        assert_eq!(duration_ms(""), None);
        assert_eq!(duration_ms("99999999999999999999:00:00"), None);
    }
}
