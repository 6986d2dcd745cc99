//! The repository write lock: one writer at a time per repository.
//!
//! Every change (blueprint, state change, delete, destroy, actor update, restore, a runner's
//! records) reads and writes under this lock, so it never overwrites a concurrent change. The
//! lock is a store key with an expiry, taken with `put_if_absent` and released only by its
//! holder (`delete_if_unchanged`). A writer killed while holding it (SIGKILL, power loss) frees
//! it after [`LOCK_TTL`]; a writer of this host whose process is gone frees it at once, because
//! the next writer sees that the holder's pid no longer exists and takes the lock over with a
//! compare-and-swap. Per-record
//! preconditions would do the same, but a guarded batch of 100,000 services is too slow for
//! Redis to run as one script; an unguarded batch under the lock stays on the fast path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ays_store::KvStore;

use crate::error::CoreError;
use crate::keys;
use crate::run_lock::{host_name, process_exists};

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
        let host = host_name();
        let token = format!(
            "pid {} host {host} at {nanos} #{}",
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
            if let Some(holder) = store
                .get(keys::WRITE_LOCK)
                .map_err(CoreError::store("read the write lock"))?
                && holder_is_dead(&holder, &host)
                && store
                    .put_if_unchanged(keys::WRITE_LOCK, &holder, &token, Some(LOCK_TTL))
                    .map_err(CoreError::store("take over the write lock"))?
            {
                tracing::warn!(
                    holder = %String::from_utf8_lossy(&holder),
                    "took over the write lock of a process that no longer exists"
                );
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

/// Whether a lock token (`pid <pid> host <host> at …`) names a process of `this_host` that no
/// longer exists. Tokens of other hosts, or that cannot be read, are never taken over: they
/// expire by themselves.
fn holder_is_dead(token: &[u8], this_host: &str) -> bool {
    let text = String::from_utf8_lossy(token);
    let mut words = text.split(' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("pid"), Some(pid), Some("host"), Some(host)) => {
            host == this_host && pid.parse().is_ok_and(|pid: u32| !process_exists(pid))
        }
        _ => false,
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

    #[test]
    fn the_lock_of_a_dead_local_process_is_taken_over_at_once() {
        let store = ays_store::open("mem://").unwrap();
        // A pid above the kernel's pid_max never exists.
        let dead = format!("pid 4194305 host {} at 1 #0", host_name());
        store.put(keys::WRITE_LOCK, dead.as_bytes()).unwrap();
        let lock = WriteLock::acquire(store.as_ref(), Duration::ZERO).unwrap();
        assert_ne!(
            store.get(keys::WRITE_LOCK).unwrap(),
            Some(dead.into_bytes())
        );
        drop(lock);
        assert_eq!(store.get(keys::WRITE_LOCK).unwrap(), None);
    }

    #[test]
    fn the_lock_of_a_live_or_remote_process_is_not_taken_over() {
        let store = ays_store::open("mem://").unwrap();
        let live = format!("pid {} host {} at 1 #0", std::process::id(), host_name());
        let remote = "pid 4194305 host some-other-machine at 1 #0".to_owned();
        for holder in [live, remote, "garbage".to_owned()] {
            store.put(keys::WRITE_LOCK, holder.as_bytes()).unwrap();
            let err = WriteLock::acquire(store.as_ref(), Duration::from_millis(30)).unwrap_err();
            assert!(matches!(err, CoreError::Busy { .. }), "{holder}: {err:?}");
            assert_eq!(
                store.get(keys::WRITE_LOCK).unwrap(),
                Some(holder.into_bytes())
            );
        }
    }
}
