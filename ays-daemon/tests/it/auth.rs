//! Every route but `GET /health` needs the right bearer token.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::{Fixture, TestResult, call, concrete, operations};

#[tokio::test]
async fn every_route_answers_401_without_the_right_token_and_200_with_it() -> TestResult {
    let f = Fixture::new()?;
    let document = f.ok("/openapi.json").await?;
    let mut operations = operations(&document)?;
    // Reads first, deletes last: a deleted run would make the reads of it 404.
    let rank = |m: &Method| match *m {
        Method::GET => 0,
        Method::DELETE => 2,
        _ => 1,
    };
    operations.sort_by_key(|(m, _)| rank(m));
    assert!(operations.len() >= 13, "{operations:?}");
    let other = ays_daemon::token::Token::generate()?;
    let right = f.token.as_str();
    let wrong = [
        None,
        Some(format!("Bearer {}", other.as_str())),
        Some(format!("Bearer {}", &right[..63])),
        Some(format!("Bearer {right}0")),
        Some(format!("Basic {right}")),
        Some(right.to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
    ];
    for (method, template) in &operations {
        let uri = concrete(template, &f);
        let open = template == "/health";
        for auth in &wrong {
            let (status, body) =
                call(&f.app, method.clone(), &uri, auth.as_deref(), Body::empty()).await?;
            if open {
                assert_eq!(status, StatusCode::OK, "{method} {uri} needs no token");
            } else {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {uri} with {auth:?}"
                );
                assert_eq!(body["error"]["code"], "unauthorized", "{body}");
            }
        }
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let auth = format!("{scheme} {right}");
            let (status, body) =
                call(&f.app, method.clone(), &uri, Some(&auth), Body::empty()).await?;
            if method == Method::GET {
                assert_eq!(status, StatusCode::OK, "{method} {uri}: {body}");
            } else {
                // A change may be refused (the run was deleted by the first scheme), but not
                // for want of a token, and only with a status it documents.
                let documented = &document["paths"][template][method.as_str().to_lowercase()]["responses"]
                    [status.as_str()];
                assert!(
                    status != StatusCode::UNAUTHORIZED && documented.is_object(),
                    "{method} {uri}: {status}: {body}"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_refusal_says_what_is_missing_and_names_the_scheme() -> TestResult {
    let f = Fixture::new()?;
    let request = axum::http::Request::get("/ays/repository").body(Body::empty())?;
    let response = tower::ServiceExt::oneshot(f.app.clone(), request).await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let (_, missing) = call(&f.app, Method::GET, "/ays/repository", None, Body::empty()).await?;
    assert!(
        missing["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing `Authorization: Bearer <token>`")),
        "{missing}"
    );
    let (_, wrong) = call(
        &f.app,
        Method::GET,
        "/ays/repository",
        Some("Bearer nope"),
        Body::empty(),
    )
    .await?;
    assert_eq!(
        wrong["error"]["message"],
        "wrong bearer token (`ays token show` prints the daemon's)"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_routes_need_the_token_too() -> TestResult {
    let f = Fixture::new()?;
    let (status, body) = call(&f.app, Method::GET, "/nowhere", None, Body::empty()).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let message = f
        .refused("/nowhere", StatusCode::NOT_FOUND, "route_not_found")
        .await?;
    assert_eq!(
        message,
        "no route `/nowhere` (GET /openapi.json lists them)"
    );
    Ok(())
}

#[tokio::test]
async fn every_operation_but_health_declares_the_bearer_scheme() -> TestResult {
    let f = Fixture::new()?;
    let document = f.ok("/openapi.json").await?;
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"],
        serde_json::json!({"type": "http", "scheme": "bearer"})
    );
    for (method, path) in operations(&document)? {
        let operation = &document["paths"][&path][method.as_str().to_lowercase()];
        let security = &operation["security"];
        if path == "/health" {
            assert_eq!(security, &Value::Null, "{path}");
        } else {
            assert_eq!(
                security,
                &serde_json::json!([{"bearer": []}]),
                "{method} {path}"
            );
            assert_eq!(
                operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}"
            );
        }
    }
    Ok(())
}
