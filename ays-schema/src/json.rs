//! JSON conversion of records, for the CLI.
//!
//! Mapping: Bool ↔ boolean; integers ↔ numbers (range-checked against the field width);
//! floats ↔ numbers, with non-finite values as the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"`; Text ↔ string; **Data ↔ array of byte values** (`[1, 2, 255]`); enums ↔ the
//! enumerant name as a string; lists ↔ arrays; structs ↔ objects. In `from_json`, a field that is
//! absent or `null` is left out of the record (it encodes as its default).

use serde_json::Value as Json;

use crate::codec::{Path, check_int, check_uint};
use crate::error::CodecError;
use crate::schema::{SchemaFile, Type};
use crate::value::{Record, Value};

impl Record {
    /// Converts a JSON object into a record of struct `struct_name` of `schema`, checking every
    /// value against its field type.
    ///
    /// The mapping is the one of [`Record::to_json`]; integers are range-checked against the
    /// field width, floats also accept `"NaN"`, `"Infinity"` and `"-Infinity"`, and a field that
    /// is absent or `null` is left out of the record (it encodes as its default).
    ///
    /// # Errors
    ///
    /// [`CodecError::UnknownStruct`], [`CodecError::UnknownField`], [`CodecError::WrongType`]
    /// (`found` is the JSON kind), [`CodecError::OutOfRange`] or
    /// [`CodecError::UnknownEnumerant`], naming the field path.
    pub fn from_json(
        schema: &SchemaFile,
        struct_name: &str,
        json: &Json,
    ) -> Result<Record, CodecError> {
        let index = schema
            .struct_index(struct_name)
            .ok_or_else(|| CodecError::UnknownStruct {
                file: schema.file.clone(),
                name: struct_name.to_owned(),
            })?;
        record_from_json(schema, index, json, Path::Root)
    }

    /// Converts the record into a JSON object.
    ///
    /// Bool → boolean; integers and finite floats → numbers; non-finite floats → the strings
    /// `"NaN"`, `"Infinity"`, `"-Infinity"`; Text → string; **Data → array of byte values**
    /// (`[1, 2, 255]`); enums → the enumerant name; lists → arrays; structs → objects.
    pub fn to_json(&self) -> Json {
        Json::Object(
            self.iter()
                .map(|(k, v)| (k.to_owned(), value_to_json(v)))
                .collect(),
        )
    }
}

fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "JSON null",
        Json::Bool(_) => "JSON boolean",
        Json::Number(_) => "JSON number",
        Json::String(_) => "JSON string",
        Json::Array(_) => "JSON array",
        Json::Object(_) => "JSON object",
    }
}

fn record_from_json(
    schema: &SchemaFile,
    index: usize,
    json: &Json,
    path: Path<'_>,
) -> Result<Record, CodecError> {
    let Some(def) = schema.structs.get(index) else {
        return Err(CodecError::UnknownStruct {
            file: schema.file.clone(),
            name: format!("#{index}"),
        });
    };
    let Json::Object(map) = json else {
        return Err(CodecError::WrongType {
            path: path.to_string(),
            expected: def.name.clone(),
            found: json_kind(json).to_owned(),
        });
    };
    let mut record = Record::with_capacity(map.len());
    for (key, value) in map {
        let field = def.field(key).ok_or_else(|| CodecError::UnknownField {
            path: path.to_string(),
            struct_name: def.name.clone(),
            field: key.clone(),
        })?;
        if value.is_null() {
            continue;
        }
        let v = value_from_json(schema, &field.ty, value, Path::Field(&path, key))?;
        record.insert(key.as_str(), v);
    }
    Ok(record)
}

fn value_from_json(
    schema: &SchemaFile,
    ty: &Type,
    json: &Json,
    path: Path<'_>,
) -> Result<Value, CodecError> {
    let wrong = || CodecError::WrongType {
        path: path.to_string(),
        expected: ty.to_string(),
        found: json_kind(json).to_owned(),
    };
    let out_of_range = || CodecError::OutOfRange {
        path: path.to_string(),
        expected: ty.to_string(),
        value: json.to_string(),
    };
    Ok(match (ty, json) {
        (Type::Bool, Json::Bool(b)) => Value::Bool(*b),
        (Type::Int8 | Type::Int16 | Type::Int32 | Type::Int64, Json::Number(n)) => {
            let v = match (n.as_i64(), n.as_u64()) {
                (Some(v), _) => v,
                (None, Some(_)) => return Err(out_of_range()),
                (None, None) => return Err(wrong()),
            };
            check_int(ty, v).map_err(|()| out_of_range())?;
            Value::Int(v)
        }
        (Type::UInt8 | Type::UInt16 | Type::UInt32 | Type::UInt64, Json::Number(n)) => {
            let v = match (n.as_u64(), n.as_i64()) {
                (Some(v), _) => v,
                (None, Some(_)) => return Err(out_of_range()),
                (None, None) => return Err(wrong()),
            };
            check_uint(ty, v).map_err(|()| out_of_range())?;
            Value::UInt(v)
        }
        (Type::Float32 | Type::Float64, Json::Number(n)) => {
            Value::Float(n.as_f64().ok_or_else(wrong)?)
        }
        (Type::Float32 | Type::Float64, Json::String(s)) => Value::Float(match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            _ => return Err(wrong()),
        }),
        (Type::Text, Json::String(s)) => Value::Text(s.clone()),
        (Type::Data, Json::Array(items)) => {
            let mut bytes = Vec::with_capacity(items.len());
            for (i, item) in (0u32..).zip(items) {
                let ipath = Path::Index(&path, i);
                let b = item.as_u64().and_then(|b| u8::try_from(b).ok());
                bytes.push(b.ok_or_else(|| CodecError::WrongType {
                    path: ipath.to_string(),
                    expected: "a byte (0 to 255)".to_owned(),
                    found: item.to_string(),
                })?);
            }
            Value::Data(bytes)
        }
        (Type::Enum(r), Json::String(name)) => {
            let known = schema
                .enums
                .get(r.index)
                .is_some_and(|e| e.enumerants.iter().any(|n| n == name));
            if !known {
                return Err(CodecError::UnknownEnumerant {
                    path: path.to_string(),
                    enum_name: r.name.clone(),
                    name: name.clone(),
                });
            }
            Value::Enum(name.clone())
        }
        (Type::List(elem), Json::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in (0u32..).zip(items) {
                out.push(value_from_json(schema, elem, item, Path::Index(&path, i))?);
            }
            Value::List(out)
        }
        (Type::Struct(r), Json::Object(_)) => {
            Value::Struct(record_from_json(schema, r.index, json, path)?)
        }
        _ => return Err(wrong()),
    })
}

fn value_to_json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::UInt(u) => Json::from(*u),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None if f.is_nan() => Json::String("NaN".to_owned()),
            None if *f > 0.0 => Json::String("Infinity".to_owned()),
            None => Json::String("-Infinity".to_owned()),
        },
        Value::Text(s) | Value::Enum(s) => Json::String(s.clone()),
        Value::Data(d) => Json::Array(d.iter().map(|b| Json::from(*b)).collect()),
        Value::List(items) => Json::Array(items.iter().map(value_to_json).collect()),
        Value::Struct(r) => r.to_json(),
    }
}
