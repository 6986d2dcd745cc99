//! [`StoreJournal`]: a [`Journal`] that persists every change of a run in its repository when
//! it happens (run and step states in the run record, each job's record and the service's
//! action state through ays-core's atomic job start and end), and rebuilds a [`ResumeState`]
//! from the stored jobs of an interrupted run.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use ays_core::{JobLog, JobLogCategory, JobRecord, Repository, RunRecord};

use crate::error::{JobKey, JournalError};
use crate::job::{FailureKind, JobOutcome, JobState, LogCategory, RunId, RunState};
use crate::journal::{Attempt, Journal, JournalEvent, ResumeState};
use crate::plan::{Plan, PlannedJob};
use crate::repository::error_chain;

/// Sees every event of a run after it was persisted (progress output, tests). An error stops
/// the run as a journal failure would: no job starts after it.
pub trait RunObserver: Sync {
    /// One event, already persisted.
    ///
    /// # Errors
    ///
    /// To stop the run.
    fn event(&self, event: &JournalEvent) -> Result<(), JournalError>;
}

impl<F> RunObserver for F
where
    F: Fn(&JournalEvent) + Sync,
{
    fn event(&self, event: &JournalEvent) -> Result<(), JournalError> {
        self(event);
        Ok(())
    }
}

struct State {
    run: RunRecord,
    jobs: HashMap<JobKey, JobRecord>,
}

/// See the module docs.
pub struct StoreJournal<'a> {
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
pub(crate) fn job_key(job: &JobRecord) -> Result<JobKey, crate::error::PlanError> {
    Ok(JobKey {
        service: job.service.to_string().parse()?,
        action: job.action.as_str().parse()?,
    })
}

fn core_state(state: JobState) -> ays_core::JobState {
    match state {
        JobState::New => ays_core::JobState::New,
        JobState::Running => ays_core::JobState::Running,
        JobState::Ok => ays_core::JobState::Ok,
        JobState::Error => ays_core::JobState::Error,
    }
}

fn core_run_state(state: RunState) -> ays_core::JobState {
    match state {
        RunState::New => ays_core::JobState::New,
        RunState::Running => ays_core::JobState::Running,
        RunState::Ok => ays_core::JobState::Ok,
        RunState::Error => ays_core::JobState::Error,
    }
}

fn core_category(c: LogCategory) -> JobLogCategory {
    match c {
        LogCategory::Out => JobLogCategory::Out,
        LogCategory::Err => JobLogCategory::Err,
        LogCategory::Msg => JobLogCategory::Msg,
        LogCategory::ErrorMsg => JobLogCategory::ErrorMsg,
        LogCategory::Trace => JobLogCategory::Trace,
    }
}

/// The log line of an attempt, numbered `number` among all the job's attempts (a resumed job
/// goes on counting): `attempt 2 failed (timeout): …` or `attempt 3 ok`.
fn attempt_line(number: u32, attempt: &Attempt) -> (JobLogCategory, String) {
    match &attempt.failure {
        None => (JobLogCategory::Msg, format!("attempt {number} ok")),
        Some(f) => {
            let kind = match f.kind {
                FailureKind::Error => "error",
                FailureKind::Timeout => "timeout",
                FailureKind::Killed => "killed",
                FailureKind::Panicked => "panicked",
                FailureKind::Runtime => "runtime",
            };
            (
                JobLogCategory::ErrorMsg,
                format!("attempt {number} failed ({kind}): {}", f.message),
            )
        }
    }
}

/// The state of a step from its jobs' states: `error` if one failed, `ok` if all are ok, `new`
/// if none started, else `running`.
fn step_state(states: &[ays_core::JobState]) -> ays_core::JobState {
    use ays_core::JobState as S;
    if states.contains(&S::Error) {
        S::Error
    } else if states.iter().all(|s| *s == S::Ok) {
        S::Ok
    } else if states.iter().all(|s| *s == S::New) {
        S::New
    } else {
        S::Running
    }
}

/// What a resumed execution needs from the stored jobs of a run: the jobs that ended (`ok` or
/// `error`) keep their state; `new` and `running` ones run (again).
///
/// # Errors
///
/// [`crate::PlanError`] for a stored name the planner rejects.
pub fn resume_state(jobs: &[JobRecord]) -> Result<ResumeState, crate::error::PlanError> {
    let mut state = ResumeState::new();
    for job in jobs {
        let finished = match job.state {
            ays_core::JobState::Ok => JobState::Ok,
            ays_core::JobState::Error => JobState::Error,
            ays_core::JobState::New | ays_core::JobState::Running => continue,
        };
        state.mark_finished(job_key(job)?, finished);
    }
    Ok(state)
}

impl<'a> StoreJournal<'a> {
    /// A journal of the stored run `run` whose jobs are `jobs` (as stored when it was created).
    ///
    /// # Errors
    ///
    /// [`crate::PlanError`] for a stored name the planner rejects.
    pub fn new(
        repo: &'a Repository,
        run: RunRecord,
        jobs: Vec<JobRecord>,
    ) -> Result<Self, crate::error::PlanError> {
        let mut by_key = HashMap::with_capacity(jobs.len());
        for job in jobs {
            by_key.insert(job_key(&job)?, job);
        }
        Ok(Self {
            repo,
            observer: None,
            state: Mutex::new(State { run, jobs: by_key }),
        })
    }

    /// Also tells `observer` about every event, after it was persisted.
    pub fn with_observer(mut self, observer: &'a dyn RunObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The run record as last written.
    pub fn run_record(&self) -> RunRecord {
        self.lock().run.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(run: &RunId, what: &'static str) -> impl FnOnce(ays_core::CoreError) -> JournalError {
        let run = run.to_string();
        move |err| JournalError::Write {
            run,
            what,
            message: error_chain(&err),
        }
    }

    fn tell(&self, event: JournalEvent) -> Result<(), JournalError> {
        match self.observer {
            Some(o) => o.event(&event),
            None => Ok(()),
        }
    }

    fn missing(run: &RunId, what: &'static str, job: &PlannedJob) -> JournalError {
        JournalError::Write {
            run: run.to_string(),
            what,
            message: format!("job {} is not a job of the stored run", job.key()),
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
            state.run.state = ays_core::JobState::Running;
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
                s.state = ays_core::JobState::Running;
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
            rec.set_state(ays_core::JobState::Running, now_ms());
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
                category: core_category(l.category),
                message: l.text.clone(),
            }));
            let patch = outcome
                .data_patch
                .as_ref()
                .map(|p| serde_json::Value::Object(p.clone()));
            rec.result = patch.as_ref().map(ToString::to_string).unwrap_or_default();
            rec.set_state(core_state(state), now);
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

    fn step_finished(&self, run: &RunId, step: usize, state: RunState) -> Result<(), JournalError> {
        {
            let mut st = self.lock();
            if let Some(s) = st
                .run
                .steps
                .iter_mut()
                .find(|s| usize::try_from(s.number).is_ok_and(|n| n == step))
            {
                s.state = core_run_state(state);
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

    fn run_finished(&self, run: &RunId, state: RunState) -> Result<(), JournalError> {
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
                let mut states: Vec<ays_core::JobState> = of_step.iter().map(|j| j.state).collect();
                states.resize(step.jobs.len(), ays_core::JobState::New);
                step.state = step_state(&states);
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
            record.state = if state == RunState::Ok
                && by_number
                    .values()
                    .any(|j| j.state != ays_core::JobState::Ok)
            {
                ays_core::JobState::Error
            } else {
                core_run_state(state)
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
