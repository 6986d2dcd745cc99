//! The in-memory backend (`mem://NAME`).

use ays_store::conformance::Fixture;

fn fresh() -> Fixture {
    Fixture::memory()
}

ays_store::store_conformance!(fresh);
ays_store::queue_conformance!(fresh);
