//! The rules every [`KvStore`] backend must pass (feature `conformance`).
//!
//! Each rule is a function taking a [`Fixture`] (a backing store that can open several
//! namespaces) and failing by `assert!` or by returning an error. The macro
//! [`store_conformance!`](crate::store_conformance) turns every rule into a `#[test]`, so a
//! backend's test file is a fixture constructor and one macro call:
//!
//! ```
//! fn fresh() -> ays_store::conformance::Fixture {
//!     ays_store::conformance::Fixture::memory()
//! }
//! ays_store::store_conformance!(fresh);
//! # fn main() {}
//! ```
//!
//! The rules: [`every_operation`], [`empty_and_large_values`], [`binary_keys`],
//! [`scan_pagination`], [`concurrent_writers`], [`failed_batch_writes_nothing`],
//! [`cas_one_winner`], [`put_if_unchanged_rejects_stale`], [`expiry`], [`namespaces_isolate`],
//! and [`model`], which applies random operation sequences to the store and to a `BTreeMap` and
//! compares them after every step, in the style of redb's fuzzer.
//!
//! The rules every [`MessageQueue`] backend must pass are in [`queue`], turned into tests by
//! [`queue_conformance!`](crate::queue_conformance) on the same [`Fixture`].

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::{Batch, Key, KvStore, MessageQueue, Page, StoreError};

mod model;
pub mod queue;

pub use model::model;

/// A backing store for one test: a URL, and whatever must live as long as it (a temporary
/// directory, a [`RedisServer`](crate::testing::RedisServer)).
pub struct Fixture {
    url: String,
    _guard: Box<dyn Any + Send>,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

fn unique(stem: &str) -> String {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    format!("{stem}-{}-{n}", std::process::id())
}

impl Fixture {
    /// A fixture on `url`, keeping `guard` alive as long as the fixture.
    pub fn new(url: impl Into<String>, guard: impl Any + Send) -> Self {
        Fixture {
            url: url.into(),
            _guard: Box::new(guard),
        }
    }

    /// A fixture on a new in-memory store shared by all its namespaces (`mem://NAME`).
    pub fn memory() -> Self {
        Fixture::new(format!("mem://{}", unique("conformance")), ())
    }

    /// The URL the fixture opens.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A store on `namespace` of this fixture's backing.
    ///
    /// # Errors
    /// As [`open_namespaced`](crate::open_namespaced).
    pub fn open(&self, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
        crate::open_namespaced(&self.url, namespace)
    }

    /// A store on a namespace no other call has used: an empty store.
    ///
    /// # Errors
    /// As [`open_namespaced`](crate::open_namespaced).
    pub fn fresh(&self) -> Result<Arc<dyn KvStore>, StoreError> {
        self.open(&unique("ns"))
    }

    /// The message queue on `namespace` of this fixture's backing.
    ///
    /// # Errors
    /// As [`open_queue`](crate::open_queue).
    pub fn open_queue(&self, namespace: &str) -> Result<Arc<dyn MessageQueue>, StoreError> {
        crate::open_queue(&self.url, namespace)
    }

    /// A message queue on a namespace no other call has used: a queue without streams.
    ///
    /// # Errors
    /// As [`open_queue`](crate::open_queue).
    pub fn fresh_queue(&self) -> Result<Arc<dyn MessageQueue>, StoreError> {
        self.open_queue(&unique("ns"))
    }
}

/// Expands to one `#[test]` per conformance rule; `$fixture` is a function returning a fresh
/// [`Fixture`], called once per test.
#[macro_export]
macro_rules! store_conformance {
    ($fixture:path) => {
        $crate::store_conformance!(@rules $fixture;
            every_operation,
            empty_and_large_values,
            binary_keys,
            scan_pagination,
            concurrent_writers,
            failed_batch_writes_nothing,
            cas_one_winner,
            put_if_unchanged_rejects_stale,
            expiry,
            namespaces_isolate,
            get_many_reads_like_get,
            large_batch,
            model,
        );
    };
    (@rules $fixture:path; $($rule:ident,)*) => {
        $(
            #[test]
            fn $rule() -> ::std::result::Result<(), $crate::StoreError> {
                let fixture = $fixture();
                $crate::conformance::$rule(&fixture)
            }
        )*
    };
}

fn keys_of(page: &Page) -> Vec<Vec<u8>> {
    page.entries.iter().map(|(k, _)| k.clone()).collect()
}

/// Key value pairs, as a scan returns them.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn scan_all(store: &dyn KvStore, prefix: &[u8], page_size: usize) -> Result<Entries, StoreError> {
    store.scan(prefix, page_size).collect()
}

/// `get_many` gives what `get` gives for each key, in order, absent keys included.
pub fn get_many_reads_like_get(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    assert_eq!(store.get_many(&[])?, Vec::<Option<Vec<u8>>>::new());
    assert_eq!(store.get_many(&[b"a", b"b"])?, [None, None]);
    store.put(b"a", b"1")?;
    store.put(b"c", b"")?;
    store.put(b"gone", b"x")?;
    store.delete(b"gone")?;
    let keys: [&[u8]; 5] = [b"c", b"a", b"b", b"gone", b"a"];
    let one_by_one: Vec<Option<Vec<u8>>> = keys
        .iter()
        .map(|k| store.get(k))
        .collect::<Result<_, _>>()?;
    assert_eq!(store.get_many(&keys)?, one_by_one);
    assert_eq!(
        one_by_one,
        [
            Some(b"".to_vec()),
            Some(b"1".to_vec()),
            None,
            None,
            Some(b"1".to_vec())
        ]
    );
    Ok(())
}

/// Every operation does what it says, and bad arguments are typed errors naming the key.
pub fn every_operation(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    assert_eq!(store.get(b"k")?, None);
    store.put(b"k", b"v1")?;
    assert_eq!(store.get(b"k")?, Some(b"v1".to_vec()));
    store.put(b"k", b"v2")?;
    assert_eq!(store.get(b"k")?, Some(b"v2".to_vec()));
    assert!(store.delete(b"k")?);
    assert!(!store.delete(b"k")?);
    assert_eq!(store.get(b"k")?, None);

    store.put_with_ttl(b"lease", b"me", Duration::from_secs(60))?;
    assert_eq!(store.get(b"lease")?, Some(b"me".to_vec()));

    let mut batch = Batch::new();
    batch
        .put(b"a", b"1")
        .put(b"b", b"2")
        .put(b"c", b"3")
        .delete(b"c");
    store.commit(&batch)?;
    store.commit(&Batch::new())?;
    let page = store.scan_prefix(b"", None, usize::MAX)?;
    assert_eq!(
        page,
        store.scan_prefix(b"", None, 10)?,
        "a huge limit is no limit"
    );
    assert_eq!(
        page.entries,
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
            (b"lease".to_vec(), b"me".to_vec()),
        ]
    );
    assert_eq!(page.next, None);

    assert!(store.put_if_absent(b"new", b"x", None)?);
    assert!(!store.put_if_absent(b"new", b"y", None)?);
    assert!(store.put_if_unchanged(b"new", b"x", b"z", None)?);
    assert!(!store.delete_if_unchanged(b"new", b"x")?);
    assert!(store.delete_if_unchanged(b"new", b"z")?);
    assert_eq!(store.get(b"new")?, None);

    match store.put_with_ttl(b"t\x00", b"v", Duration::ZERO) {
        Err(StoreError::InvalidArgument { op, key, .. }) => {
            assert_eq!((op, key), ("put_with_ttl", Key::from(&b"t\x00"[..])));
        }
        other => panic_on("zero ttl", &other),
    }
    match store.scan_prefix(b"p", None, 0) {
        Err(StoreError::InvalidArgument { op, key, .. }) => {
            assert_eq!((op, key), ("scan_prefix", Key::from(&b"p"[..])));
        }
        other => panic_on("zero limit", &other),
    }
    let mut zero_ttl = Batch::new();
    zero_ttl
        .put(b"ok", b"v")
        .put_with_ttl(b"z", b"v", Duration::ZERO);
    assert!(matches!(
        store.commit(&zero_ttl),
        Err(StoreError::InvalidArgument { op: "commit", .. })
    ));
    assert_eq!(store.get(b"ok")?, None);
    Ok(())
}

#[expect(
    clippy::panic,
    reason = "a conformance rule fails its test by panicking, as assert! does"
)]
fn panic_on<T: std::fmt::Debug>(what: &str, got: &T) -> ! {
    panic!("{what}: unexpected result {got:?}")
}

/// An empty value is stored (and differs from an absent key); a 1 MiB value round-trips.
pub fn empty_and_large_values(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    store.put(b"empty", b"")?;
    assert_eq!(store.get(b"empty")?, Some(Vec::new()));
    assert!(!store.put_if_absent(b"empty", b"x", None)?);
    assert!(store.put_if_unchanged(b"empty", b"", b"", None)?);

    let large: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    store.put(b"large", &large)?;
    assert_eq!(store.get(b"large")?.as_deref(), Some(large.as_slice()));
    let mut batch = Batch::new();
    batch.require_value(b"large", &large).put(b"large2", &large);
    store.commit(&batch)?;
    let page = store.scan_prefix(b"", None, 10)?;
    assert_eq!(
        keys_of(&page),
        vec![b"empty".to_vec(), b"large".to_vec(), b"large2".to_vec()]
    );
    assert_eq!(page.entries.get(2).map(|(_, v)| v.len()), Some(large.len()));
    assert_eq!(page.entries.first().map(|(_, v)| v.len()), Some(0));
    Ok(())
}

/// Keys are arbitrary bytes, including 0x00 and 0xFF, and scans order them bytewise.
pub fn binary_keys(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    let keys: [&[u8]; 9] = [
        b"",
        b"\x00",
        b"\x00\x00",
        b"\x00\xff",
        b"a",
        b"a\x00b",
        b"a\xff",
        b"\xff",
        b"\xff\xff",
    ];
    // Written in reverse so that order comes from the store, not from insertion.
    for (i, key) in keys.iter().enumerate().rev() {
        store.put(key, &[u8::try_from(i).unwrap_or(u8::MAX)])?;
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            store.get(key)?,
            Some(vec![u8::try_from(i).unwrap_or(u8::MAX)])
        );
    }
    let all: Vec<Vec<u8>> = scan_all(store.as_ref(), b"", 2)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(all, keys.iter().map(|k| k.to_vec()).collect::<Vec<_>>());

    let zero = keys_of(&store.scan_prefix(b"\x00", None, 10)?);
    assert_eq!(
        zero,
        vec![b"\x00".to_vec(), b"\x00\x00".to_vec(), b"\x00\xff".to_vec()]
    );
    let ff = keys_of(&store.scan_prefix(b"\xff", None, 10)?);
    assert_eq!(ff, vec![b"\xff".to_vec(), b"\xff\xff".to_vec()]);
    let a = keys_of(&store.scan_prefix(b"a", Some(b"a"), 10)?);
    assert_eq!(a, vec![b"a\x00b".to_vec(), b"a\xff".to_vec()]);
    assert!(store.delete(b"\x00")?);
    assert!(store.delete(b"")?);
    let zero = keys_of(&store.scan_prefix(b"\x00", None, 10)?);
    assert_eq!(zero, vec![b"\x00\x00".to_vec(), b"\x00\xff".to_vec()]);
    Ok(())
}

/// Paging with `after` visits every key under a prefix once, in order, and nothing outside it.
pub fn scan_pagination(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    let mut batch = Batch::new();
    batch
        .put(b"o", b"outside-before")
        .put(b"q", b"outside-after");
    let expected: Vec<Vec<u8>> = (0..500u32)
        .map(|i| format!("p/{i:05}").into_bytes())
        .collect();
    for key in &expected {
        batch.put(key, key);
    }
    store.commit(&batch)?;

    let mut seen = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    let mut pages = 0;
    loop {
        let page = store.scan_prefix(b"p/", after.as_deref(), 7)?;
        pages += 1;
        assert!(page.entries.len() <= 7);
        for (key, value) in &page.entries {
            assert_eq!(key, value);
        }
        seen.extend(keys_of(&page));
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), seen.last());
                after = Some(next);
            }
            None => break,
        }
        assert!(pages <= 100, "pagination does not terminate");
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 72);

    let streamed: Vec<Vec<u8>> = scan_all(store.as_ref(), b"p/", 64)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(streamed, expected);
    // A cursor before the prefix starts at the prefix; one past it yields nothing.
    let page = store.scan_prefix(b"p/", Some(b"a"), 2)?;
    assert_eq!(
        keys_of(&page),
        vec![b"p/00000".to_vec(), b"p/00001".to_vec()]
    );
    assert_eq!(page.next, Some(b"p/00001".to_vec()));
    let page = store.scan_prefix(b"p/", Some(b"p/00499"), 2)?;
    assert_eq!(page, Page::default());
    let page = store.scan_prefix(b"p/", Some(b"z"), 2)?;
    assert_eq!(page, Page::default());
    Ok(())
}

/// A batch of 20,000 writes (more than a backend sends at once) applies whole: puts, puts with
/// a TTL, deletes of keys stored before, keys written several times, whose last write wins.
pub fn large_batch(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    let mut before = Batch::new();
    for i in 0..1_000u32 {
        before.put(format!("d/{i:05}").as_bytes(), b"old");
    }
    store.commit(&before)?;
    let mut batch = Batch::new();
    for i in 0..18_000u32 {
        let key = format!("p/{i:05}").into_bytes();
        batch.put_owned(key.clone(), key);
    }
    for i in 0..1_000u32 {
        batch.put_with_ttl(
            format!("t/{i:05}").as_bytes(),
            b"ttl",
            std::time::Duration::from_secs(600),
        );
        batch.delete_owned(format!("d/{i:05}").into_bytes());
    }
    batch.put(b"p/00000", b"last");
    // Writes to one key keep their order, wherever a backend applies the others.
    batch.delete(b"p/00001");
    batch.put(b"p/00001", b"again");
    batch.delete(b"p/00002");
    store.commit(&batch)?;
    let puts = scan_all(store.as_ref(), b"p/", 1024)?;
    assert_eq!(puts.len(), 17_999);
    assert_eq!(puts.first().map(|(_, v)| v.as_slice()), Some(&b"last"[..]));
    assert_eq!(puts.get(1).map(|(_, v)| v.as_slice()), Some(&b"again"[..]));
    assert!(puts.iter().skip(2).all(|(k, v)| k == v));
    assert_eq!(store.get(b"p/00002")?, None);
    assert_eq!(scan_all(store.as_ref(), b"t/", 1024)?.len(), 1_000);
    assert_eq!(scan_all(store.as_ref(), b"d/", 1024)?, Vec::new());
    Ok(())
}

/// Sixteen threads writing at once through one shared store: every write is visible afterwards.
pub fn concurrent_writers(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    let barrier = Barrier::new(16);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16u8)
            .map(|t| {
                let store = Arc::clone(&store);
                let barrier = &barrier;
                scope.spawn(move || -> Result<(), StoreError> {
                    barrier.wait();
                    for i in 0..20u8 {
                        store.put(&[b't', t, i], &[t, i])?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(result) => result?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok::<(), StoreError>(())
    })?;
    let all = scan_all(store.as_ref(), b"t", 50)?;
    assert_eq!(all.len(), 16 * 20);
    for (key, value) in &all {
        assert_eq!(key.get(1..), Some(value.as_slice()));
    }
    Ok(())
}

/// A batch whose precondition fails writes nothing and names the failing key; one whose
/// preconditions hold writes everything.
pub fn failed_batch_writes_nothing(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    store.put(b"keep", b"old")?;
    store.put(b"guard", b"v1")?;
    let before = scan_all(store.as_ref(), b"", 10)?;

    let mut batch = Batch::new();
    batch
        .require_absent(b"fresh")
        .require_value(b"guard", b"stale")
        .put(b"keep", b"new")
        .put(b"fresh", b"1")
        .put_with_ttl(b"leased", b"1", Duration::from_secs(60))
        .delete(b"guard");
    match store.commit(&batch) {
        Err(StoreError::Conflict { key }) => assert_eq!(key, Key::from(&b"guard"[..])),
        other => panic_on("failing precondition", &other),
    }
    assert_eq!(scan_all(store.as_ref(), b"", 10)?, before);

    let mut absent_fails = Batch::new();
    absent_fails.require_absent(b"keep").put(b"fresh", b"1");
    assert!(
        matches!(store.commit(&absent_fails), Err(StoreError::Conflict { ref key }) if key.as_bytes() == b"keep")
    );
    assert_eq!(scan_all(store.as_ref(), b"", 10)?, before);

    let mut holds = Batch::new();
    holds
        .require_absent(b"fresh")
        .require_value(b"guard", b"v1")
        .put(b"keep", b"new")
        .put(b"fresh", b"1")
        .delete(b"guard");
    store.commit(&holds)?;
    assert_eq!(
        scan_all(store.as_ref(), b"", 10)?,
        vec![
            (b"fresh".to_vec(), b"1".to_vec()),
            (b"keep".to_vec(), b"new".to_vec())
        ]
    );
    Ok(())
}

/// Sixteen threads racing `put_if_absent` on one key: exactly one wins and its value stays.
pub fn cas_one_winner(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    for round in 0..3u8 {
        let key = [b'l', round];
        let barrier = Barrier::new(16);
        let wins: Vec<(u8, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16u8)
                .map(|t| {
                    let store = Arc::clone(&store);
                    let barrier = &barrier;
                    scope.spawn(move || -> Result<(u8, bool), StoreError> {
                        barrier.wait();
                        Ok((
                            t,
                            store.put_if_absent(&key, &[t], Some(Duration::from_secs(60)))?,
                        ))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h.join() {
                    Ok(result) => result,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        let winners: Vec<u8> = wins
            .iter()
            .filter(|(_, won)| *won)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(winners.len(), 1, "winners: {winners:?}");
        assert_eq!(store.get(&key)?, Some(winners));
    }
    Ok(())
}

/// `put_if_unchanged` writes only over the exact expected value, and never over an absent key.
pub fn put_if_unchanged_rejects_stale(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    assert!(!store.put_if_unchanged(b"k", b"", b"v", None)?);
    assert_eq!(store.get(b"k")?, None);
    store.put(b"k", b"v1")?;
    assert!(store.put_if_unchanged(b"k", b"v1", b"v2", None)?);
    assert!(!store.put_if_unchanged(b"k", b"v1", b"v3", None)?);
    assert!(!store.put_if_unchanged(b"k", b"v", b"v3", None)?);
    assert!(!store.put_if_unchanged(b"k", b"v22", b"v3", None)?);
    assert_eq!(store.get(b"k")?, Some(b"v2".to_vec()));
    assert!(!store.delete_if_unchanged(b"k", b"v1")?);
    assert_eq!(store.get(b"k")?, Some(b"v2".to_vec()));

    // Sixteen threads each increment a counter by read-modify-CAS: no update is lost.
    store.put(b"counter", b"0")?;
    let barrier = Barrier::new(16);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                let barrier = &barrier;
                scope.spawn(move || -> Result<(), StoreError> {
                    barrier.wait();
                    for _ in 0..5 {
                        loop {
                            let current = store.get(b"counter")?.unwrap_or_default();
                            let n: u32 = std::str::from_utf8(&current)
                                .ok()
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(u32::MAX);
                            let next = n.saturating_add(1).to_string();
                            if store.put_if_unchanged(
                                b"counter",
                                &current,
                                next.as_bytes(),
                                None,
                            )? {
                                break;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(result) => result?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok::<(), StoreError>(())
    })?;
    assert_eq!(store.get(b"counter")?, Some(b"80".to_vec()));
    Ok(())
}

/// A key with a short TTL becomes invisible to get, scan and preconditions; `put` clears a TTL.
pub fn expiry(fx: &Fixture) -> Result<(), StoreError> {
    let store = fx.fresh()?;
    let ttl = Duration::from_millis(150);
    store.put_with_ttl(b"x/short", b"1", ttl)?;
    assert!(store.put_if_absent(b"x/lock", b"me", Some(ttl))?);
    let mut batch = Batch::new();
    batch.put_with_ttl(b"x/batched", b"3", ttl);
    store.commit(&batch)?;
    store.put_with_ttl(b"x/renewed", b"2", ttl)?;
    store.put(b"x/renewed", b"2")?;
    store.put(b"x/forever", b"4")?;
    assert_eq!(store.get(b"x/short")?, Some(b"1".to_vec()));

    let deadline = Instant::now() + Duration::from_secs(10);
    while store.get(b"x/short")?.is_some()
        || store.get(b"x/batched")?.is_some()
        || store.get(b"x/lock")?.is_some()
    {
        assert!(
            Instant::now() < deadline,
            "keys with a {ttl:?} ttl still visible after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        scan_all(store.as_ref(), b"x/", 2)?,
        vec![
            (b"x/forever".to_vec(), b"4".to_vec()),
            (b"x/renewed".to_vec(), b"2".to_vec())
        ]
    );
    // A page full of expired keys still finds the live ones behind them.
    assert_eq!(
        keys_of(&store.scan_prefix(b"x/", None, 1)?),
        vec![b"x/forever".to_vec()]
    );
    assert!(!store.delete(b"x/short")?);
    assert!(!store.put_if_unchanged(b"x/lock", b"me", b"again", None)?);
    assert!(store.put_if_absent(b"x/lock", b"other", None)?);
    assert_eq!(store.get(b"x/lock")?, Some(b"other".to_vec()));
    Ok(())
}

/// Stores on different namespaces of one backing never see each other's keys.
pub fn namespaces_isolate(fx: &Fixture) -> Result<(), StoreError> {
    let base = unique("iso");
    let a = fx.open(&base)?;
    let b = fx.open(&format!("{base}.b"))?;
    let again = fx.open(&base)?;
    a.put(b"k", b"a")?;
    b.put(b"k", b"b")?;
    a.put(b"only-a", b"1")?;
    assert_eq!(a.get(b"k")?, Some(b"a".to_vec()));
    assert_eq!(b.get(b"k")?, Some(b"b".to_vec()));
    assert_eq!(
        again.get(b"k")?,
        Some(b"a".to_vec()),
        "same namespace, same data"
    );
    assert_eq!(b.get(b"only-a")?, None);
    assert_eq!(
        scan_all(b.as_ref(), b"", 10)?,
        vec![(b"k".to_vec(), b"b".to_vec())]
    );
    assert!(b.put_if_absent(b"only-a", b"b", None)?);
    assert!(a.delete(b"k")?);
    assert_eq!(b.get(b"k")?, Some(b"b".to_vec()));
    let mut batch = Batch::new();
    batch.require_absent(b"k").put(b"k", b"a2");
    a.commit(&batch)?;
    assert_eq!(b.get(b"k")?, Some(b"b".to_vec()));
    assert_eq!(
        scan_all(a.as_ref(), b"", 10)?,
        vec![
            (b"k".to_vec(), b"a2".to_vec()),
            (b"only-a".to_vec(), b"1".to_vec())
        ]
    );
    Ok(())
}
