//! [`Recurring`]: runs the recurring actions of the served repositories when they are due
//! (AYS 8.1's fifth headline feature, which only its daemon drove).
//!
//! One task keeps an [`ays_run::recurring::RecurringSchedule`] of every action with a period
//! (from actor.hrd, config.yaml or a blueprint's `recurring:`), read from each repository's
//! store at start and again every [`RESYNC`] (a blueprint applied by another process changes
//! periods), or at once when the API changed a repository. When actions are due, each runs on
//! a blocking thread through [`ays_run::run_recurring`], at most [`MAX_AT_ONCE`] at a time:
//! outside runs and without the run lock, its last execution stored with its logs
//! (`GET .../recurring` shows them). An action is never started again while it runs; a failed
//! one is retried one period later times a backoff that doubles (up to 16×), and delays no
//! other; an action whose service went is dropped.
//!
//! On shutdown no action starts; running ones are asked to stop, then killed after the grace
//! period. What they had not stored is lost, as a kill loses it: they run again when due.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ays_run::recurring::{RecurringAction, RecurringSchedule, RecurringStatus, recurring_specs};
use ays_run::{CancelToken, RecurringOptions, RecurringOutcome};
use tokio::sync::{Notify, Semaphore};

use crate::queue::{RunQueues, now_ms};

/// How often the schedule is read again from the stores.
pub(crate) const RESYNC: Duration = Duration::from_secs(10);

/// The most recurring actions that run at once, across repositories.
pub(crate) const MAX_AT_ONCE: usize = 64;

/// The longest the scheduler sleeps when nothing is due.
const IDLE: Duration = Duration::from_secs(1);

/// How late due actions started: the last few thousand, for the benchmark and the log.
const LATENESS_KEPT: usize = 4096;

/// The scheduler of recurring actions.
pub(crate) struct Recurring {
    queues: Arc<RunQueues>,
    state: Mutex<State>,
    wake: Notify,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for Recurring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recurring").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    schedule: RecurringSchedule,
    /// Repositories to read again at the next turn.
    stale: Vec<String>,
    /// When every repository was last read.
    synced_at: Option<Instant>,
    /// The running actions and how to stop them.
    running: BTreeMap<RecurringAction, CancelToken>,
    /// How late the last actions started, in ms.
    lateness: std::collections::VecDeque<i64>,
    stopping: bool,
}

impl Recurring {
    /// A scheduler over the repositories of `queues` (nothing read until it runs).
    pub(crate) fn new(queues: Arc<RunQueues>) -> Recurring {
        Recurring {
            queues,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            slots: Arc::new(Semaphore::new(MAX_AT_ONCE)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads repository `name` again soon (after the API changed it).
    pub(crate) fn touch(&self, name: &str) {
        self.lock().stale.push(name.to_owned());
        self.wake.notify_one();
    }

    /// The recurring actions of repository `name` and where each stands.
    pub(crate) fn statuses(&self, name: &str) -> Vec<(RecurringAction, RecurringStatus)> {
        self.lock().schedule.statuses(name)
    }

    /// How many recurring actions the schedule holds, and how many run.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        (state.schedule.len(), state.running.len())
    }

    /// How late the last due actions started, in ms, oldest first.
    pub(crate) fn lateness(&self) -> Vec<i64> {
        self.lock().lateness.iter().copied().collect()
    }

    /// Reads the periods of `names` (every repository when `None`) from their stores (blocking).
    fn sync(&self, names: Option<&[String]>) {
        for queue in self.queues.all() {
            if names.is_some_and(|n| !n.iter().any(|n| n == queue.name())) {
                continue;
            }
            match recurring_specs(queue.repository()) {
                Ok(specs) => self.lock().schedule.sync_at(queue.name(), specs, now_ms()),
                Err(err) => tracing::warn!(
                    repository = queue.name(),
                    error = %crate::api::chain(&err),
                    "cannot read the recurring actions: kept as they were"
                ),
            }
        }
        // Repositories no longer served.
        let served: Vec<String> = self
            .queues
            .all()
            .iter()
            .map(|q| q.name().to_owned())
            .collect();
        let mut state = self.lock();
        let gone: Vec<String> = state
            .schedule
            .repos()
            .into_iter()
            .filter(|r| !served.contains(r))
            .collect();
        for repo in gone {
            state.schedule.sync(&repo, []);
        }
    }

    /// Runs due actions until [`Recurring::shutdown`].
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            let wake = self.wake.notified();
            let (stale, full) = {
                let mut state = self.lock();
                if state.stopping {
                    return;
                }
                let full = state.synced_at.is_none_or(|at| at.elapsed() >= RESYNC);
                (std::mem::take(&mut state.stale), full)
            };
            if full || !stale.is_empty() {
                let me = Arc::clone(&self);
                let names = (!full).then_some(stale);
                let synced = tokio::task::spawn_blocking(move || me.sync(names.as_deref())).await;
                if let Err(err) = synced {
                    tracing::error!(error = %err, "reading the recurring actions failed");
                }
                if full {
                    self.lock().synced_at = Some(Instant::now());
                }
            }
            let now = now_ms();
            let due = {
                let mut state = self.lock();
                let free = self.slots.available_permits();
                let due = state.schedule.take_due_at(now, free);
                for (due_ms, _) in &due {
                    if state.lateness.len() == LATENESS_KEPT {
                        state.lateness.pop_front();
                    }
                    state.lateness.push_back(now.saturating_sub(*due_ms).max(0));
                }
                due
            };
            for (_, key) in due {
                self.start(key);
            }
            let sleep = {
                let state = self.lock();
                let until_due = state
                    .schedule
                    .next_due_ms()
                    .map(|due| Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0)));
                let until_sync = state
                    .synced_at
                    .map_or(Duration::ZERO, |at| RESYNC.saturating_sub(at.elapsed()));
                let mut sleep = until_due.unwrap_or(IDLE).min(IDLE).min(until_sync);
                if self.slots.available_permits() == 0 {
                    // Nothing can start before an action ends, which wakes this.
                    sleep = IDLE;
                }
                sleep
            };
            if !sleep.is_zero() {
                tokio::select! {
                    () = wake => {}
                    () = tokio::time::sleep(sleep) => {}
                }
            }
        }
    }

    /// Runs `key` on a blocking thread, then reports it to the schedule.
    fn start(self: &Arc<Self>, key: RecurringAction) {
        let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
            // Cannot happen: as many were taken as there were permits; due again at once.
            self.lock().schedule.finished(&key, true, 0);
            return;
        };
        let Some(queue) = self.queues.get(&key.repo) else {
            self.lock().schedule.finished(&key, true, now_ms());
            return;
        };
        let cancel = CancelToken::new();
        self.lock().running.insert(key.clone(), cancel.clone());
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let repo = Arc::clone(queue.repository());
            let (service, action) = (key.service.clone(), key.action.clone());
            let mut options = RecurringOptions::default();
            options.cancel = Some(cancel);
            tracing::debug!(repository = %key.repo, %service, %action, "recurring action starts");
            let outcome = tokio::task::spawn_blocking(move || {
                ays_run::run_recurring(&repo, &service, &action, &options)
            })
            .await;
            drop(permit);
            let ended = now_ms();
            let mut state = me.lock();
            state.running.remove(&key);
            let ok = match outcome {
                Ok(Ok(RecurringOutcome::Gone)) => {
                    tracing::info!(repository = %key.repo, service = %key.service, action = %key.action, "recurring action gone: dropped");
                    state.stale.push(key.repo.clone());
                    true
                }
                Ok(Ok(outcome)) => {
                    let ok = outcome.is_ok() || outcome.job().is_none();
                    if !ok {
                        tracing::warn!(repository = %key.repo, service = %key.service, action = %key.action, "recurring action failed: retried later");
                    }
                    ok
                }
                Ok(Err(err)) => {
                    tracing::error!(repository = %key.repo, service = %key.service, action = %key.action, error = %crate::api::chain(&err), "recurring action could not run");
                    false
                }
                Err(err) => {
                    tracing::error!(repository = %key.repo, error = %err, "recurring action's task failed");
                    false
                }
            };
            state.schedule.finished(&key, ok, ended);
            drop(state);
            me.wake.notify_one();
        });
    }

    /// Starts no more actions; asks the running ones to stop, then kills them after `grace`.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        let tokens: Vec<CancelToken> = {
            let mut state = self.lock();
            state.stopping = true;
            state.running.values().cloned().collect()
        };
        self.wake.notify_one();
        if tokens.is_empty() {
            return;
        }
        tracing::info!(
            actions = tokens.len(),
            "stopping: recurring actions may finish"
        );
        for token in &tokens {
            token.request();
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.lock().running.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for token in &tokens {
            token.request();
        }
        tracing::warn!("recurring actions still running after the grace period: killed");
    }
}
