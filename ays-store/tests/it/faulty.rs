//! `FaultyStore`: writes fail after N, a failed write leaves nothing, and crash loops work.

use ays_store::testing::FaultyStore;
use ays_store::{Batch, KvStore, StoreError};

/// Three steps, each one atomic batch of two keys.
fn apply_steps(store: &dyn KvStore) -> Result<(), StoreError> {
    for step in 0..3u8 {
        let mut batch = Batch::new();
        batch.put(&[b'a', step], b"x").put(&[b'b', step], b"y");
        store.commit(&batch)?;
    }
    Ok(())
}

#[test]
fn a_crash_after_n_writes_leaves_exactly_n_whole_steps() {
    for n in 0..4u64 {
        let inner = ays_store::open("mem://").unwrap();
        let faulty = FaultyStore::wrap(inner.clone(), n);
        let result = apply_steps(faulty.as_ref());
        let entries = inner.scan_prefix(b"", None, 100).unwrap().entries;
        let expected = usize::try_from(n.min(3) * 2).unwrap();
        assert_eq!(entries.len(), expected, "after {n} writes");
        match (n, result) {
            (3, Ok(())) => {}
            (_, Err(err)) => assert_eq!(err.to_string(), "store faulty failed during `commit`"),
            (_, other) => panic!("n = {n}: {other:?}"),
        }
        faulty.heal();
        apply_steps(faulty.as_ref()).unwrap();
        assert_eq!(inner.scan_prefix(b"", None, 100).unwrap().entries.len(), 6);
    }
}

#[test]
fn injected_fault_names_the_write() {
    let faulty = FaultyStore::wrap(ays_store::open("mem://").unwrap(), 0);
    let err = faulty.put_if_absent(b"k", b"v", None).unwrap_err();
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some("injected fault: write 1 after the first 0")
    );
    assert_eq!(faulty.get(b"k").unwrap(), None);
    assert_eq!(faulty.writes(), 1);
}
