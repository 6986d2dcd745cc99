//! Native actions: Rust functions registered by name.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

use ays_core::{ActionName, ActorName, JobLog, JobLogCategory};

use crate::error::PlanError;

use crate::job::{ActionRunner, DataPatch, FailureKind, JobContext, JobOutcome, LogEntry};
use crate::runtime::{BarePayload, JobPayload, PayloadSource, ServiceView};

/// The failure of a native action. Any error converts into it, so `?` works in an action and
/// the error's whole chain of causes reaches the job log; [`ActionFailed::msg`] makes one from
/// text.
#[derive(Debug)]
pub struct ActionFailed(Box<dyn std::error::Error + Send + Sync>);

impl ActionFailed {
    /// A failure with this message.
    pub fn msg(text: impl fmt::Display) -> Self {
        Self(text.to_string().into())
    }

    /// The error the action returned.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.0.as_ref()
    }
}

impl fmt::Display for ActionFailed {
    /// The error and its causes, `: `-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&JobLog::error_text(self.0.as_ref()))
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<E> for ActionFailed {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

/// What a native action gets: the job's context, its service with its data and relations
/// (the same payload shell and Python actions read), a log, and the data patch it builds.
#[derive(Debug)]
pub struct NativeJob<'a> {
    ctx: &'a JobContext,
    payload: JobPayload,
    logs: Vec<LogEntry>,
    patch: DataPatch,
}

impl NativeJob<'_> {
    /// The job's context (run, service key, action, attempt, cancellation).
    pub fn ctx(&self) -> &JobContext {
        self.ctx
    }

    /// The job's service: key, actor and data as stored when the job started.
    pub fn service(&self) -> &ServiceView {
        &self.payload.service
    }

    /// One data field of the service: the value this action set, else the stored one.
    pub fn data(&self, field: &str) -> Option<&Value> {
        self.patch
            .get(field)
            .or_else(|| self.payload.service.data.get(field))
    }

    /// The parent service, if any.
    pub fn parent(&self) -> Option<&ServiceView> {
        self.payload.parent.as_ref()
    }

    /// The producers (services this one consumes, parent included).
    pub fn producers(&self) -> &[ServiceView] {
        &self.payload.producers
    }

    /// The consumers (services that consume this one).
    pub fn consumers(&self) -> &[ServiceView] {
        &self.payload.consumers
    }

    /// The job's arguments (`processChange` gets `changeCategory` and `changed`).
    pub fn args(&self) -> &Map<String, Value> {
        &self.payload.args
    }

    /// Adds a `msg` entry to the job log.
    pub fn log(&mut self, text: impl Into<String>) {
        self.logs.push(LogEntry {
            category: JobLogCategory::Msg,
            text: text.into(),
        });
    }

    /// Changes a data field of the service. The change is validated against the actor's schema
    /// and stored with the job's success, atomically (returned as the job's data patch).
    pub fn set(&mut self, field: &str, value: Value) {
        self.patch.insert(field.to_owned(), value);
    }
}

type NativeFn = dyn Fn(&mut NativeJob<'_>) -> Result<(), ActionFailed> + Send + Sync;

/// Native actions by name, optionally per actor.
///
/// Run by itself (as the [`ActionRunner`] of an [`Executor`](crate::Executor)), an action
/// nobody registered succeeds without running anything, as an action missing from an 8.1
/// actions file did, and its job log says so; its actions see a bare payload (no data). On a
/// repository ([`RunOptions::registry`](crate::RunOptions::registry)) its actions read the
/// service's stored data and relations, and a run refuses a registry holding an action that no
/// actor of the run has ([`RunError::UnknownNativeAction`](crate::RunError::UnknownNativeAction)).
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
    /// [`PlanError::Name`] for a bad name.
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
    /// [`PlanError::Name`] for a bad name.
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
        self.find(actor, action).is_some()
    }

    /// The function for `action` of `actor`: the actor's own, else the one for every actor.
    fn find(&self, actor: &ActorName, action: &ActionName) -> Option<&NativeFn> {
        self.actions
            .get(&(Some(actor.clone()), action.clone()))
            .or_else(|| self.actions.get(&(None, action.clone())))
            .map(AsRef::as_ref)
    }
}

impl ActionRegistry {
    /// The registered names: `(actor, action)`, the actor `None` for every actor.
    pub fn names(&self) -> impl Iterator<Item = (Option<&ActorName>, &ActionName)> {
        self.actions
            .keys()
            .map(|(actor, action)| (actor.as_ref(), action))
    }

    /// Runs the action of `ctx` with the payload from `source`.
    pub(crate) fn run_with(&self, ctx: &JobContext, source: &dyn PayloadSource) -> JobOutcome {
        let Some(f) = self.find(ctx.actor(), ctx.action()) else {
            return JobOutcome::nothing_to_run(ctx);
        };
        let payload = match source.payload(ctx) {
            Ok(payload) => payload,
            Err(err) => return JobOutcome::failed(FailureKind::Runtime, JobLog::error_text(&err)),
        };
        let mut job = NativeJob {
            ctx,
            payload,
            logs: Vec::new(),
            patch: DataPatch::new(),
        };
        let result = f(&mut job);
        let mut outcome = match result {
            Ok(()) => JobOutcome::ok(),
            Err(failed) => JobOutcome::failed(FailureKind::Error, failed.to_string()),
        };
        job.logs.append(&mut outcome.logs);
        outcome.logs = job.logs;
        if !job.patch.is_empty() {
            outcome.data_patch = Some(job.patch);
        }
        outcome
    }
}

impl ActionRunner for ActionRegistry {
    fn run(&self, ctx: &JobContext) -> JobOutcome {
        self.run_with(ctx, &BarePayload)
    }

    fn has_nothing_to_run(&self, ctx: &JobContext) -> bool {
        !self.has(ctx.actor(), ctx.action())
    }
}
