//! The errors of ays-core: [`TemplateError`] (reading actor templates), [`BlueprintError`]
//! (parsing and resolving blueprints) and [`CoreError`] (everything a repository operation can
//! hit, wrapping the other two).

use std::fmt;
use std::path::PathBuf;

use crate::action_state::TransitionError;
use crate::ids::NameError;

/// Where something is in a file: `file:line` (1-based line; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Location {
    /// The file, as given (a blueprint path, a template file).
    pub file: String,
    /// The 1-based line.
    pub line: usize,
}

impl Location {
    /// A location in `file` at `line`.
    pub fn new(file: impl Into<String>, line: usize) -> Self {
        Location {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// An actor template that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A template file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `schema.hrd` or `actor.hrd` is invalid.
    #[error("template `{template}`: invalid HRD")]
    Hrd {
        /// The template name.
        template: String,
        /// The parser's error (it carries file, line and field).
        #[source]
        source: Box<ays_hrd::HrdError>,
    },
    /// A `config.yaml` is invalid.
    #[error("template `{template}`: invalid config.yaml")]
    ConfigYaml {
        /// The template name.
        template: String,
        /// The reader's error (it carries file, line, column and field).
        #[source]
        source: Box<ays_hrd::ConfigYamlError>,
    },
    /// A `schema.capnp` (given or generated) is invalid.
    #[error("template `{template}`: invalid schema.capnp")]
    Schema {
        /// The template name.
        template: String,
        /// The parser's error.
        #[source]
        source: Box<ays_schema::SchemaError>,
    },
    /// A `config.yaml` or actions file is malformed.
    #[error("{at}: template `{template}`: {reason}")]
    Malformed {
        /// Where.
        at: Location,
        /// The template name.
        template: String,
        /// What is wrong.
        reason: String,
    },
    /// No template has this name.
    #[error("no actor template named `{name}`")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The template directory name is not a valid actor name.
    #[error("template directory {}: {source}", path.display())]
    BadName {
        /// The directory.
        path: PathBuf,
        /// Why the name is invalid.
        #[source]
        source: NameError,
    },
}

/// A blueprint that cannot be applied. Every variant names the file and line, and the block key
/// (`actor__instance`) or attribute involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlueprintError {
    /// The blueprint file could not be read.
    #[error("cannot read blueprint {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{at}: invalid YAML: {reason}")]
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The parser's message.
        reason: String,
    },
    /// A block is malformed (not `actor__instance`, a non-mapping body, a bad `actions:` entry).
    #[error("{at}: `{key}`: {reason}")]
    Malformed {
        /// Where.
        at: Location,
        /// The key of the block or entry.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The same key appears twice (in one mapping, or as a service across the blueprints).
    #[error("{at}: duplicate key `{key}` (first at {first})")]
    Duplicate {
        /// The second occurrence.
        at: Location,
        /// The key.
        key: String,
        /// The first occurrence.
        first: Location,
    },
    /// No actor template has this name.
    #[error("{at}: `{key}`: unknown actor `{actor}`")]
    UnknownActor {
        /// Where.
        at: Location,
        /// The block key.
        key: String,
        /// The actor name.
        actor: String,
    },
    /// An attribute the actor's schema does not declare.
    #[error("{at}: `{key}`: unknown attribute `{attribute}` (valid: {})", valid.join(", "))]
    UnknownAttribute {
        /// Where.
        at: Location,
        /// The service key.
        key: String,
        /// The attribute as written.
        attribute: String,
        /// The valid attribute names (HRD spelling when known).
        valid: Vec<String>,
    },
    /// An attribute value of the wrong type or failing the field's rule.
    #[error("{at}: `{key}`: attribute `{attribute}`: {reason}")]
    BadValue {
        /// Where the value is.
        at: Location,
        /// The service key.
        key: String,
        /// The attribute.
        attribute: String,
        /// What is wrong.
        reason: String,
    },
    /// A required parent cannot be found (and is not `auto`).
    #[error("{at}: `{key}`: missing parent of role `{role}`{}", instance.as_deref().map(|i| format!(" named `{i}`")).unwrap_or_default())]
    MissingParent {
        /// Where.
        at: Location,
        /// The service key.
        key: String,
        /// The parent role.
        role: String,
        /// The instance asked for, if any.
        instance: Option<String>,
    },
    /// Several candidates for a parent and none named.
    #[error("{at}: `{key}`: {count} services of role `{role}` could be the parent: name one")]
    AmbiguousParent {
        /// Where.
        at: Location,
        /// The service key.
        key: String,
        /// The parent role.
        role: String,
        /// How many candidates.
        count: usize,
    },
    /// Fewer producers than the consume spec's `min`, and not `auto`.
    #[error("{at}: `{key}`: needs at least {min} producer(s) of role `{role}`, found {found}")]
    TooFewProducers {
        /// Where.
        at: Location,
        /// The service key.
        key: String,
        /// The producer role.
        role: String,
        /// The minimum.
        min: u32,
        /// How many there are.
        found: usize,
    },
    /// More producers named than the consume spec's `max`.
    #[error("{at}: `{key}`: at most {max} producer(s) of role `{role}` allowed, {found} named")]
    TooManyProducers {
        /// Where.
        at: Location,
        /// The service key.
        key: String,
        /// The producer role.
        role: String,
        /// The maximum.
        max: u32,
        /// How many were named.
        found: usize,
    },
    /// The blueprint nests sequences and mappings deeper than blueprints may.
    #[error("{at}: nested deeper than {limit} levels")]
    TooDeep {
        /// Where the nesting passes the limit.
        at: Location,
        /// The limit.
        limit: usize,
    },
    /// The relations would form a cycle (a service consuming itself, or `a` consuming `b`
    /// consuming `a`): no run could order their actions.
    #[error("{at}: `{key}`: consume cycle {}", cycle.join(" -> "))]
    Cycle {
        /// Where the first service of the cycle that the blueprint names is declared.
        at: Location,
        /// That service's blueprint key.
        key: String,
        /// The services of the cycle, each consuming the next, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// An `actions:` entry matches no service.
    #[error("{at}: action `{action}` matches no service (actor `{actor}`, service `{service}`)")]
    NoMatch {
        /// Where.
        at: Location,
        /// The action.
        action: String,
        /// The actor filter (`*` when absent).
        actor: String,
        /// The service filter (`*` when absent).
        service: String,
    },
    /// An action cannot be scheduled (disabled, unknown).
    #[error("{at}: `{key}`: action `{action}`: {reason}")]
    Action {
        /// Where.
        at: Location,
        /// The service key.
        key: String,
        /// The action.
        action: String,
        /// Why.
        reason: String,
    },
    /// A template's `input` or `init` failed while the blueprint created or initialised a
    /// service (the detail is its traceback, naming the template's file and line).
    #[error("{at}: `{key}`: {action} failed: {}{}", failure.message, if failure.detail.is_empty() { String::new() } else { format!("\n{}", failure.detail.trim_end()) })]
    CreationFailed {
        /// The blueprint block that led to it.
        at: Location,
        /// The service.
        key: String,
        /// `input` or `init`.
        action: &'static str,
        /// The error and its traceback.
        failure: Box<crate::creation::CreationFailure>,
    },
    /// A template defines `input` or `init`, and nothing can run it.
    #[error("{at}: `{key}`: its template defines `{action}`, which runs when a blueprint creates a service{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    NoCreationRuntime {
        /// The blueprint block that led to it.
        at: Location,
        /// The service.
        key: String,
        /// `input` or `init`.
        action: &'static str,
        /// Why it cannot run.
        reason: String,
    },
    /// An actor template could not be loaded.
    #[error("{at}: `{key}`: cannot load the actor template")]
    Template {
        /// Where.
        at: Location,
        /// The block key.
        key: String,
        /// The cause.
        #[source]
        source: Box<TemplateError>,
    },
}

/// Everything a repository operation can hit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A file or directory operation failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done (`cannot create`, `cannot read`).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No `.ays/config.yaml` in the directory or any parent.
    #[error("{} is not inside an AYS repository (no .ays/config.yaml found upward)", start.display())]
    NotARepository {
        /// Where the search started.
        start: PathBuf,
    },
    /// `init` on a directory that already is a repository.
    #[error("{} already is an AYS repository", dir.display())]
    AlreadyRepository {
        /// The directory.
        dir: PathBuf,
    },
    /// The repository config is malformed.
    #[error("{at}: invalid repository config: {reason}")]
    Config {
        /// Where.
        at: Location,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error("store failed during {op}")]
    Store {
        /// The operation.
        op: &'static str,
        /// The cause.
        #[source]
        source: ays_store::StoreError,
    },
    /// Another change held the repository write lock for longer than we waited.
    #[error(
        "the repository is busy with another change ({holder}) after waiting {waited:?}; retry"
    )]
    Busy {
        /// Who holds the lock.
        holder: String,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// A stored record cannot be read.
    #[error("corrupt record at `{key}`: {reason}")]
    Corrupt {
        /// The store key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Service data cannot be encoded or decoded.
    #[error("service data of `{key}`")]
    Codec {
        /// The service key (or actor name).
        key: String,
        /// The cause.
        #[source]
        source: ays_schema::CodecError,
    },
    /// Deleting a service would leave services without a producer they need.
    #[error("cannot delete {key}: {}; delete those too, or force it (their data then drops the name)", needed.join("; "))]
    ProducerNeeded {
        /// The service to delete.
        key: String,
        /// Each service left short, with what it needs.
        needed: Vec<String>,
    },
    /// No such service.
    #[error("no service `{key}`")]
    ServiceNotFound {
        /// The key.
        key: String,
    },
    /// No such actor.
    #[error("no actor `{name}` in the repository")]
    ActorNotFound {
        /// The name.
        name: String,
    },
    /// The service has no such action.
    #[error("service `{key}` has no action `{action}`")]
    UnknownAction {
        /// The service key.
        key: String,
        /// The action.
        action: String,
    },
    /// An action state transition was refused.
    #[error("service `{key}`, action `{action}`")]
    Transition {
        /// The service key.
        key: String,
        /// The action.
        action: String,
        /// Why.
        #[source]
        source: TransitionError,
    },
    /// An actor update would change a field's type incompatibly; nothing was changed.
    #[error(
        "actor `{actor}`: schema change of field `{field}` is incompatible ({change}); nothing was changed"
    )]
    IncompatibleSchema {
        /// The actor.
        actor: String,
        /// The field.
        field: String,
        /// The change, in words.
        change: String,
    },
    /// `restore` found no mirror written by `export` where it looked.
    #[error("no export mirror in {}: {missing} is missing (`ays export` writes one)", dir.display())]
    NoMirror {
        /// The directory given.
        dir: PathBuf,
        /// What is not there: the directory itself, `actors/` or `services/`.
        missing: String,
    },
    /// `export` was pointed at a directory whose `actors/` or `services/` is not a mirror,
    /// which it would replace.
    #[error("{} is not an export mirror ({reason}); export into an empty directory or an earlier export", dir.display())]
    NotAMirror {
        /// The directory found.
        dir: PathBuf,
        /// Why it is not a mirror.
        reason: String,
    },
    /// A mirror file (export/restore) is malformed.
    #[error("{}: {reason}", path.display())]
    Mirror {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another run holds the repository's run lock.
    #[error(
        "run `{run}` (pid {pid} on {host}, since {since_ms} ms after the epoch) holds the run lock; wait for it, or `ays run unlock --force` if it is gone"
    )]
    RunLocked {
        /// The holding run.
        run: String,
        /// Its host.
        host: String,
        /// Its process id.
        pid: u32,
        /// When it took the lock (ms since the epoch).
        since_ms: i64,
    },
    /// No run has this id.
    #[error("no run `{run}`")]
    RunNotFound {
        /// The run asked for.
        run: crate::ids::RunId,
    },
    /// The run has not ended (`new` or `running`), so it cannot be deleted: resume or abandon
    /// it first.
    #[error("run `{run}` is {state}, not finished: resume or abandon it first")]
    RunNotFinished {
        /// The run.
        run: crate::ids::RunId,
        /// Its state.
        state: crate::runs::JobState,
    },
    /// A name given by the caller is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A template could not be loaded.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A blueprint could not be applied; nothing was written.
    #[error(transparent)]
    Blueprint(#[from] BlueprintError),
}

impl CoreError {
    pub(crate) fn store(op: &'static str) -> impl FnOnce(ays_store::StoreError) -> CoreError {
        move |source| CoreError::Store { op, source }
    }

    pub(crate) fn io(
        op: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> CoreError {
        let path = path.to_path_buf();
        move |source| CoreError::Io { op, path, source }
    }
}
