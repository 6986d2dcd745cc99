//! Test repositories on the embedded store and on Redis (one server per test binary).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ays_core::{ApplyOptions, InitOptions, Repository};
use ays_store::testing::RedisServer;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Redb,
    Redis,
}

/// A repository in a temporary directory, on `backend`.
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

    /// Writes `text` at `rel` under the repository root, creating directories.
    pub(crate) fn write(&self, rel: &str, text: &str) -> TestResult {
        let p = self.repo.root().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, text)?;
        Ok(())
    }

    /// The 8.1 scenario `sample_repo3` with its action chains and `actions.sh` written in this
    /// project's formats (`test` fails, `test2` and `test3` succeed), blueprints applied.
    pub(crate) fn sample_repo3(backend: Backend) -> Result<TestRepo, Box<dyn std::error::Error>> {
        let t = TestRepo::new(backend)?;
        let src = scenarios()?.join("sample_repo3");
        copy_tree(
            &src.join("actorTemplates"),
            &t.repo.root().join("actorTemplates"),
        )?;
        copy_tree(&src.join("blueprints"), &t.repo.root().join("blueprints"))?;
        t.write(
            "actorTemplates/runtime_error_service/config.yaml",
            "depends:\n  test: [install]\n  test2: [install]\n  test3: [test2]\n",
        )?;
        t.write(
            "actorTemplates/runtime_error_service/actions.sh",
            "test() {\n    echo \"Error from service $AYS_SERVICE\" >&2\n    return 1\n}\n\
             test2() {\n    :\n}\n\ntest3() {\n    :\n}\n",
        )?;
        t.repo.apply_blueprints(ApplyOptions::default())?;
        Ok(t)
    }
}

/// The shared scenarios directory (`AYS_SHARED`); its absence is a failure.
fn scenarios() -> Result<PathBuf, String> {
    let shared = std::env::var_os("AYS_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
        PathBuf::from,
    );
    let dir = shared.join("fixtures/scenarios");
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "the shared scenarios are missing at `{}` (set AYS_SHARED)",
            dir.display()
        ))
    }
}

fn copy_tree(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
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
