//! The AYS domain: repositories, actor templates, actors, services and blueprints.
//!
//! A [`Repository`] is a directory with `.ays/config.yaml`, `actorTemplates/` and
//! `blueprints/`, bound to a key value store namespace (its id). Templates become
//! [`Actor`]s on first use; blueprints create or update [`Service`]s, link them (parent,
//! producers, consumers) and schedule their actions; everything a blueprint does is validated
//! first and written in one atomic batch.
//!
//! **What it must not know**: it names no backend (the store comes from a URL through
//! `ays_store::open_namespaced`), schedules no run and executes no action.
//!
//! # Example
//!
//! ```
//! use ays_core::{ApplyOptions, InitOptions, Repository, ServiceFilter};
//!
//! let dir = tempfile::tempdir()?;
//! let repo = Repository::init(dir.path(), InitOptions { store_url: Some("mem://".into()), ..InitOptions::default() })?;
//! std::fs::create_dir_all(dir.path().join("actorTemplates/sshkey"))?;
//! std::fs::write(dir.path().join("actorTemplates/sshkey/schema.hrd"), "key.path = type:str default:'/root/.ssh'\n")?;
//! let report = repo.apply_blueprint_text("bp.yaml", "sshkey__main:\nactions:\n  - action: install\n", ApplyOptions::default())?;
//! assert_eq!(report.created, ["sshkey!main".parse()?]);
//! let keys = repo.service_keys(&ServiceFilter::all())?;
//! let shown = repo.show_service(&keys[0])?;
//! assert_eq!(shown.data["keyPath"], "/root/.ssh");
//! assert_eq!(shown.actions.iter().find(|a| a.name.as_str() == "install").map(|a| a.state.as_str()), Some("scheduled"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is public
//!
//! - Identifiers and states, each defined once for the whole workspace: [`ServiceKey`],
//!   [`ActorName`], [`ActionName`], [`InstanceName`], [`RunId`] (validated in `FromStr`, failing
//!   with a [`NameError`]), the per-action [`ActionState`] machine and [`JobState`].
//! - [`Repository`]: [`Repository::init`], [`Repository::open`] and [`Repository::open_from`];
//!   templates ([`TemplateSet`], [`Template`]; built in code from a [`TemplateSource`] and
//!   installed with [`Repository::install_template`]) and actors ([`Actor`], `actor update` as
//!   [`ActorUpdate`]); services and their queries ([`Service`], [`ServiceFilter`],
//!   [`ServiceDetail`], [`ServiceStates`]); external events and the actions they run
//!   ([`Event`], [`EventFilter`], [`Repository::event_targets`], [`EventTarget`]); blueprints ([`Repository::apply_blueprint_text`], [`check_blueprint`],
//!   [`ApplyOptions`], [`BlueprintReport`]); `export`/`restore` ([`ExportReport`],
//!   [`RestoreReport`]); destroy ([`DestroyReport`]).
//! - Runs as stored ([`RunRecord`], [`JobRecord`], [`JobLog`], [`RunSummary`], [`JobFilter`]),
//!   the atomic job start and end ([`Repository::start_job`], [`Repository::finish_job`]) and
//!   the one-run-at-a-time lock ([`RunLock`]), deleting a finished run
//!   ([`Repository::delete_run`]), and the last execution of each recurring action outside runs
//!   ([`Repository::save_recurring_job`], [`Repository::recurring_job`]). ays-run plans and
//!   executes runs; this crate only stores them.
//! - Errors: [`CoreError`] for every repository operation, with [`BlueprintError`] and
//!   [`TemplateError`] as located causes. The error and value types of the crates below that
//!   appear in its signatures are re-exported, so that a caller can match on them without
//!   depending on those crates: [`StoreError`], [`CodecError`], [`KvStore`] and [`serde_json`].
//!
//! Every change to actors and services is validated completely, then written with its index
//! entries in one atomic batch, under the repository's write lock.
//!
//! # Stores
//!
//! The store comes from a URL (`--store`, `AYS_STORE` or `.ays/config.yaml`): the embedded
//! `redb:///path/file.redb` (the default, `.ays/store.redb`), `redis://host:port/db`, or
//! `mem://` in memory. A private `mem://` store lives as long as the [`Repository`] that opened
//! it: reopening the directory with [`Repository::open`] and `mem://` gives a new, empty store.
//! To share an in-memory store within a process, name it (`mem://NAME`): every handle opened
//! with the same name sees the same data.
//!
//! With the feature `testing` (for tests of this and other crates), `testing::TestRepo` is a
//! repository in a temporary directory on the embedded store or on a throw-away Redis server,
//! with the locator of the shared fixtures and `both!`, which runs a test body once per backend.
//!
//! See the workspace's examples: `cargo run --example embed` (a repository on an in-memory
//! store, run with native actions) and `cargo run --example webfarm`.
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
#![deny(missing_docs)]

mod action_state;
mod actor;
mod blueprint;
pub mod creation;
mod error;
mod events;
mod ids;
mod keys;
mod lock;
mod mirror;
mod record;
mod recurring;
mod repo;
mod run_lock;
mod runs;
mod service;
mod staging;
mod template;
#[cfg(feature = "testing")]
pub mod testing;
mod update;

pub use action_state::{ActionState, TransitionError, UnknownState};
pub use actor::{Actor, ActorAction};
pub use blueprint::{
    ApplyOptions, BlueprintReport, FieldChange, ScheduledAction, UpdatedService, check_blueprint,
};
pub use error::{BlueprintError, CoreError, Location, TemplateError};
pub use events::{Event, EventTarget};
pub use ids::{ActionName, ActorName, InstanceName, NameError, RunId, ServiceKey};
pub use mirror::{ExportReport, RestoreReport};
pub use repo::{
    ActionRun, ActorSummary, DataDecoder, DeleteOptions, DeletePlan, DestroyReport, InitOptions,
    OpenOptions, Repository, Unlinked,
};
pub use run_lock::{DEFAULT_RUN_LEASE, RunLock, RunLockInfo, RunLockOptions};
pub use runs::{
    JobChange, JobFilter, JobLog, JobLogCategory, JobRecord, JobRef, JobState, JobStateChange,
    RunRecord, RunStepRecord, RunSummary,
};
pub use service::{
    EventFilter, Service, ServiceAction, ServiceDetail, ServiceFilter, ServiceRef, ServiceStates,
};
pub use template::{
    ActionCode, ConsumeSpec, DEFAULT_ACTIONS, ParentSpec, Runtime, Template, TemplateAction,
    TemplateInfo, TemplateSet, TemplateSource,
};
pub use update::ActorUpdate;

pub use ays_schema::CodecError;
pub use ays_store::{KvStore, StoreError};
pub use serde_json;
