//! Distributed execution: a run's attempts executed by worker processes on any machine that
//! reaches the store, through ays-store's message queue (Redis Streams).
//!
//! - [`run_worker`] is a worker (`ays worker`); [`list_workers`] reads their heartbeats
//!   (`ays worker list`).
//! - A run with [`RunOptions::workers`](crate::RunOptions::workers) set executes through the
//!   stream dispatcher: its planner, journal and group commit are those of a local run, and
//!   native actions (which live in the coordinator's process) still run locally.
//!
//! Delivery is at least once: an attempt whose worker died runs again on another, and the
//! first result of an attempt is the one recorded.

mod coordinator;
mod wire;
mod worker;

pub(crate) use coordinator::StreamDispatcher;
pub use coordinator::list_workers;
pub use wire::{InFlightJob, WORKERS_NAMESPACE, WorkerRecord};
pub use worker::{WorkerOptions, WorkerReport, run_worker};
