//! The conformance suite against every backend, and the Redis fault tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod embedded;
mod faulty;
mod memory;
mod open;
mod read_only;
mod redis;
