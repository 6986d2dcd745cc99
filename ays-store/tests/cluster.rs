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
