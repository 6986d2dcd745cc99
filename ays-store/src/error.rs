//! The one error type of the store, and the opaque wrapper that keeps backend errors out of the API.

use std::fmt;

use crate::key::Key;

/// Everything that can go wrong while opening or using a store.
///
/// Every variant names what it concerns: the URL, the server, the store or the key. The error of
/// the backend library (redb, redis) stays reachable through [`std::error::Error::source`] but is
/// wrapped in the opaque [`BackendError`], so no backend type leaks into this crate's API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL given to [`open`](crate::open) is malformed or names an unknown scheme.
    #[error("invalid store url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL names a backend that this build does not include.
    #[error("store url `{url}` needs the `{feature}` feature of ays-store, which this build lacks")]
    BackendDisabled {
        /// The URL as given.
        url: String,
        /// The cargo feature that would enable the backend.
        feature: &'static str,
    },
    /// [`open_existing`](crate::open_existing) found no store at the URL.
    #[error(
        "no store at `{url}`: the file does not exist (a mistyped path? `ays init` creates stores)"
    )]
    Missing {
        /// The URL as given.
        url: String,
    },
    /// The namespace is empty, too long or holds a forbidden character.
    #[error("invalid namespace `{namespace}`: {reason}")]
    InvalidNamespace {
        /// The namespace as given.
        namespace: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An argument is out of range, e.g. a zero TTL or a zero page size.
    #[error("invalid argument for `{op}` on key `{key}`: {reason}")]
    InvalidArgument {
        /// The operation called.
        op: &'static str,
        /// The key involved.
        key: Key,
        /// What is wrong.
        reason: &'static str,
    },
    /// The server could not be reached, or the connection broke or timed out.
    #[error("cannot reach store server {server} during `{op}`")]
    Connection {
        /// The server address, `host:port`.
        server: String,
        /// The operation that failed.
        op: &'static str,
        /// The cause.
        #[source]
        source: BackendError,
    },
    /// The backend reported an error (I/O, a failed command, a file that is not a database).
    #[error("store {store} failed during `{op}`")]
    Backend {
        /// The store: a file path or a server address.
        store: String,
        /// The operation that failed.
        op: &'static str,
        /// The cause.
        #[source]
        source: BackendError,
    },
    /// Stored bytes or a server reply do not have the shape this crate writes.
    #[error("store {store} holds corrupt data at key `{key}`: {reason}")]
    Corrupt {
        /// The store: a file path or a server address.
        store: String,
        /// The key involved.
        key: Key,
        /// What is wrong.
        reason: String,
    },
    /// A write on a store opened with [`open_read_only`](crate::open_read_only).
    #[error("store {store} is open read-only: `{op}` is refused")]
    ReadOnly {
        /// The store: a file path, a server address or a `mem://` URL.
        store: String,
        /// The write refused.
        op: &'static str,
    },
    /// The store's file may not be written by this user (or sits on a read-only file system),
    /// so it cannot be opened for a change; [`open_read_only`](crate::open_read_only) can still
    /// read it.
    #[error("store {store} is read-only to this process: it cannot be changed")]
    NotWritable {
        /// The file path.
        store: String,
        /// The cause.
        #[source]
        source: BackendError,
    },
    /// A writer died with the file open and left it for a repair, which only a process that may
    /// write the file can make.
    #[error(
        "store {store} was left unclean by a process that stopped while writing it and needs a \
         repair, which needs write access to the file"
    )]
    NeedsRepair {
        /// The file path.
        store: String,
    },
    /// A precondition of a [`Batch`](crate::Batch) did not hold, so nothing was written.
    #[error("batch precondition failed on key `{key}`: nothing was written")]
    Conflict {
        /// The key whose precondition failed.
        key: Key,
    },
}

impl StoreError {
    /// Whether this is a [`StoreError::Connection`]: the server was unreachable, retrying later may work.
    pub fn is_connection(&self) -> bool {
        matches!(self, StoreError::Connection { .. })
    }

    /// Whether this is a [`StoreError::Conflict`]: a batch precondition did not hold.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// An error of a backend library, kept opaque so that its type does not become part of this API.
///
/// Its `Display` is the backend's message; its `source` is the backend's own source, if any.
pub struct BackendError(Box<Inner>);

enum Inner {
    #[cfg(feature = "embedded")]
    Redb(redb::Error),
    #[cfg(feature = "redis")]
    Redis(redis::RedisError),
    /// A failure injected on purpose by a test wrapper.
    #[cfg(feature = "conformance")]
    Injected(String),
}

impl BackendError {
    #[cfg(feature = "embedded")]
    pub(crate) fn redb(err: impl Into<redb::Error>) -> Self {
        BackendError(Box::new(Inner::Redb(err.into())))
    }

    #[cfg(feature = "redis")]
    pub(crate) fn redis(err: redis::RedisError) -> Self {
        BackendError(Box::new(Inner::Redis(err)))
    }

    #[cfg(feature = "conformance")]
    pub(crate) fn injected(message: String) -> Self {
        BackendError(Box::new(Inner::Injected(message)))
    }
}

impl fmt::Debug for BackendError {
    #[cfg_attr(
        not(any(feature = "embedded", feature = "redis", feature = "conformance")),
        allow(unused_variables)
    )]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.0 {
            #[cfg(feature = "embedded")]
            Inner::Redb(ref e) => f.debug_tuple("Redb").field(e).finish(),
            #[cfg(feature = "redis")]
            Inner::Redis(ref e) => f.debug_tuple("Redis").field(e).finish(),
            #[cfg(feature = "conformance")]
            Inner::Injected(ref m) => f.debug_tuple("Injected").field(m).finish(),
        }
    }
}

impl fmt::Display for BackendError {
    #[cfg_attr(
        not(any(feature = "embedded", feature = "redis", feature = "conformance")),
        allow(unused_variables)
    )]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.0 {
            #[cfg(feature = "embedded")]
            Inner::Redb(ref e) => fmt::Display::fmt(e, f),
            #[cfg(feature = "redis")]
            Inner::Redis(ref e) => fmt::Display::fmt(e, f),
            #[cfg(feature = "conformance")]
            Inner::Injected(ref m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match *self.0 {
            #[cfg(feature = "embedded")]
            Inner::Redb(ref e) => e.source(),
            #[cfg(feature = "redis")]
            Inner::Redis(ref e) => e.source(),
            #[cfg(feature = "conformance")]
            Inner::Injected(_) => None,
        }
    }
}
