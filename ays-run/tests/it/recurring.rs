//! One recurring action run outside any run (`run_recurring`), each on the embedded store and
//! on Redis: its outcome, what it stores and what it leaves alone.

use std::sync::Arc;

use ays_core::both;
use ays_core::testing::{Backend, TestRepo, TestResult};
use ays_core::{
    ActionState, ApplyOptions, DeleteOptions, JobLogCategory, JobState, RunLockOptions,
};
use ays_run::{
    ActionRegistry, RecurringOptions, RecurringOutcome, RunOptions, create_run, run_recurring,
};
use serde_json::json;

const HRD: &str = "count = type:int\nstatus = type:str\n";

/// A repository with `mon!a` and `mon!b` (actor `mon`, monitor every minute); `install` and
/// `monitor` of `mon!a` are scheduled.
fn repo(b: Backend) -> Result<TestRepo, Box<dyn std::error::Error>> {
    let t = TestRepo::new(b)?;
    t.write("actorTemplates/mon/schema.hrd", HRD)?;
    t.write(
        "actorTemplates/mon/config.yaml",
        "recurring:\n  - action: monitor\n    period: 1m\n",
    )?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "mon__a:\n  count: 1\nmon__b:\nactions:\n  - action: install\n    service: a\n  - action: monitor\n    service: a\n",
        ApplyOptions::default(),
    )?;
    Ok(t)
}

/// `monitor` sets `count` to 5 and logs; with `fail`, it sets 9 and fails.
fn registry(fail: bool) -> Result<Arc<ActionRegistry>, Box<dyn std::error::Error>> {
    let mut registry = ActionRegistry::new();
    registry.register("monitor", move |job| {
        job.log("checked");
        if fail {
            job.set("count", json!(9));
            return Err("the service is down".into());
        }
        job.set("count", json!(5));
        Ok(())
    })?;
    Ok(Arc::new(registry))
}

fn options(fail: bool) -> Result<RecurringOptions, Box<dyn std::error::Error>> {
    let mut o = RecurringOptions::default();
    o.registry = Some(registry(fail)?);
    Ok(o)
}

/// The state and last run of `action` of `key`.
fn action(
    t: &TestRepo,
    key: &str,
    action: &str,
) -> Result<(ActionState, i64), Box<dyn std::error::Error>> {
    let s = t.repo.service(&key.parse()?)?.ok_or("no service")?;
    let a = s.action(action).ok_or("no action")?;
    Ok((a.state, a.last_run))
}

fn success(b: Backend) -> TestResult {
    let t = repo(b)?;
    let (key, monitor) = ("mon!a".parse()?, "monitor".parse()?);
    let outcome = run_recurring(&t.repo, &key, &monitor, &options(false)?)?;
    assert!(outcome.is_ok(), "{outcome}");
    let job = outcome.job().ok_or("nothing ran")?;
    assert_eq!(job.state, JobState::Ok);
    assert!(job.started_at > 0 && job.finished_at >= job.started_at);
    assert!(job.run.as_str().starts_with("recurring-"), "{}", job.run);
    let messages: Vec<&str> = job.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["attempt 1 ok", "checked"]);
    assert_eq!(job.result, r#"{"count":5}"#);
    // last_run is the job's end; the state machine is untouched (still scheduled for a run).
    assert_eq!(
        action(&t, "mon!a", "monitor")?,
        (ActionState::Scheduled, job.finished_at)
    );
    assert_eq!(action(&t, "mon!a", "install")?.0, ActionState::Scheduled);
    assert_eq!(t.repo.show_service(&key)?.data["count"], 5);
    assert_eq!(t.repo.recurring_job(&key, &monitor)?.as_ref(), Some(job));
    // No run was stored.
    assert!(t.repo.runs()?.is_empty());

    // An action that is `ok` stays `ok`, `new` stays `new`.
    let other = "mon!b".parse()?;
    let outcome = run_recurring(&t.repo, &other, &monitor, &options(false)?)?;
    assert!(outcome.is_ok());
    assert_eq!(action(&t, "mon!b", "monitor")?.0, ActionState::New);
    t.check_indexes()?;
    Ok(())
}
both!(a_success_sets_last_run_and_data_only, success);

fn failure(b: Backend) -> TestResult {
    let t = repo(b)?;
    let (key, monitor) = ("mon!a".parse()?, "monitor".parse()?);
    let before = t.repo.show_service(&key)?.data;
    let outcome = run_recurring(&t.repo, &key, &monitor, &options(true)?)?;
    assert!(!outcome.is_ok());
    let job = outcome.job().ok_or("nothing ran")?;
    assert_eq!(job.state, JobState::Error);
    assert!(
        job.logs
            .iter()
            .any(|l| l.category == JobLogCategory::ErrorMsg
                && l.message.contains("the service is down")),
        "{:?}",
        job.logs
    );
    assert_eq!(action(&t, "mon!a", "monitor")?, (ActionState::Scheduled, 0));
    assert_eq!(t.repo.show_service(&key)?.data, before);
    assert_eq!(t.repo.recurring_job(&key, &monitor)?.as_ref(), Some(job));

    // A success, then a failure: last_run keeps the success, the record is the failure's.
    let ok = run_recurring(&t.repo, &key, &monitor, &options(false)?)?;
    let ok_end = ok.job().ok_or("nothing ran")?.finished_at;
    let failed = run_recurring(&t.repo, &key, &monitor, &options(true)?)?;
    assert_eq!(action(&t, "mon!a", "monitor")?.1, ok_end);
    assert_eq!(
        t.repo.recurring_job(&key, &monitor)?.map(|j| j.state),
        Some(JobState::Error)
    );
    assert_eq!(failed.job().map(|j| j.state), Some(JobState::Error));

    // A data patch the schema rejects fails the execution and changes nothing.
    let mut registry = ActionRegistry::new();
    registry.register("monitor", |job| {
        job.set("count", json!("many"));
        Ok(())
    })?;
    let mut o = RecurringOptions::default();
    o.registry = Some(Arc::new(registry));
    let rejected = run_recurring(&t.repo, &key, &monitor, &o)?;
    let job = rejected.job().ok_or("nothing ran")?;
    assert_eq!(job.state, JobState::Error);
    assert!(
        job.logs
            .iter()
            .any(|l| l.message.starts_with("data patch rejected")),
        "{:?}",
        job.logs
    );
    assert_eq!(action(&t, "mon!a", "monitor")?.1, ok_end);
    assert_eq!(t.repo.show_service(&key)?.data["count"], 5);
    t.check_indexes()?;
    Ok(())
}
both!(a_failure_stores_its_job_and_leaves_last_run, failure);

fn beside_a_run(b: Backend) -> TestResult {
    let t = repo(b)?;
    let (key, monitor) = ("mon!a".parse()?, "monitor".parse()?);
    // A run holds the lock: the recurring action runs anyway and leaves the lock alone.
    let live = t.repo.lock_run("live", &RunLockOptions::default())?;
    let outcome = run_recurring(&t.repo, &key, &monitor, &options(false)?)?;
    assert!(outcome.is_ok(), "{outcome}");
    assert_eq!(
        t.repo.run_lock_holder()?.map(|h| h.run),
        Some("live".to_owned())
    );
    drop(live);

    // Inside a live run: its `install` runs the recurring action of the other service.
    let repo = t.repo.clone();
    let inner = options(false)?;
    let mut registry = ActionRegistry::new();
    registry.register("install", move |_| {
        let outcome = run_recurring(&repo, &"mon!b".parse()?, &"monitor".parse()?, &inner)?;
        if !outcome.is_ok() {
            return Err(format!("recurring: {outcome}").into());
        }
        Ok(())
    })?;
    registry.register("monitor", |_| Ok(()))?;
    let mut o = RunOptions::default();
    o.registry = Some(Arc::new(registry));
    let run = create_run(&t.repo, &o)?;
    assert_eq!(run.report.map(|r| r.state), Some(JobState::Ok));
    assert_eq!(t.repo.show_service(&"mon!b".parse()?)?.data["count"], 5);
    assert!(action(&t, "mon!b", "monitor")?.1 > 0);
    t.check_indexes()?;
    Ok(())
}
both!(a_recurring_action_runs_beside_a_live_run, beside_a_run);

fn gone(b: Backend) -> TestResult {
    let t = repo(b)?;
    let monitor = "monitor".parse()?;
    let key = "mon!a".parse()?;
    run_recurring(&t.repo, &key, &monitor, &options(false)?)?;
    assert!(t.repo.recurring_job(&key, &monitor)?.is_some());
    // Deleting the service removes its last executions.
    t.repo.delete_service(&key, DeleteOptions::default())?;
    assert_eq!(t.repo.recurring_job(&key, &monitor)?, None);
    let before = t.scan()?;
    let outcome = run_recurring(&t.repo, &key, &monitor, &options(false)?)?;
    assert_eq!(outcome, RecurringOutcome::Gone);
    let outcome = run_recurring(
        &t.repo,
        &"mon!b".parse()?,
        &"nosuch".parse()?,
        &options(false)?,
    )?;
    assert_eq!(outcome, RecurringOutcome::Gone);
    assert_eq!(t.scan()?, before, "nothing written");

    // Deleted while it runs: nothing is written either.
    let store = t.repo.clone();
    let mut registry = ActionRegistry::new();
    registry.register("monitor", move |job| {
        store.delete_service(job.ctx().service(), DeleteOptions::default())?;
        job.set("count", json!(5));
        Ok(())
    })?;
    let mut o = RecurringOptions::default();
    o.registry = Some(Arc::new(registry));
    let other = "mon!b".parse()?;
    assert_eq!(
        run_recurring(&t.repo, &other, &monitor, &o)?,
        RecurringOutcome::Gone
    );
    assert_eq!(t.repo.recurring_job(&other, &monitor)?, None);
    assert_eq!(t.repo.service(&other)?, None);

    // destroy removes the last executions too.
    let t = repo(b)?;
    run_recurring(&t.repo, &"mon!b".parse()?, &monitor, &options(false)?)?;
    t.repo.destroy()?;
    let left: Vec<String> = t
        .scan()?
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .filter(|k| k.starts_with("recurring/"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
    Ok(())
}
both!(
    a_deleted_service_or_action_is_gone_and_nothing_is_written,
    gone
);

fn disabled_and_cancelled(b: Backend) -> TestResult {
    let t = repo(b)?;
    let (key, monitor) = ("mon!a".parse()?, "monitor".parse()?);
    t.repo.set_action_state(
        &ays_core::ServiceFilter::all(),
        &monitor,
        ActionState::Disabled,
    )?;
    let before = t.scan()?;
    assert_eq!(
        run_recurring(&t.repo, &key, &monitor, &options(false)?)?,
        RecurringOutcome::Disabled
    );
    assert_eq!(t.scan()?, before, "nothing written");
    t.repo
        .set_action_state(&ays_core::ServiceFilter::all(), &monitor, ActionState::Ok)?;
    let before_cancel = t.scan()?;
    let mut o = options(false)?;
    let cancel = ays_run::CancelToken::new();
    cancel.request();
    o.cancel = Some(cancel);
    assert_eq!(
        run_recurring(&t.repo, &key, &monitor, &o)?,
        RecurringOutcome::Cancelled
    );
    assert_eq!(t.scan()?, before_cancel, "nothing written");
    Ok(())
}
both!(
    a_disabled_or_cancelled_action_does_not_run,
    disabled_and_cancelled
);

fn shell(b: Backend) -> TestResult {
    let t = repo(b)?;
    t.write("actorTemplates/sh/schema.hrd", HRD)?;
    t.write(
        "actorTemplates/sh/actions.sh",
        "monitor() {\n    echo \"up: $AYS_SERVICE\"\n    echo '{\"status\": \"up\"}' > \"$AYS_RESULT_FILE\"\n}\n\
         check() {\n    echo '{\"status\": \"down\"}' > \"$AYS_RESULT_FILE\"\n    echo broken >&2\n    exit 3\n}\n\
         slow() {\n    sleep 30\n}\n",
    )?;
    t.repo
        .apply_blueprint_text("sh.yaml", "sh__s:\n", ApplyOptions::default())?;
    let key = "sh!s".parse()?;
    let ok = run_recurring(
        &t.repo,
        &key,
        &"monitor".parse()?,
        &RecurringOptions::default(),
    )?;
    let job = ok.job().ok_or("nothing ran")?;
    assert_eq!(job.state, JobState::Ok, "{:?}", job.logs);
    assert!(
        job.logs
            .iter()
            .any(|l| l.category == JobLogCategory::Out && l.message.contains("up: sh!s")),
        "{:?}",
        job.logs
    );
    assert_eq!(t.repo.show_service(&key)?.data["status"], "up");
    assert_eq!(
        action(&t, "sh!s", "monitor")?,
        (ActionState::New, job.finished_at)
    );

    let failed = run_recurring(
        &t.repo,
        &key,
        &"check".parse()?,
        &RecurringOptions::default(),
    )?;
    let job = failed.job().ok_or("nothing ran")?;
    assert_eq!(job.state, JobState::Error);
    assert!(
        job.logs.iter().any(|l| l.message.contains("broken")),
        "{:?}",
        job.logs
    );
    assert_eq!(t.repo.show_service(&key)?.data["status"], "up");
    assert_eq!(action(&t, "sh!s", "check")?, (ActionState::New, 0));

    // The timeout kills the action.
    let mut o = RecurringOptions::default();
    o.timeout = Some(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let slow = run_recurring(&t.repo, &key, &"slow".parse()?, &o)?;
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(slow.job().map(|j| j.state), Some(JobState::Error));
    Ok(())
}
both!(a_shell_action_runs_and_fails_as_in_a_run, shell);
