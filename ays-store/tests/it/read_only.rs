//! `open_read_only`: reads work, every write is refused naming the store, and a redb file is
//! neither changed nor needs write permission.

use std::time::Duration;

use ays_store::{Batch, KvStore, StoreError};

/// Every kind of write, each of which a read-only store must refuse with the op it names.
fn assert_refuses_every_write(store: &dyn KvStore, name: &str) {
    let mut batch = Batch::new();
    batch.put(b"k", b"w");
    let refused: Vec<(&str, StoreError)> = vec![
        ("put", store.put(b"k", b"w").unwrap_err()),
        (
            "put_with_ttl",
            store
                .put_with_ttl(b"k", b"w", Duration::from_secs(1))
                .unwrap_err(),
        ),
        ("delete", store.delete(b"k").unwrap_err()),
        ("commit", store.commit(&batch).unwrap_err()),
        (
            "commit",
            store.put_if_absent(b"new", b"w", None).unwrap_err(),
        ),
        (
            "commit",
            store.put_if_unchanged(b"k", b"v", b"w", None).unwrap_err(),
        ),
        ("commit", store.delete_if_unchanged(b"k", b"v").unwrap_err()),
    ];
    for (op, err) in refused {
        match &err {
            StoreError::ReadOnly { store, op: got } => {
                assert_eq!((store.as_str(), *got), (name, op));
            }
            other => panic!("{op}: {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!("store {name} is open read-only: `{op}` is refused")
        );
    }
}

#[test]
fn a_read_only_redb_store_reads_refuses_writes_and_leaves_the_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let url = format!("redb://{}", path.display());
    {
        let store = ays_store::open_namespaced(&url, "ns").unwrap();
        store.put(b"k", b"v").unwrap();
        store.put(b"l", b"x").unwrap();
        // An expired entry, which a writer's scan would remove from the file.
        store
            .put_with_ttl(b"m", b"gone", Duration::from_millis(1))
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let before = loop {
        let reader = ays_store::open_read_only(&url, "ns").unwrap();
        if reader.get(b"m").unwrap().is_none() {
            break std::fs::read(&path).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "entry never expired");
        std::thread::sleep(Duration::from_millis(2));
    };

    let reader = ays_store::open_read_only(&url, "ns").unwrap();
    assert_eq!(reader.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(
        reader.get_many(&[b"k", b"nope"]).unwrap(),
        [Some(b"v".to_vec()), None]
    );
    let page = reader.scan_prefix(b"", None, 10).unwrap();
    assert_eq!(
        page.entries,
        [
            (b"k".to_vec(), b"v".to_vec()),
            (b"l".to_vec(), b"x".to_vec())
        ]
    );
    let canonical = path.canonicalize().unwrap().display().to_string();
    assert_refuses_every_write(reader.as_ref(), &canonical);
    drop(reader);
    assert!(
        std::fs::read(&path).unwrap() == before,
        "a read-only store changed the file"
    );
    // Another namespace of the file reads as empty, as with a writer.
    let other = ays_store::open_read_only(&url, "other").unwrap();
    assert_eq!(other.scan_prefix(b"", None, 10).unwrap().entries, []);
}

#[test]
fn a_read_only_redb_store_follows_the_commits_of_a_writer_holding_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redb://{}", dir.path().join("s.redb").display());
    ays_store::open_namespaced(&url, "ns")
        .unwrap()
        .put(b"k", b"v1")
        .unwrap();
    // The reader opens first, so the writer opened next is a second handle on the file, as a
    // run in another process would be.
    let reader = ays_store::open_read_only(&url, "ns").unwrap();
    let writer = ays_store::open_namespaced(&url, "ns").unwrap();
    assert_eq!(reader.get(b"k").unwrap(), Some(b"v1".to_vec()));
    writer.put(b"k", b"v2").unwrap();
    writer.put(b"n", b"new").unwrap();
    assert_eq!(reader.get(b"k").unwrap(), Some(b"v2".to_vec()));
    assert_eq!(reader.get(b"n").unwrap(), Some(b"new".to_vec()));
    // A read-only open while this process holds a writer shares it, and still refuses writes.
    let second = ays_store::open_read_only(&url, "ns").unwrap();
    assert_eq!(second.get(b"n").unwrap(), Some(b"new".to_vec()));
    assert!(matches!(
        second.delete(b"n"),
        Err(StoreError::ReadOnly { op: "delete", .. })
    ));
    assert_eq!(writer.get(b"n").unwrap(), Some(b"new".to_vec()));
}

#[test]
fn a_read_only_store_never_creates_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mistyped.redb");
    let url = format!("redb://{}", path.display());
    let err = ays_store::open_read_only(&url, "ns").unwrap_err();
    assert!(
        matches!(&err, StoreError::Missing { url: u } if *u == url),
        "{err:?}"
    );
    assert!(!path.exists());
}

#[test]
fn read_only_memory_and_redis_stores_refuse_writes_naming_the_url() {
    let writer = ays_store::open_namespaced("mem://read-only-test", "ns").unwrap();
    writer.put(b"k", b"v").unwrap();
    let reader = ays_store::open_read_only("mem://read-only-test", "ns").unwrap();
    assert_eq!(reader.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_refuses_every_write(reader.as_ref(), "mem://read-only-test");
    assert_eq!(writer.get(b"k").unwrap(), Some(b"v".to_vec()));

    let server = ays_store::testing::RedisServer::shared().unwrap();
    let url = server.url();
    let writer = ays_store::open_namespaced(&url, "read-only-test").unwrap();
    writer.put(b"k", b"v").unwrap();
    let reader = ays_store::open_read_only(&url, "read-only-test").unwrap();
    assert_eq!(reader.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_refuses_every_write(reader.as_ref(), &url);
}

/// Set to a store URL, this test binary's `writer_child` commits to it and exits without
/// closing the file, as a writer killed mid-run would.
const CHILD_URL: &str = "AYS_STORE_TEST_UNCLEAN_URL";

#[test]
fn writer_child() {
    if let Some(url) = std::env::var_os(CHILD_URL) {
        let store = ays_store::open_namespaced(url.to_str().unwrap(), "ns").unwrap();
        store.put(b"k", b"left unclean").unwrap();
        // No drop, so no clean close: the file is left for the next open to repair.
        std::process::exit(0);
    }
}

/// Whether this process may write a file whose mode forbids it (root, or `CAP_DAC_OVERRIDE`),
/// in which case `chmod` cannot make a file read-only to it.
fn writes_read_only_files(dir: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("probe");
    std::fs::write(&probe, b"").unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o444)).unwrap();
    let writable = std::fs::OpenOptions::new().write(true).open(&probe).is_ok();
    std::fs::remove_file(&probe).unwrap();
    writable
}

#[test]
fn an_unclean_file_is_repaired_where_it_may_be_written_else_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let url = format!("redb://{}", path.display());
    let unclean = || {
        let _ = std::fs::remove_file(&path);
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "read_only::writer_child", "--nocapture"])
            .env(CHILD_URL, &url)
            .output()
            .unwrap();
        assert!(child.status.success(), "{child:?}");
    };

    unclean();
    let reader = ays_store::open_read_only(&url, "ns").unwrap();
    assert_eq!(reader.get(b"k").unwrap(), Some(b"left unclean".to_vec()));
    assert!(matches!(
        reader.put(b"k", b"w"),
        Err(StoreError::ReadOnly { op: "put", .. })
    ));
    drop(reader);

    unclean();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    if writes_read_only_files(dir.path()) {
        // chmod does not stop this user: the repair goes through as above. The refusal is
        // checked without privileges by the end-to-end test of the CLI
        // (`issue_9_a_read_only_repository_can_still_be_listed`).
        eprintln!(
            "NOTE: this process writes read-only files (root?): the unclean read-only file is \
             repaired instead of refused"
        );
        let reader = ays_store::open_read_only(&url, "ns").unwrap();
        assert_eq!(reader.get(b"k").unwrap(), Some(b"left unclean".to_vec()));
        return;
    }
    let canonical = path.canonicalize().unwrap().display().to_string();
    match ays_store::open_read_only(&url, "ns") {
        Err(StoreError::NeedsRepair { store }) => assert_eq!(store, canonical),
        other => panic!("{other:?}"),
    }
    match ays_store::open_namespaced(&url, "ns") {
        Err(StoreError::NotWritable { store, .. }) => assert_eq!(store, canonical),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_this_user_may_not_write_is_read_but_not_opened_for_a_change() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let url = format!("redb://{}", path.display());
    ays_store::open_namespaced(&url, "ns")
        .unwrap()
        .put(b"k", b"v")
        .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let reader = ays_store::open_read_only(&url, "ns").unwrap();
    assert_eq!(reader.get(b"k").unwrap(), Some(b"v".to_vec()));
    drop(reader);
    if writes_read_only_files(dir.path()) {
        // The mapping of the refusal is checked by `embedded::tests::open_error_*`, and the
        // refusal itself without privileges by the CLI's
        // `issue_9_a_read_only_repository_can_still_be_listed`.
        eprintln!("NOTE: this process writes read-only files (root?): chmod cannot refuse it");
        assert!(ays_store::open_namespaced(&url, "ns").is_ok());
        return;
    }
    let err = ays_store::open_namespaced(&url, "ns").unwrap_err();
    let canonical = path.canonicalize().unwrap().display().to_string();
    assert_eq!(
        err.to_string(),
        format!("store {canonical} is read-only to this process: it cannot be changed")
    );
    assert!(
        matches!(&err, StoreError::NotWritable { store, .. } if *store == canonical),
        "{err:?}"
    );
}
