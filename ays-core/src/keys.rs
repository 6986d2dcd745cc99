//! Every store key ays-core writes, built in this one module.
//!
//! | key | value |
//! |---|---|
//! | `repo` | the `Repo` model |
//! | `lock/write` | the holder of the repository write lock (expires) |
//! | `actor/<name>` | the `Actor` model |
//! | `actor-hrd/<name>` | the actor's `schema.hrd` text, when it has one (validation rules) |
//! | `actor-limits/<name>` | JSON: the actor's concurrency and retry backoff, when it has any |
//! | `code/<hash>` | an `ActionCode` model, content-addressed |
//! | `svc/<role>!<instance>` | the `Service` model |
//! | `svc-args/<role>!<instance>/<action>` | JSON args of a scheduled action (`processChange`) |
//! | `idx/<kind>/<value>/<role>!<instance>` | empty: a secondary index entry |
//! | `run/<run id>` | the `Run` model, its steps without their jobs (see `run-jobs/`) |
//! | `run-jobs/<run id>` | the `Run` model with only the jobs of each step: written once, when the run is stored, as the run record changes many times and these lists never do |
//! | `run-settings/<run id>` | the runner's settings of the run (opaque text, see [`crate::RunRecord::settings`]) |
//! | `job/<run id>/<job number, 6 digits>` | the `Job` model |
//! | `lock/run` | the holder of the run lock: JSON, with a lease (expires) |
//! | `recurring/<role>!<instance>/<action>` | the `Job` model of the last execution of a recurring action outside runs (its run id names no stored run); removed with its service and by `destroy` |
//!
//! Index kinds: `actor` (actor name), `instance`, `parent` (parent key), `producer` (a producer
//! key: the entry lists its consumers), `consumer` (a consumer key: the entry lists its
//! producers) and `state` (`<action>:<state>`, for every state but `new`: most actions stay
//! `new`). Services of a role are a prefix scan of
//! `svc/<role>!`, so the role needs no index. Names never hold `/` or `!` (see [`crate::ids`]), so
//! every prefix is unambiguous. Runs, jobs and the run lock live under other prefixes, which
//! `destroy` leaves alone (the last executions of recurring actions belong to their services,
//! and go with them). Run ids never hold `/` (checked by [`crate::runs`]).

use crate::action_state::ActionState;
use crate::ids::{ActionName, ActorName, RunId, ServiceKey};

/// The repository record.
pub(crate) const REPO: &[u8] = b"repo";
/// The repository write lock (see [`crate::lock`]).
pub(crate) const WRITE_LOCK: &[u8] = b"lock/write";
/// Prefix of actor records.
pub(crate) const ACTOR_PREFIX: &str = "actor/";
/// Prefix of actor HRD sources.
pub(crate) const ACTOR_HRD_PREFIX: &str = "actor-hrd/";
/// Prefix of actor limits (concurrency, retry backoff).
pub(crate) const ACTOR_LIMITS_PREFIX: &str = "actor-limits/";
/// Prefix of service records.
pub(crate) const SERVICE_PREFIX: &str = "svc/";
/// Prefix of scheduled-action args.
pub(crate) const ARGS_PREFIX: &str = "svc-args/";
/// Prefix of every index entry.
pub(crate) const INDEX_PREFIX: &str = "idx/";
/// Prefix of action code records.
pub(crate) const CODE_PREFIX: &str = "code/";
/// Prefix of run records.
pub(crate) const RUN_PREFIX: &str = "run/";
/// Prefix of the job lists of each run's steps.
pub(crate) const RUN_JOBS_PREFIX: &str = "run-jobs/";
/// Prefix of the runner's settings of each run.
pub(crate) const RUN_SETTINGS_PREFIX: &str = "run-settings/";
/// Prefix of job records.
pub(crate) const JOB_PREFIX: &str = "job/";
/// The run lock (see [`crate::run_lock`]).
pub(crate) const RUN_LOCK: &[u8] = b"lock/run";
/// Prefix of the last executions of recurring actions.
pub(crate) const RECURRING_PREFIX: &str = "recurring/";

/// The prefixes `destroy` wipes.
pub(crate) const DOMAIN_PREFIXES: [&str; 7] = [
    ACTOR_PREFIX,
    ACTOR_HRD_PREFIX,
    ACTOR_LIMITS_PREFIX,
    SERVICE_PREFIX,
    ARGS_PREFIX,
    INDEX_PREFIX,
    RECURRING_PREFIX,
];

pub(crate) fn actor(name: &ActorName) -> Vec<u8> {
    format!("{ACTOR_PREFIX}{name}").into_bytes()
}

pub(crate) fn actor_hrd(name: &ActorName) -> Vec<u8> {
    format!("{ACTOR_HRD_PREFIX}{name}").into_bytes()
}

pub(crate) fn actor_limits(name: &ActorName) -> Vec<u8> {
    format!("{ACTOR_LIMITS_PREFIX}{name}").into_bytes()
}

pub(crate) fn code(hash: &str) -> Vec<u8> {
    format!("{CODE_PREFIX}{hash}").into_bytes()
}

pub(crate) fn run(id: &RunId) -> Vec<u8> {
    format!("{RUN_PREFIX}{id}").into_bytes()
}

pub(crate) fn run_jobs(id: &RunId) -> Vec<u8> {
    format!("{RUN_JOBS_PREFIX}{id}").into_bytes()
}

pub(crate) fn run_settings(id: &RunId) -> Vec<u8> {
    format!("{RUN_SETTINGS_PREFIX}{id}").into_bytes()
}

/// The prefix of every job of run `id`.
pub(crate) fn jobs_of(id: &RunId) -> Vec<u8> {
    format!("{JOB_PREFIX}{id}/").into_bytes()
}

/// Job numbers are zero-padded so that a prefix scan lists them in order.
pub(crate) fn job(id: &RunId, number: u32) -> Vec<u8> {
    format!("{JOB_PREFIX}{id}/{number:06}").into_bytes()
}

pub(crate) fn service(key: &ServiceKey) -> Vec<u8> {
    format!("{SERVICE_PREFIX}{key}").into_bytes()
}

/// The prefix of every service of `role`.
pub(crate) fn services_of_role(role: &str) -> Vec<u8> {
    format!("{SERVICE_PREFIX}{role}!").into_bytes()
}

pub(crate) fn args(key: &ServiceKey, action: &ActionName) -> Vec<u8> {
    format!("{ARGS_PREFIX}{key}/{action}").into_bytes()
}

/// The service and action of an args key (the inverse of [`args`]).
pub(crate) fn args_parts(entry: &[u8]) -> Option<(ServiceKey, ActionName)> {
    let text = std::str::from_utf8(entry.strip_prefix(ARGS_PREFIX.as_bytes())?).ok()?;
    let (service, action) = text.rsplit_once('/')?;
    Some((service.parse().ok()?, action.parse().ok()?))
}

pub(crate) fn args_of(key: &ServiceKey) -> Vec<u8> {
    format!("{ARGS_PREFIX}{key}/").into_bytes()
}

/// The last execution of recurring `action` of `key`.
pub(crate) fn recurring(key: &ServiceKey, action: &ActionName) -> Vec<u8> {
    format!("{RECURRING_PREFIX}{key}/{action}").into_bytes()
}

/// The prefix of the last executions of every recurring action of `key`.
pub(crate) fn recurring_of(key: &ServiceKey) -> Vec<u8> {
    format!("{RECURRING_PREFIX}{key}/").into_bytes()
}

/// A kind of secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IndexKind {
    Actor,
    Instance,
    Parent,
    Producer,
    Consumer,
    State,
}

impl IndexKind {
    fn as_str(self) -> &'static str {
        match self {
            IndexKind::Actor => "actor",
            IndexKind::Instance => "instance",
            IndexKind::Parent => "parent",
            IndexKind::Producer => "producer",
            IndexKind::Consumer => "consumer",
            IndexKind::State => "state",
        }
    }
}

/// The prefix of every entry of `kind` with `value`; the service key follows it.
pub(crate) fn index_prefix(kind: IndexKind, value: &str) -> Vec<u8> {
    format!("{INDEX_PREFIX}{}/{value}/", kind.as_str()).into_bytes()
}

pub(crate) fn index(kind: IndexKind, value: &str, key: &ServiceKey) -> Vec<u8> {
    let mut k = index_prefix(kind, value);
    k.extend_from_slice(key.to_string().as_bytes());
    k
}

/// The index value of an action state entry.
pub(crate) fn state_value(action: &ActionName, state: ActionState) -> String {
    format!("{action}:{state}")
}

/// The service key at the end of an index entry under `prefix`.
pub(crate) fn key_after_prefix(prefix: &[u8], entry: &[u8]) -> Option<ServiceKey> {
    let rest = entry.strip_prefix(prefix)?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}
