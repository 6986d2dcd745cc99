//! [`run_recurring`]: one execution of one recurring action of one service, outside any run,
//! with the runtimes a run uses, its outcome recorded by [`Repository::save_recurring_job`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ays_core::{
    ActionName, ActionState, JobLog, JobRecord, JobState, Repository, RunId, ServiceKey,
};
use tracing::{debug, info, instrument};

use crate::error::{JobKey, RunError};
use crate::executor::{ExecConfig, panic_message};
use crate::job::{ActionRunner, CancelToken, FailureKind, JobContext, JobOutcome};
use crate::runner::RepositoryRunner;
use crate::runtime::ActionRegistry;
use crate::store_journal::{attempt_text, now_ms};

/// How [`run_recurring`] runs an action. Start from `RecurringOptions::default()` and set
/// fields.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RecurringOptions {
    /// Native actions, which win over the stored code (as [`crate::RunOptions::registry`]).
    /// Unlike a run's, the registry is not checked against the actor: a daemon may hand every
    /// execution one registry for all its actors.
    pub registry: Option<Arc<ActionRegistry>>,
    /// Stops the execution: a token already asked to stop keeps the action from starting; one
    /// asked twice kills the shell or Python process that runs it (a native action cannot be
    /// interrupted).
    pub cancel: Option<CancelToken>,
    /// How long the action may run (`None`: its template's `timeouts`, else the runs'
    /// default of an hour). At the timeout the shell or Python process is killed; a native
    /// action that ran past it fails when it returns.
    pub timeout: Option<Duration>,
}

/// What [`run_recurring`] did. A failed action is an outcome, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecurringOutcome {
    /// The action ran and its end was stored: the job as stored (state `ok` or `error`,
    /// logs, start and end), as [`Repository::recurring_job`] now gives it.
    Ran(Box<JobRecord>),
    /// The service, or its action, no longer exists (deleted before or while the action ran):
    /// nothing was written.
    Gone,
    /// The action is disabled on the service: nothing ran, nothing was written.
    Disabled,
    /// The cancellation token asked to stop before the action started: nothing ran, nothing
    /// was written.
    Cancelled,
}

impl RecurringOutcome {
    /// The job as stored, when the action ran.
    pub fn job(&self) -> Option<&JobRecord> {
        match self {
            RecurringOutcome::Ran(job) => Some(job),
            _ => None,
        }
    }

    /// Whether the action ran and succeeded (what [`crate::recurring::RecurringSchedule::finished`]
    /// is told).
    pub fn is_ok(&self) -> bool {
        self.job().is_some_and(|j| j.state == JobState::Ok)
    }
}

/// Runs the recurring action `action` of `service` once, outside any run (AYS 8.1's daemon,
/// §5.4), with the runtimes a run uses: a native function of [`RecurringOptions::registry`],
/// else the action code stored in the repository (`actions.sh`, `actions.py`; written out to a
/// temporary directory, removed afterwards), with the same payload (service data, relations,
/// args) and the same check of its data patch against the actor's schema.
///
/// It takes no run lock: a recurring action runs while a run of the repository may be live.
/// It never moves the action's state, so the next run neither picks it up nor skips it because
/// of it. Its end is stored by [`Repository::save_recurring_job`], atomically: on success the
/// action's `last_run` and the data patch, and in any case the job record (its logs, state,
/// start and end; one attempt, no retries; its run id, `recurring-…`, names no stored run),
/// which replaces the previous execution's.
///
/// # Errors
///
/// [`RunError::Repository`] when the store cannot be read or written, or the service's actor
/// is missing; [`RunError::Materialise`] when the action code cannot be written out. A failed
/// action is `Ok` with [`RecurringOutcome::Ran`] of an `error` job.
#[instrument(skip_all, fields(service = %service, action = %action))]
pub fn run_recurring(
    repo: &Repository,
    service: &ServiceKey,
    action: &ActionName,
    options: &RecurringOptions,
) -> Result<RecurringOutcome, RunError> {
    let id: RunId = format!("recurring-{}", RunId::generate())
        .parse()
        .map_err(|e| RunError::repo(None, "named the execution")(ays_core::CoreError::Name(e)))?;
    let failed = |doing| RunError::repo(Some(&id), doing);
    let Some(s) = repo.service(service).map_err(failed("read the service"))? else {
        debug!("the service is gone");
        return Ok(RecurringOutcome::Gone);
    };
    let Some(state) = s.action(action.as_str()).map(|a| a.state) else {
        debug!("the action is gone");
        return Ok(RecurringOutcome::Gone);
    };
    if state == ActionState::Disabled {
        debug!("the action is disabled");
        return Ok(RecurringOutcome::Disabled);
    }
    let cancel = options.cancel.clone().unwrap_or_default();
    if cancel.is_stopping() {
        return Ok(RecurringOutcome::Cancelled);
    }
    let dir = tempfile::Builder::new()
        .prefix("ays-recurring-")
        .tempdir()
        .map_err(|source| RunError::Materialise {
            run: id.clone(),
            actor: s.actor.clone(),
            path: std::env::temp_dir(),
            source,
        })?;
    let runner = RepositoryRunner::for_actors(
        repo,
        &id,
        [&s.actor],
        options.registry.clone(),
        dir.path().to_path_buf(),
    )?;
    let timeout = options
        .timeout
        .or_else(|| runner.timeout_of(&s.actor, action))
        .unwrap_or(ExecConfig::default().default_timeout);
    let key = JobKey {
        service: service.clone(),
        action: action.clone(),
    };
    let ctx = JobContext::new(id.clone(), key, s.actor.clone(), timeout).with_cancel(cancel);

    let mut job = JobRecord::new(
        &id,
        1,
        service.clone(),
        s.actor.clone(),
        action.clone(),
        now_ms(),
    );
    job.code_key = runner.code_key(&s.actor, action).to_owned();
    job.args = repo
        .action_args(service, action)
        .map_err(failed("read the action's args"))?
        .map(|v| v.to_string())
        .unwrap_or_default();
    job.timeout_secs = u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX);
    job.set_state(JobState::Running, now_ms());

    let outcome = execute(&runner, &ctx);
    drop(runner);
    let ended = now_ms();
    job.attempts = 1;
    let (category, message) = attempt_text(1, outcome.result.as_ref().err());
    job.logs.push(JobLog {
        at_ms: ended,
        category,
        message,
    });
    job.logs.extend(outcome.logs.iter().map(|l| JobLog {
        at_ms: ended,
        category: l.category,
        message: l.text.clone(),
    }));
    let patch = outcome
        .data_patch
        .as_ref()
        .filter(|_| outcome.is_ok())
        .map(|p| serde_json::Value::Object(p.clone()));
    job.result = patch.as_ref().map(ToString::to_string).unwrap_or_default();
    let state = if outcome.is_ok() {
        JobState::Ok
    } else {
        JobState::Error
    };
    job.set_state(state, ended);
    let stored = repo
        .save_recurring_job(&job, patch.as_ref())
        .map_err(failed("stored its end"))?;
    let Some(stored) = stored else {
        info!("the service or its action went while the action ran; nothing stored");
        return Ok(RecurringOutcome::Gone);
    };
    info!(state = %stored.state, "recurring action ran");
    Ok(RecurringOutcome::Ran(Box::new(stored)))
}

/// One attempt of the job of `ctx`, as an executor's worker makes it: a panic fails it, and a
/// success past the timeout (a native action cannot be interrupted) is a timeout.
fn execute(runner: &RepositoryRunner, ctx: &JobContext) -> JobOutcome {
    if runner.has_nothing_to_run(ctx) {
        return JobOutcome::nothing_to_run(ctx);
    }
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| runner.run(ctx))).unwrap_or_else(|payload| {
        JobOutcome::failed(FailureKind::Panicked, panic_message(payload.as_ref()))
    });
    if outcome.is_ok() && started.elapsed() > ctx.timeout() {
        return JobOutcome::failed(
            FailureKind::Timeout,
            format!("ran past its timeout of {:?}", ctx.timeout()),
        );
    }
    outcome
}

impl std::fmt::Display for RecurringOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecurringOutcome::Ran(job) => write!(f, "ran: {}", job.state),
            RecurringOutcome::Gone => f.write_str("gone: the service or its action was deleted"),
            RecurringOutcome::Disabled => f.write_str("disabled: nothing ran"),
            RecurringOutcome::Cancelled => f.write_str("cancelled before it started"),
        }
    }
}
