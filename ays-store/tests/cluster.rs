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
