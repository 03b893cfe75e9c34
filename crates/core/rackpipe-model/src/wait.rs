//! Waiting without fixed sleeps, written once for every tool: bounded exponential backoff
//! for polls and retries of idempotent reads, and the time actually waited for the message
//! when it gives up.

use std::time::{Duration, Instant};

/// Poll delays: 25 ms, doubling up to 250 ms, never sleeping past the deadline.
///
/// The caller sleeps the delays ([`Backoff::next_delay`]) with its own runtime and, when
/// they run out, reports [`Backoff::waited`] (the time it really waited, not the configured
/// timeout).
#[derive(Debug, Clone)]
pub struct Backoff {
    delay: Duration,
    started: Instant,
    deadline: Instant,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(25);
    const MAX: Duration = Duration::from_millis(250);

    /// Polls for at most `timeout` from now.
    #[must_use]
    pub fn new(timeout: Duration) -> Self {
        Self::until(Instant::now() + timeout)
    }

    /// Polls until `deadline`.
    #[must_use]
    pub fn until(deadline: Instant) -> Self {
        Self {
            delay: Self::FIRST,
            started: Instant::now(),
            deadline,
        }
    }

    /// The next sleep (cut at the deadline), `None` once the deadline has passed: the caller
    /// gives up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.next_delay_at(Instant::now())
    }

    fn next_delay_at(&mut self, now: Instant) -> Option<Duration> {
        if now >= self.deadline {
            return None;
        }
        let sleep = self.delay.min(self.deadline - now);
        self.delay = (self.delay * 2).min(Self::MAX);
        Some(sleep)
    }

    /// How long since the backoff was created, for "gave up after N s" messages.
    #[must_use]
    pub fn waited(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A duration as people read it in messages: `850 ms`, `4.2 s`, `95 s`.
#[must_use]
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 10_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} s", d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_stops_at_the_deadline() {
        let start = Instant::now();
        let mut b = Backoff::until(start + Duration::from_millis(1000));
        let ms: Vec<u128> = (0..6)
            .filter_map(|_| b.next_delay_at(start))
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(ms, [25, 50, 100, 200, 250, 250]);
        let near = start + Duration::from_millis(990);
        assert_eq!(b.next_delay_at(near), Some(Duration::from_millis(10)));
        assert_eq!(b.next_delay_at(start + Duration::from_millis(1000)), None);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(Duration::from_millis(850)), "850 ms");
        assert_eq!(human(Duration::from_millis(4210)), "4.2 s");
        assert_eq!(human(Duration::from_secs(95)), "95 s");
    }
}
