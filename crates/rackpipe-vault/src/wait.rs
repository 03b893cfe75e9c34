//! Waiting without fixed sleeps: bounded exponential backoff for polls, a small `join_all` for
//! the per-node work that may run at the same time, and the per-phase timing lines that
//! `vault-bootstrap -v` prints.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Poll delays: 25 ms, doubling up to 250 ms, never sleeping past the deadline.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    delay: Duration,
    deadline: Instant,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(25);
    const MAX: Duration = Duration::from_millis(250);

    /// Polls for at most `timeout` from now.
    pub(crate) fn new(timeout: Duration) -> Self {
        Self::until(Instant::now() + timeout)
    }

    /// Polls until `deadline`.
    pub(crate) fn until(deadline: Instant) -> Self {
        Self {
            delay: Self::FIRST,
            deadline,
        }
    }

    /// The next sleep at `now` (cut at the deadline), `None` once the deadline has passed.
    fn next_sleep(&mut self, now: Instant) -> Option<Duration> {
        if now >= self.deadline {
            return None;
        }
        let sleep = self.delay.min(self.deadline - now);
        self.delay = (self.delay * 2).min(Self::MAX);
        Some(sleep)
    }

    /// Sleeps the next delay. `false` when the deadline had passed already: the caller gives
    /// up.
    pub(crate) async fn wait(&mut self) -> bool {
        match self.next_sleep(Instant::now()) {
            Some(sleep) => {
                tokio::time::sleep(sleep).await;
                true
            }
            None => false,
        }
    }
}

/// Runs the futures concurrently on the current task (so they share its tracing subscriber)
/// and returns their outputs in order.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Logs at info level (`-v`) how long one phase took: `phase` names it, `node` is the node
/// (or `-`), `ms` the milliseconds. The benchmark collects these lines.
pub(crate) fn phase(name: &str, node: &str, started: Instant) {
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(phase = name, node, ms, "phase done");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_stops_at_the_deadline() {
        let start = Instant::now();
        let mut b = Backoff::until(start + Duration::from_millis(1000));
        let ms: Vec<u128> = (0..6)
            .filter_map(|_| b.next_sleep(start))
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(ms, [25, 50, 100, 200, 250, 250]);
        let near = start + Duration::from_millis(990);
        assert_eq!(b.next_sleep(near), Some(Duration::from_millis(10)));
        assert_eq!(b.next_sleep(start + Duration::from_millis(1000)), None);
    }

    #[tokio::test]
    async fn join_all_runs_concurrently_and_keeps_order() {
        let start = Instant::now();
        let out = join_all(
            [30u64, 10, 20]
                .into_iter()
                .map(|ms| async move {
                    tokio::time::sleep(Duration::from_millis(ms * 5)).await;
                    ms
                })
                .collect(),
        )
        .await;
        assert_eq!(out, [30, 10, 20]);
        assert!(
            start.elapsed() < Duration::from_millis(290),
            "ran one after another"
        );
    }
}
