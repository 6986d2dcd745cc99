//! `GET .../recurring`: the recurring actions of a repository, when each last ran and is due
//! next, and the last execution of each with its log.

use axum::Json;
use axum::extract::State;
use ays_core::{ActionName, ServiceKey};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::params::Path;
use super::repository::RepositoryPath;
use super::run::JobView;
use super::{AppState, TAG_SERVICES, blocking};

/// A recurring action of a service.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecurringView {
    /// The service.
    #[schema(value_type = String)]
    service: ServiceKey,
    /// The action.
    #[schema(value_type = String)]
    action: ActionName,
    /// Its period, in seconds.
    period_secs: u64,
    /// When it last succeeded, in ms since the epoch (0: never).
    last_run: i64,
    /// When the daemon runs it next, in ms since the epoch (while it runs: when it was due;
    /// `null` until the daemon's scheduler has read it).
    next_due: Option<i64>,
    /// Whether it runs now.
    running: bool,
    /// How many of its executions failed in a row (each doubles the wait, up to 16 periods).
    failures: u32,
    /// Its last execution, with its log (`null`: it has not run).
    last: Option<JobView>,
}

/// Lists the recurring actions of a repository, by service and action.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/recurring",
    operation_id = "list_recurring",
    tag = TAG_SERVICES,
    params(RepositoryPath),
    responses(
        (status = 200, description = "The recurring actions, by service and action", body = [RecurringView]),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
) -> Result<Json<Vec<RecurringView>>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let statuses = app.recurring.statuses(&path.repository);
    let views = blocking(move || {
        let mut views = Vec::new();
        for spec in ays_run::recurring::recurring_specs(&repo)? {
            let status = statuses
                .iter()
                .find(|(k, _)| k.service == spec.service && k.action == spec.action)
                .map(|(_, s)| *s);
            let last = repo.recurring_job(&spec.service, &spec.action)?;
            views.push(RecurringView {
                period_secs: spec.period.as_secs(),
                last_run: spec.last_run_ms,
                next_due: status.map(|s| s.due_ms),
                running: status.is_some_and(|s| s.running),
                failures: status.map_or(0, |s| s.failures),
                last: last.map(JobView::from),
                service: spec.service,
                action: spec.action,
            });
        }
        views.sort_by(|a, b| (&a.service, &a.action).cmp(&(&b.service, &b.action)));
        Ok(views)
    })
    .await?;
    Ok(Json(views))
}

/// How late due recurring actions started, in ms, over the last few thousand.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LatenessView {
    /// How many starts are counted.
    count: usize,
    /// The median.
    p50: i64,
    /// The 99th percentile.
    p99: i64,
    /// The most.
    max: i64,
}

/// What the scheduler of recurring actions does.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SchedulerView {
    /// How many recurring actions it holds, across repositories.
    actions: usize,
    /// How many run now.
    running: usize,
    /// How late they started.
    lateness_ms: LatenessView,
}

/// The nearest-rank percentile `p` (0 to 100) of sorted `values` (0 when empty).
fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Shows what the scheduler of recurring actions does: how many actions it holds and runs,
/// and how late they started (the last few thousand starts).
#[utoipa::path(
    get,
    path = "/ays/scheduler",
    operation_id = "get_scheduler",
    tag = TAG_SERVICES,
    responses((status = 200, description = "The scheduler", body = SchedulerView)),
    security(("bearer" = []))
)]
pub(crate) async fn scheduler(State(app): State<AppState>) -> Json<SchedulerView> {
    let (actions, running) = app.recurring.counts();
    let mut lateness = app.recurring.lateness();
    lateness.sort_unstable();
    Json(SchedulerView {
        actions,
        running,
        lateness_ms: LatenessView {
            count: lateness.len(),
            p50: percentile(&lateness, 50),
            p99: percentile(&lateness, 99),
            max: lateness.last().copied().unwrap_or(0),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 99), 0);
        assert_eq!(percentile(&[7], 50), 7);
        let hundred: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 50), 50);
        assert_eq!(percentile(&hundred, 99), 99);
        assert_eq!(percentile(&hundred, 100), 100);
    }
}
