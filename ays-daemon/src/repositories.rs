//! [`Repositories`]: the repositories a daemon serves, each named by its directory name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ays_core::{OpenOptions, Repository};

use crate::error::DaemonError;
use crate::names;

/// The marker of a repository: its config file.
const CONFIG: &str = ".ays/config.yaml";

/// The repositories a daemon serves, by name. Each is opened once; requests share the handle.
#[derive(Debug, Clone, Default)]
pub struct Repositories {
    by_name: BTreeMap<String, Arc<Repository>>,
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
            let repo =
                Repository::open(dir, options.clone()).map_err(|source| DaemonError::Open {
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
        Ok(Repositories { by_name })
    }

    /// The names of the repositories, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The repositories by name, sorted.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Repository>)> {
        self.by_name.iter().map(|(k, v)| (k.as_str(), v))
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
