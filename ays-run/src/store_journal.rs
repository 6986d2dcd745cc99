//! [`StoreJournal`]: a [`Journal`] that persists every change of a run in its repository when
//! it happens (run and step states in the run record, each job's record and the service's
//! action state through ays-core's atomic job start and end), and rebuilds a [`ResumeState`]
//! from the stored jobs of an interrupted run.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use ays_core::{JobLog, JobLogCategory, JobRecord, JobState, Repository, RunId, RunRecord};

use crate::error::{JobKey, JournalError};
use crate::job::JobOutcome;
use crate::journal::{Attempt, Journal, JournalEvent, ResumeState};
use crate::plan::{Plan, PlannedJob};

/// Sees every event of a run after it was persisted (progress output, tests). An error stops
/// the run as a journal failure would: no job starts after it.
pub trait RunObserver: Send + Sync {
    /// One event, already persisted.
    ///
    /// # Errors
    ///
    /// To stop the run.
    fn event(&self, event: &JournalEvent) -> Result<(), JournalError>;
}

impl<F> RunObserver for F
where
    F: Fn(&JournalEvent) + Send + Sync,
{
    fn event(&self, event: &JournalEvent) -> Result<(), JournalError> {
        self(event);
        Ok(())
    }
}

impl std::fmt::Debug for dyn RunObserver + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunObserver")
    }
}

struct State {
    run: RunRecord,
    jobs: HashMap<JobKey, JobRecord>,
}

/// A [`Journal`] that stores every change of one run in its repository as it happens.
pub(crate) struct StoreJournal<'a> {
    repo: &'a Repository,
    observer: Option<&'a dyn RunObserver>,
    // The executor calls the journal from its one coordinator thread, so this lock is never
    // contended; it is held across the store write so that records and store stay in step.
    state: Mutex<State>,
}

impl std::fmt::Debug for StoreJournal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreJournal")
            .field("repo", &self.repo.id())
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The job key of a stored job.
pub(crate) fn job_key(job: &JobRecord) -> JobKey {
    JobKey {
        service: job.service.clone(),
        action: job.action.clone(),
    }
}

/// The log line of an attempt, numbered `number` among all the job's attempts (a resumed job
/// goes on counting): `attempt 2 failed (timeout): …` or `attempt 3 ok`.
fn attempt_line(number: u32, attempt: &Attempt) -> (JobLogCategory, String) {
    match &attempt.failure {
        None => (JobLogCategory::Msg, format!("attempt {number} ok")),
        Some(f) => (
            JobLogCategory::ErrorMsg,
            format!("attempt {number} failed ({}): {}", f.kind, f.message),
        ),
    }
}

/// What a resumed execution needs from the stored jobs of a run: the jobs that ended (`ok` or
/// `error`) keep their state; `new` and `running` ones run (again).
///
pub(crate) fn resume_state(jobs: &[JobRecord]) -> ResumeState {
    let mut state = ResumeState::new();
    for job in jobs.iter().filter(|j| j.state.is_finished()) {
        state.mark_finished(job_key(job), job.state);
    }
    state
}

impl<'a> StoreJournal<'a> {
    /// A journal of the stored run `run` whose jobs are `jobs` (as stored when it was created).
    pub(crate) fn new(repo: &'a Repository, run: RunRecord, jobs: Vec<JobRecord>) -> Self {
        let jobs = jobs.into_iter().map(|job| (job_key(&job), job)).collect();
        Self {
            repo,
            observer: None,
            state: Mutex::new(State { run, jobs }),
        }
    }

    /// Also tells `observer` about every event, after it was persisted.
    pub(crate) fn with_observer(mut self, observer: &'a dyn RunObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The run record as last written.
    pub(crate) fn run_record(&self) -> RunRecord {
        self.lock().run.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(run: &RunId, what: &'static str) -> impl FnOnce(ays_core::CoreError) -> JournalError {
        let run = run.clone();
        move |err| JournalError::Write {
            run,
            what,
            source: Box::new(err),
        }
    }

    fn tell(&self, event: JournalEvent) -> Result<(), JournalError> {
        match self.observer {
            Some(o) => o.event(&event),
            None => Ok(()),
        }
    }

    fn missing(run: &RunId, what: &'static str, job: &PlannedJob) -> JournalError {
        JournalError::UnknownJob {
            run: run.clone(),
            what,
            job: job.key().clone(),
        }
    }

    fn save_run(&self, run: &RunId, what: &'static str, state: &State) -> Result<(), JournalError> {
        self.repo
            .save_run(&state.run)
            .map_err(Self::fail(run, what))
    }
}

impl Journal for StoreJournal<'_> {
    fn run_started(&self, run: &RunId, plan: &Plan) -> Result<(), JournalError> {
        {
            let mut state = self.lock();
            state.run.state = JobState::Running;
            state.run.finished_at = 0;
            self.save_run(run, "run_started", &state)?;
        }
        self.tell(JournalEvent::RunStarted {
            run: run.clone(),
            jobs: plan.jobs().len(),
        })
    }

    fn step_started(&self, run: &RunId, step: usize) -> Result<(), JournalError> {
        {
            let mut state = self.lock();
            if let Some(s) = state
                .run
                .steps
                .iter_mut()
                .find(|s| usize::try_from(s.number).is_ok_and(|n| n == step))
            {
                s.state = JobState::Running;
                s.started_at = now_ms();
                s.finished_at = 0;
            }
            self.save_run(run, "step_started", &state)?;
        }
        self.tell(JournalEvent::StepStarted {
            run: run.clone(),
            step,
        })
    }

    fn job_started(&self, run: &RunId, job: &PlannedJob) -> Result<(), JournalError> {
        {
            let mut state = self.lock();
            let rec = state
                .jobs
                .get_mut(job.key())
                .ok_or_else(|| Self::missing(run, "job_started", job))?;
            // The logs of earlier attempts (of a resumed job) stay: they are its history.
            rec.result.clear();
            rec.set_state(JobState::Running, now_ms());
            self.repo
                .start_job(rec)
                .map_err(Self::fail(run, "job_started"))?;
        }
        self.tell(JournalEvent::JobStarted {
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
        {
            let mut state = self.lock();
            let rec = state
                .jobs
                .get_mut(job.key())
                .ok_or_else(|| Self::missing(run, "job_attempt_finished", job))?;
            rec.attempts = rec.attempts.saturating_add(1);
            let (category, message) = attempt_line(rec.attempts, attempt);
            rec.logs.push(JobLog {
                at_ms: now_ms(),
                category,
                message,
            });
            self.repo
                .save_job(rec)
                .map_err(Self::fail(run, "job_attempt_finished"))?;
        }
        self.tell(JournalEvent::JobAttemptFinished {
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
        {
            let mut st = self.lock();
            let rec = st
                .jobs
                .get_mut(job.key())
                .ok_or_else(|| Self::missing(run, "job_finished", job))?;
            let now = now_ms();
            rec.logs.extend(outcome.logs.iter().map(|l| JobLog {
                at_ms: now,
                category: l.category,
                message: l.text.clone(),
            }));
            let patch = outcome
                .data_patch
                .as_ref()
                .map(|p| serde_json::Value::Object(p.clone()));
            rec.result = patch.as_ref().map(ToString::to_string).unwrap_or_default();
            rec.set_state(state, now);
            let stored = self
                .repo
                .finish_job(rec, patch.as_ref())
                .map_err(Self::fail(run, "job_finished"))?;
            *rec = stored;
        }
        self.tell(JournalEvent::JobFinished {
            run: run.clone(),
            job: job.key().clone(),
            state,
            outcome: outcome.clone(),
        })
    }

    fn step_finished(&self, run: &RunId, step: usize, state: JobState) -> Result<(), JournalError> {
        {
            let mut st = self.lock();
            if let Some(s) = st
                .run
                .steps
                .iter_mut()
                .find(|s| usize::try_from(s.number).is_ok_and(|n| n == step))
            {
                s.state = state;
                s.finished_at = now_ms();
            }
            self.save_run(run, "step_finished", &st)?;
        }
        self.tell(JournalEvent::StepFinished {
            run: run.clone(),
            step,
            state,
        })
    }

    fn run_finished(&self, run: &RunId, state: JobState) -> Result<(), JournalError> {
        {
            let mut st = self.lock();
            let State { run: record, jobs } = &mut *st;
            let by_number: HashMap<u32, &JobRecord> =
                jobs.values().map(|j| (j.number, j)).collect();
            // Under the dag schedule no step event is sent: every step's state and times follow
            // from its jobs, as the executor's report computes them.
            for step in &mut record.steps {
                let of_step: Vec<&JobRecord> = step
                    .jobs
                    .iter()
                    .filter_map(|j| by_number.get(&j.number).copied())
                    .collect();
                let unstored = step.jobs.len().saturating_sub(of_step.len());
                step.state = JobState::of_step(
                    of_step
                        .iter()
                        .map(|j| j.state)
                        .chain(std::iter::repeat_n(JobState::New, unstored)),
                );
                if step.started_at == 0 {
                    step.started_at = of_step
                        .iter()
                        .map(|j| j.started_at)
                        .filter(|t| *t > 0)
                        .min()
                        .unwrap_or(0);
                }
                if step.finished_at == 0 && step.state.is_finished() {
                    step.finished_at = of_step.iter().map(|j| j.finished_at).max().unwrap_or(0);
                }
            }
            // A job whose data patch the store rejected failed after the executor saw it succeed.
            record.state =
                if state == JobState::Ok && by_number.values().any(|j| j.state != JobState::Ok) {
                    JobState::Error
                } else {
                    state
                };
            // A cancelled run is not over: it stays unfinished, for `resume_run`.
            record.finished_at = if record.state.is_finished() {
                now_ms()
            } else {
                0
            };
            self.save_run(run, "run_finished", &st)?;
        }
        self.tell(JournalEvent::RunFinished {
            run: run.clone(),
            state,
        })
    }
}
