//! The Redis Cluster backend against a 6-node cluster (3 masters, 3 replicas) shared by the
//! tests of this run, each test in its own namespaces. A test binary of its own: cargo runs
//! binaries one after the other, so no single-node fault test (which stops a server and
//! restarts it on the same port) can lose its port to a cluster node meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ays_store::conformance::Fixture;
use ays_store::testing::{RedisCluster, command};
use ays_store::{KvStore, StoreError};

fn cluster() -> std::sync::Arc<RedisCluster> {
    RedisCluster::shared().expect("start a redis cluster (install redis-server and redis-cli)")
}

fn fresh() -> Fixture {
    let cluster = cluster();
    Fixture::new(cluster.url(), cluster)
}

ays_store::store_conformance!(fresh);
ays_store::queue_conformance!(fresh);

/// The `host:port` of the master serving `namespace`'s slot, as the cluster itself says.
fn master_of(cluster: &RedisCluster, namespace: &str) -> String {
    let port = cluster.nodes()[0].port();
    let slot: u16 = command(port, &format!("CLUSTER KEYSLOT {{{namespace}}}:i"))
        .unwrap()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    // `CLUSTER SHARDS` would be tidier, but the `CLUSTER NODES` text is simple to read:
    // `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <state> <slots...>`.
    let nodes = command(port, "CLUSTER NODES").unwrap();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if !fields[2].contains("master") {
            continue;
        }
        for range in &fields[8..] {
            let (start, end) = range.split_once('-').unwrap_or((range, range));
            let (start, end): (u16, u16) = (start.parse().unwrap(), end.parse().unwrap());
            if (start..=end).contains(&slot) {
                return fields[1].split('@').next().unwrap().to_owned();
            }
        }
    }
    panic!("no master serves slot {slot}:\n{nodes}");
}

#[test]
fn namespaces_on_different_masters_both_work() {
    let cluster = cluster();
    let first = format!("spread-{}-a", std::process::id());
    let first_master = master_of(&cluster, &first);
    let second = (0..100)
        .map(|n| format!("spread-{}-b{n}", std::process::id()))
        .find(|ns| master_of(&cluster, ns) != first_master)
        .expect("a namespace on another master");
    assert_ne!(master_of(&cluster, &second), first_master);

    let url = cluster.url();
    let a = ays_store::open_namespaced(&url, &first).unwrap();
    let b = ays_store::open_namespaced(&url, &second).unwrap();
    a.put(b"k", b"from a").unwrap();
    b.put(b"k", b"from b").unwrap();
    assert!(b.put_if_absent(b"lock", b"b", None).unwrap());
    assert_eq!(a.get(b"k").unwrap(), Some(b"from a".to_vec()));
    assert_eq!(b.get(b"k").unwrap(), Some(b"from b".to_vec()));
    let keys = |s: &dyn KvStore| -> Vec<Vec<u8>> {
        s.scan_prefix(b"", None, 10)
            .unwrap()
            .entries
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(keys(a.as_ref()), vec![b"k".to_vec()]);
    assert_eq!(keys(b.as_ref()), vec![b"k".to_vec(), b"lock".to_vec()]);
}

#[test]
fn url_without_hosts_is_invalid() {
    for url in ["redis+cluster://", "redis+cluster:///"] {
        let err = ays_store::open_namespaced(url, "ns").unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidUrl { url: named, .. } if named == url),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("invalid store url `{url}`: no host")),
            "{err}"
        );
    }
}

/// Issue #12: SIGKILL the master of a namespace in the middle of a stream of writes. Puts fail
/// while the cluster notices and promotes the replica, then succeed again on the new master,
/// and every put that returned `Ok` (each one `WAIT`ed for the replica) is still there.
#[test]
fn failover_loses_no_acknowledged_write() {
    use std::time::{Duration, Instant};

    /// Writes before the kill, and successful writes wanted after it.
    const BEFORE: usize = 20;
    const AFTER: usize = 3;
    // Its own cluster: it kills a node, which the other tests must not see.
    let mut cluster = RedisCluster::start().expect("start a redis cluster");
    let ns = format!("failover-{}", std::process::id());
    let store = ays_store::open_namespaced(&cluster.url(), &ns).unwrap();

    let mut acked: Vec<(String, String)> = Vec::new();
    let (mut failed, mut after_ok) = (0usize, 0usize);
    let mut killed: Option<(String, Instant)> = None;
    let mut resumed: Option<Duration> = None;
    let start = Instant::now();
    for i in 0.. {
        if i == BEFORE {
            let old = cluster.kill_master_of(&ns).unwrap();
            killed = Some((old, Instant::now()));
        }
        let (key, value) = (format!("k{i}"), format!("v{i}"));
        match store.put(key.as_bytes(), value.as_bytes()) {
            Ok(()) => {
                acked.push((key, value));
                if let Some((_, at)) = &killed {
                    resumed.get_or_insert_with(|| at.elapsed());
                    after_ok += 1;
                }
            }
            Err(err) => {
                assert!(killed.is_some(), "put {i} failed before the kill: {err}");
                assert!(
                    matches!(
                        err,
                        StoreError::Connection { .. } | StoreError::Backend { .. }
                    ),
                    "{err:?}"
                );
                failed += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if after_ok >= AFTER || start.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    let (old, _) = killed.expect("the master was killed");
    let resumed = resumed.expect("writes resumed after the failover within 30 s");
    eprintln!(
        "failover: {failed} puts failed, writes resumed {resumed:?} after the kill, {} acked",
        acked.len()
    );
    assert!(failed >= 1, "no put failed: the kill was not noticed");
    assert!(
        resumed < Duration::from_secs(20),
        "resumed after {resumed:?}"
    );
    let new = cluster
        .wait_failover(&ns, &old, Duration::from_secs(10))
        .unwrap();
    assert_ne!(new, old);

    for (key, value) in &acked {
        assert_eq!(
            store.get(key.as_bytes()).unwrap(),
            Some(value.clone().into_bytes()),
            "acknowledged {key} lost"
        );
    }
    store.put(b"after", b"failover").unwrap();
    assert_eq!(store.get(b"after").unwrap(), Some(b"failover".to_vec()));
}

/// A unique namespace for this test run.
fn namespace(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// What `f` logged at `WARN` or above on this thread, as text, beside its result.
fn capture_warnings<T>(f: impl FnOnce() -> T) -> (T, String) {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .finish();
    let value = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    (value, text)
}

/// Seeds may be host names, and a dead seed is skipped for the next one.
#[test]
fn hostname_seeds_and_a_dead_seed_work() {
    let cluster = cluster();
    let ns = namespace("seeds");
    let ports: Vec<u16> = cluster.nodes().iter().map(|node| node.port()).collect();
    let by_name = format!(
        "redis+cluster://localhost:{},localhost:{}",
        ports[0], ports[1]
    );
    let store = ays_store::open_namespaced(&by_name, &ns).unwrap();
    store.put(b"k", b"by name").unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"by name".to_vec()));
    let queue = ays_store::open_queue(&by_name, &ns).unwrap();
    let id = queue.publish("s", b"m").unwrap();
    let read = queue
        .read(
            "s",
            &ays_store::MessageId::start(),
            10,
            std::time::Duration::ZERO,
        )
        .unwrap();
    assert_eq!(read.iter().map(|m| &m.id).collect::<Vec<_>>(), vec![&id]);

    // A port nobody listens on: bound, then released.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis+cluster://127.0.0.1:{dead},localhost:{}", ports[2]);
    let other = ays_store::open_namespaced(&url, &ns).unwrap();
    assert_eq!(other.get(b"k").unwrap(), Some(b"by name".to_vec()));
    other.put(b"k2", b"via the live seed").unwrap();
    assert_eq!(
        store.get(b"k2").unwrap(),
        Some(b"via the live seed".to_vec())
    );
    let queue = ays_store::open_queue(&url, &ns).unwrap();
    assert_eq!(
        queue
            .read(
                "s",
                &ays_store::MessageId::start(),
                10,
                std::time::Duration::ZERO
            )
            .unwrap()
            .len(),
        1
    );

    // Only dead seeds: a connection error naming them all.
    let url = format!("redis+cluster://127.0.0.1:{dead},localhost:{dead}");
    let err = ays_store::open_namespaced(&url, &ns)
        .unwrap()
        .get(b"k")
        .unwrap_err();
    match &err {
        StoreError::Connection { server, op, .. } => {
            assert_eq!(server, &format!("127.0.0.1:{dead},localhost:{dead}"));
            assert_eq!(*op, "get");
        }
        other => panic!("{other:?}"),
    }
}

/// Issue #12: with the replica of a namespace's master gone, writes still succeed once their
/// `WAIT 1` times out, and each write (only writes: reads, `read_group` and `renew` do not
/// wait) logs a warning naming the master, the call and that 0 replicas acknowledged it.
fn write_without_a_replica_succeeds_and_warns(cluster: &mut RedisCluster) {
    use std::time::{Duration, Instant};

    let ns = namespace("no-replica");
    let store = ays_store::open_namespaced(&cluster.url(), &ns).unwrap();
    let queue = ays_store::open_queue(&cluster.url(), &ns).unwrap();
    let ((), logs) = capture_warnings(|| {
        store.put(b"before", b"1").unwrap();
        queue.create_group("s", "g").unwrap();
    });
    assert_eq!(logs, "", "a replica acknowledged these writes");

    let master = cluster.master_of(&ns).unwrap();
    let replica = cluster.kill_replica_of(&ns).unwrap();
    assert_ne!(replica, master);
    let (took, logs) = capture_warnings(|| {
        let mut took = Vec::new();
        let started = Instant::now();
        store.put(b"after", b"2").unwrap();
        took.push(("put", started.elapsed()));
        let started = Instant::now();
        queue.publish("s", b"m").unwrap();
        took.push(("publish", started.elapsed()));
        // Reads wait for no replica.
        assert_eq!(store.get(b"after").unwrap(), Some(b"2".to_vec()));
        let delivered = queue.read_group("s", "g", "c", 10, Duration::ZERO).unwrap();
        assert_eq!(delivered.len(), 1);
        took
    });
    for (op, took) in took {
        // The `WAIT` timeout is 1 s; allow for a slow machine, but no hang.
        assert!(took < Duration::from_secs(3), "{op} took {took:?}");
    }
    let warnings: Vec<&str> = logs.lines().collect();
    assert_eq!(warnings.len(), 2, "one warning per write:\n{logs}");
    for (line, op) in warnings.iter().zip(["put", "publish"]) {
        assert!(line.contains(" WARN "), "{line}");
        assert!(line.contains("no replica acknowledged the write"), "{line}");
        assert!(line.contains(&format!("master=\"{master}\"")), "{line}");
        assert!(line.contains(&format!("op=\"{op}\"")), "{line}");
        assert!(line.contains("acked=0"), "{line}");
        assert!(line.contains("wait_ms=1000"), "{line}");
    }
    // Within the next 5 s, writes do not wait for the missing replica again, and say nothing
    // more: the first warning named the window.
    let (took, logs) = capture_warnings(|| {
        let started = Instant::now();
        for i in 0..20 {
            store.put(format!("more{i}").as_bytes(), b"3").unwrap();
        }
        started.elapsed()
    });
    assert!(
        took < Duration::from_millis(900),
        "20 puts without a replica took {took:?}: they waited for it"
    );
    assert_eq!(logs, "", "{logs}");
    // The writes are there, on the master.
    assert_eq!(store.get(b"before").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get(b"more19").unwrap(), Some(b"3".to_vec()));
}

/// Issue #12: with every node killed, each store and queue call fails within seconds with a
/// connection error naming the server and the call, on a store that had cached its master and
/// on one that never connected; once the nodes are back, the same handles work again.
fn dead_cluster_fails_every_call_fast_then_recovers(cluster: &mut RedisCluster) {
    use ays_store::{Batch, MessageId, MessageQueue};
    use std::time::{Duration, Instant};

    type Call<'a> = (&'static str, Box<dyn Fn() -> Result<(), StoreError> + 'a>);
    fn store_calls(store: &dyn KvStore) -> Vec<Call<'_>> {
        vec![
            ("get", Box::new(|| store.get(b"k").map(drop))),
            (
                "get_many",
                Box::new(|| store.get_many(&[b"k", b"j"]).map(drop)),
            ),
            ("put", Box::new(|| store.put(b"k", b"v"))),
            (
                "put_with_ttl",
                Box::new(|| store.put_with_ttl(b"k", b"v", Duration::from_secs(60))),
            ),
            ("delete", Box::new(|| store.delete(b"k").map(drop))),
            (
                "scan_prefix",
                Box::new(|| store.scan_prefix(b"", None, 10).map(drop)),
            ),
            (
                "commit",
                Box::new(|| {
                    let mut batch = Batch::new();
                    batch.put(b"a", b"1");
                    store.commit(&batch)
                }),
            ),
            (
                "commit",
                Box::new(|| store.put_if_absent(b"k", b"v", None).map(drop)),
            ),
        ]
    }
    fn queue_calls(queue: &dyn MessageQueue) -> Vec<Call<'_>> {
        vec![
            ("publish", Box::new(|| queue.publish("s", b"m").map(drop))),
            (
                "publish_many",
                Box::new(|| queue.publish_many("s", &[b"m", b"n"]).map(drop)),
            ),
            ("create_group", Box::new(|| queue.create_group("s", "g"))),
            ("reset", Box::new(|| queue.reset("s").map(drop))),
            (
                "read_group",
                Box::new(|| {
                    queue
                        .read_group("s", "g", "c", 1, Duration::from_secs(1))
                        .map(drop)
                }),
            ),
            (
                "ack",
                Box::new(|| queue.ack("s", "g", &[MessageId::start()])),
            ),
            (
                "claim_idle",
                Box::new(|| queue.claim_idle("s", "g", "c", Duration::ZERO, 1).map(drop)),
            ),
            (
                "renew",
                Box::new(|| queue.renew("s", "g", "c", &[MessageId::start()]).map(drop)),
            ),
            ("pending", Box::new(|| queue.pending("s", "g").map(drop))),
            (
                "read",
                Box::new(|| {
                    queue
                        .read("s", &MessageId::start(), 1, Duration::from_secs(1))
                        .map(drop)
                }),
            ),
        ]
    }

    let ns = namespace("dead");
    let url = cluster.url();
    let used = ays_store::open_namespaced(&url, &ns).unwrap();
    let used_queue = ays_store::open_queue(&url, &ns).unwrap();
    for (op, call) in store_calls(used.as_ref())
        .into_iter()
        .chain(queue_calls(used_queue.as_ref()))
    {
        call().unwrap_or_else(|err| panic!("{op} before the kill: {err}"));
    }
    let fresh = ays_store::open_namespaced(&url, &ns).unwrap();
    let fresh_queue = ays_store::open_queue(&url, &ns).unwrap();

    cluster.kill_all().unwrap();
    let seeds = url.strip_prefix("redis+cluster://").unwrap();
    let calls = store_calls(used.as_ref())
        .into_iter()
        .chain(queue_calls(used_queue.as_ref()))
        .chain(store_calls(fresh.as_ref()))
        .chain(queue_calls(fresh_queue.as_ref()));
    for (expected_op, call) in calls {
        let started = Instant::now();
        let err = call().expect_err(expected_op);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "{expected_op} took {took:?}"
        );
        match &err {
            StoreError::Connection { server, op, .. } => {
                assert_eq!(*op, expected_op, "{err}");
                // The cached master, or every seed once re-reading the slot map failed.
                assert!(
                    server == seeds || seeds.split(',').any(|seed| seed == server),
                    "{err}"
                );
            }
            other => panic!("{expected_op}: {other:?}"),
        }
        assert!(
            err.to_string().starts_with("cannot reach store server"),
            "{err}"
        );
    }

    // The nodes come back with their cluster config but no data.
    cluster.restart_all().unwrap();
    for (store, queue) in [(&used, &used_queue), (&fresh, &fresh_queue)] {
        store.put(b"back", b"1").unwrap();
        assert_eq!(store.get(b"back").unwrap(), Some(b"1".to_vec()));
        let id = queue.publish("s", b"back").unwrap();
        let read = queue
            .read("s", &MessageId::start(), 10, Duration::ZERO)
            .unwrap();
        assert_eq!(read.last().map(|m| &m.id), Some(&id));
    }
}

/// Issue #12: move a namespace's slot to another master with the standard procedure while a
/// store and a queue on it are open and have cached the old master.
///
/// Mid-migration (some value keys moved, then the index, the stream not yet) the old master
/// answers `ASK` for the moved keys: reads of moved and unmoved keys, scans, an overwrite of
/// an unmoved key and a publish work, and a put of a new key waits until the slot has moved.
/// After it, the old
/// master answers `MOVED`: every key reads back through the same handles, a new write lands on
/// the new master, and the stream keeps its messages and its group's pending entries.
fn slot_migration_keeps_keys_and_streams(cluster: &RedisCluster) {
    use ays_store::MessageId;
    use std::time::Duration;

    const KEYS: usize = 30;
    const MOVED_FIRST: usize = 10;
    let ns = namespace("migrate");
    let url = cluster.url();
    let store = ays_store::open_namespaced(&url, &ns).unwrap();
    let queue = ays_store::open_queue(&url, &ns).unwrap();
    let key = |i: usize| format!("k{i:02}");
    for i in 0..KEYS {
        store
            .put(key(i).as_bytes(), format!("v{i}").as_bytes())
            .unwrap();
    }
    queue.create_group("s", "g").unwrap();
    let bodies: Vec<Vec<u8>> = (0..5).map(|i| format!("m{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let ids = queue.publish_many("s", &refs).unwrap();
    let held = queue.read_group("s", "g", "c1", 2, Duration::ZERO).unwrap();
    assert_eq!(held.len(), 2);

    let old = cluster.master_of(&ns).unwrap();
    let new = cluster
        .nodes()
        .iter()
        .map(|node| node.addr())
        .find(|addr| {
            *addr != old
                && command(addr.rsplit_once(':').unwrap().1.parse().unwrap(), "ROLE")
                    .is_ok_and(|role| role.contains("master"))
        })
        .expect("another master");

    // Mid-migration: the first value keys move, the index and the stream stay behind.
    let migration = cluster.begin_migration(&ns, &new).unwrap();
    let first: Vec<String> = (0..MOVED_FIRST)
        .map(|i| format!("{{{ns}}}:k:{}", key(i)))
        .collect();
    migration.migrate(&first).unwrap();
    assert_eq!(
        store.get(key(0).as_bytes()).unwrap(),
        Some(b"v0".to_vec()),
        "a moved key, through ASK"
    );
    assert_eq!(
        store.get(key(KEYS - 1).as_bytes()).unwrap(),
        Some(format!("v{}", KEYS - 1).into_bytes())
    );
    // A scan reads the moved values through `ASK`, whether the index is still on the old
    // master or has moved while most values have not; it removes no index entry (the scan
    // after the migration finds every key).
    let all_entries = |last_value: &[u8]| -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = (0..KEYS)
            .map(|i| (key(i).into_bytes(), format!("v{i}").into_bytes()))
            .collect();
        entries[KEYS - 1].1 = last_value.to_vec();
        entries
    };
    let old_port: u16 = old.rsplit_once(':').unwrap().1.parse().unwrap();
    let new_port: u16 = new.rsplit_once(':').unwrap().1.parse().unwrap();
    let last = format!("v{}", KEYS - 1);
    assert_eq!(
        store.scan_prefix(b"", None, 100).unwrap().entries,
        all_entries(last.as_bytes()),
        "a scan mid-migration, the index on the old master"
    );
    let page = store.scan_prefix(b"k", Some(b"k05"), 10).unwrap();
    assert_eq!(page.entries, all_entries(last.as_bytes())[6..16]);
    assert_eq!(page.next, Some(b"k15".to_vec()));
    store.put(key(KEYS - 1).as_bytes(), b"changed").unwrap();
    let during = queue.publish("s", b"during").unwrap();
    migration.migrate(&[format!("{{{ns}}}:i")]).unwrap();
    assert_eq!(
        store.scan_prefix(b"", None, 100).unwrap().entries,
        all_entries(b"changed"),
        "a scan mid-migration, the index moved ahead of most values"
    );

    // A put of a new key is refused while the slot's keys are split between the masters (its
    // `SET` and `ZADD` must run on one): it waits until the slot has moved, then lands whole.
    let tryagain = || -> u64 {
        command(new_port, "INFO errorstats")
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("errorstat_TRYAGAIN:count="))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    let refused_before = tryagain();
    std::thread::scope(|scope| {
        let put = scope.spawn(|| store.put(b"new", b"mid-migration"));
        let deadline = std::time::Instant::now() + Duration::from_secs(4);
        while tryagain() == refused_before {
            assert!(
                std::time::Instant::now() < deadline,
                "the put was never refused with TRYAGAIN"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!put.is_finished(), "the put did not wait for the slot");
        // Nothing of it was written: the old master holds the unmoved values and the stream,
        // the new one the moved values and the index.
        let slot = command(new_port, &format!("CLUSTER KEYSLOT {{{ns}}}")).unwrap();
        let slot = slot.trim_start_matches(':');
        let count = |port| command(port, &format!("CLUSTER COUNTKEYSINSLOT {slot}")).unwrap();
        assert_eq!(
            (count(old_port), count(new_port)),
            (
                format!(":{}", KEYS - MOVED_FIRST + 1),
                format!(":{}", MOVED_FIRST + 1)
            )
        );

        // The rest moves, then the slot.
        loop {
            let keys = migration.keys().unwrap();
            if keys.is_empty() {
                break;
            }
            migration.migrate(&keys).unwrap();
        }
        migration.finish().unwrap();
        put.join().unwrap().unwrap();
    });
    assert_eq!(cluster.master_of(&ns).unwrap(), new);

    for i in 0..KEYS - 1 {
        assert_eq!(
            store.get(key(i).as_bytes()).unwrap(),
            Some(format!("v{i}").into_bytes()),
            "{}",
            key(i)
        );
    }
    assert_eq!(
        store.get(key(KEYS - 1).as_bytes()).unwrap(),
        Some(b"changed".to_vec())
    );
    assert_eq!(store.get(b"new").unwrap(), Some(b"mid-migration".to_vec()));
    store.put(b"after", b"moved").unwrap();
    assert_eq!(
        command(new_port, &format!("EXISTS {{{ns}}}:k:after")).unwrap(),
        ":1"
    );
    let slot = command(new_port, &format!("CLUSTER KEYSLOT {{{ns}}}")).unwrap();
    let slot = slot.trim_start_matches(':');
    assert_eq!(
        command(old_port, &format!("CLUSTER COUNTKEYSINSLOT {slot}")).unwrap(),
        ":0"
    );
    let scanned: Vec<Vec<u8>> = store
        .scan_prefix(b"", None, 100)
        .unwrap()
        .entries
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut expected: Vec<Vec<u8>> = (0..KEYS).map(|i| key(i).into_bytes()).collect();
    expected.push(b"after".to_vec());
    expected.push(b"new".to_vec());
    expected.sort();
    assert_eq!(scanned, expected);

    // The stream moved with its group: c1 still holds its two, the rest are undelivered.
    assert_eq!(
        queue.pending("s", "g").unwrap(),
        vec![ays_store::PendingCount {
            consumer: "c1".to_owned(),
            count: 2
        }]
    );
    let rest = queue
        .read_group("s", "g", "c2", 10, Duration::ZERO)
        .unwrap();
    let mut expected_rest: Vec<MessageId> = ids[2..].to_vec();
    expected_rest.push(during.clone());
    assert_eq!(
        rest.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        expected_rest
    );
    // The two oldest pending entries, by id, are c1's.
    let claimed = queue.claim_idle("s", "g", "c3", Duration::ZERO, 2).unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|d| (d.id.clone(), d.previous_consumer.as_deref()))
            .collect::<Vec<_>>(),
        held.iter()
            .map(|d| (d.id.clone(), Some("c1")))
            .collect::<Vec<_>>()
    );
    let all = queue
        .read("s", &MessageId::start(), 10, Duration::ZERO)
        .unwrap();
    let mut expected_all = bodies.clone();
    expected_all.push(b"during".to_vec());
    assert_eq!(
        all.into_iter().map(|m| m.body).collect::<Vec<_>>(),
        expected_all
    );
}

/// The tests that change the topology share a cluster of their own (the other tests must not
/// see a moved slot or a killed node), one after the other: every cluster start costs seconds
/// of a 2-core machine. The dead cluster comes before the killed replica, since it restarts
/// every node, replicas included.
#[test]
fn topology_changes() {
    let mut cluster = RedisCluster::start().expect("start a redis cluster");
    slot_migration_keeps_keys_and_streams(&cluster);
    dead_cluster_fails_every_call_fast_then_recovers(&mut cluster);
    write_without_a_replica_succeeds_and_warns(&mut cluster);
}
