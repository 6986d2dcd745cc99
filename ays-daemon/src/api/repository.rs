//! `GET /ays/repository` and `GET /ays/repository/{repository}`: the served repositories;
//! `POST /ays/repository` (create one in the daemon's `--repos-dir`), `POST
//! .../{repository}/destroy` (wipe its services, as `ays destroy`) and `DELETE
//! .../{repository}` (stop serving it and remove its directory).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ays_core::Repository;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::params::{self, Body, Path};
use super::{AppState, TAG_REPOSITORIES, blocking};
use crate::queue::{QueueError, RequestState};
use crate::repositories::CreateError;

/// The path of one repository.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RepositoryPath {
    /// The repository: its directory name.
    pub(crate) repository: String,
}

/// A served repository, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RepositorySummary {
    /// Its name (its directory name).
    name: String,
    /// Its directory.
    path: String,
}

/// A served repository.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RepositoryDetail {
    /// Its name (its directory name).
    name: String,
    /// Its directory.
    path: String,
    /// Its unique id (also its store namespace).
    id: String,
    /// The URL of its store, without a password.
    store: String,
    /// How many services it has.
    services: usize,
    /// How many actors it has.
    actors: usize,
    /// How many runs it has stored.
    runs: usize,
}

/// A repository to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RepositoryCreateBody {
    /// Its name: the name of its directory in the daemon's `--repos-dir`.
    name: String,
}

/// What destroying a repository removed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DestroyView {
    /// How many actors were removed.
    actors: usize,
    /// How many services were removed.
    services: usize,
}

/// Lists the served repositories.
#[utoipa::path(
    get,
    path = "/ays/repository",
    operation_id = "list_repositories",
    tag = TAG_REPOSITORIES,
    responses((status = 200, description = "The served repositories, by name", body = [RepositorySummary])),
    security(("bearer" = []))
)]
pub(crate) async fn list(State(app): State<AppState>) -> Json<Vec<RepositorySummary>> {
    Json(
        app.queues
            .all()
            .iter()
            .map(|q| RepositorySummary {
                name: q.name().to_owned(),
                path: q.repository().root().display().to_string(),
            })
            .collect(),
    )
}

/// Shows a repository: where it is, its store, and how many services, actors and runs it has.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}",
    operation_id = "get_repository",
    tag = TAG_REPOSITORIES,
    params(RepositoryPath),
    responses(
        (status = 200, description = "The repository", body = RepositoryDetail),
        (status = 400, description = "The name breaks the rule of names (`invalid_name`)", body = super::error::ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
) -> Result<Json<RepositoryDetail>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let name = path.repository;
    let detail = blocking(move || detail(name, &repo)).await?;
    Ok(Json(detail))
}

/// The detail of repository `name` (blocking).
fn detail(name: String, repo: &Repository) -> Result<RepositoryDetail, ApiError> {
    let actors = repo.actors()?;
    Ok(RepositoryDetail {
        path: repo.root().display().to_string(),
        id: repo.id().to_owned(),
        store: without_password(repo.store_url()),
        services: actors.iter().map(|a| a.services).sum(),
        actors: actors.len(),
        runs: repo.run_ids("")?.len(),
        name,
    })
}

/// Creates a repository in the daemon's `--repos-dir`, as `ays init` does (`.ays/config.yaml`,
/// `actorTemplates/`, `blueprints/`), and serves it at once.
#[utoipa::path(
    post,
    path = "/ays/repository",
    operation_id = "create_repository",
    tag = TAG_REPOSITORIES,
    request_body(content = RepositoryCreateBody, description = "The repository's name"),
    responses(
        (status = 201, description = "The repository, created and served", body = RepositoryDetail),
        (status = 400, description = "A name that breaks the rule of names (`invalid_name`), or a body that is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 409, description = "The daemon was started without `--repos-dir` (`no_repos_dir`), or the name is taken (`repository_exists`)", body = ErrorBody),
        (status = 422, description = "A field missing, unknown or of the wrong type (`invalid_value`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    State(app): State<AppState>,
    Body(body): Body<RepositoryCreateBody>,
) -> Result<(StatusCode, Json<RepositoryDetail>), ApiError> {
    let name: String = params::name("repository", &body.name)?;
    let dir = app.repos_dir.clone().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NoReposDir,
            "this daemon creates no repository: start it with `--repos-dir DIR` to create \
             repositories in DIR",
        )
    })?;
    let exists = |name: &str| {
        ApiError::new(
            ErrorCode::RepositoryExists,
            format!("a repository named `{name}` exists already"),
        )
    };
    if app.queues.get(&name).is_some() {
        return Err(exists(&name));
    }
    let queues = Arc::clone(&app.queues);
    let detail = blocking(move || {
        let repo = dir.create(&name).map_err(|err| match err {
            CreateError::Exists(path) => ApiError::new(
                ErrorCode::RepositoryExists,
                format!("{} exists already", path.display()),
            ),
            CreateError::Io(path, err) => ApiError::new(
                ErrorCode::InternalError,
                format!("cannot create {}: {err}", path.display()),
            ),
            CreateError::Init(err) => ApiError::from(err),
        })?;
        if queues.get(&name).is_some() {
            return Err(exists(&name));
        }
        let queue = queues.insert(&name, Arc::new(repo));
        queue.open()?;
        detail(name, queue.repository())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(detail)))
}

/// Destroys a repository's services and actors, as `ays destroy` does; its templates,
/// blueprints and runs stay.
#[utoipa::path(
    post,
    path = "/ays/repository/{repository}/destroy",
    operation_id = "destroy_repository",
    tag = TAG_REPOSITORIES,
    params(RepositoryPath),
    responses(
        (status = 200, description = "What was removed", body = DestroyView),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
        (status = 409, description = "A run of the repository is queued or executing (`repository_busy`, `run_locked`), or the repository is busy with another change (`busy`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn destroy(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
) -> Result<Json<DestroyView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    refuse_if_busy(&app, &path.repository)?;
    let report = blocking(move || Ok(repo.destroy()?)).await?;
    Ok(Json(DestroyView {
        actors: report.actors,
        services: report.services,
    }))
}

/// Refuses a change while a run of repository `name` is queued or executing in the daemon.
fn refuse_if_busy(app: &AppState, name: &str) -> Result<(), ApiError> {
    let busy = app
        .run_requests(name)
        .into_iter()
        .find(|(r, _)| matches!(r.state, RequestState::Queued | RequestState::Running));
    match busy {
        Some((request, _)) => Err(busy_error(name, &request.id)),
        None => Ok(()),
    }
}

fn busy_error(name: &str, run: &ays_core::RunId) -> ApiError {
    ApiError::new(
        ErrorCode::RepositoryBusy,
        format!(
            "run `{run}` of repository `{name}` is queued or executing: wait for it to end, or \
             cancel it (POST .../aysrun/{run}/cancel)"
        ),
    )
}

/// Stops serving a repository that the daemon created (one in its `--repos-dir`) and removes
/// its directory, with its templates, blueprints and embedded store.
#[utoipa::path(
    delete,
    path = "/ays/repository/{repository}",
    operation_id = "delete_repository",
    tag = TAG_REPOSITORIES,
    params(RepositoryPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
        (status = 409, description = "The daemon did not create the repository (`not_deletable`), or a run of it is queued or executing (`repository_busy`, `run_locked`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
) -> Result<StatusCode, ApiError> {
    let repo = app.repository(&path.repository)?;
    let name = path.repository;
    if !app.repos_dir.as_ref().is_some_and(|d| d.holds(repo.root())) {
        let where_ = match &app.repos_dir {
            Some(dir) => format!("it is not in {}", dir.dir().display()),
            None => "the daemon was started without `--repos-dir`".to_owned(),
        };
        return Err(ApiError::new(
            ErrorCode::NotDeletable,
            format!(
                "the daemon did not create repository `{name}` ({where_}), so it does not \
                 delete it"
            ),
        ));
    }
    refuse_if_busy(&app, &name)?;
    let queues = Arc::clone(&app.queues);
    blocking(move || {
        // No run starts while the repository goes, here or in another process.
        let runs = repo.hold_runs("repository delete")?;
        match queues.remove(&name) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(ApiError::new(
                    ErrorCode::RepositoryNotFound,
                    format!("no repository `{name}` is served"),
                ));
            }
            Err(QueueError::Running(run)) => return Err(busy_error(&name, &run)),
            Err(err) => return Err(err.into()),
        }
        drop(runs);
        let root = repo.root().to_path_buf();
        drop(repo);
        std::fs::remove_dir_all(&root).map_err(|err| {
            ApiError::new(
                ErrorCode::InternalError,
                format!(
                    "repository `{name}` is no longer served, but {} cannot be removed: {err}",
                    root.display()
                ),
            )
        })?;
        tracing::info!(repository = %name, path = %root.display(), "deleted");
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `url` with the password of its user info, if any, replaced by `***`
/// (`redis://:secret@host/0` → `redis://:***@host/0`).
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn store_passwords_are_hidden() {
        assert_eq!(
            without_password("redis://:secret@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            without_password("redis://me:p@ss@host/1"),
            "redis://me:***@host/1"
        );
        assert_eq!(without_password("redis://me@host/1"), "redis://me@host/1");
        assert_eq!(
            without_password("redb:///srv/r/.ays/store.redb"),
            "redb:///srv/r/.ays/store.redb"
        );
        assert_eq!(without_password("mem://x"), "mem://x");
    }
}
