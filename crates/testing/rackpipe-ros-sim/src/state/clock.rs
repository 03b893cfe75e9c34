//! Wall-clock helpers: UTC calendar dates, `start-date`/`start-time` parsing.

use std::time::SystemTime;

pub(super) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// (year, month, day, hh, mm, ss) in UTC.
pub(super) fn civil(unix: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    let h = u32::try_from(secs / 3600).unwrap_or(0);
    let mi = u32::try_from(secs % 3600 / 60).unwrap_or(0);
    let s = u32::try_from(secs % 60).unwrap_or(0);
    (y, m, d, h, mi, s)
}

/// Years 1970–9999, months 1–12, days 1–31.
fn plausible(y: i64, m: u32, d: u32) -> Option<()> {
    ((1970..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)).then_some(())
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(super) fn today() -> String {
    let (y, m, d, ..) = civil(now_unix());
    format!("{y:04}-{m:02}-{d:02}")
}

pub(super) fn time_now() -> String {
    let (_, _, _, h, mi, s) = civil(now_unix());
    format!("{h:02}:{mi:02}:{s:02}")
}

/// Parses `start-date` (`2024-07-18`, `jul/18/2024`) + `start-time` (`HH:MM:SS`) as UTC.
pub(super) fn wall_clock(date: Option<&str>, time: &str) -> Option<u64> {
    let mut t = time.split(':').map(|x| x.parse::<u64>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next().unwrap_or(Some(0))?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let day = match date {
        None => i64::try_from(now_unix() / 86_400).ok()?,
        Some(date) if date.contains('-') => {
            let mut parts = date.split('-');
            let y: i64 = parts.next()?.parse().ok()?;
            let mo: u32 = parts.next()?.parse().ok()?;
            let d: u32 = parts.next()?.parse().ok()?;
            plausible(y, mo, d)?;
            days_from_civil(y, mo, d)
        }
        Some(date) => {
            const MONTHS: [&str; 12] = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            let mut parts = date.split('/');
            let month = parts.next()?;
            let mo = MONTHS.iter().position(|m| *m == month)?;
            let d: u32 = parts.next()?.parse().ok()?;
            let y: i64 = parts.next()?.parse().ok()?;
            let mo = u32::try_from(mo + 1).ok()?;
            plausible(y, mo, d)?;
            days_from_civil(y, mo, d)
        }
    };
    u64::try_from(day)
        .ok()
        .map(|day| day * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(days_from_civil(2024, 7, 18) * 86_400, 1_721_260_800);
        assert_eq!(
            wall_clock(Some("jul/18/2024"), "00:00:10"),
            Some(1_721_260_810)
        );
        assert_eq!(
            wall_clock(Some("2024-07-18"), "00:00:10"),
            Some(1_721_260_810)
        );
    }
}
