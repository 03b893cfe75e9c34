//! Waiting without fixed sleeps, written once for every tool: bounded exponential backoff
//! for polls and retries of idempotent reads ([`retry_read`]), and the time actually waited
//! for the message when it gives up.

use std::future::Future;
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

/// How many times [`retry_read`] tries a read.
pub const READ_ATTEMPTS: u32 = 5;

/// One failed attempt of [`retry_read`]: the error, and whether the read may be repeated.
#[derive(Debug)]
pub struct Failed<E> {
    /// What went wrong.
    pub error: E,
    /// Whether trying again may succeed (no connection, a timeout, a gateway's status); never
    /// for a refusal of the request itself (4xx) or a TLS trust failure.
    pub retry: bool,
}

/// Why [`retry_read`] stopped: the last attempt's error, the attempts made and the time
/// actually waited (for the message).
#[derive(Debug)]
pub struct GaveUp<E> {
    /// The last attempt's error.
    pub last: E,
    /// Attempts made (1 when the first failure was not worth repeating, or used the time up).
    pub attempts: u32,
    /// From the first attempt until giving up.
    pub waited: Duration,
}

impl<E> GaveUp<E> {
    /// The error to report: the last one as it is when there was one attempt, else `wrap` of
    /// this (whose message adds the attempts and the time waited).
    pub fn into_error(self, wrap: impl FnOnce(GaveUp<Box<E>>) -> E) -> E {
        if self.attempts == 1 {
            return self.last;
        }
        wrap(GaveUp {
            last: Box::new(self.last),
            attempts: self.attempts,
            waited: self.waited,
        })
    }
}

/// `<last error> (gave up after 5 attempts in 391 ms)`.
impl<E: std::fmt::Display> std::fmt::Display for GaveUp<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (gave up after {} attempts in {})",
            self.last,
            self.attempts,
            human(self.waited)
        )
    }
}

/// Runs an idempotent read, repeating it after failures marked [`Failed::retry`] with the
/// [`Backoff`] delays: at most [`READ_ATTEMPTS`] attempts, all within `timeout` (each attempt
/// is given the time left; a sleep that would reach the deadline is not taken). `sleep` is the
/// caller's runtime's (`tokio::time::sleep`). Only for requests that change nothing (`GET`):
/// a write is sent once.
///
/// # Errors
/// [`GaveUp`] with the last attempt's error.
pub async fn retry_read<T, E, A, AFut, S, SFut>(
    timeout: Duration,
    mut attempt: A,
    sleep: S,
) -> Result<T, GaveUp<E>>
where
    A: FnMut(Duration) -> AFut,
    AFut: Future<Output = Result<T, Failed<E>>>,
    S: Fn(Duration) -> SFut,
    SFut: Future<Output = ()>,
{
    let deadline = Instant::now() + timeout;
    let mut backoff = Backoff::until(deadline);
    let mut attempts = 1;
    loop {
        let failed = match attempt(deadline.saturating_duration_since(Instant::now())).await {
            Ok(value) => return Ok(value),
            Err(failed) => failed,
        };
        let delay = backoff
            .next_delay()
            .filter(|d| failed.retry && attempts < READ_ATTEMPTS && Instant::now() + *d < deadline);
        let Some(delay) = delay else {
            return Err(GaveUp {
                last: failed.error,
                attempts,
                waited: backoff.waited(),
            });
        };
        sleep(delay).await;
        attempts += 1;
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

    /// Runs a future whose awaits are all ready at once (the sleeps below are).
    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    fn read(
        outcomes: &[Result<u32, bool>],
        timeout: Duration,
    ) -> (Result<u32, GaveUp<&'static str>>, Vec<Duration>, usize) {
        let mut left = outcomes.iter();
        let mut calls = 0;
        let slept = std::cell::RefCell::new(Vec::new());
        let result = ready(retry_read(
            timeout,
            |_| {
                calls += 1;
                let out = match left.next() {
                    Some(Ok(v)) => Ok(*v),
                    Some(Err(retry)) => Err(Failed {
                        error: "boom",
                        retry: *retry,
                    }),
                    None => Err(Failed {
                        error: "still boom",
                        retry: true,
                    }),
                };
                std::future::ready(out)
            },
            |d| {
                slept.borrow_mut().push(d);
                std::future::ready(())
            },
        ));
        (result, slept.into_inner(), calls)
    }

    #[test]
    fn reads_are_retried_with_the_backoff_and_bounded() {
        let minute = Duration::from_secs(60);
        let (result, slept, calls) = read(&[Err(true), Err(true), Ok(7)], minute);
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls, 3);
        assert_eq!(
            slept,
            [Duration::from_millis(25), Duration::from_millis(50)]
        );

        // Not worth repeating: one attempt.
        let (result, slept, calls) = read(&[Err(false), Ok(7)], minute);
        let gave_up = result.unwrap_err();
        assert_eq!((gave_up.last, gave_up.attempts, calls), ("boom", 1, 1));
        assert!(slept.is_empty());

        // Persistent: READ_ATTEMPTS attempts.
        let (result, slept, calls) = read(&[], minute);
        let gave_up = result.unwrap_err();
        assert_eq!(
            (gave_up.last, gave_up.attempts),
            ("still boom", READ_ATTEMPTS)
        );
        assert_eq!(calls, READ_ATTEMPTS as usize);
        assert_eq!(slept.len(), READ_ATTEMPTS as usize - 1);

        assert_eq!(
            gave_up.to_string(),
            format!(
                "still boom (gave up after 5 attempts in {})",
                human(gave_up.waited)
            )
        );
        assert_eq!(
            gave_up.into_error(|g| if g.attempts > 1 { "wrapped" } else { "no" }),
            "wrapped"
        );

        // No time for a sleep: one attempt, never past the timeout.
        let (result, slept, _) = read(&[Err(true), Ok(7)], Duration::from_millis(10));
        assert_eq!(result.unwrap_err().attempts, 1);
        assert!(slept.is_empty());
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(Duration::from_millis(850)), "850 ms");
        assert_eq!(human(Duration::from_millis(4210)), "4.2 s");
        assert_eq!(human(Duration::from_secs(95)), "95 s");
    }
}
