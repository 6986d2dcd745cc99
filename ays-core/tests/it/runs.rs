//! Run and job records, the atomic job start and end, and the run lock.

use std::collections::BTreeMap;

use ays_core::both;
use ays_core::testing::{Backend, TestRepo, TestResult};
use ays_core::{
    ActionState, CoreError, JobFilter, JobLog, JobLogCategory, JobRecord, JobRef, JobState, RunId,
    RunLockOptions, RunRecord, RunStepRecord,
};
use serde_json::json;

use crate::support::fails;

fn repo_with_service(b: Backend) -> Result<TestRepo, Box<dyn std::error::Error>> {
    let t = TestRepo::new(b)?;
    t.template("app", "path = type:str\ncount = type:int\n")?;
    t.write(
        "actorTemplates/app/actions.sh",
        "install() {\n  :\n}\nprocessChange() {\n  :\n}\n",
    )?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "app__a:\n  path: /x\nactions:\n  - action: install\n",
        ApplyOptions::default(),
    )?;
    Ok(t)
}

use ays_core::ApplyOptions;

fn rid(id: &str) -> Result<RunId, ays_core::NameError> {
    id.parse()
}

fn job(run: &str, number: u32, action: &str) -> Result<JobRecord, Box<dyn std::error::Error>> {
    Ok(JobRecord::new(
        &run.parse()?,
        number,
        "app!a".parse()?,
        "app".parse()?,
        action.parse()?,
        1_000,
    ))
}

fn run_record(
    id: &str,
    created_at: i64,
    jobs: &[&JobRecord],
) -> Result<RunRecord, ays_core::NameError> {
    Ok(RunRecord {
        id: rid(id)?,
        state: JobState::New,
        created_at,
        finished_at: 0,
        steps: vec![RunStepRecord {
            number: 1,
            state: JobState::New,
            started_at: 0,
            finished_at: 0,
            jobs: jobs
                .iter()
                .map(|j| JobRef {
                    number: j.number,
                    service: j.service.clone(),
                    actor: j.actor.clone(),
                    action: j.action.clone(),
                })
                .collect(),
        }],
        settings: String::new(),
    })
}

fn records(b: Backend) -> TestResult {
    let t = repo_with_service(b)?;
    let mut j1 = job("r1", 1, "install")?;
    j1.logs.push(JobLog {
        at_ms: 5,
        category: JobLogCategory::Out,
        message: "hello".into(),
    });
    let j2 = job("r1", 2, "processChange")?;
    let mut r1 = run_record("r1", 10, &[&j1, &j2])?;
    // The runner's settings are stored with the run and read back with it.
    r1.settings = r#"{"schedule":"steps"}"#.to_owned();
    t.repo.save_run_with_jobs(&r1, &[j1.clone(), j2.clone()])?;
    t.repo.save_run(&run_record("r2", 20, &[])?)?;
    assert_eq!(t.repo.run(&rid("r1")?)?, Some(r1));
    assert_eq!(t.repo.run(&rid("nosuch")?)?, None);
    let listed: Vec<(String, usize)> = t
        .repo
        .runs()?
        .into_iter()
        .map(|r| (r.id.to_string(), r.jobs))
        .collect();
    assert_eq!(listed, [("r2".to_owned(), 0), ("r1".to_owned(), 2)]);
    assert_eq!(t.repo.job(&rid("r1")?, 1)?, Some(j1.clone()));
    let filter = JobFilter {
        action: Some("processChange".parse()?),
        ..JobFilter::all()
    };
    assert_eq!(t.repo.jobs(&rid("r1")?, &filter)?, [j2]);
    assert_eq!(t.repo.jobs(&rid("r1")?, &JobFilter::all())?.len(), 2);
    let ok = JobFilter {
        state: Some(JobState::Ok),
        ..JobFilter::all()
    };
    assert_eq!(t.repo.all_jobs(&ok)?, []);
    assert_eq!(t.repo.all_jobs(&JobFilter::all())?.len(), 2);
    let err = rid("a/b").err().ok_or("a/b accepted")?;
    assert_eq!((err.what, err.name.as_str()), ("run id", "a/b"));
    // destroy keeps runs and jobs (test_validate_delete_models).
    t.repo.destroy()?;
    assert_eq!(t.repo.runs()?.len(), 2);
    assert_eq!(t.repo.job(&rid("r1")?, 1)?, Some(j1));
    Ok(())
}
both!(runs_and_jobs_are_stored_and_survive_destroy, records);

fn action_state(
    t: &TestRepo,
    action: &str,
) -> Result<(ActionState, i64), Box<dyn std::error::Error>> {
    let s = t.repo.service(&"app!a".parse()?)?.ok_or("missing")?;
    let a = s.action(action).ok_or("no action")?;
    Ok((a.state, a.last_run))
}

fn job_ends(b: Backend) -> TestResult {
    let t = repo_with_service(b)?;
    let key = "app!a".parse()?;
    // Start: the job record and the action become running in one batch.
    let mut j = job("r1", 1, "install")?;
    j.set_state(JobState::Running, 2_000);
    t.repo.start_job(&j)?;
    assert_eq!(action_state(&t, "install")?.0, ActionState::Running);
    assert_eq!(
        t.repo.job(&rid("r1")?, 1)?.map(|j| j.state),
        Some(JobState::Running)
    );

    // A patch of the wrong type fails the job and changes no data.
    let data_before = t.repo.show_service(&key)?.data;
    let mut bad = j.clone();
    bad.set_state(JobState::Ok, 3_000);
    let stored = t.repo.finish_job(&bad, Some(&json!({"count": "many"})))?;
    assert_eq!(stored.state, JobState::Error);
    assert!(
        stored
            .logs
            .iter()
            .any(|l| l.category == JobLogCategory::ErrorMsg
                && l.message.starts_with("data patch rejected")),
        "{:?}",
        stored.logs
    );
    assert_eq!(t.repo.job(&rid("r1")?, 1)?, Some(stored));
    assert_eq!(action_state(&t, "install")?, (ActionState::Error, 0));
    assert_eq!(t.repo.show_service(&key)?.data, data_before);

    // A failed job writes its record and the error state only.
    let mut failed = job("r1", 2, "install")?;
    failed.set_state(JobState::Running, 4_000);
    t.repo.start_job(&failed)?;
    failed.set_state(JobState::Error, 5_000);
    t.repo.finish_job(&failed, Some(&json!({"count": 3})))?;
    assert_eq!(action_state(&t, "install")?, (ActionState::Error, 0));
    assert_eq!(t.repo.show_service(&key)?.data, data_before);

    // A successful job commits its patch, the ok state and the last run together.
    let mut good = job("r1", 3, "install")?;
    good.set_state(JobState::Running, 6_000);
    t.repo.start_job(&good)?;
    good.set_state(JobState::Ok, 7_000);
    let stored = t.repo.finish_job(&good, Some(&json!({"count": 3})))?;
    assert_eq!(stored.state, JobState::Ok);
    assert_eq!(action_state(&t, "install")?, (ActionState::Ok, 7_000));
    assert_eq!(
        t.repo.show_service(&key)?.data,
        json!({"path": "/x", "count": 3})
    );
    assert_eq!(stored.duration_ms(), Some(1_000));
    t.check_indexes()?;
    Ok(())
}
both!(
    a_job_end_commits_its_record_state_and_data_at_once,
    job_ends
);

fn process_change(b: Backend) -> TestResult {
    let t = repo_with_service(b)?;
    let key = "app!a".parse()?;
    t.repo
        .apply_blueprint_text("bp.yaml", "app__a:\n  path: /y\n", ApplyOptions::default())?;
    let pc = "processChange".parse()?;
    assert!(t.repo.action_args(&key, &pc)?.is_some());
    let mut j = job("r1", 1, "processChange")?;
    j.set_state(JobState::Running, 1);
    t.repo.start_job(&j)?;
    j.set_state(JobState::Ok, 2);
    t.repo.finish_job(&j, None)?;
    assert_eq!(t.repo.action_args(&key, &pc)?, None);
    t.check_indexes()?;
    Ok(())
}
both!(a_process_change_job_consumes_its_args, process_change);

/// The pid of a process that has exited.
fn dead_pid() -> Result<u32, Box<dyn std::error::Error>> {
    let mut child = std::process::Command::new("true").spawn()?;
    let pid = child.id();
    child.wait()?;
    Ok(pid)
}

fn run_lock(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    let first = t.repo.lock_run("r1", &RunLockOptions::default())?;
    let err = fails(t.repo.lock_run("r2", &RunLockOptions::default()))?;
    match err {
        CoreError::RunLocked {
            run,
            host,
            pid,
            since_ms,
        } => {
            assert_eq!((run.as_str(), pid), ("r1", std::process::id()));
            assert_eq!(host, first.info().host);
            assert_eq!(since_ms, first.info().since_ms);
        }
        other => return Err(format!("unexpected {other:?}").into()),
    }
    drop(first);
    assert_eq!(t.repo.run_lock_holder()?, None);

    // A holder whose process died is taken over.
    let dead = t.repo.lock_run(
        "r3",
        &RunLockOptions {
            pid: dead_pid()?,
            ..RunLockOptions::default()
        },
    )?;
    dead.abandon();
    let taken = t.repo.lock_run("r4", &RunLockOptions::default())?;
    assert_eq!(
        t.repo.run_lock_holder()?.map(|h| h.run),
        Some("r4".to_owned())
    );
    taken.abandon();

    // A live holder renews its lease (poll with a deadline), so it is never taken over.
    t.repo.force_unlock()?;
    let renewing = t.repo.lock_run(
        "r7",
        &RunLockOptions {
            lease: std::time::Duration::from_millis(300),
            ..RunLockOptions::default()
        },
    )?;
    let first = renewing.info().expires_ms;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let holder = t.repo.run_lock_holder()?.ok_or("the lock vanished")?;
        assert_eq!(holder.run, "r7");
        if holder.expires_ms > first {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lease was never renewed"
        );
        std::thread::yield_now();
    }
    drop(renewing);
    assert_eq!(t.repo.run_lock_holder()?, None);

    // A live holder whose lease expired is taken over (poll with a deadline).
    t.repo.force_unlock()?;
    let short = RunLockOptions {
        lease: std::time::Duration::from_millis(30),
        ..RunLockOptions::default()
    };
    let expired = t.repo.lock_run("r5", &short)?;
    expired.abandon();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let next = loop {
        match t.repo.lock_run("r6", &RunLockOptions::default()) {
            Ok(lock) => break lock,
            Err(CoreError::RunLocked { run, .. }) if std::time::Instant::now() < deadline => {
                assert_eq!(run, "r5");
                std::thread::yield_now();
            }
            Err(other) => return Err(other.into()),
        }
    };
    assert_eq!(next.info().run, "r6");
    // force_unlock removes a live lock and names its holder.
    let removed = t.repo.force_unlock()?.ok_or("no holder")?;
    assert_eq!(removed.run, "r6");
    assert_eq!(t.repo.run_lock_holder()?, None);
    drop(next);
    assert_eq!(t.repo.run_lock_holder()?, None);
    Ok(())
}
both!(one_run_at_a_time_and_stale_locks_are_taken_over, run_lock);

/// Every key and value of the repository, keys as text.
fn entries(t: &TestRepo) -> Result<BTreeMap<String, Vec<u8>>, Box<dyn std::error::Error>> {
    Ok(t.scan()?
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
        .collect())
}

fn delete_run(b: Backend) -> TestResult {
    let t = repo_with_service(b)?;
    let (mut j1, mut j2) = (job("r1", 1, "install")?, job("r1", 2, "processChange")?);
    let mut r1 = run_record("r1", 10, &[&j1, &j2])?;
    r1.settings = r#"{"schedule":"steps"}"#.to_owned();
    j1.set_state(JobState::Ok, 11);
    j2.set_state(JobState::Error, 12);
    r1.state = JobState::Error;
    r1.finished_at = 12;
    t.repo.save_run_with_jobs(&r1, &[j1, j2])?;
    // Another run, and one whose id starts like r1's: neither may lose a key.
    let other = job("r10", 1, "install")?;
    let mut r10 = run_record("r10", 20, &[&other])?;
    r10.state = JobState::Ok;
    t.repo.save_run_with_jobs(&r10, &[other])?;
    let dir = t.repo.run_dir(&rid("r1")?).join("actors/app");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("actions.sh"), "install() { :; }\n")?;
    let before = entries(&t)?;

    assert_eq!(t.repo.delete_run(&rid("r1")?)?, r1);
    assert_eq!(t.repo.run(&rid("r1")?)?, None);
    assert_eq!(t.repo.jobs(&rid("r1")?, &JobFilter::all())?, []);
    assert!(!t.repo.run_dir(&rid("r1")?).exists());
    // Those keys went, and everything else is as it was.
    let after = entries(&t)?;
    let gone: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    assert_eq!(
        gone,
        [
            "job/r1/000001",
            "job/r1/000002",
            "run-jobs/r1",
            "run-settings/r1",
            "run/r1"
        ]
    );
    assert!(after.iter().all(|(k, v)| before.get(k) == Some(v)));
    assert_eq!(t.repo.jobs(&rid("r10")?, &JobFilter::all())?.len(), 1);

    match fails(t.repo.delete_run(&rid("r1")?))? {
        CoreError::RunNotFound { run } => assert_eq!(run.as_str(), "r1"),
        other => return Err(format!("unexpected {other:?}").into()),
    }
    Ok(())
}
both!(a_finished_run_is_deleted_with_its_jobs_alone, delete_run);

fn delete_unfinished_run(b: Backend) -> TestResult {
    let t = repo_with_service(b)?;
    let mut j = job("r1", 1, "install")?;
    j.set_state(JobState::Running, 11);
    let mut r1 = run_record("r1", 10, &[&j])?;
    r1.state = JobState::Running;
    t.repo.save_run_with_jobs(&r1, &[j])?;
    let before = entries(&t)?;
    match fails(t.repo.delete_run(&rid("r1")?))? {
        CoreError::RunNotFinished { run, state } => {
            assert_eq!((run.as_str(), state), ("r1", JobState::Running));
        }
        other => return Err(format!("unexpected {other:?}").into()),
    }
    assert_eq!(entries(&t)?, before);

    // A finished run is not deleted while a run holds the lock.
    r1.state = JobState::Ok;
    r1.finished_at = 12;
    t.repo.save_run(&r1)?;
    let live = t.repo.lock_run("r2", &RunLockOptions::default())?;
    let before = entries(&t)?;
    match fails(t.repo.delete_run(&rid("r1")?))? {
        CoreError::RunLocked { run, .. } => assert_eq!(run, "r2"),
        other => return Err(format!("unexpected {other:?}").into()),
    }
    assert_eq!(entries(&t)?, before);
    drop(live);
    t.repo.delete_run(&rid("r1")?)?;
    assert_eq!(t.repo.run(&rid("r1")?)?, None);
    Ok(())
}
both!(
    an_unfinished_or_locked_run_is_not_deleted,
    delete_unfinished_run
);
