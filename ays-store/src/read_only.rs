//! The read-only view of a store: reads pass through, every write is [`StoreError::ReadOnly`].

use std::sync::Arc;
use std::time::Duration;

use crate::{Batch, KvStore, Page, StoreError};

/// A store that refuses every write, naming `store` (the file or URL) in the error.
#[derive(Debug)]
struct ReadOnlyStore {
    inner: Arc<dyn KvStore>,
    store: String,
}

/// `inner`, refusing every write with [`StoreError::ReadOnly`] naming `store`.
pub(crate) fn wrap(inner: Arc<dyn KvStore>, store: String) -> Arc<dyn KvStore> {
    Arc::new(ReadOnlyStore { inner, store })
}

impl ReadOnlyStore {
    fn refuse<T>(&self, op: &'static str) -> Result<T, StoreError> {
        Err(StoreError::ReadOnly {
            store: self.store.clone(),
            op,
        })
    }
}

impl KvStore for ReadOnlyStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.inner.get_many(keys)
    }

    fn put(&self, _key: &[u8], _value: &[u8]) -> Result<(), StoreError> {
        self.refuse("put")
    }

    fn put_with_ttl(&self, _key: &[u8], _value: &[u8], _ttl: Duration) -> Result<(), StoreError> {
        self.refuse("put_with_ttl")
    }

    fn delete(&self, _key: &[u8]) -> Result<bool, StoreError> {
        self.refuse("delete")
    }

    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.inner.scan_prefix(prefix, after, limit)
    }

    fn commit(&self, _batch: &Batch) -> Result<(), StoreError> {
        self.refuse("commit")
    }
}
