//! [`RunQueues`]: the runs asked for through the API, queued per repository and executed one at
//! a time by a worker task of each repository.
//!
//! A request is stored in the repository's store (`daemon/run-queue/<run id>`, JSON) before it
//! is answered, so the queue survives a restart: a request that was queued starts again, one
//! whose run was interrupted (the daemon stopped or died while it ran) resumes it, and one whose
//! run ended is dropped, since the run record is then the truth. A request leaves the queue when
//! its run is stored and ends; requests that made no run (refused, cancelled, nothing to run)
//! stay, so that their id answers, until deleted; the oldest go beyond [`KEEP_ENDED`].
//!
//! On shutdown ([`RunQueues::shutdown`]) no request starts any more, running runs stop starting
//! jobs and let their running jobs finish within the grace period (then kill them), and their
//! requests are kept to resume at the next start.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ays_core::{ActionName, CoreError, Repository, RunId};
use ays_run::{CancelToken, FailurePolicy, RunError, RunOptions, Schedule};
use ays_store::KvStore;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::repositories::Repositories;

/// The store prefix of queued requests (outside every prefix ays-core writes).
const PREFIX: &str = "daemon/run-queue/";

/// How many ended requests (refused, cancelled, nothing to run) a repository keeps.
pub(crate) const KEEP_ENDED: usize = 100;

/// How long a worker waits before trying again a run whose lock another process holds.
const LOCKED_RETRY: Duration = Duration::from_secs(1);

/// How long killed jobs may take to end after the grace period.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RequestKind {
    /// Plan the scheduled actions and run them (`ays run create`).
    Create,
    /// Go on with the stored unfinished run of the same id (`ays run resume`).
    Resume,
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RequestState {
    /// Waiting for its turn.
    Queued,
    /// Its run is executing.
    Running,
    /// It could not make or resume its run (see its message).
    Refused,
    /// Cancelled before it started.
    Cancelled,
    /// Nothing was scheduled when its turn came: no run was stored.
    Empty,
}

impl RequestState {
    /// Whether the request will not run (again) by itself.
    pub(crate) fn is_ended(self) -> bool {
        matches!(
            self,
            RequestState::Refused | RequestState::Cancelled | RequestState::Empty
        )
    }
}

/// The schedule of a requested run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ScheduleOption {
    /// A job starts as soon as what it needs has ended.
    #[default]
    Dag,
    /// Step after step, as AYS 8.1.
    Steps,
}

/// What a requested run does after a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FailureOption {
    /// What needs the failed job does not run; the rest does.
    #[default]
    StopDependents,
    /// No job starts after the first failure.
    FailFast,
    /// Every job whose prerequisites succeeded runs.
    KeepGoing,
}

/// How a requested run is made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestOptions {
    /// Its schedule.
    pub(crate) schedule: ScheduleOption,
    /// Its failure policy.
    pub(crate) failure: FailureOption,
    /// At most this many jobs at once (0: the machine's parallelism).
    pub(crate) jobs: usize,
    /// Only these actions seed the run (empty: every scheduled one).
    #[serde(with = "as_text::list")]
    pub(crate) actions: Vec<ActionName>,
}

impl RequestOptions {
    /// The options of ays-run's calls.
    pub(crate) fn run_options(&self) -> RunOptions<'static> {
        let mut options = RunOptions::default();
        options.schedule = match self.schedule {
            ScheduleOption::Dag => Schedule::Dag,
            ScheduleOption::Steps => Schedule::Steps,
        };
        options.failure = match self.failure {
            FailureOption::StopDependents => FailurePolicy::StopDependents,
            FailureOption::FailFast => FailurePolicy::FailFast,
            FailureOption::KeepGoing => FailurePolicy::KeepGoing,
        };
        options.jobs = self.jobs;
        options.only_actions = self.actions.clone();
        options
    }
}

/// Names stored as their text (ays-core's names implement `Display` and `FromStr`, not serde's
/// `Deserialize`).
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<T: Display, S: Serializer>(name: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(name)
    }

    pub(super) fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }

    /// A list of names.
    pub(super) mod list {
        use super::*;

        pub(crate) fn serialize<T: Display, S: Serializer>(
            names: &[T],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_seq(names.iter().map(ToString::to_string))
        }

        pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<Vec<T>, D::Error>
        where
            T: FromStr<Err: Display>,
            D: Deserializer<'de>,
        {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|t| t.parse().map_err(serde::de::Error::custom))
                .collect()
        }
    }
}

/// A run asked for through the API, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunRequest {
    /// The id its run gets (or has, for a resume).
    #[serde(with = "as_text")]
    pub(crate) id: RunId,
    /// What it asks for.
    pub(crate) kind: RequestKind,
    /// Where it is.
    pub(crate) state: RequestState,
    /// When it was queued, in ms since the epoch.
    pub(crate) queued_at: i64,
    /// Why it was refused, or what happened last (empty: nothing to say).
    #[serde(default)]
    pub(crate) message: String,
    /// How its run is made.
    #[serde(default)]
    pub(crate) options: RequestOptions,
    /// Actions to schedule just before its run is made (what events asked for): scheduled
    /// when its turn comes, not when it is asked for, so that an action running then is not
    /// skipped.
    #[serde(default)]
    pub(crate) targets: Vec<Target>,
}

impl RunRequest {
    /// Sorts [`RunRequest::targets`] and makes their actions, once each, the ones that seed the
    /// run.
    pub(crate) fn seed_with_targets(&mut self) {
        self.targets.sort();
        self.options.actions = self.targets.iter().map(|t| t.action.clone()).collect();
        self.options.actions.sort();
        self.options.actions.dedup();
    }
}

/// An action of a service, scheduled for a request ([`RunRequest::targets`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Target {
    /// The service.
    #[serde(with = "as_text")]
    pub(crate) service: ays_core::ServiceKey,
    /// The action.
    #[serde(with = "as_text")]
    pub(crate) action: ActionName,
}

/// What the API may be told about a request that cannot be done.
#[derive(Debug)]
pub(crate) enum QueueError {
    /// The daemon is shutting down: no request is taken.
    ShuttingDown,
    /// The request's run is executing.
    Running(RunId),
    /// The store failed.
    Store(ays_store::StoreError),
    /// A stored request cannot be read.
    Corrupt { key: String, reason: String },
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueError::ShuttingDown => write!(f, "the daemon is shutting down: no run starts"),
            QueueError::Running(id) => write!(f, "run `{id}` is executing"),
            QueueError::Store(err) => write!(f, "the run queue's store failed: {err}"),
            QueueError::Corrupt { key, reason } => {
                write!(f, "the stored run request `{key}` cannot be read: {reason}")
            }
        }
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn key_of(id: &RunId) -> Vec<u8> {
    format!("{PREFIX}{id}").into_bytes()
}

/// The queue of one repository.
pub(crate) struct RunQueue {
    name: String,
    repo: Arc<Repository>,
    inner: Mutex<Inner>,
    wake: Notify,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RunQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunQueue")
            .field("name", &self.name)
            .finish()
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Every request, by (queued at, id): the queue order.
    requests: Vec<RunRequest>,
    /// The request whose run executes, and how to stop it.
    current: Option<(RunId, CancelToken)>,
    /// Set on shutdown: nothing starts any more.
    stopping: bool,
}

impl Inner {
    fn find(&self, id: &RunId) -> Option<usize> {
        self.requests.iter().position(|r| &r.id == id)
    }

    fn sort(&mut self) {
        self.requests
            .sort_by(|a, b| (a.queued_at, &a.id).cmp(&(b.queued_at, &b.id)));
    }
}

/// How a run of the queue ended, for the worker.
enum Ended {
    /// Its run is stored; it ended, or a cancel stopped it. A run the shutdown stopped
    /// resumes at the next start; otherwise the request goes.
    Ran {
        /// Whether the run ended.
        finished: bool,
    },
    /// Nothing was scheduled.
    Empty,
    /// It could not run.
    Refused(String),
    /// Another process holds the run lock: try again.
    Locked,
}

impl RunQueue {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn store(&self) -> &Arc<dyn KvStore> {
        self.repo.store()
    }

    fn save(&self, request: &RunRequest) -> Result<(), QueueError> {
        let value = serde_json::to_vec(request).map_err(|err| QueueError::Corrupt {
            key: request.id.to_string(),
            reason: err.to_string(),
        })?;
        self.store()
            .put(&key_of(&request.id), &value)
            .map_err(QueueError::Store)
    }

    fn forget(&self, id: &RunId) -> Result<(), QueueError> {
        self.store()
            .delete(&key_of(id))
            .map(drop)
            .map_err(QueueError::Store)
    }

    /// Reads the stored requests and settles those a stop interrupted: a request whose run is
    /// stored resumes it when it is unfinished, and goes when it ended. Blocks on the store.
    fn recover(&self) -> Result<(), QueueError> {
        let mut requests = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self
                .store()
                .scan_prefix(PREFIX.as_bytes(), after.as_deref(), 256)
                .map_err(QueueError::Store)?;
            for (key, value) in &page.entries {
                let request: RunRequest =
                    serde_json::from_slice(value).map_err(|err| QueueError::Corrupt {
                        key: String::from_utf8_lossy(key).into_owned(),
                        reason: err.to_string(),
                    })?;
                requests.push(request);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let mut kept = Vec::new();
        for mut request in requests {
            if request.state.is_ended() {
                kept.push(request);
                continue;
            }
            let run = self.repo.run(&request.id).map_err(|err| match err {
                CoreError::Store { source, .. } => QueueError::Store(source),
                other => QueueError::Corrupt {
                    key: request.id.to_string(),
                    reason: other.to_string(),
                },
            })?;
            match run {
                Some(run) if run.state.is_finished() => {
                    tracing::info!(repository = %self.name, run = %request.id, "its run ended: request dropped");
                    self.forget(&request.id)?;
                }
                Some(_) => {
                    tracing::info!(repository = %self.name, run = %request.id, "interrupted: resumes");
                    request.kind = RequestKind::Resume;
                    request.state = RequestState::Queued;
                    self.save(&request)?;
                    kept.push(request);
                }
                None => {
                    tracing::info!(repository = %self.name, run = %request.id, "queued");
                    request.state = RequestState::Queued;
                    self.save(&request)?;
                    kept.push(request);
                }
            }
        }
        let mut inner = self.lock();
        inner.requests = kept;
        inner.sort();
        Ok(())
    }

    /// Starts the worker if it is not running (within a tokio runtime; after
    /// [`RunQueue::submit`]).
    pub(crate) fn kick(self: &Arc<Self>) {
        let mut worker = self.worker.lock().unwrap_or_else(PoisonError::into_inner);
        if worker.as_ref().is_some_and(|w| !w.is_finished()) {
            return;
        }
        let queue = Arc::clone(self);
        *worker = Some(tokio::spawn(async move { queue.work().await }));
    }

    /// Queues `request` (stored first); blocks on the store. [`RunQueue::kick`] then makes sure
    /// the worker runs.
    pub(crate) fn submit(&self, request: RunRequest) -> Result<RunRequest, QueueError> {
        let mut inner = self.lock();
        let request = self.push_locked(&mut inner, request)?;
        drop(inner);
        self.wake.notify_one();
        Ok(request)
    }

    fn push_locked(
        &self,
        inner: &mut Inner,
        request: RunRequest,
    ) -> Result<RunRequest, QueueError> {
        if inner.stopping {
            return Err(QueueError::ShuttingDown);
        }
        self.save(&request)?;
        if let Some(at) = inner.find(&request.id) {
            inner.requests[at] = request.clone();
        } else {
            inner.requests.push(request.clone());
        }
        inner.sort();
        Ok(request)
    }

    /// The next queued request, marked running with a fresh cancel token.
    fn take_next(&self) -> Option<(RunRequest, CancelToken)> {
        let mut inner = self.lock();
        if inner.stopping || inner.current.is_some() {
            return None;
        }
        let at = inner
            .requests
            .iter()
            .position(|r| r.state == RequestState::Queued)?;
        inner.requests[at].state = RequestState::Running;
        let request = inner.requests[at].clone();
        let cancel = CancelToken::new();
        inner.current = Some((request.id.clone(), cancel.clone()));
        Some((request, cancel))
    }

    /// The worker: runs the queued requests one at a time until the shutdown.
    async fn work(self: Arc<Self>) {
        loop {
            let wake = self.wake.notified();
            if self.lock().stopping {
                return;
            }
            let Some((request, cancel)) = self.take_next() else {
                wake.await;
                continue;
            };
            tracing::info!(repository = %self.name, run = %request.id, kind = ?request.kind, "run starts");
            let repo = Arc::clone(&self.repo);
            let (req, token) = (request.clone(), cancel.clone());
            let ended = tokio::task::spawn_blocking(move || execute(&repo, &req, &token)).await;
            let ended = match ended {
                Ok(ended) => ended,
                Err(err) => Ended::Refused(format!("the run's task failed: {err}")),
            };
            let locked = matches!(ended, Ended::Locked);
            if let Err(err) = self.settle(request, ended) {
                tracing::error!(repository = %self.name, error = %err, "cannot store the run queue");
            }
            if locked {
                tokio::time::sleep(LOCKED_RETRY).await;
            }
        }
    }

    /// Records how the current request ended.
    fn settle(&self, mut request: RunRequest, ended: Ended) -> Result<(), QueueError> {
        let mut inner = self.lock();
        inner.current = None;
        let stopping = inner.stopping;
        let at = inner.find(&request.id);
        match ended {
            Ended::Ran { finished } if finished || !stopping => {
                tracing::info!(repository = %self.name, run = %request.id, "run ended");
                if let Some(at) = at {
                    inner.requests.remove(at);
                }
                self.forget(&request.id)?;
                return Ok(());
            }
            Ended::Ran { .. } => {
                tracing::info!(repository = %self.name, run = %request.id, "run interrupted: resumes at the next start");
                request.kind = RequestKind::Resume;
                request.state = RequestState::Queued;
            }
            Ended::Locked => {
                tracing::debug!(repository = %self.name, run = %request.id, "another process holds the run lock: waits");
                request.state = RequestState::Queued;
                request.message = "waiting: another process holds the run lock".to_owned();
            }
            Ended::Empty => {
                tracing::info!(repository = %self.name, run = %request.id, "nothing to run");
                request.state = RequestState::Empty;
                request.message = "nothing was scheduled: no run was stored".to_owned();
            }
            Ended::Refused(message) => {
                tracing::warn!(repository = %self.name, run = %request.id, %message, "run refused");
                request.state = RequestState::Refused;
                request.message = message;
            }
        }
        self.save(&request)?;
        match at {
            Some(at) => inner.requests[at] = request,
            None => inner.requests.push(request),
        }
        self.trim(&mut inner)
    }

    /// Drops the oldest ended requests beyond [`KEEP_ENDED`].
    fn trim(&self, inner: &mut Inner) -> Result<(), QueueError> {
        let ended = inner.requests.iter().filter(|r| r.state.is_ended()).count();
        let mut extra = ended.saturating_sub(KEEP_ENDED);
        while extra > 0 {
            let Some(at) = inner.requests.iter().position(|r| r.state.is_ended()) else {
                break;
            };
            let gone = inner.requests.remove(at);
            self.forget(&gone.id)?;
            extra -= 1;
        }
        Ok(())
    }

    /// The request of run `id`, with its place in the queue (1: next) when it is queued.
    pub(crate) fn get(&self, id: &RunId) -> Option<(RunRequest, Option<usize>)> {
        let inner = self.lock();
        let request = inner.requests.iter().find(|r| &r.id == id)?.clone();
        let position = (request.state == RequestState::Queued).then(|| {
            1 + inner
                .requests
                .iter()
                .filter(|r| r.state == RequestState::Queued)
                .take_while(|r| r.id != *id)
                .count()
        });
        Some((request, position))
    }

    /// Every request, in queue order.
    pub(crate) fn list(&self) -> Vec<RunRequest> {
        self.lock().requests.clone()
    }

    /// Every request, in queue order, with its place among the queued ones (1: next) while it
    /// is queued, as [`RunQueue::get`] gives it.
    pub(crate) fn list_with_positions(&self) -> Vec<(RunRequest, Option<usize>)> {
        let mut queued = 0;
        self.lock()
            .requests
            .iter()
            .map(|r| {
                let position = (r.state == RequestState::Queued).then(|| {
                    queued += 1;
                    queued
                });
                (r.clone(), position)
            })
            .collect()
    }

    /// Whether run `id` executes now.
    pub(crate) fn is_current(&self, id: &RunId) -> bool {
        self.lock().current.as_ref().is_some_and(|(c, _)| c == id)
    }

    /// Cancels the request of run `id`: a queued one ends `cancelled`; for the running one,
    /// the first call stops starting jobs and the second kills the running ones (returned:
    /// 1 or 2). `None`: no such request, or it has ended.
    pub(crate) fn cancel(&self, id: &RunId) -> Result<Option<Cancelled>, QueueError> {
        let mut inner = self.lock();
        if let Some((current, token)) = &inner.current
            && current == id
        {
            let level = token.request();
            tracing::info!(repository = %self.name, run = %id, level, "run cancelled");
            return Ok(Some(Cancelled::Running { level }));
        }
        let Some(at) = inner.find(id) else {
            return Ok(None);
        };
        if inner.requests[at].state != RequestState::Queued {
            return Ok(None);
        }
        let mut request = inner.requests[at].clone();
        request.state = RequestState::Cancelled;
        request.message = "cancelled before it started".to_owned();
        self.save(&request)?;
        inner.requests[at] = request;
        self.trim(&mut inner)?;
        Ok(Some(Cancelled::Queued))
    }

    /// Removes the request of run `id` unless its run executes; returns whether there was one.
    pub(crate) fn remove(&self, id: &RunId) -> Result<bool, QueueError> {
        let mut inner = self.lock();
        if inner.current.as_ref().is_some_and(|(c, _)| c == id) {
            return Err(QueueError::Running(id.clone()));
        }
        let Some(at) = inner.find(id) else {
            return Ok(false);
        };
        self.forget(id)?;
        inner.requests.remove(at);
        Ok(true)
    }
}

/// What [`RunQueue::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancelled {
    /// The request was queued: it will not run.
    Queued,
    /// The run executes: level 1 stops starting jobs, 2 kills the running ones.
    Running {
        /// The level reached.
        level: u8,
    },
}

/// Executes `request` (blocking): creates or resumes its run.
fn execute(repo: &Repository, request: &RunRequest, cancel: &CancelToken) -> Ended {
    for target in &request.targets {
        let filter = ays_core::ServiceFilter {
            role: Some(target.service.role().to_owned()),
            name: Some(target.service.instance().to_owned()),
            ..ays_core::ServiceFilter::default()
        };
        if let Err(err) = repo.schedule_action(&filter, &target.action, true) {
            // A service deleted or an action disabled since the event: the others still run.
            tracing::warn!(service = %target.service, action = %target.action, error = %crate::api::chain(&err), "cannot schedule an event's action");
        }
    }
    let mut options = request.options.run_options();
    options.cancel = Some(cancel.clone());
    let result = match request.kind {
        RequestKind::Create => {
            options.id = Some(request.id.clone());
            ays_run::create_run(repo, &options)
        }
        RequestKind::Resume => resume(repo, &request.id, &options),
    };
    match result {
        Ok(outcome) if outcome.record.is_none() => Ended::Empty,
        Ok(outcome) => Ended::Ran {
            finished: outcome
                .record
                .as_ref()
                .is_some_and(|r| r.state.is_finished()),
        },
        Err(RunError::Repository { source, .. })
            if matches!(*source, CoreError::RunLocked { .. }) =>
        {
            Ended::Locked
        }
        Err(err) => Ended::Refused(crate::api::chain(&err)),
    }
}

/// Resumes run `id`, which must be the newest unfinished run (what [`ays_run::resume_run`]
/// resumes).
fn resume(
    repo: &Repository,
    id: &RunId,
    options: &RunOptions,
) -> Result<ays_run::RunOutcome, RunError> {
    let newest = ays_run::list_runs(repo)?
        .into_iter()
        .find(|r| !r.state.is_finished());
    match newest {
        Some(run) if &run.id == id => ays_run::resume_run(repo, options),
        Some(run) => Err(RunError::Unfinished { run: run.id }),
        None => Err(RunError::NothingToResume),
    }
}

/// The served repositories, each with its run queue. Repositories may be added and removed
/// while the daemon serves (`POST` and `DELETE /ays/repository/...`).
#[derive(Debug, Default)]
pub(crate) struct RunQueues {
    by_repo: std::sync::RwLock<BTreeMap<String, Arc<RunQueue>>>,
}

impl RunQueues {
    /// An empty queue for each of `repositories` (nothing read yet: see [`RunQueues::recover`]).
    pub(crate) fn new(repositories: &Repositories) -> RunQueues {
        let queues = RunQueues::default();
        for (name, repo) in repositories.iter() {
            queues.insert(name, Arc::clone(repo));
        }
        queues
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<RunQueue>>> {
        self.by_repo.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<RunQueue>>> {
        self.by_repo.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `repo` as `name` with an empty queue (replacing any repository of that name);
    /// returns its queue.
    pub(crate) fn insert(&self, name: &str, repo: Arc<Repository>) -> Arc<RunQueue> {
        let queue = Arc::new(RunQueue {
            name: name.to_owned(),
            repo,
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            worker: Mutex::new(None),
        });
        self.write().insert(name.to_owned(), Arc::clone(&queue));
        queue
    }

    /// Stops serving repository `name`, unless its queue has a request queued or running;
    /// returns its queue (`None`: no such repository).
    pub(crate) fn remove(&self, name: &str) -> Result<Option<Arc<RunQueue>>, QueueError> {
        let mut all = self.write();
        let Some(queue) = all.get(name) else {
            return Ok(None);
        };
        let inner = queue.lock();
        if let Some(busy) = inner
            .requests
            .iter()
            .find(|r| matches!(r.state, RequestState::Queued | RequestState::Running))
        {
            return Err(QueueError::Running(busy.id.clone()));
        }
        drop(inner);
        let queue = all.remove(name);
        if let Some(queue) = &queue {
            queue.lock().stopping = true;
            queue.wake.notify_one();
        }
        Ok(queue)
    }

    /// The queue of repository `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<RunQueue>> {
        self.read().get(name).cloned()
    }

    /// Every served repository's queue, by name.
    pub(crate) fn all(&self) -> Vec<Arc<RunQueue>> {
        self.read().values().cloned().collect()
    }

    /// Reads every repository's stored requests (blocking), settling those a stop interrupted.
    pub(crate) fn recover(&self) -> Result<usize, (String, QueueError)> {
        let mut pending = 0;
        for queue in self.all() {
            queue.recover().map_err(|err| (queue.name.clone(), err))?;
            pending += queue
                .list()
                .iter()
                .filter(|r| r.state == RequestState::Queued)
                .count();
        }
        Ok(pending)
    }

    /// Starts the worker of every repository with queued requests (within a tokio runtime).
    pub(crate) fn start(&self) {
        for queue in self.all() {
            if queue.list().iter().any(|r| r.state == RequestState::Queued) {
                queue.kick();
            }
        }
    }

    /// Stops every queue: no request starts; running runs stop starting jobs, and their running
    /// jobs get `grace` to finish before they are killed.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        let mut workers = Vec::new();
        for queue in self.all() {
            let mut inner = queue.lock();
            inner.stopping = true;
            if let Some((id, token)) = &inner.current {
                tracing::info!(repository = %queue.name, run = %id, "stopping: running jobs may finish");
                token.request();
            }
            drop(inner);
            queue.wake.notify_one();
            let worker = queue
                .worker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(worker) = worker {
                workers.push((Arc::clone(&queue), worker));
            }
        }
        let queues: Vec<Arc<RunQueue>> = workers.iter().map(|(q, _)| Arc::clone(q)).collect();
        let mut all = Box::pin(futures_join(workers.iter_mut().map(|(_, w)| w)));
        if tokio::time::timeout(grace, &mut all).await.is_ok() {
            return;
        }
        for queue in &queues {
            if let Some((id, token)) = &queue.lock().current {
                tracing::warn!(repository = %queue.name, run = %id, grace = ?grace, "jobs still running after the grace period: killed");
                token.request();
            }
        }
        if tokio::time::timeout(KILL_WAIT, all).await.is_err() {
            tracing::error!("runs did not stop after their jobs were killed");
        }
    }
}

/// Waits for every handle.
async fn futures_join<'a>(handles: impl Iterator<Item = &'a mut JoinHandle<()>>) {
    for handle in handles {
        if let Err(err) = handle.await {
            tracing::error!(error = %err, "a run worker failed");
        }
    }
}

/// A request to create a run, queued now.
pub(crate) fn create_request(options: RequestOptions) -> RunRequest {
    RunRequest {
        id: RunId::generate(),
        kind: RequestKind::Create,
        state: RequestState::Queued,
        queued_at: now_ms(),
        message: String::new(),
        options,
        targets: Vec::new(),
    }
}

/// A request to resume the stored unfinished run `id`, queued now.
pub(crate) fn resume_request(id: RunId) -> RunRequest {
    RunRequest {
        id,
        kind: RequestKind::Resume,
        state: RequestState::Queued,
        queued_at: now_ms(),
        message: String::new(),
        options: RequestOptions::default(),
        targets: Vec::new(),
    }
}

impl RunQueue {
    /// Queues `request` (which schedules [`RunRequest::targets`]) unless an event's request
    /// that has not started yet is queued: then `request`'s targets join that one's, and it is
    /// returned with `true`. Blocks on the store.
    pub(crate) fn submit_coalesced(
        self: &Arc<Self>,
        request: RunRequest,
    ) -> Result<(RunRequest, bool), QueueError> {
        let mut inner = self.lock();
        let waiting = inner.requests.iter().position(|r| {
            r.state == RequestState::Queued
                && r.kind == RequestKind::Create
                && !r.targets.is_empty()
        });
        if let Some(at) = waiting {
            let mut joined = inner.requests[at].clone();
            for target in request.targets {
                if !joined.targets.contains(&target) {
                    joined.targets.push(target);
                }
            }
            joined.seed_with_targets();
            if joined != inner.requests[at] {
                self.save(&joined)?;
                inner.requests[at] = joined.clone();
            }
            return Ok((joined, true));
        }
        let request = self.push_locked(&mut inner, request)?;
        drop(inner);
        self.wake.notify_one();
        Ok((request, false))
    }

    /// The repository.
    pub(crate) fn repository(&self) -> &Arc<Repository> {
        &self.repo
    }

    /// The repository's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Reads the stored requests and starts the worker when some are queued (a repository
    /// served anew); blocks on the store, so call it from a blocking task within the runtime.
    pub(crate) fn open(self: &Arc<Self>) -> Result<(), QueueError> {
        self.recover()?;
        if self
            .lock()
            .requests
            .iter()
            .any(|r| r.state == RequestState::Queued)
        {
            self.kick();
        }
        Ok(())
    }
}
