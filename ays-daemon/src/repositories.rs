//! [`Repositories`]: the repositories a daemon serves, each named by its directory name, and
//! [`ReposDir`], the directory where it creates repositories (`--repos-dir`).
//!
//! Every repository is opened with the runtime of templates' `input` and `init`
//! ([`ays_run::CreationActions`]), as the CLI opens it, so that a blueprint applied through the
//! API creates services as `ays blueprint` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ays_core::{CoreError, InitOptions, OpenOptions, Repository};

use crate::error::DaemonError;
use crate::names;

/// The marker of a repository: its config file.
const CONFIG: &str = ".ays/config.yaml";

/// The repositories a daemon serves, by name. Each is opened once; requests share the handle.
#[derive(Debug, Clone, Default)]
pub struct Repositories {
    by_name: BTreeMap<String, Arc<Repository>>,
    repos_dir: Option<Arc<ReposDir>>,
}

impl Repositories {
    /// Opens the repository rooted at each of `dirs` with `options` ([`Repository::open`]). A
    /// repository is named by its directory's name, which must follow the rule of names in
    /// paths (no leading `.`, no `/`) and be unique.
    ///
    /// This blocks on the file system and the store: call it from a blocking context.
    ///
    /// # Errors
    ///
    /// [`DaemonError::NoRepositories`] for an empty list, [`DaemonError::NotARepository`],
    /// [`DaemonError::BadName`], [`DaemonError::DuplicateName`], [`DaemonError::Open`].
    pub fn open(dirs: &[PathBuf], options: &OpenOptions) -> Result<Repositories, DaemonError> {
        if dirs.is_empty() {
            return Err(DaemonError::NoRepositories);
        }
        let mut by_name: BTreeMap<String, Arc<Repository>> = BTreeMap::new();
        for dir in dirs {
            if !dir.join(CONFIG).is_file() {
                return Err(DaemonError::NotARepository { path: dir.clone() });
            }
            let repo = Repository::open(dir, options.clone())
                .map(served)
                .map_err(|source| DaemonError::Open {
                    path: dir.clone(),
                    source: Box::new(source),
                })?;
            let name = name_of(repo.root())?;
            if let Some(first) = by_name.get(&name) {
                return Err(DaemonError::DuplicateName {
                    name,
                    first: first.root().to_path_buf(),
                    second: repo.root().to_path_buf(),
                });
            }
            tracing::info!(repository = %name, path = %repo.root().display(), store = %repo.store_url(), "serving");
            by_name.insert(name, Arc::new(repo));
        }
        Ok(Repositories {
            by_name,
            repos_dir: None,
        })
    }

    /// Opens the repositories at `dirs`, as [`Repositories::open`], which may be none, and
    /// records `dir` as the directory where the API creates repositories
    /// (`POST /ays/repository`) and whose repositories it may delete. `options` open those it
    /// creates too.
    ///
    /// This blocks on the file system and the store: call it from a blocking context.
    ///
    /// # Errors
    ///
    /// [`DaemonError::ReadDir`] when `dir` cannot be resolved, and the errors of
    /// [`Repositories::open`] but [`DaemonError::NoRepositories`].
    pub fn open_under(
        dir: &Path,
        dirs: &[PathBuf],
        options: &OpenOptions,
    ) -> Result<Repositories, DaemonError> {
        let mut repositories = if dirs.is_empty() {
            Repositories::default()
        } else {
            Repositories::open(dirs, options)?
        };
        let dir = std::fs::canonicalize(dir).map_err(|source| DaemonError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        repositories.repos_dir = Some(Arc::new(ReposDir {
            dir,
            options: options.clone(),
        }));
        Ok(repositories)
    }

    /// The names of the repositories, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The repositories by name, sorted.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Repository>)> {
        self.by_name.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Where the API creates repositories, if it may.
    pub(crate) fn repos_dir(&self) -> Option<&Arc<ReposDir>> {
        self.repos_dir.as_ref()
    }
}

/// `repo` as the daemon serves it: with the runtime of templates' `input` and `init`.
fn served(repo: Repository) -> Repository {
    repo.with_creation_runtime(Arc::new(ays_run::CreationActions::new()))
}

/// The directory where the API creates repositories (`ays daemon --repos-dir DIR`), and how it
/// opens them.
#[derive(Debug)]
pub(crate) struct ReposDir {
    /// The directory, resolved.
    dir: PathBuf,
    /// How its repositories are opened (a store URL that replaces each one's own).
    options: OpenOptions,
}

/// Why a repository cannot be created.
#[derive(Debug)]
pub(crate) enum CreateError {
    /// Something named so is in the directory already.
    Exists(PathBuf),
    /// The directory cannot be made.
    Io(PathBuf, std::io::Error),
    /// The repository cannot be initialised.
    Init(CoreError),
}

impl ReposDir {
    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the repository rooted at `root` is directly in the directory (so it may be
    /// deleted through the API).
    pub(crate) fn holds(&self, root: &Path) -> bool {
        root.parent() == Some(self.dir.as_path())
    }

    /// Makes repository `name` in the directory, as `ays init` does, and opens it as the daemon
    /// serves repositories. `name` follows the rule of names. The directory `name` is made
    /// first, which fails if anything of that name exists, so that two requests cannot make the
    /// same repository, nor one adopt a directory it did not make; on error, nothing is left.
    /// Blocks on the file system and the store.
    pub(crate) fn create(&self, name: &str) -> Result<Repository, CreateError> {
        let root = self.dir.join(name);
        match std::fs::create_dir(&root) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(CreateError::Exists(root));
            }
            Err(err) => return Err(CreateError::Io(root, err)),
        }
        let options = InitOptions {
            store_url: self.options.store_url.clone(),
            template_dirs: Vec::new(),
        };
        match Repository::init(&root, options) {
            Ok(repo) => {
                tracing::info!(repository = %name, path = %repo.root().display(), store = %repo.store_url(), "created");
                Ok(served(repo))
            }
            Err(err) => {
                if let Err(left) = std::fs::remove_dir_all(&root) {
                    tracing::warn!(path = %root.display(), error = %left, "cannot remove what a failed create made");
                }
                Err(CreateError::Init(err))
            }
        }
    }
}

/// The name of the repository rooted at `root`: its directory name.
fn name_of(root: &Path) -> Result<String, DaemonError> {
    let bad = |reason| DaemonError::BadName {
        path: root.to_path_buf(),
        reason,
    };
    let name = root
        .file_name()
        .ok_or_else(|| bad("is missing"))?
        .to_str()
        .ok_or_else(|| bad("is not valid UTF-8"))?;
    names::check(name).map_err(bad)?;
    Ok(name.to_owned())
}

/// The repositories directly under `dir` (`ays daemon --repos-dir`): its subdirectories that
/// hold `.ays/config.yaml`, sorted by name. Hidden subdirectories are skipped, as their names
/// could not name a repository in the API.
///
/// # Errors
///
/// [`DaemonError::ReadDir`], and [`DaemonError::NoneUnder`] when there is none.
pub fn repositories_under(dir: &Path) -> Result<Vec<PathBuf>, DaemonError> {
    let read_error = |source| DaemonError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            tracing::debug!(path = %path.display(), "hidden: not served");
            continue;
        }
        if path.join(CONFIG).is_file() {
            found.push(path);
        }
    }
    if found.is_empty() {
        return Err(DaemonError::NoneUnder {
            dir: dir.to_path_buf(),
        });
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(dir: &Path) {
        Repository::init(dir, ays_core::InitOptions::default()).unwrap();
    }

    #[test]
    fn repositories_under_a_directory_are_found_in_name_order() {
        let tmp = tempfile::tempdir().unwrap();
        init(&tmp.path().join("b"));
        init(&tmp.path().join("a"));
        init(&tmp.path().join(".hidden"));
        std::fs::create_dir(tmp.path().join("plain")).unwrap();
        std::fs::write(tmp.path().join("file"), "").unwrap();
        assert_eq!(
            repositories_under(tmp.path()).unwrap(),
            [tmp.path().join("a"), tmp.path().join("b")]
        );
        assert!(matches!(
            repositories_under(&tmp.path().join("plain")),
            Err(DaemonError::NoneUnder { dir }) if dir == tmp.path().join("plain")
        ));
        assert!(matches!(
            repositories_under(&tmp.path().join("missing")),
            Err(DaemonError::ReadDir { .. })
        ));
    }

    #[test]
    fn names_must_be_unique_usable_and_repositories_real() {
        let tmp = tempfile::tempdir().unwrap();
        let (one, two) = (tmp.path().join("x/r"), tmp.path().join("y/r"));
        init(&one);
        init(&two);
        init(&tmp.path().join("z/.r"));
        let options = OpenOptions::default();
        let served = Repositories::open(std::slice::from_ref(&one), &options).unwrap();
        assert_eq!(served.names().collect::<Vec<_>>(), ["r"]);
        assert!(matches!(
            Repositories::open(&[one, two], &options),
            Err(DaemonError::DuplicateName { name, .. }) if name == "r"
        ));
        assert!(matches!(
            Repositories::open(&[tmp.path().join("z/.r")], &options),
            Err(DaemonError::BadName { .. })
        ));
        assert!(matches!(
            Repositories::open(&[tmp.path().join("x")], &options),
            Err(DaemonError::NotARepository { path }) if path == tmp.path().join("x")
        ));
        assert!(matches!(
            Repositories::open(&[], &options),
            Err(DaemonError::NoRepositories)
        ));
    }
}
