//! Blueprint attribute values → typed data fields, checked against the actor's schema and the
//! HRD validation rules of its fields.

use std::collections::BTreeMap;

use ays_schema::{FieldDef, Type, Value};

use super::parse::{Attr, ServiceBlock, Yv};
use crate::actor::CompiledActor;
use crate::error::{BlueprintError, Location};
use crate::ids::ServiceKey;

fn bad_value(
    at: &Location,
    line: usize,
    key: &str,
    attribute: &str,
    reason: String,
) -> BlueprintError {
    BlueprintError::BadValue {
        at: Location::new(at.file.clone(), line),
        key: key.to_owned(),
        attribute: attribute.to_owned(),
        reason,
    }
}

/// The blueprint attributes of a block as data fields, checked against the schema and the HRD
/// rules.
pub(crate) fn convert_attrs(
    actor: &CompiledActor,
    b: &ServiceBlock,
    key: &ServiceKey,
) -> Result<Vec<(String, Value)>, BlueprintError> {
    let mut out: Vec<(String, Value)> = Vec::with_capacity(b.attrs.len());
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for attr in &b.attrs {
        let field =
            actor
                .field_for(&attr.name)
                .ok_or_else(|| BlueprintError::UnknownAttribute {
                    at: Location::new(b.at.file.clone(), attr.line),
                    key: key.to_string(),
                    attribute: attr.name.clone(),
                    valid: actor.valid_attributes(),
                })?;
        if let Some(first) = lines.insert(field.name.clone(), attr.line) {
            return Err(BlueprintError::Duplicate {
                at: Location::new(b.at.file.clone(), attr.line),
                key: format!("{key}: {}", attr.name),
                first: Location::new(b.at.file.clone(), first),
            });
        }
        let v = convert(field, attr)
            .map_err(|reason| bad_value(&b.at, attr.line, &key.to_string(), &attr.name, reason))?;
        if let Some(hf) = actor.hrd_field(&field.name) {
            for text in scalar_texts(&v) {
                hf.validate(&text).map_err(|e| {
                    bad_value(
                        &b.at,
                        attr.line,
                        &key.to_string(),
                        &attr.name,
                        e.to_string(),
                    )
                })?;
            }
        }
        out.push((field.name.clone(), v));
    }
    Ok(out)
}

fn scalar_texts(v: &Value) -> Vec<String> {
    match v {
        Value::Text(t) => vec![t.clone()],
        Value::Int(i) => vec![i.to_string()],
        Value::UInt(u) => vec![u.to_string()],
        Value::Float(f) => vec![f.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        Value::List(items) => items.iter().flat_map(scalar_texts).collect(),
        _ => Vec::new(),
    }
}

fn convert(field: &FieldDef, attr: &Attr) -> Result<Value, String> {
    match (&field.ty, &attr.value) {
        (Type::List(inner), Yv::List(items)) => items
            .iter()
            .map(|(v, _)| scalar(inner, v))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        (Type::List(_), Yv::Null) => Ok(Value::List(Vec::new())),
        (Type::List(inner), v) => Ok(Value::List(vec![scalar(inner, v)?])),
        (t, v) => scalar(t, v),
    }
}

fn scalar(ty: &Type, v: &Yv) -> Result<Value, String> {
    let wrong = || format!("expected {ty}, found {}", v.kind());
    match ty {
        Type::Text => match v {
            Yv::Null => Ok(Value::Text(String::new())),
            other => other.scalar_text().map(Value::Text).ok_or_else(wrong),
        },
        Type::Bool => match v {
            Yv::Bool(b) => Ok(Value::Bool(*b)),
            Yv::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Yv::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong()),
        },
        Type::Int8 | Type::Int16 | Type::Int32 | Type::Int64 => match v {
            Yv::Int(i) => Ok(Value::Int(*i)),
            Yv::Str(s) => s.trim().parse().map(Value::Int).map_err(|_| wrong()),
            _ => Err(wrong()),
        },
        Type::UInt8 | Type::UInt16 | Type::UInt32 | Type::UInt64 => match v {
            Yv::Int(i) => u64::try_from(*i).map(Value::UInt).map_err(|_| wrong()),
            Yv::Str(s) => s.trim().parse().map(Value::UInt).map_err(|_| wrong()),
            _ => Err(wrong()),
        },
        Type::Float32 | Type::Float64 => match v {
            Yv::Float(f) => Ok(Value::Float(*f)),
            Yv::Int(i) => i.to_string().parse().map(Value::Float).map_err(|_| wrong()),
            Yv::Str(s) => s.trim().parse().map(Value::Float).map_err(|_| wrong()),
            _ => Err(wrong()),
        },
        Type::Enum(_) => match v {
            Yv::Str(s) => Ok(Value::Enum(s.clone())),
            _ => Err(wrong()),
        },
        Type::Data => match v {
            Yv::Str(s) => Ok(Value::Data(s.as_bytes().to_vec())),
            _ => Err(wrong()),
        },
        _ => Err(format!(
            "fields of type {ty} cannot be set from a blueprint"
        )),
    }
}

/// A block's attributes as the JSON args of its `input` action (names as written).
pub(crate) fn attrs_json(b: &ServiceBlock) -> serde_json::Map<String, serde_json::Value> {
    b.attrs
        .iter()
        .map(|a| (a.name.clone(), yv_json(&a.value)))
        .collect()
}

/// Attributes from JSON args, each at the line of the block's attribute of the same name (or
/// at `line` for a new one).
pub(crate) fn attrs_from_json(
    args: &serde_json::Map<String, serde_json::Value>,
    like: &[Attr],
    line: usize,
) -> Vec<Attr> {
    args.iter()
        .map(|(name, v)| {
            let line = like
                .iter()
                .find(|a| &a.name == name)
                .map_or(line, |a| a.line);
            Attr {
                name: name.clone(),
                value: json_yv(v, line),
                line,
            }
        })
        .collect()
}

fn yv_json(v: &Yv) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Yv::Null => J::Null,
        Yv::Bool(b) => J::Bool(*b),
        Yv::Int(i) => J::from(*i),
        Yv::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Yv::Str(s) => J::String(s.clone()),
        Yv::List(items) => J::Array(items.iter().map(|(v, _)| yv_json(v)).collect()),
        Yv::Map => J::Object(serde_json::Map::new()),
    }
}

fn json_yv(v: &serde_json::Value, line: usize) -> Yv {
    use serde_json::Value as J;
    match v {
        J::Null => Yv::Null,
        J::Bool(b) => Yv::Bool(*b),
        // A u64 beyond i64 stays text, which unsigned fields parse.
        J::Number(n) => match (n.as_i64(), n.is_u64(), n.as_f64()) {
            (Some(i), _, _) => Yv::Int(i),
            (None, false, Some(f)) => Yv::Float(f),
            _ => Yv::Str(n.to_string()),
        },
        J::String(s) => Yv::Str(s.clone()),
        J::Array(items) => Yv::List(items.iter().map(|i| (json_yv(i, line), line)).collect()),
        J::Object(_) => Yv::Map,
    }
}
