//! Waiting without fixed sleeps: bounded exponential backoff for polls, a small `join_all` for
//! the per-node work that may run at the same time, and the per-phase timing lines that
//! `vault-bootstrap -v` prints.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use rackpipe_model::wait::human;

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

/// Reports one finished phase twice: at info level (`-v`) the breakdown the benchmark
/// collects (`phase` names it, `node` is the node, resource or `-`, `ms` the milliseconds),
/// and as a progress line in plain words with the time it took
/// (`sent the unseal keys to vault-2 in 412 ms`).
pub(crate) fn phase(name: &str, node: &str, started: Instant) {
    let took = started.elapsed();
    let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(phase = name, node, ms, "phase done");
    let step = fit(&describe(name, node), &format!(" in {}", human(took)));
    tracing::info!(target: "progress", step = %step);
}

/// What a phase did, in plain words.
fn describe(name: &str, node: &str) -> String {
    match name {
        "init.check" => "checked that no node is initialised yet".to_owned(),
        "init" => format!("initialised the cluster on {node}"),
        "unseal.status" => "read every node's seal status".to_owned(),
        "unseal.keys" => format!("sent the unseal keys to {node}"),
        "unseal.up" => format!("{node} came up unsealed"),
        "unseal.leader_active" => format!("{node} became the active node"),
        "unseal.join_api" => format!("joined {node} to the raft cluster"),
        "unseal.retry_join" => format!("{node} joined the raft cluster (retry_join)"),
        "unseal" => "unsealed the cluster".to_owned(),
        "plan.read" => format!("read the configuration from {node}"),
        "apply.write" => format!("applied every change through {node}"),
        "apply.write_one" => format!("wrote {node}"),
        "apply.delete" => format!("deleted {node}"),
        "apply.root_ca" => format!("created the root CA {node}"),
        "apply.intermediate_ca" => format!("created the intermediate CA {node}"),
        "apply.user" => format!("wrote {node}"),
        "apply.certificate" => format!("issued and stored {node}"),
        other if node == "-" => other.to_owned(),
        other => format!("{other} {node}"),
    }
}

/// The progress step while the unseal keys go to `node` one by one, in the words of the
/// phase line that follows it (`sending the unseal keys to vault-2: 1/3`, then
/// `sent the unseal keys to vault-2 in 412 ms`).
pub(crate) fn sending_keys(node: &str) -> String {
    format!("sending the unseal keys to {node}")
}

/// `text` and then `suffix` within the progress line's step width: a long text (a deep
/// resource path) is shortened in its middle so that the time at the end stays visible.
fn fit(text: &str, suffix: &str) -> String {
    let room = STEP_WIDTH.saturating_sub(suffix.chars().count());
    let count = text.chars().count();
    if count <= room {
        return format!("{text}{suffix}");
    }
    let head = room.saturating_sub(1) / 2;
    let tail = room.saturating_sub(1) - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}{suffix}")
}

/// How many characters of a step the progress line shows (`rackpipe_cli::progress`).
const STEP_WIDTH: usize = 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_told_in_plain_words_with_their_time() {
        assert_eq!(
            fit(&describe("unseal.keys", "vault-2"), " in 412 ms"),
            "sent the unseal keys to vault-2 in 412 ms"
        );
        assert_eq!(
            sending_keys("vault-2"),
            "sending the unseal keys to vault-2"
        );
        assert_eq!(
            describe("init.check", "-"),
            "checked that no node is initialised yet"
        );
        assert_eq!(describe("something.new", "-"), "something.new");
        let long = fit(
            &describe(
                "apply.write_one",
                "pki_int/roles/a-rather-long-role-name-for-the-runners",
            ),
            " in 1.2 s",
        );
        assert_eq!(long.chars().count(), STEP_WIDTH, "{long}");
        assert!(
            long.starts_with("wrote pki_int/") && long.ends_with("runners in 1.2 s"),
            "{long}"
        );
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
