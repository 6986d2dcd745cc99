//! `POST /webhooks/events`: an external event (a command with tags) queues, in each repository
//! concerned, a run of the actions that services' event filters (blueprint `eventfilters`,
//! template `events:`) map it to; they are scheduled when the run's turn comes. An event that
//! arrives while an event's run is still queued joins that run instead of queuing another.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ays_core::{ActionName, Event, RunId, ServiceKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::params::Body;
use super::{AppState, blocking};
use crate::queue::{self, RequestOptions, Target};

const TAG_EVENTS: &str = "events";

/// The channel of events that come through this route, unless they name theirs.
const WEBSERVICE: &str = "webservice";

/// An event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventBody {
    /// What happened (`deploy`, `backup`…): filters match it exactly.
    command: String,
    /// Its tags: a filter's tags must all be among them.
    #[serde(default)]
    tags: Vec<String>,
    /// Anything the sender adds; logged, not interpreted.
    #[serde(default)]
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    /// The secret a filter may require.
    #[serde(default)]
    secret: String,
    /// The channel it came by (default `webservice`).
    #[serde(default)]
    channel: Option<String>,
}

/// An action an event scheduled.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventTargetView {
    /// The repository.
    repository: String,
    /// The service.
    #[schema(value_type = String)]
    service: ServiceKey,
    /// The action.
    #[schema(value_type = String)]
    action: ActionName,
}

/// The run that will run an event's actions in one repository.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventRunView {
    /// The repository.
    repository: String,
    /// The run's id (`GET /ays/repository/{repository}/aysrun/{id}` follows it).
    #[schema(value_type = String)]
    id: RunId,
    /// Whether the event joined a run that was already queued.
    coalesced: bool,
}

/// What an event did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventOutcomeView {
    /// The actions it scheduled (none: no filter matched).
    targets: Vec<EventTargetView>,
    /// The runs that will run them, one per repository.
    runs: Vec<EventRunView>,
}

/// Takes an event: schedules the actions that match it in every served repository and queues
/// a run of them in each (or joins one already queued). 202 when something was scheduled, 200
/// when no filter matched.
#[utoipa::path(
    post,
    path = "/webhooks/events",
    operation_id = "post_event",
    tag = TAG_EVENTS,
    request_body(content = EventBody, description = "The event"),
    responses(
        (status = 200, description = "No filter matched: nothing was scheduled", body = EventOutcomeView),
        (status = 202, description = "Actions were scheduled and a run of them queued", body = EventOutcomeView),
        (status = 400, description = "A body that is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 422, description = "A field missing, unknown or of the wrong type (`invalid_value`)", body = ErrorBody),
        (status = 503, description = "The daemon is shutting down (`shutting_down`) or a store failed (`store_unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn post(
    State(app): State<AppState>,
    Body(body): Body<EventBody>,
) -> Result<(StatusCode, Json<EventOutcomeView>), ApiError> {
    if body.command.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "request body: `command` is empty",
        ));
    }
    let event = Event {
        command: body.command,
        tags: body.tags,
        secret: body.secret,
        channel: body.channel.unwrap_or_else(|| WEBSERVICE.to_owned()),
    };
    tracing::info!(command = %event.command, tags = ?event.tags, channel = %event.channel, payload = %body.payload, "event");
    let queues = app.queues.all();
    let outcome = blocking(move || {
        let mut outcome = EventOutcomeView {
            targets: Vec::new(),
            runs: Vec::new(),
        };
        for queue in queues {
            let repo = queue.repository();
            let targets = repo.event_targets(&event)?;
            if targets.is_empty() {
                continue;
            }
            let mut request = queue::create_request(RequestOptions::default());
            for target in targets {
                outcome.targets.push(EventTargetView {
                    repository: queue.name().to_owned(),
                    service: target.service.clone(),
                    action: target.action.clone(),
                });
                request.targets.push(Target {
                    service: target.service,
                    action: target.action,
                });
            }
            request.seed_with_targets();
            let (request, coalesced) = queue.submit_coalesced(request)?;
            outcome.runs.push(EventRunView {
                repository: queue.name().to_owned(),
                id: request.id,
                coalesced,
            });
        }
        Ok(outcome)
    })
    .await?;
    for queue in app.queues.all() {
        if outcome.runs.iter().any(|r| r.repository == queue.name()) {
            queue.kick();
        }
    }
    let status = if outcome.targets.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(outcome)))
}
