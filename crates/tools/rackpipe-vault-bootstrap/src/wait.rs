//! Waiting without fixed sleeps: bounded exponential backoff for polls, a small `join_all` for
//! the per-node work that may run at the same time, and the per-phase timing lines that
//! `vault-bootstrap -v` prints.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// The shared poll delays ([`rackpipe_model::wait::Backoff`]) slept on tokio.
#[derive(Debug, Clone)]
pub(crate) struct Backoff(rackpipe_model::wait::Backoff);

impl Backoff {
    /// Polls for at most `timeout` from now.
    pub(crate) fn new(timeout: Duration) -> Self {
        Self(rackpipe_model::wait::Backoff::new(timeout))
    }

    /// Polls until `deadline`.
    pub(crate) fn until(deadline: Instant) -> Self {
        Self(rackpipe_model::wait::Backoff::until(deadline))
    }

    /// Sleeps the next delay. `false` when the deadline had passed already: the caller gives
    /// up.
    pub(crate) async fn wait(&mut self) -> bool {
        match self.0.next_delay() {
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
    tracing::info!(target: "progress", step = %format!("{name} {node}: done"));
}

#[cfg(test)]
mod tests {
    use super::*;

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
