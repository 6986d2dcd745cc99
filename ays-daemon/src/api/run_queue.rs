//! `POST .../aysrun` (create, or simulate), `POST .../aysrun/{run}` (execute: resume an
//! unfinished run, or queue a refused request again), `POST .../aysrun/{run}/cancel` and
//! `DELETE .../aysrun/{run}`: runs asked for through the API, which the repository's queue
//! executes one at a time (see `crate::queue`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ays_core::{ActionName, ActorName, RunId, ServiceKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::params::{self, Body, Path};
use super::repository::RepositoryPath;
use super::run::RunPath;
use super::{AppState, TAG_RUNS, blocking};
use crate::queue::{
    self, Cancelled, FailureOption, RequestKind, RequestOptions, RequestState, RunQueue,
    RunRequest, ScheduleOption,
};

/// How to make a run.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RunCreateBody {
    /// Plan only and answer the plan: nothing is stored or run.
    simulate: bool,
    /// The schedule (default `dag`).
    schedule: ScheduleOption,
    /// What happens after a failure (default `stop_dependents`).
    failure: FailureOption,
    /// At most this many jobs at once (default 0: the machine's parallelism).
    jobs: usize,
    /// Only these actions seed the run; their prerequisites still run (default: every
    /// scheduled action).
    actions: Vec<String>,
}

/// A queued request for a run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueView {
    /// `queued`, `running`, `refused` (see the message), `cancelled` (before it started) or
    /// `empty` (nothing was scheduled: no run was stored).
    #[schema(value_type = String)]
    state: RequestState,
    /// `create` (plan and run the scheduled actions) or `resume` (go on with the stored run).
    #[schema(value_type = String)]
    kind: RequestKind,
    /// When it was queued, in ms since the epoch.
    queued_at: i64,
    /// Its place among the queued requests (1: next), while it is queued.
    position: Option<usize>,
    /// Why it was refused, or what happened last.
    message: String,
}

impl QueueView {
    /// When the request was queued.
    pub(crate) fn queued_at(&self) -> i64 {
        self.queued_at
    }

    pub(crate) fn new(request: RunRequest, position: Option<usize>) -> QueueView {
        QueueView {
            state: request.state,
            kind: request.kind,
            queued_at: request.queued_at,
            position,
            message: request.message,
        }
    }
}

/// A run asked for: its id, and its request in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunQueuedView {
    /// The id the run gets (`GET .../aysrun/{id}` follows it).
    #[schema(value_type = String)]
    id: RunId,
    /// Its request.
    queue: QueueView,
}

/// A job of a simulated run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlannedJobView {
    /// Its service.
    #[schema(value_type = String)]
    service: ServiceKey,
    /// The service's actor.
    #[schema(value_type = String)]
    actor: ActorName,
    /// Its action.
    #[schema(value_type = String)]
    action: ActionName,
    /// The jobs it waits for, as `service:action`.
    after: Vec<String>,
}

/// A step of a simulated run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlannedStepView {
    /// Its number, from 1.
    number: usize,
    /// Its jobs.
    jobs: Vec<PlannedJobView>,
}

/// What a run would do now (`simulate`): nothing was stored.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimulatedRunView {
    /// Its steps (none: nothing is scheduled).
    steps: Vec<PlannedStepView>,
}

fn plan_view(plan: &ays_run::Plan) -> SimulatedRunView {
    let name = |id| {
        plan.job(id)
            .map(|j| format!("{}:{}", j.service(), j.action()))
            .unwrap_or_default()
    };
    let steps = plan
        .steps()
        .iter()
        .map(|step| PlannedStepView {
            number: step.number(),
            jobs: step
                .jobs()
                .iter()
                .filter_map(|id| plan.job(*id))
                .map(|j| PlannedJobView {
                    service: j.service().clone(),
                    actor: j.actor().clone(),
                    action: j.action().clone(),
                    after: j.prerequisites().iter().map(|p| name(*p)).collect(),
                })
                .collect(),
        })
        .collect();
    SimulatedRunView { steps }
}

/// A created run: simulated, or queued.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum RunCreated {
    /// `simulate`: the plan.
    Simulated(SimulatedRunView),
    /// The queued request.
    Queued(RunQueuedView),
}

impl AppState {
    /// The requests of repository `name`'s queue, with their places (none for an unknown
    /// repository).
    pub(crate) fn run_requests(&self, name: &str) -> Vec<(RunRequest, Option<usize>)> {
        let Some(queue) = self.queues.get(name) else {
            return Vec::new();
        };
        queue.list_with_positions()
    }

    /// The run queue of repository `name`, after checking the name.
    fn queue(&self, name: &str) -> Result<std::sync::Arc<RunQueue>, ApiError> {
        self.repository(name)?;
        self.queues.get(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::RepositoryNotFound,
                format!("no repository `{name}` is served"),
            )
        })
    }
}

/// Creates a run of the repository's scheduled actions: queued (202), executed when the runs
/// queued before it have ended; or, with `simulate`, planned and answered without storing
/// anything (200).
#[utoipa::path(
    post,
    path = "/ays/repository/{repository}/aysrun",
    operation_id = "create_run",
    tag = TAG_RUNS,
    params(RepositoryPath),
    request_body(content = RunCreateBody, description = "How to make the run (every field is optional)"),
    responses(
        (status = 200, description = "`simulate`: the plan", body = SimulatedRunView),
        (status = 202, description = "The run is queued", body = RunQueuedView),
        (status = 400, description = "A bad name (`invalid_name`) or body (`malformed_json`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
        (status = 422, description = "A field of the wrong type or unknown (`invalid_value`); the repository cannot be planned (`unplannable`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
    Body(body): Body<RunCreateBody>,
) -> Result<(StatusCode, Json<RunCreated>), ApiError> {
    let queue = app.queue(&path.repository)?;
    let actions = body
        .actions
        .iter()
        .map(|a| {
            a.parse::<ActionName>().map_err(|err| {
                ApiError::new(
                    ErrorCode::InvalidValue,
                    format!("request body: actions: {err}"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if body.simulate {
        let repo = std::sync::Arc::clone(queue.repository());
        let plan = blocking(move || {
            let mut options = ays_run::RunOptions::default();
            options.dry_run = true;
            options.only_actions = actions;
            Ok(ays_run::create_run(&repo, &options)?.plan)
        })
        .await?;
        return Ok((
            StatusCode::OK,
            Json(RunCreated::Simulated(plan_view(&plan))),
        ));
    }
    let request = queue::create_request(RequestOptions {
        schedule: body.schedule,
        failure: body.failure,
        jobs: body.jobs,
        actions,
    });
    let submitted = std::sync::Arc::clone(&queue);
    let request = blocking(move || Ok(submitted.submit(request)?)).await?;
    queue.kick();
    let position = queue.get(&request.id).and_then(|(_, p)| p);
    Ok((
        StatusCode::ACCEPTED,
        Json(RunCreated::Queued(RunQueuedView {
            id: request.id.clone(),
            queue: QueueView::new(request, position),
        })),
    ))
}

/// Executes a run again: queues the resumption of a stored unfinished run (one that was
/// cancelled, or whose store failed), or queues again a request that was refused or
/// cancelled.
#[utoipa::path(
    post,
    path = "/ays/repository/{repository}/aysrun/{run}",
    operation_id = "execute_run",
    tag = TAG_RUNS,
    params(RunPath),
    responses(
        (status = 202, description = "The run is queued", body = RunQueuedView),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or run (`repository_not_found`, `run_not_found`)", body = ErrorBody),
        (status = 409, description = "The run is queued or executing (`run_queued`, `run_running`), or has ended (`run_finished`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn execute(
    State(app): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<(StatusCode, Json<RunQueuedView>), ApiError> {
    let queue = app.queue(&path.repository)?;
    let id: RunId = params::name("run", &path.run)?;
    let worker = std::sync::Arc::clone(&queue);
    let request = blocking(move || {
        if worker.is_current(&id) {
            return Err(ApiError::new(
                ErrorCode::RunRunning,
                format!("run `{id}` is executing"),
            ));
        }
        let request = match (worker.get(&id), worker.repository().run(&id)?) {
            (Some((r, _)), _) if r.state == RequestState::Queued => {
                return Err(ApiError::new(
                    ErrorCode::RunQueued,
                    format!("run `{id}` is already queued"),
                ));
            }
            (_, Some(run)) if run.state.is_finished() => {
                return Err(ApiError::new(
                    ErrorCode::RunFinished,
                    format!("run `{id}` has already ended ({})", run.state),
                ));
            }
            (_, Some(_)) => queue::resume_request(id),
            (Some((mut r, _)), None) => {
                r.state = RequestState::Queued;
                r.kind = RequestKind::Create;
                r.message.clear();
                r
            }
            (None, None) => {
                return Err(ApiError::new(
                    ErrorCode::RunNotFound,
                    format!("no run `{id}`"),
                ));
            }
        };
        Ok(worker.submit(request)?)
    })
    .await?;
    queue.kick();
    let position = queue.get(&request.id).and_then(|(_, p)| p);
    Ok((
        StatusCode::ACCEPTED,
        Json(RunQueuedView {
            id: request.id.clone(),
            queue: QueueView::new(request, position),
        }),
    ))
}

/// What a cancel did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CancelView {
    /// The run.
    #[schema(value_type = String)]
    id: RunId,
    /// `dequeued` (it had not started: it will not), `stopping` (no job starts any more; the
    /// running ones finish; the run stays unfinished, to execute again or delete) or `killing`
    /// (a second cancel: the running jobs are killed).
    outcome: String,
}

/// Cancels a run: a queued one will not start; an executing one starts no more jobs and lets
/// its running jobs finish (a second cancel kills them). A stopped run stays unfinished: execute
/// it again to resume it, or delete it.
#[utoipa::path(
    post,
    path = "/ays/repository/{repository}/aysrun/{run}/cancel",
    operation_id = "cancel_run",
    tag = TAG_RUNS,
    params(RunPath),
    responses(
        (status = 200, description = "What the cancel did", body = CancelView),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or run (`repository_not_found`, `run_not_found`)", body = ErrorBody),
        (status = 409, description = "The run is neither queued nor executing (`run_not_running`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn cancel(
    State(app): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<Json<CancelView>, ApiError> {
    let queue = app.queue(&path.repository)?;
    let id: RunId = params::name("run", &path.run)?;
    let outcome = blocking(move || match queue.cancel(&id)? {
        Some(done) => Ok((id, done)),
        None if queue.get(&id).is_some() || queue.repository().run(&id)?.is_some() => {
            Err(ApiError::new(
                ErrorCode::RunNotRunning,
                format!("run `{id}` is neither queued nor executing"),
            ))
        }
        None => Err(ApiError::new(
            ErrorCode::RunNotFound,
            format!("no run `{id}`"),
        )),
    })
    .await?;
    let (id, done) = outcome;
    let outcome = match done {
        Cancelled::Queued => "dequeued",
        Cancelled::Running { level: 1 } => "stopping",
        Cancelled::Running { .. } => "killing",
    };
    Ok(Json(CancelView {
        id,
        outcome: outcome.to_owned(),
    }))
}

/// Deletes a run: its queued request, or its stored record with its jobs and logs. An
/// unfinished run that does not execute is abandoned first (its running jobs end in `error`).
#[utoipa::path(
    delete,
    path = "/ays/repository/{repository}/aysrun/{run}",
    operation_id = "delete_run",
    tag = TAG_RUNS,
    params(RunPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or run (`repository_not_found`, `run_not_found`)", body = ErrorBody),
        (status = 409, description = "The run is executing: cancel it first (`run_running`), or another run holds the run lock (`run_locked`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete(
    State(app): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<StatusCode, ApiError> {
    let queue = app.queue(&path.repository)?;
    let id: RunId = params::name("run", &path.run)?;
    blocking(move || {
        let dequeued = queue.remove(&id)?;
        let repo = queue.repository();
        match repo.run(&id)? {
            Some(run) => {
                if !run.state.is_finished() {
                    ays_run::abandon_run(repo, &id)?;
                }
                repo.delete_run(&id)?;
                Ok(())
            }
            None if dequeued => Ok(()),
            None => Err(ApiError::new(
                ErrorCode::RunNotFound,
                format!("no run `{id}`"),
            )),
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
