//! The error enums of the crate, one per area.

use std::fmt;

use ays_core::{ActionName, ActorName, CoreError, NameError, RunId, ServiceKey};

/// A (service, action) pair named by an error.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobKey {
    /// The service.
    pub service: ServiceKey,
    /// The action.
    pub action: ActionName,
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.action)
    }
}

/// Why a plan could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A name given to the planner (a service key, an actor or action name) is not valid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Two services share a key.
    #[error("service `{service}` is declared twice")]
    DuplicateService {
        /// The key declared twice.
        service: ServiceKey,
    },
    /// A relation names a service that is not in the snapshot.
    #[error("service `{service}` names unknown producer or parent `{missing}`")]
    UnknownService {
        /// The service holding the relation.
        service: ServiceKey,
        /// The key it names.
        missing: ServiceKey,
    },
    /// A prerequisite of a candidate action is disabled.
    #[error("{needed_by} needs {disabled}, which is disabled")]
    DisabledPrerequisite {
        /// The disabled action.
        disabled: JobKey,
        /// The action that needs it.
        needed_by: JobKey,
    },
    /// The dependencies form a cycle.
    #[error("dependency cycle: {}", render_cycle(.cycle))]
    Cycle {
        /// The actions on the cycle, each needing the next, the last needing the first.
        cycle: Vec<JobKey>,
    },
}

fn render_cycle(cycle: &[JobKey]) -> String {
    let mut out = String::new();
    for key in cycle {
        out.push_str(&key.to_string());
        out.push_str(" needs ");
    }
    match cycle.first() {
        Some(first) => out.push_str(&first.to_string()),
        None => out.push_str("(nothing)"),
    }
    out
}

/// Why a journal could not record a change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The repository refused the write.
    #[error("journal of run `{run}` could not record {what}")]
    Write {
        /// The run.
        run: RunId,
        /// What was being recorded (`job_started`, …).
        what: &'static str,
        /// The repository's error.
        #[source]
        source: Box<CoreError>,
    },
    /// A job of the plan is not one of the stored run's jobs.
    #[error("journal of run `{run}` could not record {what}: job {job} is not a job of the run")]
    UnknownJob {
        /// The run.
        run: RunId,
        /// What was being recorded.
        what: &'static str,
        /// The job.
        job: JobKey,
    },
    /// A journal or observer of the caller's own stopped the run.
    #[error("journal of run `{run}` stopped the run at {what}")]
    Stopped {
        /// The run.
        run: RunId,
        /// What was being recorded.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why an execution could not be carried out (a failed job is not an error: see the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The configuration cannot work (a limit of zero).
    #[error("run `{run}`: invalid executor configuration: {reason}")]
    InvalidConfig {
        /// The run.
        run: RunId,
        /// What is wrong.
        reason: String,
    },
    /// The journal failed; running jobs were waited for, none was started after.
    #[error("run `{run}` stopped: the journal failed")]
    Journal {
        /// The run.
        run: RunId,
        /// The journal's error.
        #[source]
        source: JournalError,
    },
}

/// Why a runtime could not run an action (as opposed to the action failing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The interpreter could not be started.
    #[error("{job}: cannot start `{program}`")]
    Spawn {
        /// The job.
        job: JobKey,
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A job file could not be written or read.
    #[error("{job}: i/o error on `{}`", .path.display())]
    Io {
        /// The job.
        job: JobKey,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The result file an action wrote is not JSON.
    #[error("{job}: bad result file `{}`", .path.display())]
    BadResult {
        /// The job.
        job: JobKey,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        #[source]
        source: serde_json::Error,
    },
    /// The result file an action wrote is JSON, but not an object of data fields.
    #[error("{job}: result file `{}` is not a JSON object", .path.display())]
    ResultNotObject {
        /// The job.
        job: JobKey,
        /// The file.
        path: std::path::PathBuf,
    },
    /// An action server (Python's, or bash's for `actions.sh`) broke the protocol or went away.
    #[error("{job}: the {program} server {what}")]
    Server {
        /// The job.
        job: JobKey,
        /// Which server: `python` or `bash`.
        program: &'static str,
        /// What happened (`exited`, `did not take the request`).
        what: &'static str,
        /// The cause, when there is one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The payload of a job could not be loaded.
    #[error("{job}: cannot load the job's service")]
    Payload {
        /// The job.
        job: JobKey,
        /// Why.
        #[source]
        source: Box<CoreError>,
    },
    /// A worker lost the payload its coordinator sent with the job (a bug, not an input).
    #[error("{job}: the worker has no payload for the job")]
    NoPayload {
        /// The job.
        job: JobKey,
    },
}

/// Reading a repository into the planner's input failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The repository could not be read.
    #[error("cannot read the repository")]
    Repository(#[from] ays_core::CoreError),
    /// A service names an actor that is not stored.
    #[error("actor `{actor}` of a stored service is missing from the repository")]
    MissingActor {
        /// The actor.
        actor: ActorName,
    },
    /// A stored name is not one the planner accepts.
    #[error("the repository holds a service or action the planner rejects")]
    Input(#[from] PlanError),
}

/// Why a run on a repository could not be created, resumed or shown (a failed job is not an
/// error: see the outcome).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The repository failed; [`ays_core::CoreError::RunLocked`] when another run holds the
    /// run lock.
    #[error("{}: the repository failed while it {doing}", RunLabel(.run.as_ref()))]
    Repository {
        /// The run (`None` before one is chosen).
        run: Option<RunId>,
        /// What the run was doing (`took the run lock`, `stored the plan`).
        doing: &'static str,
        /// The cause.
        #[source]
        source: Box<ays_core::CoreError>,
    },
    /// The repository could not be read into a plan.
    #[error("cannot plan the run")]
    Source(#[source] Box<SourceError>),
    /// The plan could not be built.
    #[error("cannot plan the run")]
    Plan(#[from] PlanError),
    /// The execution failed (its journal, here the store).
    #[error("run `{run}` was interrupted")]
    Exec {
        /// The run.
        run: RunId,
        /// The cause.
        #[source]
        source: Box<ExecError>,
    },
    /// An actor's stored action code could not be written out for its runtime.
    #[error("run `{run}`: cannot write the actions of `{actor}` to {}", path.display())]
    Materialise {
        /// The run.
        run: RunId,
        /// The actor.
        actor: ActorName,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The worker threads could not be started.
    #[error("run `{run}`: cannot start {threads} worker threads")]
    ThreadPool {
        /// The run.
        run: RunId,
        /// How many were asked for.
        threads: usize,
        /// The cause.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
    /// No run with this id.
    #[error("no run `{run}` in the repository")]
    NoSuchRun {
        /// The id asked for.
        run: RunId,
    },
    /// `resume` found no unfinished run.
    #[error("no unfinished run to resume")]
    NothingToResume,
    /// A new run was asked for while an older one is unfinished (it died, its store failed or
    /// it was cancelled).
    #[error(
        "run `{run}` is unfinished: resume it (`ays run resume`) or abandon it before creating a new run"
    )]
    Unfinished {
        /// The unfinished run.
        run: RunId,
    },
    /// [`crate::RunOptions::id`] names a run that is already stored.
    #[error("run `{run}` already exists")]
    RunExists {
        /// The id.
        run: RunId,
    },
    /// The run to abandon has already ended.
    #[error("run `{run}` has already ended ({state})")]
    AlreadyFinished {
        /// The run.
        run: RunId,
        /// Its state.
        state: ays_core::JobState,
    },
    /// The settings stored with a run cannot be read.
    #[error("run `{run}`: bad stored settings `{settings}`")]
    BadSettings {
        /// The run.
        run: RunId,
        /// The stored text.
        settings: String,
        /// What is wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A native action is registered under a name that no actor of the run has (a typo such
    /// as `instal` would otherwise leave `install` silently doing nothing).
    #[error(
        "native action `{action}`{} is registered, but no actor of the run has such an action",
        .actor.as_ref().map(|a| format!(" of `{a}`")).unwrap_or_default()
    )]
    UnknownNativeAction {
        /// The actor it was registered for (`None`: every actor).
        actor: Option<ActorName>,
        /// The action name.
        action: ActionName,
    },
    /// A stored job is not one of the run's plan (the repository changed under the run).
    #[error(
        "run `{run}`: job {job} of the plan is not stored; the repository changed since the run started"
    )]
    PlanMismatch {
        /// The run.
        run: RunId,
        /// The job.
        job: JobKey,
    },
    /// The store's message queue, through which the run hands its jobs to workers, failed.
    #[error("run `{run}`: cannot {doing} for the workers")]
    Dispatch {
        /// The run.
        run: RunId,
        /// What it was doing.
        doing: &'static str,
        /// The store's error.
        #[source]
        source: ays_store::StoreError,
    },
    /// The thread reading the workers' results could not be started.
    #[error("run `{run}`: cannot start the thread that reads the workers' results")]
    ResultsReader {
        /// The run.
        run: RunId,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a worker ([`run_worker`](crate::distributed::run_worker)) could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The store could not be opened or written.
    #[error("worker: the store `{url}` failed")]
    Store {
        /// The store's URL.
        url: String,
        /// Its error.
        #[source]
        source: ays_store::StoreError,
    },
    /// A live worker has this name.
    #[error("a live worker is already named `{name}`: give this one another --name")]
    NameTaken {
        /// The name.
        name: String,
    },
    /// The options are not usable.
    #[error("worker: {reason}")]
    Invalid {
        /// Why.
        reason: String,
    },
    /// Its threads could not be started.
    #[error("worker: cannot start its threads")]
    Thread {
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// `run `<id>`` or `the run` before an id is chosen.
struct RunLabel<'a>(Option<&'a RunId>);

impl fmt::Display for RunLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, "run `{id}`"),
            None => f.write_str("the run"),
        }
    }
}

impl RunError {
    /// A [`RunError::Repository`] of run `run` while it did `doing`.
    pub(crate) fn repo(
        run: Option<&RunId>,
        doing: &'static str,
    ) -> impl FnOnce(ays_core::CoreError) -> RunError {
        let run = run.cloned();
        move |source| RunError::Repository {
            run,
            doing,
            source: Box::new(source),
        }
    }
}

impl From<SourceError> for RunError {
    fn from(e: SourceError) -> Self {
        RunError::Source(Box::new(e))
    }
}
