//! Retention: keep-last N plus grandfather-father-son (daily, weekly, monthly), as a plan.
//!
//! The rules (restic's, evaluated newest first, in UTC):
//! - `keep_last`: the N newest snapshots;
//! - `daily`: the newest snapshot of each of the N most recent calendar days that *have* a
//!   snapshot (so a pause in backups never makes old snapshots expire all at once);
//! - `weekly`: the same per ISO week; `monthly`: per calendar month;
//! - the newest verified snapshot is always kept, whatever the policy.
//!
//! A snapshot is kept if any rule keeps it; every kept snapshot lists its reasons.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rackpipe_model::kubernetes::Retention;
use serde::Serialize;

use crate::error::{Error, Result};

/// A snapshot as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// An id (the file name).
    pub id: String,
    /// When it was taken.
    pub time: Timestamp,
    /// Whether it passed verification (only the newest verified one matters).
    pub verified: bool,
}

/// The decision for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Decision {
    /// The candidate's id.
    pub id: String,
    /// Its time.
    #[schemars(with = "String")]
    pub time: Timestamp,
    /// Kept or to be deleted.
    pub keep: bool,
    /// Why it is kept (`last`, `daily 2026-11-20`, `weekly 2026-W47`, `monthly 2026-11`,
    /// `newest verified`); empty when deleted.
    pub reasons: Vec<String>,
}

/// Decides, for each candidate, keep or delete. Result is newest first.
///
/// # Errors
/// [`Error::EmptyPolicy`] when every count is 0 (that would delete everything but one).
pub fn plan(candidates: &[Candidate], policy: &Retention) -> Result<Vec<Decision>> {
    if policy.keep_last == 0 && policy.daily == 0 && policy.weekly == 0 && policy.monthly == 0 {
        return Err(Error::EmptyPolicy("backups.etcd.retention".into()));
    }
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
    let mut decisions: Vec<Decision> = sorted
        .iter()
        .map(|c| Decision {
            id: c.id.clone(),
            time: c.time,
            keep: false,
            reasons: Vec::new(),
        })
        .collect();

    for d in decisions.iter_mut().take(policy.keep_last as usize) {
        d.reasons.push("last".into());
    }
    let buckets: [(u32, Bucket, &str); 3] = [
        (policy.daily, day, "daily"),
        (policy.weekly, week, "weekly"),
        (policy.monthly, month, "monthly"),
    ];
    for (count, bucket, label) in buckets {
        let mut seen = BTreeSet::new();
        for d in &mut decisions {
            if seen.len() >= count as usize {
                break;
            }
            let key = bucket(&d.time);
            if seen.insert(key.clone()) {
                d.reasons.push(format!("{label} {key}"));
            }
        }
    }
    if let Some(i) = sorted.iter().position(|c| c.verified) {
        decisions[i].reasons.push("newest verified".into());
    }
    for d in &mut decisions {
        d.keep = !d.reasons.is_empty();
    }
    Ok(decisions)
}

/// Maps a time to its bucket key (day, ISO week, month).
type Bucket = fn(&Timestamp) -> String;

fn civil(t: &Timestamp) -> jiff::civil::DateTime {
    t.to_zoned(TimeZone::UTC).datetime()
}

fn day(t: &Timestamp) -> String {
    civil(t).date().to_string()
}

fn week(t: &Timestamp) -> String {
    let w = civil(t).date().iso_week_date();
    format!("{}-W{:02}", w.year(), w.week())
}

fn month(t: &Timestamp) -> String {
    let d = civil(t).date();
    format!("{}-{:02}", d.year(), d.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn policy(keep_last: u32, daily: u32, weekly: u32, monthly: u32) -> Retention {
        Retention {
            keep_last,
            daily,
            weekly,
            monthly,
        }
    }

    #[test]
    fn empty_policy_is_refused() {
        let err = plan(&[], &policy(0, 0, 0, 0)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("backups.etcd.retention: empty retention policy")
        );
    }

    #[test]
    fn newest_verified_survives_any_policy() {
        let c = vec![
            Candidate {
                id: "a".into(),
                time: at("2026-01-01T00:00:00Z"),
                verified: true,
            },
            Candidate {
                id: "b".into(),
                time: at("2026-01-02T00:00:00Z"),
                verified: false,
            },
            Candidate {
                id: "c".into(),
                time: at("2026-01-03T00:00:00Z"),
                verified: false,
            },
        ];
        let d = plan(&c, &policy(1, 0, 0, 0)).unwrap();
        let kept: Vec<_> = d.iter().filter(|d| d.keep).map(|d| d.id.as_str()).collect();
        assert_eq!(kept, ["c", "a"]);
        assert_eq!(d[2].reasons, ["newest verified"]);
    }

    #[test]
    fn iso_weeks_span_years() {
        assert_eq!(week(&at("2027-01-01T12:00:00Z")), "2026-W53");
        assert_eq!(week(&at("2026-12-28T12:00:00Z")), "2026-W53");
        assert_eq!(month(&at("2026-12-31T23:59:59Z")), "2026-12");
    }
}
