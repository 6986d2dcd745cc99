//! The executor: runs a [`Plan`] through an [`ActionRunner`] on an injected rayon pool.
//!
//! One coordinator (the calling thread) owns all scheduling state: it picks the jobs to start,
//! writes every change to the [`Journal`], and hears from workers over a channel. Workers only
//! run attempts (with retries and backoff) and report; they never touch shared state, so there is
//! no lock around the run.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use rayon::{Scope, ThreadPool};
use tracing::{debug, info, info_span, instrument, warn};

use ays_core::{ActionName, ActorName, JobState, RunId, ServiceKey};

use crate::clock::Clock;
use crate::error::{ExecError, JobKey, JournalError};

use crate::job::{ActionRunner, CancelToken, FailureKind, JobContext, JobFailure, JobOutcome};
use crate::journal::{Attempt, Journal, ResumeState};
use crate::plan::{JobId, Plan, PlannedJob};

/// How jobs are released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// AYS 8.1: all jobs of a step in parallel, the next step when the previous one ended, and
    /// no further step after a step with an error.
    Steps,
    /// A job starts as soon as its own prerequisites are ok.
    #[default]
    Dag,
}

/// What the `Dag` schedule does after a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Jobs depending on the failed one never start; everything independent finishes.
    #[default]
    StopDependents,
    /// No job starts after the first failure; running ones are waited for.
    FailFast,
    /// A failed prerequisite does not block its dependents: every job runs.
    KeepGoing,
}

/// Retries of one action: `retries` more attempts after the first, waiting `first_delay`, then
/// twice as long each time, never more than `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// Delay before the first retry.
    pub first_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// No retry.
    pub fn none() -> Self {
        Self {
            retries: 0,
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// The delay before retry `n` (from 1): `first_delay * 2^(n-1)`, capped.
    pub fn delay_before(&self, n: u32) -> Duration {
        let factor = 2u32.checked_pow(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::none()
    }
}

/// How an [`Executor`] runs plans. Start from `ExecConfig::default()` and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExecConfig {
    /// Steps or dag (default dag).
    pub schedule: Schedule,
    /// What the dag schedule does after a failure.
    pub failure: FailurePolicy,
    /// At most this many jobs at once (`-j N`); default: the machine's parallelism.
    pub max_parallel: usize,
    /// At most this many jobs at once per actor.
    pub per_actor: HashMap<ActorName, usize>,
    /// Retries of an action of one actor (what its template says); win over `retries`.
    pub actor_retries: HashMap<ActorName, HashMap<ActionName, RetryPolicy>>,
    /// Retries per action, whatever the actor; others use `default_retry`.
    pub retries: HashMap<ActionName, RetryPolicy>,
    /// Retries of actions without an entry (default: none).
    pub default_retry: RetryPolicy,
    /// Timeout of an action of one actor (what its template says); wins over `timeouts`.
    pub actor_timeouts: HashMap<ActorName, HashMap<ActionName, Duration>>,
    /// Timeout per action, whatever the actor; others use `default_timeout`.
    pub timeouts: HashMap<ActionName, Duration>,
    /// Timeout of actions without an entry (default: one hour).
    pub default_timeout: Duration,
    /// No-exec mode: jobs are marked ok without running.
    pub no_exec: bool,
}

impl Default for ExecConfig {
    fn default() -> Self {
        Self {
            schedule: Schedule::default(),
            failure: FailurePolicy::default(),
            max_parallel: std::thread::available_parallelism().map_or(1, usize::from),
            per_actor: HashMap::new(),
            actor_retries: HashMap::new(),
            retries: HashMap::new(),
            default_retry: RetryPolicy::none(),
            actor_timeouts: HashMap::new(),
            timeouts: HashMap::new(),
            default_timeout: Duration::from_secs(3600),
            no_exec: false,
        }
    }
}

impl ExecConfig {
    /// The timeout of `action` of `actor`: its actor's, else the action's, else the default.
    pub fn timeout_of(&self, actor: &ActorName, action: &ActionName) -> Duration {
        self.actor_timeouts
            .get(actor)
            .and_then(|actions| actions.get(action))
            .or_else(|| self.timeouts.get(action))
            .copied()
            .unwrap_or(self.default_timeout)
    }

    /// The retries of `action` of `actor`: its actor's, else the action's, else the default.
    pub fn retry_of(&self, actor: &ActorName, action: &ActionName) -> RetryPolicy {
        self.actor_retries
            .get(actor)
            .and_then(|actions| actions.get(action))
            .or_else(|| self.retries.get(action))
            .copied()
            .unwrap_or(self.default_retry)
    }
}

/// What happened to one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    /// The (service, action) pair.
    pub key: JobKey,
    /// Its final state: `New` when it never started, `Running` when a cancellation killed it
    /// (it runs again on resume).
    pub state: JobState,
    /// The attempts made by this execution.
    pub attempts: Vec<Attempt>,
    /// The outcome of its last attempt, when it ran in this execution.
    pub outcome: Option<JobOutcome>,
    /// Whether its state came from the resume record rather than from running it.
    pub resumed: bool,
}

/// The result of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The run.
    pub run: RunId,
    /// `Ok` when every job is ok; `Running` when the run was cancelled before every job ended
    /// (it is not over: resuming it runs the rest); `Error` otherwise.
    pub state: JobState,
    /// The state of each step, in order (computed from its jobs under the dag schedule).
    pub steps: Vec<JobState>,
    /// One report per job, indexed like [`Plan::jobs`].
    pub jobs: Vec<JobReport>,
    /// Whether the run was cancelled.
    pub cancelled: bool,
}

impl RunReport {
    /// The report of a (service, action) pair.
    pub fn job(&self, service: &str, action: &str) -> Option<&JobReport> {
        // Compared as text, so that a caller may name a job without parsing its names.
        self.jobs
            .iter()
            .find(|j| j.key.service.as_str() == service && j.key.action.as_str() == action)
    }
}

/// Runs plans. Its thread pool, clock and configuration are injected; one executor may run many
/// plans, one after another or at once.
pub struct Executor {
    pool: Arc<ThreadPool>,
    clock: Arc<dyn Clock>,
    config: ExecConfig,
    cancel: CancelToken,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("threads", &self.pool.current_num_threads())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How often the coordinator looks at the cancellation token while jobs run.
const CANCEL_POLL: Duration = Duration::from_millis(20);

enum Message {
    Attempt(JobId, Attempt),
    Done(JobId, JobOutcome),
}

impl Executor {
    /// An executor running jobs on `pool`, timing them with `clock`.
    pub fn new(pool: Arc<ThreadPool>, clock: Arc<dyn Clock>, config: ExecConfig) -> Self {
        Self {
            pool,
            clock,
            config,
            cancel: CancelToken::new(),
        }
    }

    /// Uses `cancel` (for example one shared with a Ctrl-C handler) instead of a private token.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// The token that cancels this executor's runs. A cancelled token stays cancelled: give the
    /// next run a fresh one with [`Executor::with_cancel`].
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    /// Runs every job of `plan`.
    ///
    /// # Errors
    ///
    /// [`ExecError::InvalidConfig`] for a limit of zero, [`ExecError::Journal`] when the journal
    /// fails. Failed jobs are not errors: they are in the report.
    pub fn run(
        &self,
        run: &RunId,
        plan: &Plan,
        runner: &dyn ActionRunner,
        journal: &dyn Journal,
    ) -> Result<RunReport, ExecError> {
        self.execute(run, plan, runner, journal, &ResumeState::new())
    }

    /// Runs `plan` again after an interruption: jobs that `resume` records as finished keep their
    /// state and do not run; all others run, including those that were running (at-least-once).
    ///
    /// # Errors
    ///
    /// As [`Executor::run`].
    pub fn resume(
        &self,
        run: &RunId,
        plan: &Plan,
        runner: &dyn ActionRunner,
        journal: &dyn Journal,
        resume: &ResumeState,
    ) -> Result<RunReport, ExecError> {
        self.execute(run, plan, runner, journal, resume)
    }

    #[instrument(skip_all, fields(run = %run))]
    fn execute(
        &self,
        run: &RunId,
        plan: &Plan,
        runner: &dyn ActionRunner,
        journal: &dyn Journal,
        resume: &ResumeState,
    ) -> Result<RunReport, ExecError> {
        if self.config.max_parallel == 0 || self.config.per_actor.values().any(|n| *n == 0) {
            return Err(ExecError::InvalidConfig {
                run: run.clone(),
                reason: "a concurrency limit is zero".into(),
            });
        }
        let mut co = Coordinator::new(self, run, plan, journal, resume);
        co.record("run_started", |j| j.run_started(run, plan));
        self.pool.in_place_scope(|scope| {
            let (tx, rx) = mpsc::channel();
            match self.config.schedule {
                Schedule::Dag => {
                    co.seed_dag();
                    co.drive(scope, &tx, &rx, runner);
                }
                Schedule::Steps => co.run_steps(scope, &tx, &rx, runner),
            }
        });
        let report = co.finish();
        if let Some(source) = co.journal_error {
            return Err(ExecError::Journal {
                run: run.clone(),
                source,
            });
        }
        info!(state = ?report.state, "run finished");
        Ok(report)
    }
}

/// The longest a job that ended waits for the commit of its end while every worker is busy.
const FLUSH_AFTER: Duration = Duration::from_millis(100);
/// The most jobs whose ends wait for a commit while every worker is busy.
const FLUSH_AT: usize = 512;

struct Coordinator<'a> {
    exec: &'a Executor,
    run: &'a RunId,
    plan: &'a Plan,
    journal: &'a dyn Journal,
    jobs: Vec<JobReport>,
    waiting: Vec<usize>,
    dependents: Vec<Vec<JobId>>,
    ready: VecDeque<JobId>,
    busy: HashSet<&'a ServiceKey>,
    per_actor: HashMap<&'a ActorName, usize>,
    running: usize,
    stopping: bool,
    dag: bool,
    journal_error: Option<JournalError>,
    /// Jobs that ended since the last flush of the journal: their dependents wait for it.
    unflushed: Vec<(JobId, JobState)>,
    /// When the journal was last flushed (clock time).
    flushed_at: Duration,
    /// Whether a job started since the last flush: its start is committed within
    /// [`FLUSH_AFTER`] even when no job ends, so that a long job shows as running to whoever
    /// reads the store (`ays run show` elsewhere, the daemon's API).
    started_unflushed: bool,
    /// Shared with every job's context: set when the run stops on its own (journal failure).
    halted: Arc<std::sync::atomic::AtomicBool>,
}

impl<'a> Coordinator<'a> {
    fn new(
        exec: &'a Executor,
        run: &'a RunId,
        plan: &'a Plan,
        journal: &'a dyn Journal,
        resume: &ResumeState,
    ) -> Self {
        let mut dependents = vec![Vec::new(); plan.jobs().len()];
        let jobs = plan
            .jobs()
            .iter()
            .map(|job| {
                for pre in job.prerequisites() {
                    if let Some(list) = dependents.get_mut(pre.index()) {
                        list.push(job.id());
                    }
                }
                let finished = resume.finished(job.key());
                JobReport {
                    key: job.key().clone(),
                    state: finished.unwrap_or(JobState::New),
                    attempts: Vec::new(),
                    outcome: None,
                    resumed: finished.is_some(),
                }
            })
            .collect();
        Self {
            exec,
            run,
            plan,
            journal,
            jobs,
            waiting: vec![0; plan.jobs().len()],
            dependents,
            ready: VecDeque::new(),
            busy: HashSet::new(),
            per_actor: HashMap::new(),
            running: 0,
            stopping: false,
            dag: exec.config.schedule == Schedule::Dag,
            journal_error: None,
            unflushed: Vec::new(),
            flushed_at: exec.clock.now(),
            started_unflushed: false,
            halted: Arc::default(),
        }
    }

    /// Calls the journal; a failure stops the run (kept to be returned at the end).
    fn record(
        &mut self,
        what: &'static str,
        call: impl FnOnce(&dyn Journal) -> Result<(), JournalError>,
    ) {
        if self.journal_error.is_some() {
            return;
        }
        if let Err(err) = call(self.journal) {
            warn!(what, "journal failed, stopping the run");
            self.journal_error = Some(err);
            self.stopping = true;
            self.halted.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn state(&self, id: JobId) -> JobState {
        self.jobs.get(id.index()).map_or(JobState::New, |j| j.state)
    }

    /// Whether a finished prerequisite in `state` lets its dependents go.
    fn releases(&self, state: JobState) -> bool {
        state == JobState::Ok
            || (state == JobState::Error && self.exec.config.failure == FailurePolicy::KeepGoing)
    }

    fn seed_dag(&mut self) {
        for job in self.plan.jobs() {
            let waiting = job
                .prerequisites()
                .iter()
                .filter(|pre| !self.releases(self.state(**pre)))
                .count();
            if let Some(slot) = self.waiting.get_mut(job.id().index()) {
                *slot = waiting;
            }
            if waiting == 0 && self.state(job.id()) == JobState::New {
                self.ready.push_back(job.id());
            }
        }
    }

    fn run_steps<'s>(
        &mut self,
        scope: &Scope<'s>,
        tx: &Sender<Message>,
        rx: &Receiver<Message>,
        runner: &'s dyn ActionRunner,
    ) where
        'a: 's,
    {
        for step in self.plan.steps() {
            if self.stopping || self.exec.cancel.is_stopping() {
                break;
            }
            let number = step.number();
            let span = info_span!("step", run = %self.run, step = number);
            let _entered = span.enter();
            self.record("step_started", |j| j.step_started(self.run, number));
            self.ready = step
                .jobs()
                .iter()
                .copied()
                .filter(|id| self.state(*id) == JobState::New)
                .collect();
            self.drive(scope, tx, rx, runner);
            let state = self.step_state(step.jobs());
            self.record("step_finished", |j| {
                j.step_finished(self.run, number, state)
            });
            if state != JobState::Ok {
                debug!(step = number, ?state, "step did not end ok, stopping");
                break;
            }
        }
    }

    /// Starts what may start and handles reports until nothing runs.
    fn drive<'s>(
        &mut self,
        scope: &Scope<'s>,
        tx: &Sender<Message>,
        rx: &Receiver<Message>,
        runner: &'s dyn ActionRunner,
    ) where
        'a: 's,
    {
        loop {
            if self.exec.cancel.is_stopping() {
                self.stopping = true;
            }
            if !self.stopping {
                self.start_ready(scope, tx, runner);
            }
            if self.should_flush() {
                // One durable commit for every job that ended since the last one, then their
                // dependents may start.
                self.flush();
                continue;
            }
            if self.running == 0 {
                break;
            }
            match receive(rx) {
                Ok(message) => {
                    self.handle(message);
                    while let Ok(message) = rx.try_recv() {
                        self.handle(message);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The coordinator holds a sender, so the channel cannot close.
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// Whether to commit the journal now. Jobs that ended wait for a commit while every worker
    /// is busy or none of them has dependents (no one waits for it), for at most
    /// [`FLUSH_AFTER`] or [`FLUSH_AT`] jobs, which bounds what a crash makes run again; as soon
    /// as a worker is idle and a dependent waits, or nothing runs, the commit lets them go.
    fn should_flush(&self) -> bool {
        let waited = self.exec.clock.now().saturating_sub(self.flushed_at) >= FLUSH_AFTER;
        if self.unflushed.is_empty() {
            return self.started_unflushed && waited;
        }
        if self.running == 0 || self.stopping {
            return true;
        }
        if self.unflushed.len() >= FLUSH_AT || waited {
            return true;
        }
        // An idle worker waits only for the dependents of the jobs that ended.
        self.running < self.exec.config.max_parallel
            && self.unflushed.iter().any(|(id, _)| {
                self.dependents
                    .get(id.index())
                    .is_some_and(|d| !d.is_empty())
            })
    }

    /// Makes the journal durable, then lets the dependents of the jobs that ended go.
    fn flush(&mut self) {
        self.flushed_at = self.exec.clock.now();
        self.started_unflushed = false;
        self.record("flush", |j| j.flush(self.run));
        let ended = std::mem::take(&mut self.unflushed);
        if self.journal_error.is_some() || !self.dag {
            return;
        }
        for (id, state) in ended {
            if !self.releases(state) {
                continue;
            }
            let dependents = self.dependents.get(id.index()).cloned().unwrap_or_default();
            for dep in dependents {
                if let Some(waiting) = self.waiting.get_mut(dep.index()) {
                    *waiting = waiting.saturating_sub(1);
                    if *waiting == 0 {
                        self.ready.push_back(dep);
                    }
                }
            }
        }
    }

    fn actor_full(&self, actor: &ActorName) -> bool {
        match self.exec.config.per_actor.get(actor) {
            Some(limit) => self.per_actor.get(actor).copied().unwrap_or(0) >= *limit,
            None => false,
        }
    }

    fn start_ready<'s>(
        &mut self,
        scope: &Scope<'s>,
        tx: &Sender<Message>,
        runner: &'s dyn ActionRunner,
    ) where
        'a: 's,
    {
        let plan: &'a Plan = self.plan;
        let mut blocked = Vec::new();
        while self.running < self.exec.config.max_parallel && !self.stopping {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let Some(job) = plan.job(id) else {
                continue;
            };
            if self.busy.contains(job.service()) || self.actor_full(job.actor()) {
                blocked.push(id);
                continue;
            }
            self.record("job_started", |j| j.job_started(self.run, job));
            self.started_unflushed = true;
            if self.stopping {
                blocked.push(id);
                break;
            }
            if self.exec.config.no_exec {
                self.finish_job(id, JobOutcome::ok());
                continue;
            }
            let ctx = self.context(id, job);
            if runner.has_nothing_to_run(&ctx) {
                // No code: recorded ok with the next commit, without a worker or a process.
                let now = self.exec.clock.now();
                let attempt = Attempt {
                    number: 1,
                    started: now,
                    ended: now,
                    failure: None,
                };
                self.handle(Message::Attempt(id, attempt));
                self.finish_job(id, JobOutcome::nothing_to_run(&ctx));
                continue;
            }
            self.busy.insert(job.service());
            *self.per_actor.entry(job.actor()).or_insert(0) += 1;
            self.running += 1;
            if let Some(report) = self.jobs.get_mut(id.index()) {
                report.state = JobState::Running;
            }
            let config = &self.exec.config;
            let worker = Worker {
                ctx,
                retry: config.retry_of(job.actor(), job.action()),
                clock: Arc::clone(&self.exec.clock),
                tx: tx.clone(),
            };
            scope.spawn(move |_| worker.work(runner));
        }
        for id in blocked.into_iter().rev() {
            self.ready.push_front(id);
        }
    }

    /// The context of the first attempt of `job`.
    fn context(&self, id: JobId, job: &PlannedJob) -> JobContext {
        let config = &self.exec.config;
        JobContext {
            run: self.run.clone(),
            job: id,
            key: job.key().clone(),
            actor: job.actor().clone(),
            attempt: 1,
            timeout: config.timeout_of(job.actor(), job.action()),
            cancel: self.exec.cancel.clone(),
            halted: Arc::clone(&self.halted),
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Attempt(id, attempt) => {
                if let Some(job) = self.plan.job(id) {
                    self.record("job_attempt_finished", |j| {
                        j.job_attempt_finished(self.run, job, &attempt)
                    });
                }
                if let Some(report) = self.jobs.get_mut(id.index()) {
                    report.attempts.push(attempt);
                }
            }
            Message::Done(id, outcome) => {
                self.running = self.running.saturating_sub(1);
                if let Some(job) = self.plan.job(id) {
                    self.busy.remove(job.service());
                    if let Some(n) = self.per_actor.get_mut(job.actor()) {
                        *n = n.saturating_sub(1);
                    }
                }
                let killed = outcome
                    .result
                    .as_ref()
                    .is_err_and(|f| f.kind == FailureKind::Killed);
                if !outcome.is_ok()
                    && (self.exec.cancel.is_killing()
                        || (killed && (self.exec.cancel.is_stopping() || self.stopping)))
                {
                    // Killed by the second Ctrl-C, or withdrawn by a stop before it started,
                    // not failed: the job stays recorded as running, so that resuming the run
                    // runs it again.
                    debug!(job = id.index(), "job killed by the cancellation");
                    if let Some(report) = self.jobs.get_mut(id.index()) {
                        report.outcome = Some(outcome);
                    }
                    return;
                }
                self.finish_job(id, outcome);
            }
        }
    }

    fn finish_job(&mut self, id: JobId, outcome: JobOutcome) {
        let state = if outcome.is_ok() {
            JobState::Ok
        } else {
            JobState::Error
        };
        if let Some(job) = self.plan.job(id) {
            self.record("job_finished", |j| {
                j.job_finished(self.run, job, state, &outcome)
            });
        }
        if let Some(report) = self.jobs.get_mut(id.index()) {
            report.state = state;
            report.outcome = Some(outcome);
        }
        if state == JobState::Error
            && self.exec.config.failure == FailurePolicy::FailFast
            && self.dag
        {
            self.stopping = true;
        }
        self.unflushed.push((id, state));
    }

    fn step_state(&self, ids: &[JobId]) -> JobState {
        JobState::of_step(ids.iter().map(|id| self.state(*id)))
    }

    fn finish(&mut self) -> RunReport {
        let steps: Vec<JobState> = self
            .plan
            .steps()
            .iter()
            .map(|step| self.step_state(step.jobs()))
            .collect();
        let cancelled = self.exec.cancel.is_stopping();
        let state = if self.jobs.iter().all(|j| j.state == JobState::Ok) {
            JobState::Ok
        } else if cancelled
            && self
                .jobs
                .iter()
                .any(|j| matches!(j.state, JobState::New | JobState::Running))
        {
            // Cancelled before every job ended: the run is not over, it can be resumed.
            JobState::Running
        } else {
            JobState::Error
        };
        self.record("run_finished", |j| j.run_finished(self.run, state));
        self.record("flush", |j| j.flush(self.run));
        RunReport {
            run: self.run.clone(),
            state,
            steps,
            jobs: std::mem::take(&mut self.jobs),
            cancelled,
        }
    }
}

/// One job's attempts, run on a pool thread.
struct Worker {
    ctx: JobContext,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    tx: Sender<Message>,
}

impl Worker {
    fn work(mut self, runner: &dyn ActionRunner) {
        let span = info_span!(
            "job",
            run = %self.ctx.run,
            service = %self.ctx.key.service,
            action = %self.ctx.key.action
        );
        let _entered = span.enter();
        let mut number = 1;
        let outcome = loop {
            self.ctx.attempt = number;
            let started = self.clock.now();
            let mut outcome = catch_unwind(AssertUnwindSafe(|| runner.run(&self.ctx)))
                .unwrap_or_else(|payload| {
                    JobOutcome::failed(FailureKind::Panicked, panic_message(payload.as_ref()))
                });
            let ended = self.clock.now();
            if outcome.is_ok()
                && ended.saturating_sub(started) > self.ctx.timeout
                && !runner.times_out_elsewhere(&self.ctx)
            {
                // A native action cannot be interrupted; one that overran still fails.
                outcome = JobOutcome::failed(
                    FailureKind::Timeout,
                    format!("ran past its timeout of {:?}", self.ctx.timeout),
                );
            }
            let failure: Option<JobFailure> = outcome.result.clone().err();
            // The coordinator outlives every worker (rayon scope), so a send cannot fail.
            let _ = self.tx.send(Message::Attempt(
                self.ctx.job,
                Attempt {
                    number,
                    started,
                    ended,
                    failure: failure.clone(),
                },
            ));
            let again = failure.is_some_and(|f| f.is_retryable())
                && number <= self.retry.retries
                && !self.ctx.cancel.is_stopping();
            if !again {
                break outcome;
            }
            let delay = self.retry.delay_before(number);
            debug!(attempt = number, ?delay, "attempt failed, retrying");
            self.clock.sleep(delay);
            number = number.saturating_add(1);
        };
        let _ = self.tx.send(Message::Done(self.ctx.job, outcome));
    }
}

/// Waits for a worker's report. Short jobs report within microseconds, so the coordinator polls
/// briefly before blocking: a blocked thread costs a futex wake-up per job, which dominates the
/// per-job overhead of chains of short jobs.
fn receive(rx: &Receiver<Message>) -> Result<Message, RecvTimeoutError> {
    for _ in 0..SPIN_POLLS {
        match rx.try_recv() {
            Ok(message) => return Ok(message),
            Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
            Err(mpsc::TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
        }
    }
    rx.recv_timeout(CANCEL_POLL)
}

/// How many times [`receive`] polls before blocking.
const SPIN_POLLS: usize = 64;

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without message".to_owned());
    format!("action panicked: {text}")
}
