//! The HTTP API: the routes, their handlers (one module per kind of resource) and the layers
//! every request goes through.
//!
//! Every route is registered through utoipa-axum's `routes!`, which adds it to the OpenAPI
//! document as it adds it to the router, so the two list the same routes, but for the
//! dashboard's page (`dashboard`), which is no part of the API. Layers, outermost first:
//! tracing; JSON bodies for error responses the HTTP stack itself makes (405, 413); the body
//! size limit; the bearer token (every route but `GET /health` and the dashboard's); then the
//! routes, whose unknown paths answer `route_not_found`.

mod actor;
mod blueprint;
mod dashboard;
mod error;
mod events;
mod follow;
mod params;
mod recurring;
mod repository;
mod run;
mod run_queue;
mod schema;
mod service;
mod system;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use ays_core::Repository;
pub(crate) use error::chain;
use error::{ApiError, ErrorCode};

use crate::queue::RunQueues;
use crate::recurring::Recurring;
use crate::repositories::{ReposDir, Repositories};
use crate::token::Token;

/// The path of the one API route that needs no token.
pub(crate) const HEALTH_PATH: &str = "/health";

/// The largest request body accepted by default, in bytes.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

const TAG_SYSTEM: &str = "system";
const TAG_REPOSITORIES: &str = "repositories";
const TAG_SERVICES: &str = "services";
const TAG_ACTORS: &str = "actors";
const TAG_BLUEPRINTS: &str = "blueprints";
const TAG_RUNS: &str = "runs";

/// The name of the security scheme of the document.
const BEARER: &str = "bearer";

/// What the API serves: the repositories, their run queues, the token that guards them, and
/// limits.
#[derive(Debug, Clone)]
pub struct ApiState {
    repositories: Repositories,
    queues: Arc<RunQueues>,
    recurring: Arc<Recurring>,
    token: Token,
    body_limit: usize,
}

impl ApiState {
    /// The API over `repositories`, guarded by `token`, accepting bodies of up to
    /// [`DEFAULT_BODY_LIMIT`] bytes.
    pub fn new(repositories: Repositories, token: Token) -> ApiState {
        let queues = Arc::new(RunQueues::new(&repositories));
        ApiState {
            recurring: Arc::new(Recurring::new(Arc::clone(&queues))),
            queues,
            repositories,
            token,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Accepts request bodies of up to `bytes` bytes; larger ones are answered with 413.
    #[must_use]
    pub fn with_body_limit(mut self, bytes: usize) -> ApiState {
        self.body_limit = bytes;
        self
    }

    /// The repositories.
    pub(crate) fn repositories(&self) -> &Repositories {
        &self.repositories
    }

    /// The scheduler of recurring actions.
    pub(crate) fn recurring(&self) -> &Arc<Recurring> {
        &self.recurring
    }

    /// The run queues.
    pub(crate) fn queues(&self) -> &Arc<RunQueues> {
        &self.queues
    }
}

/// What handlers share: the served repositories (each opened once) with their run queues, and
/// the OpenAPI document.
#[derive(Clone)]
pub(crate) struct AppState {
    queues: Arc<RunQueues>,
    recurring: Arc<Recurring>,
    repos_dir: Option<Arc<ReposDir>>,
    document: Arc<OpenApi>,
}

impl AppState {
    /// The repository named `name`, after checking the name.
    fn repository(&self, name: &str) -> Result<Arc<Repository>, ApiError> {
        let name: String = params::name("repository", name)?;
        self.queues
            .get(&name)
            .map(|q| Arc::clone(q.repository()))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::RepositoryNotFound,
                    format!("no repository `{name}` is served (GET /ays/repository lists them)"),
                )
            })
    }
}

/// Runs `work`, which blocks on the store or the file system, on tokio's blocking threads.
async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::internal(ErrorCode::InternalError, &err))?
}

/// Every route, with the document it makes.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(system::health))
        .routes(routes!(system::openapi))
        .routes(routes!(repository::list, repository::create))
        .routes(routes!(repository::get, repository::delete))
        .routes(routes!(repository::destroy))
        .routes(routes!(blueprint::list, blueprint::create))
        .routes(routes!(
            blueprint::get,
            blueprint::update,
            blueprint::delete,
            blueprint::execute
        ))
        .routes(routes!(blueprint::archive))
        .routes(routes!(blueprint::restore))
        .routes(routes!(service::list))
        .routes(routes!(service::get, service::delete))
        .routes(routes!(recurring::list))
        .routes(routes!(recurring::scheduler))
        .routes(routes!(events::post))
        .routes(routes!(actor::list))
        .routes(routes!(actor::get, actor::update))
        .routes(routes!(actor::templates))
        .routes(routes!(run::list, run_queue::create))
        .routes(routes!(run::get, run_queue::execute, run_queue::delete))
        .routes(routes!(run_queue::cancel))
        .routes(routes!(run::jobs))
        .routes(routes!(run::job))
        .routes(routes!(follow::events))
        .merge(dashboard::routes())
}

/// The routes and their finished OpenAPI document.
fn split() -> (Router<AppState>, OpenApi) {
    let (router, mut document) = routes().split_for_parts();
    finish(&mut document);
    (router, document)
}

/// Adds what no handler declares: the title, the bearer scheme, and the responses every route
/// may give (401 where a token is needed, 413, 500, and 503 for a repository's store).
fn finish(document: &mut OpenApi) {
    document.info.title = "ays daemon".to_owned();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document.info.description = Some(
        "The REST API of `ays daemon`. Every route but `GET /health` needs the header \
         `Authorization: Bearer <token>` (`ays token show` prints the token). Every error is \
         `{\"error\": {\"code\", \"message\"}}` with a stable code."
            .to_owned(),
    );
    document.info.license = None;
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                            "ErrorBody",
                        ))))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
            &mut item.query,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            if secured {
                responses.insert(
                    "401".to_owned(),
                    error("No bearer token, or the wrong one (`unauthorized`)"),
                );
            }
            responses.insert(
                "413".to_owned(),
                error("The request body is too large (`body_too_large`)"),
            );
            responses.insert(
                "500".to_owned(),
                error("The daemon failed (`internal_error`)"),
            );
            if path.starts_with("/ays/repository/{repository}") {
                responses.insert(
                    "503".to_owned(),
                    error("The repository's store failed (`store_unavailable`)"),
                );
            }
        }
    }
}

/// The router of the API over `state`, with every layer: what [`crate::Server`] serves, and what
/// tests drive in-process.
pub fn router(state: ApiState) -> Router {
    let (routes, document) = split();
    let app = AppState {
        repos_dir: state.repositories.repos_dir().cloned(),
        queues: state.queues,
        recurring: state.recurring,
        document: Arc::new(document),
    };
    let token = Arc::new(state.token);
    routes
        .fallback(system::route_not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .with_state(app)
        .layer(middleware::from_fn_with_state(token, require_token))
        .layer(RequestBodyLimitLayer::new(state.body_limit))
        .layer(middleware::map_response(json_errors))
        .layer(
            // Each request and its answer at `info`, what `ays -v daemon` shows.
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
}

/// Lets a request through only with `Authorization: Bearer <token>` (any request but
/// `/health` and the dashboard's page, which hold no data).
async fn require_token(
    axum::extract::State(token): axum::extract::State<Arc<Token>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == HEALTH_PATH || dashboard::is_open(request.uri().path()) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, given)| given.trim());
    match given {
        Some(given) if token.matches(given.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(
            ErrorCode::Unauthorized,
            "wrong bearer token (`ays token show` prints the daemon's)",
        )
        .into_response(),
        None => ApiError::new(
            ErrorCode::Unauthorized,
            "missing `Authorization: Bearer <token>` header (`ays token show` prints the token)",
        )
        .into_response(),
    }
}

/// Gives an error response that the HTTP stack made without a JSON body (a body too large, an
/// unsupported method) the JSON body of every error.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == HeaderValue::from_static("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = ErrorCode::of_status(status);
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let mut replaced = ApiError::new(code, reason).into_response();
    // The status stays the one the stack chose.
    *replaced.status_mut() = status;
    replaced
}
