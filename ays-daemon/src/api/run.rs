//! `GET .../aysrun`, `GET .../aysrun/{run}`, `GET .../job` (with filters) and
//! `GET .../job/{run}/{number}`: the stored runs of a repository and their jobs. Bodies have the
//! fields of `ays run list|show --json` and `ays job list|show --json`.

use axum::Json;
use axum::extract::State;
use ays_core::{
    ActionName, ActorName, JobFilter, JobLog, JobLogCategory, JobRecord, JobRef, JobState,
    JobStateChange, RunId, RunRecord, RunStepRecord, RunSummary, ServiceKey,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::params::{self, Path, Query};
use super::repository::RepositoryPath;
use super::run_queue::QueueView;
use super::{AppState, TAG_RUNS, blocking, schema};

/// The path of one run.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RunPath {
    /// The repository.
    pub(crate) repository: String,
    /// The run's id.
    pub(crate) run: String,
}

/// The path of one job.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct JobPath {
    /// The repository.
    repository: String,
    /// The id of the job's run.
    run: String,
    /// The job's number in its run, from 1.
    number: String,
}

/// Which jobs to list; every parameter given must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobQuery {
    /// Only jobs of this run (default: of every run).
    run: Option<String>,
    /// Only jobs of this service (`role!instance`).
    service: Option<String>,
    /// Only jobs of this actor.
    actor: Option<String>,
    /// Only jobs of this action.
    action: Option<String>,
    /// Only jobs in this state: new, running, ok or error.
    state: Option<String>,
}

/// A stored run, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunSummaryView {
    /// Its id.
    #[schema(value_type = String)]
    id: RunId,
    /// Its state.
    #[schema(schema_with = schema::job_state)]
    state: JobState,
    /// When it was created, in ms since the epoch.
    created_at: i64,
    /// When it ended, in ms since the epoch (0: not yet).
    finished_at: i64,
    /// How many steps it has.
    steps: usize,
    /// How many jobs it has.
    jobs: usize,
    /// Its request in the daemon's run queue, while it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<QueueView>,
}

impl From<RunSummary> for RunSummaryView {
    fn from(r: RunSummary) -> RunSummaryView {
        RunSummaryView {
            id: r.id,
            state: r.state,
            created_at: r.created_at,
            finished_at: r.finished_at,
            steps: r.steps,
            jobs: r.jobs,
            queue: None,
        }
    }
}

/// A job as a step lists it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobRefView {
    /// Its number in the run.
    number: u32,
    /// Its service.
    #[schema(value_type = String)]
    service: ServiceKey,
    /// The service's actor.
    #[schema(value_type = String)]
    actor: ActorName,
    /// Its action.
    #[schema(value_type = String)]
    action: ActionName,
}

impl From<JobRef> for JobRefView {
    fn from(j: JobRef) -> JobRefView {
        JobRefView {
            number: j.number,
            service: j.service,
            actor: j.actor,
            action: j.action,
        }
    }
}

/// A step of a run: jobs that may run in parallel.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StepView {
    /// Its number, from 1.
    number: u32,
    /// Its state.
    #[schema(schema_with = schema::job_state)]
    state: JobState,
    /// When it started, in ms since the epoch (0: never).
    started_at: i64,
    /// When it ended, in ms since the epoch (0: not yet).
    finished_at: i64,
    /// Its jobs.
    jobs: Vec<JobRefView>,
}

impl From<RunStepRecord> for StepView {
    fn from(s: RunStepRecord) -> StepView {
        StepView {
            number: s.number,
            state: s.state,
            started_at: s.started_at,
            finished_at: s.finished_at,
            jobs: s.jobs.into_iter().map(JobRefView::from).collect(),
        }
    }
}

/// A stored run: its states, times and steps.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunView {
    /// Its id.
    #[schema(value_type = String)]
    id: RunId,
    /// Its state.
    #[schema(schema_with = schema::job_state)]
    state: JobState,
    /// When it was created, in ms since the epoch.
    created_at: i64,
    /// When it ended, in ms since the epoch (0: not yet).
    finished_at: i64,
    /// Its steps.
    steps: Vec<StepView>,
}

impl From<RunRecord> for RunView {
    fn from(r: RunRecord) -> RunView {
        RunView {
            id: r.id,
            state: r.state,
            created_at: r.created_at,
            finished_at: r.finished_at,
            steps: r.steps.into_iter().map(StepView::from).collect(),
        }
    }
}

/// A run with its jobs and their logs. A run asked for through the API and not yet stored
/// (queued, refused…) is `new`, without steps: its `queue` says where it is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunDetailView {
    /// The run.
    run: RunView,
    /// Its jobs by number.
    jobs: Vec<JobView>,
    /// Its request in the daemon's run queue, while it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<QueueView>,
}

/// A state a job entered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StateChangeView {
    /// When, in ms since the epoch.
    at_ms: i64,
    /// The state entered.
    #[schema(schema_with = schema::job_state)]
    state: JobState,
}

impl From<JobStateChange> for StateChangeView {
    fn from(c: JobStateChange) -> StateChangeView {
        StateChangeView {
            at_ms: c.at_ms,
            state: c.state,
        }
    }
}

/// A line (or block) of a job's log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogView {
    /// When, in ms since the epoch.
    at_ms: i64,
    /// Its category.
    #[schema(schema_with = schema::log_category)]
    category: JobLogCategory,
    /// The text.
    message: String,
}

impl From<JobLog> for LogView {
    fn from(l: JobLog) -> LogView {
        LogView {
            at_ms: l.at_ms,
            category: l.category,
            message: l.message,
        }
    }
}

/// A job: one action run on one service within a run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobView {
    /// Its run.
    #[schema(value_type = String)]
    run: RunId,
    /// Its number in the run, from 1.
    number: u32,
    /// Its service.
    #[schema(value_type = String)]
    service: ServiceKey,
    /// The service's actor.
    #[schema(value_type = String)]
    actor: ActorName,
    /// Its action.
    #[schema(value_type = String)]
    action: ActionName,
    /// The key of the action code that runs (empty when the action has none).
    code_key: String,
    /// Its state.
    #[schema(schema_with = schema::job_state)]
    state: JobState,
    /// Every state it entered, in order.
    state_changes: Vec<StateChangeView>,
    /// The log of every attempt, in order.
    logs: Vec<LogView>,
    /// Its args (JSON text, empty for none).
    args: String,
    /// The data patch the action returned (JSON text, empty for none).
    result: String,
    /// The attempts made.
    attempts: u32,
    /// The attempts allowed.
    max_attempts: u32,
    /// The timeout of one attempt, in seconds.
    timeout_secs: u32,
    /// When it was planned, in ms since the epoch.
    created_at: i64,
    /// When it last started, in ms since the epoch (0: never).
    started_at: i64,
    /// When it ended, in ms since the epoch (0: not yet).
    finished_at: i64,
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> JobView {
        JobView {
            run: j.run,
            number: j.number,
            service: j.service,
            actor: j.actor,
            action: j.action,
            code_key: j.code_key,
            state: j.state,
            state_changes: j
                .state_changes
                .into_iter()
                .map(StateChangeView::from)
                .collect(),
            logs: j.logs.into_iter().map(LogView::from).collect(),
            args: j.args,
            result: j.result,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            timeout_secs: j.timeout_secs,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// `Ok` when run `id` is stored, else `run_not_found`.
fn stored_run(repo: &ays_core::Repository, id: &RunId) -> Result<(), ApiError> {
    match repo.run(id)? {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            ErrorCode::RunNotFound,
            format!("no run `{id}`"),
        )),
    }
}

/// Lists the runs of a repository, newest first: the stored ones, and those asked for through
/// the API that are not stored yet (with their `queue`).
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/aysrun",
    operation_id = "list_runs",
    tag = TAG_RUNS,
    params(RepositoryPath),
    responses(
        (status = 200, description = "The runs, newest first", body = [RunSummaryView]),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
) -> Result<Json<Vec<RunSummaryView>>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let requests = app.run_requests(&path.repository);
    let runs = blocking(move || Ok(ays_run::list_runs(&repo)?)).await?;
    let mut views: Vec<RunSummaryView> = runs.into_iter().map(RunSummaryView::from).collect();
    for (request, position) in requests {
        match views.iter_mut().find(|v| v.id == request.id) {
            Some(view) => view.queue = Some(QueueView::new(request, position)),
            None => views.push(RunSummaryView {
                id: request.id.clone(),
                state: JobState::New,
                created_at: request.queued_at,
                finished_at: 0,
                steps: 0,
                jobs: 0,
                queue: Some(QueueView::new(request, position)),
            }),
        }
    }
    // Ids begin with the time they were made (asked for, for a queued run): newest first.
    views.sort_by(|a, b| b.id.as_str().cmp(a.id.as_str()));
    Ok(Json(views))
}

/// Shows a stored run: its steps, and its jobs with their logs.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/aysrun/{run}",
    operation_id = "get_run",
    tag = TAG_RUNS,
    params(RunPath),
    responses(
        (status = 200, description = "The run and its jobs", body = RunDetailView),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or run (`repository_not_found`, `run_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(app): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<Json<RunDetailView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let id: RunId = params::name("run", &path.run)?;
    let request = app
        .run_requests(&path.repository)
        .into_iter()
        .find(|(r, _)| r.id == id);
    let (queued, shown) = (request.is_some(), id.clone());
    let detail = blocking(move || match ays_run::show_run(&repo, &id) {
        Err(ays_run::RunError::NoSuchRun { .. }) if queued => Ok(None),
        other => Ok(Some(other?)),
    })
    .await?;
    let queue = request.map(|(r, position)| QueueView::new(r, position));
    Ok(Json(match (detail, queue) {
        (Some(detail), queue) => RunDetailView {
            run: RunView::from(detail.run),
            jobs: detail.jobs.into_iter().map(JobView::from).collect(),
            queue,
        },
        (None, Some(queue)) => RunDetailView {
            run: RunView {
                id: shown,
                state: JobState::New,
                created_at: queue.queued_at(),
                finished_at: 0,
                steps: Vec::new(),
            },
            jobs: Vec::new(),
            queue: Some(queue),
        },
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::RunNotFound,
                format!("no run `{}`", path.run),
            ));
        }
    }))
}

/// Lists the jobs that pass the filters, by run and number, with their logs.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/job",
    operation_id = "list_jobs",
    tag = TAG_RUNS,
    params(RepositoryPath, JobQuery),
    responses(
        (status = 200, description = "The jobs that pass the filters, by run and number", body = [JobView]),
        (status = 400, description = "A bad name (`invalid_name`) or query (`malformed_query`)", body = ErrorBody),
        (status = 404, description = "No such repository or run (`repository_not_found`, `run_not_found`)", body = ErrorBody),
        (status = 422, description = "A filter's value is not of its type (`invalid_value`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn jobs(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
    Query(query): Query<JobQuery>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let filter = JobFilter {
        actor: params::value("actor", query.actor.as_deref())?,
        service: params::value("service", query.service.as_deref())?,
        action: params::value("action", query.action.as_deref())?,
        state: params::value("state", query.state.as_deref())?,
    };
    let run: Option<RunId> = params::value("run", query.run.as_deref())?;
    let jobs = blocking(move || match run {
        Some(id) => {
            stored_run(&repo, &id)?;
            Ok(repo.jobs(&id, &filter)?)
        }
        None => Ok(repo.all_jobs(&filter)?),
    })
    .await?;
    Ok(Json(jobs.into_iter().map(JobView::from).collect()))
}

/// Shows a job: its times, attempts and log.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/job/{run}/{number}",
    operation_id = "get_job",
    tag = TAG_RUNS,
    params(JobPath),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "A bad name or number (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository, run or job (`repository_not_found`, `run_not_found`, `job_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn job(
    State(app): State<AppState>,
    Path(path): Path<JobPath>,
) -> Result<Json<JobView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let id: RunId = params::name("run", &path.run)?;
    let number: u32 = params::name("job number", &path.number)?;
    let job = blocking(move || {
        stored_run(&repo, &id)?;
        repo.job(&id, number)?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::JobNotFound,
                format!("run `{id}` has no job {number}"),
            )
        })
    })
    .await?;
    Ok(Json(JobView::from(job)))
}
