//! The atomic batch: puts and deletes applied all or nothing, guarded by optional preconditions.

use std::time::Duration;

/// A set of writes that a store applies atomically, with [`KvStore::commit`](crate::KvStore::commit).
///
/// A batch holds *preconditions* and *writes*. On commit the store checks every precondition and,
/// only if all hold, applies every write in the order it was added (a later write to the same key
/// wins), all in one atomic step: other clients see either none of the writes or all of them. If a
/// precondition does not hold, the commit fails with [`StoreError::Conflict`](crate::StoreError)
/// naming the first failing key, and nothing is written. This is how a batch fails by design;
/// a batch without preconditions only fails on backend errors, which also leave nothing written.
///
/// ```
/// use ays_store::{Batch, StoreError};
///
/// let store = ays_store::open("mem://")?;
/// let mut batch = Batch::new();
/// batch.put(b"a", b"1").put(b"b", b"2").delete(b"c");
/// store.commit(&batch)?;
/// assert_eq!(store.get(b"b")?, Some(b"2".to_vec()));
///
/// // A precondition that fails leaves the store untouched.
/// let mut guarded = Batch::new();
/// guarded.require_absent(b"a").put(b"z", b"26");
/// assert!(matches!(store.commit(&guarded), Err(StoreError::Conflict { .. })));
/// assert_eq!(store.get(b"z")?, None);
/// # Ok::<(), StoreError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    preconditions: Vec<Precondition>,
    writes: Vec<Write>,
}

/// A condition a [`Batch`] checks on one key before it writes anything.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precondition {
    /// The key is absent (never written, deleted, or expired).
    Absent {
        /// The key.
        key: Vec<u8>,
    },
    /// The key is present and its whole value equals `expected`, byte for byte.
    Equals {
        /// The key.
        key: Vec<u8>,
        /// The value the key must hold.
        expected: Vec<u8>,
    },
}

impl Precondition {
    /// The key this precondition checks.
    pub fn key(&self) -> &[u8] {
        match self {
            Precondition::Absent { key } | Precondition::Equals { key, .. } => key,
        }
    }
}

/// One write of a [`Batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// Store `value` at `key`, expiring after `ttl` if given (else never, clearing any old expiry).
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// How long the key lives; `None` for ever.
        ttl: Option<Duration>,
    },
    /// Remove `key`; removing an absent key is not an error.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl Write {
    /// The key this write touches.
    pub fn key(&self) -> &[u8] {
        match self {
            Write::Put { key, .. } | Write::Delete { key } => key,
        }
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put of `value` at `key`, without expiry.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.writes.push(Write::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            ttl: None,
        });
        self
    }

    /// As [`Batch::put`], taking the bytes as they are, without a copy (a blueprint of 100,000
    /// services puts a million entries).
    pub fn put_owned(&mut self, key: Vec<u8>, value: Vec<u8>) -> &mut Self {
        self.writes.push(Write::Put {
            key,
            value,
            ttl: None,
        });
        self
    }

    /// Adds a put of `value` at `key` that expires after `ttl` (which must not be zero).
    pub fn put_with_ttl(&mut self, key: &[u8], value: &[u8], ttl: Duration) -> &mut Self {
        self.writes.push(Write::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            ttl: Some(ttl),
        });
        self
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.writes.push(Write::Delete { key: key.to_vec() });
        self
    }

    /// As [`Batch::delete`], taking the key as it is, without a copy.
    pub fn delete_owned(&mut self, key: Vec<u8>) -> &mut Self {
        self.writes.push(Write::Delete { key });
        self
    }

    /// Requires `key` to be absent when the batch commits.
    pub fn require_absent(&mut self, key: &[u8]) -> &mut Self {
        self.preconditions
            .push(Precondition::Absent { key: key.to_vec() });
        self
    }

    /// Requires `key` to hold exactly `expected` when the batch commits.
    pub fn require_value(&mut self, key: &[u8], expected: &[u8]) -> &mut Self {
        self.preconditions.push(Precondition::Equals {
            key: key.to_vec(),
            expected: expected.to_vec(),
        });
        self
    }

    /// The preconditions, in the order they were added.
    pub fn preconditions(&self) -> &[Precondition] {
        &self.preconditions
    }

    /// The writes, in the order they were added.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// Whether the batch holds neither preconditions nor writes.
    pub fn is_empty(&self) -> bool {
        self.preconditions.is_empty() && self.writes.is_empty()
    }

    /// Checks the arguments every backend rejects alike: a zero TTL.
    pub(crate) fn validate(&self) -> Result<(), crate::StoreError> {
        for write in &self.writes {
            if let Write::Put {
                key,
                ttl: Some(ttl),
                ..
            } = write
            {
                crate::store::check_ttl("commit", key, *ttl)?;
            }
        }
        Ok(())
    }
}
