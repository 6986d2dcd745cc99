//! The executor's clock, injected so that tests control time (retry delays, timestamps).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time: timestamps and waiting.
pub trait Clock: Send + Sync {
    /// The time since the Unix epoch; it never goes backwards.
    fn now(&self) -> Duration;

    /// Waits `duration` (retry delays).
    fn sleep(&self, duration: Duration);
}

/// The real clock: wall-clock time at creation, advanced by a monotonic timer.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    epoch: Duration,
    start: Instant,
}

impl SystemClock {
    /// A clock reading the system time.
    pub fn new() -> Self {
        // A system clock set before 1970 reads as the epoch itself; only timestamps suffer.
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self {
            epoch,
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.epoch.saturating_add(self.start.elapsed())
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock for tests: time moves only when someone sleeps or calls [`ManualClock::advance`],
/// and every sleep is recorded.
#[derive(Debug, Default)]
pub struct ManualClock {
    // One small lock: the current time and the sleeps taken, never held across a call out.
    state: Mutex<(Duration, Vec<Duration>)>,
}

impl ManualClock {
    /// A clock at `start` since the epoch.
    pub fn new(start: Duration) -> Self {
        Self {
            state: Mutex::new((start, Vec::new())),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = state.0.saturating_add(by);
    }

    /// The sleeps taken so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    fn sleep(&self, duration: Duration) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = state.0.saturating_add(duration);
        state.1.push(duration);
    }
}
