//! The model test: random operation sequences against a store and a `BTreeMap`, in the style of
//! redb's fuzzer.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::{Fixture, panic_on, scan_all};
use crate::{Batch, KvStore, Page, StoreError};

/// One step of the [`model`] test.
#[derive(Clone, Debug)]
enum Op {
    Get(Vec<u8>),
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    PutIfAbsent(Vec<u8>, Vec<u8>),
    PutIfUnchanged(Vec<u8>, Vec<u8>, Vec<u8>),
    Commit(
        Option<(Vec<u8>, Option<Vec<u8>>)>,
        Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ),
    Scan(Vec<u8>, Option<Vec<u8>>, usize),
}

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![0x00u8, 0x01, b'a', 0xfe, 0xff]),
        0..3,
    )
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![0x00u8, b'x', 0xff]), 0..3)
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let write = (key_strategy(), prop::option::of(value_strategy()));
    prop_oneof![
        key_strategy().prop_map(Op::Get),
        (key_strategy(), value_strategy()).prop_map(|(k, v)| Op::Put(k, v)),
        key_strategy().prop_map(Op::Delete),
        (key_strategy(), value_strategy()).prop_map(|(k, v)| Op::PutIfAbsent(k, v)),
        (key_strategy(), value_strategy(), value_strategy())
            .prop_map(|(k, e, v)| Op::PutIfUnchanged(k, e, v)),
        (
            prop::option::of((key_strategy(), prop::option::of(value_strategy()))),
            prop::collection::vec(write, 0..4)
        )
            .prop_map(|(check, writes)| Op::Commit(check, writes)),
        (key_strategy(), prop::option::of(key_strategy()), 1..4usize)
            .prop_map(|(p, a, l)| Op::Scan(p, a, l)),
    ]
}

fn to_case(err: StoreError) -> TestCaseError {
    TestCaseError::fail(format!("store error: {err}"))
}

/// Applies `op` to the store and to the model and fails if their results differ.
fn step(
    store: &dyn KvStore,
    model: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    op: &Op,
) -> Result<(), TestCaseError> {
    match op {
        Op::Get(k) => prop_assert_eq!(store.get(k).map_err(to_case)?, model.get(k).cloned()),
        Op::Put(k, v) => {
            store.put(k, v).map_err(to_case)?;
            model.insert(k.clone(), v.clone());
        }
        Op::Delete(k) => {
            prop_assert_eq!(store.delete(k).map_err(to_case)?, model.remove(k).is_some())
        }
        Op::PutIfAbsent(k, v) => {
            let expected = !model.contains_key(k);
            prop_assert_eq!(store.put_if_absent(k, v, None).map_err(to_case)?, expected);
            model.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Op::PutIfUnchanged(k, e, v) => {
            let expected = model.get(k) == Some(e);
            prop_assert_eq!(
                store.put_if_unchanged(k, e, v, None).map_err(to_case)?,
                expected
            );
            if expected {
                model.insert(k.clone(), v.clone());
            }
        }
        Op::Commit(check, writes) => {
            let mut batch = Batch::new();
            let holds = match check {
                None => true,
                Some((k, None)) => {
                    batch.require_absent(k);
                    !model.contains_key(k)
                }
                Some((k, Some(e))) => {
                    batch.require_value(k, e);
                    model.get(k) == Some(e)
                }
            };
            for (k, v) in writes {
                match v {
                    Some(v) => batch.put(k, v),
                    None => batch.delete(k),
                };
            }
            match store.commit(&batch) {
                Ok(()) => prop_assert!(holds, "commit succeeded though its precondition fails"),
                Err(StoreError::Conflict { .. }) => {
                    prop_assert!(!holds, "commit conflicted though its precondition holds")
                }
                Err(err) => return Err(to_case(err)),
            }
            if holds {
                for (k, v) in writes {
                    match v {
                        Some(v) => model.insert(k.clone(), v.clone()),
                        None => model.remove(k),
                    };
                }
            }
        }
        Op::Scan(prefix, after, limit) => {
            let page = store
                .scan_prefix(prefix, after.as_deref(), *limit)
                .map_err(to_case)?;
            let expected: Vec<(Vec<u8>, Vec<u8>)> = model
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
                .take(*limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(page, Page::from_entries(expected, *limit));
        }
    }
    let all = scan_all(store, b"", 3).map_err(to_case)?;
    let expected: Vec<(Vec<u8>, Vec<u8>)> =
        model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    prop_assert_eq!(
        all,
        expected,
        "full scan differs from the model after {:?}",
        op
    );
    Ok(())
}

/// Random operation sequences applied to a fresh store and to a `BTreeMap` agree after every
/// step (32 cases unless `PROPTEST_CASES` says otherwise).
pub fn model(fx: &Fixture) -> Result<(), StoreError> {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 32;
    }
    config.failure_persistence = None;
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(op_strategy(), 1..30), |ops| {
        let store = fx.fresh().map_err(to_case)?;
        let mut model = BTreeMap::new();
        for op in &ops {
            step(store.as_ref(), &mut model, op)?;
        }
        Ok(())
    });
    if let Err(err) = result {
        panic_on("model test", &err);
    }
    Ok(())
}
