//! Executor scenarios: schedules, failure policies, limits, retries, panics, resume, cancel.

use ays_core::{ActionState, JobLogCategory, JobState, RunId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::Duration;

use ays_run::{
    ActionChains, ExecConfig, Executor, FailureKind, FailurePolicy, JobContext, JobOutcome,
    JournalEvent, ManualClock, MemoryJournal, Plan, PlanError, PlanInput, Planner, ResumeState,
    RetryPolicy, Schedule, ServiceSpec,
};

use crate::planner::sample_repo3;

const GUARD: Duration = Duration::from_secs(20);

fn executor(
    config: ExecConfig,
) -> Result<(Executor, Arc<ManualClock>), rayon::ThreadPoolBuildError> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build()?;
    let clock = Arc::new(ManualClock::new(Duration::from_secs(1_700_000_000)));
    Ok((Executor::new(Arc::new(pool), clock.clone(), config), clock))
}

fn config(schedule: Schedule) -> ExecConfig {
    let mut config = ExecConfig::default();
    config.schedule = schedule;
    config.max_parallel = 4;
    config
}

fn run_id() -> Result<RunId, ays_core::NameError> {
    RUN.parse()
}

const RUN: &str = "run1";

/// sample_repo3's actions: `test` fails naming its service, the others succeed.
fn repo3_runner(ctx: &JobContext) -> JobOutcome {
    if ctx.action().as_str() == "test" {
        JobOutcome::failed(
            FailureKind::Error,
            format!("Error from service {}", ctx.service()),
        )
    } else {
        JobOutcome::ok()
    }
}

fn states(report: &ays_run::RunReport) -> Vec<(String, JobState)> {
    report
        .jobs
        .iter()
        .map(|j| (j.key.action.to_string(), j.state))
        .collect()
}

#[test]
fn sample_repo3_under_steps_stops_after_the_failed_step() {
    let plan = Planner::new().plan(&sample_repo3().unwrap()).unwrap();
    let (exec, _) = executor(config(Schedule::Steps)).unwrap();
    let journal = MemoryJournal::new();
    let report = exec
        .run(&run_id().unwrap(), &plan, &repo3_runner, &journal)
        .unwrap();
    assert_eq!(
        states(&report),
        vec![
            ("install".into(), JobState::Ok),
            ("test".into(), JobState::Error),
            ("test2".into(), JobState::Ok),
            ("test3".into(), JobState::New),
        ]
    );
    assert_eq!(
        report.steps,
        vec![JobState::Ok, JobState::Error, JobState::New]
    );
    assert_eq!(report.state, JobState::Error);
    let test = report
        .job("runtime_error_service!instance", "test")
        .unwrap();
    let logs = &test.outcome.as_ref().unwrap().logs;
    assert_eq!(logs[0].category, JobLogCategory::ErrorMsg);
    assert_eq!(
        logs[0].text,
        "Error from service runtime_error_service!instance"
    );
    // The journal saw steps 1 and 2 only, and every job change in order.
    let kinds: Vec<String> = journal
        .events()
        .iter()
        .map(|e| match e {
            JournalEvent::RunStarted { jobs, .. } => format!("run started {jobs}"),
            JournalEvent::StepStarted { step, .. } => format!("step {step} started"),
            JournalEvent::JobStarted { job, .. } => format!("{} started", job.action),
            JournalEvent::JobAttemptFinished { job, attempt, .. } => {
                format!("{} attempt {}", job.action, attempt.number)
            }
            JournalEvent::JobFinished { job, state, .. } => format!("{} {state:?}", job.action),
            JournalEvent::StepFinished { step, state, .. } => format!("step {step} {state:?}"),
            JournalEvent::RunFinished { state, .. } => format!("run {state:?}"),
        })
        .collect();
    assert_eq!(
        &kinds[..6],
        &[
            "run started 4",
            "step 1 started",
            "install started",
            "install attempt 1",
            "install Ok",
            "step 1 Ok",
        ]
    );
    assert_eq!(kinds.last().unwrap(), "run Error");
    assert!(kinds.contains(&"step 2 Error".to_string()));
    assert!(
        !kinds
            .iter()
            .any(|k| k.starts_with("test3") || k.starts_with("step 3"))
    );
}

#[test]
fn sample_repo3_under_dag_runs_test3_and_still_fails() {
    let plan = Planner::new().plan(&sample_repo3().unwrap()).unwrap();
    let (exec, _) = executor(config(Schedule::Dag)).unwrap();
    let report = exec
        .run(
            &run_id().unwrap(),
            &plan,
            &repo3_runner,
            &MemoryJournal::new(),
        )
        .unwrap();
    assert_eq!(
        states(&report),
        vec![
            ("install".into(), JobState::Ok),
            ("test".into(), JobState::Error),
            ("test2".into(), JobState::Ok),
            ("test3".into(), JobState::Ok),
        ]
    );
    assert_eq!(
        report.steps,
        vec![JobState::Ok, JobState::Error, JobState::Ok]
    );
    assert_eq!(report.state, JobState::Error);
}

/// `services` services of one actor, each with `actions` independent scheduled actions.
fn wide(services: usize, actions: usize) -> Result<Plan, PlanError> {
    let mut input = PlanInput::new();
    input.set_chains("w", ActionChains::empty())?;
    let names: Vec<String> = (0..actions).map(|a| format!("a{a}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for s in 0..services {
        input.add_service(
            ServiceSpec::new(&format!("w!{s:03}"), "w").actions(&names, ActionState::Scheduled),
        )?;
    }
    Planner::new().plan(&input)
}

/// Counts jobs running at once, overall and per key.
#[derive(Default)]
struct Overlap {
    active: Mutex<(usize, HashMap<String, usize>)>,
    max_total: AtomicUsize,
    max_per_key: AtomicUsize,
}

impl Overlap {
    fn enter(&self, key: &str) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active.0 += 1;
        let n = active.1.entry(key.to_owned()).or_insert(0);
        *n += 1;
        self.max_per_key.fetch_max(*n, Ordering::SeqCst);
        self.max_total.fetch_max(active.0, Ordering::SeqCst);
    }

    fn leave(&self, key: &str) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active.0 -= 1;
        if let Some(n) = active.1.get_mut(key) {
            *n -= 1;
        }
    }
}

#[test]
fn never_two_jobs_of_one_service_at_once() {
    let plan = wide(12, 6).unwrap();
    assert_eq!(plan.steps().len(), 1);
    let (exec, _) = executor(config(Schedule::Dag)).unwrap();
    let overlap = Overlap::default();
    let runner = |ctx: &JobContext| {
        overlap.enter(ctx.service().as_str());
        std::thread::yield_now();
        overlap.leave(ctx.service().as_str());
        JobOutcome::ok()
    };
    let report = exec
        .run(&run_id().unwrap(), &plan, &runner, &MemoryJournal::new())
        .unwrap();
    assert_eq!(report.state, JobState::Ok);
    assert_eq!(report.jobs.len(), 72);
    assert_eq!(overlap.max_per_key.load(Ordering::SeqCst), 1);
    assert!(overlap.max_total.load(Ordering::SeqCst) <= 4);
}

#[test]
fn per_actor_limit_holds() {
    let plan = wide(16, 1).unwrap();
    let mut config = config(Schedule::Dag);
    config.per_actor.insert("w".parse().unwrap(), 1);
    let (exec, _) = executor(config).unwrap();
    let overlap = Overlap::default();
    let runner = |ctx: &JobContext| {
        overlap.enter(ctx.actor().as_str());
        std::thread::yield_now();
        overlap.leave(ctx.actor().as_str());
        JobOutcome::ok()
    };
    let report = exec
        .run(&run_id().unwrap(), &plan, &runner, &MemoryJournal::new())
        .unwrap();
    assert_eq!(report.state, JobState::Ok);
    assert_eq!(overlap.max_per_key.load(Ordering::SeqCst), 1);
}

#[test]
fn independent_jobs_run_in_parallel() {
    // Each job waits for the other at a barrier: run one at a time, they would never finish.
    let plan = wide(2, 1).unwrap();
    let (exec, _) = executor(config(Schedule::Steps)).unwrap();
    let barrier = Barrier::new(2);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let runner = |_: &JobContext| {
                barrier.wait();
                JobOutcome::ok()
            };
            let _ = tx.send(exec.run(&run_id().unwrap(), &plan, &runner, &MemoryJournal::new()));
        });
        let report = rx.recv_timeout(GUARD).unwrap().unwrap();
        assert_eq!(report.state, JobState::Ok);
    });
}

#[test]
fn retries_back_off_and_every_attempt_is_recorded() {
    let plan = wide(2, 1).unwrap();
    let mut config = config(Schedule::Dag);
    config.retries.insert(
        "a0".parse().unwrap(),
        RetryPolicy {
            retries: 3,
            first_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(25),
        },
    );
    let (exec, clock) = executor(config).unwrap();
    let calls = AtomicUsize::new(0);
    // w!000 always fails; w!001 fails twice then succeeds.
    let runner = |ctx: &JobContext| {
        calls.fetch_add(1, Ordering::SeqCst);
        if ctx.service().as_str() == "w!000" || ctx.attempt() < 3 {
            JobOutcome::failed(FailureKind::Error, format!("attempt {}", ctx.attempt()))
        } else {
            JobOutcome::ok()
        }
    };
    let journal = MemoryJournal::new();
    let report = exec
        .run(&run_id().unwrap(), &plan, &runner, &journal)
        .unwrap();
    let always = report.job("w!000", "a0").unwrap();
    assert_eq!(always.state, JobState::Error);
    assert_eq!(always.attempts.len(), 4);
    assert_eq!(
        always.attempts[3].failure.as_ref().unwrap().message,
        "attempt 4"
    );
    let twice = report.job("w!001", "a0").unwrap();
    assert_eq!(twice.state, JobState::Ok);
    assert_eq!(twice.attempts.len(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 7);
    let mut sleeps = clock.sleeps();
    sleeps.sort();
    let s = Duration::from_secs;
    assert_eq!(sleeps, vec![s(10), s(10), s(20), s(20), s(25)]);
    let attempts = journal
        .events()
        .iter()
        .filter(|e| matches!(e, JournalEvent::JobAttemptFinished { .. }))
        .count();
    assert_eq!(attempts, 7);
}

#[test]
fn dag_does_not_wait_for_an_unrelated_slow_job() {
    // slow!1 install blocks until the test releases it; fast!1's init, install and start must
    // all finish meanwhile. Under the steps schedule fast!1 start would wait for slow!1.
    let mut input = PlanInput::new();
    input
        .add_service(ServiceSpec::new("slow!1", "slow").action("install", ActionState::Scheduled))
        .unwrap();
    input
        .add_service(
            ServiceSpec::new("fast!1", "fast")
                .actions(&["init", "install"], ActionState::New)
                .action("start", ActionState::Scheduled),
        )
        .unwrap();
    let plan = Planner::new().plan(&input).unwrap();
    assert_eq!(plan.steps().len(), 3);
    let (exec, _) = executor(config(Schedule::Dag)).unwrap();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let runner = |ctx: &JobContext| {
                match (ctx.service().as_str(), ctx.action().as_str()) {
                    ("slow!1", _) => {
                        let _ = release_rx.lock().unwrap().recv_timeout(GUARD);
                    }
                    ("fast!1", "start") => {
                        let _ = started_tx.lock().unwrap().send(());
                    }
                    _ => {}
                }
                JobOutcome::ok()
            };
            let _ =
                done_tx.send(exec.run(&run_id().unwrap(), &plan, &runner, &MemoryJournal::new()));
        });
        started_rx.recv_timeout(GUARD).unwrap();
        release_tx.send(()).unwrap();
        let report = done_rx.recv_timeout(GUARD).unwrap().unwrap();
        assert_eq!(report.state, JobState::Ok);
    });
}

#[test]
fn a_panicking_action_fails_only_its_job() {
    let plan = wide(3, 1).unwrap();
    let (exec, _) = executor(config(Schedule::Dag)).unwrap();
    let runner = |ctx: &JobContext| {
        if ctx.service().as_str() == "w!001" {
            panic!("boom in {}", ctx.service());
        }
        JobOutcome::ok()
    };
    let report = exec
        .run(&run_id().unwrap(), &plan, &runner, &MemoryJournal::new())
        .unwrap();
    let failed = report.job("w!001", "a0").unwrap();
    assert_eq!(failed.state, JobState::Error);
    let failure = failed.outcome.as_ref().unwrap().result.clone().unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panicked);
    assert_eq!(failure.message, "action panicked: boom in w!001");
    assert_eq!(report.job("w!000", "a0").unwrap().state, JobState::Ok);
    assert_eq!(report.job("w!002", "a0").unwrap().state, JobState::Ok);
    assert_eq!(report.state, JobState::Error);
}

/// a!1: init -> install -> start, and b!1 install independent of it.
fn chain_plan() -> Result<Plan, PlanError> {
    let mut input = PlanInput::new();
    input.add_service(
        ServiceSpec::new("a!1", "a")
            .actions(&["init", "install"], ActionState::New)
            .action("start", ActionState::Scheduled),
    )?;
    input.add_service(ServiceSpec::new("b!1", "b").action("install", ActionState::Scheduled))?;
    Planner::new().plan(&input)
}

fn run_with_failure(
    policy: FailurePolicy,
) -> Result<Vec<(String, JobState)>, Box<dyn std::error::Error>> {
    let plan = chain_plan()?;
    let mut config = config(Schedule::Dag);
    config.failure = policy;
    config.max_parallel = 1;
    let (exec, _) = executor(config)?;
    let runner = |ctx: &JobContext| {
        if ctx.key().to_string() == "a!1:init" {
            JobOutcome::failed(FailureKind::Error, "init failed")
        } else {
            JobOutcome::ok()
        }
    };
    let report = exec.run(&run_id()?, &plan, &runner, &MemoryJournal::new())?;
    Ok(report
        .jobs
        .iter()
        .map(|j| (j.key.to_string(), j.state))
        .chain([("run".to_string(), report.state)])
        .collect())
}

#[test]
fn failure_policies_differ_on_what_still_runs() {
    let ok = JobState::Ok;
    let new = JobState::New;
    let err = JobState::Error;
    let row = |s: &str, st| (s.to_string(), st);
    // Jobs in plan order: a!1:init, a!1:install, b!1:install (after its phantom init), a!1:start.
    // With one slot, a!1:init runs first, then the policy decides.
    assert_eq!(
        run_with_failure(FailurePolicy::StopDependents).unwrap(),
        vec![
            row("a!1:init", err),
            row("a!1:install", new),
            row("b!1:install", ok),
            row("a!1:start", new),
            row("run", err)
        ]
    );
    assert_eq!(
        run_with_failure(FailurePolicy::FailFast).unwrap(),
        vec![
            row("a!1:init", err),
            row("a!1:install", new),
            row("b!1:install", new),
            row("a!1:start", new),
            row("run", err)
        ]
    );
    assert_eq!(
        run_with_failure(FailurePolicy::KeepGoing).unwrap(),
        vec![
            row("a!1:init", err),
            row("a!1:install", ok),
            row("b!1:install", ok),
            row("a!1:start", ok),
            row("run", err)
        ]
    );
}

#[test]
fn no_exec_marks_jobs_ok_without_running_them() {
    let plan = chain_plan().unwrap();
    let mut config = config(Schedule::Steps);
    config.no_exec = true;
    let (exec, _) = executor(config).unwrap();
    let runner = |_: &JobContext| -> JobOutcome { panic!("must not run") };
    let report = exec
        .run(&run_id().unwrap(), &plan, &runner, &MemoryJournal::new())
        .unwrap();
    assert_eq!(report.state, JobState::Ok);
    assert!(
        report
            .jobs
            .iter()
            .all(|j| j.attempts.is_empty() && j.state == JobState::Ok)
    );
}

#[test]
fn resume_skips_finished_jobs_and_reruns_running_ones() {
    let plan = chain_plan().unwrap();
    // Jobs: a!1:init, a!1:install, b!1:install, a!1:start. The interrupted run finished the
    // first two and was running b!1:install.
    let run = run_id().unwrap();
    let key = |i: usize| plan.jobs()[i].key().clone();
    let events = vec![
        JournalEvent::JobStarted {
            run: run.clone(),
            job: key(0),
        },
        JournalEvent::JobFinished {
            run: run.clone(),
            job: key(0),
            state: JobState::Ok,
            outcome: JobOutcome::ok(),
        },
        JournalEvent::JobStarted {
            run: run.clone(),
            job: key(1),
        },
        JournalEvent::JobFinished {
            run: run.clone(),
            job: key(1),
            state: JobState::Ok,
            outcome: JobOutcome::ok(),
        },
        JournalEvent::JobStarted {
            run: run.clone(),
            job: key(2),
        },
    ];
    let resume = ResumeState::from_events(&events);
    for schedule in [Schedule::Steps, Schedule::Dag] {
        let (exec, _) = executor(config(schedule)).unwrap();
        let ran = Mutex::new(Vec::new());
        let runner = |ctx: &JobContext| {
            ran.lock().unwrap().push(ctx.key().to_string());
            JobOutcome::ok()
        };
        let report = exec
            .resume(&run, &plan, &runner, &MemoryJournal::new(), &resume)
            .unwrap();
        assert_eq!(report.state, JobState::Ok);
        let mut ran = ran.into_inner().unwrap();
        ran.sort();
        assert_eq!(ran, vec!["a!1:start", "b!1:install"]);
        assert_eq!(
            report.jobs.iter().map(|j| j.resumed).collect::<Vec<_>>(),
            vec![true, true, false, false]
        );
    }
}

#[test]
fn cancel_stops_starting_jobs_and_waits_for_running_ones() {
    let plan = chain_plan().unwrap();
    let mut config = config(Schedule::Dag);
    config.max_parallel = 1;
    let (exec, _) = executor(config).unwrap();
    let token = exec.cancel_token();
    // The first job asks for cancellation (a Ctrl-C), then finishes normally.
    let runner = |ctx: &JobContext| {
        if ctx.key().to_string() == "a!1:init" {
            assert_eq!(token.request(), 1);
        }
        JobOutcome::ok()
    };
    let report = exec
        .run(&run_id().unwrap(), &plan, &runner, &MemoryJournal::new())
        .unwrap();
    assert!(report.cancelled);
    // Not over: the run is still running, and resuming it runs the rest (issue #4).
    assert_eq!(report.state, JobState::Running);
    assert_eq!(
        report.jobs.iter().map(|j| j.state).collect::<Vec<_>>(),
        vec![JobState::Ok, JobState::New, JobState::New, JobState::New]
    );
    assert_eq!(token.request(), 2);
    assert!(token.is_killing());
}

#[test]
fn issue_4_a_job_killed_by_a_second_cancel_is_left_to_run_again() {
    let plan = chain_plan().unwrap();
    let mut config = config(Schedule::Dag);
    config.max_parallel = 1;
    let (exec, _) = executor(config).unwrap();
    let token = exec.cancel_token();
    // The first job is killed by two Ctrl-C while it runs, and fails as a killed process does.
    let runner = |ctx: &JobContext| {
        if ctx.key().to_string() == "a!1:init" {
            token.request();
            token.request();
            return JobOutcome::failed(FailureKind::Killed, "killed");
        }
        JobOutcome::ok()
    };
    let journal = MemoryJournal::new();
    let report = exec
        .run(&run_id().unwrap(), &plan, &runner, &journal)
        .unwrap();
    assert_eq!((report.state, report.cancelled), (JobState::Running, true));
    assert_eq!(
        report.jobs.iter().map(|j| j.state).collect::<Vec<_>>(),
        vec![
            JobState::Running,
            JobState::New,
            JobState::New,
            JobState::New
        ]
    );
    let events = journal.events();
    // Its attempt is recorded, but it never finished: a resume runs it again.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, JournalEvent::JobFinished { .. })),
        "{events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&JournalEvent::RunFinished {
            run: run_id().unwrap(),
            state: JobState::Running,
        })
    );
    assert_eq!(ResumeState::from_events(&events), ResumeState::new());
}

#[test]
fn a_native_job_that_overruns_its_timeout_fails() {
    let plan = wide(1, 1).unwrap();
    let mut config = config(Schedule::Dag);
    config
        .timeouts
        .insert("a0".parse().unwrap(), Duration::from_secs(60));
    let (exec, clock) = executor(config).unwrap();
    let runner = |_: &JobContext| {
        clock.advance(Duration::from_secs(61));
        JobOutcome::ok()
    };
    let report = exec
        .run(&run_id().unwrap(), &plan, &runner, &MemoryJournal::new())
        .unwrap();
    let job = report.job("w!000", "a0").unwrap();
    assert_eq!(job.state, JobState::Error);
    let failure = job.attempts[0].failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert_eq!(failure.message, "ran past its timeout of 60s");
}

/// A journal whose store fails on the second `job_started`.
struct FailingJournal {
    inner: MemoryJournal,
    started: AtomicUsize,
}

impl ays_run::Journal for FailingJournal {
    fn run_started(&self, run: &RunId, plan: &Plan) -> Result<(), ays_run::JournalError> {
        self.inner.run_started(run, plan)
    }
    fn step_started(&self, run: &RunId, step: usize) -> Result<(), ays_run::JournalError> {
        self.inner.step_started(run, step)
    }
    fn job_started(
        &self,
        run: &RunId,
        job: &ays_run::PlannedJob,
    ) -> Result<(), ays_run::JournalError> {
        if self.started.fetch_add(1, Ordering::SeqCst) == 1 {
            return Err(ays_run::JournalError::Stopped {
                run: run.clone(),
                what: "job_started",
                source: "store unreachable".into(),
            });
        }
        self.inner.job_started(run, job)
    }
    fn job_attempt_finished(
        &self,
        run: &RunId,
        job: &ays_run::PlannedJob,
        attempt: &ays_run::Attempt,
    ) -> Result<(), ays_run::JournalError> {
        self.inner.job_attempt_finished(run, job, attempt)
    }
    fn job_finished(
        &self,
        run: &RunId,
        job: &ays_run::PlannedJob,
        state: JobState,
        outcome: &JobOutcome,
    ) -> Result<(), ays_run::JournalError> {
        self.inner.job_finished(run, job, state, outcome)
    }
    fn step_finished(
        &self,
        run: &RunId,
        step: usize,
        state: JobState,
    ) -> Result<(), ays_run::JournalError> {
        self.inner.step_finished(run, step, state)
    }
    fn run_finished(&self, run: &RunId, state: JobState) -> Result<(), ays_run::JournalError> {
        self.inner.run_finished(run, state)
    }
}

#[test]
fn a_failing_journal_stops_the_run_with_its_error() {
    let plan = wide(3, 1).unwrap();
    let mut config = config(Schedule::Dag);
    config.max_parallel = 1;
    let (exec, _) = executor(config).unwrap();
    let ran = AtomicUsize::new(0);
    let runner = |_: &JobContext| {
        ran.fetch_add(1, Ordering::SeqCst);
        JobOutcome::ok()
    };
    let journal = FailingJournal {
        inner: MemoryJournal::new(),
        started: AtomicUsize::new(0),
    };
    let err = exec
        .run(&run_id().unwrap(), &plan, &runner, &journal)
        .unwrap_err();
    let ays_run::ExecError::Journal {
        run,
        source:
            ays_run::JournalError::Stopped {
                run: inner,
                what,
                source,
            },
    } = err
    else {
        panic!("not a journal error: {err:?}");
    };
    assert_eq!(
        (run.as_str(), inner.as_str(), what, source.to_string()),
        (RUN, RUN, "job_started", "store unreachable".to_owned())
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

/// Records, in order, each job's start and end and each flush of the journal.
#[derive(Default)]
struct FlushLog {
    events: Mutex<Vec<String>>,
}

impl FlushLog {
    fn push(&self, event: String) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }

    fn events(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ays_run::Journal for FlushLog {
    fn run_started(&self, _: &RunId, _: &Plan) -> Result<(), ays_run::JournalError> {
        Ok(())
    }
    fn step_started(&self, _: &RunId, _: usize) -> Result<(), ays_run::JournalError> {
        Ok(())
    }
    fn job_started(
        &self,
        _: &RunId,
        job: &ays_run::PlannedJob,
    ) -> Result<(), ays_run::JournalError> {
        self.push(format!("start {}", job.key()));
        Ok(())
    }
    fn job_attempt_finished(
        &self,
        _: &RunId,
        _: &ays_run::PlannedJob,
        _: &ays_run::Attempt,
    ) -> Result<(), ays_run::JournalError> {
        Ok(())
    }
    fn job_finished(
        &self,
        _: &RunId,
        job: &ays_run::PlannedJob,
        _: JobState,
        _: &JobOutcome,
    ) -> Result<(), ays_run::JournalError> {
        self.push(format!("end {}", job.key()));
        Ok(())
    }
    fn step_finished(&self, _: &RunId, _: usize, _: JobState) -> Result<(), ays_run::JournalError> {
        Ok(())
    }
    fn run_finished(&self, _: &RunId, _: JobState) -> Result<(), ays_run::JournalError> {
        Ok(())
    }
    fn flush(&self, _: &RunId) -> Result<(), ays_run::JournalError> {
        self.push("flush".to_owned());
        Ok(())
    }
}

/// 3 zones, 12 hosts under them, 36 apps under the hosts: `install` everywhere.
fn layers() -> Result<Plan, PlanError> {
    let mut input = PlanInput::new();
    for actor in ["zone", "host", "app"] {
        input.set_chains(actor, ActionChains::empty())?;
    }
    for z in 0..3 {
        input.add_service(
            ServiceSpec::new(&format!("zone!z{z}"), "zone")
                .action("install", ActionState::Scheduled),
        )?;
    }
    for h in 0..12 {
        input.add_service(
            ServiceSpec::new(&format!("host!h{h}"), "host")
                .parent(&format!("zone!z{}", h % 3))
                .action("install", ActionState::Scheduled),
        )?;
    }
    for a in 0..36 {
        input.add_service(
            ServiceSpec::new(&format!("app!a{a}"), "app")
                .parent(&format!("host!h{}", a % 12))
                .action("install", ActionState::Scheduled),
        )?;
    }
    Planner::new().plan(&input)
}

/// Whether every job starts only after a flush that follows the end of each prerequisite.
fn dependents_wait_for_a_flush(plan: &Plan, events: &[String]) -> Result<(), String> {
    let position = |event: &str| events.iter().position(|e| e == event);
    for job in plan.jobs() {
        let start = position(&format!("start {}", job.key()))
            .ok_or_else(|| format!("{} never started", job.key()))?;
        for pre in job.prerequisites() {
            let pre = plan.job(*pre).ok_or("unknown prerequisite")?;
            let end = position(&format!("end {}", pre.key()))
                .ok_or_else(|| format!("{} never ended", pre.key()))?;
            let flushed = events
                .get(end..start)
                .is_some_and(|between| between.iter().any(|e| e == "flush"));
            if !flushed {
                return Err(format!(
                    "{} started before {} was flushed",
                    job.key(),
                    pre.key()
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn issue_8_dependents_start_only_after_their_prerequisites_are_flushed() {
    let plan = layers().unwrap();
    let (exec, _) = executor(config(Schedule::Dag)).unwrap();
    // Jobs that run on workers.
    let journal = FlushLog::default();
    let runner = |_: &JobContext| JobOutcome::ok();
    let report = exec
        .run(&run_id().unwrap(), &plan, &runner, &journal)
        .unwrap();
    assert_eq!(report.state, JobState::Ok);
    dependents_wait_for_a_flush(&plan, &journal.events()).unwrap();

    // Jobs without code end on the coordinator, a whole layer per commit.
    let journal = FlushLog::default();
    let nothing = ays_run::ActionRegistry::new();
    let report = exec
        .run(&run_id().unwrap(), &plan, &nothing, &journal)
        .unwrap();
    assert_eq!(report.state, JobState::Ok);
    let events = journal.events();
    dependents_wait_for_a_flush(&plan, &events).unwrap();
    let flushes = events.iter().filter(|e| *e == "flush").count();
    assert_eq!(
        flushes, 4,
        "one commit per layer and one at the end: {events:?}"
    );
}
