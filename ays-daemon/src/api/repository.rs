//! `GET /ays/repository` and `GET /ays/repository/{repository}`: the served repositories.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::params::Path;
use super::{AppState, TAG_REPOSITORIES, blocking};

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
    let detail = blocking(move || {
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
    })
    .await?;
    Ok(Json(detail))
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
