//! The Redis backend against a real `redis-server` per test, and its fault tests.

use ays_store::conformance::Fixture;
use ays_store::testing::RedisServer;

fn fresh() -> Fixture {
    let server = RedisServer::start().expect("start redis-server (install redis-server)");
    Fixture::new(server.url(), server)
}

ays_store::store_conformance!(fresh);

mod faults {
    //! With the server down or paused, every call fails with a connection error naming the server
    //! within a bound; once the server is back, the same store object works again.

    use std::process::Command;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use ays_store::testing::RedisServer;
    use ays_store::{Batch, KvStore, StoreError};

    /// A bound on how long a failing call may take (not a performance target).
    const BOUND: Duration = Duration::from_secs(10);

    type Call = (&'static str, fn(&dyn KvStore) -> Result<(), StoreError>);

    /// Every kind of call, each discarding its value: only its error matters here.
    const CALLS: [Call; 9] = [
        ("get", |s| s.get(b"k").map(drop)),
        ("put", |s| s.put(b"k", b"v")),
        ("put_with_ttl", |s| {
            s.put_with_ttl(b"k", b"v", Duration::from_secs(5))
        }),
        ("delete", |s| s.delete(b"k").map(drop)),
        ("scan_prefix", |s| s.scan_prefix(b"", None, 10).map(drop)),
        ("commit", |s| {
            let mut batch = Batch::new();
            batch.put(b"a", b"1").delete(b"b");
            s.commit(&batch)
        }),
        ("commit", |s| s.put_if_absent(b"k", b"v", None).map(drop)),
        ("commit", |s| {
            s.put_if_unchanged(b"k", b"v", b"w", None).map(drop)
        }),
        ("commit", |s| s.delete_if_unchanged(b"k", b"v").map(drop)),
    ];

    fn assert_all_fail_fast(store: &dyn KvStore, server: &str) {
        for (op, call) in CALLS {
            let started = Instant::now();
            let result = call(store);
            let elapsed = started.elapsed();
            assert!(
                elapsed < BOUND,
                "{op} took {elapsed:?} with the server down"
            );
            match result {
                Err(err @ StoreError::Connection { .. }) => {
                    let StoreError::Connection {
                        server: named,
                        op: failed,
                        ..
                    } = &err
                    else {
                        unreachable!()
                    };
                    assert_eq!((named.as_str(), *failed), (server, op));
                    assert_eq!(
                        err.to_string(),
                        format!("cannot reach store server {server} during `{op}`")
                    );
                }
                other => panic!("{op}: expected a connection error, got {other:?}"),
            }
        }
    }

    fn assert_works(store: &dyn KvStore) {
        store.put(b"k", b"v").unwrap();
        assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
        assert!(store.put_if_unchanged(b"k", b"v", b"w", None).unwrap());
        let page = store.scan_prefix(b"", None, 10).unwrap();
        assert_eq!(page.entries, vec![(b"k".to_vec(), b"w".to_vec())]);
    }

    #[test]
    fn server_down_then_back() {
        let mut server = RedisServer::start().expect("start redis-server (install redis-server)");
        let store: Arc<dyn KvStore> = ays_store::open_namespaced(&server.url(), "faults").unwrap();
        assert_works(store.as_ref());
        server.stop().unwrap();
        assert_all_fail_fast(store.as_ref(), &server.addr());
        server.restart().unwrap();
        assert_works(store.as_ref());
    }

    #[test]
    fn server_restarted_while_idle_is_reconnected() {
        let mut server = RedisServer::start().expect("start redis-server (install redis-server)");
        let store = ays_store::open_namespaced(&server.url(), "idle").unwrap();
        assert_works(store.as_ref());
        server.restart().unwrap();
        // The pooled connection is stale; an idempotent call retries on a fresh one.
        assert_eq!(store.get(b"k").unwrap(), None);
        assert_works(store.as_ref());
    }

    #[test]
    fn paused_server_times_out_instead_of_hanging() {
        let server = RedisServer::start().expect("start redis-server (install redis-server)");
        let store = ays_store::open_namespaced(&server.url(), "paused").unwrap();
        assert_works(store.as_ref());
        let pid = server.pid().unwrap().to_string();
        let signal = |sig: &str| {
            let status = Command::new("kill").args([sig, &pid]).status().unwrap();
            assert!(status.success(), "kill {sig} {pid} failed");
        };
        signal("-STOP");
        let started = Instant::now();
        let result = store.get(b"k");
        let elapsed = started.elapsed();
        // A store with no pooled connection must also give up while connecting.
        let fresh = ays_store::open_namespaced(&server.url(), "paused").unwrap();
        let started = Instant::now();
        let fresh_result = fresh.get(b"k");
        let fresh_elapsed = started.elapsed();
        signal("-CONT");
        assert!(fresh_elapsed < BOUND, "connecting took {fresh_elapsed:?}");
        assert!(
            matches!(&fresh_result, Err(StoreError::Connection { op: "get", .. })),
            "{fresh_result:?}"
        );
        assert!(
            elapsed < BOUND,
            "get took {elapsed:?} with the server paused"
        );
        assert!(
            matches!(&result, Err(StoreError::Connection { server: s, op: "get", .. }) if *s == server.addr()),
            "{result:?}"
        );
        assert_works(store.as_ref());
    }
}
