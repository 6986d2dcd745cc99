//! `GET /dashboard`: the dashboard, a read-only web page over the API; `GET /` redirects to it.
//!
//! The page (`assets/dashboard.html`, built into the binary) is one self-contained HTML file,
//! its CSS and script inline, that holds no data: its script reads the JSON API like any
//! client, with the bearer token from the URL fragment (`/dashboard#token=…`, which browsers
//! never send) or from its form, kept in the tab's `sessionStorage`. So the page, like
//! `GET /health`, is served without a token ([`is_open`]). It is not part of the API: the
//! OpenAPI document does not list it.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;

use super::AppState;

/// The path of the dashboard.
pub(crate) const DASHBOARD_PATH: &str = "/dashboard";

/// The path that redirects to the dashboard.
const ROOT_PATH: &str = "/";

/// The page, served as it is.
const PAGE: &str = include_str!("../../assets/dashboard.html");

/// What the page may do: run its own inline script and style, and fetch from this daemon
/// only; no framing, no form posts, no other origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Whether a request for `path` is one of the dashboard's, which need no token.
pub(crate) fn is_open(path: &str) -> bool {
    path == DASHBOARD_PATH || path == ROOT_PATH
}

/// The dashboard's routes, which the OpenAPI document does not list.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route(DASHBOARD_PATH, get(page))
        .route(ROOT_PATH, get(root))
}

/// The page, with headers that keep it to itself.
async fn page() -> Response {
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ];
    (headers, PAGE).into_response()
}

/// `GET /`: to the dashboard (a browser keeps the fragment, and with it the token).
async fn root() -> Redirect {
    Redirect::to(DASHBOARD_PATH)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::{DASHBOARD_PATH, PAGE};
    use crate::token::Token;
    use crate::{ApiState, Repositories, router};

    async fn get(
        path: &str,
        authorization: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let app = router(ApiState::new(
            Repositories::default(),
            Token::generate().unwrap(),
        ));
        let mut request = Request::get(path);
        if let Some(auth) = authorization {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_page_needs_no_token_and_keeps_to_itself() {
        for auth in [None, Some("Bearer wrong")] {
            let (status, headers, body) = get(DASHBOARD_PATH, auth).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(policy.contains("connect-src 'self'"), "{policy}");
            assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
            assert_eq!(body, PAGE);
        }
    }

    #[tokio::test]
    async fn the_root_redirects_to_the_page() {
        let (status, headers, _) = get("/", None).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], DASHBOARD_PATH);
    }

    #[tokio::test]
    async fn the_api_still_needs_the_token() {
        let (status, _, body) = get("/ays/repository", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let (status, _, _) = get("/dashboard/x", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    /// The page writes data as text only: no API that parses HTML, and no external resource.
    #[test]
    fn the_page_parses_no_data_as_html_and_loads_nothing_else() {
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "src=\"http",
            "href=\"http",
            "@import",
        ] {
            assert!(!PAGE.contains(forbidden), "the page uses `{forbidden}`");
        }
    }
}
