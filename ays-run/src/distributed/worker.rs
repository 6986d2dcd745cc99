//! The worker's side: reads the `jobs` stream of every repository with work, runs each attempt
//! with the same runtimes as a local run, and publishes its result.
//!
//! - **Threads:** one loop fetches (and heartbeats); `concurrency` threads run attempts.
//! - **Leases:** every attempt a worker holds is renewed every third of its lease. Once a
//!   worker stops renewing (it died, or it hangs), another claims its attempts after the lease
//!   (`claim_idle`: `XAUTOCLAIM` on Redis) and runs them again.
//! - **Code:** a job names its actions file by SHA-256; the worker reads it once from the
//!   repository's store (`code/<sha256>`), checks its hash, and keeps it under
//!   `<dir>/code/<sha256>/<actor>/`. It needs no copy of the repository.
//! - **Stopping:** the worker takes no more jobs and lets the running ones finish. A second
//!   request kills them: they are not reported, so their lease runs out and another worker
//!   runs them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{debug, info, info_span, warn};

use ays_core::{ActionName, ActorName, RunId, ServiceKey};
use ays_store::{Delivery, KvStore, MessageId, MessageQueue, StoreError};

use super::wire::{
    InFlightJob, JOBS_STREAM, JobMessage, RepoRecord, ResultMessage, WIRE_VERSION, WORKERS_GROUP,
    WORKERS_NAMESPACE, WorkerRecord, code_key, parse, sha256_hex, worker_key,
};
use crate::error::{JobKey, RuntimeError, WorkerError};
use crate::job::{ActionRunner, CancelToken, FailureKind, JobContext, JobOutcome};
use crate::plan::JobId;
use crate::runtime::{JobPayload, PayloadSource, PythonMode, PythonRuntime, ShellRuntime};
use crate::store_journal::now_ms;

/// How often a worker looks for repositories with work (one short scan of the registry): the
/// most a new run waits for idle workers to notice it.
const REPOS_EVERY: Duration = Duration::from_millis(100);
/// The most often a worker writes its heartbeat because what it runs changed.
const CHANGES_EVERY: Duration = Duration::from_secs(1);
/// How long a fetch waits for a job on a repository's stream.
const FETCH_BLOCK: Duration = Duration::from_millis(200);

/// How a worker runs. Start from [`WorkerOptions::new`] and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// The store every coordinator and worker reaches (`redis://…`, `redis+cluster://…`).
    pub store: String,
    /// The worker's name, unique among live workers.
    pub name: String,
    /// How many jobs it runs at once.
    pub concurrency: usize,
    /// How long a job it holds may go without a renewal before another worker claims it.
    pub lease: Duration,
    /// Where it keeps actions files and runs jobs.
    pub dir: PathBuf,
    /// Stops it: once, no more jobs, the running ones finish; twice, they are killed.
    pub stop: CancelToken,
}

impl WorkerOptions {
    /// A worker on `store` named `name`, keeping its files in `dir`: 4 jobs at once, a lease of
    /// 30 s.
    pub fn new(store: impl Into<String>, name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Self {
            store: store.into(),
            name: name.into(),
            concurrency: 4,
            lease: Duration::from_secs(30),
            dir: dir.into(),
            stop: CancelToken::new(),
        }
    }
}

/// What a worker did until it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerReport {
    /// Attempts it ran and reported.
    pub done: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
}

/// One repository with work: its queue and store.
struct Repo {
    namespace: String,
    queue: Arc<dyn MessageQueue>,
    store: Arc<dyn KvStore>,
}

/// An attempt handed to a job thread.
struct Task {
    repo: Arc<Repo>,
    delivery: Delivery,
}

/// What the worker holds now, by (repository, message id).
#[derive(Default)]
struct Holding {
    jobs: Mutex<BTreeMap<(String, MessageId), InFlightJob>>,
    freed: Condvar,
    done: Mutex<(u64, u64)>,
}

impl Holding {
    fn count(&self) -> usize {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Runs a worker until `options.stop` is requested.
///
/// # Errors
///
/// [`WorkerError::Store`] when the store cannot be opened or the worker cannot register,
/// [`WorkerError::NameTaken`] when a live worker has its name, [`WorkerError::Invalid`] for a
/// concurrency of zero or a lease under 300 ms.
pub fn run_worker(options: &WorkerOptions) -> Result<WorkerReport, WorkerError> {
    if options.concurrency == 0 {
        return Err(WorkerError::Invalid {
            reason: "a concurrency of 0 runs nothing".to_owned(),
        });
    }
    if options.lease < Duration::from_millis(300) {
        return Err(WorkerError::Invalid {
            reason: format!(
                "a lease of {:?} is too short (300 ms at least)",
                options.lease
            ),
        });
    }
    let store = |source| WorkerError::Store {
        url: options.store.clone(),
        source,
    };
    let registry = ays_store::open_namespaced(&options.store, WORKERS_NAMESPACE).map_err(store)?;
    // A queue on a store without one (redb) is refused here, before registering.
    ays_store::open_queue(&options.store, WORKERS_NAMESPACE).map_err(store)?;
    let mut worker = Worker {
        options: options.clone(),
        registry,
        holding: Arc::new(Holding::default()),
        runtimes: Arc::new(Runtimes::new(options)),
        repos: HashMap::new(),
        claimed_at: HashMap::new(),
        trouble: super::Trouble::default(),
        started_ms: now_ms(),
        host: hostname(),
    };
    worker.register()?;
    info!(name = %options.name, concurrency = options.concurrency, "worker started");
    let (tx, rx) = mpsc::sync_channel::<Task>(0);
    let rx = Arc::new(Mutex::new(rx));
    let threads: Vec<_> = (0..options.concurrency)
        .map(|i| {
            let rx = Arc::clone(&rx);
            let holding = Arc::clone(&worker.holding);
            let runtimes = Arc::clone(&worker.runtimes);
            let name = options.name.clone();
            let stop = options.stop.clone();
            std::thread::Builder::new()
                .name(format!("ays-worker-{i}"))
                .spawn(move || job_thread(&rx, &holding, &runtimes, &name, &stop))
        })
        .collect::<Result<_, _>>()
        .map_err(|source| WorkerError::Thread { source })?;
    worker.fetch(&tx);
    drop(tx);
    info!(running = worker.holding.count(), "worker stopping");
    while worker.holding.count() > 0 {
        // Keep the leases of the jobs that finish while stopping.
        worker.heartbeat();
        let jobs = worker
            .holding
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = worker
            .holding
            .freed
            .wait_timeout(jobs, worker.options.lease / 3);
    }
    for thread in threads {
        let _ = thread.join();
    }
    if let Err(err) = worker.registry.delete(&worker_key(&options.name)) {
        warn!(error = %err, "could not remove the worker's heartbeat");
    }
    let (done, failed) = *worker
        .holding
        .done
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    info!(done, failed, "worker stopped");
    Ok(WorkerReport { done, failed })
}

/// The name a worker gets when it is given none: `HOST-PID`.
pub fn default_worker_name() -> String {
    format!("{}-{}", hostname(), std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

struct Worker {
    options: WorkerOptions,
    registry: Arc<dyn KvStore>,
    holding: Arc<Holding>,
    runtimes: Arc<Runtimes>,
    repos: HashMap<String, Arc<Repo>>,
    /// When each repository's expired jobs were last claimed.
    claimed_at: HashMap<String, Instant>,
    trouble: super::Trouble,
    started_ms: i64,
    host: String,
}

impl Worker {
    fn record(&self) -> Vec<u8> {
        let in_flight = self
            .holding
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let done = self
            .holding
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        let record = WorkerRecord {
            name: self.options.name.clone(),
            host: self.host.clone(),
            pid: std::process::id(),
            concurrency: self.options.concurrency,
            lease_ms: u64::try_from(self.options.lease.as_millis()).unwrap_or(u64::MAX),
            started_ms: self.started_ms,
            heartbeat_ms: now_ms(),
            in_flight,
            done,
        };
        serde_json::to_vec(&record).unwrap_or_default()
    }

    fn register(&self) -> Result<(), WorkerError> {
        let key = worker_key(&self.options.name);
        let placed = self
            .registry
            .put_if_absent(&key, &self.record(), Some(self.options.lease))
            .map_err(|source| WorkerError::Store {
                url: self.options.store.clone(),
                source,
            })?;
        if !placed {
            return Err(WorkerError::NameTaken {
                name: self.options.name.clone(),
            });
        }
        Ok(())
    }

    /// Renews the lease of every job held, and the heartbeat.
    fn heartbeat(&self) {
        let held: Vec<(String, MessageId)> = self
            .holding
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        let mut by_repo: HashMap<&str, Vec<MessageId>> = HashMap::new();
        for (ns, id) in &held {
            by_repo.entry(ns).or_default().push(id.clone());
        }
        for (ns, ids) in by_repo {
            let Some(repo) = self.repos.get(ns) else {
                continue;
            };
            match repo
                .queue
                .renew(JOBS_STREAM, WORKERS_GROUP, &self.options.name, &ids)
            {
                Ok(kept) if kept.len() < ids.len() => warn!(
                    repo = ns,
                    lost = ids.len() - kept.len(),
                    "jobs were claimed by another worker before this one renewed them"
                ),
                Ok(_) => {}
                Err(err) => self.trouble.failed("cannot renew the jobs' lease", &err),
            }
        }
        if let Err(err) = self.registry.put_with_ttl(
            &worker_key(&self.options.name),
            &self.record(),
            self.options.lease,
        ) {
            self.trouble.failed("cannot write the heartbeat", &err);
        }
    }

    /// What the heartbeat shows that changes: jobs held and done.
    fn seen(&self) -> (usize, u64) {
        let done = self
            .holding
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        (self.holding.count(), done)
    }

    /// Reads the repositories with work from the registry.
    fn refresh_repos(&mut self) {
        let mut live = Vec::new();
        for entry in self.registry.scan(b"repo/", 256) {
            match entry {
                Ok((key, value)) => {
                    let ns = String::from_utf8_lossy(key.get(5..).unwrap_or_default()).into_owned();
                    if serde_json::from_slice::<RepoRecord>(&value).is_ok() {
                        live.push(ns);
                    }
                }
                Err(err) => {
                    self.trouble
                        .failed("cannot read the repositories with work", &err);
                    return;
                }
            }
        }
        // Repositories whose run ended are forgotten once this worker holds none of their jobs.
        let holding: Vec<String> = self
            .holding
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .map(|(ns, _)| ns.clone())
            .collect();
        self.repos
            .retain(|ns, _| live.contains(ns) || holding.contains(ns));
        for ns in live {
            if self.repos.contains_key(&ns) {
                continue;
            }
            let opened = ays_store::open_queue(&self.options.store, &ns).and_then(|queue| {
                Ok((queue, ays_store::open_namespaced(&self.options.store, &ns)?))
            });
            match opened {
                Ok((queue, store)) => {
                    debug!(repo = %ns, "serving a repository");
                    self.repos.insert(
                        ns.clone(),
                        Arc::new(Repo {
                            namespace: ns,
                            queue,
                            store,
                        }),
                    );
                }
                Err(err) => warn!(repo = %ns, error = %err, "cannot open a repository's queue"),
            }
        }
    }

    /// Takes jobs while there is room, until stopped.
    fn fetch(&mut self, tx: &SyncSender<Task>) {
        let mut repos_at: Option<Instant> = None;
        let mut beat_at = Instant::now();
        let mut seen = self.seen();
        let lease = self.options.lease;
        while !self.options.stop.is_stopping() {
            if repos_at.is_none_or(|at| at.elapsed() >= REPOS_EVERY) {
                self.refresh_repos();
                repos_at = Some(Instant::now());
            }
            // Every third of the lease, and within a second of a change in what it runs, so
            // that `ays worker list` is current.
            let now_seen = self.seen();
            if beat_at.elapsed() >= lease / 3
                || (now_seen != seen && beat_at.elapsed() >= CHANGES_EVERY)
            {
                seen = now_seen;
                self.heartbeat();
                beat_at = Instant::now();
            }
            let room = self
                .options
                .concurrency
                .saturating_sub(self.holding.count());
            if room == 0 {
                let jobs = self
                    .holding
                    .jobs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let _ = self
                    .holding
                    .freed
                    .wait_timeout(jobs, Duration::from_millis(100));
                continue;
            }
            if self.repos.is_empty() {
                std::thread::sleep(REPOS_EVERY);
                continue;
            }
            let block = if self.repos.len() == 1 {
                FETCH_BLOCK
            } else {
                Duration::ZERO
            };
            let mut taken = 0;
            let names: Vec<String> = self.repos.keys().cloned().collect();
            let started = Instant::now();
            for ns in names {
                let room = self
                    .options
                    .concurrency
                    .saturating_sub(self.holding.count());
                if room == 0 {
                    break;
                }
                taken += self.take(&ns, room, block, tx);
            }
            // Nothing came, at once (several repositories, or a stream being set up again,
            // which Redis answers without waiting): pause rather than spin.
            if taken == 0 && started.elapsed() < Duration::from_millis(20) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Claims the expired jobs of one repository, then reads new ones; returns how many it took.
    fn take(&mut self, ns: &str, room: usize, block: Duration, tx: &SyncSender<Task>) -> usize {
        let lease = self.options.lease;
        let name = self.options.name.clone();
        let Some(repo) = self.repos.get(ns) else {
            return 0;
        };
        let mut deliveries = Vec::new();
        let claimed_at = self.claimed_at.get(ns);
        if claimed_at.is_none_or(|at| at.elapsed() >= lease / 2) {
            self.claimed_at.insert(ns.to_owned(), Instant::now());
            match repo
                .queue
                .claim_idle(JOBS_STREAM, WORKERS_GROUP, &name, lease, room)
            {
                Ok(claimed) => {
                    for d in &claimed {
                        info!(
                            repo = ns,
                            message = %d.id,
                            from = d.previous_consumer.as_deref().unwrap_or("?"),
                            "claimed a job whose lease ran out"
                        );
                    }
                    deliveries.extend(claimed);
                }
                Err(err) => self.trouble.failed("cannot claim expired jobs", &err),
            }
        }
        let room = room.saturating_sub(deliveries.len());
        if room > 0 {
            match repo
                .queue
                .read_group(JOBS_STREAM, WORKERS_GROUP, &name, room, block)
            {
                Ok(read) => {
                    self.trouble.ok();
                    deliveries.extend(read);
                }
                Err(err) => {
                    self.trouble.failed("cannot read jobs", &err);
                    std::thread::sleep(FETCH_BLOCK);
                }
            }
        }
        let repo = Arc::clone(repo);
        let taken = deliveries.len();
        for delivery in deliveries {
            let job = describe(&repo.namespace, &delivery);
            self.holding
                .jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((repo.namespace.clone(), delivery.id.clone()), job);
            if tx
                .send(Task {
                    repo: Arc::clone(&repo),
                    delivery,
                })
                .is_err()
            {
                break;
            }
        }
        taken
    }
}

/// What `ays worker list` shows of a held job (read from its message, best effort).
fn describe(ns: &str, delivery: &Delivery) -> InFlightJob {
    let message = serde_json::from_slice::<JobMessage>(&delivery.body).ok();
    InFlightJob {
        repo: ns.to_owned(),
        run: message.as_ref().map(|m| m.run.clone()).unwrap_or_default(),
        job: message
            .as_ref()
            .map(|m| format!("{}:{}", m.service, m.action))
            .unwrap_or_default(),
        attempt: message.as_ref().map_or(0, |m| m.attempt),
        since_ms: now_ms(),
    }
}

fn job_thread(
    rx: &Mutex<Receiver<Task>>,
    holding: &Holding,
    runtimes: &Runtimes,
    name: &str,
    stop: &CancelToken,
) {
    loop {
        let task = {
            let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
            rx.recv()
        };
        let Ok(Task { repo, delivery }) = task else {
            return;
        };
        let key = (repo.namespace.clone(), delivery.id.clone());
        let reported = run_task(&repo, &delivery, runtimes, name, stop);
        if let Some(ok) = reported {
            let mut done = holding.done.lock().unwrap_or_else(PoisonError::into_inner);
            done.0 += 1;
            if !ok {
                done.1 += 1;
            }
        }
        holding
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        holding.freed.notify_all();
    }
}

/// Runs one delivered attempt and reports it; returns whether it succeeded, or `None` when
/// nothing was reported (a message that is not a job, or a job killed by the worker's stop).
fn run_task(
    repo: &Repo,
    delivery: &Delivery,
    runtimes: &Runtimes,
    name: &str,
    stop: &CancelToken,
) -> Option<bool> {
    let ack = || {
        if let Err(err) = repo.queue.ack(
            JOBS_STREAM,
            WORKERS_GROUP,
            std::slice::from_ref(&delivery.id),
        ) {
            warn!(repo = %repo.namespace, error = %err, "cannot acknowledge a job");
        }
    };
    let message: JobMessage = match serde_json::from_slice::<JobMessage>(&delivery.body) {
        Ok(m) if m.v == WIRE_VERSION => m,
        Ok(m) => {
            warn!(version = m.v, "dropping a job of another version of ays");
            ack();
            return None;
        }
        Err(err) => {
            warn!(error = %err, "dropping a message that is not a job");
            ack();
            return None;
        }
    };
    let span =
        info_span!("job", run = %message.run, service = %message.service, action = %message.action);
    let _entered = span.enter();
    // Tells the coordinator the attempt runs, so that stopping the run waits for it rather than
    // withdrawing it.
    let mut notice = ResultMessage::of(&message, name, &JobOutcome::ok());
    notice.started = true;
    let body = serde_json::to_vec(&notice).unwrap_or_default();
    if let Err(err) = repo.queue.publish(&message.reply, &body) {
        warn!(error = %err, "cannot tell the coordinator that the job starts");
    }
    let outcome = runtimes.run(repo, &message, stop);
    if stop.is_killing() && !outcome.is_ok() {
        // Killed by this worker's stop: not reported, so that its lease runs out and another
        // worker runs it.
        info!("job killed by the worker's stop; another worker will run it");
        return None;
    }
    let mut result = ResultMessage::of(&message, name, &outcome);
    result.deliveries = delivery.deliveries;
    result.claimed_from = delivery.previous_consumer.clone();
    let body = serde_json::to_vec(&result).unwrap_or_default();
    let mut tries = 0;
    loop {
        match repo.queue.publish(&message.reply, &body) {
            Ok(_) => break,
            Err(err) if tries < 5 => {
                tries += 1;
                warn!(error = %err, "cannot publish a result, trying again");
                std::thread::sleep(Duration::from_millis(200 * tries));
            }
            Err(err) => {
                // Left pending: after the lease another worker runs it and reports.
                warn!(error = %err, "cannot publish a result; leaving the job to another worker");
                return None;
            }
        }
    }
    ack();
    Some(outcome.is_ok())
}

/// The runtimes of a worker: one shell and one Python runtime per actions file (by hash), as
/// a local run has one per run.
struct Runtimes {
    dir: PathBuf,
    payloads: Arc<Payloads>,
    shell: Mutex<HashMap<String, ShellRuntime>>,
    python: Mutex<HashMap<String, Arc<PythonRuntime>>>,
    /// Serialises the writing of code files.
    writing: Mutex<()>,
}

/// The payloads of the attempts running now, which the runtimes read.
#[derive(Default)]
struct Payloads(Mutex<HashMap<(String, usize, u32), JobPayload>>);

impl PayloadSource for Payloads {
    fn payload(&self, ctx: &JobContext) -> Result<JobPayload, RuntimeError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(ctx.run().to_string(), ctx.job().index(), ctx.attempt()))
            .cloned()
            .ok_or_else(|| RuntimeError::NoPayload {
                job: ctx.key().clone(),
            })
    }
}

impl Runtimes {
    fn new(options: &WorkerOptions) -> Self {
        Self {
            dir: options.dir.clone(),
            payloads: Arc::default(),
            shell: Mutex::default(),
            python: Mutex::default(),
            writing: Mutex::default(),
        }
    }

    fn run(&self, repo: &Repo, message: &JobMessage, stop: &CancelToken) -> JobOutcome {
        match self.prepare(repo, message) {
            Ok((ctx, payload)) => {
                let slot = (message.run.clone(), message.job, message.attempt);
                self.payloads
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(slot.clone(), payload);
                let ctx = ctx.with_cancel(stop.clone());
                let outcome = match message.runtime.as_str() {
                    "python" => self.python(&message.code).run(&ctx),
                    _ => self.shell(&message.code).run(&ctx),
                };
                self.payloads
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&slot);
                outcome
            }
            Err(why) => JobOutcome::failed(FailureKind::Runtime, why),
        }
    }

    fn shell(&self, sha: &str) -> ShellRuntime {
        let mut shells = self.shell.lock().unwrap_or_else(PoisonError::into_inner);
        shells
            .entry(sha.to_owned())
            .or_insert_with(|| {
                ShellRuntime::new(self.dir.join("work"))
                    .with_actors_dir(self.dir.join("code").join(sha))
                    .with_payload(self.payloads.clone())
            })
            .clone()
    }

    fn python(&self, sha: &str) -> Arc<PythonRuntime> {
        let mut pythons = self.python.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(pythons.entry(sha.to_owned()).or_insert_with(|| {
            Arc::new(
                PythonRuntime::new(self.dir.join("work"), PythonMode::default())
                    .with_actors_dir(self.dir.join("code").join(sha))
                    .with_payload(self.payloads.clone()),
            )
        }))
    }

    /// The job's context and payload, with its actions file in place.
    fn prepare(&self, repo: &Repo, m: &JobMessage) -> Result<(JobContext, JobPayload), String> {
        let run: RunId = parse("run", &m.run)?;
        let key = JobKey {
            service: parse::<ServiceKey>("service", &m.service)?,
            action: parse::<ActionName>("action", &m.action)?,
        };
        let actor: ActorName = parse("actor", &m.actor)?;
        let mut ctx = JobContext::new(run, key, actor.clone(), Duration::from_millis(m.timeout_ms));
        ctx.job = JobId(m.job);
        ctx.attempt = m.attempt;
        let payload = m.payload.payload()?;
        self.code(repo, m, &actor)?;
        Ok((ctx, payload))
    }

    /// Makes sure `<dir>/code/<sha>/<actor>/actions.sh|py` holds the job's actions file.
    fn code(&self, repo: &Repo, m: &JobMessage, actor: &ActorName) -> Result<(), String> {
        let file = if m.runtime == "python" {
            "actions.py"
        } else {
            "actions.sh"
        };
        let dir = self.dir.join("code").join(&m.code).join(actor.as_str());
        let path = dir.join(file);
        if path.exists() {
            return Ok(());
        }
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        if path.exists() {
            return Ok(());
        }
        let text = repo
            .store
            .get(&code_key(&m.code))
            .map_err(|e: StoreError| format!("cannot read its actions file from the store: {e}"))?
            .ok_or_else(|| format!("its actions file `code/{}` is not in the store", m.code))?;
        let got = sha256_hex(&text);
        if got != m.code {
            return Err(format!(
                "its actions file `code/{}` in the store has hash {got}: refusing to run it",
                m.code
            ));
        }
        let write = |name: &str, bytes: &[u8]| -> Result<(), String> {
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&tmp, bytes))
                .and_then(|()| std::fs::rename(&tmp, dir.join(name)))
                .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
        };
        if let Some(origin) = &m.origin {
            write(&format!("{file}.origin"), origin.as_bytes())?;
        }
        std::fs::create_dir_all(self.dir.join("work"))
            .map_err(|e| format!("cannot make {}: {e}", self.dir.join("work").display()))?;
        write(file, &text)
    }
}
