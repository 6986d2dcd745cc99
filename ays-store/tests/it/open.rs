//! Opening stores by URL: every scheme, and clear errors naming the bad URL or namespace.

use insta::assert_snapshot;

fn open_err(url: &str, namespace: &str) -> String {
    match ays_store::open_namespaced(url, namespace) {
        Ok(store) => panic!("{url} on {namespace} opened: {store:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn bad_urls_are_errors_naming_the_url() {
    assert_snapshot!(open_err("/tmp/x.redb", "ns"), @"invalid store url `/tmp/x.redb`: expected `scheme://…` with scheme mem, redb, redis or redis+cluster");
    assert_snapshot!(open_err("postgres://db/x", "ns"), @"invalid store url `postgres://db/x`: unknown scheme `postgres`, expected mem, redb, redis or redis+cluster");
    assert_snapshot!(open_err("redb://", "ns"), @"invalid store url `redb://`: missing file path, expected redb:///path/file.redb");
    let err = open_err("redis://host:port/0", "ns");
    assert!(
        err.starts_with("invalid store url `redis://host:port/0`: "),
        "{err}"
    );
}

#[test]
fn bad_namespaces_are_errors_naming_the_namespace() {
    assert_snapshot!(open_err("mem://", ""), @"invalid namespace ``: must not be empty");
    assert_snapshot!(open_err("mem://", "a{b}"), @"invalid namespace `a{b}`: only printable ASCII other than space, `{` and `}` is allowed");
    assert_snapshot!(open_err("mem://", "a b"), @"invalid namespace `a b`: only printable ASCII other than space, `{` and `}` is allowed");
    let long = "n".repeat(201);
    assert!(open_err("mem://", &long).ends_with("longer than 200 bytes"));
    assert!(
        ays_store::open_namespaced("mem://", &"n".repeat(200))
            .is_ok_and(|s| s.put(b"k", b"v").is_ok())
    );
}

#[test]
fn private_memory_stores_are_separate_and_named_ones_shared() {
    let a = ays_store::open("mem://").unwrap();
    let b = ays_store::open("mem://").unwrap();
    a.put(b"k", b"a").unwrap();
    assert_eq!(b.get(b"k").unwrap(), None);
    let named = ays_store::open("mem://open-test-shared").unwrap();
    named.put(b"k", b"n").unwrap();
    let again = ays_store::open("mem://open-test-shared").unwrap();
    assert_eq!(again.get(b"k").unwrap(), Some(b"n".to_vec()));
}

#[test]
fn redb_commits_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redb://{}", dir.path().join("durable.redb").display());
    {
        let store = ays_store::open_namespaced(&url, "repo").unwrap();
        let twin = ays_store::open_namespaced(&url, "repo").unwrap();
        store.put(b"k", b"v").unwrap();
        assert_eq!(
            twin.get(b"k").unwrap(),
            Some(b"v".to_vec()),
            "one file, one database"
        );
    }
    let reopened = ays_store::open_namespaced(&url, "repo").unwrap();
    assert_eq!(reopened.get(b"k").unwrap(), Some(b"v".to_vec()));
    let other = ays_store::open_namespaced(&url, "other").unwrap();
    assert_eq!(other.get(b"k").unwrap(), None);
}

#[test]
fn redb_file_that_is_not_a_database_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.redb");
    std::fs::write(
        &path,
        b"this is not a redb file, just some text that is long enough",
    )
    .unwrap();
    let err = ays_store::open(&format!("redb://{}", path.display())).unwrap_err();
    let canonical = path.canonicalize().unwrap();
    assert!(
        matches!(&err, ays_store::StoreError::Backend { store, op: "open", .. } if *store == canonical.display().to_string()),
        "{err:?}"
    );
}
