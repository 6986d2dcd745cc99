//! Test repositories on the embedded store and on Redis (one server per test binary).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ays_core::{ApplyOptions, InitOptions, Repository};
use ays_store::testing::RedisServer;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Redb,
    Redis,
}

static REDIS: OnceLock<Result<RedisServer, String>> = OnceLock::new();

/// The shared server's URL; a missing `redis-server` is a failure.
fn redis_url() -> Result<String, String> {
    REDIS
        .get_or_init(|| RedisServer::start().map_err(|e| e.to_string()))
        .as_ref()
        .map(RedisServer::url)
        .map_err(Clone::clone)
}

/// A repository in a temporary directory, on `backend`.
pub(crate) struct TestRepo {
    pub(crate) repo: Repository,
    _dir: tempfile::TempDir,
}

impl TestRepo {
    pub(crate) fn new(backend: Backend) -> Result<TestRepo, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store_url = match backend {
            Backend::Redb => None,
            Backend::Redis => Some(redis_url()?),
        };
        let repo = Repository::init(
            &dir.path().join("repo"),
            InitOptions {
                store_url,
                ..InitOptions::default()
            },
        )?;
        Ok(TestRepo { repo, _dir: dir })
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
        t.repo.apply_blueprints(None, ApplyOptions::default())?;
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
