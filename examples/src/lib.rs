//! Runnable examples of the ays libraries: see `quickstart.rs` beside this crate.
