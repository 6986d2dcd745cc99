//! Integration tests of ays-run's public API, in one binary.

mod creation;
mod distributed;
mod executor;
mod planner;
mod recurring;
mod repository;
mod run;
mod runtime;
mod support;
