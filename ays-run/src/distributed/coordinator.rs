//! The coordinator's side: a [`Dispatcher`] that publishes each attempt to the repository's
//! `jobs` stream and waits for a worker's result on the run's reply stream.
//!
//! The executor is unchanged: it still decides what is ready, journals every change and
//! group-commits; only where an attempt runs differs. Each waiting attempt holds a pool thread
//! blocked on a channel; one thread reads the reply stream and hands each result to its
//! waiter. A result nobody waits for (a duplicate, after a worker's lease ran out while it was
//! merely slow) is dropped: the first result of an attempt is the one recorded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use ays_core::{ActorName, Repository, RunId, Runtime};
use ays_store::{KvStore, MessageId, MessageQueue};

use super::wire::{
    JOBS_STREAM, JobMessage, PayloadWire, RepoRecord, ResultMessage, WIRE_VERSION, WORKERS_GROUP,
    WORKERS_NAMESPACE, WorkerRecord, code_key, repo_key, runtime_name, sha256_hex,
};
use crate::dispatch::Dispatcher;
use crate::error::RunError;
use crate::job::{FailureKind, JobContext, JobOutcome};
use crate::runtime::PayloadSource;

/// How often the coordinator says again that its repository has work.
const ADVERTISE_EVERY: Duration = Duration::from_secs(5);
/// How long that lasts when the coordinator dies.
const ADVERTISE_TTL: Duration = Duration::from_secs(30);
/// How long reading results may fail before the waiting attempts fail.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);
/// How often a coordinator with waiting attempts and no live worker says so.
const NO_WORKER_WARNING: Duration = Duration::from_secs(10);

/// An actor's actions file of one runtime, by content address.
#[derive(Debug, Clone)]
struct Code {
    sha: String,
    origin: Option<String>,
}

/// How long an attempt's message may be missing from the jobs stream, with no result, before
/// it is taken as lost (a failover within its loss window) and published again.
const LOST_AFTER: Duration = Duration::from_secs(10);

/// An attempt waiting for its result.
#[derive(Debug)]
struct Slot {
    tx: Sender<ResultMessage>,
    /// Its message in the jobs stream, once published.
    id: Option<MessageId>,
    body: Arc<Vec<u8>>,
    /// Whether a worker said it started it.
    started: bool,
    /// When its message was first seen missing from the stream with no result.
    missing_since: Option<Instant>,
}

type Waiters = Mutex<HashMap<(usize, u32), Slot>>;

#[derive(Debug, Default)]
struct Shared {
    waiters: Waiters,
    stop: AtomicBool,
    /// Why results can no longer be read, once reading failed for [`GIVE_UP_AFTER`].
    broken: Mutex<Option<String>>,
}

/// Publishes attempts to workers through the repository's message queue.
pub(crate) struct StreamDispatcher {
    queue: Arc<dyn MessageQueue>,
    namespace: String,
    run: RunId,
    reply: String,
    payload: Arc<dyn PayloadSource>,
    codes: HashMap<(ActorName, Runtime), Code>,
    shared: Arc<Shared>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for StreamDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDispatcher")
            .field("namespace", &self.namespace)
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

fn store_error(run: &RunId, doing: &'static str) -> impl FnOnce(ays_store::StoreError) -> RunError {
    let run = run.clone();
    move |source| RunError::Dispatch { run, doing, source }
}

impl StreamDispatcher {
    /// A dispatcher for run `run` of `repo`, whose actions files were written under `dir`
    /// (`<dir>/<actor>/actions.sh|py`) for the actors `actors`: stores each file once at
    /// `code/<sha256>`, empties the repository's `jobs` stream of what an earlier, dead
    /// coordinator left (the run lock makes this coordinator the only one), and starts reading
    /// results.
    pub(crate) fn start<'n>(
        repo: &Repository,
        run: &RunId,
        dir: &Path,
        actors: impl IntoIterator<Item = &'n ActorName>,
        payload: Arc<dyn PayloadSource>,
    ) -> Result<Self, RunError> {
        let url = repo.store_url();
        let namespace = repo.id().to_owned();
        let queue =
            ays_store::open_queue(url, &namespace).map_err(store_error(run, "open its queue"))?;
        let registry = ays_store::open_namespaced(url, WORKERS_NAMESPACE)
            .map_err(store_error(run, "open the workers' registry"))?;
        let mut codes = HashMap::new();
        for actor in actors {
            for (runtime, file) in [
                (Runtime::Shell, "actions.sh"),
                (Runtime::Python, "actions.py"),
            ] {
                let path = dir.join(actor.as_str()).join(file);
                let Ok(text) = std::fs::read(&path) else {
                    continue;
                };
                let sha = sha256_hex(&text);
                let key = code_key(&sha);
                if repo
                    .store()
                    .get(&key)
                    .map_err(store_error(run, "read its stored code"))?
                    .is_none()
                {
                    repo.store()
                        .put(&key, &text)
                        .map_err(store_error(run, "store its code for the workers"))?;
                }
                let origin = std::fs::read_to_string(
                    dir.join(actor.as_str()).join(format!("{file}.origin")),
                )
                .ok();
                codes.insert((actor.clone(), runtime), Code { sha, origin });
            }
        }
        queue
            .reset(JOBS_STREAM)
            .and_then(|_| queue.create_group(JOBS_STREAM, WORKERS_GROUP))
            .map_err(store_error(run, "set up its jobs stream"))?;
        let reply = format!("results/{run}");
        queue
            .reset(&reply)
            .map_err(store_error(run, "set up its results stream"))?;
        let shared = Arc::new(Shared::default());
        let reader = Reader {
            queue: Arc::clone(&queue),
            registry,
            namespace: namespace.clone(),
            run: run.clone(),
            reply: reply.clone(),
            shared: Arc::clone(&shared),
        };
        reader.advertise();
        let handle = std::thread::Builder::new()
            .name("ays-results".to_owned())
            .spawn(move || reader.read())
            .map_err(|source| RunError::ResultsReader {
                run: run.clone(),
                source,
            })?;
        Ok(Self {
            queue,
            namespace,
            run: run.clone(),
            reply,
            payload,
            codes,
            shared,
            reader: Mutex::new(Some(handle)),
        })
    }

    /// The message of the attempt of `ctx`, or why there is none.
    fn message(&self, ctx: &JobContext, runtime: Runtime) -> Result<JobMessage, String> {
        let code = self
            .codes
            .get(&(ctx.actor().clone(), runtime))
            .ok_or_else(|| {
                format!(
                    "no {} actions file of actor `{}` to send to the workers",
                    runtime_name(runtime),
                    ctx.actor()
                )
            })?;
        let payload = self
            .payload
            .payload(ctx)
            .map_err(|err| ays_core::JobLog::error_text(&err))?;
        Ok(JobMessage {
            v: WIRE_VERSION,
            repo: self.namespace.clone(),
            run: self.run.to_string(),
            job: ctx.job().index(),
            attempt: ctx.attempt(),
            service: ctx.service().to_string(),
            actor: ctx.actor().to_string(),
            action: ctx.action().to_string(),
            timeout_ms: u64::try_from(ctx.timeout().as_millis()).unwrap_or(u64::MAX),
            runtime: runtime_name(runtime).to_owned(),
            code: code.sha.clone(),
            origin: code.origin.clone(),
            payload: PayloadWire::of(&payload),
            reply: self.reply.clone(),
        })
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, u32), Slot>> {
        self.shared
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes back the attempt `slot` if no worker has started it: removes its message from the
    /// jobs stream and stops waiting. Returns whether it did. A worker that read the message
    /// just before may still run it; its result is then ignored, and a resume runs the job.
    fn withdraw(&self, slot: (usize, u32)) -> bool {
        let id = {
            let mut waiters = self.waiters();
            match waiters.get(&slot) {
                Some(s) if !s.started => {
                    let id = s.id.clone();
                    waiters.remove(&slot);
                    id
                }
                _ => return false,
            }
        };
        if let Some(id) = id
            && let Err(err) = self.queue.ack(JOBS_STREAM, WORKERS_GROUP, &[id])
        {
            warn!(error = %err, "could not withdraw a job from the workers' stream");
        }
        true
    }
}

impl Dispatcher for StreamDispatcher {
    fn dispatch(&self, ctx: &JobContext, runtime: Runtime) -> JobOutcome {
        let message = match self.message(ctx, runtime) {
            Ok(message) => message,
            Err(why) => return JobOutcome::failed(FailureKind::Runtime, why),
        };
        let body = match serde_json::to_vec(&message) {
            Ok(body) => body,
            Err(err) => {
                return JobOutcome::failed(
                    FailureKind::Runtime,
                    format!("cannot encode the job for the workers: {err}"),
                );
            }
        };
        let slot = (ctx.job().index(), ctx.attempt());
        let (tx, rx) = mpsc::channel();
        let body = Arc::new(body);
        self.waiters().insert(
            slot,
            Slot {
                tx,
                id: None,
                body: Arc::clone(&body),
                started: false,
                missing_since: None,
            },
        );
        match self.queue.publish(JOBS_STREAM, &body) {
            Ok(id) => {
                if let Some(s) = self.waiters().get_mut(&slot) {
                    s.id = Some(id);
                }
            }
            Err(err) => {
                self.waiters().remove(&slot);
                return JobOutcome::failed(
                    FailureKind::Runtime,
                    format!(
                        "cannot publish the job to the workers: {}",
                        ays_core::JobLog::error_text(&err)
                    ),
                );
            }
        }
        debug!(job = %ctx.key(), attempt = ctx.attempt(), "published to the workers");
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(result) => return result.outcome(),
                Err(RecvTimeoutError::Timeout) => {
                    if ctx.cancel().is_killing() {
                        self.waiters().remove(&slot);
                        return JobOutcome::failed(
                            FailureKind::Killed,
                            "killed: stopped waiting for its worker, where it may still run",
                        );
                    }
                    if (ctx.cancel().is_stopping() || ctx.is_halted()) && self.withdraw(slot) {
                        return JobOutcome::failed(
                            FailureKind::Killed,
                            "withdrawn: the run stopped before a worker started it",
                        );
                    }
                    let broken = self
                        .shared
                        .broken
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    if let Some(why) = broken {
                        self.waiters().remove(&slot);
                        return JobOutcome::failed(FailureKind::Runtime, why);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return JobOutcome::failed(
                        FailureKind::Runtime,
                        "the coordinator stopped reading results",
                    );
                }
            }
        }
    }
}

impl Drop for StreamDispatcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the reader from its blocking read (an empty message is not a result).
        if let Err(err) = self.queue.publish(&self.reply, b"") {
            debug!(error = %err, "could not wake the results reader");
        }
        let handle = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        if let Err(err) = self.queue.reset(&self.reply) {
            warn!(error = %err, "could not remove the run's results stream");
        }
    }
}

/// The thread reading the reply stream.
struct Reader {
    queue: Arc<dyn MessageQueue>,
    registry: Arc<dyn KvStore>,
    namespace: String,
    run: RunId,
    reply: String,
    shared: Arc<Shared>,
}

impl Reader {
    /// Tells workers that the repository has work (`repo/<namespace>`).
    fn advertise(&self) {
        let record = RepoRecord {
            run: self.run.to_string(),
        };
        let body = serde_json::to_vec(&record).unwrap_or_default();
        if let Err(err) =
            self.registry
                .put_with_ttl(&repo_key(&self.namespace), &body, ADVERTISE_TTL)
        {
            warn!(error = %err, "could not tell the workers about the run");
        }
    }

    /// Whether some worker is alive.
    fn any_worker(&self) -> bool {
        self.registry
            .scan_prefix(b"worker/", None, 1)
            .is_ok_and(|page| !page.entries.is_empty())
    }

    /// Publishes again the attempts whose message has been missing from the jobs stream, with
    /// no result, for [`LOST_AFTER`]. A worker publishes its result before it removes the
    /// message, so a message that is gone with no result read since was lost.
    fn republish_lost(&self, after: &MessageId) {
        let slots: Vec<((usize, u32), MessageId)> = self
            .shared
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|(k, s)| s.id.clone().map(|id| (*k, id)))
            .collect();
        for (slot, id) in slots {
            let present = match self
                .queue
                .read(JOBS_STREAM, &before(&id), 1, Duration::ZERO)
            {
                Ok(found) => found.first().is_some_and(|m| m.id == id),
                // The store fails: nothing to conclude.
                Err(_) => continue,
            };
            // Results published before now are read before a loss is concluded.
            if !present && self.drain(after) {
                continue;
            }
            let mut waiters = self
                .shared
                .waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(s) = waiters.get_mut(&slot) else {
                continue;
            };
            if present {
                s.missing_since = None;
                continue;
            }
            let since = *s.missing_since.get_or_insert_with(Instant::now);
            if since.elapsed() < LOST_AFTER {
                continue;
            }
            let body = Arc::clone(&s.body);
            drop(waiters);
            warn!(
                job = slot.0,
                attempt = slot.1,
                "a job's message is gone from the workers' stream with no result (lost in a \
                 failover?): publishing it again"
            );
            match self.queue.publish(JOBS_STREAM, &body) {
                Ok(new) => {
                    if let Some(s) = self
                        .shared
                        .waiters
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_mut(&slot)
                    {
                        s.id = Some(new);
                        s.started = false;
                        s.missing_since = None;
                    }
                }
                Err(err) => warn!(error = %err, "cannot publish a lost job again"),
            }
        }
    }

    /// Whether results are waiting to be read after `after` (then a check is put off).
    fn drain(&self, after: &MessageId) -> bool {
        self.queue
            .read(&self.reply, after, 1, Duration::ZERO)
            .is_ok_and(|found| !found.is_empty())
    }

    fn read(self) {
        let mut after = MessageId::start();
        let mut advertised = Instant::now();
        let mut checked = Instant::now();
        let trouble = super::Trouble::default();
        let mut warned = Instant::now();
        while !self.shared.stop.load(Ordering::SeqCst) {
            if advertised.elapsed() >= ADVERTISE_EVERY {
                self.advertise();
                advertised = Instant::now();
            }
            if checked.elapsed() >= LOST_AFTER / 4 {
                self.republish_lost(&after);
                checked = Instant::now();
            }
            match self
                .queue
                .read(&self.reply, &after, 512, Duration::from_millis(200))
            {
                Ok(messages) => {
                    trouble.ok();
                    for message in messages {
                        after = message.id.clone();
                        self.deliver(&message.body);
                    }
                }
                Err(err) => {
                    trouble.failed("cannot read results from the workers", &err);
                    if trouble.failing_for() >= Some(GIVE_UP_AFTER) {
                        *self
                            .shared
                            .broken
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = Some(format!(
                            "cannot read results from the workers: {}",
                            ays_core::JobLog::error_text(&err)
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            let waiting = !self
                .shared
                .waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty();
            if waiting && warned.elapsed() >= NO_WORKER_WARNING {
                warned = Instant::now();
                if !self.any_worker() {
                    warn!(
                        run = %self.run,
                        "jobs wait for a worker, and none is alive: start one with \
                         `ays worker --store URL`"
                    );
                }
            }
        }
        if let Err(err) = self.registry.delete(&repo_key(&self.namespace)) {
            debug!(error = %err, "could not withdraw the run from the workers");
        }
    }

    fn deliver(&self, body: &[u8]) {
        if body.is_empty() {
            return;
        }
        let result: ResultMessage = match serde_json::from_slice(body) {
            Ok(result) => result,
            Err(err) => {
                warn!(error = %err, "dropping a result that is not one");
                return;
            }
        };
        if result.run != self.run.as_str() {
            return;
        }
        let mut waiters = self
            .shared
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = (result.job, result.attempt);
        if result.started {
            if let Some(s) = waiters.get_mut(&slot) {
                s.started = true;
            }
            return;
        }
        match waiters.remove(&slot) {
            Some(s) => {
                let _ = s.tx.send(result);
            }
            None => debug!(
                job = result.job,
                attempt = result.attempt,
                worker = %result.worker,
                "dropping a second result of an attempt"
            ),
        }
    }
}

/// The workers whose heartbeat is in the store at `url`, by name.
///
/// # Errors
///
/// [`ays_store::StoreError`] when the store cannot be opened or read.
pub fn list_workers(url: &str) -> Result<Vec<WorkerRecord>, ays_store::StoreError> {
    let registry = ays_store::open_namespaced(url, WORKERS_NAMESPACE)?;
    let mut out = Vec::new();
    for entry in registry.scan(b"worker/", 256) {
        let (key, value) = entry?;
        match serde_json::from_slice::<WorkerRecord>(&value) {
            Ok(record) => out.push(record),
            Err(err) => warn!(
                key = %String::from_utf8_lossy(&key),
                error = %err,
                "skipping a worker record that is not one"
            ),
        }
    }
    Ok(out)
}

/// The id just before `id` in a stream (`ms-seq` ordering), from which a read returns `id`
/// first if it is there.
fn before(id: &MessageId) -> MessageId {
    let parsed = id
        .as_str()
        .split_once('-')
        .and_then(|(ms, seq)| Some((ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?)));
    match parsed {
        Some((ms, 0)) => MessageId(format!("{}-{}", ms.saturating_sub(1), u64::MAX)),
        Some((ms, seq)) => MessageId(format!("{ms}-{}", seq - 1)),
        None => MessageId::start(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_is_the_id_just_before() {
        let id = |s: &str| MessageId(s.to_owned());
        assert_eq!(before(&id("5-3")), id("5-2"));
        assert_eq!(before(&id("5-0")), id(&format!("4-{}", u64::MAX)));
        assert_eq!(before(&id("junk")), MessageId::start());
    }
}
