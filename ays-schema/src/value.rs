//! Dynamic values of service data: [`Value`] and [`Record`].

use std::sync::Arc;

/// One typed value of a field, list element or struct.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A `Bool`.
    Bool(bool),
    /// A signed integer (`Int8` to `Int64`); range-checked against the field's width on encode.
    Int(i64),
    /// An unsigned integer (`UInt8` to `UInt64`); range-checked against the field's width on encode.
    UInt(u64),
    /// A `Float32` or `Float64`.
    Float(f64),
    /// A `Text`.
    Text(String),
    /// A `Data` blob.
    Data(Vec<u8>),
    /// A `List(T)`.
    List(Vec<Value>),
    /// A nested struct.
    Struct(Record),
    /// An enum value, by enumerant name.
    Enum(String),
}

impl Value {
    /// The kind of value, as named in error messages (`Bool`, `Int`, `Text`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "Bool",
            Value::Int(_) => "Int",
            Value::UInt(_) => "UInt",
            Value::Float(_) => "Float",
            Value::Text(_) => "Text",
            Value::Data(_) => "Data",
            Value::List(_) => "List",
            Value::Struct(_) => "Struct",
            Value::Enum(_) => "Enum",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

/// The fields of one struct value, by name, in insertion order.
///
/// Equality ignores the order of fields. A field that is absent means its default.
/// Names are shared `Arc<str>` so that decoding does not allocate a name per field.
#[derive(Debug, Clone, Default)]
pub struct Record {
    fields: Vec<(Arc<str>, Value)>,
}

impl Record {
    /// An empty record: every field at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty record with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Record {
            fields: Vec::with_capacity(n),
        }
    }

    /// Sets a field, returning its previous value.
    pub fn insert(&mut self, name: impl Into<Arc<str>>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.fields.iter_mut().find(|(n, _)| **n == *name) {
            Some((_, slot)) => Some(std::mem::replace(slot, value)),
            None => {
                self.fields.push((name, value));
                None
            }
        }
    }

    /// Builder-style [`Record::insert`].
    #[must_use]
    pub fn with(mut self, name: impl Into<Arc<str>>, value: impl Into<Value>) -> Self {
        self.insert(name, value.into());
        self
    }

    /// The value of a field, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    /// Removes a field, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let pos = self.fields.iter().position(|(n, _)| &**n == name)?;
        Some(self.fields.remove(pos).1)
    }

    /// The fields in insertion order (decoded records are in ordinal order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(n, v)| (&**n, v))
    }

    /// Number of fields present.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether no field is present.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends without checking for an existing field (the decoder knows names are unique).
    pub(crate) fn push_unique(&mut self, name: Arc<str>, value: Value) {
        self.fields.push((name, value));
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .fields
                .iter()
                .all(|(n, v)| other.get(n).is_some_and(|o| o == v))
    }
}

impl<K: Into<Arc<str>>> FromIterator<(K, Value)> for Record {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut r = Record::new();
        for (k, v) in iter {
            r.insert(k, v);
        }
        r
    }
}
