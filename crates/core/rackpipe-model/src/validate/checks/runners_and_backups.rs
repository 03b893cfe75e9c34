//! The `runners` and `backups` sections: CI runners, their cache, backup jobs.

use super::{Checker, unique};

impl Checker<'_> {
    pub(super) fn runners_and_backups(&mut self) {
        if let Some(r) = &self.site.runners {
            self.check_export_ref("runners.cache.export".to_owned(), &r.cache.export);
            self.file_path("runners.cache.mountpoint".to_owned(), &r.cache.mountpoint);
            if let Some(p) = &r.cache.path {
                self.file_path("runners.cache.path".to_owned(), p);
            }
            unique(
                self.out,
                "runner name",
                r.runners
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (format!("runners.runners[{i}].name"), x.name.as_str())),
            );
            for (i, x) in r.runners.iter().enumerate() {
                self.check_guest_ref(format!("runners.runners[{i}].guest"), &x.guest);
            }
        }
        if let Some(b) = &self.site.backups {
            for (name, job) in [("etcd", &b.etcd), ("router", &b.router)] {
                let Some(job) = job else { continue };
                self.check_export_ref(
                    format!("backups.{name}.destination.export"),
                    &job.destination.export,
                );
                if let Some(why) = cron_problem(&job.schedule) {
                    self.err(
                        "cron",
                        format!("backups.{name}.schedule"),
                        format!(
                            "{:?} is not a schedule GitLab's pipeline schedules (cron syntax) accept: {why}",
                            job.schedule
                        ),
                    );
                }
                let r = job.retention;
                if r.keep_last + r.daily + r.weekly + r.monthly == 0 {
                    self.err(
                        "retention",
                        format!("backups.{name}.retention"),
                        "keeps nothing; set keep_last or a daily/weekly/monthly count",
                    );
                }
            }
            if b.etcd.is_some() && self.site.kubernetes.is_none() && self.known("kubernetes") {
                self.err(
                    "dangling-reference",
                    "backups.etcd",
                    "etcd backups need a kubernetes section (its masters run etcd)",
                );
            }
        }
    }
}

/// The five cron fields: name, lowest and highest value, names allowed in place of numbers.
const CRON_FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    ),
    (
        "day of week",
        0,
        7,
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    ),
];

/// Why `schedule` is not a five-field cron expression (crontab(5): numbers, names for months
/// and weekdays, `*`, `a-b` ranges, `,` lists and `/n` steps, each within its field's range),
/// if it is not.
pub(super) fn cron_problem(schedule: &str) -> Option<String> {
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Some(format!(
            "it has {} fields; cron has 5 (minute hour day-of-month month day-of-week)",
            fields.len()
        ));
    }
    for (text, (what, low, high, names)) in fields.iter().zip(CRON_FIELDS) {
        for item in text.split(',') {
            if let Err(why) = cron_item(item, low, high, names) {
                return Some(format!("{what} field {text:?}: {why}"));
            }
        }
    }
    None
}

/// One item of a cron list: `*`, `N`, `A-B`, each optionally followed by `/STEP`.
fn cron_item(item: &str, low: u32, high: u32, names: &[&str]) -> Result<(), String> {
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (item, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(n) if n >= 1 && n <= high - low + 1 => {}
            _ => {
                return Err(format!(
                    "step {step:?} is not a number from 1 to {}",
                    high - low + 1
                ));
            }
        }
    }
    if range == "*" {
        return Ok(());
    }
    let value = |v: &str| -> Result<u32, String> {
        let lower = v.to_ascii_lowercase();
        let n = match names.iter().position(|n| *n == lower) {
            Some(i) => u32::try_from(i).unwrap_or(u32::MAX) + low,
            None => v
                .parse::<u32>()
                .map_err(|_| format!("{v:?} is not a number or name"))?,
        };
        if n < low || n > high {
            return Err(format!("{n} is outside {low}-{high}"));
        }
        Ok(n)
    };
    match range.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!("range {range:?} runs backwards"));
            }
        }
        None => {
            value(range)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cron_problem;

    #[test]
    fn cron_fields_and_ranges() {
        for good in [
            "0 2 * * *",
            "*/15 * * * *",
            "30 2 * * 1-5",
            "0 0 1,15 * *",
            "0 3 * jan-mar sun",
            "0 0 * * 7",
            "5-55/10 0-23/2 1-31 1-12 0-6",
        ] {
            assert_eq!(cron_problem(good), None, "{good}");
        }
        for (bad, why) in [
            ("0 2 * *", "4 fields"),
            ("60 2 * * *", "minute field \"60\": 60 is outside 0-59"),
            ("0 24 * * *", "hour field"),
            ("0 0 0 * *", "day of month field"),
            ("0 0 * 13 *", "month field"),
            ("0 0 * * 8", "day of week field"),
            ("*/0 * * * *", "step \"0\""),
            ("0 5-1 * * *", "runs backwards"),
            ("0 2 * * mon-", "\"\" is not a number"),
            ("0 x * * *", "\"x\" is not a number"),
        ] {
            let got = cron_problem(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }
}
