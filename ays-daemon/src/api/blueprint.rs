//! `.../blueprint`: the blueprint files of a repository's `blueprints/` directory. List,
//! create, show, update and delete them; execute one (`POST .../blueprint/{blueprint}`), as
//! `ays blueprint FILE` does; archive and restore one.
//!
//! A blueprint is named by its file name (`web.yaml`). An archived blueprint is kept as the
//! file `_web.yaml` (AYS 8.1's convention), which `ays blueprint` (every active blueprint)
//! skips; it keeps its name, `web.yaml`, and is shown with `archived: true`. Contents are
//! checked as blueprints before they are written (YAML within the nesting and alias limits,
//! blocks of the right shape), at most [`MAX_CONTENT`] bytes long; what needs the repository
//! (actors, attributes, parents) is checked when the blueprint is executed.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path as FsPath, PathBuf};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ays_core::{
    ActionState, ActorName, ApplyOptions, BlueprintReport, CoreError, FieldChange, ScheduledAction,
    ServiceKey, UpdatedService,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::params::{self, Body, Path, Query};
use super::repository::RepositoryPath;
use super::{AppState, TAG_BLUEPRINTS, blocking, schema};

/// The largest content of a blueprint, in bytes.
pub(crate) const MAX_CONTENT: usize = 256 * 1024;

/// The prefix of an archived blueprint's file name.
const ARCHIVED: &str = "_";

/// The path of one blueprint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct BlueprintPath {
    /// The repository.
    repository: String,
    /// The blueprint's file name, ending in `.yaml` or `.yml` (without the `_` of an archived
    /// one).
    blueprint: String,
}

/// Which blueprints to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BlueprintQuery {
    /// `true`: the archived blueprints too (default `false`: the active ones only).
    archived: Option<String>,
}

/// A blueprint to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlueprintCreateBody {
    /// Its file name, ending in `.yaml` or `.yml`.
    name: String,
    /// Its YAML text.
    content: String,
}

/// The new content of a blueprint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlueprintUpdateBody {
    /// Its YAML text.
    content: String,
}

/// A blueprint, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BlueprintSummary {
    /// Its name (its file name, without the `_` of an archived one).
    name: String,
    /// Whether it is archived (kept as `_<name>`, skipped by `ays blueprint`).
    archived: bool,
}

/// A blueprint with its content.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BlueprintView {
    /// Its name (its file name, without the `_` of an archived one).
    name: String,
    /// Whether it is archived.
    archived: bool,
    /// Its YAML text.
    content: String,
}

/// A data field a blueprint changed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FieldChangeView {
    /// The field (Cap'n Proto name).
    field: String,
    /// Its value before (`null` when it had none).
    old: serde_json::Value,
    /// Its value after.
    new: serde_json::Value,
}

impl From<FieldChange> for FieldChangeView {
    fn from(f: FieldChange) -> FieldChangeView {
        FieldChangeView {
            field: f.field,
            old: f.old,
            new: f.new,
        }
    }
}

/// A service whose data a blueprint changed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UpdatedServiceView {
    /// The service.
    #[schema(value_type = String)]
    key: ServiceKey,
    /// The changed fields, in blueprint order.
    changed: Vec<String>,
    /// Each changed field with its value before and after.
    fields: Vec<FieldChangeView>,
}

impl From<UpdatedService> for UpdatedServiceView {
    fn from(u: UpdatedService) -> UpdatedServiceView {
        UpdatedServiceView {
            key: u.key,
            changed: u.changed,
            fields: u.fields.into_iter().map(FieldChangeView::from).collect(),
        }
    }
}

/// An action whose state a blueprint changed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScheduledActionView {
    /// The service.
    #[schema(value_type = String)]
    key: ServiceKey,
    /// The action.
    #[schema(value_type = String)]
    action: ays_core::ActionName,
    /// Its state before.
    #[schema(schema_with = schema::action_state)]
    from: ActionState,
    /// Its state after.
    #[schema(schema_with = schema::action_state)]
    to: ActionState,
}

impl From<ScheduledAction> for ScheduledActionView {
    fn from(s: ScheduledAction) -> ScheduledActionView {
        ScheduledActionView {
            key: s.key,
            action: s.action,
            from: s.from,
            to: s.to,
        }
    }
}

/// What executing a blueprint did (the fields of `ays blueprint --json`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BlueprintReportView {
    /// The blueprint files applied.
    files: Vec<String>,
    /// Whether this was a dry run (always false here).
    dry_run: bool,
    /// Actors created from templates.
    #[schema(value_type = Vec<String>)]
    actors_created: Vec<ActorName>,
    /// Services created (auto-created ones included), in creation order.
    #[schema(value_type = Vec<String>)]
    created: Vec<ServiceKey>,
    /// Services whose data changed.
    updated: Vec<UpdatedServiceView>,
    /// Actions whose state changed.
    scheduled: Vec<ScheduledActionView>,
}

impl From<BlueprintReport> for BlueprintReportView {
    fn from(r: BlueprintReport) -> BlueprintReportView {
        BlueprintReportView {
            files: r.files,
            dry_run: r.dry_run,
            actors_created: r.actors_created,
            created: r.created,
            updated: r
                .updated
                .into_iter()
                .map(UpdatedServiceView::from)
                .collect(),
            scheduled: r
                .scheduled
                .into_iter()
                .map(ScheduledActionView::from)
                .collect(),
        }
    }
}

/// `text`, a blueprint's name: a file name (the rule of names), without `..`, not starting
/// with the `_` of archived files, ending in `.yaml` or `.yml`.
fn blueprint_name(text: &str) -> Result<String, ApiError> {
    let name: String = params::name("blueprint", text)?;
    let bad = |reason: &str| {
        ApiError::new(
            ErrorCode::InvalidName,
            format!("blueprint `{}` {reason}", name.escape_debug()),
        )
    };
    if name.contains("..") {
        return Err(bad("holds `..`"));
    }
    if name.starts_with(ARCHIVED) {
        return Err(bad(
            "starts with `_`, which marks an archived blueprint's file: name it without the `_`",
        ));
    }
    if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
        return Err(bad("does not end in `.yaml` or `.yml`"));
    }
    Ok(name)
}

/// Checks `content`, the text of blueprint `name`: its size, and that it reads as a
/// blueprint.
fn check_content(name: &str, content: &str) -> Result<(), ApiError> {
    if content.len() > MAX_CONTENT {
        return Err(ApiError::new(
            ErrorCode::BlueprintTooLarge,
            format!(
                "blueprint `{name}` is {} bytes long; at most {MAX_CONTENT} are accepted",
                content.len()
            ),
        ));
    }
    ays_core::check_blueprint(name, content).map_err(|err| {
        ApiError::new(
            ErrorCode::InvalidBlueprint,
            format!("not a blueprint: {err}"),
        )
    })
}

/// A blueprint file.
struct Found {
    path: PathBuf,
    archived: bool,
}

/// The file of blueprint `name` in `dir`: the active one, else the archived one.
fn find(dir: &FsPath, name: &str) -> Option<Found> {
    let active = dir.join(name);
    if active.is_file() {
        return Some(Found {
            path: active,
            archived: false,
        });
    }
    let archived = dir.join(format!("{ARCHIVED}{name}"));
    archived.is_file().then_some(Found {
        path: archived,
        archived: true,
    })
}

fn not_found(repository: &str, name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::BlueprintNotFound,
        format!("no blueprint `{name}` in repository `{repository}`"),
    )
}

fn io_error(doing: &str, path: &FsPath, err: &std::io::Error) -> ApiError {
    ApiError::new(
        ErrorCode::InternalError,
        format!("cannot {doing} {}: {err}", path.display()),
    )
}

/// Writes `content` to a new hidden file of `dir` (which blueprint listings skip), made
/// readable as files `ays` writes are; the caller moves it in place.
fn staged(dir: &FsPath, content: &str) -> Result<tempfile::NamedTempFile, ApiError> {
    std::fs::create_dir_all(dir).map_err(|err| io_error("create", dir, &err))?;
    let mut file = tempfile::Builder::new()
        .prefix(".blueprint-")
        .tempfile_in(dir)
        .map_err(|err| io_error("write in", dir, &err))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .and_then(|()| {
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .map_err(|err| io_error("write", file.path(), &err))?;
    Ok(file)
}

/// Lists the blueprints of a repository, by name: the active ones, or with `archived=true`
/// the archived ones too.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/blueprint",
    operation_id = "list_blueprints",
    tag = TAG_BLUEPRINTS,
    params(RepositoryPath, BlueprintQuery),
    responses(
        (status = 200, description = "The blueprints, by name", body = [BlueprintSummary]),
        (status = 400, description = "A bad name (`invalid_name`) or query (`malformed_query`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
        (status = 422, description = "`archived` is not true or false (`invalid_value`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
    Query(query): Query<BlueprintQuery>,
) -> Result<Json<Vec<BlueprintSummary>>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let archived = params::value::<bool>("archived", query.archived.as_deref())?.unwrap_or(false);
    let list = blocking(move || {
        let dir = repo.blueprints_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(io_error("read", &dir, &err)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| io_error("read", &dir, &err))?;
            let Ok(file) = entry.file_name().into_string() else {
                continue;
            };
            let (name, is_archived) = match file.strip_prefix(ARCHIVED) {
                Some(name) => (name.to_owned(), true),
                None => (file.clone(), false),
            };
            if (is_archived && !archived)
                || blueprint_name(&name).is_err()
                || !entry.path().is_file()
            {
                continue;
            }
            out.push(BlueprintSummary {
                name,
                archived: is_archived,
            });
        }
        out.sort_by(|a, b| (&a.name, a.archived).cmp(&(&b.name, b.archived)));
        Ok(out)
    })
    .await?;
    Ok(Json(list))
}

/// Creates a blueprint in the repository's `blueprints/` directory. Its content must read as
/// a blueprint; it is not applied (`POST .../blueprint/{blueprint}` executes it).
#[utoipa::path(
    post,
    path = "/ays/repository/{repository}/blueprint",
    operation_id = "create_blueprint",
    tag = TAG_BLUEPRINTS,
    params(RepositoryPath),
    request_body(content = BlueprintCreateBody, description = "The blueprint's name and content"),
    responses(
        (status = 201, description = "The blueprint, written", body = BlueprintView),
        (status = 400, description = "A bad name (`invalid_name`) or a body that is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 404, description = "No such repository (`repository_not_found`)", body = ErrorBody),
        (status = 409, description = "A blueprint of this name exists, active or archived (`blueprint_exists`)", body = ErrorBody),
        (status = 422, description = "A field missing, unknown or of the wrong type (`invalid_value`); the content is not a blueprint (`invalid_blueprint`, naming the line) or too large (`blueprint_too_large`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    State(app): State<AppState>,
    Path(path): Path<RepositoryPath>,
    Body(body): Body<BlueprintCreateBody>,
) -> Result<(StatusCode, Json<BlueprintView>), ApiError> {
    let repo = app.repository(&path.repository)?;
    let name = blueprint_name(&body.name)?;
    check_content(&name, &body.content)?;
    let repository = path.repository;
    let content = body.content;
    let view = blocking(move || {
        let dir = repo.blueprints_dir();
        let exists = || {
            ApiError::new(
                ErrorCode::BlueprintExists,
                format!("repository `{repository}` has a blueprint `{name}` already"),
            )
        };
        if find(&dir, &name).is_some() {
            return Err(exists());
        }
        let file = staged(&dir, &content)?;
        let target = dir.join(&name);
        file.persist_noclobber(&target).map_err(|err| {
            if err.error.kind() == std::io::ErrorKind::AlreadyExists {
                exists()
            } else {
                io_error("write", &target, &err.error)
            }
        })?;
        Ok(BlueprintView {
            name,
            archived: false,
            content,
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Shows a blueprint: the active one of this name, else the archived one.
#[utoipa::path(
    get,
    path = "/ays/repository/{repository}/blueprint/{blueprint}",
    operation_id = "get_blueprint",
    tag = TAG_BLUEPRINTS,
    params(BlueprintPath),
    responses(
        (status = 200, description = "The blueprint", body = BlueprintView),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or blueprint (`repository_not_found`, `blueprint_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(app): State<AppState>,
    Path(path): Path<BlueprintPath>,
) -> Result<Json<BlueprintView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let name = blueprint_name(&path.blueprint)?;
    let repository = path.repository;
    let view = blocking(move || {
        let found =
            find(&repo.blueprints_dir(), &name).ok_or_else(|| not_found(&repository, &name))?;
        let bytes =
            std::fs::read(&found.path).map_err(|err| io_error("read", &found.path, &err))?;
        Ok(BlueprintView {
            name,
            archived: found.archived,
            content: String::from_utf8_lossy(&bytes).into_owned(),
        })
    })
    .await?;
    Ok(Json(view))
}

/// Replaces the content of a blueprint (the active one of this name, else the archived one).
/// The new content must read as a blueprint; it is not applied.
#[utoipa::path(
    put,
    path = "/ays/repository/{repository}/blueprint/{blueprint}",
    operation_id = "update_blueprint",
    tag = TAG_BLUEPRINTS,
    params(BlueprintPath),
    request_body(content = BlueprintUpdateBody, description = "The new content"),
    responses(
        (status = 200, description = "The blueprint, rewritten", body = BlueprintView),
        (status = 400, description = "A bad name (`invalid_name`) or a body that is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 404, description = "No such repository or blueprint (`repository_not_found`, `blueprint_not_found`)", body = ErrorBody),
        (status = 422, description = "A field missing, unknown or of the wrong type (`invalid_value`); the content is not a blueprint (`invalid_blueprint`, naming the line) or too large (`blueprint_too_large`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn update(
    State(app): State<AppState>,
    Path(path): Path<BlueprintPath>,
    Body(body): Body<BlueprintUpdateBody>,
) -> Result<Json<BlueprintView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let name = blueprint_name(&path.blueprint)?;
    check_content(&name, &body.content)?;
    let repository = path.repository;
    let content = body.content;
    let view = blocking(move || {
        let dir = repo.blueprints_dir();
        let found = find(&dir, &name).ok_or_else(|| not_found(&repository, &name))?;
        let file = staged(&dir, &content)?;
        file.persist(&found.path)
            .map_err(|err| io_error("write", &found.path, &err.error))?;
        Ok(BlueprintView {
            name,
            archived: found.archived,
            content,
        })
    })
    .await?;
    Ok(Json(view))
}

/// Deletes a blueprint (the active one of this name, else the archived one). The services it
/// made stay.
#[utoipa::path(
    delete,
    path = "/ays/repository/{repository}/blueprint/{blueprint}",
    operation_id = "delete_blueprint",
    tag = TAG_BLUEPRINTS,
    params(BlueprintPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or blueprint (`repository_not_found`, `blueprint_not_found`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete(
    State(app): State<AppState>,
    Path(path): Path<BlueprintPath>,
) -> Result<StatusCode, ApiError> {
    let repo = app.repository(&path.repository)?;
    let name = blueprint_name(&path.blueprint)?;
    let repository = path.repository;
    blocking(move || {
        let found =
            find(&repo.blueprints_dir(), &name).ok_or_else(|| not_found(&repository, &name))?;
        match std::fs::remove_file(&found.path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                Err(not_found(&repository, &name))
            }
            Err(err) => Err(io_error("remove", &found.path, &err)),
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Executes a blueprint (the active one of this name, else the archived one) as
/// `ays blueprint FILE` does: validated and resolved against the repository completely, then
/// written in one batch; a refused blueprint changes nothing.
#[utoipa::path(
    post,
    path = "/ays/repository/{repository}/blueprint/{blueprint}",
    operation_id = "execute_blueprint",
    tag = TAG_BLUEPRINTS,
    params(BlueprintPath),
    responses(
        (status = 200, description = "What the blueprint changed", body = BlueprintReportView),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or blueprint (`repository_not_found`, `blueprint_not_found`)", body = ErrorBody),
        (status = 409, description = "The repository is busy with another change (`busy`)", body = ErrorBody),
        (status = 422, description = "The blueprint was refused and changed nothing (`blueprint_refused`, naming the file and line), or a template it needs cannot be read (`invalid_template`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn execute(
    State(app): State<AppState>,
    Path(path): Path<BlueprintPath>,
) -> Result<Json<BlueprintReportView>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let name = blueprint_name(&path.blueprint)?;
    let repository = path.repository.clone();
    let report = blocking(move || {
        let found =
            find(&repo.blueprints_dir(), &name).ok_or_else(|| not_found(&repository, &name))?;
        match repo.apply_blueprint_file(&found.path, ApplyOptions::default()) {
            Ok(report) => Ok(report),
            Err(err @ CoreError::Template(_)) => {
                Err(ApiError::internal(ErrorCode::InvalidTemplate, &err))
            }
            Err(err) => Err(err.into()),
        }
    })
    .await?;
    // Periods may have changed.
    app.recurring.touch(&path.repository);
    Ok(Json(BlueprintReportView::from(report)))
}

/// Moves a blueprint between active and archived: `to_archive` renames `<name>` to
/// `_<name>`, otherwise back.
async fn rename(
    app: &AppState,
    path: BlueprintPath,
    to_archive: bool,
) -> Result<Json<BlueprintSummary>, ApiError> {
    let repo = app.repository(&path.repository)?;
    let name = blueprint_name(&path.blueprint)?;
    let repository = path.repository;
    blocking(move || {
        let dir = repo.blueprints_dir();
        let active = dir.join(&name);
        let archived = dir.join(format!("{ARCHIVED}{name}"));
        let (from, to) = if to_archive {
            (active, archived)
        } else {
            (archived, active)
        };
        if !from.is_file() {
            return Err(if find(&dir, &name).is_some() {
                let state = if to_archive { "archived" } else { "active" };
                ApiError::new(
                    ErrorCode::BlueprintExists,
                    format!("blueprint `{name}` of repository `{repository}` is {state} already"),
                )
            } else {
                not_found(&repository, &name)
            });
        }
        // A hard link fails when the target exists, so that nothing is overwritten.
        match std::fs::hard_link(&from, &to) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ApiError::new(
                    ErrorCode::BlueprintExists,
                    format!(
                        "cannot {} blueprint `{name}` of repository `{repository}`: {} exists",
                        if to_archive { "archive" } else { "restore" },
                        to.file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default()
                    ),
                ));
            }
            Err(err) => return Err(io_error("rename", &from, &err)),
        }
        std::fs::remove_file(&from).map_err(|err| io_error("remove", &from, &err))?;
        Ok(BlueprintSummary {
            name,
            archived: to_archive,
        })
    })
    .await
    .map(Json)
}

/// Archives a blueprint: renames `<name>` to `_<name>`, which `ays blueprint` skips.
#[utoipa::path(
    put,
    path = "/ays/repository/{repository}/blueprint/{blueprint}/archive",
    operation_id = "archive_blueprint",
    tag = TAG_BLUEPRINTS,
    params(BlueprintPath),
    responses(
        (status = 200, description = "The blueprint, archived", body = BlueprintSummary),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or blueprint (`repository_not_found`, `blueprint_not_found`)", body = ErrorBody),
        (status = 409, description = "It is archived already, or an archived blueprint of this name exists (`blueprint_exists`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn archive(
    State(app): State<AppState>,
    Path(path): Path<BlueprintPath>,
) -> Result<Json<BlueprintSummary>, ApiError> {
    rename(&app, path, true).await
}

/// Restores an archived blueprint: renames `_<name>` back to `<name>`.
#[utoipa::path(
    put,
    path = "/ays/repository/{repository}/blueprint/{blueprint}/restore",
    operation_id = "restore_blueprint",
    tag = TAG_BLUEPRINTS,
    params(BlueprintPath),
    responses(
        (status = 200, description = "The blueprint, active again", body = BlueprintSummary),
        (status = 400, description = "A bad name (`invalid_name`)", body = ErrorBody),
        (status = 404, description = "No such repository or blueprint (`repository_not_found`, `blueprint_not_found`)", body = ErrorBody),
        (status = 409, description = "It is active already, or an active blueprint of this name exists (`blueprint_exists`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn restore(
    State(app): State<AppState>,
    Path(path): Path<BlueprintPath>,
) -> Result<Json<BlueprintSummary>, ApiError> {
    rename(&app, path, false).await
}
