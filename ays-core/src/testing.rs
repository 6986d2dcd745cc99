//! Test support (feature `testing`): repositories in temporary directories on the embedded store
//! or on a throw-away Redis server, checks of what they stored, the shared fixtures, and
//! [`both!`](crate::both), which runs one test body once per backend.
//!
//! ```
//! use ays_core::testing::{Backend, TestRepo, TestResult};
//! use ays_core::ApplyOptions;
//!
//! fn applies(backend: Backend) -> TestResult {
//!     let t = TestRepo::new(backend)?;
//!     t.template("sshkey", "path = type:str\n")?;
//!     let bp = "sshkey__main:\nactions:\n  - action: install\n";
//!     let report = t.repo.apply_blueprint_text("bp.yaml", bp, ApplyOptions::default())?;
//!     assert_eq!(report.created, ["sshkey!main".parse()?]);
//!     t.check_indexes()?;
//!     Ok(())
//! }
//!
//! // In a test file, this makes the tests `applies_a_blueprint::redb` and `…::redis`.
//! ays_core::both!(applies_a_blueprint, applies);
//!
//! fn main() -> TestResult {
//!     applies(Backend::Redb)
//! }
//! ```
//!
//! The shared fixtures live in the directory `AYS_SHARED` names, else in `shared/` beside the
//! checkout. Their absence is a [`TestingError::FixtureMissing`] naming the path and
//! `AYS_SHARED`: tests `?` it, so it fails the test rather than skipping it. A missing
//! `redis-server` fails the same way (see `ays_store::testing`).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ays_store::StoreError;
use ays_store::testing::{HarnessError, RedisServer};

use crate::{ActionState, CoreError, InitOptions, Repository, ServiceFilter};

/// What a test body returns: any error fails the test, printed with its causes.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Every entry of a store namespace, keys in order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What can go wrong preparing or checking a test repository.
///
/// Its `Debug` form is its message followed by its causes, because that is what the test harness
/// prints when a test returns the error.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TestingError {
    /// A shared fixture, or the shared directory itself, does not exist.
    #[error(
        "the shared fixtures are missing: no `{}` (set AYS_SHARED to the shared directory)",
        path.display()
    )]
    FixtureMissing {
        /// The path that does not exist.
        path: PathBuf,
    },
    /// Reading or writing a file of a test failed.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What was being done: "create", "copy", "read", "write".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The shared Redis server could not be started.
    #[error("cannot start the test redis-server")]
    Redis {
        /// The cause.
        #[source]
        source: HarnessError,
    },
    /// A call to the repository failed.
    #[error("cannot {action} in the test repository")]
    Repository {
        /// What was being done.
        action: &'static str,
        /// The cause (boxed: a `CoreError` is large).
        #[source]
        source: Box<CoreError>,
    },
    /// Scanning the repository's store failed.
    #[error("cannot scan the store of the test repository")]
    Store {
        /// The cause.
        #[source]
        source: StoreError,
    },
    /// The repository's write lock (`lock/write`) is still held after the operation.
    #[error("the write lock was left behind")]
    LockLeftBehind,
    /// Scheduled-action args are stored for a service that no longer exists.
    #[error("args of a deleted service: `{key}`")]
    OrphanArgs {
        /// The store key of the args.
        key: String,
    },
    /// The index entries are not exactly those the service records imply.
    #[error("index entries disagree with the services: stale {stale:?}, missing {missing:?}")]
    IndexMismatch {
        /// Entries no service implies.
        stale: Vec<String>,
        /// Entries a service implies but the store lacks.
        missing: Vec<String>,
    },
}

impl fmt::Debug for TestingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded redb file, inside the repository.
    Redb,
    /// The Redis server shared by the tests of the binary ([`RedisServer::shared`]).
    Redis,
}

/// A repository in its own temporary directory, deleted on drop. Each repository has a unique
/// id, so tests sharing one Redis server each get their own namespace.
#[derive(Debug)]
pub struct TestRepo {
    /// The repository under test.
    pub repo: Repository,
    // Fields drop in order: the repository's connection closes before the server may stop and
    // before its directory goes.
    _redis: Option<Arc<RedisServer>>,
    _dir: tempfile::TempDir,
}

impl TestRepo {
    /// An empty repository on `backend`, at `<tempdir>/repo`.
    ///
    /// # Errors
    /// [`TestingError::Io`] when the temporary directory cannot be made,
    /// [`TestingError::Redis`] when the server cannot start, [`TestingError::Repository`] when
    /// `Repository::init` fails.
    pub fn new(backend: Backend) -> Result<TestRepo, TestingError> {
        let dir = tempfile::tempdir().map_err(|source| TestingError::Io {
            action: "create",
            path: std::env::temp_dir(),
            source,
        })?;
        let redis = match backend {
            Backend::Redb => None,
            Backend::Redis => {
                Some(RedisServer::shared().map_err(|source| TestingError::Redis { source })?)
            }
        };
        let options = InitOptions {
            store_url: redis.as_ref().map(|r| r.url()),
            ..InitOptions::default()
        };
        let repo = Repository::init(&dir.path().join("repo"), options).map_err(|source| {
            TestingError::Repository {
                action: "init the repository",
                source: Box::new(source),
            }
        })?;
        Ok(TestRepo {
            repo,
            _redis: redis,
            _dir: dir,
        })
    }

    /// A repository on `backend` holding the templates and blueprints of the shared scenario
    /// `name` (see [`copy_scenario`]); no blueprint is applied yet.
    ///
    /// # Errors
    /// As [`TestRepo::new`] and [`copy_scenario`].
    pub fn with_scenario(backend: Backend, name: &str) -> Result<TestRepo, TestingError> {
        let t = TestRepo::new(backend)?;
        copy_scenario(name, t.root())?;
        Ok(t)
    }

    /// Wraps a repository the caller made inside `dir`, which is deleted on drop.
    pub fn wrap(repo: Repository, dir: tempfile::TempDir) -> TestRepo {
        TestRepo {
            repo,
            _redis: None,
            _dir: dir,
        }
    }

    /// The repository's root directory.
    pub fn root(&self) -> &Path {
        self.repo.root()
    }

    /// Writes `text` at `rel` under the repository root, creating directories.
    ///
    /// # Errors
    /// As [`write_file`].
    pub fn write(&self, rel: &str, text: &str) -> Result<(), TestingError> {
        write_file(self.root(), rel, text)
    }

    /// Writes the `schema.hrd` of template `name`.
    ///
    /// # Errors
    /// As [`write_file`].
    pub fn template(&self, name: &str, hrd: &str) -> Result<(), TestingError> {
        self.write(&format!("actorTemplates/{name}/schema.hrd"), hrd)
    }

    /// Every key and value of the repository's namespace.
    ///
    /// # Errors
    /// [`TestingError::Store`] when the scan fails.
    pub fn scan(&self) -> Result<Entries, TestingError> {
        self.repo
            .store()
            .scan(b"", 256)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TestingError::Store { source })
    }

    /// Checks that the index entries are exactly those the service records imply (no stale
    /// entry, none missing), that no scheduled-action args outlive their service, and that no
    /// write lock is left behind.
    ///
    /// # Errors
    /// [`TestingError::LockLeftBehind`], [`TestingError::OrphanArgs`] or
    /// [`TestingError::IndexMismatch`] when a check fails; [`TestingError::Repository`] or
    /// [`TestingError::Store`] when the state cannot be read.
    pub fn check_indexes(&self) -> Result<(), TestingError> {
        let repository = |action| {
            move |source| TestingError::Repository {
                action,
                source: Box::new(source),
            }
        };
        let mut expected = BTreeSet::new();
        let services = self
            .repo
            .services(&ServiceFilter::all())
            .map_err(repository("list the services"))?;
        for s in &services {
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
            // Services with a `new` action are not indexed by it.
            for a in s.actions.iter().filter(|a| a.state != ActionState::New) {
                expected.insert(format!("idx/state/{}:{}/{k}", a.name, a.state));
            }
        }
        let keys: BTreeSet<String> = self
            .repo
            .service_keys(&ServiceFilter::all())
            .map_err(repository("list the service keys"))?
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut actual = BTreeSet::new();
        for (k, _) in self.scan()? {
            let k = String::from_utf8_lossy(&k).into_owned();
            if k == "lock/write" {
                return Err(TestingError::LockLeftBehind);
            }
            if let Some(rest) = k.strip_prefix("svc-args/") {
                let owner = rest.split_once('/').map_or(rest, |(o, _)| o);
                if !keys.contains(owner) {
                    return Err(TestingError::OrphanArgs { key: k });
                }
            }
            if k.starts_with("idx/") {
                actual.insert(k);
            }
        }
        let stale: Vec<String> = actual.difference(&expected).cloned().collect();
        let missing: Vec<String> = expected.difference(&actual).cloned().collect();
        if stale.is_empty() && missing.is_empty() {
            Ok(())
        } else {
            Err(TestingError::IndexMismatch { stale, missing })
        }
    }
}

/// The shared directory: `AYS_SHARED`, else `shared/` beside the checkout (`../../shared` from
/// this crate's directory, the same place from every crate of the workspace).
///
/// # Errors
/// [`TestingError::FixtureMissing`] naming the directory when it does not exist.
pub fn shared_dir() -> Result<PathBuf, TestingError> {
    let dir = std::env::var_os("AYS_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
        PathBuf::from,
    );
    existing(dir)
}

/// The shared fixture at `rel` under `<shared>/fixtures/`, e.g. `scenarios/sample_repo1` or
/// `hrd-pairs`.
///
/// # Errors
/// [`TestingError::FixtureMissing`] naming the path when it does not exist.
pub fn fixture(rel: &str) -> Result<PathBuf, TestingError> {
    existing(shared_dir()?.join("fixtures").join(rel))
}

fn existing(path: PathBuf) -> Result<PathBuf, TestingError> {
    if path.exists() {
        Ok(path)
    } else {
        Err(TestingError::FixtureMissing { path })
    }
}

/// Copies the `actorTemplates/` and `blueprints/` of the shared scenario `name`
/// (`fixtures/scenarios/<name>`) into the repository at `root`.
///
/// # Errors
/// As [`fixture`] and [`copy_tree`].
pub fn copy_scenario(name: &str, root: &Path) -> Result<(), TestingError> {
    let src = fixture(&format!("scenarios/{name}"))?;
    for sub in ["actorTemplates", "blueprints"] {
        copy_tree(&src.join(sub), &root.join(sub))?;
    }
    Ok(())
}

/// Copies the directory tree `from` into `to`, creating `to` and overwriting files.
///
/// # Errors
/// [`TestingError::Io`] naming the directory or file that could not be read or written.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), TestingError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| TestingError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(to).map_err(io("create", to))?;
    for entry in std::fs::read_dir(from).map_err(io("read", from))? {
        let entry = entry.map_err(io("read", from))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io("read", &path))?.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(io("copy", &path))?;
        }
    }
    Ok(())
}

/// Writes `text` at `rel` under `root`, creating directories.
///
/// # Errors
/// [`TestingError::Io`] naming the directory or file that could not be written.
pub fn write_file(root: &Path, rel: &str, text: &str) -> Result<(), TestingError> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| TestingError::Io {
            action: "create",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(&path, text).map_err(|source| TestingError::Io {
        action: "write",
        path,
        source,
    })
}

/// Runs a test body once per backend: `both!(name, body)` makes a module `name` holding the
/// tests `redb` and `redis`, each calling `body(`[`Backend`]`)` from the enclosing module.
///
/// [`Backend`]: crate::testing::Backend
#[macro_export]
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[test]
            fn redb() -> $crate::testing::TestResult {
                super::$body($crate::testing::Backend::Redb)
            }

            #[test]
            fn redis() -> $crate::testing::TestResult {
                super::$body($crate::testing::Backend::Redis)
            }
        }
    };
}
