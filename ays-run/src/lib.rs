//! AYS runs: the petgraph planner and the parallel executor.
//!
//! This crate is built by issue #4 (runs, planner, executor, action runtimes). It turns scheduled
//! actions into steps and runs each step in parallel; it knows nothing of Redis, HRD or the CLI.
//! Until that issue lands it exports nothing.
