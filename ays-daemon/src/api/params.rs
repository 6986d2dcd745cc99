//! The parameters of requests: path segments and query strings, read into strings first, so
//! that every problem becomes an [`ApiError`] with its own code: a name that breaks the rule of
//! names is `invalid_name` (400), an unknown or repeated query parameter `malformed_query`
//! (400), a value that is not of its parameter's type `invalid_value` (422).

use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};
use crate::names;

/// The path parameters of a route, as a struct of strings.
pub(crate) struct Path<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|rejection| ApiError::new(ErrorCode::InvalidName, rejection.body_text()))
    }
}

/// The query parameters of a route, as a struct of optional strings that refuses unknown
/// fields.
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|rejection| ApiError::new(ErrorCode::MalformedQuery, rejection.body_text()))
    }
}

/// A JSON request body, read whole first so that every problem has its own code: a body that
/// is not JSON is `malformed_json` (400), one with a field of the wrong type or an unknown field
/// `invalid_value` (422). An empty body reads as `{}`.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::new(
                    ErrorCode::of_status(rejection.status()),
                    rejection.body_text(),
                )
            })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|err| {
            ApiError::new(ErrorCode::MalformedJson, format!("request body: {err}"))
        })?;
        serde_json::from_value(value)
            .map(Body)
            .map_err(|err| ApiError::new(ErrorCode::InvalidValue, format!("request body: {err}")))
    }
}

/// `text`, the `what` of a path, checked against the rule of names and then parsed as `T`.
pub(crate) fn name<T>(what: &str, text: &str) -> Result<T, ApiError>
where
    T: FromStr,
    T::Err: std::error::Error,
{
    names::check(text).map_err(|reason| {
        ApiError::new(
            ErrorCode::InvalidName,
            format!("{what} `{}` {reason}", text.escape_debug()),
        )
    })?;
    text.parse()
        .map_err(|err: T::Err| ApiError::new(ErrorCode::InvalidName, format!("{what}: {err}")))
}

/// The value of query parameter `param`, parsed as `T`.
pub(crate) fn parse<T>(param: &str, text: &str) -> Result<T, ApiError>
where
    T: FromStr,
    T::Err: std::error::Error,
{
    text.parse().map_err(|err: T::Err| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("query parameter `{param}`: {err}"),
        )
    })
}

/// The value of query parameter `param`, if given, parsed as `T`.
pub(crate) fn value<T>(param: &str, text: Option<&str>) -> Result<Option<T>, ApiError>
where
    T: FromStr,
    T::Err: std::error::Error,
{
    text.map(|text| parse(param, text)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_they_are_parsed() {
        let bad = name::<ays_core::ServiceKey>("service", "..").unwrap_err();
        assert_eq!(bad.code(), ErrorCode::InvalidName);
        let bad = name::<ays_core::ServiceKey>("service", "no-bang").unwrap_err();
        assert_eq!(bad.code(), ErrorCode::InvalidName);
        let key: ays_core::ServiceKey = name("service", "node!vm1").unwrap();
        assert_eq!(key.as_str(), "node!vm1");
    }

    #[test]
    fn values_of_the_wrong_type_are_unprocessable() {
        assert_eq!(value::<u32>("n", None).unwrap(), None);
        assert_eq!(value::<u32>("n", Some("7")).unwrap(), Some(7));
        let bad = value::<ays_core::JobState>("state", Some("sleeping")).unwrap_err();
        assert_eq!(bad.code(), ErrorCode::InvalidValue);
    }
}
