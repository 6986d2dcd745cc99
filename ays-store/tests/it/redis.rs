//! The Redis backend against a real `redis-server` per test, and its fault tests.

use ays_store::conformance::Fixture;
use ays_store::testing::RedisServer;

fn fresh() -> Fixture {
    let server = RedisServer::start().expect("start redis-server (install redis-server)");
    Fixture::new(server.url(), server)
}

ays_store::store_conformance!(fresh);
ays_store::queue_conformance!(fresh);

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
    fn queue_calls_name_the_server_and_op_when_it_is_down() {
        use ays_store::{MessageId, MessageQueue};

        type QueueCall = (
            &'static str,
            fn(&dyn MessageQueue) -> Result<(), StoreError>,
        );
        const QUEUE_CALLS: [QueueCall; 9] = [
            ("publish", |q| q.publish("s", b"x").map(drop)),
            ("publish_many", |q| q.publish_many("s", &[b"x"]).map(drop)),
            ("create_group", |q| q.create_group("s", "g")),
            ("reset", |q| q.reset("s").map(drop)),
            ("read_group", |q| {
                q.read_group("s", "g", "c", 1, Duration::from_millis(10))
                    .map(drop)
            }),
            ("ack", |q| q.ack("s", "g", &[MessageId::start()])),
            ("claim_idle", |q| {
                q.claim_idle("s", "g", "c", Duration::ZERO, 1).map(drop)
            }),
            ("pending", |q| q.pending("s", "g").map(drop)),
            ("read", |q| {
                q.read("s", &MessageId::start(), 1, Duration::ZERO)
                    .map(drop)
            }),
        ];
        let mut server = RedisServer::start().expect("start redis-server (install redis-server)");
        let queue = ays_store::open_queue(&server.url(), "faults").unwrap();
        queue.create_group("s", "g").unwrap();
        server.stop().unwrap();
        for (op, call) in QUEUE_CALLS {
            let started = Instant::now();
            let result = call(queue.as_ref());
            assert!(
                started.elapsed() < BOUND,
                "{op} took {:?}",
                started.elapsed()
            );
            match result {
                Err(StoreError::Connection {
                    server: named,
                    op: failed,
                    ..
                }) => {
                    assert_eq!((named, failed), (server.addr(), op));
                }
                other => panic!("{op}: expected a connection error, got {other:?}"),
            }
        }
        server.restart().unwrap();
        queue.create_group("s", "g").unwrap();
        let id = queue.publish("s", b"back").unwrap();
        let got = queue.read_group("s", "g", "c", 10, Duration::ZERO).unwrap();
        assert_eq!(got.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), [id]);
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

mod layout {
    //! The documented Redis key layout: a `{ns}` hash tag on every key, an ordered index that
    //! expiry does not leave stale.

    use std::time::{Duration, Instant};

    use ays_store::testing::RedisServer;

    fn keys(conn: &mut redis::Connection) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(conn).unwrap();
        keys.sort();
        keys
    }

    #[test]
    fn every_key_carries_the_namespace_hash_tag() {
        let server = RedisServer::start().expect("start redis-server (install redis-server)");
        let store = ays_store::open_namespaced(&server.url(), "repo-1").unwrap();
        store.put(b"svc\x00a", b"1").unwrap();
        store.put(b"svc\xffb", b"2").unwrap();
        let mut conn = redis::Client::open(server.url())
            .unwrap()
            .get_connection()
            .unwrap();
        assert_eq!(
            keys(&mut conn),
            vec![
                b"{repo-1}:i".to_vec(),
                b"{repo-1}:k:svc\x00a".to_vec(),
                b"{repo-1}:k:svc\xffb".to_vec(),
            ]
        );
        let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
            .arg("{repo-1}:i")
            .arg(0)
            .arg(-1)
            .query(&mut conn)
            .unwrap();
        assert_eq!(members, vec![b"svc\x00a".to_vec(), b"svc\xffb".to_vec()]);
        assert!(store.delete(b"svc\x00a").unwrap());
        assert_eq!(
            keys(&mut conn),
            vec![b"{repo-1}:i".to_vec(), b"{repo-1}:k:svc\xffb".to_vec()]
        );
    }

    #[test]
    fn scans_remove_expired_keys_from_the_index() {
        let server = RedisServer::start().expect("start redis-server (install redis-server)");
        let store = ays_store::open_namespaced(&server.url(), "ttl").unwrap();
        for i in 0..5u8 {
            store
                .put_with_ttl(&[b'e', i], b"x", Duration::from_millis(50))
                .unwrap();
        }
        store.put(b"live", b"y").unwrap();
        let mut conn = redis::Client::open(server.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let exists: u32 = redis::cmd("EXISTS")
                .arg("{ttl}:k:e\x04")
                .query(&mut conn)
                .unwrap();
            if exists == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "key did not expire");
            std::thread::sleep(Duration::from_millis(10));
        }
        let card: u32 = redis::cmd("ZCARD").arg("{ttl}:i").query(&mut conn).unwrap();
        assert_eq!(card, 6, "expiry alone leaves index members behind");
        let page = store.scan_prefix(b"", None, 10).unwrap();
        assert_eq!(page.entries, vec![(b"live".to_vec(), b"y".to_vec())]);
        let card: u32 = redis::cmd("ZCARD").arg("{ttl}:i").query(&mut conn).unwrap();
        assert_eq!(card, 1, "the scan removed the expired members");
    }

    #[test]
    fn queue_streams_carry_the_namespace_hash_tag() {
        let server = RedisServer::start().expect("start redis-server (install redis-server)");
        let queue = ays_store::open_queue(&server.url(), "repo-1").unwrap();
        let id = queue.publish("jobs", b"\x00body").unwrap();
        queue.create_group("jobs", "workers").unwrap();
        let mut conn = redis::Client::open(server.url())
            .unwrap()
            .get_connection()
            .unwrap();
        assert_eq!(keys(&mut conn), vec![b"{repo-1}:q:jobs".to_vec()]);
        /// A stream entry as `XRANGE` gives it: its id and its field-value pairs.
        type Entry = (String, Vec<(String, Vec<u8>)>);
        let entries: Vec<Entry> = redis::cmd("XRANGE")
            .arg("{repo-1}:q:jobs")
            .arg("-")
            .arg("+")
            .query(&mut conn)
            .unwrap();
        assert_eq!(
            entries,
            vec![(id.to_string(), vec![("b".to_owned(), b"\x00body".to_vec())])]
        );
        assert!(queue.reset("jobs").unwrap());
        assert_eq!(keys(&mut conn), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn restart_keeps_the_port() {
        let mut server = RedisServer::start().expect("start redis-server (install redis-server)");
        let (port, url) = (server.port(), server.url());
        server.restart().unwrap();
        assert_eq!((server.port(), server.url()), (port, url.clone()));
        assert_eq!(url, format!("redis://127.0.0.1:{port}/0"));
        server.stop().unwrap();
        assert_eq!(server.pid(), None);
    }
}
