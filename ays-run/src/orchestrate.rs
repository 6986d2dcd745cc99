//! The runs of a repository, as `ays run` and `ays do` use them: [`create_run`] (lock, plan,
//! persist the run and its plan, execute, release), [`resume_run`] (the newest
//! unfinished run, without re-running its finished jobs), [`abandon_run`], [`show_run`],
//! [`list_runs`] and [`unlock`].
//!
//! A run is stored with its settings (schedule, failure policy, no-exec), as JSON in
//! [`RunRecord::settings`], so that a resumed run ends as it would have without the
//! interruption.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ays_core::{
    ActionName, ActionState, JobFilter, JobLog, JobLogCategory, JobRecord, JobRef, JobState,
    Repository, RunId, RunLockInfo, RunLockOptions, RunRecord, RunStepRecord, RunSummary,
};
use tracing::{info, instrument};

use crate::clock::SystemClock;
use crate::error::{JobKey, RunError};
use crate::executor::{ExecConfig, Executor, FailurePolicy, RunReport, Schedule};
use crate::job::CancelToken;
use crate::journal::ResumeState;
use crate::plan::Plan;
use crate::planner::Planner;
use crate::repository::plan_input_with;
use crate::runner::RepositoryRunner;
use crate::runtime::ActionRegistry;
use crate::store_journal::{RunObserver, StoreJournal, job_key, now_ms, resume_state};

/// At most this many jobs in flight on workers at once, unless the run says how many (`-j`).
const DISTRIBUTED_PARALLEL: usize = 256;

/// How a run is made and executed. Start from `RunOptions::default()` and set fields.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunOptions<'a> {
    /// Steps (AYS 8.1) or dag.
    pub schedule: Schedule,
    /// At most this many jobs at once (0: the machine's parallelism).
    pub jobs: usize,
    /// What the dag schedule does after a failure.
    pub failure: FailurePolicy,
    /// Mark jobs ok without running them (also when the repository config says `no_exec`).
    pub no_exec: bool,
    /// Plan only: no lock, nothing written, nothing run.
    pub dry_run: bool,
    /// Only these actions seed the run (their prerequisites still run); empty: every
    /// scheduled, changed or failed action.
    pub only_actions: Vec<ActionName>,
    /// Native actions, which win over the stored code.
    pub registry: Option<Arc<ActionRegistry>>,
    /// Cancels the run (a Ctrl-C handler requests it). A cancelled run stays unfinished:
    /// [`resume_run`] goes on with it.
    pub cancel: Option<CancelToken>,
    /// [`resume_run`] only: use `schedule` and `failure` from these options instead of the
    /// ones stored with the run (default `false`: the stored ones).
    pub override_stored: bool,
    /// Sees every event of the run after it was stored (progress output); default none.
    pub observer: Option<&'a dyn RunObserver>,
    /// With `dry_run`: plan as if `only_actions` had been scheduled on these services
    /// (`ays do --dry-run` shows what `ays do` would run without scheduling anything).
    pub assume_scheduled: Option<AssumeScheduled>,
    /// [`create_run`] only: the id the run gets (default: [`RunId::generate`]). A daemon that
    /// queues a request names it before it runs.
    pub id: Option<RunId>,
    /// Execute the jobs' stored code on workers (`ays worker`) through the store's message
    /// queue instead of in this process (also when the repository's config says
    /// `workers: true`); native actions still run here. Needs a store every
    /// worker reaches (`redis://`, `redis+cluster://`). Stored with the run, so that
    /// [`resume_run`] goes on the same way.
    pub workers: bool,
}

/// Services on which a dry run takes the run's actions as scheduled
/// ([`RunOptions::assume_scheduled`]), as [`ays_core::Service::scheduled_state`] would
/// schedule them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssumeScheduled {
    /// The services.
    pub services: std::collections::BTreeSet<ays_core::ServiceKey>,
    /// Schedule `ok` actions too.
    pub force: bool,
}

/// What is stored with a run ([`RunRecord::settings`]) to resume it as it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct StoredSettings {
    schedule: StoredSchedule,
    failure: StoredFailure,
    no_exec: bool,
    /// Left out when false, so that runs stored before workers read the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    workers: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredSchedule {
    Steps,
    Dag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredFailure {
    StopDependents,
    FailFast,
    KeepGoing,
}

impl StoredSettings {
    fn of(config: &ExecConfig, workers: bool) -> Self {
        Self {
            workers,
            schedule: match config.schedule {
                Schedule::Steps => StoredSchedule::Steps,
                Schedule::Dag => StoredSchedule::Dag,
            },
            failure: match config.failure {
                FailurePolicy::StopDependents => StoredFailure::StopDependents,
                FailurePolicy::FailFast => StoredFailure::FailFast,
                FailurePolicy::KeepGoing => StoredFailure::KeepGoing,
            },
            no_exec: config.no_exec,
        }
    }

    /// The settings of run `run` as stored (`None` for a run stored without any).
    fn read(run: &RunRecord) -> Result<Option<Self>, RunError> {
        if run.settings.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&run.settings)
            .map(Some)
            .map_err(|source| RunError::BadSettings {
                run: run.id.clone(),
                settings: run.settings.clone(),
                source,
            })
    }

    /// `options` with these settings, unless the caller overrides them.
    fn apply<'a>(self, options: &RunOptions<'a>) -> RunOptions<'a> {
        let mut out = options.clone();
        if !options.override_stored {
            out.schedule = match self.schedule {
                StoredSchedule::Steps => Schedule::Steps,
                StoredSchedule::Dag => Schedule::Dag,
            };
            out.failure = match self.failure {
                StoredFailure::StopDependents => FailurePolicy::StopDependents,
                StoredFailure::FailFast => FailurePolicy::FailFast,
                StoredFailure::KeepGoing => FailurePolicy::KeepGoing,
            };
        }
        out.no_exec |= self.no_exec;
        out.workers |= self.workers;
        out
    }
}

/// What [`create_run`] or [`resume_run`] did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run's id (for a dry run or an empty plan, the id it would have had).
    pub id: RunId,
    /// The plan.
    pub plan: Plan,
    /// The execution's report; `None` for a dry run or an empty plan (nothing stored).
    pub report: Option<RunReport>,
    /// The run as stored at the end; `None` when nothing was stored.
    pub record: Option<RunRecord>,
    /// The run's jobs as stored at the end, by number (empty when nothing was stored), so that
    /// a caller need not read them back.
    pub jobs: Vec<JobRecord>,
    /// Where the time went.
    pub timings: RunTimings,
}

/// Where the time of [`create_run`] or [`resume_run`] went (zero for a phase that did not
/// happen); logged at the `info` level when the run ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunTimings {
    /// Reading the repository and planning.
    pub plan: Duration,
    /// Writing the run's action code, and storing the run and its plan.
    pub store: Duration,
    /// Executing the plan, commits included.
    pub execute: Duration,
    /// The part of `execute` spent committing the journal.
    pub commit: Duration,
}

impl RunTimings {
    fn log(&self, run: &RunId) {
        info!(
            run = %run,
            plan_ms = self.plan.as_millis(),
            store_ms = self.store.as_millis(),
            execute_ms = self.execute.as_millis(),
            commit_ms = self.commit.as_millis(),
            "run timings"
        );
    }
}

/// A stored run with its jobs (`ays run show`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunDetail {
    /// The run, its steps and their job references.
    pub run: RunRecord,
    /// Its jobs by number: state, attempts, times (see [`JobRecord::duration_ms`]) and logs.
    pub jobs: Vec<JobRecord>,
}

fn plan_for(
    repo: &Repository,
    only: &[ActionName],
    assume: Option<&AssumeScheduled>,
) -> Result<Plan, RunError> {
    let input = plan_input_with(repo, |service, action| {
        let assumed =
            assume.filter(|a| a.services.contains(&service.key) && only.contains(&action.name));
        let s = match assumed {
            Some(a) => service
                .scheduled_state(&action.name, a.force)
                .and_then(Result::ok)
                .unwrap_or(action.state),
            None => action.state,
        };
        if !only.is_empty() && s.is_candidate() && !only.contains(&action.name) {
            // Not a seed, but still run when a seed needs it.
            ActionState::New
        } else {
            s
        }
    })?;
    Ok(Planner::new().plan(&input)?)
}

/// What a `new` job gets from its run when it is planned, or, for a job stored without it,
/// when its run resumes: its action code's key, its args, and its limits.
struct NewJobs<'r> {
    runner: &'r RepositoryRunner,
    config: &'r ExecConfig,
    args: std::collections::HashMap<(ays_core::ServiceKey, ActionName), serde_json::Value>,
}

impl<'r> NewJobs<'r> {
    fn read(
        repo: &Repository,
        id: &RunId,
        runner: &'r RepositoryRunner,
        config: &'r ExecConfig,
    ) -> Result<Self, RunError> {
        let args = repo
            .all_action_args()
            .map_err(RunError::repo(Some(id), "read the args of its jobs"))?;
        Ok(Self {
            runner,
            config,
            args,
        })
    }

    fn fill(&self, rec: &mut JobRecord) {
        rec.code_key = self.runner.code_key(&rec.actor, &rec.action).to_owned();
        rec.args = self
            .args
            .get(&(rec.service.clone(), rec.action.clone()))
            .map(ToString::to_string)
            .unwrap_or_default();
        let retries = self.config.retry_of(&rec.actor, &rec.action).retries;
        rec.max_attempts = retries.saturating_add(1);
        let timeout = self.config.timeout_of(&rec.actor, &rec.action);
        rec.timeout_secs = u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX);
    }
}

/// The run record and its `new` jobs for `plan`.
fn records(
    repo: &Repository,
    id: &RunId,
    plan: &Plan,
    runner: &RepositoryRunner,
    config: &ExecConfig,
) -> Result<(RunRecord, Vec<JobRecord>), RunError> {
    let now = now_ms();
    let new_jobs = NewJobs::read(repo, id, runner, config)?;
    let mut jobs = Vec::with_capacity(plan.jobs().len());
    for job in plan.jobs() {
        let number = u32::try_from(job.id().index().saturating_add(1)).unwrap_or(u32::MAX);
        let mut rec = JobRecord::new(
            id,
            number,
            job.service().clone(),
            job.actor().clone(),
            job.action().clone(),
            now,
        );
        new_jobs.fill(&mut rec);
        jobs.push(rec);
    }
    let steps = plan
        .steps()
        .iter()
        .map(|step| RunStepRecord {
            number: u32::try_from(step.number()).unwrap_or(u32::MAX),
            state: JobState::New,
            started_at: 0,
            finished_at: 0,
            jobs: step
                .jobs()
                .iter()
                .filter_map(|j| jobs.get(j.index()))
                .map(|j| JobRef {
                    number: j.number,
                    service: j.service.clone(),
                    actor: j.actor.clone(),
                    action: j.action.clone(),
                })
                .collect(),
        })
        .collect();
    let run = RunRecord {
        id: id.clone(),
        // Stored as running, since it runs right away: the journal then need not write the
        // run's record (every job's reference, 25 MB for 200,000 jobs) again when it starts.
        state: JobState::Running,
        created_at: now,
        finished_at: 0,
        steps,
        settings: serde_json::to_string(&StoredSettings::of(config, runner.is_distributed()))
            .map_err(|source| RunError::BadSettings {
                run: id.clone(),
                settings: format!("{:?}", StoredSettings::of(config, runner.is_distributed())),
                source,
            })?,
    };
    Ok((run, jobs))
}

fn config_for(repo: &Repository, options: &RunOptions, runner: &RepositoryRunner) -> ExecConfig {
    let mut config = ExecConfig {
        schedule: options.schedule,
        failure: options.failure,
        no_exec: options.no_exec || repo.no_exec(),
        ..ExecConfig::default()
    };
    if options.jobs > 0 {
        config.max_parallel = options.jobs;
    } else if runner.is_distributed() {
        // Each job in flight on a worker holds a coordinator thread that waits for its result.
        config.max_parallel = DISTRIBUTED_PARALLEL;
    }
    runner.apply_limits(&mut config);
    config
}

/// Executes `plan` as run `id`, journaling into the store.
fn execute(
    id: &RunId,
    plan: &Plan,
    runner: &RepositoryRunner,
    config: ExecConfig,
    options: &RunOptions,
    journal: StoreJournal<'_>,
    resume: &ResumeState,
) -> Result<(RunReport, RunRecord, Vec<JobRecord>, Duration), RunError> {
    let threads = config.max_parallel;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("ays-job-{i}"))
        .build()
        .map_err(|source| RunError::ThreadPool {
            run: id.clone(),
            threads,
            source,
        })?;
    let mut executor = Executor::new(Arc::new(pool), Arc::new(SystemClock::new()), config);
    if let Some(cancel) = &options.cancel {
        executor = executor.with_cancel(cancel.clone());
    }
    let journal = match &options.observer {
        Some(o) => journal.with_observer(*o),
        None => journal,
    };
    let report = executor
        .resume(id, plan, runner, &journal, resume)
        .map_err(|source| RunError::Exec {
            run: id.clone(),
            source: Box::new(source),
        })?;
    let (record, jobs, commit) = journal.into_records();
    Ok((report, record, jobs, commit))
}

/// Creates a run from the repository's scheduled actions and executes it: takes the run lock,
/// plans, stores the run and its plan, runs it (every change stored as it happens) and
/// releases the lock. With `dry_run` it only plans: no lock, nothing written. An empty plan
/// stores nothing.
///
/// # Errors
///
/// [`RunError::Repository`] (with [`ays_core::CoreError::RunLocked`] when another run is
/// live), [`RunError::Unfinished`] when an older run is unfinished (resume or abandon it
/// first), [`RunError::Source`]/[`RunError::Plan`] when the repository cannot be planned,
/// [`RunError::Exec`] when the store failed during the run (the run stays unfinished and can be
/// resumed). Failed jobs are not errors: see [`RunOutcome::report`].
#[instrument(skip_all)]
pub fn create_run(repo: &Repository, options: &RunOptions) -> Result<RunOutcome, RunError> {
    let id = options.id.clone().unwrap_or_else(RunId::generate);
    if options.dry_run {
        return Ok(RunOutcome {
            id,
            plan: plan_for(
                repo,
                &options.only_actions,
                options.assume_scheduled.as_ref(),
            )?,
            report: None,
            record: None,
            jobs: Vec::new(),
            timings: RunTimings::default(),
        });
    }
    let _lock = repo
        .lock_run(id.as_str(), &RunLockOptions::default())
        .map_err(RunError::repo(Some(&id), "took the run lock"))?;
    if let Some(old) = list_runs(repo)?
        .into_iter()
        .find(|r| !r.state.is_finished())
    {
        return Err(RunError::Unfinished { run: old.id });
    }
    if options.id.is_some()
        && repo
            .run(&id)
            .map_err(RunError::repo(Some(&id), "read its record"))?
            .is_some()
    {
        return Err(RunError::RunExists { run: id });
    }
    let mut timings = RunTimings::default();
    let started = Instant::now();
    let plan = plan_for(repo, &options.only_actions, None)?;
    timings.plan = started.elapsed();
    if plan.is_empty() {
        info!(run = %id, "nothing to run");
        return Ok(RunOutcome {
            id,
            plan,
            report: None,
            record: None,
            jobs: Vec::new(),
            timings,
        });
    }
    let started = Instant::now();
    let runner = RepositoryRunner::prepare(repo, &id, &plan, options)?;
    let config = config_for(repo, options, &runner);
    let (run, jobs) = records(repo, &id, &plan, &runner, &config)?;
    // The run lists its jobs, so they are stored only as they start and end: a job without a
    // record is `new`, and the journal stores those left at the run's end.
    repo.save_run_with_jobs(&run, &[])
        .map_err(RunError::repo(Some(&id), "stored the plan"))?;
    timings.store = started.elapsed();
    info!(run = %id, jobs = jobs.len(), steps = run.steps.len(), "run created");
    let journal = StoreJournal::new(repo, run, jobs);
    let started = Instant::now();
    let (report, record, jobs, commit) = execute(
        &id,
        &plan,
        &runner,
        config,
        options,
        journal,
        &ResumeState::new(),
    )?;
    timings.execute = started.elapsed();
    timings.commit = commit;
    timings.log(&id);
    Ok(RunOutcome {
        id,
        plan,
        report: Some(report),
        record: Some(record),
        jobs,
        timings,
    })
}

/// Resumes the newest unfinished run (one that died, whose store failed or that was cancelled):
/// its jobs that ended keep their state and do not run again; the others run, including those
/// that were running or killed (at-least-once). The plan is rebuilt from the repository for
/// exactly the run's jobs, and the run's stored schedule, failure policy and no-exec apply
/// unless [`RunOptions::override_stored`] is set.
///
/// # Errors
///
/// [`RunError::NothingToResume`], [`RunError::PlanMismatch`], [`RunError::BadSettings`], and
/// as [`create_run`].
#[instrument(skip_all)]
pub fn resume_run(repo: &Repository, options: &RunOptions) -> Result<RunOutcome, RunError> {
    let summary = list_runs(repo)?
        .into_iter()
        .find(|r| !r.state.is_finished())
        .ok_or(RunError::NothingToResume)?;
    let id = summary.id;
    let _lock = repo
        .lock_run(id.as_str(), &RunLockOptions::default())
        .map_err(RunError::repo(Some(&id), "took the run lock"))?;
    let run = repo
        .run(&id)
        .map_err(RunError::repo(Some(&id), "read its record"))?
        .ok_or_else(|| RunError::NoSuchRun { run: id.clone() })?;
    let jobs = repo
        .jobs(&id, &JobFilter::all())
        .map_err(RunError::repo(Some(&id), "read its jobs"))?;
    let in_run: HashSet<JobKey> = jobs.iter().map(job_key).collect();
    // The run's jobs are the only seeds; everything else counts as done, as it did when the run
    // was planned (a prerequisite outside the run was not needed then).
    let input = plan_input_with(repo, |s, a| {
        let key = JobKey {
            service: s.key.clone(),
            action: a.name.clone(),
        };
        if in_run.contains(&key) {
            ActionState::Scheduled
        } else {
            ActionState::Ok
        }
    })?;
    let plan = Planner::new().plan(&input)?;
    if let Some(missing) = plan.jobs().iter().find(|j| !in_run.contains(j.key())) {
        return Err(RunError::PlanMismatch {
            run: id.clone(),
            job: missing.key().clone(),
        });
    }
    let resume = resume_state(&jobs);
    let options = match StoredSettings::read(&run)? {
        Some(stored) => stored.apply(options),
        None => options.clone(),
    };
    let options = &options;
    let runner = RepositoryRunner::prepare(repo, &id, &plan, options)?;
    let config = config_for(repo, options, &runner);
    // The jobs that never started have no record yet: they get from the run what they would
    // have got when it was planned.
    let new_jobs = NewJobs::read(repo, &id, &runner, &config)?;
    let mut jobs = jobs;
    for job in jobs.iter_mut().filter(|j| j.state == JobState::New) {
        new_jobs.fill(job);
    }
    // Stored whole once more: a run stored before its steps' jobs were stored apart from it
    // would lose them when the journal writes its header alone.
    repo.save_run(&run)
        .map_err(RunError::repo(Some(&id), "stored its record"))?;
    info!(run = %id, jobs = jobs.len(), "run resumed");
    let journal = StoreJournal::new(repo, run, jobs);
    let started = Instant::now();
    let (report, record, jobs, commit) =
        execute(&id, &plan, &runner, config, options, journal, &resume)?;
    let timings = RunTimings {
        execute: started.elapsed(),
        commit,
        ..RunTimings::default()
    };
    timings.log(&id);
    Ok(RunOutcome {
        id,
        plan,
        report: Some(report),
        record: Some(record),
        jobs,
        timings,
    })
}

/// Gives up the unfinished run `id` (`ays run abandon`): its running jobs end in `error` with
/// a log line saying so (their actions go to `error`, so the next run picks them up), its
/// `new` jobs stay `new`, and the run ends in `error`. Returns the run as stored.
///
/// # Errors
///
/// [`RunError::NoSuchRun`], [`RunError::AlreadyFinished`], [`RunError::Repository`] (with
/// [`ays_core::CoreError::RunLocked`] while the run, or another, is live).
#[instrument(skip_all, fields(run = %id))]
pub fn abandon_run(repo: &Repository, id: &RunId) -> Result<RunRecord, RunError> {
    let _lock = repo
        .lock_run(id.as_str(), &RunLockOptions::default())
        .map_err(RunError::repo(Some(id), "took the run lock"))?;
    let mut run = repo
        .run(id)
        .map_err(RunError::repo(Some(id), "read its record"))?
        .ok_or_else(|| RunError::NoSuchRun { run: id.clone() })?;
    if run.state.is_finished() {
        return Err(RunError::AlreadyFinished {
            run: id.clone(),
            state: run.state,
        });
    }
    let now = now_ms();
    let running = JobFilter {
        state: Some(JobState::Running),
        ..JobFilter::all()
    };
    let jobs = repo
        .jobs(id, &running)
        .map_err(RunError::repo(Some(id), "read its jobs"))?;
    for mut job in jobs {
        job.logs.push(JobLog {
            at_ms: now,
            category: JobLogCategory::ErrorMsg,
            message: "run abandoned while the job was running".to_owned(),
        });
        job.set_state(JobState::Error, now);
        repo.finish_job(&job, None)
            .map_err(RunError::repo(Some(id), "ended its running jobs"))?;
    }
    for step in &mut run.steps {
        if step.state == JobState::Running {
            step.state = JobState::Error;
            step.finished_at = now;
        }
    }
    run.state = JobState::Error;
    run.finished_at = now;
    repo.save_run(&run)
        .map_err(RunError::repo(Some(id), "stored its end"))?;
    info!(run = %id, "run abandoned");
    Ok(run)
}

/// A stored run with its jobs (`ays run show`).
///
/// # Errors
///
/// [`RunError::NoSuchRun`], [`RunError::Repository`].
pub fn show_run(repo: &Repository, id: &RunId) -> Result<RunDetail, RunError> {
    let run = repo
        .run(id)
        .map_err(RunError::repo(Some(id), "read its record"))?
        .ok_or_else(|| RunError::NoSuchRun { run: id.clone() })?;
    let jobs = repo
        .jobs(id, &JobFilter::all())
        .map_err(RunError::repo(Some(id), "read its jobs"))?;
    Ok(RunDetail { run, jobs })
}

/// Every stored run, newest first (`ays run list`).
///
/// # Errors
///
/// [`RunError::Repository`].
pub fn list_runs(repo: &Repository) -> Result<Vec<RunSummary>, RunError> {
    repo.runs()
        .map_err(RunError::repo(None, "listed the stored runs"))
}

/// Removes the run lock whoever holds it (`ays run unlock --force`); returns who held it.
///
/// # Errors
///
/// [`RunError::Repository`].
pub fn unlock(repo: &Repository) -> Result<Option<RunLockInfo>, RunError> {
    repo.force_unlock()
        .map_err(RunError::repo(None, "removed the run lock"))
}
