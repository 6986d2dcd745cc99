//! The per-action state machine of a service (reference §4.8).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The state of one action of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionState {
    /// Never run (the state at creation, or of an action added by an actor update).
    New,
    /// Its code changed in an actor update: a candidate for the next run.
    Changed,
    /// Ran successfully.
    Ok,
    /// Asked to run: a candidate for the next run.
    Scheduled,
    /// Never scheduled nor run.
    Disabled,
    /// Failed: a candidate for the next run.
    Error,
    /// Running now.
    Running,
}

/// A transition the state machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// A disabled action cannot be scheduled.
    #[error("the action is disabled and cannot be scheduled")]
    Disabled,
    /// `set-state` accepts only `ok`, `new`, `scheduled`, `disabled`, `error`.
    #[error("state `{to}` cannot be set by hand")]
    NotManual {
        /// The refused target.
        to: ActionState,
    },
}

impl ActionState {
    /// Every state, in the order of the Cap'n Proto enum.
    pub const ALL: [ActionState; 7] = [
        ActionState::New,
        ActionState::Changed,
        ActionState::Ok,
        ActionState::Scheduled,
        ActionState::Disabled,
        ActionState::Error,
        ActionState::Running,
    ];

    /// The lower-case name (`scheduled`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::New => "new",
            ActionState::Changed => "changed",
            ActionState::Ok => "ok",
            ActionState::Scheduled => "scheduled",
            ActionState::Disabled => "disabled",
            ActionState::Error => "error",
            ActionState::Running => "running",
        }
    }

    /// Schedules the action: `new`, `changed`, `error`, `scheduled` become `scheduled`; `ok`
    /// becomes `scheduled` only with `force` (else it stays `ok`); `running` stays `running`.
    ///
    /// # Errors
    ///
    /// [`TransitionError::Disabled`] for a disabled action.
    pub fn schedule(self, force: bool) -> Result<ActionState, TransitionError> {
        match self {
            ActionState::Disabled => Err(TransitionError::Disabled),
            ActionState::Ok if !force => Ok(ActionState::Ok),
            ActionState::Running => Ok(ActionState::Running),
            _ => Ok(ActionState::Scheduled),
        }
    }

    /// The state after the action's code changed in an actor update.
    pub fn code_changed(self) -> ActionState {
        match self {
            ActionState::Disabled => ActionState::Disabled,
            _ => ActionState::Changed,
        }
    }

    /// Sets the state by hand (`ays service set-state`).
    ///
    /// # Errors
    ///
    /// [`TransitionError::NotManual`] for `changed` and `running`, which only the system sets.
    pub fn set_manually(self, to: ActionState) -> Result<ActionState, TransitionError> {
        match to {
            ActionState::Changed | ActionState::Running => Err(TransitionError::NotManual { to }),
            other => Ok(other),
        }
    }

    /// The state when a job of the action starts: `running`.
    ///
    /// # Errors
    ///
    /// [`TransitionError::Disabled`] for a disabled action.
    pub fn start(self) -> Result<ActionState, TransitionError> {
        match self {
            ActionState::Disabled => Err(TransitionError::Disabled),
            _ => Ok(ActionState::Running),
        }
    }

    /// The state when a job of the action ends: `ok` or `error` (a disabled action stays so).
    pub fn finish(self, success: bool) -> ActionState {
        match (self, success) {
            (ActionState::Disabled, _) => ActionState::Disabled,
            (_, true) => ActionState::Ok,
            (_, false) => ActionState::Error,
        }
    }

    /// Whether the next run picks the action up (`scheduled`, `changed`, `error`).
    pub fn is_candidate(self) -> bool {
        matches!(
            self,
            ActionState::Scheduled | ActionState::Changed | ActionState::Error
        )
    }
}

impl fmt::Display for ActionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown state name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}` (expected {expected})")]
pub struct UnknownState {
    /// Which kind of state (`action state`, `job state`).
    pub what: &'static str,
    /// The name as given.
    pub name: String,
    /// The names accepted.
    pub expected: &'static str,
}

impl FromStr for ActionState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, UnknownState> {
        ActionState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState {
                what: "action state",
                name: s.to_owned(),
                expected: "new, changed, ok, scheduled, disabled, error or running",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::ActionState::*;
    use super::*;

    #[test]
    fn scheduling_follows_8_1() {
        for s in [New, Changed, Error, Scheduled] {
            assert_eq!(s.schedule(false), Result::Ok(Scheduled));
        }
        assert_eq!(Ok.schedule(false), Result::Ok(Ok));
        assert_eq!(Ok.schedule(true), Result::Ok(Scheduled));
        assert_eq!(Disabled.schedule(true), Err(TransitionError::Disabled));
        assert_eq!(Running.schedule(true), Result::Ok(Running));
    }

    #[test]
    fn manual_states_and_names() {
        assert_eq!(New.set_manually(Ok), Result::Ok(Ok));
        assert_eq!(
            New.set_manually(Running),
            Err(TransitionError::NotManual { to: Running })
        );
        for s in ActionState::ALL {
            assert_eq!(s.as_str().parse::<ActionState>(), Result::Ok(s));
        }
        assert!(Changed.is_candidate() && !Ok.is_candidate());
        assert_eq!(Disabled.code_changed(), Disabled);
        assert_eq!(Scheduled.start(), Result::Ok(Running));
        assert_eq!(Disabled.start(), Err(TransitionError::Disabled));
        assert_eq!((Running.finish(true), Running.finish(false)), (Ok, Error));
    }
}
