//! The embedded backend (`redb://PATH`): one redb file, no server, durable commits.
//!
//! Layout: one redb table per namespace, named `ns:<namespace>`, mapping the key bytes to an
//! envelope `[expiry: u64 big-endian, unix milliseconds, 0 = never][value bytes]`. Every write is
//! one redb write transaction with the default `Durability::Immediate`, so a returned `Ok` is on
//! disk. redb serialises write transactions; readers never block. Expired entries are skipped on
//! read, and removed when next written or when a scan steps over them.
//!
//! The file is opened in redb's multi-writer mode, so several processes may have it open at once
//! (an `ays run` executing while another `ays` command reads or changes the repository); redb
//! still runs one write transaction at a time across them. Within a process redb refuses to open
//! one file twice, so open databases are shared through a registry keyed by canonical path and
//! freed when the last store on them drops.
//!
//! A store opened read-only ([`open_read_only`]) opens the file with redb's read-only handle in
//! the same multi-writer mode, so it needs no write permission, follows the commits of writers
//! in other processes, and never changes the file: not even the header a writer's close
//! records. A file left unclean by a writer that died needs a repair, which only a writer can
//! make; the read-only open then makes it through a writer when the file may be written, and
//! otherwise fails with [`StoreError::NeedsRepair`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{
    ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable,
    StorageError, TableDefinition, TableError,
};

use crate::batch::{Precondition, Write};
use crate::key::{prefix_end, scan_bounds};
use crate::store::{check_limit, check_ttl};
use crate::{BackendError, Batch, Key, KvStore, Page, StoreError};

/// Open databases of this process, by canonical path.
static DATABASES: Mutex<BTreeMap<PathBuf, Weak<Database>>> = Mutex::new(BTreeMap::new());
/// Databases of this process opened read-only, by canonical path.
static READERS: Mutex<BTreeMap<PathBuf, Weak<ReadOnlyDatabase>>> = Mutex::new(BTreeMap::new());

/// Bytes of the expiry header in front of every stored value.
const HEADER: usize = 8;

/// The most memory redb may hold as its page cache (redb's default is 1 GiB). redb keeps
/// every page it writes in that cache, so a big write (a run of 200,000 jobs writes about
/// 1 GB of pages) filled it and made up most of the process's peak memory; the kernel's page
/// cache keeps the file's hot pages anyway.
const CACHE_BYTES: usize = 64 << 20;

/// A store on one namespace (one table) of a redb file.
#[derive(Debug)]
struct EmbeddedStore {
    db: Handle,
    path: String,
    table: String,
}

/// How a store holds its database.
enum Handle {
    /// Opened for reading and writing.
    Writer(Arc<Database>),
    /// Opened read-only: every write is [`StoreError::ReadOnly`].
    Reader(Arc<ReadOnlyDatabase>),
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // redb's read-only handle has no `Debug`; which kind of handle it is is what matters.
        f.write_str(match self {
            Handle::Writer(_) => "Writer",
            Handle::Reader(_) => "Reader",
        })
    }
}

impl Handle {
    fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Handle::Writer(db) => db.begin_read(),
            Handle::Reader(db) => db.begin_read(),
        }
    }
}

fn builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .set_cache_size(CACHE_BYTES);
    builder
}

/// Opens (or creates) the redb file at `path` and returns a store on `namespace`.
pub(crate) fn open(path: &Path, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    let canonical = canonical(path);
    let shown = canonical.display().to_string();
    let db = writer(canonical, &shown)?;
    tracing::debug!(path = %shown, namespace, "opened embedded store");
    Ok(Arc::new(EmbeddedStore {
        db: Handle::Writer(db),
        path: shown,
        table: format!("ns:{namespace}"),
    }))
}

/// The writer of this process on the file at `canonical`, opened (or created) if needed.
fn writer(canonical: PathBuf, shown: &str) -> Result<Arc<Database>, StoreError> {
    let mut databases = DATABASES.lock().unwrap_or_else(PoisonError::into_inner);
    databases.retain(|_, weak| weak.strong_count() > 0);
    if let Some(db) = databases.get(&canonical).and_then(Weak::upgrade) {
        return Ok(db);
    }
    let db = builder()
        .create(&canonical)
        .map_err(|err| open_error(shown, err))?;
    let db = Arc::new(db);
    databases.insert(canonical, Arc::downgrade(&db));
    Ok(db)
}

/// Opens the existing redb file at `path` read-only and returns a store on `namespace` that
/// refuses every write.
///
/// A writer this process already holds on the file is shared rather than a second handle
/// opened beside it; the store returned refuses writes whichever handle it reads through.
pub(crate) fn open_read_only(path: &Path, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    let canonical = canonical(path);
    let shown = canonical.display().to_string();
    let table = format!("ns:{namespace}");
    {
        let mut databases = DATABASES.lock().unwrap_or_else(PoisonError::into_inner);
        databases.retain(|_, weak| weak.strong_count() > 0);
        if let Some(db) = databases.get(&canonical).and_then(Weak::upgrade) {
            tracing::debug!(path = %shown, namespace, "read-only store shares this process's writer");
            let store = Arc::new(EmbeddedStore {
                db: Handle::Writer(db),
                path: shown.clone(),
                table,
            });
            return Ok(crate::read_only::wrap(store, shown));
        }
    }
    let mut readers = READERS.lock().unwrap_or_else(PoisonError::into_inner);
    readers.retain(|_, weak| weak.strong_count() > 0);
    let db = match readers.get(&canonical).and_then(Weak::upgrade) {
        Some(db) => Handle::Reader(db),
        None => match builder().open_read_only(&canonical) {
            Ok(db) => {
                let db = Arc::new(db);
                readers.insert(canonical, Arc::downgrade(&db));
                Handle::Reader(db)
            }
            Err(DatabaseError::RepairAborted) => {
                // A read-only handle cannot repair a file a dead writer left unclean; a writer
                // repairs it as it opens, where the file may be written.
                drop(readers);
                tracing::info!(path = %shown, "the store needs a repair: opening it for writing");
                match writer(canonical, &shown) {
                    Ok(db) => Handle::Writer(db),
                    Err(StoreError::NotWritable { store, .. }) => {
                        return Err(StoreError::NeedsRepair { store });
                    }
                    Err(err) => return Err(err),
                }
            }
            Err(err) => return Err(open_error(&shown, err)),
        },
    };
    tracing::debug!(path = %shown, namespace, "opened embedded store read-only");
    let store = Arc::new(EmbeddedStore {
        db,
        path: shown.clone(),
        table,
    });
    Ok(crate::read_only::wrap(store, shown))
}

/// The error of opening the file at `shown`: [`StoreError::NotWritable`] when the file may
/// not be written (by this user, or on a read-only file system).
fn open_error(shown: &str, err: DatabaseError) -> StoreError {
    if let DatabaseError::Storage(StorageError::Io(io)) = &err
        && matches!(
            io.kind(),
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
        )
    {
        return StoreError::NotWritable {
            store: shown.to_owned(),
            source: BackendError::redb(err),
        };
    }
    backend(shown, "open", err)
}

/// The canonical form of `path`, which may not exist yet: its parent is canonicalised instead.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(path) = path.canonicalize() {
        return path;
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), path.file_name()) {
        (Ok(parent), Some(name)) => parent.join(name),
        _ => path.to_path_buf(),
    }
}

fn backend(path: &str, op: &'static str, err: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend {
        store: path.to_owned(),
        op,
        source: BackendError::redb(err),
    }
}

fn now_millis() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

fn encode(value: &[u8], ttl: Option<Duration>, now: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + value.len());
    encode_into(&mut out, value, ttl, now);
    out
}

/// Replaces the contents of `out` with the envelope of `value`, so that a batch of a million
/// writes reuses one buffer.
fn encode_into(out: &mut Vec<u8>, value: &[u8], ttl: Option<Duration>, now: u64) {
    let expiry = match ttl {
        // Round up so that a sub-millisecond TTL still expires after `ttl`, never before.
        Some(ttl) => {
            let millis = u64::try_from(ttl.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
            now.saturating_add(millis.max(1))
        }
        None => 0,
    };
    out.clear();
    out.extend_from_slice(&expiry.to_be_bytes());
    out.extend_from_slice(value);
}

/// The live value inside a stored envelope, `None` if expired.
fn decode<'v>(
    path: &str,
    key: &[u8],
    stored: &'v [u8],
    now: u64,
) -> Result<Option<&'v [u8]>, StoreError> {
    let (expiry, value) =
        stored
            .split_first_chunk::<HEADER>()
            .ok_or_else(|| StoreError::Corrupt {
                store: path.to_owned(),
                key: Key::from(key),
                reason: format!(
                    "stored entry has {} bytes, less than its header",
                    stored.len()
                ),
            })?;
    let expiry = u64::from_be_bytes(*expiry);
    Ok((expiry == 0 || expiry > now).then_some(value))
}

impl EmbeddedStore {
    fn definition(&self) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
        TableDefinition::new(&self.table)
    }

    fn write_txn<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut redb::Table<'_, &'static [u8], &'static [u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Handle::Writer(db) = &self.db else {
            return Err(StoreError::ReadOnly {
                store: self.path.clone(),
                op,
            });
        };
        let txn = db.begin_write().map_err(|e| backend(&self.path, op, e))?;
        let result = {
            let mut table = txn
                .open_table(self.definition())
                .map_err(|e| backend(&self.path, op, e))?;
            f(&mut table)
        };
        match result {
            Ok(value) => {
                txn.commit().map_err(|e| backend(&self.path, op, e))?;
                Ok(value)
            }
            Err(err) => {
                txn.abort().map_err(|e| backend(&self.path, op, e))?;
                Err(err)
            }
        }
    }

    /// Runs `f` on the namespace's table in a read transaction; `None` if the table is not created yet.
    fn read_txn<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(
            Option<&redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
        ) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| backend(&self.path, op, e))?;
        match txn.open_table(self.definition()) {
            Ok(table) => f(Some(&table)),
            Err(TableError::TableDoesNotExist(_)) => f(None),
            Err(e) => Err(backend(&self.path, op, e)),
        }
    }

    fn live_in(
        &self,
        table: &impl ReadableTable<&'static [u8], &'static [u8]>,
        op: &'static str,
        key: &[u8],
        now: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(guard) = table.get(key).map_err(|e| backend(&self.path, op, e))? else {
            return Ok(None);
        };
        Ok(decode(&self.path, key, guard.value(), now)?.map(<[u8]>::to_vec))
    }

    /// Removes the `expired` keys that are still expired, as Redis reclaims expired keys. The scan
    /// that found them has its answer already, so a failure here is logged, not returned. A
    /// read-only store leaves them to the next writer.
    fn reclaim(&self, expired: &[Vec<u8>], now: u64) {
        if matches!(self.db, Handle::Reader(_)) {
            return;
        }
        let result = self.write_txn("reclaim_expired", |table| {
            for key in expired {
                if self.live_in(table, "reclaim_expired", key, now)?.is_none() {
                    table
                        .remove(key.as_slice())
                        .map_err(|e| backend(&self.path, "reclaim_expired", e))?;
                }
            }
            Ok(())
        });
        if let Err(err) = result {
            tracing::warn!(path = %self.path, error = %err, "could not reclaim expired entries");
        }
    }

    fn put_entry(
        &self,
        op: &'static str,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let stored = encode(value, ttl, now_millis());
        self.write_txn(op, |table| {
            table
                .insert(key, stored.as_slice())
                .map_err(|e| backend(&self.path, op, e))?;
            Ok(())
        })
    }
}

impl KvStore for EmbeddedStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let now = now_millis();
        self.read_txn("get", |table| match table {
            Some(table) => self.live_in(table, "get", key, now),
            None => Ok(None),
        })
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let now = now_millis();
        self.read_txn("get_many", |table| match table {
            Some(table) => keys
                .iter()
                .map(|k| self.live_in(table, "get_many", k, now))
                .collect(),
            None => Ok(vec![None; keys.len()]),
        })
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.put_entry("put", key, value, None)
    }

    fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        check_ttl("put_with_ttl", key, ttl)?;
        self.put_entry("put_with_ttl", key, value, Some(ttl))
    }

    fn delete(&self, key: &[u8]) -> Result<bool, StoreError> {
        let now = now_millis();
        self.write_txn("delete", |table| {
            let Some(old) = table
                .remove(key)
                .map_err(|e| backend(&self.path, "delete", e))?
            else {
                return Ok(false);
            };
            Ok(decode(&self.path, key, old.value(), now)?.is_some())
        })
    }

    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        check_limit(prefix, limit)?;
        let now = now_millis();
        let end = prefix_end(prefix);
        let Some((lower, upper)) = scan_bounds(prefix, after, end.as_deref()) else {
            return Ok(Page::default());
        };
        let (entries, expired) = self.read_txn("scan_prefix", |table| {
            let mut entries = Vec::new();
            let mut expired = Vec::new();
            let Some(table) = table else {
                return Ok((entries, expired));
            };
            let range = table
                .range::<&[u8]>((lower, upper))
                .map_err(|e| backend(&self.path, "scan_prefix", e))?;
            for item in range {
                let (key, stored) = item.map_err(|e| backend(&self.path, "scan_prefix", e))?;
                match decode(&self.path, key.value(), stored.value(), now)? {
                    Some(value) => {
                        entries.push((key.value().to_vec(), value.to_vec()));
                        if entries.len() >= limit {
                            break;
                        }
                    }
                    None => expired.push(key.value().to_vec()),
                }
            }
            Ok((entries, expired))
        })?;
        if !expired.is_empty() {
            self.reclaim(&expired, now);
        }
        Ok(Page::from_entries(entries, limit))
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        batch.validate()?;
        let now = now_millis();
        self.write_txn("commit", |table| {
            for precondition in batch.preconditions() {
                let key = precondition.key();
                // Compared where redb holds it, without a copy: a run's journal guards every
                // service its batch changes.
                let stored = table
                    .get(key)
                    .map_err(|e| backend(&self.path, "commit", e))?;
                let current = match &stored {
                    Some(guard) => decode(&self.path, key, guard.value(), now)?,
                    None => None,
                };
                let holds = match precondition {
                    Precondition::Absent { .. } => current.is_none(),
                    Precondition::Equals { expected, .. } => current == Some(expected.as_slice()),
                };
                if !holds {
                    return Err(StoreError::Conflict {
                        key: Key::from(precondition.key()),
                    });
                }
            }
            // In key order: redb's B-tree takes sorted inserts far faster (each page is filled
            // once, while it is hot), and a stable sort keeps the order of writes to one key.
            let mut writes: Vec<&Write> = batch.writes().iter().collect();
            writes.sort_by(|a, b| a.key().cmp(b.key()));
            let mut stored = Vec::new();
            for write in writes {
                match write {
                    Write::Put { key, value, ttl } => {
                        encode_into(&mut stored, value, *ttl, now);
                        table
                            .insert(key.as_slice(), stored.as_slice())
                            .map_err(|e| backend(&self.path, "commit", e))?;
                    }
                    Write::Delete { key } => {
                        table
                            .remove(key.as_slice())
                            .map_err(|e| backend(&self.path, "commit", e))?;
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_and_expires() {
        let stored = encode(b"v", Some(Duration::from_millis(5)), 1_000);
        assert_eq!(stored[..HEADER], 1_005u64.to_be_bytes());
        assert_eq!(decode("f", b"k", &stored, 1_004).unwrap(), Some(&b"v"[..]));
        assert_eq!(decode("f", b"k", &stored, 1_005).unwrap(), None);
        let forever = encode(b"", None, 1_000);
        assert_eq!(
            decode("f", b"k", &forever, u64::MAX).unwrap(),
            Some(&b""[..])
        );
    }

    proptest::proptest! {
        /// Stored bytes are input: decoding any of them returns a value or an error, never panics.
        #[test]
        fn decode_never_panics(stored in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24), now in proptest::prelude::any::<u64>()) {
            match decode("f", b"k", &stored, now) {
                Ok(Some(value)) => proptest::prop_assert_eq!(value, stored.get(HEADER..).unwrap_or_default()),
                Ok(None) => proptest::prop_assert!(stored.len() >= HEADER),
                Err(err) => {
                    let corrupt = matches!(err, StoreError::Corrupt { .. });
                    proptest::prop_assert!(corrupt && stored.len() < HEADER, "{:?}", err);
                }
            }
        }

        /// Encode then decode gives back the value while the TTL has not run out.
        #[test]
        fn envelope_round_trips(value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..16), ttl_ms in 1u64..1_000_000, now in 1u64..u64::MAX / 2) {
            let stored = encode(&value, Some(Duration::from_millis(ttl_ms)), now);
            proptest::prop_assert_eq!(decode("f", b"k", &stored, now).unwrap(), Some(value.as_slice()));
            proptest::prop_assert_eq!(decode("f", b"k", &stored, now + ttl_ms).unwrap(), None);
        }
    }

    #[test]
    fn scans_reclaim_expired_entries() {
        use redb::ReadableTableMetadata;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reclaim.redb");
        let store = open(&path, "ns").unwrap();
        store
            .put_with_ttl(b"gone", b"v", Duration::from_millis(1))
            .unwrap();
        store.put(b"kept", b"v").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.get(b"gone").unwrap().is_some() {
            assert!(std::time::Instant::now() < deadline, "entry never expired");
            std::thread::sleep(Duration::from_millis(2));
        }
        let db = DATABASES
            .lock()
            .unwrap()
            .get(&canonical(&path))
            .and_then(Weak::upgrade)
            .unwrap();
        let stored = || {
            let txn = db.begin_read().unwrap();
            let table = txn
                .open_table(TableDefinition::<&[u8], &[u8]>::new("ns:ns"))
                .unwrap();
            table.len().unwrap()
        };
        assert_eq!(stored(), 2, "expiry alone leaves the entry in the file");
        let page = store.scan_prefix(b"", None, 10).unwrap();
        assert_eq!(page.entries, vec![(b"kept".to_vec(), b"v".to_vec())]);
        assert_eq!(stored(), 1, "the scan reclaimed it");
    }

    #[test]
    fn open_error_names_a_file_that_may_not_be_written() {
        use std::io::{Error, ErrorKind};
        for kind in [ErrorKind::PermissionDenied, ErrorKind::ReadOnlyFilesystem] {
            match open_error("/r/s.redb", DatabaseError::from(Error::from(kind))) {
                StoreError::NotWritable { store, .. } => assert_eq!(store, "/r/s.redb"),
                other => panic!("{kind:?}: {other:?}"),
            }
        }
        match open_error(
            "/r/s.redb",
            DatabaseError::from(Error::from(ErrorKind::NotFound)),
        ) {
            StoreError::Backend { store, op, .. } => {
                assert_eq!((&*store, op), ("/r/s.redb", "open"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_envelope_is_corrupt_naming_the_key() {
        let err = decode("/x.redb", b"k\x00", b"abc", 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            r"store /x.redb holds corrupt data at key `k\x00`: stored entry has 3 bytes, less than its header"
        );
    }
}
