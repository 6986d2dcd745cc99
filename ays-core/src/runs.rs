//! Run and job records: what ays-run persists about a run ([`RunRecord`], its steps and
//! [`JobRecord`]s), and the atomic job transitions that also move the service's action state
//! ([`Repository::start_job`], [`Repository::finish_job`]).
//!
//! Run and job records are written only by the holder of the run lock (see
//! [`crate::run_lock`]), so plain puts suffice for them; a job start or end also changes a
//! service and therefore goes through the write lock and one batch.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::CoreError;
use crate::ids::{ActionName, ActorName, RunId, ServiceKey};
use crate::keys;
use crate::record::{self, RunPart};
use crate::repo::Repository;
use crate::staging::{PAGE, Staging, scan_keys};

/// How often [`Repository::record_jobs`] stages its changes again after another writer came
/// first, before it takes the write lock.
const OPTIMISTIC_TRIES: usize = 3;

/// The action whose pending args are consumed by its job.
const PROCESS_CHANGE: &str = "processChange";

/// The state of a job, a step or a run (the `JobState` model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Not started.
    New,
    /// Started, not finished (a run that died leaves its jobs so).
    Running,
    /// Finished successfully.
    Ok,
    /// Failed, or (for a step or run) some job failed or never ran.
    Error,
}

impl JobState {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::New => "new",
            JobState::Running => "running",
            JobState::Ok => "ok",
            JobState::Error => "error",
        }
    }

    /// Every state.
    pub const ALL: [JobState; 4] = [
        JobState::New,
        JobState::Running,
        JobState::Ok,
        JobState::Error,
    ];

    /// Whether the job (or run) has ended.
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Ok | JobState::Error)
    }

    /// The state of a step from the states of its jobs: `error` if one failed, `ok` if all are
    /// ok (or there are none), `new` if none started, else `running`.
    pub fn of_step(jobs: impl IntoIterator<Item = JobState>) -> JobState {
        let (mut all_ok, mut all_new) = (true, true);
        for state in jobs {
            if state == JobState::Error {
                return JobState::Error;
            }
            all_ok &= state == JobState::Ok;
            all_new &= state == JobState::New;
        }
        if all_ok {
            JobState::Ok
        } else if all_new {
            JobState::New
        } else {
            JobState::Running
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = crate::action_state::UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| crate::action_state::UnknownState {
                what: "job state",
                name: s.to_owned(),
                expected: "new, running, ok or error",
            })
    }
}

/// The category of a job log line (the `LogCategory` model, AYS 8.1 §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobLogCategory {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
    /// A message the action logged.
    Msg,
    /// An alert.
    Alert,
    /// The error message of a failure.
    ErrorMsg,
    /// A traceback.
    Trace,
}

impl JobLogCategory {
    /// Every category.
    pub const ALL: [JobLogCategory; 6] = [
        JobLogCategory::Out,
        JobLogCategory::Err,
        JobLogCategory::Msg,
        JobLogCategory::Alert,
        JobLogCategory::ErrorMsg,
        JobLogCategory::Trace,
    ];

    /// The lower-case name (`errormsg`), as actions and `--json` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobLogCategory::Out => "out",
            JobLogCategory::Err => "err",
            JobLogCategory::Msg => "msg",
            JobLogCategory::Alert => "alert",
            JobLogCategory::ErrorMsg => "errormsg",
            JobLogCategory::Trace => "trace",
        }
    }
}

impl fmt::Display for JobLogCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobLogCategory {
    type Err = crate::action_state::UnknownState;

    fn from_str(s: &str) -> Result<Self, crate::action_state::UnknownState> {
        JobLogCategory::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| crate::action_state::UnknownState {
                what: "log category",
                name: s.to_owned(),
                expected: "out, err, msg, alert, errormsg or trace",
            })
    }
}

/// One line (or block) of a job's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobLog {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Its category.
    pub category: JobLogCategory,
    /// The text.
    pub message: String,
}

impl JobLog {
    /// An error and its causes on one line, `: `-separated: how an error that ends a job's
    /// attempt is written into its log, where it lives on as text.
    pub fn error_text(err: &dyn std::error::Error) -> String {
        let mut out = err.to_string();
        let mut cause = err.source();
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

/// A state a job entered, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobStateChange {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// The state entered.
    pub state: JobState,
}

/// One action run on one service within a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    /// The run.
    pub run: RunId,
    /// The job's number in its run, from 1.
    pub number: u32,
    /// The service.
    pub service: ServiceKey,
    /// The service's actor.
    pub actor: ActorName,
    /// The action.
    pub action: ActionName,
    /// The key of the action code that runs (empty when the action has none).
    pub code_key: String,
    /// The current state.
    pub state: JobState,
    /// Every state entered, in order.
    pub state_changes: Vec<JobStateChange>,
    /// The log of every attempt, in order: a line naming each attempt's number and outcome
    /// (`attempt 2 failed (error): …`, `attempt 3 ok`), then the output of the last one.
    pub logs: Vec<JobLog>,
    /// The job's args (JSON text, empty for none).
    pub args: String,
    /// The data patch the action returned (JSON text, empty for none).
    pub result: String,
    /// Attempts made.
    pub attempts: u32,
    /// Attempts allowed (1 + retries).
    pub max_attempts: u32,
    /// Timeout of one attempt, in seconds.
    pub timeout_secs: u32,
    /// When the job was planned (ms since the epoch).
    pub created_at: i64,
    /// When it last started (0: never).
    pub started_at: i64,
    /// When it ended (0: not yet).
    pub finished_at: i64,
}

impl JobRecord {
    /// A `new` job of `run`, planned at `at_ms`.
    pub fn new(
        run: &RunId,
        number: u32,
        service: ServiceKey,
        actor: ActorName,
        action: ActionName,
        at_ms: i64,
    ) -> Self {
        JobRecord {
            run: run.clone(),
            number,
            service,
            actor,
            action,
            code_key: String::new(),
            state: JobState::New,
            state_changes: vec![JobStateChange {
                at_ms,
                state: JobState::New,
            }],
            logs: Vec::new(),
            args: String::new(),
            result: String::new(),
            attempts: 0,
            max_attempts: 1,
            timeout_secs: 0,
            created_at: at_ms,
            started_at: 0,
            finished_at: 0,
        }
    }

    /// Moves the job to `state` at `at_ms`, recording the change and the start or end time.
    pub fn set_state(&mut self, state: JobState, at_ms: i64) {
        self.state = state;
        self.state_changes.push(JobStateChange { at_ms, state });
        match state {
            JobState::Running => {
                self.started_at = at_ms;
                self.finished_at = 0;
            }
            JobState::Ok | JobState::Error => self.finished_at = at_ms,
            JobState::New => {}
        }
    }

    /// How long the job ran, in ms (`None` when it has not ended).
    pub fn duration_ms(&self) -> Option<i64> {
        (self.finished_at > 0 && self.started_at > 0)
            .then(|| self.finished_at.saturating_sub(self.started_at))
    }
}

/// One change of a job, for [`Repository::record_jobs`].
#[derive(Debug, Clone, Copy)]
pub enum JobChange<'a> {
    /// The job started: its record is stored and its action becomes `running`.
    Started(&'a JobRecord),
    /// The record is stored as it is (an attempt's log line).
    Saved(&'a JobRecord),
    /// The job ended (`ok` or `error`), with the data patch it returned.
    Finished(&'a JobRecord, Option<&'a serde_json::Value>),
}

/// The record of a job that run `run` lists but that has none stored: a job that has not
/// started. Its code key, args and limits are those its run gives it when it starts.
fn unstored_job(run: &RunRecord, job: &JobRef) -> JobRecord {
    JobRecord::new(
        &run.id,
        job.number,
        job.service.clone(),
        job.actor.clone(),
        job.action.clone(),
        run.created_at,
    )
}

/// A job as listed in a run step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRef {
    /// The job number.
    pub number: u32,
    /// The service.
    pub service: ServiceKey,
    /// Its actor.
    pub actor: ActorName,
    /// The action.
    pub action: ActionName,
}

/// One step of a run: jobs that may run in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunStepRecord {
    /// The step number, from 1.
    pub number: u32,
    /// Its state.
    pub state: JobState,
    /// When it started (0: never).
    pub started_at: i64,
    /// When it ended (0: not yet).
    pub finished_at: i64,
    /// Its jobs.
    pub jobs: Vec<JobRef>,
}

/// A planned and executed set of jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    /// The run id.
    pub id: RunId,
    /// `new` (planned), `running`, `ok` or `error`.
    pub state: JobState,
    /// When it was created (ms since the epoch).
    pub created_at: i64,
    /// When it ended (0: not yet).
    pub finished_at: i64,
    /// Its steps.
    pub steps: Vec<RunStepRecord>,
    /// What the runner needs to go on with the run as it started (ays-run: its schedule and
    /// failure policy, as JSON); opaque here. Written once, by
    /// [`Repository::save_run_with_jobs`], and read back by [`Repository::run`].
    #[serde(skip)]
    pub settings: String,
}

/// A run as listed by `ays run list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The run id.
    pub id: RunId,
    /// Its state.
    pub state: JobState,
    /// When it was created.
    pub created_at: i64,
    /// When it ended (0: not yet).
    pub finished_at: i64,
    /// How many steps it has.
    pub steps: usize,
    /// How many jobs it has.
    pub jobs: usize,
}

/// Which jobs [`Repository::jobs`] returns (`ays job list`); empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs of this actor.
    pub actor: Option<ActorName>,
    /// Only jobs of this service.
    pub service: Option<ServiceKey>,
    /// Only jobs of this action.
    pub action: Option<ActionName>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
}

impl JobFilter {
    /// Every job.
    pub fn all() -> Self {
        Self::default()
    }

    /// Whether `job` passes.
    pub fn matches(&self, job: &JobRecord) -> bool {
        self.actor.as_ref().is_none_or(|a| a == &job.actor)
            && self.service.as_ref().is_none_or(|s| s == &job.service)
            && self.action.as_ref().is_none_or(|a| a == &job.action)
            && self.state.is_none_or(|s| s == job.state)
    }
}

impl Repository {
    /// Stores a run record (replacing the previous version), its steps' jobs included.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`].
    pub fn save_run(&self, run: &RunRecord) -> Result<(), CoreError> {
        let mut batch = ays_store::Batch::new();
        self.stage_run(&mut batch, run);
        self.commit(&batch, "save run")
    }

    /// Puts both parts of `run` into `batch`: its header and its steps' jobs.
    fn stage_run(&self, batch: &mut ays_store::Batch, run: &RunRecord) {
        batch.put(
            &keys::run(&run.id),
            &record::encode_run(run, self.id(), RunPart::Header),
        );
        batch.put(
            &keys::run_jobs(&run.id),
            &record::encode_run(run, self.id(), RunPart::Jobs),
        );
    }

    /// Stores a new run, its settings and `jobs` in one batch. A job of the run's steps
    /// without a stored record is `new` (see [`Repository::jobs`]), so a run's jobs need not be
    /// stored before they start.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`].
    pub fn save_run_with_jobs(&self, run: &RunRecord, jobs: &[JobRecord]) -> Result<(), CoreError> {
        let mut batch = ays_store::Batch::new();
        self.stage_run(&mut batch, run);
        if !run.settings.is_empty() {
            batch.put(&keys::run_settings(&run.id), run.settings.as_bytes());
        }
        for job in jobs {
            batch.put(
                &keys::job(&run.id, job.number),
                &record::encode_job(job, self.id()),
            );
        }
        self.commit(&batch, "save run and jobs")
    }

    /// The run with this id.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn run(&self, id: &RunId) -> Result<Option<RunRecord>, CoreError> {
        let k = keys::run(id);
        let jk = keys::run_jobs(id);
        let sk = keys::run_settings(id);
        let mut values = self
            .store()
            .get_many(&[&k, &jk, &sk])
            .map_err(CoreError::store("get run"))?
            .into_iter();
        let (header, jobs, settings) = (
            values.next().flatten(),
            values.next().flatten(),
            values.next().flatten(),
        );
        let Some(b) = header else {
            return Ok(None);
        };
        let key = String::from_utf8_lossy(&k);
        let mut run = record::decode_run(&key, &b)?;
        // Runs stored before their jobs were stored apart hold them in the header.
        if let Some(b) = jobs {
            let jkey = String::from_utf8_lossy(&jk);
            let jobs = record::decode_run(&jkey, &b)?;
            record::merge_run_jobs(&jkey, &mut run, jobs)?;
        }
        if let Some(text) = settings {
            run.settings = String::from_utf8(text).map_err(|e| CoreError::Corrupt {
                key: String::from_utf8_lossy(&sk).into_owned(),
                reason: e.to_string(),
            })?;
        }
        Ok(Some(run))
    }

    /// The ids of the runs whose id starts with `prefix` (all runs for an empty one), sorted,
    /// without reading their records (`ays job show` names a run by a prefix).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`] for a run key that is not a run id.
    pub fn run_ids(&self, prefix: &str) -> Result<Vec<RunId>, CoreError> {
        let keys = scan_keys(
            self.store().as_ref(),
            format!("{}{prefix}", keys::RUN_PREFIX).as_bytes(),
        )?;
        keys.into_iter()
            .map(|k| {
                let text = String::from_utf8_lossy(&k);
                let id = text.strip_prefix(keys::RUN_PREFIX).unwrap_or(&text);
                id.parse()
                    .map_err(|e: crate::ids::NameError| CoreError::Corrupt {
                        key: text.clone().into_owned(),
                        reason: e.to_string(),
                    })
            })
            .collect()
    }

    /// Every run, newest first (`ays run list`).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn runs(&self) -> Result<Vec<RunSummary>, CoreError> {
        let mut out = Vec::new();
        for entry in self.store().scan(keys::RUN_PREFIX.as_bytes(), PAGE) {
            let (k, v) = entry.map_err(CoreError::store("scan runs"))?;
            let r = record::decode_run(&String::from_utf8_lossy(&k), &v)?;
            // Counted without decoding them: a run may list 200,000 jobs.
            let jk = keys::run_jobs(&r.id);
            let jobs = match self
                .store()
                .get(&jk)
                .map_err(CoreError::store("get run jobs"))?
            {
                Some(b) => record::count_run_jobs(&String::from_utf8_lossy(&jk), &b)?,
                None => r.steps.iter().map(|s| s.jobs.len()).sum(),
            };
            out.push(RunSummary {
                jobs,
                steps: r.steps.len(),
                id: r.id,
                state: r.state,
                created_at: r.created_at,
                finished_at: r.finished_at,
            });
        }
        out.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        Ok(out)
    }

    /// Deletes the finished run `id` entirely (AYS 9's `DELETE .../aysrun/{runid}`): its header,
    /// its steps' jobs, its settings and every job record, in one batch, then its directory of
    /// files ([`Repository::run_dir`]) if there is one. Returns the run as it was stored.
    ///
    /// It holds the run lock meanwhile, as every change that must not overlap a run does, so a
    /// live run is never deleted. A directory that cannot be removed once the records are gone
    /// is logged, not an error: the run no longer exists.
    ///
    /// # Errors
    ///
    /// [`CoreError::RunNotFound`], [`CoreError::RunNotFinished`] for a `new` or `running` run
    /// (resume or abandon it first), [`CoreError::RunLocked`] while a run is in progress,
    /// [`CoreError::Store`], [`CoreError::Corrupt`]. Nothing is deleted on error.
    pub fn delete_run(&self, id: &RunId) -> Result<RunRecord, CoreError> {
        let _runs = self.hold_runs(&format!("run delete {id}"))?;
        let run = self
            .run(id)?
            .ok_or_else(|| CoreError::RunNotFound { run: id.clone() })?;
        if !run.state.is_finished() {
            return Err(CoreError::RunNotFinished {
                run: id.clone(),
                state: run.state,
            });
        }
        let mut batch = ays_store::Batch::new();
        batch.delete(&keys::run(id));
        batch.delete(&keys::run_jobs(id));
        batch.delete(&keys::run_settings(id));
        let jobs = scan_keys(self.store().as_ref(), &keys::jobs_of(id))?;
        for k in &jobs {
            batch.delete(k);
        }
        self.commit(&batch, "delete run")?;
        let dir = self.run_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(run = %id, dir = %dir.display(), error = %err, "run deleted, but its directory could not be removed");
            }
        }
        tracing::info!(run = %id, jobs = jobs.len(), "run deleted");
        Ok(run)
    }

    /// Stores a job record (replacing the previous version).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`].
    pub fn save_job(&self, job: &JobRecord) -> Result<(), CoreError> {
        self.store()
            .put(
                &keys::job(&job.run, job.number),
                &record::encode_job(job, self.id()),
            )
            .map_err(CoreError::store("save job"))
    }

    /// Job `number` of run `run`: as stored, or `new` as its run lists it (a job's record is
    /// stored once it starts, or when its run ends without it).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn job(&self, run: &RunId, number: u32) -> Result<Option<JobRecord>, CoreError> {
        let k = keys::job(run, number);
        if let Some(b) = self.store().get(&k).map_err(CoreError::store("get job"))? {
            return Ok(Some(record::decode_job(&String::from_utf8_lossy(&k), &b)?));
        }
        let Some(r) = self.run(run)? else {
            return Ok(None);
        };
        Ok(r.steps
            .iter()
            .flat_map(|s| &s.jobs)
            .find(|j| j.number == number)
            .map(|j| unstored_job(&r, j)))
    }

    /// The jobs of run `run` that pass `filter`, by number (`ays job list`): those stored, and
    /// those its steps list that have no record yet, as `new`.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn jobs(&self, run: &RunId, filter: &JobFilter) -> Result<Vec<JobRecord>, CoreError> {
        let mut out = Vec::new();
        let mut stored = HashSet::new();
        for entry in self.store().scan(&keys::jobs_of(run), PAGE) {
            let (k, v) = entry.map_err(CoreError::store("scan jobs"))?;
            let job = record::decode_job(&String::from_utf8_lossy(&k), &v)?;
            stored.insert(job.number);
            if filter.matches(&job) {
                out.push(job);
            }
        }
        if let Some(r) = self.run(run)? {
            out.extend(
                r.steps
                    .iter()
                    .flat_map(|s| &s.jobs)
                    .filter(|j| !stored.contains(&j.number))
                    .map(|j| unstored_job(&r, j))
                    .filter(|j| filter.matches(j)),
            );
        }
        out.sort_by_key(|j| j.number);
        Ok(out)
    }

    /// The jobs of every run that pass `filter`, by run id then number (`ays job list` without
    /// a run), as [`Repository::jobs`] gives them.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn all_jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>, CoreError> {
        let mut out = Vec::new();
        let mut stored: HashSet<(RunId, u32)> = HashSet::new();
        for entry in self.store().scan(keys::JOB_PREFIX.as_bytes(), PAGE) {
            let (k, v) = entry.map_err(CoreError::store("scan jobs"))?;
            let job = record::decode_job(&String::from_utf8_lossy(&k), &v)?;
            stored.insert((job.run.clone(), job.number));
            if filter.matches(&job) {
                out.push(job);
            }
        }
        for id in self.run_ids("")? {
            let Some(r) = self.run(&id)? else {
                continue;
            };
            out.extend(
                r.steps
                    .iter()
                    .flat_map(|s| &s.jobs)
                    .filter(|j| !stored.contains(&(id.clone(), j.number)))
                    .map(|j| unstored_job(&r, j))
                    .filter(|j| filter.matches(j)),
            );
        }
        out.sort_by(|a, b| a.run.cmp(&b.run).then(a.number.cmp(&b.number)));
        Ok(out)
    }

    /// Records that a job started, in one batch: the job record, and its action becomes
    /// `running`.
    ///
    /// # Errors
    ///
    /// [`CoreError::ServiceNotFound`], [`CoreError::UnknownAction`], [`CoreError::Transition`]
    /// (a disabled action), [`CoreError::Busy`], [`CoreError::Store`]; nothing is written.
    pub fn start_job(&self, job: &JobRecord) -> Result<(), CoreError> {
        self.record_jobs(None, &[JobChange::Started(job)]).map(drop)
    }

    /// Records that a job ended, in one batch, and returns the record as stored.
    ///
    /// A job in state `ok` stores its record, sets the action to `ok` (its last run is the
    /// job's end) and applies `patch` to the service data, checked against the actor's schema;
    /// a `processChange` job also consumes its pending args. A patch the schema rejects turns
    /// the job into an `error` (the reason is logged) and changes no data. A job in state
    /// `error` stores its record and sets the action to `error`, and changes no data.
    ///
    /// # Errors
    ///
    /// [`CoreError::ServiceNotFound`], [`CoreError::UnknownAction`], [`CoreError::Busy`],
    /// [`CoreError::Store`]; nothing is written.
    pub fn finish_job(
        &self,
        job: &JobRecord,
        patch: Option<&serde_json::Value>,
    ) -> Result<JobRecord, CoreError> {
        let mut rewritten = self.record_jobs(None, &[JobChange::Finished(job, patch)])?;
        Ok(rewritten.pop().unwrap_or_else(|| job.clone()))
    }

    /// Records many job changes, and optionally the run record, in one atomic batch under the
    /// write lock: what a run's journal commits at once when several jobs start or end together
    /// (one durable commit instead of one per change), without the write lock unless another
    /// writer keeps racing it: the batch commits only if every service it read is unchanged
    /// and no one holds the write lock. Changes apply in order, each as
    /// [`Repository::start_job`], [`Repository::save_job`] or [`Repository::finish_job`] would;
    /// returns, in order, the stored records of the `Finished` changes that were stored
    /// otherwise than given (a data patch the schema rejected turns an `ok` job into an
    /// `error`): every other job is stored as given, and is not copied back.
    ///
    /// # Errors
    ///
    /// As [`Repository::start_job`] and [`Repository::finish_job`]; nothing is written.
    pub fn record_jobs(
        &self,
        run: Option<&RunRecord>,
        changes: &[JobChange<'_>],
    ) -> Result<Vec<JobRecord>, CoreError> {
        // Optimistic first: no write lock, the batch guarded by what it read. Jobs rarely
        // race another writer, and the lock would cost two more durable writes per commit.
        for _ in 0..OPTIMISTIC_TRIES {
            let mut staging = self.staging();
            let finished = self.stage_jobs(&mut staging, run, changes)?;
            let batch = staging.into_guarded_batch()?;
            match self.store().commit(&batch) {
                Ok(()) => return Ok(finished),
                Err(err) if err.is_conflict() => {
                    tracing::debug!(%err, "job records raced another writer, staging again");
                }
                Err(err) => return Err(CoreError::store("record jobs")(err)),
            }
        }
        // Contended: the write lock waits for the other writer.
        let _lock = self.write_lock()?;
        let mut staging = self.staging();
        let finished = self.stage_jobs(&mut staging, run, changes)?;
        let batch = staging.into_batch()?;
        self.commit(&batch, "record jobs")?;
        Ok(finished)
    }

    /// Stages `changes` and `run`; returns the records of the jobs that ended otherwise than
    /// told.
    fn stage_jobs(
        &self,
        staging: &mut Staging<'_>,
        run: Option<&RunRecord>,
        changes: &[JobChange<'_>],
    ) -> Result<Vec<JobRecord>, CoreError> {
        staging.preload(changes.iter().filter_map(|c| match c {
            JobChange::Started(job) | JobChange::Finished(job, _) => Some(&job.service),
            JobChange::Saved(_) => None,
        }))?;
        let mut finished = Vec::new();
        for change in changes {
            match change {
                JobChange::Started(job) => self.stage_start(staging, job)?,
                JobChange::Saved(job) => staging.put_raw(
                    keys::job(&job.run, job.number),
                    Some(record::encode_job(job, self.id())),
                ),
                JobChange::Finished(job, patch) => {
                    finished.extend(self.stage_finish(staging, job, *patch)?);
                }
            }
        }
        // The run's header only: its steps' jobs were stored with it and never change.
        if let Some(run) = run {
            staging.put_raw(
                keys::run(&run.id),
                Some(record::encode_run(run, self.id(), RunPart::Header)),
            );
        }
        Ok(finished)
    }

    fn stage_start(&self, staging: &mut Staging<'_>, job: &JobRecord) -> Result<(), CoreError> {
        let s = staging
            .service_mut(&job.service)?
            .ok_or_else(|| CoreError::ServiceNotFound {
                key: job.service.to_string(),
            })?;
        let a = s
            .action_mut(job.action.as_str())
            .ok_or_else(|| CoreError::UnknownAction {
                key: job.service.to_string(),
                action: job.action.to_string(),
            })?;
        a.state = a.state.start().map_err(|source| CoreError::Transition {
            key: job.service.to_string(),
            action: job.action.to_string(),
            source,
        })?;
        staging.put_raw(
            keys::job(&job.run, job.number),
            Some(record::encode_job(job, self.id())),
        );
        Ok(())
    }

    fn stage_finish(
        &self,
        staging: &mut Staging<'_>,
        job: &JobRecord,
        patch: Option<&serde_json::Value>,
    ) -> Result<Option<JobRecord>, CoreError> {
        let missing = || CoreError::ServiceNotFound {
            key: job.service.to_string(),
        };
        // Copied only when the stored end differs from the one told.
        let mut rejected: Option<JobRecord> = None;
        if job.state == JobState::Ok
            && let Some(patch) = patch
        {
            // Patch a copy, so that a rejected patch leaves the staged service as it was.
            let mut s = staging
                .service(&job.service)?
                .cloned()
                .ok_or_else(missing)?;
            match self.apply_data_patch(&mut s, patch) {
                Ok(_) => staging.put_service(s)?,
                Err(err @ CoreError::Codec { .. }) => {
                    let reason = JobLog::error_text(&err);
                    tracing::info!(service = %job.service, action = %job.action, %reason, "data patch rejected");
                    let mut stored = job.clone();
                    stored.logs.push(JobLog {
                        at_ms: job.finished_at,
                        category: JobLogCategory::ErrorMsg,
                        message: format!("data patch rejected: {reason}"),
                    });
                    stored.set_state(JobState::Error, job.finished_at);
                    rejected = Some(stored);
                }
                Err(other) => return Err(other),
            }
        }
        let job = rejected.as_ref().unwrap_or(job);
        let ok = job.state == JobState::Ok;
        let s = staging.service_mut(&job.service)?.ok_or_else(missing)?;
        let a = s
            .action_mut(job.action.as_str())
            .ok_or_else(|| CoreError::UnknownAction {
                key: job.service.to_string(),
                action: job.action.to_string(),
            })?;
        a.state = a.state.finish(ok);
        if ok {
            a.last_run = job.finished_at;
        }
        if ok && job.action.as_str() == PROCESS_CHANGE {
            staging.put_raw(keys::args(&job.service, &job.action), None);
        }
        staging.put_raw(
            keys::job(&job.run, job.number),
            Some(record::encode_job(job, self.id())),
        );
        Ok(rejected)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::ActionState;
    use crate::testing::{Backend, TestRepo};

    /// Job records skip the write lock, but never write while another writer holds it: they
    /// wait for it and then apply on top of what that writer stored.
    fn waits_for_the_write_lock(b: Backend) -> Result<(), Box<dyn std::error::Error>> {
        let t = TestRepo::new(b)?;
        t.template("app", "port = type:int\n")?;
        t.repo.apply_blueprint_text(
            "bp.yaml",
            "app__a:\n  port: 1\nactions:\n  - action: install\n",
            crate::ApplyOptions::default(),
        )?;
        let run: RunId = "r1".parse()?;
        let mut job = JobRecord::new(
            &run,
            1,
            "app!a".parse()?,
            "app".parse()?,
            "install".parse()?,
            1,
        );
        job.set_state(JobState::Ok, 2);
        let released = AtomicBool::new(false);
        let (held, wait) = mpsc::channel();
        std::thread::scope(|scope| -> Result<(), Box<dyn std::error::Error>> {
            let holder = scope.spawn(|| -> Result<(), CoreError> {
                let lock = t.repo.write_lock()?;
                let _ = held.send(());
                std::thread::sleep(Duration::from_millis(300));
                released.store(true, Ordering::SeqCst);
                drop(lock);
                Ok(())
            });
            wait.recv_timeout(Duration::from_secs(10))?;
            let stored = t
                .repo
                .record_jobs(None, &[JobChange::Finished(&job, None)])?;
            assert!(
                released.load(Ordering::SeqCst),
                "wrote while the lock was held"
            );
            assert_eq!(stored, Vec::new(), "stored as told");
            holder.join().map_err(|_| "the lock holder panicked")??;
            Ok(())
        })?;
        let s = t.repo.service(&"app!a".parse()?)?.ok_or("no service")?;
        assert_eq!(s.action("install").map(|a| a.state), Some(ActionState::Ok));
        assert_eq!(t.repo.job(&run, 1)?, Some(job));
        t.check_indexes()?;
        Ok(())
    }

    #[test]
    fn job_records_wait_for_the_write_lock_redb() -> Result<(), Box<dyn std::error::Error>> {
        waits_for_the_write_lock(Backend::Redb)
    }

    #[test]
    fn job_records_wait_for_the_write_lock_redis() -> Result<(), Box<dyn std::error::Error>> {
        waits_for_the_write_lock(Backend::Redis)
    }
}
