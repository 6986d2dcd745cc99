//! The error enums of the crate, one per area.

use std::fmt;

use crate::input::{ActionName, ServiceKey};

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
    /// A service key is not `role!instance`.
    #[error("invalid service key `{key}` (expected `role!instance`)")]
    InvalidServiceKey {
        /// The key as given.
        key: String,
    },
    /// An action name has characters other than ASCII letters, digits and `_`.
    #[error("invalid action name `{action}`")]
    InvalidActionName {
        /// The name as given.
        action: String,
    },
    /// An actor name is not valid.
    #[error("invalid actor name `{actor}`")]
    InvalidActorName {
        /// The name as given.
        actor: String,
    },
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The backing store refused the write.
    #[error("journal of run `{run}` could not record {what}: {message}")]
    Write {
        /// The run.
        run: String,
        /// What was being recorded (`job_started`, …).
        what: &'static str,
        /// The store's message.
        message: String,
    },
}

/// Why an execution could not be carried out (a failed job is not an error: see the report).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// A run id is empty or has white space.
    #[error("invalid run id `{id}`")]
    InvalidRunId {
        /// The id as given.
        id: String,
    },
    /// The configuration cannot work (a limit of zero).
    #[error("run `{run}`: invalid executor configuration: {reason}")]
    InvalidConfig {
        /// The run.
        run: String,
        /// What is wrong.
        reason: String,
    },
    /// The journal failed; running jobs were waited for, none was started after.
    #[error("run `{run}` stopped: the journal failed")]
    Journal {
        /// The run.
        run: String,
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
    /// The result file an action wrote is not a JSON object.
    #[error("{job}: bad result file `{}`: {reason}", .path.display())]
    BadResult {
        /// The job.
        job: JobKey,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The Python server broke the protocol or went away.
    #[error("{job}: python server: {reason}")]
    Server {
        /// The job.
        job: JobKey,
        /// What happened.
        reason: String,
    },
    /// The payload of a job could not be loaded.
    #[error("{job}: cannot load the job's service: {reason}")]
    Payload {
        /// The job.
        job: JobKey,
        /// Why.
        reason: String,
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
        actor: String,
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
    #[error("run `{run}`")]
    Repository {
        /// The run (empty before one is chosen).
        run: String,
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
        run: String,
        /// The cause.
        #[source]
        source: ExecError,
    },
    /// An actor's stored action code could not be written out for its runtime.
    #[error("run `{run}`: cannot write the actions of `{actor}` to {}", path.display())]
    Materialise {
        /// The run.
        run: String,
        /// The actor.
        actor: String,
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
        run: String,
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
        run: String,
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
        run: String,
    },
    /// The run to abandon has already ended.
    #[error("run `{run}` has already ended ({state})")]
    AlreadyFinished {
        /// The run.
        run: String,
        /// Its state.
        state: ays_core::JobState,
    },
    /// The settings stored with a run cannot be read.
    #[error("run `{run}`: bad stored settings `{settings}`: {reason}")]
    BadSettings {
        /// The run.
        run: String,
        /// The stored text.
        settings: String,
        /// What is wrong.
        reason: String,
    },
    /// A stored job is not one of the run's plan (the repository changed under the run).
    #[error(
        "run `{run}`: job {job} of the plan is not stored; the repository changed since the run started"
    )]
    PlanMismatch {
        /// The run.
        run: String,
        /// The job.
        job: JobKey,
    },
}

impl RunError {
    pub(crate) fn repo(run: &str) -> impl FnOnce(ays_core::CoreError) -> RunError {
        let run = run.to_owned();
        move |source| RunError::Repository {
            run,
            source: Box::new(source),
        }
    }
}

impl From<SourceError> for RunError {
    fn from(e: SourceError) -> Self {
        RunError::Source(Box::new(e))
    }
}
