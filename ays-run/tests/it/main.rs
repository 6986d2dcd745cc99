//! Integration tests of ays-run's public API, in one binary.

mod creation;
mod executor;
mod planner;
mod repository;
mod run;
mod runtime;
mod support;
