//! Runs whose jobs execute on workers (`RunOptions::workers`), through the in-memory message
//! queue of a `mem://NAME` store that the run and the workers (threads here) share. The same
//! code over Redis, with worker processes killed, is tested through the `ays` binary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ays_core::testing::{TestRepo, TestResult};
use ays_core::{ApplyOptions, InitOptions, JobLogCategory, JobState, Repository};
use ays_run::distributed::{WorkerOptions, WorkerReport, list_workers, run_worker};
use ays_run::{CancelToken, FailurePolicy, RunOptions, create_run, show_run};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A repository on a fresh `mem://NAME` store, and that URL.
fn repo() -> Result<(TestRepo, String), Box<dyn std::error::Error>> {
    let url = format!(
        "mem://distributed-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let dir = tempfile::tempdir()?;
    let repo = Repository::init(
        dir.path(),
        InitOptions {
            store_url: Some(url.clone()),
            ..InitOptions::default()
        },
    )?;
    Ok((TestRepo::wrap(repo, dir), url))
}

struct Running {
    stop: CancelToken,
    handle: JoinHandle<Result<WorkerReport, ays_run::WorkerError>>,
    _dir: tempfile::TempDir,
}

fn worker(url: &str, name: &str, lease: Duration) -> Result<Running, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut options = WorkerOptions::new(url, name, dir.path());
    options.concurrency = 3;
    options.lease = lease;
    let stop = options.stop.clone();
    let handle = std::thread::spawn(move || run_worker(&options));
    Ok(Running {
        stop,
        handle,
        _dir: dir,
    })
}

fn stop(running: Running) -> Result<WorkerReport, Box<dyn std::error::Error>> {
    running.stop.request();
    Ok(running.handle.join().map_err(|_| "worker panicked")??)
}

#[test]
fn workers_run_shell_and_python_jobs_with_their_data_patches() -> TestResult {
    let (t, url) = repo()?;
    crate::support::write_data_patch_repo(&t)?;
    let (w1, w2) = (
        worker(&url, "w1", Duration::from_secs(5))?,
        worker(&url, "w2", Duration::from_secs(5))?,
    );
    let mut o = RunOptions::default();
    o.failure = FailurePolicy::KeepGoing;
    o.workers = true;
    let outcome = create_run(&t.repo, &o)?;
    let alive: Vec<String> = list_workers(&url)?.into_iter().map(|w| w.name).collect();
    assert_eq!(alive, ["w1", "w2"]);
    let done = stop(w1)?.done + stop(w2)?.done;
    assert_eq!(done, 6, "each of the 6 jobs ran once, on a worker");
    assert!(list_workers(&url)?.is_empty(), "stopped workers leave");

    crate::support::check_data_patches(&t, &outcome.id)?;
    let jobs = show_run(&t.repo, &outcome.id)?.jobs;
    for j in &jobs {
        assert!(
            j.logs
                .iter()
                .any(|l| l.message.starts_with("ran on worker `w")),
            "{}: {:?}",
            j.service,
            j.logs
        );
    }
    let failed = jobs
        .iter()
        .find(|j| j.service.as_str() == "shapp!s" && j.action.as_str() == "fail")
        .ok_or("no fail job")?;
    assert!(
        failed
            .logs
            .iter()
            .any(|l| l.category == JobLogCategory::Err && l.message.contains("boom")),
        "{:?}",
        failed.logs
    );
    Ok(())
}

/// A consumer that takes jobs and dies without a word: its jobs are claimed after the lease,
/// run by a live worker, and their logs name both.
#[test]
fn a_dead_workers_jobs_are_claimed_after_its_lease() -> TestResult {
    let (t, url) = repo()?;
    t.write(
        "actorTemplates/node/actions.sh",
        "install() {\n    echo installed\n}\n",
    )?;
    let mut bp = String::new();
    for i in 0..8 {
        bp.push_str(&format!("node__n{i}:\n"));
    }
    bp.push_str("actions:\n  - action: install\n");
    t.repo
        .apply_blueprint_text("bp.yaml", &bp, ApplyOptions::default())?;
    let repo = t.repo.clone();
    let run = std::thread::spawn(move || {
        let mut o = RunOptions::default();
        o.workers = true;
        create_run(&repo, &o)
    });
    // The ghost takes three jobs as soon as they are published, and never acknowledges them.
    let queue = ays_store::open_queue(&url, t.repo.id())?;
    let started = Instant::now();
    let mut ghost = Vec::new();
    while ghost.len() < 3 && started.elapsed() < Duration::from_secs(10) {
        ghost.extend(queue.read_group(
            "jobs",
            "workers",
            "ghost",
            3 - ghost.len(),
            Duration::from_millis(100),
        )?);
    }
    assert_eq!(ghost.len(), 3, "the run published its jobs");
    let live = worker(&url, "live", Duration::from_millis(600))?;
    let outcome = run.join().map_err(|_| "run panicked")??;
    let report = stop(live)?;
    assert_eq!(report.done, 8);
    let jobs = show_run(&t.repo, &outcome.id)?.jobs;
    assert!(jobs.iter().all(|j| j.state == JobState::Ok), "{jobs:?}");
    let claimed = jobs
        .iter()
        .filter(|j| {
            j.logs.iter().any(|l| {
                l.message
                    .contains("after worker `ghost` held it past its lease")
            })
        })
        .count();
    assert_eq!(claimed, 3, "the ghost's three jobs were claimed");
    Ok(())
}

#[test]
fn a_store_without_a_queue_is_refused_with_a_reason() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("redb://{}", dir.path().join("s.redb").display());
    let err = run_worker(&WorkerOptions::new(&url, "w", dir.path()))
        .err()
        .ok_or("a worker on redb started")?;
    let text = format!("{err}: {}", err_chain(&err));
    assert!(text.contains("no message queue"), "{text}");
    Ok(())
}

fn err_chain(err: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push(c.to_string());
        cause = c.source();
    }
    out.join(": ")
}

/// A worker enforces an action's timeout by killing it; the time an attempt waits in the queue
/// for a free worker does not count against it.
#[test]
fn time_queued_does_not_count_against_the_timeout() -> TestResult {
    let (t, url) = repo()?;
    t.write(
        "actorTemplates/node/config.yaml",
        "timeouts:\n  install: 1s\n",
    )?;
    t.write(
        "actorTemplates/node/actions.sh",
        "install() {\n    if [ \"$AYS_SERVICE\" = node!slow ]; then sleep 5; else sleep 0.4; fi\n}\n",
    )?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "node__a:\nnode__b:\nnode__c:\nnode__d:\nnode__slow:\nactions:\n  - action: install\n",
        ApplyOptions::default(),
    )?;
    let dir = tempfile::tempdir()?;
    let mut options = WorkerOptions::new(&url, "one", dir.path());
    options.concurrency = 1;
    let stop_token = options.stop.clone();
    let handle = std::thread::spawn(move || run_worker(&options));
    let mut o = RunOptions::default();
    o.workers = true;
    let outcome = create_run(&t.repo, &o)?;
    stop_token.request();
    handle.join().map_err(|_| "worker panicked")??;
    let states: std::collections::BTreeMap<String, JobState> = show_run(&t.repo, &outcome.id)?
        .jobs
        .into_iter()
        .map(|j| (j.service.to_string(), j.state))
        .collect();
    // One at a time, the last of a, b, c and d waited well over 1 s in the queue.
    assert_eq!(
        states,
        [
            ("node!a", JobState::Ok),
            ("node!b", JobState::Ok),
            ("node!c", JobState::Ok),
            ("node!d", JobState::Ok),
            ("node!slow", JobState::Error),
        ]
        .into_iter()
        .map(|(s, st)| (s.to_owned(), st))
        .collect()
    );
    let slow = show_run(&t.repo, &outcome.id)?
        .jobs
        .into_iter()
        .find(|j| j.service.as_str() == "node!slow")
        .ok_or("no slow job")?;
    assert!(
        slow.logs
            .iter()
            .any(|l| l.message.contains("timeout") || l.message.contains("timed out")),
        "{:?}",
        slow.logs
    );
    Ok(())
}

/// A repository with `n` services whose `install` sleeps `sleep`.
fn sleepers(n: usize, sleep: &str) -> Result<(TestRepo, String), Box<dyn std::error::Error>> {
    let (t, url) = repo()?;
    t.write(
        "actorTemplates/node/actions.sh",
        &format!("install() {{\n    sleep {sleep}\n}}\n"),
    )?;
    let mut bp = String::new();
    for i in 0..n {
        bp.push_str(&format!("node__n{i}:\n"));
    }
    bp.push_str("actions:\n  - action: install\n");
    t.repo
        .apply_blueprint_text("bp.yaml", &bp, ApplyOptions::default())?;
    Ok((t, url))
}

/// Stopping a run (Ctrl-C once) waits for the attempts workers run, and takes back those no
/// worker started: they run when the run is resumed, not before.
#[test]
fn stopping_a_run_withdraws_what_no_worker_started() -> TestResult {
    let (t, url) = sleepers(6, "0.5")?;
    let dir = tempfile::tempdir()?;
    let mut options = WorkerOptions::new(&url, "one", dir.path());
    options.concurrency = 1;
    let stop_worker = options.stop.clone();
    let handle = std::thread::spawn(move || run_worker(&options));
    let cancel = CancelToken::new();
    let repo = t.repo.clone();
    let token = cancel.clone();
    let run = std::thread::spawn(move || {
        let mut o = RunOptions::default();
        o.workers = true;
        o.cancel = Some(token);
        create_run(&repo, &o)
    });
    // Once the first job runs, stop the run.
    let queue = ays_store::open_queue(&url, t.repo.id())?;
    let started = Instant::now();
    while queue.pending("jobs", "workers")?.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no job started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    cancel.request();
    let outcome = join_within(run, Duration::from_secs(60))??;
    let ran = outcome
        .report
        .as_ref()
        .ok_or("no report")?
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Ok)
        .count();
    assert!(
        (1..=2).contains(&ran),
        "the running job finished, the queued ones did not run: {ran}"
    );
    let done_before = list_workers(&url)?.first().map_or(0, |w| w.done);
    // Resumed: every job ends ok.
    let mut o = RunOptions::default();
    o.workers = true;
    let resumed = ays_run::resume_run(&t.repo, &o)?;
    stop_worker.request();
    let report = handle.join().map_err(|_| "worker panicked")??;
    assert!(
        show_run(&t.repo, &resumed.id)?
            .jobs
            .iter()
            .all(|j| j.state == JobState::Ok)
    );
    assert!(
        report.done <= 7,
        "withdrawn jobs did not run before the resume ({done_before} then {})",
        report.done
    );
    Ok(())
}

/// A job's message that disappears from the stream with no result (lost in a failover) is
/// published again, and the run completes.
#[test]
fn a_lost_message_is_published_again() -> TestResult {
    let (t, url) = sleepers(3, "0.1")?;
    let repo = t.repo.clone();
    let run = std::thread::spawn(move || {
        let mut o = RunOptions::default();
        o.workers = true;
        create_run(&repo, &o)
    });
    // A thief takes one message and deletes it, as a failover that lost it would.
    let queue = ays_store::open_queue(&url, t.repo.id())?;
    let started = Instant::now();
    let stolen = loop {
        let got = queue.read_group("jobs", "workers", "thief", 1, Duration::from_millis(100))?;
        if let Some(d) = got.into_iter().next() {
            break d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nothing published"
        );
    };
    queue.ack("jobs", "workers", std::slice::from_ref(&stolen.id))?;
    let live = worker(&url, "live", Duration::from_secs(5))?;
    let outcome = join_within(run, Duration::from_secs(60))??;
    let report = stop(live)?;
    assert_eq!(report.done, 3, "the lost job ran too");
    assert!(
        show_run(&t.repo, &outcome.id)?
            .jobs
            .iter()
            .all(|j| j.state == JobState::Ok)
    );
    Ok(())
}

/// The result of `handle`'s thread, failing the test if it takes longer than `limit`.
fn join_within<T>(handle: JoinHandle<T>, limit: Duration) -> Result<T, Box<dyn std::error::Error>> {
    let started = Instant::now();
    while !handle.is_finished() {
        if started.elapsed() > limit {
            return Err(format!("still running after {limit:?}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    handle.join().map_err(|_| "the thread panicked".into())
}

/// `workers: true` in the repository's config sends its runs to workers without being asked.
#[test]
fn a_repository_config_can_ask_for_workers() -> TestResult {
    let (t, url) = sleepers(2, "0")?;
    let config = t.root().join(".ays/config.yaml");
    let text = std::fs::read_to_string(&config)?;
    std::fs::write(&config, format!("{text}workers: true\n"))?;
    let repo = Repository::open(
        t.root(),
        ays_core::OpenOptions {
            store_url: Some(url.clone()),
        },
    )?;
    assert!(repo.workers());
    let live = worker(&url, "w", Duration::from_secs(5))?;
    let outcome = create_run(&repo, &RunOptions::default())?;
    assert_eq!(stop(live)?.done, 2);
    for j in show_run(&repo, &outcome.id)?.jobs {
        assert!(
            j.logs
                .iter()
                .any(|l| l.message.starts_with("ran on worker `w`")),
            "{:?}",
            j.logs
        );
    }
    Ok(())
}

/// A journal that fails its first commit after a job ended, as a store in a failover would.
struct FailingJournal {
    inner: ays_run::MemoryJournal,
    ended: AtomicUsize,
}

impl ays_run::Journal for FailingJournal {
    fn run_started(
        &self,
        run: &ays_core::RunId,
        plan: &ays_run::Plan,
    ) -> Result<(), ays_run::JournalError> {
        self.inner.run_started(run, plan)
    }
    fn step_started(
        &self,
        run: &ays_core::RunId,
        step: usize,
    ) -> Result<(), ays_run::JournalError> {
        self.inner.step_started(run, step)
    }
    fn job_started(
        &self,
        run: &ays_core::RunId,
        job: &ays_run::PlannedJob,
    ) -> Result<(), ays_run::JournalError> {
        self.inner.job_started(run, job)
    }
    fn job_attempt_finished(
        &self,
        run: &ays_core::RunId,
        job: &ays_run::PlannedJob,
        attempt: &ays_run::Attempt,
    ) -> Result<(), ays_run::JournalError> {
        self.inner.job_attempt_finished(run, job, attempt)
    }
    fn job_finished(
        &self,
        run: &ays_core::RunId,
        job: &ays_run::PlannedJob,
        state: JobState,
        outcome: &ays_run::JobOutcome,
    ) -> Result<(), ays_run::JournalError> {
        self.ended.fetch_add(1, Ordering::SeqCst);
        self.inner.job_finished(run, job, state, outcome)
    }
    fn step_finished(
        &self,
        run: &ays_core::RunId,
        step: usize,
        state: JobState,
    ) -> Result<(), ays_run::JournalError> {
        self.inner.step_finished(run, step, state)
    }
    fn run_finished(
        &self,
        run: &ays_core::RunId,
        state: JobState,
    ) -> Result<(), ays_run::JournalError> {
        self.inner.run_finished(run, state)
    }
    fn flush(&self, run: &ays_core::RunId) -> Result<(), ays_run::JournalError> {
        if self.ended.load(Ordering::SeqCst) > 0 {
            return Err(ays_run::JournalError::Stopped {
                run: run.clone(),
                what: "flush",
                source: "the store is failing over".into(),
            });
        }
        Ok(())
    }
}

/// When the journal fails, the run stops like a first Ctrl-C: the attempts no worker started
/// are taken back rather than run for nothing (their ends could not be recorded).
#[test]
fn a_failing_journal_withdraws_what_no_worker_started() -> TestResult {
    let (t, url) = sleepers(6, "0.3")?;
    let dir = tempfile::tempdir()?;
    let mut options = WorkerOptions::new(&url, "one", dir.path());
    options.concurrency = 1;
    let stop_worker = options.stop.clone();
    let handle = std::thread::spawn(move || run_worker(&options));
    let plan = ays_run::Planner::new().plan(&ays_run::plan_input(&t.repo)?)?;
    let run: ays_core::RunId = "journal-fails".parse()?;
    let mut o = RunOptions::default();
    o.workers = true;
    let runner = ays_run::RepositoryRunner::prepare(&t.repo, &run, &plan, &o)?;
    let mut config = ays_run::ExecConfig::default();
    config.max_parallel = 16;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(16).build()?;
    let executor = ays_run::Executor::new(
        std::sync::Arc::new(pool),
        std::sync::Arc::new(ays_run::SystemClock::new()),
        config,
    );
    let journal = FailingJournal {
        inner: ays_run::MemoryJournal::new(),
        ended: AtomicUsize::new(0),
    };
    let started = Instant::now();
    let result = executor.run(&run, &plan, &runner, &journal);
    assert!(result.is_err(), "the journal's failure stops the run");
    drop(runner);
    stop_worker.request();
    let report = join_within(handle, Duration::from_secs(30))??;
    assert!(
        report.done <= 2,
        "only what the worker had started ran: {} of 6 in {:?}",
        report.done,
        started.elapsed()
    );
    Ok(())
}
