//! Serialising work that PVE does not like in parallel, and retrying transient errors.
//!
//! PVE answers `can't lock file ... got timeout` when clones of one template or several
//! creates on one node overlap (bpg #995, Telmate #173); the community's remedy is to
//! serialise per template and per node. [`KeyedLocks`] gives one async mutex per key
//! (e.g. `template/9000` and `node/pve1`); take the keys in a fixed order (sorted) to
//! avoid deadlocks. [`retry_transient`] retries the transient failures that prove PVE did
//! nothing ([`Error::nothing_done`]: locks) with bounded attempts and exponential back-off;
//! a write that may have happened (no answer, a timeout, a 596) is never sent again.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::Error;

/// One async mutex per key, created on first use.
#[derive(Debug, Clone, Default)]
pub struct KeyedLocks {
    locks: Arc<Mutex<BTreeMap<String, Arc<AsyncMutex<()>>>>>,
}

/// Guards for several keys, released together when dropped.
#[derive(Debug)]
pub struct KeyedGuard {
    _guards: Vec<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    /// No locks yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&self, key: &str) -> Arc<AsyncMutex<()>> {
        let mut map = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(map.entry(key.to_owned()).or_default())
    }

    /// Waits for all `keys` (taken in sorted order, duplicates ignored).
    pub async fn lock(&self, keys: &[&str]) -> KeyedGuard {
        let mut sorted: Vec<&str> = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut guards = Vec::with_capacity(sorted.len());
        for key in sorted {
            guards.push(self.entry(key).lock_owned().await);
        }
        KeyedGuard { _guards: guards }
    }
}

/// Runs `op` up to `attempts` times while it fails with an error that proves PVE did nothing
/// ([`Error::nothing_done`]: a lock it could not take), sleeping `base_delay`, 2×, 4×...
/// (capped at 10 s) in between. Returns the last error.
///
/// # Errors
/// The first other error (transient or not), or the last lock error.
pub async fn retry_transient<T, F, Fut>(
    attempts: u32,
    base_delay: Duration,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut delay = base_delay;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.nothing_done() && attempt < attempts => {
                tracing::debug!(error = %e, attempt, "transient PVE error, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn same_key_serialises_and_other_keys_do_not() {
        let locks = KeyedLocks::new();
        let g = locks.lock(&["template/9000", "node/pve1"]).await;
        let other =
            tokio::time::timeout(Duration::from_millis(50), locks.lock(&["node/pve2"])).await;
        assert!(other.is_ok());
        let same =
            tokio::time::timeout(Duration::from_millis(50), locks.lock(&["node/pve1"])).await;
        assert!(same.is_err(), "second holder of node/pve1 must wait");
        drop(g);
        let again = tokio::time::timeout(
            Duration::from_millis(50),
            locks.lock(&["node/pve1", "template/9000"]),
        )
        .await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn retries_only_errors_that_prove_nothing_was_done() {
        let calls = AtomicU32::new(0);
        let r: Result<(), Error> = retry_transient(3, Duration::from_millis(1), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(Error::Locked {
                    url: "u".into(),
                    message: "VM is locked (clone)".into(),
                })
            }
        })
        .await;
        assert!(matches!(r, Err(Error::Locked { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        calls.store(0, Ordering::SeqCst);
        let r: Result<(), Error> = retry_transient(3, Duration::from_millis(1), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(Error::DigestMismatch {
                    url: "u".into(),
                    message: "checksum mismatch".into(),
                })
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Transient, but the write may have happened: not sent again.
        calls.store(0, Ordering::SeqCst);
        let r: Result<(), Error> = retry_transient(3, Duration::from_millis(1), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(Error::Api {
                    url: "u".into(),
                    status: 596,
                    message: "Connection timed out".into(),
                })
            }
        })
        .await;
        assert!(r.is_err_and(|e| e.is_transient()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
