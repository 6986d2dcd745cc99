//! The OpenAPI document: it names a schema for every response, the router serves exactly its
//! routes, and every route's answer fits the schema the document gives it.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::{Fixture, TestResult, concrete, operations};

/// The schema of `method path`'s answer with `status` (JSON, or an event stream's events as
/// `{"event", "data"}` objects).
pub(crate) fn response_schema<'d>(
    document: &'d Value,
    method: &str,
    path: &str,
    status: &str,
) -> &'d Value {
    let content = &document["paths"][path][method.to_lowercase()]["responses"][status]["content"];
    match &content["application/json"] {
        Value::Null => &content["text/event-stream"]["schema"],
        json => &json["schema"],
    }
}

/// The schema `schema` points to, if it is a reference into the document's components.
fn resolve<'d>(document: &'d Value, schema: &'d Value) -> Result<&'d Value, String> {
    match schema["$ref"].as_str() {
        None => Ok(schema),
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .ok_or(format!("a reference outside the components: {reference}"))?;
            let target = &document["components"]["schemas"][name];
            if target.is_null() {
                return Err(format!("no schema `{name}` in the components"));
            }
            Ok(target)
        }
    }
}

/// Whether `value` has the JSON type `name`.
fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

/// Checks `value` against `schema`, strictly: an object may hold only the properties the schema
/// lists, so that a field the document does not describe fails.
pub(crate) fn conforms(
    document: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
) -> Result<(), String> {
    let schema = resolve(document, schema)?;
    if let Some(variants) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let errors: Vec<String> = variants
            .iter()
            .filter_map(|v| conforms(document, v, value, at).err())
            .collect();
        return if errors.len() < variants.len() {
            Ok(())
        } else {
            Err(format!("{at}: fits no variant: {}", errors.join("; ")))
        };
    }
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            conforms(document, part, value, at)?;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
        return Err(format!("{at}: {value} is not of type {types:?}"));
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object())
    {
        for (name, field) in object {
            let field_schema = properties
                .get(name)
                .ok_or(format!("{at}: `{name}` is not in the schema"))?;
            conforms(document, field_schema, field, &format!("{at}.{name}"))?;
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: required `{name}` is missing"));
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            conforms(document, schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_document_is_openapi_3_and_names_every_response_schema() -> TestResult {
    let f = Fixture::new()?;
    let document = f.ok("/openapi.json").await?;
    let version = document["openapi"].as_str().ok_or("no version")?;
    assert!(version.starts_with("3."), "{version}");
    assert_eq!(document["info"]["title"], "ays daemon");
    let schemas = document["components"]["schemas"]
        .as_object()
        .ok_or("no schemas")?;
    for name in [
        "ErrorBody",
        "Health",
        "RepositorySummary",
        "RepositoryDetail",
        "ServiceSummary",
        "ServiceView",
        "ActorSummaryView",
        "ActorView",
        "TemplateView",
        "RunSummaryView",
        "RunDetailView",
        "JobView",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    let mut ids = BTreeSet::new();
    for (method, path) in operations(&document)? {
        let id = &document["paths"][&path][method.as_str().to_lowercase()]["operationId"];
        assert!(
            id.as_str().is_some_and(|id| ids.insert(id.to_owned())),
            "{method} {path}: operation id {id} missing or not unique"
        );
        let responses = document["paths"][&path][method.as_str().to_lowercase()]["responses"]
            .as_object()
            .ok_or("no responses")?;
        let success = responses
            .keys()
            .find(|s| s.starts_with('2'))
            .ok_or(format!("{method} {path}: no success response"))?
            .clone();
        if success == "204" {
            assert!(
                responses["204"]["content"].is_null(),
                "{method} {path}: 204 has content"
            );
            for (status, _) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                let schema = response_schema(&document, method.as_str(), &path, status);
                assert_eq!(
                    schema["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            continue;
        }
        let ok = response_schema(&document, method.as_str(), &path, &success);
        assert!(
            ok.is_object(),
            "{method} {path}: no JSON schema for {success}"
        );
        let named = if path == "/openapi.json" {
            true
        } else {
            ok["$ref"].is_string() || ok["items"]["$ref"].is_string()
        };
        assert!(named, "{method} {path}: 200 is not a named schema: {ok}");
        resolve(&document, ok)?;
        if ok["items"].is_object() {
            resolve(&document, &ok["items"])?;
        }
        for (status, _) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
            let schema = response_schema(&document, method.as_str(), &path, status);
            assert_eq!(
                schema["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path} {status}"
            );
        }
    }
    let codes = &document["components"]["schemas"]["ErrorCode"]["enum"];
    for code in [
        "invalid_name",
        "unauthorized",
        "service_not_found",
        "body_too_large",
        "invalid_value",
    ] {
        assert!(
            codes
                .as_array()
                .is_some_and(|c| c.contains(&Value::from(code))),
            "{code} in {codes}"
        );
    }
    let states = &document["components"]["schemas"]["ActionView"]["properties"]["state"]["enum"];
    let expected: Vec<&str> = ays_core::ActionState::ALL.map(|s| s.as_str()).to_vec();
    assert_eq!(states, &serde_json::json!(expected));
    Ok(())
}

#[tokio::test]
async fn every_answer_fits_its_schema() -> TestResult {
    let f = Fixture::new()?;
    let document = f.ok("/openapi.json").await?;
    for (method, path) in operations(&document)? {
        if method != Method::GET {
            // Changes are checked against their schemas where they are tested.
            continue;
        }
        let uri = concrete(&path, &f);
        let body = f.ok(&uri).await?;
        let schema = response_schema(&document, method.as_str(), &path, "200");
        conforms(&document, schema, &body, &uri)?;
    }
    // Error bodies too.
    let (status, body) = f.get("/ays/repository/repo/service/node/web9").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let schema = response_schema(
        &document,
        "GET",
        "/ays/repository/{repository}/service/{role}/{name}",
        "404",
    );
    conforms(&document, schema, &body, "404")?;
    // The checker does refuse what the document does not describe.
    let mut extra = f.ok("/ays/repository/repo").await?;
    extra["surprise"] = Value::from(1);
    let schema = response_schema(&document, "GET", "/ays/repository/{repository}", "200");
    assert!(conforms(&document, schema, &extra, "x").is_err());
    Ok(())
}

#[tokio::test]
async fn the_router_serves_exactly_the_documented_routes() -> TestResult {
    let f = Fixture::new()?;
    let document = f.ok("/openapi.json").await?;
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .ok_or("no paths")?
        .keys()
        .cloned()
        .collect();
    // axum gives no list of its routes; its `Debug` form shows the path of each, between
    // `path_router` and `fallback_router`. Should that form change, this finds no path and
    // fails, rather than passing without checking.
    let shown = format!("{:?}", f.app);
    let start = shown
        .find("path_router")
        .ok_or("no path_router in the Debug form")?;
    let end = shown
        .find("fallback_router")
        .ok_or("no fallback_router in the Debug form")?;
    let routed: BTreeSet<String> = shown[start..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/'))
        .map(str::to_owned)
        .collect();
    // The dashboard's page is no part of the API.
    let routed = &routed - &BTreeSet::from(["/".to_owned(), "/dashboard".to_owned()]);
    assert_eq!(routed, documented);
    Ok(())
}
