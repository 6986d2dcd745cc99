//! The key value store of AYS: one [`KvStore`] trait and its backends, chosen by URL.
//!
//! All AYS state (actors, services, runs, jobs) lives in a key value store. This crate defines
//! what such a store does (get, put, delete, an ordered prefix scan that pages, atomic batches,
//! compare-and-swap, keys with an expiry) and provides three backends:
//!
//! | URL | backend | for |
//! |---|---|---|
//! | `mem://` or `mem://NAME` | in memory; `NAME` shares one store within the process | tests |
//! | `redb:///path/file.redb` | [redb], one file, no server, durable commits | the default |
//! | `redis://host:port/db` | a Redis server (feature `redis`) | a shared store |
//! | `redis+cluster://host:port[,host:port...]` | a Redis Cluster, from its seed nodes (feature `redis`) | a shared, replicated store |
//!
//! Every store is opened on a *namespace* ([`open_namespaced`]; [`open`] uses
//! [`DEFAULT_NAMESPACE`]): one per repository. Stores on different namespaces of one file or
//! server never see each other's keys.
//!
//! **What this crate must not know:** values are opaque bytes to it: it knows nothing of
//! services, and no `redis::` or `redb::` type appears in its public API.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use ays_store::{Batch, KvStore, StoreError};
//!
//! let store = ays_store::open("mem://")?;
//! store.put(b"service/web", b"v1")?;
//! assert_eq!(store.get(b"service/web")?, Some(b"v1".to_vec()));
//!
//! // Compare-and-swap: update only if nobody changed the value meanwhile.
//! assert!(store.put_if_unchanged(b"service/web", b"v1", b"v2", None)?);
//! assert!(!store.put_if_unchanged(b"service/web", b"v1", b"v3", None)?);
//!
//! // A lock that frees itself after 30 seconds.
//! assert!(store.put_if_absent(b"lock/web", b"me", Some(Duration::from_secs(30)))?);
//!
//! // An atomic batch, then an ordered, paged prefix scan.
//! let mut batch = Batch::new();
//! batch.put(b"service/db", b"v1").delete(b"lock/web");
//! store.commit(&batch)?;
//! let page = store.scan_prefix(b"service/", None, 10)?;
//! let keys: Vec<&[u8]> = page.entries.iter().map(|(k, _)| k.as_slice()).collect();
//! assert_eq!(keys, [&b"service/db"[..], &b"service/web"[..]]);
//! assert_eq!(page.next, None);
//! # Ok::<(), StoreError>(())
//! ```
//!
//! # Redis layout
//!
//! A Redis store on namespace `ns` keeps each value at `{ns}:k:<key bytes>` (with a Redis
//! expiry for TTL puts) and an ordered index at `{ns}:i`, a sorted set of the raw keys at score
//! 0. The `{ns}` hash tag keeps a namespace in one Redis Cluster slot. Prefix scans page through
//! the index with `ZRANGEBYLEX` inside a Lua script that skips, and removes from the index, keys
//! that have expired. Writes update value and index in one `MULTI … EXEC`; batches with
//! preconditions (compare-and-swap) run as one Lua script. Connects time out after 2 s, reads
//! and writes after 3 s, so a dead server is a [`StoreError::Connection`] naming `host:port`,
//! never a hang; the same store reconnects by itself once the server is back.
//!
//! A Redis Cluster store finds the master owning its namespace's slot (`CLUSTER SLOTS` from the
//! seeds) and runs the same code against it; on `MOVED`, `CLUSTERDOWN` or a connection error it
//! re-reads the slot map and retries once, and it follows `ASK`. While the slot migrates, a call
//! whose keys are split between two masters (`TRYAGAIN`) is retried with a backoff for up to
//! 5 s, and scans read the moved values through `ASK`. After each write it waits up to 1 s for one
//! replica (`WAIT 1 1000`) and logs a warning if none acknowledged: until a replica has the
//! write, a failover of that master loses it.
//!
//! A message queue ([`open_queue`]) on namespace `ns` keeps stream `s` at `{ns}:q:<s>`, a Redis
//! stream whose entries hold the body in one field, `b`; consumer groups are the stream's own.
//! It shares the store's slot, timeouts and retry rule; see [`queue`] for the commands.
//!
//! # Modules
//!
//! - `key`: the [`Key`] type and prefix-range arithmetic.
//! - `batch`: [`Batch`], its [`Precondition`]s and [`Write`]s.
//! - `store`: the [`KvStore`] trait, [`Page`] and the [`Scan`] iterator.
//! - `error`: [`StoreError`] and the opaque [`BackendError`].
//! - `memory`, `embedded`, `redis`, `cluster`: the backends (see each `open_*` below); the
//!   connection pool, timeouts and retry rule of both Redis backends are in `redis::connection`.
//! - `queue`: the [`MessageQueue`] trait and [`open_queue`]; `memory_queue` and `redis_queue`
//!   (Redis Streams, on a server or a cluster) are its backends.
//! - `read_only`: the view [`open_read_only`] returns, which refuses every write.
//! - `conformance` (feature `conformance`): the rules every backend must pass, as macros:
//!   `store_conformance!` for stores, `queue_conformance!` for message queues.
//! - `testing` (feature `conformance`): `testing::RedisServer`, a throw-away `redis-server`,
//!   and `testing::FaultyStore`, which fails every write after the first N.
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod batch;
#[cfg(feature = "redis")]
mod cluster;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "embedded")]
mod embedded;
mod error;
mod key;
mod memory;
mod memory_queue;
pub mod queue;
mod read_only;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_queue;
mod store;
#[cfg(feature = "conformance")]
pub mod testing;

use std::sync::Arc;

pub use crate::batch::{Batch, Precondition, Write};
pub use crate::error::{BackendError, StoreError};
pub use crate::key::Key;
pub use crate::queue::{Delivery, Message, MessageId, MessageQueue, PendingCount, open_queue};
pub use crate::store::{KvStore, Page, Scan};

/// The namespace [`open`] uses.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The longest namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 200;

/// Opens the store at `url` on the [`DEFAULT_NAMESPACE`].
///
/// # Errors
/// As [`open_namespaced`].
pub fn open(url: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    open_namespaced(url, DEFAULT_NAMESPACE)
}

/// Opens the store at `url` on `namespace`.
///
/// A namespace is 1 to [`MAX_NAMESPACE_LEN`] printable ASCII characters other than space, `{`
/// and `}` (Redis uses it as a cluster hash tag). `mem://` opens a new private store; `mem://NAME`
/// opens the process-wide store `NAME` (created on first open, freed when the last handle drops).
/// `redb://PATH` opens or creates the database file at `PATH` (`redb:///abs/file.redb`); several
/// opens of one file in a process share one database. `redis://host:port/db` connects lazily: a
/// server that is down shows as [`StoreError::Connection`] on the first call, not here.
/// `redis+cluster://host:port[,host:port...]` (seed nodes of a Redis Cluster) connects lazily
/// too.
///
/// # Errors
/// [`StoreError::InvalidUrl`] for a malformed URL or unknown scheme,
/// [`StoreError::BackendDisabled`] for a backend left out of this build,
/// [`StoreError::InvalidNamespace`], and [`StoreError::Backend`] when the redb file cannot be
/// opened or created.
pub fn open_namespaced(url: &str, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    check_namespace(namespace)?;
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: "expected `scheme://…` with scheme mem, redb, redis or redis+cluster"
                .to_owned(),
        })?;
    match scheme {
        "mem" => Ok(memory::open(rest, namespace)),
        "redb" => open_redb(url, rest, namespace),
        "redis" => open_redis(url, namespace),
        "redis+cluster" => open_redis_cluster(url, namespace),
        other => Err(StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: format!("unknown scheme `{other}`, expected mem, redb, redis or redis+cluster"),
        }),
    }
}

/// Opens the store at `url` on `namespace` like [`open_namespaced`], but never creates one: a
/// `redb://` file that does not exist is [`StoreError::Missing`] (a mistyped path must not
/// become a new, empty store). `mem://` and `redis://` stores have nothing to create.
///
/// # Errors
/// [`StoreError::Missing`], and those of [`open_namespaced`].
pub fn open_existing(url: &str, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    if let Some(path) = url.strip_prefix("redb://")
        && !path.is_empty()
        && !std::path::Path::new(path).exists()
    {
        return Err(StoreError::Missing {
            url: url.to_owned(),
        });
    }
    open_namespaced(url, namespace)
}

/// Opens the existing store at `url` on `namespace` for reading only. Like
/// [`open_existing`], it never creates a store. Every write through it (`put`, `delete`,
/// `commit` and what is built on them) fails with [`StoreError::ReadOnly`], and the backend is
/// opened so that it writes nothing: a `redb://` file is opened with redb's read-only handle,
/// which needs no write permission on the file, leaves its bytes as they are, and sees the
/// commits that writers in other processes make meanwhile.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let url = format!("redb://{}", dir.path().join("s.redb").display());
/// ays_store::open_namespaced(&url, "ns")?.put(b"k", b"v")?;
/// let reader = ays_store::open_read_only(&url, "ns")?;
/// assert_eq!(reader.get(b"k")?, Some(b"v".to_vec()));
/// assert!(matches!(
///     reader.put(b"k", b"w"),
///     Err(ays_store::StoreError::ReadOnly { op: "put", .. })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`StoreError::NeedsRepair`] for a redb file a dead writer left unclean that this process
/// may not write (one it may write is repaired as it opens), and those of [`open_existing`].
pub fn open_read_only(url: &str, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    if let Some(path) = url.strip_prefix("redb://")
        && !path.is_empty()
    {
        if !std::path::Path::new(path).exists() {
            return Err(StoreError::Missing {
                url: url.to_owned(),
            });
        }
        check_namespace(namespace)?;
        return open_redb_read_only(url, path, namespace);
    }
    let store = open_namespaced(url, namespace)?;
    Ok(read_only::wrap(store, url.to_owned()))
}

#[cfg(feature = "embedded")]
fn open_redb_read_only(
    _url: &str,
    path: &str,
    namespace: &str,
) -> Result<Arc<dyn KvStore>, StoreError> {
    embedded::open_read_only(std::path::Path::new(path), namespace)
}

#[cfg(not(feature = "embedded"))]
fn open_redb_read_only(
    url: &str,
    _path: &str,
    _namespace: &str,
) -> Result<Arc<dyn KvStore>, StoreError> {
    Err(StoreError::BackendDisabled {
        url: url.to_owned(),
        feature: "embedded",
    })
}

#[cfg(feature = "embedded")]
fn open_redb(url: &str, path: &str, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    if path.is_empty() {
        return Err(StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: "missing file path, expected redb:///path/file.redb".to_owned(),
        });
    }
    embedded::open(std::path::Path::new(path), namespace)
}

#[cfg(not(feature = "embedded"))]
fn open_redb(url: &str, _path: &str, _namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    Err(StoreError::BackendDisabled {
        url: url.to_owned(),
        feature: "embedded",
    })
}

#[cfg(feature = "redis")]
fn open_redis(url: &str, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    redis::open(url, namespace)
}

#[cfg(not(feature = "redis"))]
fn open_redis(url: &str, _namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    Err(StoreError::BackendDisabled {
        url: url.to_owned(),
        feature: "redis",
    })
}

#[cfg(feature = "redis")]
fn open_redis_cluster(url: &str, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    cluster::open(url, namespace)
}

#[cfg(not(feature = "redis"))]
fn open_redis_cluster(url: &str, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    open_redis(url, namespace)
}

fn check_namespace(namespace: &str) -> Result<(), StoreError> {
    let reason = if namespace.is_empty() {
        Some("must not be empty")
    } else if namespace.len() > MAX_NAMESPACE_LEN {
        Some("longer than 200 bytes")
    } else if !namespace
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
    {
        Some("only printable ASCII other than space, `{` and `}` is allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StoreError::InvalidNamespace {
            namespace: namespace.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_accept_printable_ascii_but_no_braces() {
        assert!(check_namespace("ays:repo/one_2.x-y").is_ok());
        for (bad, reason) in [
            ("", "must not be empty"),
            (
                "a{",
                "only printable ASCII other than space, `{` and `}` is allowed",
            ),
            (
                "é",
                "only printable ASCII other than space, `{` and `}` is allowed",
            ),
            (
                "a\tb",
                "only printable ASCII other than space, `{` and `}` is allowed",
            ),
        ] {
            match check_namespace(bad) {
                Err(StoreError::InvalidNamespace {
                    namespace,
                    reason: got,
                }) => {
                    assert_eq!((namespace.as_str(), got), (bad, reason));
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[cfg(feature = "embedded")]
    #[test]
    fn open_existing_never_creates_a_redb_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("mistyped.redb");
        let url = format!("redb://{}", path.display());
        let err = open_existing(&url, "ns").err().unwrap();
        assert!(
            matches!(&err, StoreError::Missing { url: u } if *u == url),
            "{err}"
        );
        assert!(!path.exists(), "nothing was created");
        // Once created, it opens.
        open_namespaced(&url, "ns").unwrap();
        assert!(open_existing(&url, "ns").is_ok());
        assert!(open_existing("mem://", "ns").is_ok());
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn redis_url_without_the_feature_names_it() {
        let err = open("redis://127.0.0.1:6379/0").unwrap_err();
        assert!(matches!(
            err,
            StoreError::BackendDisabled {
                feature: "redis",
                ..
            }
        ));
    }
}
