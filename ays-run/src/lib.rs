//! AYS runs: the dependency planner, the parallel executor and the action runtimes.
//!
//! This crate turns scheduled actions into a [`Plan`] (a petgraph graph of (service, action)
//! jobs, layered into steps) and runs it in parallel through an [`ActionRunner`]. Every job
//! state change goes through a [`Journal`], so that a caller can persist it. Services, actors,
//! actions, run ids and states are ays-core's types ([`ays_core::ServiceKey`],
//! [`ays_core::ActionState`], [`ays_core::JobState`], …): this crate defines no name of its own
//! for them.
//!
//! **What it must not know**: Redis, HRD or the CLI. Its clock and thread pool are injected.
//!
//! # Two ways in
//!
//! - **On a repository** (what `ays run` does): [`create_run`] plans the repository's scheduled
//!   actions, stores the run, runs each job with the action code stored in the repository
//!   (`actions.sh`, `actions.py`, or native functions of an [`ActionRegistry`] given in
//!   [`RunOptions::registry`]) and stores every change as it happens; [`resume_run`],
//!   [`abandon_run`], [`show_run`], [`list_runs`] and [`unlock`] do the rest. Every action, native
//!   ones included, reads its service's data, parent, producers, consumers and args
//!   ([`NativeJob`], [`JobPayload`]) and may set data fields, which are validated against the
//!   actor's schema and stored atomically with the job's success. The workspace's examples
//!   show both: `examples/embed.rs` (`cargo run --example embed`: native actions on an
//!   in-memory store) and `examples/webfarm.rs` (`cargo run --example webfarm`: shell actions
//!   on the embedded store).
//! - **The engine alone**: build a [`PlanInput`] by hand (or with [`plan_input`]), plan it with
//!   [`Planner`] and run it with an [`Executor`] and any [`ActionRunner`] and [`Journal`].
//!
//! # Example
//!
//! ```
//! use ays_core::{ActionState, JobState};
//! use ays_run::{PlanInput, Planner, ServiceSpec};
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
//! assert_eq!(report.state, JobState::Ok);
//! let patch = report.job("cockpit!c1", "install").and_then(|j| j.outcome.clone()?.data_patch);
//! assert_eq!(patch, serde_json::json!({"installed": true}).as_object().cloned());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! - planning: [`PlanInput`], [`ServiceSpec`], [`ActionChains`] → [`Planner`] → [`Plan`]
//!   ([`Step`], [`PlannedJob`]; text and DOT renderings);
//! - executing: [`Executor`] with an [`ExecConfig`] ([`Schedule`], [`FailurePolicy`],
//!   [`RetryPolicy`], limits), a [`Clock`], a [`CancelToken`], reporting to a [`Journal`]
//!   ([`MemoryJournal`], [`JournalEvent`]) and returning a [`RunReport`];
//! - runtimes, each an [`ActionRunner`]: [`ActionRegistry`] (native Rust functions),
//!   [`ShellRuntime`] (`actions.sh`), [`PythonRuntime`] (`actions.py`, a forking server);
//!   they read a job's service through a [`PayloadSource`];
//! - creation: [`CreationActions`] runs templates' `input` and `init` while ays-core applies a
//!   blueprint (an [`ays_core::creation::CreationRuntime`]);
//! - on a repository: [`create_run`] and its siblings, with [`RunOptions`] (every field has a
//!   default; set what you need), [`RunObserver`] for progress, [`RepositoryRunner`];
//! - recurring actions, which a daemon drives: [`recurring::RecurringSchedule`] says which are
//!   due, [`run_recurring`] runs one outside any run ([`RecurringOptions`],
//!   [`RecurringOutcome`]).
//!
//! # Runs on a repository
//!
//! - Limits come from the actor templates (`config.yaml` or `actor.hrd`):
//!   `concurrency: N` caps the jobs of an actor at once ([`ExecConfig::per_actor`]), and
//!   `retries: {install: 3}`, `retry_delay: {install: 2s}` (default 1s) and
//!   `retry_max_delay: {install: 1m}` (default 1m) give an action up to 3 retries, waiting 2s,
//!   4s, 8s … capped at 1m ([`ExecConfig::retries`], [`RetryPolicy`]). Every attempt leaves a
//!   numbered line in its job's log (`attempt 2 failed (error): …`, `attempt 3 ok`).
//! - An action without code (no function in the actions file, no native function) succeeds
//!   without running anything, and its job log says so; a registry holding an action that no
//!   actor of the run has is refused ([`RunError::UnknownNativeAction`]).
//! - Ctrl-C ([`RunOptions::cancel`]) once stops starting jobs and waits for the running ones,
//!   twice kills them; either way the run stays unfinished (`running`), and [`resume_run`]
//!   runs what did not end, killed jobs included, with the schedule and failure policy stored
//!   with the run.
//! - [`create_run`] refuses to start while an older run is unfinished
//!   ([`RunError::Unfinished`]): resume it, or give it up with [`abandon_run`].
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod clock;
mod creation;
mod dispatch;
pub mod distributed;
mod error;
mod executor;
mod input;
mod job;
mod journal;
mod orchestrate;
mod plan;
mod planner;
pub mod recurring;
mod repository;
mod runner;
mod runtime;
mod store_journal;

pub use clock::{Clock, ManualClock, SystemClock};
pub use creation::{CREATION_TIMEOUT, CreationActions};
pub use error::{
    ExecError, JobKey, JournalError, PlanError, RunError, RuntimeError, SourceError, WorkerError,
};
pub use executor::{
    ExecConfig, Executor, FailurePolicy, JobReport, RetryPolicy, RunReport, Schedule,
};
pub use input::{ActionChains, PlanInput, ServiceInput, ServiceSpec};
pub use job::{
    ActionRunner, CancelToken, DataPatch, FailureKind, JobContext, JobFailure, JobOutcome, LogEntry,
};
pub use journal::{Attempt, Journal, JournalEvent, MemoryJournal, ResumeState};
pub use orchestrate::{
    AssumeScheduled, RunDetail, RunOptions, RunOutcome, RunTimings, abandon_run, create_run,
    list_runs, resume_run, show_run, unlock,
};
pub use plan::{JobId, Plan, PlannedJob, Step};
pub use planner::Planner;
pub use recurring::{RecurringOptions, RecurringOutcome, run_recurring};
pub use repository::plan_input;
pub use runner::RepositoryRunner;
pub use runtime::{
    ActionFailed, ActionRegistry, JobPayload, NativeJob, PayloadSource, PythonMode, PythonRuntime,
    ServiceView, ShellMode, ShellRuntime,
};
pub use store_journal::RunObserver;
