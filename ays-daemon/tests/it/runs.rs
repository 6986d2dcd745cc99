//! `POST .../aysrun` and the other changes of runs: what they refuse, and that their answers fit
//! the document. (Their execution, queue and restart are tested through the `ays` binary.)

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::openapi::{conforms, response_schema};
use crate::{Fixture, TestResult, call};

impl Fixture {
    /// `METHOD uri` with the right token and `body`.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        body: &str,
    ) -> Result<(StatusCode, Value), Box<dyn std::error::Error>> {
        let auth = format!("Bearer {}", self.token.as_str());
        let body = Body::from(body.to_owned());
        call(&self.app, method, uri, Some(&auth), body).await
    }
}

#[tokio::test]
async fn bad_run_requests_get_their_own_codes_and_change_nothing() -> TestResult {
    let f = Fixture::new()?;
    let runs = "/ays/repository/repo/aysrun";
    let before = f.ok(runs).await?;
    let cases = [
        ("{", StatusCode::BAD_REQUEST, "malformed_json"),
        ("[1, 2", StatusCode::BAD_REQUEST, "malformed_json"),
        (
            r#"{"simulate": "yes"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            r#"{"jobs": -1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            r#"{"schedule": "sideways"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            r#"{"surprise": 1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            r#"{"actions": ["no such!"]}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
    ];
    for (body, status, code) in cases {
        let (got, answer) = f.send(Method::POST, runs, body).await?;
        assert_eq!(
            (got, &answer["error"]["code"]),
            (status, &json!(code)),
            "{body}: {answer}"
        );
        let message = answer["error"]["message"].as_str().ok_or("no message")?;
        assert!(
            message.starts_with("request body: ") || code == "invalid_value",
            "{message}"
        );
    }
    assert_eq!(f.ok(runs).await?, before, "nothing was queued");

    let missing = "/ays/repository/repo/aysrun/1700000000000-0";
    for (method, uri) in [
        (Method::POST, "/ays/repository/nope/aysrun".to_owned()),
        (Method::POST, missing.to_owned()),
        (Method::POST, format!("{missing}/cancel")),
        (Method::DELETE, missing.to_owned()),
    ] {
        let (got, answer) = f.send(method.clone(), &uri, "").await?;
        assert_eq!(got, StatusCode::NOT_FOUND, "{method} {uri}: {answer}");
    }
    let (got, answer) = f
        .send(Method::POST, "/ays/repository/repo/aysrun/..%2F..", "")
        .await?;
    assert_eq!(
        (got, &answer["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_name"))
    );

    // The stored run has ended: it cannot be executed again or cancelled.
    let run = format!("{runs}/{}", f.run);
    let (got, answer) = f.send(Method::POST, &run, "").await?;
    assert_eq!(
        (got, &answer["error"]["code"]),
        (StatusCode::CONFLICT, &json!("run_finished"))
    );
    let (got, answer) = f.send(Method::POST, &format!("{run}/cancel"), "").await?;
    assert_eq!(
        (got, &answer["error"]["code"]),
        (StatusCode::CONFLICT, &json!("run_not_running"))
    );
    Ok(())
}

#[tokio::test]
async fn simulate_answers_the_plan_and_a_queued_run_its_request() -> TestResult {
    let f = Fixture::new()?;
    let document = f.ok("/openapi.json").await?;
    let path = "/ays/repository/{repository}/aysrun";
    let runs = "/ays/repository/repo/aysrun";
    // Everything is ok: schedule `install` again everywhere.
    f.t.repo.schedule_action(
        &ays_core::ServiceFilter::default(),
        &"install".parse()?,
        true,
    )?;
    let (status, plan) = f.send(Method::POST, runs, r#"{"simulate": true}"#).await?;
    assert_eq!(status, StatusCode::OK, "{plan}");
    conforms(
        &document,
        response_schema(&document, "POST", path, "200"),
        &plan,
        "200",
    )?;
    let jobs: Vec<&Value> = plan["steps"]
        .as_array()
        .ok_or("no steps")?
        .iter()
        .flat_map(|s| s["jobs"].as_array().into_iter().flatten())
        .collect();
    assert!(
        jobs.iter()
            .any(|j| j["service"] == "node!web1" && j["action"] == "install"),
        "{plan}"
    );
    assert_eq!(
        f.ok(runs).await?.as_array().map(Vec::len),
        Some(1),
        "nothing stored"
    );

    let (status, queued) = f.send(Method::POST, runs, r#"{"jobs": 2}"#).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    conforms(
        &document,
        response_schema(&document, "POST", path, "202"),
        &queued,
        "202",
    )?;
    let id = queued["id"].as_str().ok_or("no id")?;
    let (status, shown) = f.get(&format!("{runs}/{id}")).await?;
    assert_eq!(status, StatusCode::OK, "{shown}");
    conforms(
        &document,
        response_schema(
            &document,
            "GET",
            "/ays/repository/{repository}/aysrun/{run}",
            "200",
        ),
        &shown,
        "get",
    )?;
    Ok(())
}
