//! `GET .../actor`, `GET .../actor/{actor}` and `GET .../template`: the actors of a repository
//! and the templates it sees. Bodies have the fields of `ays actor list --json` and
//! `ays template list --json`. `PUT .../actor/{actor}` updates an actor from its template, as
//! `ays actor update NAME` does.

use axum::Json;
use axum::extract::State;
use ays_core::{
    ActionName, Actor, ActorAction, ActorName, ActorSummary, ActorUpdate, ConsumeSpec, CoreError,
    ParentSpec, TemplateInfo,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::params::{self, Path};
use super::repository::RepositoryPath;
use super::{AppState, TAG_ACTORS, blocking};

/// The path of one actor.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ActorPath {
    /// The repository.
    repository: String,
    /// The actor's name.
    actor: String,
}

/// An actor, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActorSummaryView {
    /// Its name.
    name: String,
    /// Its role.
    role: String,
    /// How many services it has.
    services: usize,
    /// Its actions.
    actions: Vec<String>,
    /// The template directory it was made from.
    origin: String,
}

impl From<ActorSummary> for ActorSummaryView {
    fn from(a: ActorSummary) -> ActorSummaryView {
        ActorSummaryView {
            name: a.name,
            role: a.role,
            services: a.services,
            actions: a.actions,
            origin: a.origin,
        }
    }
}

/// The parent relation of an actor.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ParentView {
    /// The parent's role.
    role: String,
    /// The blueprint attribute naming the parent.
    arg_key: String,
    /// The data field holding the parent's instance name.
    arg_name: String,
    /// Whether a missing parent is created.
    auto: bool,
    /// Whether the parent may be absent.
    optional: bool,
}

impl From<ParentSpec> for ParentView {
    fn from(p: ParentSpec) -> ParentView {
        ParentView {
            role: p.role,
            arg_key: p.arg_key,
            arg_name: p.arg_name,
            auto: p.auto,
            optional: p.optional,
        }
    }
}

/// A role an actor consumes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsumeView {
    /// The producers' role.
    role: String,
    /// The blueprint attribute naming the producers.
    arg_key: String,
    /// The data field holding the producers' instance names.
    arg_name: String,
    /// The fewest producers.
    min: u32,
    /// The most producers.
    max: u32,
    /// Whether missing producers are created.
    auto: bool,
}

impl From<ConsumeSpec> for ConsumeView {
    fn from(c: ConsumeSpec) -> ConsumeView {
        ConsumeView {
            role: c.role,
            arg_key: c.arg_key,
            arg_name: c.arg_name,
            min: c.min,
            max: c.max,
            auto: c.auto,
        }
    }
}

/// An action of an actor, with its settings.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActorActionView {
    /// The action.
    #[schema(value_type = String)]
    name: ActionName,
    /// The key of its code record.
    code_key: String,
    /// The actions it needs first on the same service.
    #[schema(value_type = Vec<String>)]
    depends_on: Vec<ActionName>,
    /// Its recurring period in seconds (0: not recurring).
    period: u32,
    /// Whether its runs are logged.
    log: bool,
    /// Its timeout in seconds (0: the runner's default).
    timeout: u32,
    /// Its retries (0: the runner's default).
    retries: u32,
    /// Seconds before the first retry (null: the runner's default).
    retry_delay: Option<u32>,
    /// The longest wait between retries, in seconds (null: the runner's default).
    retry_max_delay: Option<u32>,
}

impl From<ActorAction> for ActorActionView {
    fn from(a: ActorAction) -> ActorActionView {
        ActorActionView {
            name: a.name,
            code_key: a.code_key,
            depends_on: a.depends_on,
            period: a.period,
            log: a.log,
            timeout: a.timeout,
            retries: a.retries,
            retry_delay: a.retry_delay,
            retry_max_delay: a.retry_max_delay,
        }
    }
}

/// An actor: its relations, actions and data schema.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActorView {
    /// Its name.
    #[schema(value_type = String)]
    name: ActorName,
    /// Its parent relation.
    parent: Option<ParentView>,
    /// The roles it consumes.
    consumes: Vec<ConsumeView>,
    /// Its actions, by name.
    actions: Vec<ActorActionView>,
    /// At most this many of its jobs run at once (0: no limit).
    concurrency: u32,
    /// The schema of its services' data (Cap'n Proto text, root struct `Schema`).
    schema_text: String,
    /// The template directory it was made from.
    origin: String,
    /// The hash of the template files it was made from.
    template_hash: String,
}

impl From<Actor> for ActorView {
    fn from(a: Actor) -> ActorView {
        ActorView {
            name: a.name,
            parent: a.parent.map(ParentView::from),
            consumes: a.consumes.into_iter().map(ConsumeView::from).collect(),
            actions: a.actions.into_iter().map(ActorActionView::from).collect(),
            concurrency: a.concurrency,
            schema_text: a.schema_text,
            origin: a.origin,
            template_hash: a.template_hash,
        }
    }
}

/// A template the repository sees.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateView {
    /// Its name (its directory name).
    #[schema(value_type = String)]
    name: ActorName,
    /// Its directory.
    path: String,
    /// Whether it is one of the repository's own (`actorTemplates/`).
    local: bool,
    /// Directories of templates with the same name that are ignored (the one found last is
    /// used); absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignored: Vec<String>,
}

impl From<TemplateInfo> for TemplateView {
    fn from(t: TemplateInfo) -> TemplateView {
        TemplateView {
            name: t.name,
            path: t.path.display().to_string(),
            local: t.local,
            ignored: t.ignored.iter().map(|p| p.display().to_string()).collect(),
        }
    }
}

/// Lists the actors of a repository, by name.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/actor",
    operation_id = "list_actors",
    tag = TAG_ACTORS,
    params(RepositoryPath),
    responses(
        (status = 200, description = "The actors, by name", body = [ActorSummaryView]),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
) -> Result<Json<Vec<ActorSummaryView>>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let actors = blocking(move || Ok(repo.actors()?)).await?;
    Ok(Json(
        actors.into_iter().map(ActorSummaryView::from).collect(),
    ))
}

/// Shows an actor: its relations, actions with their settings, and data schema.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/actor/{actor}",
    operation_id = "get_actor",
    tag = TAG_ACTORS,
    params(ActorPath),
    responses(
        (status = 200, description = "The actor", body = ActorView),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or actor (`repository_not_found`, `actor_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(app): State<AppState>,
    Path(path): Path<ActorPath>,
) -> Result<Json<ActorView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let name: ActorName = params::name("actor", &path.actor)?;
    let actor = blocking(move || Ok(repo.actor(name.as_str())?)).await?;
    let actor = actor.ok_or_else(|| {
        ApiError::new(
            ErrorCode::ActorNotFound,
            format!(
                "no actor `{}` in repository `{}`",
                path.actor, path.repository
            ),
        )
    })?;
    Ok(Json(ActorView::from(actor)))
}

/// Lists the templates a repository sees: its own and those of its global template
/// directories, by name.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/template",
    operation_id = "list_templates",
    tag = TAG_ACTORS,
    params(RepositoryPath),
    responses(
        (status = 200, description = "The templates, by name", body = [TemplateView]),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn templates(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let templates = blocking(move || Ok(repo.templates()?.list())).await?;
    Ok(Json(
        templates.into_iter().map(TemplateView::from).collect(),
    ))
}

/// What updating an actor changed (the fields of `ays actor update --json`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActorUpdateView {
    /// Actions whose code changed (now `changed` on every service).
    #[schema(value_type = Vec<String>)]
    changed_actions: Vec<ActionName>,
    /// Actions added (`new` on every service).
    #[schema(value_type = Vec<String>)]
    added_actions: Vec<ActionName>,
    /// Actions removed.
    #[schema(value_type = Vec<String>)]
    removed_actions: Vec<ActionName>,
    /// Data fields added (services get their defaults).
    added_fields: Vec<String>,
    /// Data fields removed (dropped from every service).
    removed_fields: Vec<String>,
    /// Whether the actor changed at all (actions, schema, relations, periods, dependencies).
    actor_changed: bool,
    /// How many services were rewritten.
    services: usize,
}

impl From<ActorUpdate> for ActorUpdateView {
    fn from(u: ActorUpdate) -> ActorUpdateView {
        ActorUpdateView {
            changed_actions: u.changed_actions,
            added_actions: u.added_actions,
            removed_actions: u.removed_actions,
            added_fields: u.added_fields,
            removed_fields: u.removed_fields,
            actor_changed: u.actor_changed,
            services: u.services,
        }
    }
}

/// An actor after its update, and what the update changed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActorUpdatedView {
    /// The actor, as it is now.
    actor: ActorView,
    /// What changed.
    update: ActorUpdateView,
}

/// Updates an actor from its template, as `ays actor update NAME` does: changed actions become
/// `changed` on every service, new ones `new`, and the services' data follows the schema.
#[utoipa::path(
    put,
    path = "/ays/repository/{repository}/actor/{actor}",
    operation_id = "update_actor",
    tag = TAG_ACTORS,
    params(ActorPath),
    responses(
        (status = 200, description = "The actor and what changed", body = ActorUpdatedView),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or actor (`repository_not_found`, `actor_not_found`)", body = ErrorBody),
        (status = 409, description = "The template changes the type of a field the services hold (`incompatible_schema`), or the repository is busy with another change (`busy`)", body = ErrorBody),
        (status = 422, description = "The actor's template is gone or cannot be read (`invalid_template`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn update(
    State(app): State<AppState>,
    Path(path): Path<ActorPath>,
) -> Result<Json<ActorUpdatedView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let name: ActorName = params::name("actor", &path.actor)?;
    let not_found = ApiError::new(
        ErrorCode::ActorNotFound,
        format!(
            "no actor `{}` in repository `{}` (a blueprint makes actors from their templates)",
            path.actor, path.repository
        ),
    );
    let outcome = blocking(move || {
        if repo.actor(name.as_str())?.is_none() {
            return Ok(None);
        }
        let update = match repo.update_actors(Some(name.as_str())) {
            Ok(mut updates) => updates.pop(),
            Err(CoreError::ActorNotFound { .. }) => return Ok(None),
            Err(err @ CoreError::Template(_)) => {
                return Err(ApiError::internal(ErrorCode::InvalidTemplate, &err));
            }
            Err(err) => return Err(err.into()),
        };
        let actor = repo.actor(name.as_str())?;
        Ok(update.zip(actor))
    })
    .await?;
    let (update, actor) = outcome.ok_or(not_found)?;
    // Periods may have changed.
    app.recurring.touch(&path.repository);
    Ok(Json(ActorUpdatedView {
        actor: ActorView::from(actor),
        update: ActorUpdateView::from(update),
    }))
}
