//! Jobs: their context, their outcome, their states, and the [`ActionRunner`] that executes them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use ays_core::{ActionName, ActorName, JobLogCategory, RunId, ServiceKey};

use crate::error::JobKey;
use crate::plan::JobId;

/// Asks a run to stop: the first request stops starting new jobs and waits for the running
/// ones; the second also asks runtimes to kill what runs. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicU8>);

impl CancelToken {
    /// A token nobody has triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Escalates one level (what a Ctrl-C handler calls) and returns the new level (1 or 2).
    pub fn request(&self) -> u8 {
        let before = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                Some(l.saturating_add(1).min(2))
            })
            .unwrap_or(2);
        before.saturating_add(1).min(2)
    }

    /// Whether no new job may start.
    pub fn is_stopping(&self) -> bool {
        self.0.load(Ordering::SeqCst) >= 1
    }

    /// Whether running jobs must be killed.
    pub fn is_killing(&self) -> bool {
        self.0.load(Ordering::SeqCst) >= 2
    }
}

/// What a runner knows about the job it executes.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub(crate) run: RunId,
    pub(crate) job: JobId,
    pub(crate) key: JobKey,
    pub(crate) actor: ActorName,
    pub(crate) attempt: u32,
    pub(crate) timeout: Duration,
    pub(crate) cancel: CancelToken,
    /// Set by the executor when it stops the run for a reason of its own (its journal failed).
    pub(crate) halted: Arc<AtomicBool>,
}

impl JobContext {
    /// A context outside any executor (runtimes' own tests, one-off actions).
    pub fn new(run: RunId, key: JobKey, actor: ActorName, timeout: Duration) -> Self {
        Self {
            run,
            job: JobId(0),
            key,
            actor,
            attempt: 1,
            timeout,
            cancel: CancelToken::new(),
            halted: Arc::default(),
        }
    }

    /// Whether the executor stopped the run on its own (its journal failed): like a first
    /// cancellation, nothing more should start, and what runs may finish.
    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// Replaces the cancellation token.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// The run.
    pub fn run(&self) -> &RunId {
        &self.run
    }

    /// The job's id in its plan.
    pub fn job(&self) -> JobId {
        self.job
    }

    /// The (service, action) pair.
    pub fn key(&self) -> &JobKey {
        &self.key
    }

    /// The service.
    pub fn service(&self) -> &ServiceKey {
        &self.key.service
    }

    /// The action.
    pub fn action(&self) -> &ActionName {
        &self.key.action
    }

    /// The service's actor.
    pub fn actor(&self) -> &ActorName {
        &self.actor
    }

    /// The attempt, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How long this attempt may take; runtimes that run a process kill it after that.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The run's cancellation token; runtimes kill their work when it says so.
    pub fn cancel(&self) -> &CancelToken {
        &self.cancel
    }
}

/// One entry of a job's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// What kind of entry it is.
    pub category: JobLogCategory,
    /// The text.
    pub text: String,
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The action reported an error (non-zero exit, exception, `Err`).
    Error,
    /// The action ran past its timeout.
    Timeout,
    /// The action was killed by a cancellation.
    Killed,
    /// The action panicked (native runner); the executor caught it.
    Panicked,
    /// The runtime could not run the action at all (missing interpreter, I/O error).
    Runtime,
}

impl FailureKind {
    /// The lower-case name (`timeout`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Timeout => "timeout",
            FailureKind::Killed => "killed",
            FailureKind::Panicked => "panicked",
            FailureKind::Runtime => "runtime",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed attempt: its kind and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// What happened (for errors, the last lines of stderr or the exception).
    pub message: String,
}

impl JobFailure {
    /// Whether another attempt may help (not after a cancellation).
    pub fn is_retryable(&self) -> bool {
        self.kind != FailureKind::Killed
    }
}

/// A JSON object of changed data fields returned by an action; the caller validates and commits.
pub type DataPatch = serde_json::Map<String, serde_json::Value>;

/// What one attempt of an action produced.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// Success, or why it failed.
    pub result: Result<(), JobFailure>,
    /// The job log of this attempt.
    pub logs: Vec<LogEntry>,
    /// Data fields the action changed, if any.
    pub data_patch: Option<DataPatch>,
}

impl JobOutcome {
    /// A success with no log.
    pub fn ok() -> Self {
        Self {
            result: Ok(()),
            logs: Vec::new(),
            data_patch: None,
        }
    }

    /// A failure of `kind`, its message also logged as an `ErrorMsg` entry.
    pub fn failed(kind: FailureKind, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            result: Err(JobFailure {
                kind,
                message: message.clone(),
            }),
            logs: vec![LogEntry {
                category: JobLogCategory::ErrorMsg,
                text: message,
            }],
            data_patch: None,
        }
    }

    /// A success for an action that has no code (no function in the actions file, no native
    /// function, no actions file at all): nothing ran, and the job log says so.
    pub fn nothing_to_run(ctx: &JobContext) -> Self {
        Self {
            result: Ok(()),
            logs: vec![LogEntry {
                category: JobLogCategory::Msg,
                text: format!(
                    "actor `{}` has no code for `{}`: nothing ran",
                    ctx.actor(),
                    ctx.action()
                ),
            }],
            data_patch: None,
        }
    }

    /// Whether the attempt succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// Executes one attempt of one job. Implementations must be callable from many threads at once.
///
/// Returning is the only way to report: an `Err` inside [`JobOutcome::result`] fails the job; a
/// panic is caught by the executor and fails the job too, never the run.
pub trait ActionRunner: Send + Sync {
    /// Runs the action of `ctx` once.
    fn run(&self, ctx: &JobContext) -> JobOutcome;

    /// Whether the job of `ctx` has no code at all (its actions file does not define it, it
    /// has no actions file, no native function is registered). The executor then records it
    /// `ok` with [`JobOutcome::nothing_to_run`] without a worker thread or a process. The
    /// default, `false`, always runs.
    fn has_nothing_to_run(&self, _ctx: &JobContext) -> bool {
        false
    }

    /// Whether the job of `ctx` runs where its timeout is enforced by killing it, and the time
    /// `run` takes is not the action's own (a worker on another machine, after a wait in its
    /// queue). The executor then does not fail an attempt that returned ok after the timeout.
    /// The default, `false`, keeps that check, which catches native actions that overran.
    fn times_out_elsewhere(&self, _ctx: &JobContext) -> bool {
        false
    }
}

impl<F> ActionRunner for F
where
    F: Fn(&JobContext) -> JobOutcome + Send + Sync,
{
    fn run(&self, ctx: &JobContext) -> JobOutcome {
        self(ctx)
    }
}
