//! The repository write lock: one writer at a time per repository.
//!
//! Every change (blueprint, state change, delete, destroy, actor update, restore, a runner's
//! records) reads and writes under this lock, so it never overwrites a concurrent change. The
//! lock is a store key with an expiry, taken with `put_if_absent` and released only by its
//! holder (`delete_if_unchanged`), so a crashed writer frees it after [`LOCK_TTL`]. Per-record
//! preconditions would do the same, but a guarded batch of 100,000 services is too slow for
//! Redis to run as one script; an unguarded batch under the lock stays on the fast path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ays_store::KvStore;

use crate::error::CoreError;
use crate::keys;

/// How long a lock lives when its holder dies without releasing it.
pub(crate) const LOCK_TTL: Duration = Duration::from_secs(600);
/// How long a writer waits for the lock before giving up.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting writer polls.
const POLL: Duration = Duration::from_millis(20);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A held write lock, released on drop.
#[derive(Debug)]
pub(crate) struct WriteLock<'s> {
    store: &'s dyn KvStore,
    token: Vec<u8>,
}

impl<'s> WriteLock<'s> {
    /// Takes the lock, polling until `wait` has passed.
    pub(crate) fn acquire(store: &'s dyn KvStore, wait: Duration) -> Result<Self, CoreError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let token = format!(
            "pid {} at {nanos} #{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
        .into_bytes();
        let deadline = Instant::now() + wait;
        loop {
            if store
                .put_if_absent(keys::WRITE_LOCK, &token, Some(LOCK_TTL))
                .map_err(CoreError::store("take the write lock"))?
            {
                return Ok(WriteLock { store, token });
            }
            if Instant::now() >= deadline {
                let holder = store
                    .get(keys::WRITE_LOCK)
                    .map_err(CoreError::store("read the write lock"))?
                    .map(|h| String::from_utf8_lossy(&h).into_owned())
                    .unwrap_or_default();
                return Err(CoreError::Busy {
                    holder,
                    waited: wait,
                });
            }
            // Polling with a deadline: the loop ends as soon as the holder releases the lock.
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        match self
            .store
            .delete_if_unchanged(keys::WRITE_LOCK, &self.token)
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                ttl_secs = LOCK_TTL.as_secs(),
                "the write lock had expired before its holder released it"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "could not release the write lock; it expires by itself")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_writer_at_a_time_and_released_on_drop() {
        let store = ays_store::open("mem://").unwrap();
        let first = WriteLock::acquire(store.as_ref(), Duration::ZERO).unwrap();
        let err = WriteLock::acquire(store.as_ref(), Duration::from_millis(50)).unwrap_err();
        match err {
            CoreError::Busy { holder, .. } => assert!(holder.starts_with("pid "), "{holder}"),
            other => panic!("unexpected {other:?}"),
        }
        drop(first);
        assert_eq!(store.get(keys::WRITE_LOCK).unwrap(), None);
        let _again = WriteLock::acquire(store.as_ref(), Duration::ZERO).unwrap();
    }
}
