//! Distributed execution: a run's attempts executed by worker processes on any machine that
//! reaches the store, through ays-store's message queue (Redis Streams).
//!
//! - [`run_worker`] is a worker (`ays worker`); [`list_workers`] reads their heartbeats
//!   (`ays worker list`).
//! - A run with [`RunOptions::workers`](crate::RunOptions::workers) set executes through the
//!   stream dispatcher: its planner, journal and group commit are those of a local run, and
//!   native actions (which live in the coordinator's process) still run locally.
//!
//! Delivery is at least once: an attempt whose worker died runs again on another, and the
//! first result of an attempt is the one recorded.

mod coordinator;
mod wire;
mod worker;

pub(crate) use coordinator::StreamDispatcher;
pub use coordinator::list_workers;
pub use wire::{InFlightJob, WORKERS_NAMESPACE, WorkerRecord};
pub use worker::{WorkerOptions, WorkerReport, default_worker_name, run_worker};

/// Says that the store fails, the first time and then at most every
/// [`Trouble::EVERY`], with how many calls failed, and says when it works again: a worker or a
/// coordinator cut off from the store retries many times a second, and each failure said
/// would flood the log.
#[derive(Debug, Default)]
pub(crate) struct Trouble(std::sync::Mutex<TroubleState>);

#[derive(Debug, Default)]
struct TroubleState {
    since: Option<std::time::Instant>,
    said_at: Option<std::time::Instant>,
    failures: u64,
}

impl Trouble {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(10);

    fn state(&self) -> std::sync::MutexGuard<'_, TroubleState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `what` failed with `err`.
    pub(crate) fn failed(&self, what: &str, err: &dyn std::fmt::Display) {
        let now = std::time::Instant::now();
        let mut state = self.state();
        state.failures += 1;
        state.since.get_or_insert(now);
        if state
            .said_at
            .is_none_or(|at| now.duration_since(at) >= Self::EVERY)
        {
            state.said_at = Some(now);
            tracing::warn!(
                failures = state.failures,
                error = %err,
                "{what}; retrying (said again every 10 s while it lasts)"
            );
        }
    }

    /// How long the store has been failing, if it is.
    pub(crate) fn failing_for(&self) -> Option<std::time::Duration> {
        self.state().since.map(|since| since.elapsed())
    }

    /// A call to the store worked.
    pub(crate) fn ok(&self) {
        let mut state = self.state();
        if let Some(since) = state.since.take() {
            tracing::info!(
                after = ?since.elapsed(),
                failures = state.failures,
                "the store works again"
            );
            state.failures = 0;
            state.said_at = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trouble_says_a_failure_once_per_period_and_forgets_it_once_the_store_works() {
        let trouble = Trouble::default();
        assert_eq!(trouble.failing_for(), None);
        trouble.failed("cannot read jobs", &"refused");
        assert!(trouble.failing_for().is_some());
        let first = trouble.state().said_at;
        assert!(first.is_some());
        trouble.failed("cannot read jobs", &"refused");
        assert_eq!(
            trouble.state().said_at,
            first,
            "the second failure is not said"
        );
        assert_eq!(trouble.state().failures, 2);
        trouble.ok();
        let state = trouble.state();
        assert_eq!(
            (state.failures, state.since, state.said_at),
            (0, None, None)
        );
    }
}
