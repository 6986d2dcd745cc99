//! [`StoreJournal`]: a [`Journal`] that persists every change of a run in its repository (run
//! and step states in the run record, each job's record and the service's action state), and
//! rebuilds a [`ResumeState`] from the stored jobs of an interrupted run. A job's record is
//! first stored when it starts or ends (its run lists it, so without a record it is `new`);
//! the jobs that never started get theirs when the run ends.
//!
//! Changes are buffered and written on [`Journal::flush`] through [`Repository::record_jobs`],
//! in atomic batches of at most 4,096 changes: jobs that end together share one durable commit,
//! and (the executor flushing before any dependent starts) a job's dependents start only after
//! its end is durable. The observer hears of each change after it was written.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use ays_core::{
    ActionName, JobChange, JobLog, JobLogCategory, JobRecord, JobState, Repository, RunId,
    RunRecord, ServiceKey,
};

use crate::error::{JobKey, JournalError};
use crate::job::{JobFailure, JobOutcome};
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
    /// The run's jobs, as stored when the run was created or resumed.
    jobs: Vec<JobRecord>,
    /// The index in `jobs` of each job of the plan, by [`PlannedJob::id`] (set when the run
    /// starts), so that no event clones or hashes a job's key.
    of_plan: Vec<Option<usize>>,
    /// Changes told since the last flush, in order.
    pending: Vec<Pending>,
    /// Whether the run record changed since the last flush.
    run_changed: bool,
    /// Events to tell the observer once they are written.
    events: Vec<JournalEvent>,
    /// Time spent writing, in all.
    commit_time: std::time::Duration,
}

/// The most job changes one commit of a flush holds.
const COMMIT_CHUNK: usize = 4096;

/// A job change waiting for the next flush, naming its record by index in `State::jobs`; the
/// record is taken as it is at the flush.
enum Pending {
    Started(usize),
    Saved(usize),
    Finished(usize, Option<serde_json::Value>),
}

/// A [`Journal`] that stores every change of one run in its repository, on each flush.
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
    attempt_text(number, attempt.failure.as_ref())
}

/// [`attempt_line`] of an attempt that failed with `failure`, if it did.
pub(crate) fn attempt_text(number: u32, failure: Option<&JobFailure>) -> (JobLogCategory, String) {
    match failure {
        None => (JobLogCategory::Msg, format!("attempt {number} ok")),
        Some(f) => (
            JobLogCategory::ErrorMsg,
            format!("attempt {number} failed ({}): {}", f.kind, f.message),
        ),
    }
}

/// The job a change is about.
fn changed_job<'j>(change: &JobChange<'j>) -> &'j JobRecord {
    match change {
        JobChange::Started(job) | JobChange::Saved(job) | JobChange::Finished(job, _) => job,
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
    /// A journal of the stored run `run` whose jobs are `jobs` (as stored when it was created,
    /// by number).
    pub(crate) fn new(repo: &'a Repository, run: RunRecord, jobs: Vec<JobRecord>) -> Self {
        Self {
            repo,
            observer: None,
            state: Mutex::new(State {
                run,
                jobs,
                of_plan: Vec::new(),
                pending: Vec::new(),
                run_changed: false,
                events: Vec::new(),
                commit_time: std::time::Duration::ZERO,
            }),
        }
    }

    /// Also tells `observer` about every event, after it was persisted.
    pub(crate) fn with_observer(mut self, observer: &'a dyn RunObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The run record and the job records (by number) as last written, and the time spent
    /// writing.
    pub(crate) fn into_records(self) -> (RunRecord, Vec<JobRecord>, std::time::Duration) {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        (state.run, state.jobs, state.commit_time)
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

    fn missing(run: &RunId, what: &'static str, job: &PlannedJob) -> JournalError {
        JournalError::UnknownJob {
            run: run.clone(),
            what,
            job: job.key().clone(),
        }
    }
}

impl State {
    /// Maps every job of `plan` to its record.
    fn index(&mut self, plan: &Plan) {
        let by_key: HashMap<(&ServiceKey, &ActionName), usize> = self
            .jobs
            .iter()
            .enumerate()
            .map(|(i, j)| ((&j.service, &j.action), i))
            .collect();
        self.of_plan = plan
            .jobs()
            .iter()
            .map(|j| by_key.get(&(j.service(), j.action())).copied())
            .collect();
    }

    /// The index of `job`'s record.
    fn position(
        &self,
        run: &RunId,
        what: &'static str,
        job: &PlannedJob,
    ) -> Result<usize, JournalError> {
        self.of_plan
            .get(job.id().index())
            .copied()
            .flatten()
            .ok_or_else(|| StoreJournal::missing(run, what, job))
    }

    /// `job`'s record and its index.
    fn job(
        &mut self,
        run: &RunId,
        what: &'static str,
        job: &PlannedJob,
    ) -> Result<(&mut JobRecord, usize), JournalError> {
        let i = self.position(run, what, job)?;
        match self.jobs.get_mut(i) {
            Some(rec) => Ok((rec, i)),
            None => Err(StoreJournal::missing(run, what, job)),
        }
    }

    fn step(&mut self, step: usize) -> Option<&mut ays_core::RunStepRecord> {
        self.run
            .steps
            .iter_mut()
            .find(|s| usize::try_from(s.number).is_ok_and(|n| n == step))
    }
}

impl Journal for StoreJournal<'_> {
    fn run_started(&self, run: &RunId, plan: &Plan) -> Result<(), JournalError> {
        let mut state = self.lock();
        state.index(plan);
        // Written only when it changes: a run is stored running when it is created.
        if state.run.state != JobState::Running || state.run.finished_at != 0 {
            state.run.state = JobState::Running;
            state.run.finished_at = 0;
            state.run_changed = true;
        }
        state.events.push(JournalEvent::RunStarted {
            run: run.clone(),
            jobs: plan.jobs().len(),
        });
        Ok(())
    }

    fn step_started(&self, run: &RunId, step: usize) -> Result<(), JournalError> {
        let mut state = self.lock();
        if let Some(s) = state.step(step) {
            s.state = JobState::Running;
            s.started_at = now_ms();
            s.finished_at = 0;
        }
        state.run_changed = true;
        state.events.push(JournalEvent::StepStarted {
            run: run.clone(),
            step,
        });
        Ok(())
    }

    fn job_started(&self, run: &RunId, job: &PlannedJob) -> Result<(), JournalError> {
        let mut state = self.lock();
        let (rec, i) = state.job(run, "job_started", job)?;
        // The logs of earlier attempts (of a resumed job) stay: they are its history.
        rec.result.clear();
        rec.set_state(JobState::Running, now_ms());
        state.pending.push(Pending::Started(i));
        state.events.push(JournalEvent::JobStarted {
            run: run.clone(),
            job: job.key().clone(),
        });
        Ok(())
    }

    fn job_attempt_finished(
        &self,
        run: &RunId,
        job: &PlannedJob,
        attempt: &Attempt,
    ) -> Result<(), JournalError> {
        let mut state = self.lock();
        let (rec, i) = state.job(run, "job_attempt_finished", job)?;
        rec.attempts = rec.attempts.saturating_add(1);
        let (category, message) = attempt_line(rec.attempts, attempt);
        rec.logs.push(JobLog {
            at_ms: now_ms(),
            category,
            message,
        });
        state.pending.push(Pending::Saved(i));
        state.events.push(JournalEvent::JobAttemptFinished {
            run: run.clone(),
            job: job.key().clone(),
            attempt: attempt.clone(),
        });
        Ok(())
    }

    fn job_finished(
        &self,
        run: &RunId,
        job: &PlannedJob,
        state: JobState,
        outcome: &JobOutcome,
    ) -> Result<(), JournalError> {
        let mut st = self.lock();
        let (rec, i) = st.job(run, "job_finished", job)?;
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
        st.pending.push(Pending::Finished(i, patch));
        st.events.push(JournalEvent::JobFinished {
            run: run.clone(),
            job: job.key().clone(),
            state,
            outcome: outcome.clone(),
        });
        Ok(())
    }

    fn step_finished(&self, run: &RunId, step: usize, state: JobState) -> Result<(), JournalError> {
        let mut st = self.lock();
        if let Some(s) = st.step(step) {
            s.state = state;
            s.finished_at = now_ms();
        }
        st.run_changed = true;
        st.events.push(JournalEvent::StepFinished {
            run: run.clone(),
            step,
            state,
        });
        Ok(())
    }

    fn run_finished(&self, run: &RunId, state: JobState) -> Result<(), JournalError> {
        let mut st = self.lock();
        let State {
            run: record, jobs, ..
        } = &mut *st;
        let by_number: HashMap<u32, &JobRecord> = jobs.iter().map(|j| (j.number, j)).collect();
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
        // A job stored without a record is `new` (`Repository::jobs`); those that never
        // started get theirs now, with what the run gave them.
        let unstored: Vec<usize> = st
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.state == JobState::New)
            .map(|(i, _)| i)
            .collect();
        st.pending.extend(unstored.into_iter().map(Pending::Saved));
        st.run_changed = true;
        st.events.push(JournalEvent::RunFinished {
            run: run.clone(),
            state,
        });
        Ok(())
    }

    fn flush(&self, run: &RunId) -> Result<(), JournalError> {
        let events = {
            let mut st = self.lock();
            if st.pending.is_empty() && !st.run_changed {
                // Nothing to write: what the observer has not heard of yet is stored already.
                std::mem::take(&mut st.events)
            } else {
                let pending = std::mem::take(&mut st.pending);
                let started = std::time::Instant::now();
                let stored = {
                    let st = &*st;
                    // Indexes come from `State::job`, so every record is there.
                    let record = |i: usize| st.jobs.get(i);
                    // A job that ended in this batch needs only its end: the stored record is the
                    // same, and the action goes straight to its final state.
                    let ended: HashSet<usize> = pending
                        .iter()
                        .filter_map(|p| match p {
                            Pending::Finished(i, _) => Some(*i),
                            Pending::Started(_) | Pending::Saved(_) => None,
                        })
                        .collect();
                    let ended = |i: &usize| ended.contains(i);
                    let mut changes = Vec::with_capacity(pending.len());
                    for p in &pending {
                        let change = match p {
                            Pending::Started(i) if !ended(i) => record(*i).map(JobChange::Started),
                            Pending::Saved(i) if !ended(i) => record(*i).map(JobChange::Saved),
                            Pending::Started(_) | Pending::Saved(_) => None,
                            Pending::Finished(i, patch) => {
                                record(*i).map(|r| JobChange::Finished(r, patch.as_ref()))
                            }
                        };
                        changes.extend(change);
                    }
                    // Sorted by service (a stable sort: the changes of one job keep their order),
                    // each chunk writes one range of service records, not pages all over the file.
                    changes.sort_by(|a, b| changed_job(a).service.cmp(&changed_job(b).service));
                    // Large batches (a wave of jobs without code) commit in chunks, one after the
                    // other, so that the memory a commit stages stays bounded; the run record goes
                    // with the last.
                    let mut stored = Vec::new();
                    let mut chunks: Vec<&[JobChange<'_>]> = changes.chunks(COMMIT_CHUNK).collect();
                    if chunks.is_empty() {
                        // Only the run record changed.
                        chunks.push(&[]);
                    }
                    let last = chunks.len().saturating_sub(1);
                    for (i, chunk) in chunks.iter().enumerate() {
                        let run_record = (i == last && st.run_changed).then_some(&st.run);
                        stored.extend(
                            self.repo
                                .record_jobs(run_record, chunk)
                                .map_err(Self::fail(run, "flush"))?,
                        );
                    }
                    stored
                };
                st.run_changed = false;
                st.commit_time += started.elapsed();
                // The stored end of a job may differ from the one told (a rejected data patch).
                if !stored.is_empty() {
                    let by_number: HashMap<u32, usize> = st
                        .jobs
                        .iter()
                        .enumerate()
                        .map(|(i, j)| (j.number, i))
                        .collect();
                    for job in stored {
                        if let Some(rec) =
                            by_number.get(&job.number).and_then(|i| st.jobs.get_mut(*i))
                        {
                            *rec = job;
                        }
                    }
                }
                std::mem::take(&mut st.events)
            }
        };
        if let Some(observer) = self.observer {
            for event in &events {
                observer.event(event)?;
            }
        }
        Ok(())
    }
}
