//! The in-memory backend (`mem://`), for tests and throw-away runs.
//!
//! One `Shared` holds every namespace of one store in a `BTreeMap` per namespace behind one
//! `RwLock`. The lock is held only for the map operation itself, never across I/O, so 16 threads
//! contend only briefly. Expired entries are skipped on read, and dropped when next written or
//! when a scan steps over them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use crate::batch::{Precondition, Write};
use crate::key::{prefix_end, scan_bounds};
use crate::store::{check_limit, check_ttl};
use crate::{Batch, Key, KvStore, Page, StoreError};

/// Named stores of this process (`mem://NAME`), kept while some handle is alive.
static NAMED: Mutex<BTreeMap<String, Weak<Shared>>> = Mutex::new(BTreeMap::new());

type Table = BTreeMap<Vec<u8>, Entry>;

#[derive(Debug, Default)]
struct Shared {
    namespaces: RwLock<HashMap<String, Table>>,
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// A store on one namespace of an in-memory `Shared`.
#[derive(Debug)]
struct MemoryStore {
    shared: Arc<Shared>,
    namespace: String,
}

/// The value named `name` in `registry`, made on first use and kept while a handle is alive;
/// a new private one when `name` is empty (`mem://`).
pub(crate) fn named<T: Default>(registry: &Mutex<BTreeMap<String, Weak<T>>>, name: &str) -> Arc<T> {
    if name.is_empty() {
        return Arc::new(T::default());
    }
    let mut named = registry.lock().unwrap_or_else(PoisonError::into_inner);
    named.retain(|_, weak| weak.strong_count() > 0);
    match named.get(name).and_then(Weak::upgrade) {
        Some(shared) => shared,
        None => {
            let shared = Arc::new(T::default());
            named.insert(name.to_owned(), Arc::downgrade(&shared));
            shared
        }
    }
}

/// Opens `mem://NAME` (`name` empty for a private store) on `namespace`.
pub(crate) fn open(name: &str, namespace: &str) -> Arc<dyn KvStore> {
    let shared = named(&NAMED, name);
    Arc::new(MemoryStore {
        shared,
        namespace: namespace.to_owned(),
    })
}

impl MemoryStore {
    fn read<T>(&self, f: impl FnOnce(Option<&Table>) -> T) -> T {
        let namespaces = self
            .shared
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f(namespaces.get(&self.namespace))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Table) -> T) -> T {
        let mut namespaces = self
            .shared
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        f(namespaces.entry(self.namespace.clone()).or_default())
    }
}

fn live_value<'t>(table: &'t Table, key: &[u8], now: Instant) -> Option<&'t [u8]> {
    table
        .get(key)
        .filter(|entry| entry.is_live(now))
        .map(|entry| entry.value.as_slice())
}

fn apply(table: &mut Table, write: &Write, now: Instant) {
    match write {
        Write::Put { key, value, ttl } => {
            let expires_at = ttl.map(|ttl| now.checked_add(ttl).unwrap_or(far_future(now)));
            table.insert(
                key.clone(),
                Entry {
                    value: value.clone(),
                    expires_at,
                },
            );
        }
        Write::Delete { key } => {
            table.remove(key);
        }
    }
}

/// A TTL too large for `Instant` means "practically never"; a century is far enough.
fn far_future(now: Instant) -> Instant {
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(century).unwrap_or(now)
}

impl KvStore for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        Ok(self.read(|table| {
            table
                .and_then(|t| live_value(t, key, now))
                .map(<[u8]>::to_vec)
        }))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let write = Write::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            ttl: None,
        };
        self.write(|table| apply(table, &write, Instant::now()));
        Ok(())
    }

    fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        check_ttl("put_with_ttl", key, ttl)?;
        let write = Write::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            ttl: Some(ttl),
        };
        self.write(|table| apply(table, &write, Instant::now()));
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self.write(|table| table.remove(key).is_some_and(|entry| entry.is_live(now))))
    }

    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        check_limit(prefix, limit)?;
        let now = Instant::now();
        let end = prefix_end(prefix);
        let Some((lower, upper)) = scan_bounds(prefix, after, end.as_deref()) else {
            return Ok(Page::default());
        };
        let (entries, expired) = self.read(|table| {
            let mut entries = Vec::new();
            let mut expired = Vec::new();
            let Some(table) = table else {
                return (entries, expired);
            };
            for (key, entry) in table.range::<[u8], _>((lower, upper)) {
                if !entry.is_live(now) {
                    expired.push(key.clone());
                } else {
                    entries.push((key.clone(), entry.value.clone()));
                    if entries.len() >= limit {
                        break;
                    }
                }
            }
            (entries, expired)
        });
        if !expired.is_empty() {
            // Reclaim what the scan stepped over, as Redis does; re-check, a put may have won.
            self.write(|table| {
                for key in expired {
                    if table.get(&key).is_some_and(|entry| !entry.is_live(now)) {
                        table.remove(&key);
                    }
                }
            });
        }
        Ok(Page::from_entries(entries, limit))
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        batch.validate()?;
        let now = Instant::now();
        self.write(|table| {
            for precondition in batch.preconditions() {
                let current = live_value(table, precondition.key(), now);
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
            for write in batch.writes() {
                apply(table, write, now);
            }
            Ok(())
        })
    }
}
