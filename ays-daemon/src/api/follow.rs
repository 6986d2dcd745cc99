//! `GET .../aysrun/{run}/events`: a run followed as server-sent events, until it ends.
//!
//! The stream reads the store, not the executor: every [`POLL`] a blocking task reads the run's
//! record and its jobs and sends what changed since the last look. So it follows a run that the
//! daemon's queue executes and one that another process (`ays run create` on the same store)
//! executes alike. Events, each one JSON object in `data`:
//!
//! - `job`: a job entered a state ([`JobEventView`]); every state a job entered is sent, also
//!   those entered between two looks, and a connection made late first gets the states entered
//!   so far. The event of a job's end carries its log.
//! - `run`: the run's state, and its request in the queue while it has one ([`RunEventView`]);
//!   sent first, whenever it changes, and last. After the run ends, the stream ends. It also
//!   ends after a `run` event whose queue request was refused, cancelled or found nothing to
//!   run (`queue.state`, `queue.message`), and after one whose `message` says the run stopped
//!   unfinished (it was cancelled or its process died: it neither executes nor is queued).
//! - `error`: the run was deleted, or the store failed; `data` is an error body; the stream
//!   ends.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, KeepAliveStream, Sse};
use ays_core::{
    ActionName, ActorName, CoreError, JobFilter, JobRecord, JobState, Repository, RunId, ServiceKey,
};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorCode, ErrorDetail};
use super::params::{self, Path};
use super::run::{LogView, RunPath};
use super::run_queue::QueueView;
use super::{AppState, TAG_RUNS, blocking, chain, schema};
use crate::queue::{RequestState, RunQueue};

/// How often the store is read.
const POLL: Duration = Duration::from_millis(200);

/// How many looks in a row must find a run stopped (unfinished, neither executing nor queued)
/// before the stream says so: a run between two processes is not taken for stopped.
const STOPPED_AFTER: u32 = 3;

/// A state a job entered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobEventView {
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
    /// The state it entered.
    #[schema(schema_with = schema::job_state)]
    state: JobState,
    /// When, in ms since the epoch.
    at_ms: i64,
    /// The attempts made so far.
    attempts: u32,
    /// Its log, when this is its end (`ok` or `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    logs: Option<Vec<LogView>>,
}

/// The state of a followed run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunEventView {
    /// Its id.
    #[schema(value_type = String)]
    id: RunId,
    /// Its state (`new` while it is not stored: queued, refused…).
    #[schema(schema_with = schema::job_state)]
    state: JobState,
    /// When it was created (queued, while it is not stored), in ms since the epoch.
    created_at: i64,
    /// When it ended, in ms since the epoch (0: not yet).
    finished_at: i64,
    /// How many jobs it has (0 while it is not stored).
    jobs: usize,
    /// Its request in the daemon's run queue, while it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<QueueView>,
    /// Why the stream ends without the run's end: it stopped unfinished.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// One event of the stream: its name (`event:`) and its data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub(crate) enum FollowEvent {
    /// A job entered a state.
    Job(JobEventView),
    /// The run's state changed, or the stream ends.
    Run(RunEventView),
    /// The run was deleted or the store failed: the stream ends.
    Error(ErrorBody),
}

impl FollowEvent {
    fn error(code: ErrorCode, message: String) -> FollowEvent {
        FollowEvent::Error(ErrorBody {
            error: ErrorDetail { code, message },
        })
    }

    /// The server-sent event.
    fn sse(&self) -> Event {
        let (name, data) = match self {
            FollowEvent::Job(job) => ("job", serde_json::to_string(job)),
            FollowEvent::Run(run) => ("run", serde_json::to_string(run)),
            FollowEvent::Error(body) => ("error", serde_json::to_string(body)),
        };
        // These views always render; an empty object is said rather than nothing.
        Event::default()
            .event(name)
            .data(data.unwrap_or_else(|_| "{}".to_owned()))
    }
}

/// The events sent to one client, as axum's `Sse` takes them.
pub(crate) struct Events(mpsc::Receiver<Event>);

impl futures_core::Stream for Events {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|event| event.map(Ok))
    }
}

/// What the run looked like at the last look.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    state: JobState,
    finished_at: i64,
    request: Option<(RequestState, Option<usize>, String)>,
}

/// Follows one run: what was sent so far.
struct Follower {
    repo: Arc<Repository>,
    queue: Arc<RunQueue>,
    id: RunId,
    /// Per job number, how many of its state changes were sent.
    sent: HashMap<u32, usize>,
    last: Option<Seen>,
    stopped: u32,
}

impl Follower {
    /// One look at the store: the events since the last one, and whether the stream ends.
    fn look(&mut self) -> (Vec<FollowEvent>, bool) {
        match self.try_look() {
            Ok(found) => found,
            Err(err) => {
                let code = match &err {
                    CoreError::Store { .. } => ErrorCode::StoreUnavailable,
                    _ => ErrorCode::InternalError,
                };
                tracing::warn!(run = %self.id, error = %chain(&err), "cannot follow the run");
                (vec![FollowEvent::error(code, chain(&err))], true)
            }
        }
    }

    fn try_look(&mut self) -> Result<(Vec<FollowEvent>, bool), CoreError> {
        let request = self.queue.get(&self.id);
        let executing = self.queue.is_current(&self.id);
        let Some(run) = self.repo.run(&self.id)? else {
            let Some((request, position)) = request else {
                let gone = format!("run `{}` no longer exists: it was deleted", self.id);
                return Ok((vec![FollowEvent::error(ErrorCode::RunNotFound, gone)], true));
            };
            let ended = request.state.is_ended();
            let seen = Seen {
                state: JobState::New,
                finished_at: 0,
                request: Some((request.state, position, request.message.clone())),
            };
            let view = RunEventView {
                id: self.id.clone(),
                state: JobState::New,
                created_at: request.queued_at,
                finished_at: 0,
                jobs: 0,
                queue: Some(QueueView::new(request, position)),
                message: None,
            };
            let changed = self.last.replace(seen.clone()) != Some(seen);
            let events = if changed || ended {
                vec![FollowEvent::Run(view)]
            } else {
                Vec::new()
            };
            return Ok((events, ended));
        };
        let jobs = self.repo.jobs(&self.id, &JobFilter::default())?;
        let finished = run.state.is_finished();
        let live = executing
            || request.as_ref().is_some_and(|(r, _)| {
                matches!(r.state, RequestState::Queued | RequestState::Running)
            })
            || self.locked()?;
        self.stopped = if finished || live {
            0
        } else {
            self.stopped + 1
        };
        let stopped = self.stopped >= STOPPED_AFTER;
        let first = self.last.is_none();
        let seen = Seen {
            state: run.state,
            finished_at: run.finished_at,
            request: request
                .as_ref()
                .map(|(r, position)| (r.state, *position, r.message.clone())),
        };
        let changed = self.last.replace(seen.clone()) != Some(seen);
        let view = RunEventView {
            id: self.id.clone(),
            state: run.state,
            created_at: run.created_at,
            finished_at: run.finished_at,
            jobs: run.steps.iter().map(|s| s.jobs.len()).sum(),
            queue: request.map(|(r, position)| QueueView::new(r, position)),
            message: stopped.then(|| {
                format!(
                    "run `{}` stopped before it ended (cancelled, or its process is gone): \
                     execute it again to resume it (POST .../aysrun/{}), or delete it",
                    self.id, self.id
                )
            }),
        };
        let end = finished || stopped;
        let mut events = Vec::new();
        let mut view = Some(view);
        if first && !end {
            events.extend(view.take().map(FollowEvent::Run));
        }
        for job in &jobs {
            self.job_events(job, &mut events);
        }
        if changed || end {
            events.extend(view.take().map(FollowEvent::Run));
        }
        Ok((events, end))
    }

    /// Whether the run lock is held, unexpired, by this run (another process executes it).
    fn locked(&self) -> Result<bool, CoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Ok(self
            .repo
            .run_lock_holder()?
            .is_some_and(|holder| holder.run == self.id.as_str() && holder.expires_ms > now))
    }

    /// The states `job` entered since the last look (not the `new` it was planned in).
    fn job_events(&mut self, job: &JobRecord, events: &mut Vec<FollowEvent>) {
        let sent = self.sent.entry(job.number).or_insert(0);
        let changes = &job.state_changes;
        // A record rewritten shorter (a resumed run) is sent again from its start.
        if changes.len() < *sent {
            *sent = 0;
        }
        for (i, change) in changes.iter().enumerate().skip(*sent) {
            if i == 0 && change.state == JobState::New {
                continue;
            }
            let last = i + 1 == changes.len();
            events.push(FollowEvent::Job(JobEventView {
                run: job.run.clone(),
                number: job.number,
                service: job.service.clone(),
                actor: job.actor.clone(),
                action: job.action.clone(),
                state: change.state,
                at_ms: change.at_ms,
                attempts: job.attempts,
                logs: (last && change.state.is_finished())
                    .then(|| job.logs.iter().cloned().map(LogView::from).collect()),
            }));
        }
        *sent = changes.len();
    }
}

/// Looks at the run every [`POLL`] and sends what changed, until the run ends or the client
/// goes.
async fn follow(mut follower: Follower, events: mpsc::Sender<Event>) {
    let id = follower.id.clone();
    tracing::debug!(run = %id, "following");
    loop {
        let looked = tokio::task::spawn_blocking(move || {
            let found = follower.look();
            (follower, found)
        })
        .await;
        let (back, (found, end)) = match looked {
            Ok(looked) => looked,
            Err(err) => {
                tracing::error!(run = %id, error = %err, "the follower's task failed");
                let event = FollowEvent::error(ErrorCode::InternalError, err.to_string());
                let _ = events.send(event.sse()).await;
                return;
            }
        };
        follower = back;
        for event in found {
            if events.send(event.sse()).await.is_err() {
                tracing::debug!(run = %id, "the follower went");
                return;
            }
        }
        if end {
            tracing::debug!(run = %id, "followed to its end");
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = events.closed() => {
                tracing::debug!(run = %id, "the follower went");
                return;
            }
        }
    }
}

/// Follows a run as server-sent events: `job` for every state a job enters (with its log when
/// it ends), `run` when the run's state or queue request changes; the stream ends after the
/// run ends, after its request is refused, cancelled or finds nothing to run, or after it stops
/// unfinished (`run` with a `message`). `error` ends it when the run is deleted or the store
/// fails. A queued run is followed from its queue to its end; a run that another process
/// executes on the same store is followed too. The 200 schema lists the events as
/// `{"event", "data"}` objects; on the wire each is `event: NAME` and `data: JSON`.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/aysrun/{run}/events",
    operation_id = "follow_run",
    tag = TAG_RUNS,
    params(RunPath),
    responses(
        (status = 200, description = "The run's events until it ends (text/event-stream)", content_type = "text/event-stream", body = [FollowEvent]),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or run (`repository_not_found`, `run_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn events(
    State(app): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<Sse<KeepAliveStream<Events>>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let id: RunId = params::name("run", &path.run)?;
    let queue = app.queues.get(&path.repository).ok_or_else(|| {
        ApiError::new(
            ErrorCode::RepositoryNotFound,
            format!("no repository `{}` is served", path.repository),
        )
    })?;
    let (look_queue, look_repo, look_id) = (Arc::clone(&queue), Arc::clone(&repo), id.clone());
    let known = blocking(move || {
        Ok(look_queue.get(&look_id).is_some() || look_repo.run(&look_id)?.is_some())
    })
    .await?;
    if !known {
        return Err(ApiError::new(
            ErrorCode::RunNotFound,
            format!("no run `{id}`"),
        ));
    }
    let follower = Follower {
        repo,
        queue,
        id,
        sent: HashMap::new(),
        last: None,
        stopped: 0,
    };
    let (send, receive) = mpsc::channel(64);
    tokio::spawn(follow(follower, send));
    Ok(Sse::new(Events(receive)).keep_alive(KeepAlive::default()))
}
