//! The Redis backend against a real `redis-server` per test, and its fault tests.

use ays_store::conformance::Fixture;
use ays_store::testing::RedisServer;

fn fresh() -> Fixture {
    let server = RedisServer::start().expect("start redis-server (install redis-server)");
    Fixture::new(server.url(), server)
}

ays_store::store_conformance!(fresh);
