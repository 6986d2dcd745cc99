//! Runs on real repositories (`create_run`, `resume_run`, `show_run`, the run lock), each on the
//! embedded store and on Redis.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ays_core::{ActionState, ApplyOptions, CoreError, JobLogCategory, JobState, RunLockOptions};
use ays_run::{
    ActionRegistry, FailurePolicy, JournalError, JournalEvent, RunError, RunObserver, RunOptions,
    RunState, Schedule, create_run, list_runs, resume_run, show_run,
};
use serde_json::json;

use crate::support::{Backend, TestRepo, TestResult, both};

const SERVICE: &str = "runtime_error_service!instance";

fn options(schedule: Schedule) -> RunOptions {
    let mut o = RunOptions::default();
    o.schedule = schedule;
    o.jobs = 2;
    o
}

/// Each job's state by action name, from the stored jobs of run `id`.
fn job_states(
    t: &TestRepo,
    id: &str,
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
    let t = TestRepo::sample_repo3(b)?;

    // A dry run plans and writes nothing.
    let mut dry = options(Schedule::Steps);
    dry.dry_run = true;
    let outcome = create_run(&t.repo, &dry, None)?;
    assert_eq!(
        (outcome.plan.steps().len(), outcome.report.is_none()),
        (4, true)
    );
    assert!(list_runs(&t.repo)?.is_empty());

    let events = Mutex::new(Vec::new());
    let observer = |e: &JournalEvent| {
        events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e.clone());
    };
    let outcome = create_run(&t.repo, &options(Schedule::Steps), Some(&observer))?;
    let report = outcome.report.ok_or("no report")?;
    assert_eq!(report.state, RunState::Error);
    let id = outcome.id;
    // Steps: init, install, then test and test2 (test fails), and test3 never starts.
    assert_eq!(
        job_states(&t, &id)?,
        map(&[
            ("init", JobState::Ok),
            ("install", JobState::Ok),
            ("test", JobState::Error),
            ("test2", JobState::Ok),
            ("test3", JobState::New),
        ])
    );
    let detail = show_run(&t.repo, &id)?;
    assert_eq!(detail.run.state, JobState::Error);
    let steps: Vec<JobState> = detail.run.steps.iter().map(|s| s.state).collect();
    // The init step counts as a step of its own.
    assert_eq!(
        steps,
        [JobState::Ok, JobState::Ok, JobState::Error, JobState::New]
    );
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
        matches!(seen.first(), Some(JournalEvent::RunStarted { jobs: 5, .. })),
        "{seen:?}"
    );
    assert!(
        matches!(
            seen.last(),
            Some(JournalEvent::RunFinished {
                state: RunState::Error,
                ..
            })
        ),
        "{seen:?}"
    );
    assert_eq!(t.repo.run_lock_holder()?, None, "the run lock is released");

    // The dag schedule runs test3 (test2 is ok) and test again, which fails again.
    let second = create_run(&t.repo, &options(Schedule::Dag), None)?;
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
    let listed: Vec<String> = list_runs(&t.repo)?.into_iter().map(|r| r.id).collect();
    assert_eq!(listed, [second.id.clone(), id.clone()], "newest first");

    // destroy keeps the runs.
    t.repo.destroy()?;
    assert_eq!(list_runs(&t.repo)?.len(), 2);
    assert_eq!(show_run(&t.repo, &id)?.jobs.len(), 5);
    Ok(())
}
both!(sample_repo3_runs_steps_then_dag, sample_repo3);

fn no_exec(b: Backend) -> TestResult {
    let t = TestRepo::sample_repo3(b)?;
    let mut o = options(Schedule::Steps);
    o.no_exec = true;
    let outcome = create_run(&t.repo, &o, None)?;
    assert_eq!(outcome.report.map(|r| r.state), Some(RunState::Ok));
    let states = job_states(&t, &outcome.id)?;
    assert!(states.values().all(|s| *s == JobState::Ok), "{states:?}");
    assert_eq!(
        action_states(&t, SERVICE)?.get("test"),
        Some(&ActionState::Ok)
    );
    Ok(())
}
both!(no_exec_marks_jobs_ok_without_running_them, no_exec);

const PATCH_HRD: &str = "x = type:int\ny = type:int\nz = type:int\nname = type:str\n";

fn data_patches(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.write("actorTemplates/shapp/schema.hrd", PATCH_HRD)?;
    t.write(
        "actorTemplates/shapp/actions.sh",
        "install() {\n    echo '{\"x\": 5, \"name\": \"sh\"}' > \"$AYS_RESULT_FILE\"\n}\n\
         bad() {\n    echo '{\"y\": \"many\"}' > \"$AYS_RESULT_FILE\"\n}\n\
         fail() {\n    echo '{\"z\": 7}' > \"$AYS_RESULT_FILE\"\n    exit 3\n}\n",
    )?;
    t.write("actorTemplates/pyapp/schema.hrd", PATCH_HRD)?;
    t.write(
        "actorTemplates/pyapp/actions.py",
        "def install(job):\n    job.service.data.x = job.service.data.x + 6\n    job.service.data.name = 'py'\n\n\
         def bad(job):\n    job.service.data.y = 'many'\n\n\
         def fail(job):\n    job.service.data.z = 7\n    raise RuntimeError('boom')\n",
    )?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "shapp__s:\npyapp__p:\n  x: 1\nactions:\n  - action: install\n  - action: bad\n  - action: fail\n",
        ApplyOptions::default(),
    )?;
    // The template on disk changes after the blueprint: the stored code is what runs.
    t.write(
        "actorTemplates/shapp/actions.sh",
        "install() {\n    exit 9\n}\n",
    )?;
    let mut o = options(Schedule::Dag);
    o.failure = FailurePolicy::KeepGoing;
    let outcome = create_run(&t.repo, &o, None)?;
    for key in ["shapp!s", "pyapp!p"] {
        let states = action_states(&t, key)?;
        assert_eq!(
            (states.get("install"), states.get("bad"), states.get("fail")),
            (
                Some(&ActionState::Ok),
                Some(&ActionState::Error),
                Some(&ActionState::Error)
            ),
            "{key}"
        );
    }
    assert_eq!(
        t.repo.show_service(&"shapp!s".parse()?)?.data,
        json!({"x": 5, "y": 0, "z": 0, "name": "sh"})
    );
    assert_eq!(
        t.repo.show_service(&"pyapp!p".parse()?)?.data,
        json!({"x": 7, "y": 0, "z": 0, "name": "py"})
    );
    let bad = show_run(&t.repo, &outcome.id)?
        .jobs
        .into_iter()
        .filter(|j| j.action.as_str() == "bad")
        .collect::<Vec<_>>();
    assert_eq!(bad.len(), 2);
    for j in bad {
        assert_eq!(j.state, JobState::Error);
        assert!(
            j.logs.iter().any(|l| l.category == JobLogCategory::ErrorMsg
                && l.message.starts_with("data patch rejected")),
            "{:?}",
            j.logs
        );
    }
    Ok(())
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
    let t = TestRepo::sample_repo3(b)?;
    let live = t.repo.lock_run("other", &RunLockOptions::default())?;
    let err = match create_run(&t.repo, &options(Schedule::Steps), None) {
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
    let outcome = create_run(&t.repo, &options(Schedule::Steps), None)?;
    assert_eq!(outcome.report.map(|r| r.state), Some(RunState::Error));
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
            return Err(JournalError::Write {
                run: String::new(),
                what: "test",
                message: format!("interrupted at {event:?}"),
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
    let reference = TestRepo::sample_repo3(b)?;
    let mut o = options(Schedule::Steps);
    o.registry = Some(counting(&calls)?);
    let count = AtomicUsize::new(0);
    let counter = |_: &JournalEvent| {
        count.fetch_add(1, Ordering::SeqCst);
    };
    let full = create_run(&reference.repo, &o, Some(&counter))?;
    let expected_jobs = job_states(&reference, &full.id)?;
    let expected_actions = action_states(&reference, SERVICE)?;
    let events = count.load(Ordering::SeqCst);
    assert!(events > 10, "{events}");

    let mut resumed_any = false;
    for limit in 1..events {
        let calls = Arc::new(Mutex::new(BTreeMap::new()));
        let t = TestRepo::sample_repo3(b)?;
        o.registry = Some(counting(&calls)?);
        let interrupt = Interrupt {
            seen: AtomicUsize::new(0),
            limit,
        };
        let err = match create_run(&t.repo, &o, Some(&interrupt)) {
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
                resume_run(&t.repo, &o, None),
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
        let outcome = resume_run(&t.repo, &o, None)?;
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
            resume_run(&t.repo, &o, None),
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
    let t = TestRepo::sample_repo3(b)?;
    let config = t.repo.root().join(".ays/config.yaml");
    let text = std::fs::read_to_string(&config)?;
    std::fs::write(&config, format!("{text}no_exec: true\n"))?;
    let repo = ays_core::Repository::open(t.repo.root(), Some(t.repo.store_url()))?;
    assert!(repo.no_exec());
    let outcome = create_run(&repo, &options(Schedule::Steps), None)?;
    assert_eq!(outcome.report.map(|r| r.state), Some(RunState::Ok));
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
