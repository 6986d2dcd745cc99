//! Errors of requests: every one is answered with a JSON body
//! `{"error": {"code": "<stable code>", "message": "..."}}` and the status its code implies.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The stable code of an error: clients match on it, the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    /// 400: a name in the path breaks the rule of names, or is not a valid identifier.
    InvalidName,
    /// 400: the query string names an unknown parameter or repeats one.
    MalformedQuery,
    /// 400: the request body is not JSON.
    MalformedJson,
    /// 400: the request is malformed in another way.
    BadRequest,
    /// 401: no bearer token, or the wrong one.
    Unauthorized,
    /// 404: no route has this path.
    RouteNotFound,
    /// 404: no served repository has this name.
    RepositoryNotFound,
    /// 404: no service has this key.
    ServiceNotFound,
    /// 404: no actor has this name.
    ActorNotFound,
    /// 404: no run has this id.
    RunNotFound,
    /// 404: the run has no job with this number.
    JobNotFound,
    /// 404: the repository has no blueprint with this name.
    BlueprintNotFound,
    /// 405: the route exists, but not for this method.
    MethodNotAllowed,
    /// 409: the repository is busy with another change; retry.
    Busy,
    /// 409: a run holds the repository's run lock.
    RunLocked,
    /// 409: the run is queued already.
    RunQueued,
    /// 409: the run is executing.
    RunRunning,
    /// 409: the run has ended.
    RunFinished,
    /// 409: the run is neither queued nor executing.
    RunNotRunning,
    /// 409: an older run is unfinished: execute (resume) or delete it first.
    RunUnfinished,
    /// 409: the daemon creates no repository: it was started without `--repos-dir`.
    NoReposDir,
    /// 409: a repository (or another file) of this name exists already.
    RepositoryExists,
    /// 409: the daemon did not create this repository (it is not in its `--repos-dir`), so
    /// it does not delete it.
    NotDeletable,
    /// 409: a run of the repository is queued or executing.
    RepositoryBusy,
    /// 409: a blueprint of this name exists already (active or archived).
    BlueprintExists,
    /// 409: deleting the service would leave another without a producer it needs.
    ProducerNeeded,
    /// 409: the actor's template changed the type of a field its services hold.
    IncompatibleSchema,
    /// 413: the request body is larger than the daemon accepts.
    BodyTooLarge,
    /// 422: a query parameter's value is not of its type.
    InvalidValue,
    /// 422: the content is not a blueprint (invalid YAML, too deep, aliases expanding too
    /// far, a malformed block); the message names the file and line.
    InvalidBlueprint,
    /// 422: the content of a blueprint is larger than the daemon accepts (256 KiB).
    BlueprintTooLarge,
    /// 422: applying the blueprint was refused (an unknown actor or attribute, a value of the
    /// wrong type, a missing parent…); nothing changed. The message names the file and line.
    BlueprintRefused,
    /// 422: the actor's template cannot be read.
    InvalidTemplate,
    /// 422: the repository's scheduled actions cannot be planned (a cycle, a missing
    /// prerequisite, an action no actor has).
    Unplannable,
    /// 500: the daemon failed (a corrupt record, an unreadable file…).
    InternalError,
    /// 503: the repository's store failed; retry later.
    StoreUnavailable,
    /// 503: the daemon is shutting down and takes no new work.
    ShuttingDown,
}

impl ErrorCode {
    /// The HTTP status of the code.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidName
            | ErrorCode::MalformedQuery
            | ErrorCode::MalformedJson
            | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::RouteNotFound
            | ErrorCode::RepositoryNotFound
            | ErrorCode::ServiceNotFound
            | ErrorCode::ActorNotFound
            | ErrorCode::RunNotFound
            | ErrorCode::JobNotFound
            | ErrorCode::BlueprintNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Busy
            | ErrorCode::RunLocked
            | ErrorCode::RunQueued
            | ErrorCode::RunRunning
            | ErrorCode::RunFinished
            | ErrorCode::RunNotRunning
            | ErrorCode::RunUnfinished
            | ErrorCode::NoReposDir
            | ErrorCode::RepositoryExists
            | ErrorCode::NotDeletable
            | ErrorCode::RepositoryBusy
            | ErrorCode::BlueprintExists
            | ErrorCode::ProducerNeeded
            | ErrorCode::IncompatibleSchema => StatusCode::CONFLICT,
            ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidValue
            | ErrorCode::Unplannable
            | ErrorCode::InvalidBlueprint
            | ErrorCode::BlueprintTooLarge
            | ErrorCode::BlueprintRefused
            | ErrorCode::InvalidTemplate => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::StoreUnavailable | ErrorCode::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The code of an error response that something other than a handler made (a layer of
    /// the HTTP stack), from its status alone.
    pub(crate) fn of_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            StatusCode::NOT_FOUND => ErrorCode::RouteNotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidValue,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::StoreUnavailable,
            s if s.is_server_error() => ErrorCode::InternalError,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// The stable code.
    pub(crate) code: ErrorCode,
    /// What went wrong, for people.
    pub(crate) message: String,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// The error.
    pub(crate) error: ErrorDetail,
}

/// A request that failed: answered with its code's status and an [`ErrorBody`].
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    code: ErrorCode,
    message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// The error's code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> ErrorCode {
        self.code
    }

    /// A failure of the daemon itself, with the error and its causes as the message.
    pub(crate) fn internal(code: ErrorCode, err: &dyn std::error::Error) -> ApiError {
        ApiError::new(code, chain(err))
    }
}

/// `err` and its causes, `: `-separated.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl From<ays_core::CoreError> for ApiError {
    fn from(err: ays_core::CoreError) -> ApiError {
        use ays_core::CoreError;
        let code = match &err {
            CoreError::ServiceNotFound { .. } => ErrorCode::ServiceNotFound,
            CoreError::RunNotFound { .. } => ErrorCode::RunNotFound,
            CoreError::RunNotFinished { .. } => ErrorCode::RunUnfinished,
            CoreError::Name(_) => ErrorCode::InvalidName,
            CoreError::Busy { .. } => ErrorCode::Busy,
            CoreError::RunLocked { .. } => ErrorCode::RunLocked,
            CoreError::Store { .. } => ErrorCode::StoreUnavailable,
            CoreError::ProducerNeeded { .. } => ErrorCode::ProducerNeeded,
            CoreError::IncompatibleSchema { .. } => ErrorCode::IncompatibleSchema,
            // A blueprint is only ever applied at a request's asking, with what it sent.
            CoreError::Blueprint(_) => ErrorCode::BlueprintRefused,
            // The rest is the repository's own state (a corrupt record, an actor missing for
            // one of its services, an unreadable template): nothing the request can change.
            _ => ErrorCode::InternalError,
        };
        ApiError::internal(code, &err)
    }
}

impl From<ays_run::RunError> for ApiError {
    fn from(err: ays_run::RunError) -> ApiError {
        use ays_run::RunError;
        match err {
            RunError::NoSuchRun { run } => {
                ApiError::new(ErrorCode::RunNotFound, format!("no run `{run}`"))
            }
            RunError::Repository { source, .. } => ApiError::from(*source),
            RunError::Unfinished { run } => ApiError::new(
                ErrorCode::RunUnfinished,
                format!(
                    "run `{run}` is unfinished: execute it to resume it (POST .../aysrun/{run}) or delete it first"
                ),
            ),
            RunError::AlreadyFinished { run, state } => ApiError::new(
                ErrorCode::RunFinished,
                format!("run `{run}` has already ended ({state})"),
            ),
            err @ (RunError::Plan(_) | RunError::Source(_)) => {
                ApiError::internal(ErrorCode::Unplannable, &err)
            }
            other => ApiError::internal(ErrorCode::InternalError, &other),
        }
    }
}

impl From<crate::queue::QueueError> for ApiError {
    fn from(err: crate::queue::QueueError) -> ApiError {
        use crate::queue::QueueError;
        let code = match &err {
            QueueError::ShuttingDown => ErrorCode::ShuttingDown,
            QueueError::Running(_) => ErrorCode::RunRunning,
            QueueError::Store(_) => ErrorCode::StoreUnavailable,
            QueueError::Corrupt { .. } => ErrorCode::InternalError,
        };
        ApiError::new(code, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if status.is_server_error() {
            tracing::error!(code = ?self.code, message = %self.message, "request failed");
        } else {
            tracing::debug!(code = ?self.code, message = %self.message, "request refused");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
