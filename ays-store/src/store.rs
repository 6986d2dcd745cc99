//! The `KvStore` trait, the `Page` of a prefix scan, and the iterator that streams pages.

use std::fmt;
use std::time::Duration;

use crate::{Batch, Key, StoreError};

/// A key value store: binary keys, opaque binary values, ordered prefix scans, atomic batches,
/// compare-and-swap and expiry.
///
/// Implementations are synchronous and `Send + Sync`: share one as `Arc<dyn KvStore>` between
/// threads, each call is independent. A store is bound to one namespace, and sees only its keys.
///
/// Expiry: a key written with a TTL disappears once the TTL has passed. An expired key is absent
/// for every operation: [`get`](Self::get) returns `None`, scans skip it, and a
/// [`Batch::require_absent`] precondition holds for it.
///
/// Backends implement six methods; compare-and-swap comes for free from [`commit`](Self::commit).
pub trait KvStore: Send + Sync + fmt::Debug {
    /// The value at `key`, or `None` if the key is absent or expired.
    ///
    /// # Errors
    /// [`StoreError::Connection`] or [`StoreError::Backend`] when the backend fails,
    /// [`StoreError::Corrupt`] when the stored bytes are not what this crate wrote.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The values at `keys`, in order, as [`get`](Self::get) would give them one by one, read
    /// at once where the backend can (one read transaction, one round trip).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Stores `value` at `key`, replacing any value and clearing any expiry.
    ///
    /// # Errors
    /// [`StoreError::Connection`] or [`StoreError::Backend`] when the backend fails.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Stores `value` at `key`, to expire after `ttl`. Used for locks and leases.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] for a zero `ttl`, else as [`put`](Self::put).
    fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Removes `key`; returns whether a live (unexpired) value was there.
    ///
    /// # Errors
    /// [`StoreError::Connection`] or [`StoreError::Backend`] when the backend fails.
    fn delete(&self, key: &[u8]) -> Result<bool, StoreError>;

    /// One page of the live entries whose key starts with `prefix`, in ascending byte order of
    /// keys, starting strictly after `after` (or at the first key of the prefix when `after` is
    /// `None`), with at most `limit` entries. Pass the page's [`Page::next`] as `after` to read the
    /// following page; [`scan`](trait.KvStore.html#method.scan) does it for you.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] for a zero `limit`, else as [`get`](Self::get).
    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Page, StoreError>;

    /// Checks the batch's preconditions and applies its writes, all or nothing (see [`Batch`]).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] naming the first precondition that does not hold (nothing is
    /// written), [`StoreError::InvalidArgument`] for a zero TTL, else as [`put`](Self::put).
    fn commit(&self, batch: &Batch) -> Result<(), StoreError>;

    /// Stores `value` at `key` only if the key is absent (or expired); returns whether it wrote.
    ///
    /// Exactly one of many concurrent callers on the same absent key wins. With a `ttl` this is a
    /// lock or lease: the key frees itself when the holder stops renewing it.
    ///
    /// # Errors
    /// As [`commit`](Self::commit), except that a lost race is `Ok(false)`, not an error.
    fn put_if_absent(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut batch = Batch::new();
        batch.require_absent(key);
        put_into(&mut batch, key, value, ttl);
        conflict_to_false(self.commit(&batch))
    }

    /// Stores `value` at `key` only if the key currently holds exactly `expected` (compared byte for
    /// byte with the whole current value; an absent or expired key never matches); returns whether
    /// it wrote. Read a value, compute a new one, and write it back with this to update without
    /// losing a concurrent update: on `false`, read again and retry. With a `ttl` it renews a lease.
    ///
    /// # Errors
    /// As [`commit`](Self::commit), except that a stale `expected` is `Ok(false)`, not an error.
    fn put_if_unchanged(
        &self,
        key: &[u8],
        expected: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut batch = Batch::new();
        batch.require_value(key, expected);
        put_into(&mut batch, key, value, ttl);
        conflict_to_false(self.commit(&batch))
    }

    /// Removes `key` only if it currently holds exactly `expected`; returns whether it removed it.
    /// This releases a lock without releasing somebody else's.
    ///
    /// # Errors
    /// As [`commit`](Self::commit), except that a stale `expected` is `Ok(false)`, not an error.
    fn delete_if_unchanged(&self, key: &[u8], expected: &[u8]) -> Result<bool, StoreError> {
        let mut batch = Batch::new();
        batch.require_value(key, expected).delete(key);
        conflict_to_false(self.commit(&batch))
    }
}

fn put_into(batch: &mut Batch, key: &[u8], value: &[u8], ttl: Option<Duration>) {
    match ttl {
        Some(ttl) => batch.put_with_ttl(key, value, ttl),
        None => batch.put(key, value),
    };
}

fn conflict_to_false(result: Result<(), StoreError>) -> Result<bool, StoreError> {
    match result {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

impl dyn KvStore + '_ {
    /// Streams every live entry under `prefix`, in key order, reading `page_size` entries per call
    /// to [`scan_prefix`](KvStore::scan_prefix), so only one page sits in memory at a time.
    ///
    /// Entries written while the scan runs may or may not be seen; no entry is seen twice.
    ///
    /// ```
    /// let store = ays_store::open("mem://")?;
    /// for i in 0..10u8 {
    ///     store.put(&[b'k', i], &[i])?;
    /// }
    /// let keys: Vec<Vec<u8>> = store
    ///     .scan(b"k", 3)
    ///     .map(|entry| entry.map(|(key, _value)| key))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(keys.len(), 10);
    /// # Ok::<(), ays_store::StoreError>(())
    /// ```
    pub fn scan<'a>(&'a self, prefix: &'a [u8], page_size: usize) -> Scan<'a> {
        Scan {
            store: self,
            prefix,
            page_size,
            after: None,
            page: Vec::new().into_iter(),
            done: false,
        }
    }
}

/// One page of a prefix scan: entries in ascending key order, and where the next page starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The `(key, value)` entries of this page, in ascending key order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// The cursor for the next page (the last key of this page) when this page is full, so more
    /// entries may follow; `None` when the scan is complete. A full page may be followed by an
    /// empty one.
    pub next: Option<Vec<u8>>,
}

impl Page {
    /// A page from its entries, setting [`next`](Self::next) as every backend does: the last key
    /// when `entries.len()` reached `limit`, else `None`.
    pub fn from_entries(entries: Vec<(Vec<u8>, Vec<u8>)>, limit: usize) -> Self {
        let next = if entries.len() >= limit {
            entries.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        Page { entries, next }
    }
}

/// The iterator returned by [`scan`](trait.KvStore.html#method.scan); it stops after the first error.
pub struct Scan<'a> {
    store: &'a dyn KvStore,
    prefix: &'a [u8],
    page_size: usize,
    after: Option<Vec<u8>>,
    page: std::vec::IntoIter<(Vec<u8>, Vec<u8>)>,
    done: bool,
}

impl fmt::Debug for Scan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scan")
            .field("prefix", &Key::from(self.prefix))
            .field("page_size", &self.page_size)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.page.next() {
                return Some(Ok(entry));
            }
            if self.done {
                return None;
            }
            match self
                .store
                .scan_prefix(self.prefix, self.after.as_deref(), self.page_size)
            {
                Ok(page) => {
                    self.done = page.next.is_none();
                    self.after = page.next;
                    self.page = page.entries.into_iter();
                }
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            }
        }
    }
}

/// Rejects a zero TTL, which no backend can honour (Redis refuses `PX 0`).
pub(crate) fn check_ttl(op: &'static str, key: &[u8], ttl: Duration) -> Result<(), StoreError> {
    if ttl.is_zero() {
        return Err(StoreError::InvalidArgument {
            op,
            key: Key::from(key),
            reason: "ttl must be greater than zero",
        });
    }
    Ok(())
}

/// Rejects a zero page size, which could never make progress.
pub(crate) fn check_limit(prefix: &[u8], limit: usize) -> Result<(), StoreError> {
    if limit == 0 {
        return Err(StoreError::InvalidArgument {
            op: "scan_prefix",
            key: Key::from(prefix),
            reason: "limit must be greater than zero",
        });
    }
    Ok(())
}
