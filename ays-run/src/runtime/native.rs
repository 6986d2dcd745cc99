//! Native actions: Rust functions registered by name.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::error::PlanError;
use crate::input::{ActionName, ActorName};
use crate::job::{
    ActionRunner, DataPatch, FailureKind, JobContext, JobOutcome, LogCategory, LogEntry,
};

/// The failure of a native action: a message for the job log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionFailed(pub String);

impl fmt::Display for ActionFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ActionFailed {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl From<String> for ActionFailed {
    fn from(text: String) -> Self {
        Self(text)
    }
}

/// What a native action gets: the job's context, a log and the service data patch it builds.
#[derive(Debug)]
pub struct NativeJob<'a> {
    ctx: &'a JobContext,
    logs: Vec<LogEntry>,
    patch: DataPatch,
}

impl NativeJob<'_> {
    /// The job's context.
    pub fn ctx(&self) -> &JobContext {
        self.ctx
    }

    /// Adds a `msg` entry to the job log.
    pub fn log(&mut self, text: impl Into<String>) {
        self.logs.push(LogEntry {
            category: LogCategory::Msg,
            text: text.into(),
        });
    }

    /// Changes a data field of the service (returned as the job's data patch).
    pub fn set(&mut self, field: &str, value: Value) {
        self.patch.insert(field.to_owned(), value);
    }
}

type NativeFn = dyn Fn(&mut NativeJob<'_>) -> Result<(), ActionFailed> + Send + Sync;

/// Native actions by name, optionally per actor. An action nobody registered is a no-op that
/// succeeds, as an action missing from an 8.1 actions file was.
#[derive(Default)]
pub struct ActionRegistry {
    actions: HashMap<(Option<ActorName>, ActionName), Box<NativeFn>>,
}

impl fmt::Debug for ActionRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionRegistry")
            .field("actions", &self.actions.len())
            .finish()
    }
}

impl ActionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `action` for every actor.
    ///
    /// # Errors
    ///
    /// [`PlanError::InvalidActionName`] for a bad name.
    pub fn register<F>(&mut self, action: &str, f: F) -> Result<&mut Self, PlanError>
    where
        F: Fn(&mut NativeJob<'_>) -> Result<(), ActionFailed> + Send + Sync + 'static,
    {
        self.actions.insert((None, action.parse()?), Box::new(f));
        Ok(self)
    }

    /// Registers `action` for one actor; it wins over an action registered for every actor.
    ///
    /// # Errors
    ///
    /// [`PlanError::InvalidActionName`] or [`PlanError::InvalidActorName`] for a bad name.
    pub fn register_for<F>(
        &mut self,
        actor: &str,
        action: &str,
        f: F,
    ) -> Result<&mut Self, PlanError>
    where
        F: Fn(&mut NativeJob<'_>) -> Result<(), ActionFailed> + Send + Sync + 'static,
    {
        self.actions
            .insert((Some(actor.parse()?), action.parse()?), Box::new(f));
        Ok(self)
    }
}

impl ActionRegistry {
    /// Whether a function is registered for `action` of `actor` (or of every actor).
    pub fn has(&self, actor: &ActorName, action: &ActionName) -> bool {
        self.actions
            .contains_key(&(Some(actor.clone()), action.clone()))
            || self.actions.contains_key(&(None, action.clone()))
    }
}

impl ActionRunner for ActionRegistry {
    fn run(&self, ctx: &JobContext) -> JobOutcome {
        let action = ctx.action().clone();
        let f = self
            .actions
            .get(&(Some(ctx.actor().clone()), action.clone()))
            .or_else(|| self.actions.get(&(None, action)));
        let Some(f) = f else {
            return JobOutcome::ok();
        };
        let mut job = NativeJob {
            ctx,
            logs: Vec::new(),
            patch: DataPatch::new(),
        };
        let result = f(&mut job);
        let mut outcome = match result {
            Ok(()) => JobOutcome::ok(),
            Err(failed) => JobOutcome::failed(FailureKind::Error, failed.0),
        };
        job.logs.append(&mut outcome.logs);
        outcome.logs = job.logs;
        if !job.patch.is_empty() {
            outcome.data_patch = Some(job.patch);
        }
        outcome
    }
}
