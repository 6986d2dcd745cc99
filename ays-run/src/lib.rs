//! AYS runs: the dependency planner and the parallel executor.
//!
//! This crate turns scheduled actions into a [`Plan`] (a petgraph graph of (service, action)
//! nodes, layered into steps) and runs it in parallel through an [`ActionRunner`. It knows
//! nothing of Redis, HRD or the CLI; its clock and thread pool are injected, and every job state
//! change goes through a [`Journal`] so that a caller can persist it.
//!
//! Modules, one concept each:
//! - `input`: the snapshot the planner reads ([`PlanInput`], [`ServiceSpec`], [`ActionChains`]);
//! - `planner` and `plan`: [`Planner`] builds a [`Plan`] (steps, prerequisites, text and DOT);
//! - `executor`, `job`, `journal` and `clock`: [`Executor`] runs a plan;
//! - `runtime`: action runtimes (native functions, `actions.sh`, `actions.py`);
//! - `repository`: a repository of ays-core as [`PlanInput`] and as job payloads
//!   ([`RepositoryPayload`]);
//! - `store_journal`: [`StoreJournal`] persists every change of a run in the repository;
//! - `runner`: [`RepositoryRunner`] runs each job with the repository's stored action code;
//! - `orchestrate`: what `ays run` calls: [`create_run`], [`resume_run`],
//!   [`abandon_run`], [`show_run`], [`list_runs`], [`unlock`].
//!
//! # Example
//!
//! ```
//! use ays_run::{ActionState, PlanInput, Planner, ServiceSpec};
//!
//! let mut input = PlanInput::new();
//! input.add_service(ServiceSpec::new("datacenter!dc1", "datacenter")
//!     .action("init", ActionState::Ok)
//!     .action("install", ActionState::Scheduled))?;
//! input.add_service(ServiceSpec::new("cockpit!c1", "cockpit")
//!     .parent("datacenter!dc1")
//!     .action("init", ActionState::Ok)
//!     .action("install", ActionState::Scheduled))?;
//! let plan = Planner::new().plan(&input)?;
//! assert_eq!(plan.render_text(), "\
//! step 1
//!   datacenter!dc1 install [scheduled]
//! step 2
//!   cockpit!c1 install [scheduled] after datacenter!dc1:install
//! ");
//!
//! // Run it: native actions, four threads, the dag schedule, an in-memory journal.
//! let mut actions = ays_run::ActionRegistry::new();
//! actions.register("install", |job| {
//!     job.set("installed", serde_json::json!(true));
//!     Ok(())
//! })?;
//! let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build()?;
//! let executor = ays_run::Executor::new(
//!     std::sync::Arc::new(pool),
//!     std::sync::Arc::new(ays_run::SystemClock::new()),
//!     ays_run::ExecConfig::default(),
//! );
//! let journal = ays_run::MemoryJournal::new();
//! let report = executor.run(&"run1".parse()?, &plan, &actions, &journal)?;
//! assert_eq!(report.state, ays_run::RunState::Ok);
//! let patch = report.job("cockpit!c1", "install").and_then(|j| j.outcome.clone()?.data_patch);
//! assert_eq!(patch, serde_json::json!({"installed": true}).as_object().cloned());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate knows nothing of Redis, HRD, blueprints or the CLI: ays-core fills a [`PlanInput`]
//! and implements [`PayloadSource`]; the caller persists through its own [`Journal`].
//!
//! # Runs on a repository
//!
//! - Limits come from the actor templates (see ays-core's `template` module):
//!   `concurrency: N` caps the jobs of an actor at once ([`ExecConfig::per_actor`]), and
//!   `retries: {install: 3}`, `retry_delay: {install: 2s}` (default 1s) and
//!   `retry_max_delay: {install: 1m}` (default 1m) give an action up to 3 retries, waiting 2s,
//!   4s, 8s … capped at 1m ([`ExecConfig::retries`], [`RetryPolicy`]). Every attempt leaves a
//!   numbered line in its job's log (`attempt 2 failed (error): …`, `attempt 3 ok`).
//! - Ctrl-C ([`RunOptions::cancel`]) once stops starting jobs and waits for the running ones,
//!   twice kills them; either way the run stays unfinished (`running`), and [`resume_run`]
//!   runs what did not end, killed jobs included, with the schedule and failure policy stored
//!   with the run.
//! - [`create_run`] refuses to start while an older run is unfinished
//!   ([`RunError::Unfinished`]): resume it, or give it up with [`abandon_run`].
#![deny(missing_docs)]
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod clock;
mod error;
mod executor;
mod input;
mod job;
mod journal;
mod orchestrate;
mod plan;
mod planner;
mod repository;
mod runner;
mod runtime;
mod store_journal;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ExecError, JobKey, JournalError, PlanError, RunError, RuntimeError, SourceError};
pub use executor::{
    ExecConfig, Executor, FailurePolicy, JobReport, RetryPolicy, RunReport, Schedule,
};
pub use input::{
    ActionChains, ActionName, ActionState, ActorName, PlanInput, ServiceInput, ServiceKey,
    ServiceSpec,
};
pub use job::{
    ActionRunner, CancelToken, DataPatch, FailureKind, JobContext, JobFailure, JobOutcome,
    JobState, LogCategory, LogEntry, RunId, RunState,
};
pub use journal::{Attempt, Journal, JournalEvent, MemoryJournal, ResumeState};
pub use orchestrate::{
    RunDetail, RunOptions, RunOutcome, abandon_run, create_run, list_runs, resume_run, show_run,
    unlock,
};
pub use plan::{JobId, Plan, PlannedJob, Step};
pub use planner::Planner;
pub use repository::{RepositoryPayload, plan_input};
pub use runner::RepositoryRunner;
pub use runtime::{
    ActionFailed, ActionRegistry, ActorsDir, BarePayload, DEFAULT_OUTPUT_CAP, JobPayload,
    NativeJob, PayloadSource, PythonMode, PythonRuntime, ServiceView, ShellRuntime,
};
pub use store_journal::{RunObserver, StoreJournal, resume_state};
