//! The routes that change repositories: creating, destroying and deleting repositories,
//! blueprints (kept, checked, executed, archived), deleting services and updating actors. Each
//! success and refusal, and that every answer fits the document.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use ays_core::OpenOptions;
use ays_daemon::token::Token;
use ays_daemon::{ApiState, Repositories, router};
use serde_json::{Value, json};

use crate::openapi::{conforms, response_schema};
use crate::{Fixture, TestResult, call};

type Answer = Result<(StatusCode, Value), Box<dyn std::error::Error>>;

/// An API over `app` with its token and document, which checks every answer against the
/// document.
struct Api {
    app: Router,
    auth: String,
    document: Value,
}

impl Api {
    async fn new(app: Router, token: &Token) -> Result<Api, Box<dyn std::error::Error>> {
        let auth = format!("Bearer {}", token.as_str());
        let (status, document) = call(
            &app,
            Method::GET,
            "/openapi.json",
            Some(&auth),
            Body::empty(),
        )
        .await?;
        assert_eq!(status, StatusCode::OK);
        Ok(Api {
            app,
            auth,
            document,
        })
    }

    /// `METHOD uri` with `body` (raw text): the status and JSON body, checked against the
    /// schema the document gives `template` for that status.
    async fn send(&self, method: Method, uri: &str, template: &str, body: &str) -> Answer {
        let (status, answer) = call(
            &self.app,
            method.clone(),
            uri,
            Some(&self.auth),
            Body::from(body.to_owned()),
        )
        .await?;
        let documented =
            &self.document["paths"][template][method.as_str().to_lowercase()]["responses"];
        assert!(
            documented[status.as_str()].is_object(),
            "{method} {uri}: {status} is not documented: {answer}"
        );
        if status != StatusCode::NO_CONTENT {
            let schema =
                response_schema(&self.document, method.as_str(), template, status.as_str());
            conforms(&self.document, schema, &answer, &format!("{method} {uri}"))?;
        }
        Ok((status, answer))
    }

    /// As [`Api::send`], which must answer `status`: the body.
    async fn expect(
        &self,
        method: Method,
        uri: &str,
        template: &str,
        body: &str,
        status: StatusCode,
    ) -> Result<Value, Box<dyn std::error::Error>> {
        let (got, answer) = self.send(method.clone(), uri, template, body).await?;
        assert_eq!(got, status, "{method} {uri}: {answer}");
        Ok(answer)
    }

    /// As [`Api::send`], which must be refused with `status` and `code`: the message.
    async fn refused(
        &self,
        method: Method,
        uri: &str,
        template: &str,
        body: &str,
        status: StatusCode,
        code: &str,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let (got, answer) = self.send(method.clone(), uri, template, body).await?;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {uri} {body:.80}: {answer}"
        );
        Ok(answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The keys of the services of repository `repo`.
    async fn services(&self, repo: &str) -> Result<Value, Box<dyn std::error::Error>> {
        self.expect(
            Method::GET,
            &format!("/ays/repository/{repo}/service"),
            "/ays/repository/{repository}/service",
            "",
            StatusCode::OK,
        )
        .await
    }
}

/// A daemon over an empty `--repos-dir`.
struct ReposDir {
    api: Api,
    repos: PathBuf,
    _tmp: tempfile::TempDir,
}

impl ReposDir {
    async fn new() -> Result<ReposDir, Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let repos = tmp.path().join("repos");
        std::fs::create_dir(&repos)?;
        let repositories = Repositories::open_under(&repos, &[], &OpenOptions::default())?;
        let token = Token::generate()?;
        let app = router(ApiState::new(repositories, token.clone()));
        Ok(ReposDir {
            api: Api::new(app, &token).await?,
            repos: std::fs::canonicalize(repos)?,
            _tmp: tmp,
        })
    }

    /// Creates repository `name` through the API: its detail.
    async fn create(&self, name: &str) -> Result<Value, Box<dyn std::error::Error>> {
        self.api
            .expect(
                Method::POST,
                "/ays/repository",
                "/ays/repository",
                &json!({ "name": name }).to_string(),
                StatusCode::CREATED,
            )
            .await
    }
}

async fn fixture_api(f: &Fixture) -> Result<Api, Box<dyn std::error::Error>> {
    Api::new(f.app.clone(), &f.token).await
}

const REPOS: &str = "/ays/repository";
const REPO: &str = "/ays/repository/{repository}";
const DESTROY: &str = "/ays/repository/{repository}/destroy";
const BLUEPRINTS: &str = "/ays/repository/{repository}/blueprint";
const BLUEPRINT: &str = "/ays/repository/{repository}/blueprint/{blueprint}";
const ARCHIVE: &str = "/ays/repository/{repository}/blueprint/{blueprint}/archive";
const RESTORE: &str = "/ays/repository/{repository}/blueprint/{blueprint}/restore";
const SERVICE: &str = "/ays/repository/{repository}/service/{role}/{name}";
const ACTOR: &str = "/ays/repository/{repository}/actor/{actor}";
const RUNS: &str = "/ays/repository/{repository}/aysrun";
const RUN: &str = "/ays/repository/{repository}/aysrun/{run}";

/// Writes a template `name` with `schema` (and `actions.sh` if given) into `root`.
fn template(root: &Path, name: &str, schema: &str, actions: Option<&str>) -> TestResult {
    let dir = root.join("actorTemplates").join(name);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("schema.hrd"), schema)?;
    if let Some(actions) = actions {
        std::fs::write(dir.join("actions.sh"), actions)?;
    }
    Ok(())
}

#[tokio::test]
async fn repositories_are_created_served_destroyed_and_deleted_in_repos_dir() -> TestResult {
    let d = ReposDir::new().await?;
    let api = &d.api;
    let shop = d.create("shop").await?;
    assert_eq!(shop["name"], "shop");
    assert_eq!(shop["services"], 0);
    let root = d.repos.join("shop");
    assert_eq!(shop["path"], root.display().to_string());
    assert!(root.join(".ays/config.yaml").is_file());
    assert!(root.join("blueprints").is_dir() && root.join("actorTemplates").is_dir());
    let listed = api
        .expect(Method::GET, REPOS, REPOS, "", StatusCode::OK)
        .await?;
    assert_eq!(listed[0]["name"], "shop", "{listed}");

    // Refusals of creation.
    let message = api
        .refused(
            Method::POST,
            REPOS,
            REPOS,
            r#"{"name": "shop"}"#,
            StatusCode::CONFLICT,
            "repository_exists",
        )
        .await?;
    assert!(message.contains("shop"), "{message}");
    std::fs::create_dir(d.repos.join("plain"))?;
    api.refused(
        Method::POST,
        REPOS,
        REPOS,
        r#"{"name": "plain"}"#,
        StatusCode::CONFLICT,
        "repository_exists",
    )
    .await?;
    assert_eq!(std::fs::read_dir(d.repos.join("plain"))?.count(), 0);
    for bad in ["", ".", "..", "../x", "../../etc", ".hidden", "a/b", "a\\b"] {
        api.refused(
            Method::POST,
            REPOS,
            REPOS,
            &json!({ "name": bad }).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_name",
        )
        .await?;
    }
    for (body, status, code) in [
        ("{", StatusCode::BAD_REQUEST, "malformed_json"),
        ("", StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"),
        (
            r#"{"name": 1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            r#"{"name": "x", "git_url": "y"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
    ] {
        api.refused(Method::POST, REPOS, REPOS, body, status, code)
            .await?;
    }
    let names: Vec<String> = std::fs::read_dir(&d.repos)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names.len(), 2, "nothing else was made: {names:?}");

    // A template, a blueprint through the API, executed: one service.
    template(
        &root,
        "sshkey",
        "path = type:str default:'/root/.ssh'\n",
        None,
    )?;
    api.expect(
        Method::POST,
        "/ays/repository/shop/blueprint",
        BLUEPRINTS,
        r#"{"name": "keys.yaml", "content": "sshkey__main:\n"}"#,
        StatusCode::CREATED,
    )
    .await?;
    api.expect(
        Method::POST,
        "/ays/repository/shop/blueprint/keys.yaml",
        BLUEPRINT,
        "",
        StatusCode::OK,
    )
    .await?;
    assert_eq!(
        api.services("shop").await?.as_array().map(Vec::len),
        Some(1)
    );

    // Destroy: services and actors go; templates and blueprints stay.
    let destroyed = api
        .expect(
            Method::POST,
            "/ays/repository/shop/destroy",
            DESTROY,
            "",
            StatusCode::OK,
        )
        .await?;
    assert_eq!(destroyed, json!({"actors": 1, "services": 1}));
    assert_eq!(api.services("shop").await?, json!([]));
    assert!(root.join("blueprints/keys.yaml").is_file());
    assert!(root.join("actorTemplates/sshkey/schema.hrd").is_file());
    api.refused(
        Method::POST,
        "/ays/repository/nope/destroy",
        DESTROY,
        "",
        StatusCode::NOT_FOUND,
        "repository_not_found",
    )
    .await?;

    // Delete: no longer served, its directory gone.
    for (uri, status, code) in [
        (
            "/ays/repository/..%2F..",
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            "/ays/repository/.ays",
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            "/ays/repository/nope",
            StatusCode::NOT_FOUND,
            "repository_not_found",
        ),
    ] {
        api.refused(Method::DELETE, uri, REPO, "", status, code)
            .await?;
    }
    api.expect(
        Method::DELETE,
        "/ays/repository/shop",
        REPO,
        "",
        StatusCode::NO_CONTENT,
    )
    .await?;
    assert!(!root.exists());
    api.refused(
        Method::GET,
        "/ays/repository/shop",
        REPO,
        "",
        StatusCode::NOT_FOUND,
        "repository_not_found",
    )
    .await?;
    assert_eq!(
        api.expect(Method::GET, REPOS, REPOS, "", StatusCode::OK)
            .await?,
        json!([])
    );
    // The name is free again.
    d.create("shop").await?;
    Ok(())
}

#[tokio::test]
async fn without_repos_dir_no_repository_is_created_or_deleted() -> TestResult {
    let f = Fixture::new()?;
    let api = fixture_api(&f).await?;
    let message = api
        .refused(
            Method::POST,
            REPOS,
            REPOS,
            r#"{"name": "shop"}"#,
            StatusCode::CONFLICT,
            "no_repos_dir",
        )
        .await?;
    assert!(message.contains("--repos-dir"), "{message}");
    let message = api
        .refused(
            Method::DELETE,
            "/ays/repository/repo",
            REPO,
            "",
            StatusCode::CONFLICT,
            "not_deletable",
        )
        .await?;
    assert!(message.contains("did not create"), "{message}");
    assert!(f.t.root().join(".ays/config.yaml").is_file());
    f.ok("/ays/repository/repo").await?;
    Ok(())
}

/// A repository `gated` whose service `gate!main` has `install` scheduled, which waits until
/// the file `gate` exists.
async fn gated(d: &ReposDir, gate: &Path) -> TestResult {
    d.create("gated").await?;
    let root = d.repos.join("gated");
    template(
        &root,
        "gate",
        "size = type:int default:1\n",
        Some(&format!(
            "install() {{\n    while [ ! -e '{}' ]; do sleep 0.05; done\n}}\n",
            gate.display()
        )),
    )?;
    let content = "gate__main:\nactions:\n  - action: install\n";
    d.api
        .expect(
            Method::POST,
            "/ays/repository/gated/blueprint",
            BLUEPRINTS,
            &json!({"name": "gate.yaml", "content": content}).to_string(),
            StatusCode::CREATED,
        )
        .await?;
    d.api
        .expect(
            Method::POST,
            "/ays/repository/gated/blueprint/gate.yaml",
            BLUEPRINT,
            "",
            StatusCode::OK,
        )
        .await?;
    Ok(())
}

/// Opens the gate when dropped, so that a failing test lets its run end (and its runtime
/// stop).
struct Opened(PathBuf);

impl Drop for Opened {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, "");
    }
}

#[tokio::test]
async fn a_repository_with_a_run_queued_or_executing_is_not_destroyed_deleted_or_cut() -> TestResult
{
    let d = ReposDir::new().await?;
    let api = &d.api;
    let gate = d.repos.parent().ok_or("no parent")?.join("gate");
    let _opened = Opened(gate.clone());
    gated(&d, &gate).await?;
    let run = api
        .expect(
            Method::POST,
            "/ays/repository/gated/aysrun",
            RUNS,
            "{}",
            StatusCode::ACCEPTED,
        )
        .await?;
    let id = run["id"].as_str().ok_or("no id")?.to_owned();
    let run_uri = format!("/ays/repository/gated/aysrun/{id}");
    for (method, uri, template) in [
        (Method::POST, "/ays/repository/gated/destroy", DESTROY),
        (Method::DELETE, "/ays/repository/gated", REPO),
    ] {
        let (status, body) = api.send(method.clone(), uri, template, "").await?;
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            status == StatusCode::CONFLICT
                && ["repository_busy", "run_locked", "busy"].contains(&code),
            "{method} {uri}: {status}: {body}"
        );
    }
    // Once the run executes, the service is refused by the run lock.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let detail = api
            .expect(Method::GET, &run_uri, RUN, "", StatusCode::OK)
            .await?;
        if detail["run"]["state"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "the run never ran: {detail}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.refused(
        Method::DELETE,
        "/ays/repository/gated/service/gate/main",
        SERVICE,
        "",
        StatusCode::CONFLICT,
        "run_locked",
    )
    .await?;
    assert!(d.repos.join("gated/.ays").is_dir());
    std::fs::write(&gate, "")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = api
            .send(Method::DELETE, "/ays/repository/gated", REPO, "")
            .await?;
        if status == StatusCode::NO_CONTENT {
            break;
        }
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(Instant::now() < deadline, "the run never ended: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!d.repos.join("gated").exists());
    Ok(())
}

#[tokio::test]
async fn blueprints_are_kept_checked_archived_restored_and_deleted() -> TestResult {
    let f = Fixture::new()?;
    let api = fixture_api(&f).await?;
    let list = "/ays/repository/repo/blueprint";
    let one = "/ays/repository/repo/blueprint/web.yaml";
    let dir = f.t.repo.blueprints_dir();
    assert_eq!(
        api.expect(Method::GET, list, BLUEPRINTS, "", StatusCode::OK)
            .await?,
        json!([{"name": "bp.yaml", "archived": false}])
    );
    let content = "node__web3:\n  datacenter: 'dc1'\n";
    let created = api
        .expect(
            Method::POST,
            list,
            BLUEPRINTS,
            &json!({"name": "web.yaml", "content": content}).to_string(),
            StatusCode::CREATED,
        )
        .await?;
    assert_eq!(
        created,
        json!({"name": "web.yaml", "archived": false, "content": content})
    );
    assert_eq!(std::fs::read_to_string(dir.join("web.yaml"))?, content);
    // Only the blueprint: no leftover temporary file.
    assert_eq!(std::fs::read_dir(&dir)?.count(), 2);
    // Creating it is not applying it.
    assert!(f.get("/ays/repository/repo/service/node/web3").await?.0 == StatusCode::NOT_FOUND);
    api.refused(
        Method::POST,
        list,
        BLUEPRINTS,
        &json!({"name": "web.yaml", "content": "{}"}).to_string(),
        StatusCode::CONFLICT,
        "blueprint_exists",
    )
    .await?;
    for bad in [
        "../x.yaml",
        "..",
        ".hidden.yaml",
        "a/b.yaml",
        "web.txt",
        "web",
        "_web.yaml",
        "a..yaml",
        "",
    ] {
        api.refused(
            Method::POST,
            list,
            BLUEPRINTS,
            &json!({"name": bad, "content": ""}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_name",
        )
        .await?;
    }
    for (body, status, code) in [
        ("{", StatusCode::BAD_REQUEST, "malformed_json"),
        (
            r#"{"name": "x.yaml"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            r#"{"name": "x.yaml", "content": 3}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            r#"{"name": "x.yaml", "content": "", "path": "/etc"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
    ] {
        api.refused(Method::POST, list, BLUEPRINTS, body, status, code)
            .await?;
    }
    // Contents must read as blueprints; the error names the file and line.
    for (content, at) in [
        ("node__a:\n  x: [1\n", "x.yaml:"),
        ("node__a:\n  x: 1\nnode__a:\n  x: 2\n", "x.yaml:3"),
        ("node__a:\nnot a block: 1\n", "x.yaml:2"),
        ("- a\n- b\n", "x.yaml:1"),
        ("actions:\n  - actor: node\n", "x.yaml:2"),
    ] {
        let message = api
            .refused(
                Method::POST,
                list,
                BLUEPRINTS,
                &json!({"name": "x.yaml", "content": content}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_blueprint",
            )
            .await?;
        assert!(message.contains(at), "{content:?}: {message}");
    }
    let big = format!("node__a:\n  x: '{}'\n", "y".repeat(256 * 1024));
    api.refused(
        Method::POST,
        list,
        BLUEPRINTS,
        &json!({"name": "x.yaml", "content": big}).to_string(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "blueprint_too_large",
    )
    .await?;
    assert!(!dir.join("x.yaml").exists());

    // Show and update.
    let shown = api
        .expect(Method::GET, one, BLUEPRINT, "", StatusCode::OK)
        .await?;
    assert_eq!(shown, created);
    let changed = "node__web3:\n  datacenter: 'dc1'\n  cpus: 4\n";
    let updated = api
        .expect(
            Method::PUT,
            one,
            BLUEPRINT,
            &json!({ "content": changed }).to_string(),
            StatusCode::OK,
        )
        .await?;
    assert_eq!(updated["content"], changed);
    assert_eq!(std::fs::read_to_string(dir.join("web.yaml"))?, changed);
    api.refused(
        Method::PUT,
        one,
        BLUEPRINT,
        r#"{"content": "a: [\n"}"#,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_blueprint",
    )
    .await?;
    api.refused(
        Method::PUT,
        one,
        BLUEPRINT,
        "{}",
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    )
    .await?;
    assert_eq!(std::fs::read_to_string(dir.join("web.yaml"))?, changed);
    for (uri, status, code) in [
        (
            "/ays/repository/repo/blueprint/nope.yaml",
            StatusCode::NOT_FOUND,
            "blueprint_not_found",
        ),
        (
            "/ays/repository/repo/blueprint/..%2F..%2F.ays%2Fconfig.yaml",
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            "/ays/repository/repo/blueprint/..%2F..",
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            "/ays/repository/repo/blueprint/_web.yaml",
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            "/ays/repository/nope/blueprint/web.yaml",
            StatusCode::NOT_FOUND,
            "repository_not_found",
        ),
    ] {
        api.refused(Method::GET, uri, BLUEPRINT, "", status, code)
            .await?;
        api.refused(Method::DELETE, uri, BLUEPRINT, "", status, code)
            .await?;
        api.refused(Method::POST, uri, BLUEPRINT, "", status, code)
            .await?;
        api.refused(
            Method::PUT,
            uri,
            BLUEPRINT,
            r#"{"content": ""}"#,
            status,
            code,
        )
        .await?;
    }

    // Archive: hidden from the default list and from `ays blueprint`; restore.
    let archive = "/ays/repository/repo/blueprint/web.yaml/archive";
    let restore = "/ays/repository/repo/blueprint/web.yaml/restore";
    let archived = api
        .expect(Method::PUT, archive, ARCHIVE, "", StatusCode::OK)
        .await?;
    assert_eq!(archived, json!({"name": "web.yaml", "archived": true}));
    assert!(dir.join("_web.yaml").is_file() && !dir.join("web.yaml").exists());
    assert_eq!(
        api.expect(Method::GET, list, BLUEPRINTS, "", StatusCode::OK)
            .await?,
        json!([{"name": "bp.yaml", "archived": false}])
    );
    assert_eq!(
        api.expect(
            Method::GET,
            &format!("{list}?archived=true"),
            BLUEPRINTS,
            "",
            StatusCode::OK
        )
        .await?,
        json!([
            {"name": "bp.yaml", "archived": false},
            {"name": "web.yaml", "archived": true},
        ])
    );
    api.refused(
        Method::GET,
        &format!("{list}?archived=maybe"),
        BLUEPRINTS,
        "",
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    )
    .await?;
    assert_eq!(
        api.expect(Method::GET, one, BLUEPRINT, "", StatusCode::OK)
            .await?["archived"],
        true
    );
    assert_eq!(
        f.t.repo.blueprint_files()?,
        [dir.join("bp.yaml")],
        "`ays blueprint` skips it"
    );
    api.refused(
        Method::PUT,
        archive,
        ARCHIVE,
        "",
        StatusCode::CONFLICT,
        "blueprint_exists",
    )
    .await?;
    api.refused(
        Method::POST,
        list,
        BLUEPRINTS,
        &json!({"name": "web.yaml", "content": ""}).to_string(),
        StatusCode::CONFLICT,
        "blueprint_exists",
    )
    .await?;
    // Both files there: neither renames over the other.
    std::fs::write(dir.join("web.yaml"), "other:\n")?;
    api.refused(
        Method::PUT,
        restore,
        RESTORE,
        "",
        StatusCode::CONFLICT,
        "blueprint_exists",
    )
    .await?;
    assert_eq!(std::fs::read_to_string(dir.join("web.yaml"))?, "other:\n");
    std::fs::remove_file(dir.join("web.yaml"))?;
    let restored = api
        .expect(Method::PUT, restore, RESTORE, "", StatusCode::OK)
        .await?;
    assert_eq!(restored, json!({"name": "web.yaml", "archived": false}));
    api.refused(
        Method::PUT,
        restore,
        RESTORE,
        "",
        StatusCode::CONFLICT,
        "blueprint_exists",
    )
    .await?;
    api.refused(
        Method::PUT,
        "/ays/repository/repo/blueprint/nope.yaml/archive",
        ARCHIVE,
        "",
        StatusCode::NOT_FOUND,
        "blueprint_not_found",
    )
    .await?;
    assert_eq!(std::fs::read_to_string(dir.join("web.yaml"))?, changed);

    // Delete.
    api.expect(Method::DELETE, one, BLUEPRINT, "", StatusCode::NO_CONTENT)
        .await?;
    assert!(!dir.join("web.yaml").exists());
    api.refused(
        Method::GET,
        one,
        BLUEPRINT,
        "",
        StatusCode::NOT_FOUND,
        "blueprint_not_found",
    )
    .await?;
    // A blueprints directory that is gone lists nothing and is made again.
    std::fs::remove_dir_all(&dir)?;
    assert_eq!(
        api.expect(Method::GET, list, BLUEPRINTS, "", StatusCode::OK)
            .await?,
        json!([])
    );
    api.expect(
        Method::POST,
        list,
        BLUEPRINTS,
        &json!({"name": "again.yml", "content": ""}).to_string(),
        StatusCode::CREATED,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_executed_blueprint_changes_services_and_a_refused_one_nothing() -> TestResult {
    let f = Fixture::new()?;
    let api = fixture_api(&f).await?;
    let list = "/ays/repository/repo/blueprint";
    let before = api.services("repo").await?;
    for (name, content, at) in [
        (
            "unknown.yaml",
            "node__web3:\n  datacenter: dc1\nghost__x:\n",
            "blueprints/unknown.yaml:3",
        ),
        (
            "attr.yaml",
            "node__web3:\n  datacenter: dc1\n  colour: red\n",
            "blueprints/attr.yaml:3",
        ),
        (
            "parent.yaml",
            "node__web3:\n  datacenter: dc9\n",
            "blueprints/parent.yaml:1",
        ),
        (
            "type.yaml",
            "node__web3:\n  datacenter: dc1\n  cpus: many\n",
            "blueprints/type.yaml:3",
        ),
    ] {
        api.expect(
            Method::POST,
            list,
            BLUEPRINTS,
            &json!({"name": name, "content": content}).to_string(),
            StatusCode::CREATED,
        )
        .await?;
        let message = api
            .refused(
                Method::POST,
                &format!("{list}/{name}"),
                BLUEPRINT,
                "",
                StatusCode::UNPROCESSABLE_ENTITY,
                "blueprint_refused",
            )
            .await?;
        assert!(message.contains(at), "{name}: {message}");
        assert_eq!(
            api.services("repo").await?,
            before,
            "{name} changed services"
        );
    }
    // Applied as `ays blueprint FILE`: what changed, with the fields of its `--json`.
    let content = "node__web3:\n  datacenter: dc1\nnode__web1:\n  datacenter: dc1\n  cpus: 3\nactions:\n  - action: install\n    service: web3\n";
    api.expect(
        Method::POST,
        list,
        BLUEPRINTS,
        &json!({"name": "web.yaml", "content": content}).to_string(),
        StatusCode::CREATED,
    )
    .await?;
    let report = api
        .expect(
            Method::POST,
            &format!("{list}/web.yaml"),
            BLUEPRINT,
            "",
            StatusCode::OK,
        )
        .await?;
    assert_eq!(report["files"], json!(["blueprints/web.yaml"]), "{report}");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["created"], json!(["node!web3"]));
    assert_eq!(report["updated"][0]["key"], "node!web1");
    assert_eq!(
        report["updated"][0]["fields"],
        json!([{"field": "cpus", "old": 1, "new": 3}])
    );
    assert_eq!(
        report["scheduled"],
        json!([{"key": "node!web3", "action": "install", "from": "new", "to": "scheduled"}])
    );
    f.ok("/ays/repository/repo/service/node/web3").await?;
    // Again: nothing changes.
    let again = api
        .expect(
            Method::POST,
            &format!("{list}/web.yaml"),
            BLUEPRINT,
            "",
            StatusCode::OK,
        )
        .await?;
    assert_eq!(again["created"], json!([]));
    assert_eq!(again["updated"], json!([]));
    Ok(())
}

/// Nine anchors, each a list of ten aliases of the one before: 10^9 strings once expanded.
fn alias_bomb() -> String {
    let mut text =
        "node__a:\n  x: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n".to_owned();
    for i in 1..=9 {
        let p = i - 1;
        let aliases = vec![format!("*a{p}"); 10].join(", ");
        text.push_str(&format!("  x{i}: &a{i} [{aliases}]\n"));
    }
    text
}

#[tokio::test]
async fn alias_bombs_and_deep_nesting_are_refused_quickly() -> TestResult {
    let f = Fixture::new()?;
    let api = fixture_api(&f).await?;
    let list = "/ays/repository/repo/blueprint";
    let before = api.services("repo").await?;
    let deep_flow = format!("node__a:\n  x: {}\n", "[".repeat(10_000));
    let deep_block = format!("node__a:\n  x:\n    {}x\n", "- ".repeat(10_000));
    let deep_map = format!(
        "node__a:\n  x: {}1{}\n",
        "{a: ".repeat(10_000),
        "}".repeat(10_000)
    );
    for (what, content) in [
        ("alias bomb", alias_bomb()),
        ("deep flow", deep_flow),
        ("deep block", deep_block),
        ("deep mapping", deep_map),
    ] {
        let started = Instant::now();
        let message = api
            .refused(
                Method::POST,
                list,
                BLUEPRINTS,
                &json!({"name": "bomb.yaml", "content": content}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_blueprint",
            )
            .await?;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: {:?}",
            started.elapsed()
        );
        assert!(message.contains("bomb.yaml:"), "{what}: {message}");
        let started = Instant::now();
        api.refused(
            Method::PUT,
            &format!("{list}/bp.yaml"),
            BLUEPRINT,
            &json!({ "content": content }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_blueprint",
        )
        .await?;
        assert!(started.elapsed() < Duration::from_secs(1), "{what}");
        // Written by hand and executed: refused as quickly, changing nothing.
        std::fs::write(f.t.repo.blueprints_dir().join("bomb.yaml"), &content)?;
        let started = Instant::now();
        let message = api
            .refused(
                Method::POST,
                &format!("{list}/bomb.yaml"),
                BLUEPRINT,
                "",
                StatusCode::UNPROCESSABLE_ENTITY,
                "blueprint_refused",
            )
            .await?;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: {:?}",
            started.elapsed()
        );
        assert!(message.contains("bomb.yaml:"), "{what}: {message}");
    }
    assert_eq!(api.services("repo").await?, before);
    Ok(())
}

#[tokio::test]
async fn a_deleted_service_takes_its_children() -> TestResult {
    let f = Fixture::new()?;
    let api = fixture_api(&f).await?;
    for (uri, status, code) in [
        (
            "/ays/repository/repo/service/node/web9",
            StatusCode::NOT_FOUND,
            "service_not_found",
        ),
        (
            "/ays/repository/nope/service/node/web1",
            StatusCode::NOT_FOUND,
            "repository_not_found",
        ),
        (
            "/ays/repository/repo/service/..%2F../web1",
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            "/ays/repository/repo/service/node/.x",
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            "/ays/repository/repo/service/node/web1?force=maybe",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            "/ays/repository/repo/service/node/web1?cascade=1",
            StatusCode::BAD_REQUEST,
            "malformed_query",
        ),
    ] {
        api.refused(Method::DELETE, uri, SERVICE, "", status, code)
            .await?;
    }
    let done = api
        .expect(
            Method::DELETE,
            "/ays/repository/repo/service/node/web2",
            SERVICE,
            "",
            StatusCode::OK,
        )
        .await?;
    assert_eq!(done["deleted"], json!(["node!web2"]), "{done}");
    let done = api
        .expect(
            Method::DELETE,
            "/ays/repository/repo/service/datacenter/dc1?force=false",
            SERVICE,
            "",
            StatusCode::OK,
        )
        .await?;
    assert_eq!(
        done["deleted"],
        json!(["datacenter!dc1", "node!web1"]),
        "{done}"
    );
    assert_eq!(api.services("repo").await?, json!([]));
    api.refused(
        Method::DELETE,
        "/ays/repository/repo/service/node/web1",
        SERVICE,
        "",
        StatusCode::NOT_FOUND,
        "service_not_found",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_actor_is_updated_from_its_template() -> TestResult {
    let f = Fixture::new()?;
    let api = fixture_api(&f).await?;
    let uri = "/ays/repository/repo/actor/node";
    let same = api
        .expect(Method::PUT, uri, ACTOR, "", StatusCode::OK)
        .await?;
    assert_eq!(same["actor"]["name"], "node");
    assert_eq!(same["update"]["actor_changed"], false, "{same}");
    f.t.template(
        "node",
        "datacenter = type:str parent:'datacenter'\ncpus = type:int default:1\ndisk = type:int default:20\n",
    )?;
    let changed = api
        .expect(Method::PUT, uri, ACTOR, "", StatusCode::OK)
        .await?;
    assert_eq!(
        changed["update"]["added_fields"],
        json!(["disk"]),
        "{changed}"
    );
    assert_eq!(changed["update"]["services"], 2);
    let web1 = f.ok("/ays/repository/repo/service/node/web1").await?;
    assert_eq!(web1["data"]["disk"], 20, "{web1}");
    for (uri, status, code) in [
        (
            "/ays/repository/repo/actor/ghost",
            StatusCode::NOT_FOUND,
            "actor_not_found",
        ),
        (
            "/ays/repository/repo/actor/..%2F..",
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        (
            "/ays/repository/nope/actor/node",
            StatusCode::NOT_FOUND,
            "repository_not_found",
        ),
    ] {
        api.refused(Method::PUT, uri, ACTOR, "", status, code)
            .await?;
    }
    // A field whose type changes is refused, and nothing changes.
    f.t.template(
        "node",
        "datacenter = type:str parent:'datacenter'\ncpus = type:str default:'1'\ndisk = type:int default:20\n",
    )?;
    api.refused(
        Method::PUT,
        uri,
        ACTOR,
        "",
        StatusCode::CONFLICT,
        "incompatible_schema",
    )
    .await?;
    assert_eq!(f.ok("/ays/repository/repo/service/node/web1").await?, web1);
    Ok(())
}
