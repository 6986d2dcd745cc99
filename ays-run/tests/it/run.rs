//! Runs on real repositories (`create_run`, `resume_run`, `show_run`, the run lock), each on the
//! embedded store and on Redis.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ays_core::both;
use ays_core::testing::{Backend, TestRepo, TestResult};
use ays_core::{
    ActionState, ApplyOptions, CoreError, JobLogCategory, JobState, RunId, RunLockOptions,
};
use ays_run::{
    ActionRegistry, FailurePolicy, JournalError, JournalEvent, RunError, RunObserver, RunOptions,
    Schedule, create_run, list_runs, resume_run, show_run,
};

use crate::support;

const SERVICE: &str = "runtime_error_service!instance";

fn options(schedule: Schedule) -> RunOptions<'static> {
    let mut o = RunOptions::default();
    o.schedule = schedule;
    o.jobs = 2;
    o
}

/// Each job's state by action name, from the stored jobs of run `id`.
fn job_states(
    t: &TestRepo,
    id: &RunId,
) -> Result<BTreeMap<String, JobState>, Box<dyn std::error::Error>> {
    Ok(show_run(&t.repo, id)?
        .jobs
        .into_iter()
        .map(|j| (j.action.to_string(), j.state))
        .collect())
}

/// Each stored action state of `key`, by action name.
fn action_states(
    t: &TestRepo,
    key: &str,
) -> Result<BTreeMap<String, ActionState>, Box<dyn std::error::Error>> {
    let s = t.repo.service(&key.parse()?)?.ok_or("no service")?;
    Ok(s.actions
        .iter()
        .map(|a| (a.name.to_string(), a.state))
        .collect())
}

fn map<V: Copy>(pairs: &[(&str, V)]) -> BTreeMap<String, V> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn sample_repo3(b: Backend) -> TestResult {
    let t = support::sample_repo3(b)?;

    // A dry run plans and writes nothing.
    let mut dry = options(Schedule::Steps);
    dry.dry_run = true;
    let outcome = create_run(&t.repo, &dry)?;
    assert_eq!(
        (outcome.plan.steps().len(), outcome.report.is_none()),
        (3, true)
    );
    assert!(list_runs(&t.repo)?.is_empty());

    let events = Mutex::new(Vec::new());
    let observer = |e: &JournalEvent| {
        events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e.clone());
    };
    let mut o = options(Schedule::Steps);
    o.observer = Some(&observer);
    let outcome = create_run(&t.repo, &o)?;
    let report = outcome.report.ok_or("no report")?;
    assert_eq!(report.state, JobState::Error);
    let id = outcome.id;
    // The README's steps: install, then test and test2 (test fails), and test3 never starts
    // (`init` ran at creation).
    assert_eq!(
        job_states(&t, &id)?,
        map(&[
            ("install", JobState::Ok),
            ("test", JobState::Error),
            ("test2", JobState::Ok),
            ("test3", JobState::New),
        ])
    );
    let detail = show_run(&t.repo, &id)?;
    assert_eq!(detail.run.state, JobState::Error);
    let steps: Vec<JobState> = detail.run.steps.iter().map(|s| s.state).collect();
    assert_eq!(steps, [JobState::Ok, JobState::Error, JobState::New]);
    let test = detail
        .jobs
        .iter()
        .find(|j| j.action.as_str() == "test")
        .ok_or("test")?;
    assert_eq!(test.attempts, 1);
    assert!(
        test.logs.iter().any(|l| l.category == JobLogCategory::Err
            && l.message.contains(&format!("Error from service {SERVICE}"))),
        "{:?}",
        test.logs
    );
    let install = detail
        .jobs
        .iter()
        .find(|j| j.action.as_str() == "install")
        .ok_or("install")?;
    assert!(install.duration_ms().is_some_and(|d| d >= 0), "{install:?}");
    assert_eq!(
        action_states(&t, SERVICE)?,
        map(&[
            ("init", ActionState::Ok),
            ("install", ActionState::Ok),
            ("monitor", ActionState::New),
            ("start", ActionState::New),
            ("stop", ActionState::New),
            ("test", ActionState::Error),
            ("test2", ActionState::Ok),
            ("test3", ActionState::Scheduled),
            ("uninstall", ActionState::New),
        ])
    );
    let seen = events
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(
        matches!(seen.first(), Some(JournalEvent::RunStarted { jobs: 4, .. })),
        "{seen:?}"
    );
    assert!(
        matches!(
            seen.last(),
            Some(JournalEvent::RunFinished {
                state: JobState::Error,
                ..
            })
        ),
        "{seen:?}"
    );
    assert_eq!(t.repo.run_lock_holder()?, None, "the run lock is released");

    // The dag schedule runs test3 (test2 is ok) and test again, which fails again.
    let second = create_run(&t.repo, &options(Schedule::Dag))?;
    assert_eq!(
        job_states(&t, &second.id)?,
        map(&[("test", JobState::Error), ("test3", JobState::Ok)])
    );
    let second_run = show_run(&t.repo, &second.id)?.run;
    assert_eq!(second_run.state, JobState::Error);
    assert!(
        second_run
            .steps
            .iter()
            .all(|s| s.started_at > 0 && s.finished_at >= s.started_at),
        "{second_run:?}"
    );
    assert_eq!(
        action_states(&t, SERVICE)?,
        map(&[
            ("init", ActionState::Ok),
            ("install", ActionState::Ok),
            ("monitor", ActionState::New),
            ("start", ActionState::New),
            ("stop", ActionState::New),
            ("test", ActionState::Error),
            ("test2", ActionState::Ok),
            ("test3", ActionState::Ok),
            ("uninstall", ActionState::New),
        ])
    );
    let listed: Vec<RunId> = list_runs(&t.repo)?.into_iter().map(|r| r.id).collect();
    assert_eq!(listed, [second.id.clone(), id.clone()], "newest first");

    // destroy keeps the runs.
    t.repo.destroy()?;
    assert_eq!(list_runs(&t.repo)?.len(), 2);
    assert_eq!(show_run(&t.repo, &id)?.jobs.len(), 4);
    Ok(())
}
both!(sample_repo3_runs_steps_then_dag, sample_repo3);

fn no_exec(b: Backend) -> TestResult {
    let t = support::sample_repo3(b)?;
    let mut o = options(Schedule::Steps);
    o.no_exec = true;
    let outcome = create_run(&t.repo, &o)?;
    assert_eq!(outcome.report.map(|r| r.state), Some(JobState::Ok));
    let states = job_states(&t, &outcome.id)?;
    assert!(states.values().all(|s| *s == JobState::Ok), "{states:?}");
    assert_eq!(
        action_states(&t, SERVICE)?.get("test"),
        Some(&ActionState::Ok)
    );
    Ok(())
}
both!(no_exec_marks_jobs_ok_without_running_them, no_exec);

fn data_patches(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    support::write_data_patch_repo(&t)?;
    // The template on disk changes after the blueprint: the stored code is what runs.
    t.write(
        "actorTemplates/shapp/actions.sh",
        "install() {\n    exit 9\n}\n",
    )?;
    let mut o = options(Schedule::Dag);
    o.failure = FailurePolicy::KeepGoing;
    let outcome = create_run(&t.repo, &o)?;
    support::check_data_patches(&t, &outcome.id)
}
both!(data_patches_commit_on_success_only, data_patches);

/// A dead process's pid.
fn dead_pid() -> Result<u32, Box<dyn std::error::Error>> {
    let mut child = std::process::Command::new("true").spawn()?;
    let pid = child.id();
    child.wait()?;
    Ok(pid)
}

fn run_lock(b: Backend) -> TestResult {
    let t = support::sample_repo3(b)?;
    let live = t.repo.lock_run("other", &RunLockOptions::default())?;
    let err = match create_run(&t.repo, &options(Schedule::Steps)) {
        Ok(o) => return Err(format!("expected RunLocked, ran {}", o.id).into()),
        Err(e) => e,
    };
    match err {
        RunError::Repository { source, .. } => match *source {
            CoreError::RunLocked { run, host, pid, .. } => {
                assert_eq!((run.as_str(), pid), ("other", std::process::id()));
                assert_eq!(host, live.info().host);
            }
            other => return Err(format!("unexpected {other:?}").into()),
        },
        other => return Err(format!("unexpected {other:?}").into()),
    }
    assert!(list_runs(&t.repo)?.is_empty(), "nothing was written");
    drop(live);

    let stale = t.repo.lock_run(
        "crashed",
        &RunLockOptions {
            pid: dead_pid()?,
            ..RunLockOptions::default()
        },
    )?;
    stale.abandon();
    let outcome = create_run(&t.repo, &options(Schedule::Steps))?;
    assert_eq!(outcome.report.map(|r| r.state), Some(JobState::Error));
    assert_eq!(t.repo.run_lock_holder()?, None);
    Ok(())
}
both!(
    a_live_run_lock_refuses_and_a_stale_one_is_taken_over,
    run_lock
);

/// Fails the run (as a crash would stop it) after `limit` events.
struct Interrupt {
    seen: AtomicUsize,
    limit: usize,
}

impl RunObserver for Interrupt {
    fn event(&self, event: &JournalEvent) -> Result<(), JournalError> {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 >= self.limit {
            return Err(JournalError::Stopped {
                run: event.run().clone(),
                what: "test",
                source: format!("interrupted at {event:?}").into(),
            });
        }
        Ok(())
    }
}

/// Native actions for sample_repo3 that count their executions; `test` fails.
fn counting(
    calls: &Arc<Mutex<BTreeMap<String, usize>>>,
) -> Result<Arc<ActionRegistry>, Box<dyn std::error::Error>> {
    let mut registry = ActionRegistry::new();
    for action in ["init", "install", "test", "test2", "test3"] {
        let calls = Arc::clone(calls);
        registry.register(action, move |job| {
            *calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(job.ctx().action().to_string())
                .or_insert(0) += 1;
            if job.ctx().action().as_str() == "test" {
                return Err("test fails".into());
            }
            Ok(())
        })?;
    }
    Ok(Arc::new(registry))
}

fn resume(b: Backend) -> TestResult {
    // The uninterrupted run, for reference.
    let calls = Arc::new(Mutex::new(BTreeMap::new()));
    let reference = support::sample_repo3(b)?;
    let mut o = options(Schedule::Steps);
    o.registry = Some(counting(&calls)?);
    let count = AtomicUsize::new(0);
    let counter = |_: &JournalEvent| {
        count.fetch_add(1, Ordering::SeqCst);
    };
    o.observer = Some(&counter);
    let full = create_run(&reference.repo, &o)?;
    o.observer = None;
    let expected_jobs = job_states(&reference, &full.id)?;
    let expected_actions = action_states(&reference, SERVICE)?;
    let events = count.load(Ordering::SeqCst);
    assert!(events > 10, "{events}");

    let mut resumed_any = false;
    for limit in 1..events {
        let calls = Arc::new(Mutex::new(BTreeMap::new()));
        let t = support::sample_repo3(b)?;
        o.registry = Some(counting(&calls)?);
        let interrupt = Interrupt {
            seen: AtomicUsize::new(0),
            limit,
        };
        let mut interrupted = o.clone();
        interrupted.observer = Some(&interrupt);
        let err = match create_run(&t.repo, &interrupted) {
            Ok(done) => {
                return Err(format!("run {} was not interrupted at {limit}", done.id).into());
            }
            Err(e) => e,
        };
        assert!(matches!(err, RunError::Exec { .. }), "{err:?}");
        let id = list_runs(&t.repo)?
            .first()
            .map(|r| r.id.clone())
            .ok_or("no run")?;
        let before = show_run(&t.repo, &id)?;
        if before.run.state.is_finished() {
            // Interrupted while recording the end: nothing left to do.
            assert!(matches!(
                resume_run(&t.repo, &o),
                Err(RunError::NothingToResume)
            ));
            continue;
        }
        resumed_any = true;
        let finished: BTreeMap<String, usize> = {
            let calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
            before
                .jobs
                .iter()
                .filter(|j| j.state.is_finished())
                .map(|j| {
                    (
                        j.action.to_string(),
                        calls.get(j.action.as_str()).copied().unwrap_or(0),
                    )
                })
                .collect()
        };
        let outcome = resume_run(&t.repo, &o)?;
        assert_eq!(outcome.id, id, "limit {limit}");
        assert_eq!(job_states(&t, &id)?, expected_jobs, "limit {limit}");
        assert_eq!(
            action_states(&t, SERVICE)?,
            expected_actions,
            "limit {limit}"
        );
        assert_eq!(
            show_run(&t.repo, &id)?.run.state,
            JobState::Error,
            "limit {limit}"
        );
        let calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
        for (action, n) in finished {
            assert_eq!(
                calls.get(&action).copied(),
                Some(n),
                "limit {limit}: {action} ran again"
            );
        }
        assert!(matches!(
            resume_run(&t.repo, &o),
            Err(RunError::NothingToResume)
        ));
    }
    assert!(resumed_any);
    Ok(())
}
both!(
    an_interrupted_run_resumes_without_rerunning_finished_jobs,
    resume
);

fn no_exec_config(b: Backend) -> TestResult {
    let t = support::sample_repo3(b)?;
    let config = t.repo.root().join(".ays/config.yaml");
    let text = std::fs::read_to_string(&config)?;
    std::fs::write(&config, format!("{text}no_exec: true\n"))?;
    let repo = ays_core::Repository::open(
        t.repo.root(),
        ays_core::OpenOptions {
            store_url: Some(t.repo.store_url().to_owned()),
        },
    )?;
    assert!(repo.no_exec());
    let outcome = create_run(&repo, &options(Schedule::Steps))?;
    assert_eq!(outcome.report.map(|r| r.state), Some(JobState::Ok));
    assert_eq!(
        action_states(&t, SERVICE)?.get("test"),
        Some(&ActionState::Ok)
    );
    Ok(())
}
both!(
    no_exec_in_the_repository_config_runs_nothing,
    no_exec_config
);

/// Native actions for sample_repo3 that count their executions and succeed, except those in
/// `fails`; the first `install` asks the run to stop `levels` times (one Ctrl-C or two) and,
/// when that kills it, fails as a killed process does.
fn cancelling(
    calls: &Arc<Mutex<BTreeMap<String, usize>>>,
    levels: u8,
    fails: &'static [&'static str],
) -> Result<Arc<ActionRegistry>, Box<dyn std::error::Error>> {
    let mut registry = ActionRegistry::new();
    for action in ["init", "install", "test", "test2", "test3"] {
        let calls = Arc::clone(calls);
        registry.register(action, move |job| {
            let n = {
                let mut calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
                let n = calls.entry(job.ctx().action().to_string()).or_insert(0);
                *n += 1;
                *n
            };
            if job.ctx().action().as_str() == "install" && n == 1 {
                for _ in 0..levels {
                    job.ctx().cancel().request();
                }
                if job.ctx().cancel().is_killing() {
                    return Err("killed".into());
                }
            }
            if fails.contains(&job.ctx().action().as_str()) {
                return Err("fails".into());
            }
            Ok(())
        })?;
    }
    Ok(Arc::new(registry))
}

fn ctrl_c(b: Backend, levels: u8) -> TestResult {
    for schedule in [Schedule::Steps, Schedule::Dag] {
        let t = support::sample_repo3(b)?;
        let calls = Arc::new(Mutex::new(BTreeMap::new()));
        let mut o = options(schedule);
        o.registry = Some(cancelling(&calls, levels, &[])?);
        o.cancel = Some(ays_run::CancelToken::new());
        let outcome = create_run(&t.repo, &o)?;
        let report = outcome.report.ok_or("no report")?;
        assert_eq!((report.state, report.cancelled), (JobState::Running, true));
        // Once: install ends ok and nothing starts after it. Twice: install was killed, so it
        // stays running and runs again on resume.
        let install = if levels >= 2 {
            JobState::Running
        } else {
            JobState::Ok
        };
        assert_eq!(
            job_states(&t, &outcome.id)?,
            map(&[
                ("install", install),
                ("test", JobState::New),
                ("test2", JobState::New),
                ("test3", JobState::New),
            ]),
            "{schedule:?}"
        );
        let stored = show_run(&t.repo, &outcome.id)?.run;
        assert_eq!(
            (stored.state, stored.finished_at),
            (JobState::Running, 0),
            "{schedule:?}"
        );
        assert_eq!(t.repo.run_lock_holder()?, None);

        // A fresh token, as `ays run resume` makes.
        o.cancel = Some(ays_run::CancelToken::new());
        let resumed = resume_run(&t.repo, &o)?;
        assert_eq!(resumed.id, outcome.id);
        assert_eq!(
            resumed.report.map(|r| (r.state, r.cancelled)),
            Some((JobState::Ok, false))
        );
        let stored = show_run(&t.repo, &outcome.id)?.run;
        assert_eq!(stored.state, JobState::Ok);
        assert!(stored.finished_at > 0);
        let expected_install = if levels >= 2 { 2 } else { 1 };
        assert_eq!(
            calls.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            map(&[
                ("install", expected_install),
                ("test", 1),
                ("test2", 1),
                ("test3", 1),
            ]),
            "{schedule:?}: no finished job ran again"
        );
        assert!(action_states(&t, SERVICE)?
            .iter()
            .filter(|(a, _)| ["init", "install", "test", "test2", "test3"].contains(&a.as_str()))
            .all(|(_, s)| *s == ActionState::Ok));
        assert!(matches!(
            resume_run(&t.repo, &o),
            Err(RunError::NothingToResume)
        ));
    }
    Ok(())
}

fn ctrl_c_once(b: Backend) -> TestResult {
    ctrl_c(b, 1)
}
both!(issue_4_ctrl_c_once_leaves_a_resumable_run, ctrl_c_once);

fn ctrl_c_twice(b: Backend) -> TestResult {
    ctrl_c(b, 2)
}
both!(
    issue_4_ctrl_c_twice_leaves_a_resumable_run_that_reruns_killed_jobs,
    ctrl_c_twice
);

/// Creates a run of sample_repo3 with `o` that one Ctrl-C stops after `install`.
fn cancelled_run(
    t: &TestRepo,
    o: &RunOptions,
    fails: &'static [&'static str],
) -> Result<RunId, Box<dyn std::error::Error>> {
    let calls = Arc::new(Mutex::new(BTreeMap::new()));
    let mut o = o.clone();
    o.registry = Some(cancelling(&calls, 1, fails)?);
    o.cancel = Some(ays_run::CancelToken::new());
    let outcome = create_run(&t.repo, &o)?;
    assert_eq!(
        outcome.report.map(|r| r.state),
        Some(JobState::Running),
        "cancelled"
    );
    Ok(outcome.id)
}

fn stored_settings(b: Backend) -> TestResult {
    let resume_with = |t: &TestRepo, fails, override_stored| -> TestResult {
        let calls = Arc::new(Mutex::new(BTreeMap::new()));
        // The caller asks for dag and stop-dependents.
        let mut o = options(Schedule::Dag);
        o.registry = Some(cancelling(&calls, 0, fails)?);
        o.override_stored = override_stored;
        resume_run(&t.repo, &o)?;
        Ok(())
    };

    // Created with steps: test fails, so test3 (a later step) never starts, as without the
    // interruption; with the caller's dag instead, test3 runs.
    for (override_stored, test3) in [(false, JobState::New), (true, JobState::Ok)] {
        let t = support::sample_repo3(b)?;
        let id = cancelled_run(&t, &options(Schedule::Steps), &["test"])?;
        assert_eq!(
            show_run(&t.repo, &id)?.run.settings,
            r#"{"schedule":"steps","failure":"stop_dependents","no_exec":false}"#
        );
        resume_with(&t, &["test"], override_stored)?;
        assert_eq!(
            job_states(&t, &id)?,
            map(&[
                ("install", JobState::Ok),
                ("test", JobState::Error),
                ("test2", JobState::Ok),
                ("test3", test3),
            ]),
            "override {override_stored}"
        );
    }

    // Created with dag and keep-going: test3 runs although test2, which it needs, fails.
    for (override_stored, test3) in [(false, JobState::Ok), (true, JobState::New)] {
        let t = support::sample_repo3(b)?;
        let mut o = options(Schedule::Dag);
        o.failure = FailurePolicy::KeepGoing;
        let id = cancelled_run(&t, &o, &["test2"])?;
        assert_eq!(
            show_run(&t.repo, &id)?.run.settings,
            r#"{"schedule":"dag","failure":"keep_going","no_exec":false}"#
        );
        resume_with(&t, &["test2"], override_stored)?;
        assert_eq!(
            job_states(&t, &id)?,
            map(&[
                ("install", JobState::Ok),
                ("test", JobState::Ok),
                ("test2", JobState::Error),
                ("test3", test3),
            ]),
            "override {override_stored}"
        );
    }
    Ok(())
}
both!(
    issue_4_a_resumed_run_keeps_its_schedule_and_failure_policy,
    stored_settings
);

fn unfinished(b: Backend) -> TestResult {
    let t = support::sample_repo3(b)?;
    let calls = Arc::new(Mutex::new(BTreeMap::new()));
    let mut o = options(Schedule::Dag);
    o.registry = Some(cancelling(&calls, 2, &[])?);
    o.cancel = Some(ays_run::CancelToken::new());
    let first = create_run(&t.repo, &o)?.id;

    // A second run is refused while the first is unfinished; nothing is written.
    o.cancel = Some(ays_run::CancelToken::new());
    match create_run(&t.repo, &o) {
        Err(RunError::Unfinished { run }) => assert_eq!(run, first),
        other => return Err(format!("expected Unfinished, got {other:?}").into()),
    }
    assert_eq!(list_runs(&t.repo)?.len(), 1);
    assert_eq!(t.repo.run_lock_holder()?, None);
    let err = create_run(&t.repo, &o).err().ok_or("no error")?;
    assert_eq!(
        err.to_string(),
        format!(
            "run `{first}` is unfinished: resume it (`ays run resume`) or abandon it before \
             creating a new run"
        )
    );

    // Abandoning it ends the killed (running) job in error, with a log line.
    let run = ays_run::abandon_run(&t.repo, &first)?;
    assert_eq!(run.state, JobState::Error);
    assert!(run.finished_at > 0);
    let detail = show_run(&t.repo, &first)?;
    assert_eq!(detail.run.state, JobState::Error);
    assert_eq!(
        job_states(&t, &first)?,
        map(&[
            ("install", JobState::Error),
            ("test", JobState::New),
            ("test2", JobState::New),
            ("test3", JobState::New),
        ])
    );
    let install = detail
        .jobs
        .iter()
        .find(|j| j.action.as_str() == "install")
        .ok_or("install")?;
    assert_eq!(
        install
            .logs
            .last()
            .map(|l| (l.category, l.message.as_str())),
        Some((
            JobLogCategory::ErrorMsg,
            "run abandoned while the job was running"
        ))
    );
    assert_eq!(
        action_states(&t, SERVICE)?.get("install"),
        Some(&ActionState::Error)
    );
    match ays_run::abandon_run(&t.repo, &first) {
        Err(RunError::AlreadyFinished { run, state }) => {
            assert_eq!((run, state), (first.clone(), JobState::Error));
        }
        other => return Err(format!("expected AlreadyFinished, got {other:?}").into()),
    }
    assert!(matches!(
        resume_run(&t.repo, &o),
        Err(RunError::NothingToResume)
    ));

    // Now a new run starts, and picks up the abandoned install.
    let second = create_run(&t.repo, &o)?;
    assert_eq!(second.report.map(|r| r.state), Some(JobState::Ok));
    assert_eq!(
        job_states(&t, &second.id)?,
        map(&[
            ("install", JobState::Ok),
            ("test", JobState::Ok),
            ("test2", JobState::Ok),
            ("test3", JobState::Ok),
        ])
    );
    Ok(())
}
both!(
    issue_4_an_unfinished_run_blocks_a_new_one_until_abandoned,
    unfinished
);

/// How many jobs of each actor ran at once, at most.
#[derive(Default)]
struct Overlap {
    running: BTreeMap<String, usize>,
    most: BTreeMap<String, usize>,
}

fn concurrency(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    // `yml` limits itself in config.yaml, `hrd` in actor.hrd; `free` has no limit.
    t.write("actorTemplates/yml/config.yaml", "concurrency: 1\n")?;
    t.write("actorTemplates/hrd/schema.hrd", "name = type:str\n")?;
    t.write("actorTemplates/hrd/actor.hrd", "concurrency = 1\n")?;
    t.write("actorTemplates/free/config.yaml", "retries: {install: 0}\n")?;
    let mut blueprint = String::new();
    for actor in ["yml", "hrd", "free"] {
        for i in 0..3 {
            blueprint.push_str(&format!("{actor}__s{i}:\n"));
        }
    }
    blueprint.push_str("actions:\n  - action: install\n");
    t.repo
        .apply_blueprint_text("bp.yaml", &blueprint, ApplyOptions::default())?;
    let stored: Vec<u32> = ["yml", "hrd", "free"]
        .iter()
        .map(|a| Ok(t.repo.actor(a)?.ok_or("no actor")?.concurrency))
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    assert_eq!(stored, [1, 1, 0], "stored on the actors");

    // Each job waits (up to a deadline) for a second job of its actor to run beside it, so
    // that without a limit every actor would overlap.
    let overlap = Arc::new((
        std::sync::Mutex::new(Overlap::default()),
        std::sync::Condvar::new(),
    ));
    let mut registry = ActionRegistry::new();
    {
        let overlap = Arc::clone(&overlap);
        registry.register("install", move |job| {
            let actor = job.ctx().actor().to_string();
            let (lock, cv) = &*overlap;
            let mut o = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let n = {
                let n = o.running.entry(actor.clone()).or_insert(0);
                *n += 1;
                *n
            };
            let most = o.most.entry(actor.clone()).or_insert(0);
            *most = (*most).max(n);
            cv.notify_all();
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
            while o.running.get(&actor).copied().unwrap_or(0) < 2 {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                o = cv
                    .wait_timeout(o, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if let Some(n) = o.running.get_mut(&actor) {
                *n -= 1;
            }
            Ok(())
        })?;
    }
    let mut o = options(Schedule::Dag);
    o.jobs = 8;
    o.registry = Some(Arc::new(registry));
    let outcome = create_run(&t.repo, &o)?;
    assert_eq!(outcome.report.map(|r| r.state), Some(JobState::Ok));
    let (lock, _) = &*overlap;
    let most = lock
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .most
        .clone();
    assert_eq!(most, map(&[("free", 2), ("hrd", 1), ("yml", 1)]));
    Ok(())
}
both!(
    issue_4_an_actor_limited_to_one_never_runs_two_jobs_at_once,
    concurrency
);

/// The executor configuration that the templates of the planned actors give.
fn template_limits(t: &TestRepo) -> Result<ays_run::ExecConfig, Box<dyn std::error::Error>> {
    let mut dry = options(Schedule::Dag);
    dry.dry_run = true;
    let plan = create_run(&t.repo, &dry)?.plan;
    let runner = ays_run::RepositoryRunner::prepare(&t.repo, &"probe".parse()?, &plan, &dry)?;
    let mut config = ays_run::ExecConfig::default();
    runner.apply_limits(&mut config);
    Ok(config)
}

fn limits_per_actor(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.write(
        "actorTemplates/quick/config.yaml",
        "timeouts: {install: 2s}\nretries: {install: 1}\n",
    )?;
    t.write(
        "actorTemplates/patient/config.yaml",
        "timeouts: {install: 6s}\nretries: {install: 4}\n",
    )?;
    t.write("actorTemplates/plain/schema.hrd", "name = type:str\n")?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "quick__q:\npatient__p:\nplain__x:\nactions:\n  - action: install\n",
        ApplyOptions::default(),
    )?;
    let config = template_limits(&t)?;
    let install: ays_core::ActionName = "install".parse()?;
    let of = |actor: &str| -> Result<(std::time::Duration, u32), Box<dyn std::error::Error>> {
        let actor = actor.parse()?;
        Ok((
            config.timeout_of(&actor, &install),
            config.retry_of(&actor, &install).retries,
        ))
    };
    // Each actor keeps its own; one without any gets the defaults.
    let secs = std::time::Duration::from_secs;
    assert_eq!(of("quick")?, (secs(2), 1));
    assert_eq!(of("patient")?, (secs(6), 4));
    assert_eq!(of("plain")?, (config.default_timeout, 0));
    Ok(())
}
both!(
    issue_9_timeouts_and_retries_are_kept_per_actor,
    limits_per_actor
);

fn retries(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.write(
        "actorTemplates/flaky/config.yaml",
        "retries: {install: 3}\nretry_delay: {install: 0}\nretry_max_delay: {install: 0}\n",
    )?;
    t.write("actorTemplates/slow/schema.hrd", "name = type:str\n")?;
    t.write(
        "actorTemplates/slow/actor.hrd",
        "concurrency = 2\nretries.start = 2\nretry_delay.start = 2s\nretry_max_delay.start = 1m\n",
    )?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "flaky__f:\nslow__s:\nactions:\n  - action: install\n    actor: flaky\n",
        ApplyOptions::default(),
    )?;

    // The template's backoff reaches the executor's configuration.
    let config = template_limits(&t)?;
    let zero = std::time::Duration::ZERO;
    assert_eq!(
        Some(config.retry_of(&"flaky".parse()?, &"install".parse()?)).as_ref(),
        Some(&ays_run::RetryPolicy {
            retries: 3,
            first_delay: zero,
            max_delay: zero,
        })
    );
    let actor = t.repo.actor("slow")?.ok_or("no actor")?;
    let start = actor.action("start").ok_or("no start")?;
    assert_eq!(
        (
            actor.concurrency,
            start.retries,
            start.retry_delay,
            start.retry_max_delay
        ),
        (2, 2, Some(2), Some(60))
    );

    // install fails twice, then succeeds: three attempts, each logged with its number.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut registry = ActionRegistry::new();
    {
        let calls = Arc::clone(&calls);
        registry.register("install", move |_| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 3 {
                return Err(format!("failure {n}").into());
            }
            Ok(())
        })?;
    }
    let mut o = options(Schedule::Dag);
    o.registry = Some(Arc::new(registry));
    let outcome = create_run(&t.repo, &o)?;
    assert_eq!(outcome.report.map(|r| r.state), Some(JobState::Ok));
    let job = show_run(&t.repo, &outcome.id)?
        .jobs
        .into_iter()
        .find(|j| j.action.as_str() == "install")
        .ok_or("no install job")?;
    assert_eq!(
        (job.state, job.attempts, job.max_attempts),
        (JobState::Ok, 3, 4)
    );
    let attempts: Vec<(JobLogCategory, String)> = job
        .logs
        .iter()
        .filter(|l| l.message.starts_with("attempt "))
        .map(|l| (l.category, l.message.clone()))
        .collect();
    assert_eq!(
        attempts,
        [
            (
                JobLogCategory::ErrorMsg,
                "attempt 1 failed (error): failure 1".to_owned()
            ),
            (
                JobLogCategory::ErrorMsg,
                "attempt 2 failed (error): failure 2".to_owned()
            ),
            (JobLogCategory::Msg, "attempt 3 ok".to_owned()),
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    Ok(())
}
both!(issue_4_retries_back_off_and_log_every_attempt, retries);
