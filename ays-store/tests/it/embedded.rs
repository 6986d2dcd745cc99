//! The embedded backend (`redb://PATH`), one temporary file per test.

use ays_store::conformance::Fixture;

fn fresh() -> Fixture {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let url = format!("redb://{}", dir.path().join("store.redb").display());
    Fixture::new(url, dir)
}

ays_store::store_conformance!(fresh);
