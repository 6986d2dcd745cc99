//! Tests of the daemon's API, driven in-process through `tower::ServiceExt::oneshot` on a
//! repository made with `ays_core::testing::TestRepo`.

mod auth;
mod changes;
mod follow;
mod openapi;
mod routes;
mod runs;
mod server;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use ays_core::testing::{Backend, TestRepo};
use ays_core::{ApplyOptions, OpenOptions, RunId};
use ays_daemon::token::Token;
use ays_daemon::{ApiState, Repositories, router};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// What a test body returns.
type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Two templates (a datacenter and its nodes), a blueprint with a recurring `monitor`, and one
/// run made without executing actions.
const BLUEPRINT: &str = "\
datacenter__dc1:
  location: 'ghent'
node__web1:
  datacenter: 'dc1'
node__web2:
  datacenter: 'dc1'
  cpus: 2
actions:
  - action: install
  - action: monitor
    actor: node
    recurring: 5m
";

/// A served repository named `repo`, with services, actors, one run, and its blueprint as
/// `blueprints/bp.yaml`.
struct Fixture {
    app: Router,
    token: Token,
    run: RunId,
    t: TestRepo,
}

impl Fixture {
    fn new() -> Result<Fixture, Box<dyn std::error::Error>> {
        let t = TestRepo::new(Backend::Redb)?;
        t.template("datacenter", "location = type:str default:'local'\n")?;
        t.template(
            "node",
            "datacenter = type:str parent:'datacenter'\ncpus = type:int default:1\n",
        )?;
        t.repo
            .apply_blueprint_text("bp.yaml", BLUEPRINT, ApplyOptions::default())?;
        std::fs::write(t.repo.blueprints_dir().join("bp.yaml"), BLUEPRINT)?;
        let mut options = ays_run::RunOptions::default();
        options.no_exec = true;
        let outcome = ays_run::create_run(&t.repo, &options)?;
        let run = outcome.record.ok_or("the run was not stored")?.id;
        let repositories = Repositories::open(&[t.root().to_path_buf()], &OpenOptions::default())?;
        let token = Token::generate()?;
        let app = router(ApiState::new(repositories, token.clone()));
        Ok(Fixture { app, token, run, t })
    }

    /// `GET uri` with the right token: its status and JSON body.
    async fn get(&self, uri: &str) -> Result<(StatusCode, Value), Box<dyn std::error::Error>> {
        let auth = format!("Bearer {}", self.token.as_str());
        call(&self.app, Method::GET, uri, Some(&auth), Body::empty()).await
    }

    /// `GET uri` with the right token, which must answer 200: its JSON body.
    async fn ok(&self, uri: &str) -> Result<Value, Box<dyn std::error::Error>> {
        let (status, body) = self.get(uri).await?;
        if status != StatusCode::OK {
            return Err(format!("GET {uri}: {status}: {body}").into());
        }
        Ok(body)
    }

    /// `GET uri` with the right token, which must fail with `status` and `code`: the message.
    async fn refused(
        &self,
        uri: &str,
        status: StatusCode,
        code: &str,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let (got, body) = self.get(uri).await?;
        assert_eq!(
            (got, &body["error"]["code"]),
            (status, &Value::from(code)),
            "GET {uri}: {body}"
        );
        Ok(body["error"]["message"]
            .as_str()
            .ok_or("no message")?
            .to_owned())
    }
}

/// Sends one request to `app`; its status and its body as JSON (`Null` when empty).
async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    authorization: Option<&str>,
    body: Body,
) -> Result<(StatusCode, Value), Box<dyn std::error::Error>> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(auth) = authorization {
        request = request.header("authorization", auth);
    }
    let response = app.clone().oneshot(request.body(body)?).await?;
    let status = response.status();
    let json = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/json");
    let stream = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "text/event-stream");
    let bytes = response.into_body().collect().await?.to_bytes();
    if status == StatusCode::NO_CONTENT && bytes.is_empty() {
        return Ok((status, Value::Null));
    }
    if stream {
        return Ok((status, follow::events_of(std::str::from_utf8(&bytes)?)?));
    }
    if !json {
        return Err(format!("{uri}: {status}: not a JSON body: {bytes:?}").into());
    }
    Ok((status, serde_json::from_slice(&bytes)?))
}

/// Every operation of the OpenAPI document: its method and path template.
fn operations(document: &Value) -> Result<Vec<(Method, String)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().ok_or("no paths")? {
        for method in item
            .as_object()
            .ok_or("a path item is not an object")?
            .keys()
        {
            out.push((
                Method::from_bytes(method.to_uppercase().as_bytes())?,
                path.clone(),
            ));
        }
    }
    Ok(out)
}

/// A path template with every parameter replaced by a name that exists in the fixture.
fn concrete(template: &str, fixture: &Fixture) -> String {
    template
        .replace("{repository}", "repo")
        .replace("{role}", "node")
        .replace("{name}", "web1")
        .replace("{actor}", "node")
        .replace("{run}", fixture.run.as_str())
        .replace("{number}", "1")
        .replace("{blueprint}", "bp.yaml")
}
