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

impl Repository {
    /// Takes the run lock for run `run`, taking over a stale one.
    ///
    /// # Errors
    ///
    /// [`CoreError::RunLocked`] naming the live holder, [`CoreError::Store`],
    /// [`CoreError::Corrupt`] for an unreadable lock (remove it with
    /// [`Repository::force_unlock`]).
    pub fn lock_run(&self, run: &str, options: &RunLockOptions) -> Result<RunLock, CoreError> {
        let store = self.store();
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
            let taken = if store
                .put_if_absent(keys::RUN_LOCK, &bytes, Some(options.lease))
                .map_err(CoreError::store("take the run lock"))?
            {
                true
            } else {
                let Some(current) = store
                    .get(keys::RUN_LOCK)
                    .map_err(CoreError::store("read the run lock"))?
                else {
                    continue;
                };
                let holder = decode(&current)?;
                if !holder.is_stale(now, &host) {
                    return Err(CoreError::RunLocked {
                        run: holder.run,
                        host: holder.host,
                        pid: holder.pid,
                        since_ms: holder.since_ms,
                    });
                }
                let took = store
                    .put_if_unchanged(keys::RUN_LOCK, &current, &bytes, Some(options.lease))
                    .map_err(CoreError::store("take over the run lock"))?;
                if took {
                    tracing::warn!(run, stale_run = %holder.run, stale_pid = holder.pid, stale_host = %holder.host, "took over a stale run lock");
                }
                took
            };
            if taken {
                let (tx, rx) = mpsc::channel();
                let renewer = {
                    let store = Arc::clone(store);
                    let info = info.clone();
                    let lease = options.lease;
                    std::thread::Builder::new()
                        .name("ays-run-lock".into())
                        .spawn(move || renew(store, bytes, info, lease, rx))
                        .map_err(CoreError::io(
                            "cannot start the run lock renewal",
                            self.root(),
                        ))?
                };
                tracing::debug!(run, "run lock taken");
                return Ok(RunLock {
                    store: Arc::clone(store),
                    info,
                    stop: Some(tx),
                    renewer: Some(renewer),
                });
            }
        }
        match self.run_lock_holder()? {
            Some(holder) => Err(CoreError::RunLocked {
                run: holder.run,
                host: holder.host,
                pid: holder.pid,
                since_ms: holder.since_ms,
            }),
            None => Err(CoreError::RunLocked {
                run: String::new(),
                host: String::new(),
                pid: 0,
                since_ms: 0,
            }),
        }
    }

    /// Who holds the run lock, if anybody.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn run_lock_holder(&self) -> Result<Option<RunLockInfo>, CoreError> {
        self.store()
            .get(keys::RUN_LOCK)
            .map_err(CoreError::store("read the run lock"))?
            .map(|b| decode(&b))
            .transpose()
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
        let holder = before.and_then(|b| decode(&b).ok());
        tracing::warn!(holder = ?holder, "run lock removed by force");
        Ok(holder)
    }
}
