//! Schemas of ays-core's state enums for the OpenAPI document, built from the enums' own lists
//! of states, so that the document names exactly the states the repository stores.

use ays_core::{ActionState, JobLogCategory, JobState};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

fn names(description: &str, names: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some(description))
        .build()
}

/// The states of an action ([`ActionState`]).
pub(crate) fn action_state() -> Object {
    names(
        "The state of an action of a service.",
        ActionState::ALL.map(ActionState::as_str),
    )
}

/// The states of a job, a step or a run ([`JobState`]).
pub(crate) fn job_state() -> Object {
    names(
        "The state of a job, a step or a run.",
        JobState::ALL.map(JobState::as_str),
    )
}

/// The categories of job log lines ([`JobLogCategory`]).
pub(crate) fn log_category() -> Object {
    names(
        "The category of a job log line.",
        JobLogCategory::ALL.map(JobLogCategory::as_str),
    )
}
