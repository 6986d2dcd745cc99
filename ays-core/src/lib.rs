//! The AYS domain: repositories, actor templates, actors, services and blueprints.
//!
//! This crate is built by issue #3 (repositories, actors, services, blueprints). It owns the
//! domain and persists it through an `ays_store` store with the `ays_schema` codec; it names no
//! backend, schedules nothing and runs no action. Until that issue lands it exports nothing.
