//! Integration tests of ays-core: every scenario runs against the embedded store and Redis.

mod support;

mod blueprints;
mod creation;
mod events;
mod fuzz_blueprint;
mod lifecycle;
mod model;
mod relations;
mod runs;
mod scenarios;
mod snapshots;
mod templates;
mod upstream;
