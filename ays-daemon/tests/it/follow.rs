//! `GET .../aysrun/{run}/events`: a run followed as server-sent events, whoever executes it.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use ays_core::ApplyOptions;
use ays_core::testing::{Backend, TestRepo};
use ays_daemon::token::Token;
use ays_daemon::{ApiState, Repositories, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{Fixture, TestResult, call};

/// The events of an event stream's text, as `{"event", "data"}` objects (data parsed as JSON).
pub(crate) fn events_of(text: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let mut events = Vec::new();
    let (mut name, mut data) = (String::new(), String::new());
    for line in text.lines() {
        if line.is_empty() {
            if !data.is_empty() {
                let parsed: Value = serde_json::from_str(&data)?;
                events.push(json!({"event": name, "data": parsed}));
            }
            name.clear();
            data.clear();
        } else if let Some(value) = line.strip_prefix("event:") {
            name = value.trim_start().to_owned();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    Ok(Value::Array(events))
}

/// `(event, service:action or run, state)` of each event.
fn summary(events: &Value) -> Vec<(String, String, String)> {
    events
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let data = &e["data"];
            let what = match e["event"].as_str() {
                Some("job") => format!(
                    "{}:{}",
                    data["service"].as_str().unwrap_or_default(),
                    data["action"].as_str().unwrap_or_default()
                ),
                _ => "run".to_owned(),
            };
            (
                e["event"].as_str().unwrap_or_default().to_owned(),
                what,
                data["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_replays_its_job_states_and_ends() -> TestResult {
    let f = Fixture::new()?;
    let uri = format!("/ays/repository/repo/aysrun/{}/events", f.run);
    let (status, events) = f.get(&uri).await?;
    assert_eq!(status, StatusCode::OK, "{events}");
    let got = summary(&events);
    let last = got.last().ok_or("no event")?;
    assert_eq!(last, &("run".to_owned(), "run".to_owned(), "ok".to_owned()));
    assert_eq!(events[got.len() - 1]["data"]["jobs"], 9, "{events}");
    // Every job started and ended, in that order, and its end carries its log.
    let jobs: std::collections::BTreeSet<&str> = got
        .iter()
        .filter(|(event, _, _)| event == "job")
        .map(|(_, what, _)| what.as_str())
        .collect();
    assert_eq!(jobs.len(), 9, "{events}");
    assert!(jobs.contains("node!web2:install"), "{jobs:?}");
    for job in jobs {
        let states: Vec<&str> = got
            .iter()
            .filter(|(_, what, _)| what == job)
            .map(|(_, _, state)| state.as_str())
            .collect();
        assert_eq!(states, ["running", "ok"], "{job}: {events}");
    }
    for event in events.as_array().ok_or("not a list")? {
        if event["event"] == "job" {
            let ended = event["data"]["state"] == "ok";
            assert_eq!(event["data"]["logs"].is_array(), ended, "{event}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_run_is_404_before_any_stream() -> TestResult {
    let f = Fixture::new()?;
    f.refused(
        "/ays/repository/repo/aysrun/1700000000000-0/events",
        StatusCode::NOT_FOUND,
        "run_not_found",
    )
    .await?;
    f.refused(
        "/ays/repository/nope/aysrun/1700000000000-0/events",
        StatusCode::NOT_FOUND,
        "repository_not_found",
    )
    .await?;
    f.refused(
        "/ays/repository/repo/aysrun/..x/events",
        StatusCode::BAD_REQUEST,
        "invalid_name",
    )
    .await?;
    let (status, _) = call(
        &f.app,
        Method::GET,
        &format!("/ays/repository/repo/aysrun/{}/events", f.run),
        None,
        Body::empty(),
    )
    .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_request_with_nothing_to_run_ends_the_stream_with_its_queue_state() -> TestResult {
    let f = Fixture::new()?;
    let auth = format!("Bearer {}", f.token.as_str());
    // Everything ran already: the request finds nothing to run.
    let (status, queued) = call(
        &f.app,
        Method::POST,
        "/ays/repository/repo/aysrun",
        Some(&auth),
        Body::empty(),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["id"].as_str().ok_or("no id")?;
    let (status, events) = f
        .get(&format!("/ays/repository/repo/aysrun/{id}/events"))
        .await?;
    assert_eq!(status, StatusCode::OK, "{events}");
    let events = events.as_array().ok_or("not a list")?;
    let last = events.last().ok_or("no event")?;
    assert_eq!(last["event"], "run", "{last}");
    assert_eq!(last["data"]["state"], "new", "{last}");
    assert_eq!(last["data"]["queue"]["state"], "empty", "{last}");
    assert_eq!(
        last["data"]["queue"]["message"],
        "nothing was scheduled: no run was stored"
    );
    assert!(
        events.iter().all(|e| e["event"] == "run"),
        "no job: {events:?}"
    );
    Ok(())
}

/// Reads the next event of `body` (waiting at most 30 s): its name and data.
async fn next_event(
    body: &mut Body,
    buffer: &mut String,
) -> Result<Option<(String, Value)>, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let events = events_of(&block)?;
            match events.as_array().and_then(|a| a.first()) {
                Some(event) => {
                    let name = event["event"].as_str().unwrap_or_default().to_owned();
                    return Ok(Some((name, event["data"].clone())));
                }
                // A keep-alive comment.
                None => continue,
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, body.frame())
            .await
            .map_err(|_| "no event within 30 s")?;
        match frame {
            None => return Ok(None),
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    buffer.push_str(std::str::from_utf8(&data)?);
                }
            }
        }
    }
}

/// A run that another holder of the store executes (here a thread, as `ays run create` would be
/// a process) is followed live: its jobs' states as they change, then its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_another_process_is_followed_live_to_its_end() -> TestResult {
    let t = TestRepo::new(Backend::Redb)?;
    let gate = t.root().join("gate");
    t.template("db", "size = type:int default:1\n")?;
    t.write(
        "actorTemplates/db/actions.sh",
        &format!(
            "install() {{\n    while [ ! -e '{}' ]; do sleep 0.05; done\n}}\n",
            gate.display()
        ),
    )?;
    t.template("web", "db = type:str parent:'db'\n")?;
    t.write(
        "actorTemplates/web/actions.sh",
        "install() {\n    echo served\n}\n",
    )?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "db__main:\nweb__site:\n  db: main\nactions:\n  - action: install\n",
        ApplyOptions::default(),
    )?;
    let repositories = Repositories::open(&[t.root().to_path_buf()], &Default::default())?;
    let token = Token::generate()?;
    let app = router(ApiState::new(repositories, token.clone()));

    let root = t.root().to_path_buf();
    let runner = std::thread::spawn(move || -> Result<(), String> {
        let repo = ays_core::Repository::open(&root, ays_core::OpenOptions::default())
            .map_err(|e| e.to_string())?;
        ays_run::create_run(&repo, &ays_run::RunOptions::default())
            .map(drop)
            .map_err(|e| e.to_string())
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        if let Some(run) = t.repo.runs()?.into_iter().next() {
            break run.id;
        }
        assert!(Instant::now() < deadline, "the run was not stored in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let request = Request::get(format!(
        "/ays/repository/{}/aysrun/{id}/events",
        repo_name(&t)
    ))
    .header("authorization", format!("Bearer {}", token.as_str()))
    .body(Body::empty())?;
    let response = app.clone().oneshot(request).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut buffer = String::new();
    let (name, data) = next_event(&mut body, &mut buffer)
        .await?
        .ok_or("the stream ended at once")?;
    assert_eq!((name.as_str(), &data["state"]), ("run", &json!("running")));
    assert_eq!(data["jobs"], 2);
    // db's install runs until the gate opens: its start comes first, web waits for it.
    let (name, data) = next_event(&mut body, &mut buffer).await?.ok_or("ended")?;
    assert_eq!(
        (name.as_str(), &data["service"], &data["state"]),
        ("job", &json!("db!main"), &json!("running")),
        "{data}"
    );
    std::fs::write(&gate, "")?;
    let mut rest = Vec::new();
    while let Some((name, data)) = next_event(&mut body, &mut buffer).await? {
        rest.push(json!({"event": name, "data": data}));
    }
    assert_eq!(
        summary(&Value::Array(rest.clone())),
        [
            ("job".into(), "db!main:install".into(), "ok".into()),
            ("job".into(), "web!site:install".into(), "running".into()),
            ("job".into(), "web!site:install".into(), "ok".into()),
            ("run".into(), "run".into(), "ok".into()),
        ],
        "{rest:?}"
    );
    let web_log = &rest[2]["data"]["logs"];
    assert!(
        web_log.to_string().contains("served"),
        "the end carries the log: {web_log}"
    );
    runner.join().map_err(|_| "the runner panicked")??;
    Ok(())
}

/// The name the daemon serves a test repository under: its directory name.
fn repo_name(t: &TestRepo) -> String {
    t.root()
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned()
}
