//! Action runtimes: native Rust functions, `actions.sh` functions run by bash, and `actions.py`
//! functions run by Python. Each is an [`ActionRunner`](crate::ActionRunner).
//!
//! Runtimes learn about the service (its data, parent, producers, consumers, the job's args)
//! through a [`PayloadSource`], which ays-core implements; they return a data patch and never
//! write to a store themselves.

mod bash_server;
mod native;
mod process;
mod python;
mod scratch;
mod shell;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use ays_core::{ActorName, ServiceKey};

use crate::error::RuntimeError;

use crate::job::JobContext;

pub use native::{ActionFailed, ActionRegistry, NativeJob};
pub(crate) use process::last_lines;
pub(crate) use python::python_command;
pub use python::{PythonMode, PythonRuntime};
pub use shell::{ShellMode, ShellRuntime};

/// Default cap of each captured output stream.
pub(crate) const DEFAULT_OUTPUT_CAP: usize = 1024 * 1024;

/// A service as an action sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    /// The service's key.
    pub key: ServiceKey,
    /// Its actor.
    pub actor: ActorName,
    /// Its data, a JSON object of camelCase fields.
    pub data: Map<String, Value>,
}

impl ServiceView {
    fn to_json(&self) -> Value {
        json!({
            "key": self.key.as_str(),
            "role": self.key.role(),
            "name": self.key.instance(),
            "actor": self.actor.as_str(),
            "data": self.data,
        })
    }
}

/// Everything about a job's service that an action may read.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPayload {
    /// The service itself.
    pub service: ServiceView,
    /// Its parent.
    pub parent: Option<ServiceView>,
    /// Its producers (parent included).
    pub producers: Vec<ServiceView>,
    /// Its consumers.
    pub consumers: Vec<ServiceView>,
    /// The job's arguments.
    pub args: Map<String, Value>,
}

impl JobPayload {
    /// A payload with empty data and no relation, for a job's own service.
    pub fn bare(ctx: &JobContext) -> Self {
        Self {
            service: ServiceView {
                key: ctx.service().clone(),
                actor: ctx.actor().clone(),
                data: Map::new(),
            },
            parent: None,
            producers: Vec::new(),
            consumers: Vec::new(),
            args: Map::new(),
        }
    }

    /// The JSON document given to actions (`AYS_JOB_FILE`): relations grouped by role.
    pub fn to_json(&self, ctx: &JobContext, repo: &str) -> Value {
        fn by_role(list: &[ServiceView]) -> BTreeMap<&str, Vec<Value>> {
            let mut map: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
            for s in list {
                map.entry(s.key.role()).or_default().push(s.to_json());
            }
            map
        }
        json!({
            "repo": repo,
            "run": ctx.run().as_str(),
            "job": ctx.key().to_string(),
            "action": ctx.action().as_str(),
            "attempt": ctx.attempt(),
            "service": self.service.to_json(),
            "parent": self.parent.as_ref().map(ServiceView::to_json),
            "producers": by_role(&self.producers),
            "consumers": by_role(&self.consumers),
            "args": self.args,
        })
    }
}

/// Where runtimes get a job's payload (ays-core loads services from the repository).
pub trait PayloadSource: Send + Sync {
    /// The payload of the job of `ctx`.
    ///
    /// # Errors
    ///
    /// When the service cannot be loaded.
    fn payload(&self, ctx: &JobContext) -> Result<JobPayload, RuntimeError>;
}

/// A payload source knowing nothing: empty data, no relations.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BarePayload;

impl PayloadSource for BarePayload {
    fn payload(&self, ctx: &JobContext) -> Result<JobPayload, RuntimeError> {
        Ok(JobPayload::bare(ctx))
    }
}

/// Where an actor's actions files live: `<dir>/<actor>/actions.sh` or `actions.py`.
#[derive(Debug, Clone)]
pub(crate) struct ActorsDir(pub PathBuf);

impl ActorsDir {
    fn file(&self, actor: &ActorName, name: &str) -> PathBuf {
        self.0.join(actor.as_str()).join(name)
    }
}
