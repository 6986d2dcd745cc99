//! Creation actions: a template's `input` and `init`, run while a blueprint is applied, as AYS
//! 8.1 ran them when it created a service.
//!
//! ays-core decides when they run and owns every change they make; running their code is the
//! job of a [`CreationRuntime`] that the embedder installs with
//! [`Repository::with_creation_runtime`](crate::Repository::with_creation_runtime) (ays-run
//! provides one for `actions.py` and `actions.sh`). A template that defines neither action
//! needs no runtime, and no process is started for it.
//!
//! When a blueprint is applied:
//! - `input(job)` runs for each service the blueprint creates, before its attributes are
//!   checked against the schema, with the blueprint's attributes as `job.model.args`; what it
//!   returns (a dict) replaces them.
//! - `init(job)` runs for each created service once every block's relations are resolved, and
//!   again for every other service of the repository whose template defines it (8.1 did the
//!   same on every blueprint execution). Its state becomes `ok`, so runs skip it; a template
//!   that does not define `init` has it `ok` from creation as well (8.1 ran an empty one).
//! - Both may read services and ask for changes through [`CreationRequest`]s: create services
//!   (which run their own `input` and `init` first), add producers, save data. ays-core checks
//!   each change as it would a blueprint's and stages it in the blueprint's one batch: a failing
//!   action, or a change it asked for that is refused, rejects the whole blueprint and writes
//!   nothing.
//!
//! The session is a conversation: [`CreationSession::call`] starts an action, then
//! [`CreationSession::next`] yields its requests, each answered with
//! [`CreationSession::reply`], until it is [`CreationEvent::Done`]. A request may itself start
//! an action (a created service's `input`), which is answered the same way before the reply.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{ActionName, ActorName, ServiceKey};
use crate::template::ActionCode;

/// The actions that run at creation.
pub const INPUT: &str = "input";
/// See [`INPUT`].
pub const INIT: &str = "init";

/// One `input` or `init` to run.
#[derive(Debug, Clone, PartialEq)]
pub struct CreationCall {
    /// `input` or `init`.
    pub action: ActionName,
    /// Its stored code (the whole actions file, and the template file it came from).
    pub code: ActionCode,
    /// The service's actor.
    pub actor: ActorName,
    /// The service, as [`ServiceView`] JSON.
    pub service: Value,
    /// The job's args: the blueprint's attributes for `input`, empty for `init`.
    pub args: Map<String, Value>,
    /// The repository's root directory.
    pub repo: PathBuf,
}

/// A service as a creation action sees it (the JSON of [`CreationCall::service`] and of
/// replies): `{key, role, name, actor, data, parent, producers, consumers, path}` with `data`
/// in camelCase fields, relations as keys (`producers` and `consumers` grouped by role), and
/// `path` the service's own directory for files (created on first use).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    /// `role!instance` (role is the actor's name up to its first dot).
    pub key: ServiceKey,
    /// The role.
    pub role: String,
    /// The instance name.
    pub name: String,
    /// The actor.
    pub actor: ActorName,
    /// The data, camelCase fields.
    pub data: Map<String, Value>,
    /// The parent's key.
    pub parent: Option<ServiceKey>,
    /// Producer keys by role (the parent included).
    pub producers: std::collections::BTreeMap<String, Vec<ServiceKey>>,
    /// Consumer keys by role.
    pub consumers: std::collections::BTreeMap<String, Vec<ServiceKey>>,
    /// A directory for the service's files: `.ays/services/<key>` under the repository.
    pub path: PathBuf,
}

/// What a creation action asks of the repository.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum CreationRequest {
    /// The service `key`, or `null`.
    Get {
        /// `role!instance`.
        key: String,
    },
    /// Services matching every given filter (`servicesFind`, `serviceGet`); `actor`, `role`
    /// and `name` may hold `*` and `?` wildcards.
    Find {
        /// Actor name or pattern.
        #[serde(default)]
        actor: Option<String>,
        /// Role name or pattern.
        #[serde(default)]
        role: Option<String>,
        /// Instance name or pattern.
        #[serde(default)]
        name: Option<String>,
        /// The parent's key.
        #[serde(default)]
        parent: Option<String>,
        /// The key of one of its producers.
        #[serde(default)]
        producer: Option<String>,
    },
    /// Whether a template of that name exists (`actorGet`); answered with `{name}`.
    Actor {
        /// The actor name.
        name: String,
    },
    /// Creates the service, or updates it as a blueprint block would (`serviceCreate`).
    Create {
        /// The actor.
        actor: String,
        /// The instance name.
        instance: String,
        /// Its attributes, named as in a blueprint.
        #[serde(default)]
        args: Map<String, Value>,
    },
    /// Adds `producer` to `consumer`'s producers (`service.consume(other)`).
    Consume {
        /// The consumer's key.
        consumer: String,
        /// The producer's key.
        producer: String,
    },
    /// Writes data fields of a service (`service.save()`, `saveAll()`).
    Save {
        /// The service's key.
        key: String,
        /// The fields, camelCase or schema names.
        data: Map<String, Value>,
    },
}

/// How a creation action ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreationDone {
    /// For `input`: the args that replace the blueprint's (`None`: unchanged).
    pub args: Option<Map<String, Value>>,
    /// Data fields the action changed on its own service (a shell `init`'s result file).
    pub data: Map<String, Value>,
    /// What it printed, for the log.
    pub output: String,
    /// Set when it failed.
    pub failure: Option<CreationFailure>,
}

/// A failed creation action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationFailure {
    /// The error, one line.
    pub message: String,
    /// The traceback or the last lines of stderr, naming the template's file and line.
    pub detail: String,
}

/// What a session yields.
#[derive(Debug, Clone, PartialEq)]
pub enum CreationEvent {
    /// The running action asks something; answer with [`CreationSession::reply`].
    Request(CreationRequest),
    /// The action started last ended.
    Done(CreationDone),
}

/// A runtime could not run a creation action at all (no interpreter, a broken pipe).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CreationError {
    /// What went wrong.
    pub message: String,
}

impl CreationError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Runs creation actions; one session per blueprint application.
pub trait CreationRuntime: Send + Sync + std::fmt::Debug {
    /// Starts a session (an interpreter is started on its first call, not here).
    ///
    /// # Errors
    ///
    /// [`CreationError`] when nothing can run.
    fn session(&self) -> Result<Box<dyn CreationSession>, CreationError>;
}

/// One conversation with a runtime; see the module documentation.
pub trait CreationSession {
    /// Starts `call` (nested inside the action that is waiting for a reply, if any).
    ///
    /// # Errors
    ///
    /// [`CreationError`] when it cannot be started.
    fn call(&mut self, call: &CreationCall) -> Result<(), CreationError>;

    /// The next request of the innermost running action, or its end.
    ///
    /// # Errors
    ///
    /// [`CreationError`] when the runtime died or spoke nonsense.
    fn next(&mut self) -> Result<CreationEvent, CreationError>;

    /// Answers the last request: a JSON value, or an error the action sees as an exception.
    ///
    /// # Errors
    ///
    /// [`CreationError`] when the runtime cannot be told.
    fn reply(&mut self, reply: Result<Value, String>) -> Result<(), CreationError>;
}
