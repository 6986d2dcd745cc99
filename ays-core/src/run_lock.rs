//! The run lock: one run at a time per repository.
//!
//! The lock is a store key holding a [`RunLockInfo`] (run, host, pid, start, lease expiry) as
//! JSON, taken with `put_if_absent` and a TTL equal to the lease. While the [`RunLock`] lives, a
//! background thread renews the lease every third of it (`put_if_unchanged`, so a lock taken
//! over meanwhile is never overwritten). A lock is stale, and taken over, when its lease has
//! expired or when it belongs to a dead process on this host (`/proc/<pid>` is gone).
//! `ays run unlock --force` removes it whoever holds it ([`Repository::force_unlock`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ays_store::KvStore;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::keys;
use crate::repo::Repository;

/// The lease of a run lock when the caller does not choose one.
pub const DEFAULT_RUN_LEASE: Duration = Duration::from_secs(60);

/// Who holds the run lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLockInfo {
    /// The run.
    pub run: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// When it took the lock (ms since the epoch).
    pub since_ms: i64,
    /// When the lease ends unless renewed (ms since the epoch).
    pub expires_ms: i64,
}

impl RunLockInfo {
    /// Whether the holder is gone: its lease expired, or it is a dead process of this host.
    pub fn is_stale(&self, now_ms: i64, this_host: &str) -> bool {
        self.expires_ms <= now_ms || (self.host == this_host && !process_exists(self.pid))
    }
}

/// Options of [`Repository::lock_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLockOptions {
    /// How long the lock outlives a holder that stops renewing it.
    pub lease: Duration,
    /// The process recorded as holder (default: this one).
    pub pid: u32,
}

impl Default for RunLockOptions {
    fn default() -> Self {
        RunLockOptions {
            lease: DEFAULT_RUN_LEASE,
            pid: std::process::id(),
        }
    }
}

/// A held run lock; dropping it stops the renewal and releases the lock.
#[derive(Debug)]
pub struct RunLock {
    store: Arc<dyn KvStore>,
    info: RunLockInfo,
    stop: Option<Sender<()>>,
    renewer: Option<JoinHandle<Vec<u8>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// Whether process `pid` of this host exists (`/proc/<pid>`). A killed process that its parent
/// has not reaped yet still exists; its lock is taken over once it is reaped.
pub(crate) fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// This machine's host name (`/proc/sys/kernel/hostname`).
pub(crate) fn host_name() -> String {
    // Without procfs there is no way to tell a dead local holder anyway; the lease still works.
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

fn encode(info: &RunLockInfo) -> Vec<u8> {
    // Strings and integers always serialise; an empty value would only fail to match later.
    serde_json::to_vec(info).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Result<RunLockInfo, CoreError> {
    serde_json::from_slice(bytes).map_err(|e| CoreError::Corrupt {
        key: String::from_utf8_lossy(keys::RUN_LOCK).into_owned(),
        reason: e.to_string(),
    })
}

impl RunLock {
    /// The lock just written as `bytes` for `info`, with its renewal started; `root` names the
    /// repository if the renewal thread cannot start.
    fn start(
        store: &Arc<dyn KvStore>,
        info: RunLockInfo,
        bytes: Vec<u8>,
        lease: Duration,
        root: &Path,
    ) -> Result<Self, CoreError> {
        let (tx, rx) = mpsc::channel();
        let renewer = {
            let store = Arc::clone(store);
            let info = info.clone();
            std::thread::Builder::new()
                .name("ays-run-lock".into())
                .spawn(move || renew(store, bytes, info, lease, rx))
                .map_err(CoreError::io("cannot start the run lock renewal", root))?
        };
        Ok(RunLock {
            store: Arc::clone(store),
            info,
            stop: Some(tx),
            renewer: Some(renewer),
        })
    }

    /// Who holds the lock (the lease as taken).
    pub fn info(&self) -> &RunLockInfo {
        &self.info
    }

    /// Stops renewing without releasing, as a crashed holder would; returns the last value
    /// written.
    pub fn abandon(mut self) -> RunLockInfo {
        // With the renewer gone, the drop that follows releases nothing.
        let last = self.stop_renewal();
        match last.as_deref().map(decode) {
            Some(Ok(info)) => info,
            _ => self.info.clone(),
        }
    }

    fn stop_renewal(&mut self) -> Option<Vec<u8>> {
        drop(self.stop.take());
        self.renewer.take().and_then(|h| h.join().ok())
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let Some(last) = self.stop_renewal() else {
            return;
        };
        match self.store.delete_if_unchanged(keys::RUN_LOCK, &last) {
            Ok(true) => tracing::debug!(run = %self.info.run, "run lock released"),
            Ok(false) => {
                tracing::warn!(run = %self.info.run, "the run lock was taken over before its release")
            }
            Err(err) => {
                tracing::warn!(run = %self.info.run, error = %err, "could not release the run lock; its lease expires by itself")
            }
        }
    }
}

fn renew(
    store: Arc<dyn KvStore>,
    mut current: Vec<u8>,
    info: RunLockInfo,
    lease: Duration,
    stop: mpsc::Receiver<()>,
) -> Vec<u8> {
    let every = (lease / 3).max(Duration::from_millis(1));
    loop {
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return current,
        }
        let next = encode(&RunLockInfo {
            expires_ms: now_ms().saturating_add(lease_ms(lease)),
            ..info.clone()
        });
        match store.put_if_unchanged(keys::RUN_LOCK, &current, &next, Some(lease)) {
            Ok(true) => current = next,
            Ok(false) => {
                tracing::warn!(run = %info.run, "the run lock was lost (expired or taken over)");
                return current;
            }
            Err(err) => {
                tracing::warn!(run = %info.run, error = %err, "could not renew the run lock; retrying");
            }
        }
    }
}

/// One round of taking the lock for `info`, written as `bytes`: into an empty slot, or over a
/// stale holder. `Ok(false)` when the lock changed between this round's read and write.
fn try_take(
    store: &dyn KvStore,
    info: &RunLockInfo,
    bytes: &[u8],
    lease: Duration,
    now_ms: i64,
) -> Result<bool, CoreError> {
    if store
        .put_if_absent(keys::RUN_LOCK, bytes, Some(lease))
        .map_err(CoreError::store("take the run lock"))?
    {
        return Ok(true);
    }
    let Some((current, holder)) = read_lock(store)? else {
        return Ok(false);
    };
    let holder = stale_holder(holder, now_ms, &info.host)?;
    take_over(store, &current, bytes, lease, &info.run, &holder)
}

/// The lock as stored and who it names, if it is held.
fn read_lock(store: &dyn KvStore) -> Result<Option<(Vec<u8>, RunLockInfo)>, CoreError> {
    store
        .get(keys::RUN_LOCK)
        .map_err(CoreError::store("read the run lock"))?
        .map(|bytes| decode(&bytes).map(|holder| (bytes, holder)))
        .transpose()
}

/// `holder` when its lock may be taken over; [`CoreError::RunLocked`] naming it while it lives.
fn stale_holder(
    holder: RunLockInfo,
    now_ms: i64,
    this_host: &str,
) -> Result<RunLockInfo, CoreError> {
    if holder.is_stale(now_ms, this_host) {
        Ok(holder)
    } else {
        Err(locked(holder))
    }
}

/// Replaces the stale lock `current` of `holder` with `bytes` for run `run`, unless it changed
/// since it was read.
fn take_over(
    store: &dyn KvStore,
    current: &[u8],
    bytes: &[u8],
    lease: Duration,
    run: &str,
    holder: &RunLockInfo,
) -> Result<bool, CoreError> {
    let took = store
        .put_if_unchanged(keys::RUN_LOCK, current, bytes, Some(lease))
        .map_err(CoreError::store("take over the run lock"))?;
    if took {
        tracing::warn!(run, stale_run = %holder.run, stale_pid = holder.pid, stale_host = %holder.host, "took over a stale run lock");
    }
    Ok(took)
}

/// The error that names `holder` as the run holding the lock.
fn locked(holder: RunLockInfo) -> CoreError {
    CoreError::RunLocked {
        run: holder.run,
        host: holder.host,
        pid: holder.pid,
        since_ms: holder.since_ms,
    }
}

impl Repository {
    /// Takes the run lock for run `run`, taking over a stale one.
    ///
    /// # Errors
    ///
    /// [`CoreError::RunLocked`] naming the live holder, [`CoreError::Store`],
    /// [`CoreError::Corrupt`] for an unreadable lock (remove it with
    /// [`Repository::force_unlock`]).
    pub fn lock_run(&self, run: &str, options: &RunLockOptions) -> Result<RunLock, CoreError> {
        let host = host_name();
        // A few rounds: the holder may release or expire between our reads.
        for _ in 0..3 {
            let now = now_ms();
            let info = RunLockInfo {
                run: run.to_owned(),
                host: host.clone(),
                pid: options.pid,
                since_ms: now,
                expires_ms: now.saturating_add(lease_ms(options.lease)),
            };
            let bytes = encode(&info);
            if try_take(self.store().as_ref(), &info, &bytes, options.lease, now)? {
                let lock = RunLock::start(self.store(), info, bytes, options.lease, self.root())?;
                tracing::debug!(run, "run lock taken");
                return Ok(lock);
            }
        }
        Err(match self.run_lock_holder()? {
            Some(holder) => locked(holder),
            None => CoreError::RunLocked {
                run: String::new(),
                host: String::new(),
                pid: 0,
                since_ms: 0,
            },
        })
    }

    /// Takes the run lock for a change that must not overlap a run (`restore`, `destroy`,
    /// deleting services): a run in progress makes it fail with [`CoreError::RunLocked`], and no
    /// run starts until the returned lock is dropped. `what` names the change to whoever finds
    /// the lock taken.
    ///
    /// # Errors
    ///
    /// Those of [`Repository::lock_run`].
    pub fn hold_runs(&self, what: &str) -> Result<RunLock, CoreError> {
        self.lock_run(&format!("({what})"), &RunLockOptions::default())
    }

    /// Who holds the run lock, if anybody.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn run_lock_holder(&self) -> Result<Option<RunLockInfo>, CoreError> {
        Ok(read_lock(self.store().as_ref())?.map(|(_, holder)| holder))
    }

    /// Removes the run lock whoever holds it (`ays run unlock --force`); returns the holder it
    /// removed (`None` when unreadable or absent).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`].
    pub fn force_unlock(&self) -> Result<Option<RunLockInfo>, CoreError> {
        let before = self
            .store()
            .get(keys::RUN_LOCK)
            .map_err(CoreError::store("read the run lock"))?;
        self.store()
            .delete(keys::RUN_LOCK)
            .map_err(CoreError::store("remove the run lock"))?;
        let holder = before.as_deref().and_then(|b| decode(b).ok());
        match (&before, &holder) {
            (None, _) => tracing::debug!("no run lock to remove"),
            (Some(_), Some(h)) => {
                tracing::warn!(run = %h.run, host = %h.host, pid = h.pid, "run lock removed by force");
            }
            (Some(_), None) => tracing::warn!("an unreadable run lock removed by force"),
        }
        Ok(holder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(60);
    /// Above Linux's largest pid, so `/proc/<pid>` never exists.
    const DEAD_PID: u32 = u32::MAX;

    fn holder(run: &str, host: &str, pid: u32, expires_ms: i64) -> RunLockInfo {
        RunLockInfo {
            run: run.to_owned(),
            host: host.to_owned(),
            pid,
            since_ms: 1,
            expires_ms,
        }
    }

    /// A store holding `lock` as the run lock, if given.
    fn store_with(lock: Option<&[u8]>) -> Arc<dyn KvStore> {
        let store = ays_store::open("mem://").unwrap();
        if let Some(bytes) = lock {
            store.put(keys::RUN_LOCK, bytes).unwrap();
        }
        store
    }

    #[test]
    fn a_free_lock_is_taken() {
        let store = store_with(None);
        let ours = holder("r2", "here", std::process::id(), 2_000);
        let bytes = encode(&ours);
        assert!(try_take(store.as_ref(), &ours, &bytes, LEASE, 1_000).unwrap());
        assert_eq!(store.get(keys::RUN_LOCK).unwrap(), Some(bytes));
    }

    #[test]
    fn a_live_holder_is_named_and_kept() {
        let live = encode(&holder("r1", "elsewhere", DEAD_PID, 5_000));
        let store = store_with(Some(&live));
        let ours = holder("r2", "here", std::process::id(), 2_000);
        match try_take(store.as_ref(), &ours, &encode(&ours), LEASE, 1_000) {
            Err(CoreError::RunLocked {
                run,
                host,
                pid,
                since_ms,
            }) => assert_eq!(
                (run.as_str(), host.as_str(), pid, since_ms),
                ("r1", "elsewhere", DEAD_PID, 1)
            ),
            other => panic!("expected RunLocked, got {other:?}"),
        }
        assert_eq!(store.get(keys::RUN_LOCK).unwrap(), Some(live));
    }

    #[test]
    fn expired_and_dead_local_holders_are_taken_over() {
        let expired = holder("r1", "elsewhere", 1, 1_000);
        let dead_here = holder("r1", "here", DEAD_PID, 5_000);
        for stale in [expired, dead_here] {
            let store = store_with(Some(&encode(&stale)));
            let ours = holder("r2", "here", std::process::id(), 2_000);
            let bytes = encode(&ours);
            assert!(try_take(store.as_ref(), &ours, &bytes, LEASE, 1_000).unwrap());
            assert_eq!(store.get(keys::RUN_LOCK).unwrap(), Some(bytes));
        }
    }

    #[test]
    fn an_unreadable_lock_is_corrupt_and_kept() {
        let store = store_with(Some(b"not json"));
        let ours = holder("r2", "here", std::process::id(), 2_000);
        match try_take(store.as_ref(), &ours, &encode(&ours), LEASE, 1_000) {
            Err(CoreError::Corrupt { key, .. }) => assert_eq!(key, "lock/run"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(
            store.get(keys::RUN_LOCK).unwrap().as_deref(),
            Some(&b"not json"[..])
        );
    }
}
