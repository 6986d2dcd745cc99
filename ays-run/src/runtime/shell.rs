//! The shell runtime: a function of the actor's `actions.sh`, run by bash in its own process
//! group: forked by a bash server that sourced the file once ([`ShellMode::Forking`]), or by a
//! bash started for the job ([`ShellMode::Fresh`]).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tracing::debug;

use super::bash_server::{self, BashServers};
use super::process::{Ended, Finished, last_lines, log_entry, run_child};
use super::scratch::{JobFiles, Scratch};
use super::{ActorsDir, BarePayload, DEFAULT_OUTPUT_CAP, PayloadSource};
use ays_core::{JobLog, JobLogCategory};

use crate::error::RuntimeError;
use crate::job::{ActionRunner, DataPatch, FailureKind, JobContext, JobOutcome};

/// Sources the actions file and calls the function if it is defined; an undefined function is a
/// no-op, as an action missing from an 8.1 actions file was.
const SCRIPT: &str = r#"source "$AYS_ACTIONS_FILE" || exit 97
if declare -F -- "$AYS_ACTION" >/dev/null; then "$AYS_ACTION"; else exit 0; fi"#;

/// How long a background process left by an action may keep its output pipes open.
const PIPE_GRACE: Duration = Duration::from_millis(200);

/// How bash runs the jobs of an `actions.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShellMode {
    /// One bash per actions file sources it when the actor's first job starts, then forks a
    /// subshell per job (default). The file's top-level code runs once, in that bash, and what
    /// it sets (variables, options, helper functions) is what every job starts with; `$$` is
    /// that bash's pid in every job, `$BASHPID` the job's own. Needs pidfds (Linux 5.3); on an
    /// older kernel jobs run as in [`ShellMode::Fresh`].
    #[default]
    Forking,
    /// A new bash per job sources the file and calls the function.
    Fresh,
}

/// Runs `actions.sh` functions.
///
/// The job's context is in environment variables (`AYS_REPO`, `AYS_RUN`, `AYS_JOB`,
/// `AYS_SERVICE`, `AYS_SERVICE_ROLE`, `AYS_SERVICE_INSTANCE`, `AYS_ACTOR`, `AYS_ACTION`,
/// `AYS_ATTEMPT`), and `AYS_JOB_FILE` names a JSON file with the service data, parent,
/// producers, consumers and args. An action changes data by writing a JSON object of changed
/// fields to `$AYS_RESULT_FILE`. stdout and stderr become `out` and `err` log entries, each
/// capped; a non-zero exit fails the job with the last lines of stderr; at the timeout, or on a
/// kill request, the whole process group is killed.
#[derive(Clone)]
pub struct ShellRuntime {
    repo: PathBuf,
    actors: ActorsDir,
    payload: Arc<dyn PayloadSource>,
    output_cap: usize,
    scratch: Scratch,
    mode: ShellMode,
    servers: Arc<BashServers>,
}

impl std::fmt::Debug for ShellRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellRuntime")
            .field("repo", &self.repo)
            .field("actors", &self.actors)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ShellRuntime {
    /// Actions of repository `repo`, found in `<repo>/actors/<actor>/actions.sh`.
    pub fn new(repo: impl Into<PathBuf>) -> Self {
        let repo = repo.into();
        Self {
            actors: ActorsDir(repo.join("actors")),
            repo,
            payload: Arc::new(BarePayload),
            output_cap: DEFAULT_OUTPUT_CAP,
            scratch: Scratch::default(),
            mode: ShellMode::default(),
            servers: Arc::default(),
        }
    }

    /// Runs jobs as `mode` says (default [`ShellMode::Forking`]).
    pub fn with_mode(mut self, mode: ShellMode) -> Self {
        self.mode = mode;
        self
    }

    /// Looks for actors in `dir` instead.
    pub fn with_actors_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.actors = ActorsDir(dir.into());
        self
    }

    /// Gets payloads from `source` (default: empty data, no relations).
    pub fn with_payload(mut self, source: Arc<dyn PayloadSource>) -> Self {
        self.payload = source;
        self
    }

    /// Keeps at most `bytes` of each output stream (default 1 MiB).
    pub fn with_output_cap(mut self, bytes: usize) -> Self {
        self.output_cap = bytes;
        self
    }

    /// Runs the action of `ctx` once.
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] when the job cannot be set up or bash cannot be started; an action that
    /// fails is an `Ok` outcome holding the failure.
    pub fn execute(&self, ctx: &JobContext) -> Result<JobOutcome, RuntimeError> {
        let file = self.actors.file(ctx.actor(), "actions.sh");
        if !file.exists() {
            return Ok(JobOutcome::ok());
        }
        let files = self.scratch.job(ctx)?;
        let result_file = files.path("result.json");
        let payload = self.payload.payload(ctx)?;
        let doc = payload.to_json(ctx, &self.repo.to_string_lossy());
        write_file(ctx, &files.path("job.json"), doc.to_string().as_bytes())?;
        let finished = if self.mode == ShellMode::Forking && bash_server::supported() {
            self.servers
                .run(ctx, &file, &self.repo, &files, self.output_cap, PIPE_GRACE)?
        } else {
            self.run_fresh(ctx, &file, &files)?
        };
        let Finished { ended, out, err } = finished;
        let mut outcome = match ended {
            Ended::Exited(status) if status.success() => {
                let mut outcome = JobOutcome::ok();
                outcome.data_patch = read_patch(ctx, &result_file)?;
                outcome
            }
            Ended::Exited(status) => {
                let tail = last_lines(&err.bytes(), 5);
                let code = status
                    .code()
                    .map_or("a signal".to_owned(), |c| c.to_string());
                let message = if tail.is_empty() {
                    format!("exited with {code}")
                } else {
                    format!("exited with {code}: {tail}")
                };
                JobOutcome::failed(FailureKind::Error, message)
            }
            Ended::TimedOut => JobOutcome::failed(
                FailureKind::Timeout,
                format!("killed after its timeout of {:?}", ctx.timeout()),
            ),
            Ended::Killed => JobOutcome::failed(FailureKind::Killed, "killed by cancellation"),
            Ended::Gone => JobOutcome::failed(
                FailureKind::Runtime,
                "bash ended the job without its exit status (killed by a signal?)",
            ),
        };
        let mut logs: Vec<_> = [
            log_entry(JobLogCategory::Out, &out),
            log_entry(JobLogCategory::Err, &err),
        ]
        .into_iter()
        .flatten()
        .collect();
        logs.append(&mut outcome.logs);
        outcome.logs = logs;
        debug!(ok = outcome.is_ok(), "shell action ended");
        Ok(outcome)
    }
}

impl ShellRuntime {
    /// Runs the job in a bash of its own.
    fn run_fresh(
        &self,
        ctx: &JobContext,
        file: &Path,
        files: &JobFiles,
    ) -> Result<Finished, RuntimeError> {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(SCRIPT)
            .env("AYS_ACTIONS_FILE", file)
            .env("AYS_REPO", &self.repo)
            .env("AYS_RUN", ctx.run().as_str())
            .env("AYS_JOB", ctx.key().to_string())
            .env("AYS_SERVICE", ctx.service().as_str())
            .env("AYS_SERVICE_ROLE", ctx.service().role())
            .env("AYS_SERVICE_INSTANCE", ctx.service().instance())
            .env("AYS_ACTOR", ctx.actor().as_str())
            .env("AYS_ACTION", ctx.action().as_str())
            .env("AYS_ATTEMPT", ctx.attempt().to_string())
            .env("AYS_JOB_FILE", files.path("job.json"))
            .env("AYS_RESULT_FILE", files.path("result.json"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if self.repo.is_dir() {
            command.current_dir(&self.repo);
        }
        let mut child = command.spawn().map_err(|source| RuntimeError::Spawn {
            job: ctx.key().clone(),
            program: "bash".into(),
            source,
        })?;
        run_child(&mut child, ctx, self.output_cap, PIPE_GRACE).map_err(|source| RuntimeError::Io {
            job: ctx.key().clone(),
            path: PathBuf::from("bash"),
            source,
        })
    }
}

impl ActionRunner for ShellRuntime {
    fn run(&self, ctx: &JobContext) -> JobOutcome {
        self.execute(ctx).unwrap_or_else(|err| {
            JobOutcome::failed(FailureKind::Runtime, JobLog::error_text(&err))
        })
    }
}

pub(super) fn write_file(ctx: &JobContext, path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
    std::fs::write(path, bytes).map_err(|source| RuntimeError::Io {
        job: ctx.key().clone(),
        path: path.to_owned(),
        source,
    })
}

/// Reads the data patch an action wrote, if any: a JSON object, or nothing.
pub(super) fn read_patch(ctx: &JobContext, path: &Path) -> Result<Option<DataPatch>, RuntimeError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RuntimeError::Io {
                job: ctx.key().clone(),
                path: path.to_owned(),
                source,
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(RuntimeError::ResultNotObject {
            job: ctx.key().clone(),
            path: path.to_owned(),
        }),
        Err(source) => Err(RuntimeError::BadResult {
            job: ctx.key().clone(),
            path: path.to_owned(),
            source,
        }),
    }
}
