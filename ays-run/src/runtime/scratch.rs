//! Where runtimes write the files of running jobs (`AYS_JOB_FILE`, `AYS_RESULT_FILE`, Python's
//! captured output): one private directory per runtime, made on first use, on a memory-backed
//! filesystem when the machine has one, so that a job costs no directory and no disk metadata.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tempfile::TempDir;

use crate::error::RuntimeError;
use crate::job::JobContext;

/// The scratch directory of one runtime; clones share it. It is removed when the last clone is
/// dropped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scratch(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    dir: Mutex<Option<Arc<TempDir>>>,
    next: AtomicU64,
}

/// The parent of scratch directories: `$TMPDIR` when the user set it, else the user's runtime
/// directory or `/dev/shm` (both in memory), else the system's temporary directory.
fn base() -> PathBuf {
    if std::env::var_os("TMPDIR").is_some() {
        return std::env::temp_dir();
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/dev/shm")])
        .find(|dir| dir.is_dir() && !dir.metadata().is_ok_and(|m| m.permissions().readonly()))
        .unwrap_or_else(std::env::temp_dir)
}

impl Scratch {
    /// Files for the job of `ctx`, removed when the returned value is dropped.
    pub(crate) fn job(&self, ctx: &JobContext) -> Result<JobFiles, RuntimeError> {
        let dir = {
            let mut slot = self.0.dir.lock().unwrap_or_else(PoisonError::into_inner);
            match slot.as_ref() {
                Some(dir) => Arc::clone(dir),
                None => {
                    let base = base();
                    let made = tempfile::Builder::new()
                        .prefix("ays-jobs-")
                        .tempdir_in(&base)
                        .map_err(|source| RuntimeError::Io {
                            job: ctx.key().clone(),
                            path: base,
                            source,
                        })?;
                    Arc::clone(slot.insert(Arc::new(made)))
                }
            }
        };
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        Ok(JobFiles { id, dir })
    }
}

/// The files of one job, `<scratch>/<id>.<name>`; removed on drop.
pub(crate) struct JobFiles {
    id: u64,
    // Also keeps the directory until the job's files are gone.
    dir: Arc<TempDir>,
}

/// The names a job's files may have.
const NAMES: [&str; 5] = ["job.json", "result.json", "out", "err", "status"];

impl JobFiles {
    /// The file `name` of the job: one of `job.json`, `result.json`, `out`, `err` or `status`.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{}.{name}", self.id))
    }

    /// The job's number in its directory.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The directory the files are in.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for JobFiles {
    fn drop(&mut self) {
        for name in NAMES {
            // Most jobs never write some of them; nothing else can be done about a failure.
            let _ = std::fs::remove_file(self.path(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_files_are_distinct_and_removed_with_their_job() {
        let scratch = Scratch::default();
        let key = crate::JobKey {
            service: "app!a".parse().unwrap(),
            action: "install".parse().unwrap(),
        };
        let ctx = JobContext::new(
            "run1".parse().unwrap(),
            key,
            "app".parse().unwrap(),
            std::time::Duration::from_secs(60),
        );
        let a = scratch.job(&ctx).unwrap();
        let b = scratch.job(&ctx).unwrap();
        assert_ne!(a.path("job.json"), b.path("job.json"));
        assert_eq!(a.dir(), b.dir(), "one directory per runtime");
        std::fs::write(a.path("job.json"), "{}").unwrap();
        std::fs::write(a.path("out"), "x").unwrap();
        let (job, dir) = (a.path("job.json"), a.dir().to_owned());
        drop(a);
        assert!(!job.exists(), "a job's files go with it");
        assert!(
            dir.is_dir(),
            "the directory stays while another job uses it"
        );
        drop(b);
        drop(scratch);
        assert!(!dir.exists(), "the directory goes with the runtime");
    }
}
