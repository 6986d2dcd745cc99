//! Test repositories on either backend, and checks of the stored state.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ays_core::{InitOptions, Repository, ServiceFilter};
use ays_store::testing::RedisServer;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Every entry of a store namespace.
pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The error of a call that must fail.
pub(crate) fn fails<T: std::fmt::Debug, E>(r: Result<T, E>) -> Result<E, String> {
    match r {
        Ok(v) => Err(format!("expected an error, got {v:?}")),
        Err(e) => Ok(e),
    }
}

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Redb,
    Redis,
}

/// A repository in a temporary directory; a unique id keeps each test in its own namespace.
pub(crate) struct TestRepo {
    pub(crate) repo: Repository,
    // Dropped after the repository, so its connection closes first.
    _redis: Option<Arc<RedisServer>>,
    _dir: tempfile::TempDir,
}

impl TestRepo {
    pub(crate) fn new(backend: Backend) -> Result<TestRepo, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let redis = match backend {
            Backend::Redb => None,
            Backend::Redis => Some(RedisServer::shared()?),
        };
        let store_url = redis.as_ref().map(|r| r.url());
        let repo = Repository::init(
            &dir.path().join("repo"),
            InitOptions {
                store_url,
                ..InitOptions::default()
            },
        )?;
        Ok(TestRepo {
            repo,
            _redis: redis,
            _dir: dir,
        })
    }

    /// Wraps a repository made by the caller in `dir`.
    pub(crate) fn wrap(repo: Repository, dir: tempfile::TempDir) -> TestRepo {
        TestRepo {
            repo,
            _redis: None,
            _dir: dir,
        }
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.repo.root().to_path_buf()
    }

    /// Writes `text` at `rel` under the repository root, creating directories.
    pub(crate) fn write(&self, rel: &str, text: &str) -> TestResult {
        let p = self.root().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, text)?;
        Ok(())
    }

    /// Writes a template's `schema.hrd`.
    pub(crate) fn template(&self, name: &str, hrd: &str) -> TestResult {
        self.write(&format!("actorTemplates/{name}/schema.hrd"), hrd)
    }

    /// Every key and value of the repository's namespace.
    pub(crate) fn scan(&self) -> Result<Entries, Box<dyn std::error::Error>> {
        Ok(self
            .repo
            .store()
            .scan(b"", 256)
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// Checks that the index entries are exactly those the service records imply (no stale
    /// entry, none missing), that no scheduled-action args outlive their service, and that no
    /// write lock is left behind.
    pub(crate) fn check_indexes(&self) -> TestResult {
        let mut expected = BTreeSet::new();
        for s in self.repo.services(&ServiceFilter::all())? {
            let k = s.key.to_string();
            expected.insert(format!("idx/actor/{}/{k}", s.actor));
            expected.insert(format!("idx/instance/{}/{k}", s.key.instance()));
            if let Some(p) = &s.parent {
                expected.insert(format!("idx/parent/{}/{k}", p.key));
            }
            for p in &s.producers {
                expected.insert(format!("idx/producer/{}/{k}", p.key));
            }
            for c in &s.consumers {
                expected.insert(format!("idx/consumer/{}/{k}", c.key));
            }
            for a in &s.actions {
                expected.insert(format!("idx/state/{}:{}/{k}", a.name, a.state));
            }
        }
        let actual: BTreeSet<String> = self
            .scan()?
            .into_iter()
            .filter(|(k, _)| k.starts_with(b"idx/"))
            .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .collect();
        let services: BTreeSet<String> = self
            .repo
            .service_keys(&ServiceFilter::all())?
            .iter()
            .map(ToString::to_string)
            .collect();
        for (k, _) in self.scan()? {
            let k = String::from_utf8_lossy(&k).into_owned();
            assert_ne!(k, "lock/write", "the write lock was left behind");
            if let Some(rest) = k.strip_prefix("svc-args/") {
                let owner = rest.split_once('/').map(|(o, _)| o).unwrap_or(rest);
                assert!(services.contains(owner), "args of a deleted service: {k}");
            }
        }
        let stale: Vec<_> = actual.difference(&expected).collect();
        let missing: Vec<_> = expected.difference(&actual).collect();
        assert!(stale.is_empty(), "stale index entries: {stale:?}");
        assert!(missing.is_empty(), "missing index entries: {missing:?}");
        Ok(())
    }
}

/// The shared 8.1 scenarios (`../shared/fixtures/scenarios`, or `AYS_SHARED`); missing is a
/// failure.
pub(crate) fn scenarios_dir() -> Result<PathBuf, String> {
    let dir = std::env::var_os("AYS_SHARED").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/scenarios"
            ))
        },
        PathBuf::from,
    );
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "shared scenarios missing at {} (set AYS_SHARED)",
            dir.display()
        ))
    }
}

/// Copies a directory tree.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// Runs a test body once per backend: `both!(name, body_fn)`.
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            use $crate::support::Backend;

            #[test]
            fn redb() -> $crate::support::TestResult {
                super::$body(Backend::Redb)
            }

            #[test]
            fn redis() -> $crate::support::TestResult {
                super::$body(Backend::Redis)
            }
        }
    };
}
pub(crate) use both;
