//! The journal: every state change of a run, a step or a job, in order.
//!
//! The executor calls it from one thread (its coordinator). A journal may buffer the changes
//! it is told and make them durable together when the executor calls [`Journal::flush`]: the
//! executor flushes before any dependent of a finished job starts (as soon as a worker is free
//! for one), when nothing runs, and at least every 512 ends or 100 ms, so jobs that finish
//! together share one commit (group commit) while a job's dependents still run only once its
//! end is durable. After a crash the
//! stored jobs rebuild a [`ResumeState`]. Jobs are executed at least once: a job recorded as
//! started but not finished (or finished but not yet flushed) is run again on resume, so
//! actions must tolerate being re-run.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ays_core::{JobState, RunId};

use crate::error::{JobKey, JournalError};
use crate::job::{JobFailure, JobOutcome};
use crate::plan::{Plan, PlannedJob};

/// One attempt of a job, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The attempt number, from 1.
    pub number: u32,
    /// When it started (clock time since the epoch).
    pub started: Duration,
    /// When it ended.
    pub ended: Duration,
    /// Why it failed, if it did.
    pub failure: Option<JobFailure>,
}

/// Receives every state change of an execution. Errors abort the run: no new job starts, the
/// running ones are waited for, and the executor returns the error.
pub trait Journal: Send + Sync {
    /// The run starts with this plan.
    ///
    /// # Errors
    ///
    /// When the change cannot be recorded.
    fn run_started(&self, run: &RunId, plan: &Plan) -> Result<(), JournalError>;

    /// A step starts (`steps` schedule only).
    ///
    /// # Errors
    ///
    /// When the change cannot be recorded.
    fn step_started(&self, run: &RunId, step: usize) -> Result<(), JournalError>;

    /// A job is about to start (its first attempt).
    ///
    /// # Errors
    ///
    /// When the change cannot be recorded.
    fn job_started(&self, run: &RunId, job: &PlannedJob) -> Result<(), JournalError>;

    /// One attempt of a job ended.
    ///
    /// # Errors
    ///
    /// When the change cannot be recorded.
    fn job_attempt_finished(
        &self,
        run: &RunId,
        job: &PlannedJob,
        attempt: &Attempt,
    ) -> Result<(), JournalError>;

    /// A job ended (`Ok` or `Error`) with the outcome of its last attempt.
    ///
    /// # Errors
    ///
    /// When the change cannot be recorded.
    fn job_finished(
        &self,
        run: &RunId,
        job: &PlannedJob,
        state: JobState,
        outcome: &JobOutcome,
    ) -> Result<(), JournalError>;

    /// A step ended (`steps` schedule only).
    ///
    /// # Errors
    ///
    /// When the change cannot be recorded.
    fn step_finished(&self, run: &RunId, step: usize, state: JobState) -> Result<(), JournalError>;

    /// The execution ended. `state` is `Running` when a cancellation stopped it before every
    /// job ended: the run is not over, and resuming it runs the jobs that did not end.
    ///
    /// # Errors
    ///
    /// When the change cannot be recorded.
    fn run_finished(&self, run: &RunId, state: JobState) -> Result<(), JournalError>;

    /// Makes every change told so far durable (the default journal has nothing buffered).
    ///
    /// # Errors
    ///
    /// When the changes cannot be recorded; none of them may then be taken as durable.
    fn flush(&self, _run: &RunId) -> Result<(), JournalError> {
        Ok(())
    }
}

/// One recorded change, as kept by [`MemoryJournal`].
#[derive(Debug, Clone, PartialEq)]
pub enum JournalEvent {
    /// See [`Journal::run_started`].
    RunStarted {
        /// The run.
        run: RunId,
        /// How many jobs the plan has.
        jobs: usize,
    },
    /// See [`Journal::step_started`].
    StepStarted {
        /// The run.
        run: RunId,
        /// The step number.
        step: usize,
    },
    /// See [`Journal::job_started`].
    JobStarted {
        /// The run.
        run: RunId,
        /// The job.
        job: JobKey,
    },
    /// See [`Journal::job_attempt_finished`].
    JobAttemptFinished {
        /// The run.
        run: RunId,
        /// The job.
        job: JobKey,
        /// The attempt.
        attempt: Attempt,
    },
    /// See [`Journal::job_finished`].
    JobFinished {
        /// The run.
        run: RunId,
        /// The job.
        job: JobKey,
        /// `Ok` or `Error`.
        state: JobState,
        /// The outcome of the last attempt.
        outcome: JobOutcome,
    },
    /// See [`Journal::step_finished`].
    StepFinished {
        /// The run.
        run: RunId,
        /// The step number.
        step: usize,
        /// The step's state.
        state: JobState,
    },
    /// See [`Journal::run_finished`].
    RunFinished {
        /// The run.
        run: RunId,
        /// The run's state.
        state: JobState,
    },
}

impl JournalEvent {
    /// The run the event belongs to.
    pub fn run(&self) -> &RunId {
        match self {
            JournalEvent::RunStarted { run, .. }
            | JournalEvent::StepStarted { run, .. }
            | JournalEvent::JobStarted { run, .. }
            | JournalEvent::JobAttemptFinished { run, .. }
            | JournalEvent::JobFinished { run, .. }
            | JournalEvent::StepFinished { run, .. }
            | JournalEvent::RunFinished { run, .. } => run,
        }
    }
}

/// A journal in memory, for tests and for callers that persist nothing.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    // One small lock around the event list; held only to push or copy.
    events: Mutex<Vec<JournalEvent>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events so far, in order.
    pub fn events(&self) -> Vec<JournalEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What a resumed execution needs: the jobs that finished.
    pub fn resume_state(&self) -> ResumeState {
        ResumeState::from_events(&self.events())
    }

    fn push(&self, event: JournalEvent) -> Result<(), JournalError> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
        Ok(())
    }
}

impl Journal for MemoryJournal {
    fn run_started(&self, run: &RunId, plan: &Plan) -> Result<(), JournalError> {
        self.push(JournalEvent::RunStarted {
            run: run.clone(),
            jobs: plan.jobs().len(),
        })
    }

    fn step_started(&self, run: &RunId, step: usize) -> Result<(), JournalError> {
        self.push(JournalEvent::StepStarted {
            run: run.clone(),
            step,
        })
    }

    fn job_started(&self, run: &RunId, job: &PlannedJob) -> Result<(), JournalError> {
        self.push(JournalEvent::JobStarted {
            run: run.clone(),
            job: job.key().clone(),
        })
    }

    fn job_attempt_finished(
        &self,
        run: &RunId,
        job: &PlannedJob,
        attempt: &Attempt,
    ) -> Result<(), JournalError> {
        self.push(JournalEvent::JobAttemptFinished {
            run: run.clone(),
            job: job.key().clone(),
            attempt: attempt.clone(),
        })
    }

    fn job_finished(
        &self,
        run: &RunId,
        job: &PlannedJob,
        state: JobState,
        outcome: &JobOutcome,
    ) -> Result<(), JournalError> {
        self.push(JournalEvent::JobFinished {
            run: run.clone(),
            job: job.key().clone(),
            state,
            outcome: outcome.clone(),
        })
    }

    fn step_finished(&self, run: &RunId, step: usize, state: JobState) -> Result<(), JournalError> {
        self.push(JournalEvent::StepFinished {
            run: run.clone(),
            step,
            state,
        })
    }

    fn run_finished(&self, run: &RunId, state: JobState) -> Result<(), JournalError> {
        self.push(JournalEvent::RunFinished {
            run: run.clone(),
            state,
        })
    }
}

/// The jobs of an interrupted run that finished, by (service, action). A resumed execution
/// keeps their state and does not run them again; every other job runs, including those that
/// were running when the run died (at-least-once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeState {
    finished: HashMap<JobKey, JobState>,
}

impl ResumeState {
    /// Nothing finished.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a finished job.
    pub fn mark_finished(&mut self, job: JobKey, state: JobState) {
        self.finished.insert(job, state);
    }

    /// Builds the state from recorded events (the last `JobFinished` of each job wins).
    pub fn from_events(events: &[JournalEvent]) -> Self {
        let mut state = Self::new();
        for event in events {
            if let JournalEvent::JobFinished { job, state: s, .. } = event {
                state.mark_finished(job.clone(), *s);
            }
        }
        state
    }

    /// The recorded state of a finished job.
    pub fn finished(&self, job: &JobKey) -> Option<JobState> {
        self.finished.get(job).copied()
    }
}
