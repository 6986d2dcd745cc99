//! `GET .../service` (with filters) and `GET .../service/{role}/{name}`: the services of a
//! repository. Bodies have the fields of `ays service list --json` and `ays service show
//! --json`. `DELETE .../service/{role}/{name}` deletes one with its children, as `ays service
//! delete` does, and answers the fields of its `--json`.

use axum::Json;
use axum::extract::State;
use ays_core::{
    ActionName, ActionState, ActorName, DeleteOptions, DeletePlan, EventFilter, Service,
    ServiceAction, ServiceDetail, ServiceFilter, ServiceKey, Unlinked,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::params::{self, Path, Query};
use super::repository::RepositoryPath;
use super::{AppState, TAG_SERVICES, blocking, schema};

/// The path of one service: `role!name` split in two.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ServicePath {
    /// The repository.
    repository: String,
    /// The service's role (its actor's name up to the first `.`).
    role: String,
    /// The service's instance name.
    name: String,
}

/// Which services to list; every parameter given must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ServiceQuery {
    /// Only services of this actor.
    actor: Option<String>,
    /// Only services of this role.
    role: Option<String>,
    /// Only services with this instance name.
    name: Option<String>,
    /// Only the children of this service (`role!instance`).
    parent: Option<String>,
    /// Only the services that consume this one (`role!instance`).
    producer: Option<String>,
    /// Only the services whose action is in this state: `ACTION:STATE`, such as `install:ok`.
    state: Option<String>,
}

impl ServiceQuery {
    fn filter(&self) -> Result<ServiceFilter, ApiError> {
        let action_state = match self.state.as_deref() {
            None => None,
            Some(text) => {
                let (action, state) = text.split_once(':').ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidValue,
                        format!(
                            "query parameter `state`: expected ACTION:STATE, such as install:ok, \
                             found `{text}`"
                        ),
                    )
                })?;
                Some((
                    params::parse::<ActionName>("state", action)?,
                    params::parse::<ActionState>("state", state)?,
                ))
            }
        };
        Ok(ServiceFilter {
            actor: params::value::<ActorName>("actor", self.actor.as_deref())?
                .map(|a| a.to_string()),
            role: self.role.clone(),
            name: self.name.clone(),
            parent: params::value::<ServiceKey>("parent", self.parent.as_deref())?,
            producer: params::value::<ServiceKey>("producer", self.producer.as_deref())?,
            action_state,
            ..ServiceFilter::default()
        })
    }
}

/// A service, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceSummary {
    /// Its key, `role!instance`.
    #[schema(value_type = String)]
    key: ServiceKey,
    /// Its actor.
    #[schema(value_type = String)]
    actor: ActorName,
    /// Its parent's key.
    #[schema(value_type = Option<String>)]
    parent: Option<ServiceKey>,
}

impl From<Service> for ServiceSummary {
    fn from(s: Service) -> ServiceSummary {
        ServiceSummary {
            key: s.key,
            actor: s.actor,
            parent: s.parent.map(|p| p.key),
        }
    }
}

/// The state of one action of a service.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActionView {
    /// The action.
    #[schema(value_type = String)]
    name: ActionName,
    /// The key of its code record.
    code_key: String,
    /// Its state.
    #[schema(schema_with = schema::action_state)]
    state: ActionState,
    /// Its recurring period in seconds (0: not recurring).
    period: u32,
    /// The end of its last successful run, in ms since the epoch (0: never).
    last_run: i64,
    /// Whether its runs are logged.
    log: bool,
    /// When the daemon runs it next, in ms since the epoch (while it runs: when it was due),
    /// for a recurring action the daemon's scheduler holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_run: Option<i64>,
}

impl From<ServiceAction> for ActionView {
    fn from(a: ServiceAction) -> ActionView {
        ActionView {
            name: a.name,
            code_key: a.code_key,
            state: a.state,
            period: a.period,
            last_run: a.last_run,
            log: a.log,
            next_run: None,
        }
    }
}

/// A filter routing external events to an action (stored; not acted on yet).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventFilterView {
    /// The channel.
    channel: String,
    /// The command.
    command: String,
    /// The action to run.
    action: String,
    /// The shared secret.
    secret: String,
    /// Tags.
    tags: Vec<String>,
}

impl From<EventFilter> for EventFilterView {
    fn from(e: EventFilter) -> EventFilterView {
        EventFilterView {
            channel: e.channel,
            command: e.command,
            action: e.action,
            secret: e.secret,
            tags: e.tags,
        }
    }
}

/// A service: its relations, actions and data.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceView {
    /// Its key, `role!instance`.
    #[schema(value_type = String)]
    key: ServiceKey,
    /// Its actor.
    #[schema(value_type = String)]
    actor: ActorName,
    /// Its role.
    role: String,
    /// Its instance name.
    instance: String,
    /// Its parent's key.
    #[schema(value_type = Option<String>)]
    parent: Option<ServiceKey>,
    /// The services it consumes, its parent included.
    #[schema(value_type = Vec<String>)]
    producers: Vec<ServiceKey>,
    /// The services that consume it, its children included.
    #[schema(value_type = Vec<String>)]
    consumers: Vec<ServiceKey>,
    /// Its children.
    #[schema(value_type = Vec<String>)]
    children: Vec<ServiceKey>,
    /// Its actions, by name, with their states and recurring periods.
    actions: Vec<ActionView>,
    /// Its event filters.
    event_filters: Vec<EventFilterView>,
    /// Its data, every field of its actor's schema present.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

impl From<ServiceDetail> for ServiceView {
    fn from(d: ServiceDetail) -> ServiceView {
        ServiceView {
            key: d.key,
            actor: d.actor,
            role: d.role,
            instance: d.instance,
            parent: d.parent,
            producers: d.producers,
            consumers: d.consumers,
            children: d.children,
            actions: d.actions.into_iter().map(ActionView::from).collect(),
            event_filters: d
                .event_filters
                .into_iter()
                .map(EventFilterView::from)
                .collect(),
            data: d.data,
        }
    }
}

/// Lists the services of a repository that pass the filters, by key.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/service",
    operation_id = "list_services",
    tag = TAG_SERVICES,
    params(RepositoryPath, ServiceQuery),
    responses(
        (status = 200, description = "The services that pass the filters, by key", body = [ServiceSummary]),
        (status = 400, description = "A bad name (`invalid_name`) or query (`malformed_query`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
        (status = 422, description = "A filter's value is not of its type (`invalid_value`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
    Query(query): Query<ServiceQuery>,
) -> Result<Json<Vec<ServiceSummary>>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let filter = query.filter()?;
    let services = blocking(move || Ok(repo.services(&filter)?)).await?;
    Ok(Json(
        services.into_iter().map(ServiceSummary::from).collect(),
    ))
}

/// Shows a service: its data, relations and action states.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/service/{role}/{name}",
    operation_id = "get_service",
    tag = TAG_SERVICES,
    params(ServicePath),
    responses(
        (status = 200, description = "The service", body = ServiceView),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or service (`repository_not_found`, `service_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(app): State<AppState>,
    Path(path): Path<ServicePath>,
) -> Result<Json<ServiceView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let role = params::name::<String>("role", &path.role)?;
    let instance = params::name::<String>("service name", &path.name)?;
    let key: ServiceKey = params::name("service", &format!("{role}!{instance}"))?;
    let shown = key.clone();
    let detail = blocking(move || Ok(repo.show_service(&key)?)).await?;
    let mut view = ServiceView::from(detail);
    let statuses = app.recurring.statuses(&path.repository);
    for action in &mut view.actions {
        action.next_run = statuses
            .iter()
            .find(|(k, _)| k.service == shown && k.action == action.name)
            .map(|(_, s)| s.due_ms);
    }
    Ok(Json(view))
}

/// How to delete a service.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteQuery {
    /// Delete even when a service that stays would have fewer producers than its template
    /// needs (its data then drops the deleted names), as `ays service delete --force`.
    force: Option<String>,
}

/// A service that stays and loses a relation to a deleted one.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnlinkedView {
    /// The service that stays.
    #[schema(value_type = String)]
    service: ServiceKey,
    /// The deleted service it was related to.
    #[schema(value_type = String)]
    lost: ServiceKey,
    /// The data field from which the deleted producer's name was removed (empty: none).
    field: String,
    /// How many producers of the lost one's role its template needs (0 for a lost consumer).
    min: u32,
    /// How many it has left.
    left: u32,
}

impl From<Unlinked> for UnlinkedView {
    fn from(u: Unlinked) -> UnlinkedView {
        UnlinkedView {
            service: u.service,
            lost: u.lost,
            field: u.field,
            min: u.min,
            left: u.left,
        }
    }
}

/// What deleting a service did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceDeletedView {
    /// The service and, recursively, its children, parents first.
    #[schema(value_type = Vec<String>)]
    deleted: Vec<ServiceKey>,
    /// The services that stay and lost a relation to a deleted one.
    unlinked: Vec<UnlinkedView>,
}

impl From<DeletePlan> for ServiceDeletedView {
    fn from(p: DeletePlan) -> ServiceDeletedView {
        ServiceDeletedView {
            deleted: p.deleted,
            unlinked: p.unlinked.into_iter().map(UnlinkedView::from).collect(),
        }
    }
}

/// Deletes a service and, recursively, its children, as `ays service delete` does; the
/// services that stay lose their relations to them. Refused while a run holds the run lock.
#[utoipa::path(
    delete,
    path = "/ays/repository/{repository}/service/{role}/{name}",
    operation_id = "delete_service",
    tag = TAG_SERVICES,
    params(ServicePath, DeleteQuery),
    responses(
        (status = 200, description = "What was deleted and unlinked", body = ServiceDeletedView),
        (status = 400, description = "A bad name (`invalid_name`) or query (`malformed_query`)", body = ErrorBody),
        (status = 404, description = "No such repository or service (`repository_not_found`, `service_not_found`)", body = ErrorBody),
        (status = 409, description = "A run holds the run lock (`run_locked`), the repository is busy with another change (`busy`), or a service that stays needs the deleted one (`producer_needed`: pass `force=true`)", body = ErrorBody),
        (status = 422, description = "`force` is not true or false (`invalid_value`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete(
    State(app): State<AppState>,
    Path(path): Path<ServicePath>,
    Query(query): Query<DeleteQuery>,
) -> Result<Json<ServiceDeletedView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let role = params::name::<String>("role", &path.role)?;
    let instance = params::name::<String>("service name", &path.name)?;
    let key: ServiceKey = params::name("service", &format!("{role}!{instance}"))?;
    let force = params::value::<bool>("force", query.force.as_deref())?.unwrap_or(false);
    let done = blocking(move || Ok(repo.delete_service(&key, DeleteOptions { force })?)).await?;
    Ok(Json(ServiceDeletedView::from(done)))
}
