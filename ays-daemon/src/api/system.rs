//! `GET /health`, `GET /openapi.json`, and the answers to unknown routes and methods.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorCode};
use super::{AppState, TAG_SYSTEM};

/// The daemon's health.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`: the daemon answers.
    status: &'static str,
}

/// Says that the daemon answers; the one route that needs no token.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = TAG_SYSTEM,
    responses((status = 200, description = "The daemon answers", body = Health))
)]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The OpenAPI 3 document of this API, generated from the handlers' types.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = TAG_SYSTEM,
    responses((status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json")),
    security(("bearer" = []))
)]
pub(crate) async fn openapi(State(app): State<AppState>) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(app.document.as_ref())
        .map_err(|err| ApiError::internal(ErrorCode::InternalError, &err))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The answer to a path no route has.
pub(crate) async fn route_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!(
            "no route `{}` (GET /openapi.json lists them)",
            uri.path().escape_debug()
        ),
    )
}

/// The answer to a method a route does not have.
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("this route does not answer {method}"),
    )
}
