//! What each route answers, and how it refuses bad requests.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use ays_core::{JobFilter, ServiceFilter};
use serde_json::{Value, json};

use crate::{Fixture, TestResult, call};

/// The keys of a list of services.
fn keys(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|l| l.iter().filter_map(|s| s["key"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn health_needs_nothing() -> TestResult {
    let f = Fixture::new()?;
    let (status, body) = call(&f.app, Method::GET, "/health", None, Body::empty()).await?;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    Ok(())
}

#[tokio::test]
async fn repositories_are_listed_and_counted() -> TestResult {
    let f = Fixture::new()?;
    let root = f.t.root().display().to_string();
    assert_eq!(
        f.ok("/ays/repository").await?,
        json!([{"name": "repo", "path": root}])
    );
    let detail = f.ok("/ays/repository/repo").await?;
    assert_eq!(
        detail,
        json!({
            "name": "repo",
            "path": root,
            "id": f.t.repo.id(),
            "store": f.t.repo.store_url(),
            "services": 3,
            "actors": 2,
            "runs": 1,
        })
    );
    Ok(())
}

#[tokio::test]
async fn services_are_filtered_by_every_parameter() -> TestResult {
    let f = Fixture::new()?;
    let all = f.ok("/ays/repository/repo/service").await?;
    assert_eq!(keys(&all), ["datacenter!dc1", "node!web1", "node!web2"]);
    assert_eq!(
        all[1],
        json!({"key": "node!web1", "actor": "node", "parent": "datacenter!dc1"})
    );
    assert_eq!(all[0]["parent"], Value::Null);
    for (query, expected) in [
        ("actor=node", vec!["node!web1", "node!web2"]),
        ("role=datacenter", vec!["datacenter!dc1"]),
        ("name=web2", vec!["node!web2"]),
        ("role=node&name=web1", vec!["node!web1"]),
        ("parent=datacenter!dc1", vec!["node!web1", "node!web2"]),
        ("producer=datacenter!dc1", vec!["node!web1", "node!web2"]),
        (
            "state=install:ok",
            vec!["datacenter!dc1", "node!web1", "node!web2"],
        ),
        (
            "state=stop:new",
            vec!["datacenter!dc1", "node!web1", "node!web2"],
        ),
        ("state=install:scheduled", vec![]),
        ("actor=node&name=web9", vec![]),
        ("actor=nosuch", vec![]),
    ] {
        let listed = f
            .ok(&format!("/ays/repository/repo/service?{query}"))
            .await?;
        assert_eq!(keys(&listed), expected, "{query}");
    }
    Ok(())
}

#[tokio::test]
async fn a_service_shows_its_data_relations_and_actions() -> TestResult {
    let f = Fixture::new()?;
    let s = f.ok("/ays/repository/repo/service/node/web2").await?;
    assert_eq!(s["key"], "node!web2");
    assert_eq!(
        (&s["role"], &s["instance"]),
        (&json!("node"), &json!("web2"))
    );
    assert_eq!(s["data"], json!({"datacenter": "dc1", "cpus": 2}));
    assert_eq!(s["parent"], "datacenter!dc1");
    assert_eq!(s["producers"], json!(["datacenter!dc1"]));
    assert_eq!(s["consumers"], json!([]));
    let monitor = s["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "monitor"))
        .ok_or("no monitor action")?;
    assert_eq!(
        (&monitor["state"], &monitor["period"]),
        (&json!("ok"), &json!(300))
    );
    assert!(
        monitor["last_run"].as_i64().is_some_and(|t| t > 0),
        "{monitor}"
    );
    let dc = f.ok("/ays/repository/repo/service/datacenter/dc1").await?;
    assert_eq!(dc["children"], json!(["node!web1", "node!web2"]));
    assert_eq!(dc["consumers"], json!(["node!web1", "node!web2"]));
    Ok(())
}

#[tokio::test]
async fn bodies_have_the_fields_of_the_cli_json() -> TestResult {
    // The API and `ays … --json` print the same records the same way.
    let f = Fixture::new()?;
    let repo = &f.t.repo;
    let key = "node!web1".parse()?;
    assert_eq!(
        f.ok("/ays/repository/repo/service/node/web1").await?,
        serde_json::to_value(repo.show_service(&key)?)?
    );
    assert_eq!(
        f.ok("/ays/repository/repo/actor").await?,
        serde_json::to_value(repo.actors()?)?
    );
    assert_eq!(
        f.ok("/ays/repository/repo/template").await?,
        serde_json::to_value(repo.templates()?.list())?
    );
    assert_eq!(
        f.ok("/ays/repository/repo/aysrun").await?,
        serde_json::to_value(ays_run::list_runs(repo)?)?
    );
    assert_eq!(
        f.ok(&format!("/ays/repository/repo/aysrun/{}", f.run))
            .await?,
        serde_json::to_value(ays_run::show_run(repo, &f.run)?)?
    );
    assert_eq!(
        f.ok("/ays/repository/repo/job").await?,
        serde_json::to_value(repo.all_jobs(&JobFilter::all())?)?
    );
    assert_eq!(
        f.ok(&format!("/ays/repository/repo/job/{}/2", f.run))
            .await?,
        serde_json::to_value(repo.job(&f.run, 2)?)?
    );
    let services = repo.services(&ServiceFilter::all())?;
    assert_eq!(
        keys(&f.ok("/ays/repository/repo/service").await?).len(),
        services.len()
    );
    Ok(())
}

#[tokio::test]
async fn actors_and_templates_are_listed() -> TestResult {
    let f = Fixture::new()?;
    let actors = f.ok("/ays/repository/repo/actor").await?;
    let names: Vec<_> = actors
        .as_array()
        .ok_or("not a list")?
        .iter()
        .map(|a| (a["name"].clone(), a["services"].clone()))
        .collect();
    assert_eq!(
        names,
        [(json!("datacenter"), json!(1)), (json!("node"), json!(2))]
    );
    let node = f.ok("/ays/repository/repo/actor/node").await?;
    assert_eq!(node["name"], "node");
    assert_eq!(node["parent"]["role"], "datacenter");
    assert!(
        node["schema_text"]
            .as_str()
            .is_some_and(|s| s.contains("cpus")),
        "{node}"
    );
    let templates = f.ok("/ays/repository/repo/template").await?;
    let names: Vec<_> = templates
        .as_array()
        .ok_or("not a list")?
        .iter()
        .map(|t| (t["name"].clone(), t["local"].clone()))
        .collect();
    assert_eq!(
        names,
        [
            (json!("datacenter"), json!(true)),
            (json!("node"), json!(true))
        ]
    );
    Ok(())
}

#[tokio::test]
async fn runs_and_jobs_are_shown_and_filtered() -> TestResult {
    let f = Fixture::new()?;
    let runs = f.ok("/ays/repository/repo/aysrun").await?;
    assert_eq!(runs[0]["id"], f.run.as_str());
    assert_eq!(
        (&runs[0]["state"], &runs[0]["jobs"]),
        (&json!("ok"), &json!(9))
    );
    let run = f
        .ok(&format!("/ays/repository/repo/aysrun/{}", f.run))
        .await?;
    assert_eq!(run["run"]["state"], "ok");
    assert_eq!(run["jobs"].as_array().map(Vec::len), Some(9));
    assert!(
        run["run"]["steps"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{run}"
    );
    let base = "/ays/repository/repo/job";
    let count = |v: &Value| v.as_array().map_or(0, Vec::len);
    assert_eq!(count(&f.ok(base).await?), 9);
    let run_id = f.run.as_str();
    for (query, expected) in [
        (format!("run={run_id}"), 9),
        ("action=monitor".to_owned(), 3),
        ("service=node!web1".to_owned(), 3),
        ("actor=datacenter".to_owned(), 3),
        ("state=ok".to_owned(), 9),
        ("state=error".to_owned(), 0),
        (format!("run={run_id}&action=install&service=node!web2"), 1),
    ] {
        assert_eq!(
            count(&f.ok(&format!("{base}?{query}")).await?),
            expected,
            "{query}"
        );
    }
    let job = f.ok(&format!("{base}/{run_id}/1")).await?;
    assert_eq!((&job["run"], &job["number"]), (&json!(run_id), &json!(1)));
    assert_eq!(job["state"], "ok");
    Ok(())
}

#[tokio::test]
async fn unknown_names_are_404_with_their_own_code() -> TestResult {
    let f = Fixture::new()?;
    let run = f.run.as_str();
    for (uri, code) in [
        ("/ays/repository/nosuch".to_owned(), "repository_not_found"),
        (
            "/ays/repository/nosuch/service".to_owned(),
            "repository_not_found",
        ),
        (
            "/ays/repository/repo/service/node/web9".to_owned(),
            "service_not_found",
        ),
        (
            "/ays/repository/repo/actor/nosuch".to_owned(),
            "actor_not_found",
        ),
        (
            "/ays/repository/repo/aysrun/1-nosuch".to_owned(),
            "run_not_found",
        ),
        (
            "/ays/repository/repo/job?run=1-nosuch".to_owned(),
            "run_not_found",
        ),
        (
            "/ays/repository/repo/job/1-nosuch/1".to_owned(),
            "run_not_found",
        ),
        (
            format!("/ays/repository/repo/job/{run}/99"),
            "job_not_found",
        ),
        (
            "/ays/repository/repo/services".to_owned(),
            "route_not_found",
        ),
    ] {
        f.refused(&uri, StatusCode::NOT_FOUND, code).await?;
    }
    let message = f
        .refused(
            "/ays/repository/repo/service/node/web9",
            StatusCode::NOT_FOUND,
            "service_not_found",
        )
        .await?;
    assert_eq!(message, "no service `node!web9`");
    Ok(())
}

#[tokio::test]
async fn names_that_could_escape_are_refused_with_400() -> TestResult {
    let f = Fixture::new()?;
    for uri in [
        "/ays/repository/..",
        "/ays/repository/%2e%2e",
        "/ays/repository/.hidden",
        "/ays/repository/%2Fetc",
        "/ays/repository/..%2F..%2Fetc/service",
        "/ays/repository/repo/service/node/..",
        "/ays/repository/repo/service/..%2F..%2Fnode/web1",
        "/ays/repository/repo/service/node/a%2Fb",
        "/ays/repository/repo/service/node/a!b",
        "/ays/repository/repo/actor/..",
        "/ays/repository/repo/actor/.node",
        "/ays/repository/repo/aysrun/..",
        "/ays/repository/repo/job/../1",
        "/ays/repository/repo/job/x/one",
        "/ays/repository/repo/job/x/-1",
    ] {
        f.refused(uri, StatusCode::BAD_REQUEST, "invalid_name")
            .await?;
    }
    let message = f
        .refused(
            "/ays/repository/..",
            StatusCode::BAD_REQUEST,
            "invalid_name",
        )
        .await?;
    assert_eq!(
        message,
        "repository `..` starts with `.` (no `.`, `..` or hidden names)"
    );
    Ok(())
}

#[tokio::test]
async fn bad_queries_are_400_and_bad_values_422() -> TestResult {
    let f = Fixture::new()?;
    for uri in [
        "/ays/repository/repo/service?colour=red",
        "/ays/repository/repo/service?role=a&role=b",
        "/ays/repository/repo/job?services=x",
    ] {
        f.refused(uri, StatusCode::BAD_REQUEST, "malformed_query")
            .await?;
    }
    for uri in [
        "/ays/repository/repo/service?state=ok",
        "/ays/repository/repo/service?state=install:sleeping",
        "/ays/repository/repo/service?state=in-stall:ok",
        "/ays/repository/repo/service?parent=dc1",
        "/ays/repository/repo/service?producer=",
        "/ays/repository/repo/service?actor=a__b",
        "/ays/repository/repo/job?state=sleeping",
        "/ays/repository/repo/job?service=web1",
        "/ays/repository/repo/job?run=a/b",
    ] {
        f.refused(uri, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value")
            .await?;
    }
    let message = f
        .refused(
            "/ays/repository/repo/job?state=sleeping",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        )
        .await?;
    assert_eq!(
        message,
        "query parameter `state`: unknown job state `sleeping` (expected new, running, ok or error)"
    );
    Ok(())
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_a_wrong_method_405() -> TestResult {
    let f = Fixture::new()?;
    let auth = format!("Bearer {}", f.token.as_str());
    let big = vec![b'x'; ays_daemon::DEFAULT_BODY_LIMIT + 1];
    let request = axum::http::Request::get("/ays/repository")
        .header("authorization", &auth)
        .header("content-length", big.len())
        .body(Body::from(big))?;
    let response = tower::ServiceExt::oneshot(f.app.clone(), request).await?;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await?
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes)?;
    assert_eq!(body["error"]["code"], "body_too_large", "{body}");
    // A body within the limit is fine.
    let small = Body::from(vec![b'x'; 1000]);
    let (status, _) = call(&f.app, Method::GET, "/ays/repository", Some(&auth), small).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &f.app,
        Method::PATCH,
        "/ays/repository/repo",
        Some(&auth),
        Body::empty(),
    )
    .await?;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    Ok(())
}
