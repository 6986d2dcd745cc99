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
//! # Modules
//!
//! - `ids`, `action_state`: identifiers ([`ServiceKey`], [`ActorName`], [`ActionName`]) and the
//!   per-action [`ActionState`] machine.
//! - `template`: finding and reading actor templates ([`TemplateSet`], [`Template`]).
//! - `actor`, `service`: the stored domain ([`Actor`], [`Service`], [`ServiceFilter`]).
//! - `keys`: every store key and secondary index, in one place.
//! - `record`: domain values ↔ the Cap'n Proto models of ays-schema.
//! - `repo` (`services`): [`Repository`]: init, discovery, actors; service queries, states,
//!   delete; destroy.
//! - `staging`: the read-your-writes working set every change goes through, committed as one
//!   batch with its index updates.
//! - `lock`: the repository write lock every change holds.
//! - `runs`: run and job records ([`RunRecord`], [`JobRecord`]) and the atomic job start and
//!   end; `run_lock`: one run at a time per repository ([`RunLock`]).
//! - `blueprint` (`parse`, `value`, `apply`): blueprints.
//! - `update`: `ays actor update`; `mirror`: `ays export` / `ays restore`.
//! - `testing` (feature `testing`, for tests of this and other crates): `testing::TestRepo`, a
//!   repository in a temporary directory on the embedded store or on a throw-away Redis server,
//!   the locator of the shared fixtures, and `both!`, which runs a test body once per backend.
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
mod error;
mod ids;
mod keys;
mod lock;
mod mirror;
mod record;
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
pub use blueprint::{ApplyOptions, BlueprintReport, ScheduledAction, UpdatedService};
pub use error::{BlueprintError, CoreError, Location, TemplateError};
pub use ids::{ActionName, ActorName, InstanceName, NameError, RunId, ServiceKey};
pub use mirror::{ExportReport, RestoreReport};
pub use repo::{ActionRun, ActorSummary, DestroyReport, InitOptions, Repository};
pub use run_lock::{DEFAULT_RUN_LEASE, RunLock, RunLockInfo, RunLockOptions};
pub use runs::{
    JobFilter, JobLog, JobLogCategory, JobRecord, JobRef, JobState, JobStateChange, RunRecord,
    RunStepRecord, RunSummary,
};
pub use service::{
    EventFilter, Service, ServiceAction, ServiceDetail, ServiceFilter, ServiceRef, ServiceStates,
};
pub use template::{
    ActionCode, ConsumeSpec, DEFAULT_ACTIONS, ParentSpec, Runtime, Template, TemplateAction,
    TemplateInfo, TemplateSet,
};
pub use update::ActorUpdate;
