//! When recurring actions are due: the schedule a daemon keeps for every action with a period
//! (`recurring` in actor.hrd, config.yaml or a blueprint), without any I/O of its own.
//!
//! AYS 8.1 resubmitted an action every 5 s while it was still running, or while it kept
//! failing (its `lastRun` only moved on success). Here an action is never handed out again
//! before its run is reported [`finished`](RecurringSchedule::finished); a successful run makes
//! it due one period after it ended; a failed one is retried after its period times a backoff
//! that doubles with each consecutive failure (up to [`MAX_BACKOFF`] times the period), so it
//! neither hammers nor is forgotten, and it delays no other action. An action overdue by many
//! periods (the daemon was down) runs once, not once per missed period.
//!
//! [`run_recurring`] runs one due action once, beside any run, and stores its outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ays_core::{ActionName, CoreError, Repository, ServiceFilter, ServiceKey};

mod execute;

pub use execute::{RecurringOptions, RecurringOutcome, run_recurring};

/// The most a failing action's period is multiplied by before its next try.
pub const MAX_BACKOFF: u32 = 16;

/// One recurring action of one service of one repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecurringAction {
    /// The repository's name (as the daemon knows it).
    pub repo: String,
    /// The service.
    pub service: ServiceKey,
    /// The action.
    pub action: ActionName,
}

/// What the store says about a recurring action (its period and last successful run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringSpec {
    /// The service.
    pub service: ServiceKey,
    /// The action.
    pub action: ActionName,
    /// Its period (zero: not recurring).
    pub period: Duration,
    /// When it last succeeded, in milliseconds since the epoch (0: never).
    pub last_run_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    period_ms: i64,
    /// When it is due next (ms since the epoch).
    due_ms: i64,
    running: bool,
    /// Consecutive failures.
    failures: u32,
}

/// Where a recurring action stands ([`RecurringSchedule::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecurringStatus {
    /// Its period, in ms.
    pub period_ms: i64,
    /// When it is due next (ms since the epoch); while it runs, when it was due.
    pub due_ms: i64,
    /// Whether it runs now.
    pub running: bool,
    /// How many of its runs failed in a row.
    pub failures: u32,
}

/// The recurring actions of the repositories a daemon serves, and when each is due.
#[derive(Debug, Default)]
pub struct RecurringSchedule {
    entries: BTreeMap<RecurringAction, Entry>,
    /// Not running, ordered by when they are due.
    queue: BTreeSet<(i64, RecurringAction)>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RecurringSchedule {
    /// An empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces what the schedule knows of `repo` with `specs` (read from its store after a
    /// blueprint, an actor update, or at start). An action that stays keeps its state: when
    /// it runs, its failures and its due time, unless its period changed, which reschedules it
    /// from its last run. Actions without a period are left out; those that went are dropped
    /// (a running one is forgotten when it finishes).
    pub fn sync(&mut self, repo: &str, specs: impl IntoIterator<Item = RecurringSpec>) {
        self.sync_at(repo, specs, 0);
    }

    /// As [`sync`](Self::sync), an action that never ran being due at `now_ms` (when the
    /// schedule learns of it) rather than at 0, so that how late it starts is measured from
    /// then.
    pub fn sync_at(
        &mut self,
        repo: &str,
        specs: impl IntoIterator<Item = RecurringSpec>,
        now_ms: i64,
    ) {
        let mut seen = BTreeSet::new();
        for spec in specs {
            if spec.period.is_zero() {
                continue;
            }
            let key = RecurringAction {
                repo: repo.to_owned(),
                service: spec.service,
                action: spec.action,
            };
            let period_ms = millis(spec.period).max(1);
            let due_ms = if spec.last_run_ms <= 0 {
                now_ms
            } else {
                spec.last_run_ms.saturating_add(period_ms)
            };
            seen.insert(key.clone());
            match self.entries.get_mut(&key) {
                Some(e) if e.period_ms == period_ms => {}
                Some(e) => {
                    e.period_ms = period_ms;
                    if !e.running {
                        self.queue.remove(&(e.due_ms, key.clone()));
                        e.due_ms = due_ms;
                        self.queue.insert((due_ms, key));
                    } else {
                        e.due_ms = due_ms;
                    }
                }
                None => {
                    self.queue.insert((due_ms, key.clone()));
                    self.entries.insert(
                        key,
                        Entry {
                            period_ms,
                            due_ms,
                            running: false,
                            failures: 0,
                        },
                    );
                }
            }
        }
        let gone: Vec<RecurringAction> = self
            .entries
            .keys()
            .filter(|k| k.repo == repo && !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            match self.entries.get_mut(&key) {
                // Running: dropped when it finishes.
                Some(e) if e.running => e.period_ms = 0,
                Some(e) => {
                    self.queue.remove(&(e.due_ms, key.clone()));
                    self.entries.remove(&key);
                }
                None => {}
            }
        }
    }

    /// The actions due at `now_ms`, the most overdue first, at most `limit` of them; each is
    /// marked running until [`finished`](Self::finished) is told of it.
    pub fn take_due(&mut self, now_ms: i64, limit: usize) -> Vec<RecurringAction> {
        self.take_due_at(now_ms, limit)
            .into_iter()
            .map(|(_, key)| key)
            .collect()
    }

    /// As [`take_due`](Self::take_due), with when each was due (ms since the epoch): how late
    /// it starts.
    pub fn take_due_at(&mut self, now_ms: i64, limit: usize) -> Vec<(i64, RecurringAction)> {
        let mut due = Vec::new();
        while due.len() < limit {
            let Some(first) = self.queue.first().cloned() else {
                break;
            };
            if first.0 > now_ms {
                break;
            }
            self.queue.remove(&first);
            if let Some(e) = self.entries.get_mut(&first.1) {
                e.running = true;
            }
            due.push(first);
        }
        due
    }

    /// When the next action that is not running is due (ms since the epoch), if any: how
    /// long the daemon may sleep.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.queue.first().map(|(due, _)| *due)
    }

    /// Records that the run of `key` handed out by [`take_due`](Self::take_due) ended at
    /// `at_ms`: due again one period later, or, after a failure, one period times the backoff
    /// later. Returns when it is due next (`None` if it is no longer recurring).
    pub fn finished(&mut self, key: &RecurringAction, ok: bool, at_ms: i64) -> Option<i64> {
        let e = self.entries.get_mut(key)?;
        e.running = false;
        if e.period_ms == 0 {
            self.entries.remove(key);
            return None;
        }
        e.failures = if ok { 0 } else { e.failures.saturating_add(1) };
        let factor = if e.failures == 0 {
            1
        } else {
            2i64.saturating_pow(e.failures - 1)
                .min(i64::from(MAX_BACKOFF))
        };
        e.due_ms = at_ms.saturating_add(e.period_ms.saturating_mul(factor));
        self.queue.insert((e.due_ms, key.clone()));
        Some(e.due_ms)
    }

    /// Where `key` stands, if it is recurring.
    pub fn status(&self, key: &RecurringAction) -> Option<RecurringStatus> {
        self.entries.get(key).map(|e| RecurringStatus {
            period_ms: e.period_ms,
            due_ms: e.due_ms,
            running: e.running,
            failures: e.failures,
        })
    }

    /// Every recurring action of `repo` with where it stands, by service and action.
    pub fn statuses(&self, repo: &str) -> Vec<(RecurringAction, RecurringStatus)> {
        self.entries
            .iter()
            .filter(|(k, e)| k.repo == repo && e.period_ms > 0)
            .map(|(k, e)| {
                let status = RecurringStatus {
                    period_ms: e.period_ms,
                    due_ms: e.due_ms,
                    running: e.running,
                    failures: e.failures,
                };
                (k.clone(), status)
            })
            .collect()
    }

    /// The repositories the schedule holds actions of.
    pub fn repos(&self) -> BTreeSet<String> {
        self.entries.keys().map(|k| k.repo.clone()).collect()
    }

    /// Whether `key` is running (handed out and not finished).
    pub fn is_running(&self, key: &RecurringAction) -> bool {
        self.entries.get(key).is_some_and(|e| e.running)
    }

    /// How many recurring actions the schedule holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The recurring actions of every service of `repo`, as the store holds them (for
/// [`RecurringSchedule::sync`]).
///
/// # Errors
///
/// [`CoreError`] when the services cannot be read.
pub fn recurring_specs(repo: &Repository) -> Result<Vec<RecurringSpec>, CoreError> {
    let mut specs = Vec::new();
    for s in repo.services(&ServiceFilter::default())? {
        for a in s.actions.iter().filter(|a| a.period > 0) {
            specs.push(RecurringSpec {
                service: s.key.clone(),
                action: a.name.clone(),
                period: Duration::from_secs(u64::from(a.period)),
                last_run_ms: a.last_run,
            });
        }
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(service: &str, action: &str, period_s: u64, last_run_ms: i64) -> RecurringSpec {
        RecurringSpec {
            service: service.parse().unwrap_or_else(|e| panic!("{e}")),
            action: action.parse().unwrap_or_else(|e| panic!("{e}")),
            period: Duration::from_secs(period_s),
            last_run_ms,
        }
    }

    fn names(due: &[RecurringAction]) -> Vec<String> {
        due.iter()
            .map(|k| format!("{}:{}", k.service, k.action))
            .collect()
    }

    #[test]
    fn an_action_that_never_ran_is_due_when_the_schedule_learns_of_it() {
        let mut s = RecurringSchedule::new();
        s.sync_at("r", [spec("app!a", "monitor", 60, 0)], 5_000);
        assert!(s.take_due_at(4_999, 10).is_empty());
        let due = s.take_due_at(5_250, 10);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, 5_000, "250 ms late, not 5 s");
        // Learnt again later, it keeps its place.
        s.sync_at("r", [spec("app!a", "monitor", 60, 0)], 9_000);
        assert!(s.is_running(&due[0].1));
        let status = s.status(&due[0].1).unwrap_or_else(|| panic!("no status"));
        assert_eq!((status.due_ms, status.failures), (5_000, 0));
    }

    #[test]
    fn a_running_action_is_not_handed_out_again_however_late_it_is() {
        let mut s = RecurringSchedule::new();
        s.sync("r", [spec("app!a", "monitor", 1, 0)]);
        let first = s.take_due(0, 10);
        assert_eq!(names(&first), ["app!a:monitor"]);
        // It takes 3 s, three periods: nothing is due meanwhile.
        for now in [1_000, 2_000, 2_999] {
            assert!(s.take_due(now, 10).is_empty(), "at {now}");
        }
        assert_eq!(s.next_due_ms(), None);
        assert_eq!(s.finished(&first[0], true, 3_000), Some(4_000));
        assert!(s.take_due(3_999, 10).is_empty());
        assert_eq!(names(&s.take_due(4_000, 10)), ["app!a:monitor"]);
    }

    #[test]
    fn a_failing_action_backs_off_alone_and_others_stay_on_time() {
        let mut s = RecurringSchedule::new();
        s.sync(
            "r",
            [
                spec("app!a", "check", 10, 0),
                spec("app!a", "monitor", 10, 0),
            ],
        );
        let (mut checks, mut monitors) = (Vec::new(), Vec::new());
        let mut now = 0;
        while now <= 70_000 {
            for k in s.take_due(now, 10) {
                let ok = k.action.as_str() == "monitor";
                if ok {
                    monitors.push(now)
                } else {
                    checks.push(now)
                }
                s.finished(&k, ok, now);
            }
            now = s.next_due_ms().unwrap_or(i64::MAX);
        }
        // check keeps failing: retried after 10 s, then 20 s, then 40 s.
        assert_eq!(checks, [0, 10_000, 30_000, 70_000]);
        // monitor runs every 10 s all along.
        assert_eq!(monitors, (0..=7).map(|i| i * 10_000).collect::<Vec<i64>>());
    }

    #[test]
    fn backoff_is_capped_and_success_resets_it() {
        let mut s = RecurringSchedule::new();
        s.sync("r", [spec("x!a", "monitor", 1, 0)]);
        let mut now = 0;
        let mut gaps = Vec::new();
        for _ in 0..8 {
            let k = s
                .take_due(now, 1)
                .pop()
                .unwrap_or_else(|| panic!("none due"));
            let next = s.finished(&k, false, now).unwrap_or_default();
            gaps.push(next - now);
            now = next;
        }
        assert_eq!(
            gaps,
            [1_000, 2_000, 4_000, 8_000, 16_000, 16_000, 16_000, 16_000]
        );
        let k = s
            .take_due(now, 1)
            .pop()
            .unwrap_or_else(|| panic!("none due"));
        assert_eq!(s.finished(&k, true, now), Some(now + 1_000));
    }

    #[test]
    fn overdue_actions_run_once_most_overdue_first_and_limit_holds() {
        let mut s = RecurringSchedule::new();
        s.sync(
            "r",
            [
                spec("a!1", "monitor", 60, 1_000),
                spec("a!2", "monitor", 60, 500),
                spec("a!3", "monitor", 60, 0),
            ],
        );
        // Hours later: each is due once.
        let due = s.take_due(10_000_000, 2);
        assert_eq!(names(&due), ["a!3:monitor", "a!2:monitor"]);
        assert_eq!(names(&s.take_due(10_000_000, 10)), ["a!1:monitor"]);
        assert!(s.take_due(10_000_000, 10).is_empty());
    }

    #[test]
    fn sync_keeps_state_follows_period_changes_and_drops_what_went() {
        let mut s = RecurringSchedule::new();
        s.sync(
            "r",
            [spec("a!1", "monitor", 60, 0), spec("a!2", "monitor", 60, 0)],
        );
        s.sync("other", [spec("a!1", "monitor", 60, 0)]);
        let running = s.take_due(0, 1);
        assert_eq!(names(&running), ["a!1:monitor"]);
        assert_eq!(running[0].repo, "other");
        // r's a!2 goes, a!1 gets a shorter period; other's running a!1 is not r's.
        s.sync("r", [spec("a!1", "monitor", 30, 100_000)]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.next_due_ms(), Some(130_000));
        // A running action that stops recurring is forgotten when it ends.
        s.sync("other", []);
        assert!(s.is_running(&running[0]));
        assert_eq!(s.finished(&running[0], true, 5), None);
        assert_eq!(s.len(), 1);
        // A period of zero is not recurring.
        s.sync("r", [spec("a!1", "monitor", 0, 0)]);
        assert!(s.is_empty());
    }
}
