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

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::List(items)
    }
}

impl From<Record> for Value {
    fn from(r: Record) -> Self {
        Value::Struct(r)
    }
}

/// Integer literals infer to `i64` through this impl (there is deliberately no `From<u64>`);
/// use [`Value::UInt`] for unsigned values, which are range-checked the same way.
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
/// A decoded record shares its struct's field names with the codec (one reference count per
/// record), so decoding allocates no names.
#[derive(Clone, Default)]
pub struct Record {
    /// Names of the struct this record was decoded from, indexed by [`Key::Shared`].
    shared: Option<Arc<[String]>>,
    fields: Vec<(Key, Value)>,
}

/// A field name: an index into the shared names, or owned. Kept at 16 bytes so that a
/// 20-field record's field vector stays within the allocator's fast size classes.
#[derive(Debug, Clone)]
enum Key {
    Shared(u32),
    Own(Box<str>),
}

impl Record {
    /// The bytes one field takes in a record (its key and its value).
    pub(crate) const FIELD_BYTES: usize = std::mem::size_of::<(Key, Value)>();

    /// An empty record: every field at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty record with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Record {
            shared: None,
            fields: Vec::with_capacity(n),
        }
    }

    /// An empty record whose fields will be named from `names` (used by the decoder).
    pub(crate) fn with_names(names: Arc<[String]>) -> Self {
        Record {
            fields: Vec::with_capacity(names.len()),
            shared: Some(names),
        }
    }

    fn key_str<'a>(&'a self, key: &'a Key) -> &'a str {
        match key {
            Key::Shared(i) => self
                .shared
                .as_ref()
                .and_then(|n| n.get(usize::try_from(*i).ok()?))
                .map_or("", String::as_str),
            Key::Own(s) => s,
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|(k, _)| self.key_str(k) == name)
    }

    /// Sets a field, returning its previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.position(&name) {
            Some(i) => self
                .fields
                .get_mut(i)
                .map(|(_, slot)| std::mem::replace(slot, value)),
            None => {
                self.fields.push((Key::Own(name.into_boxed_str()), value));
                None
            }
        }
    }

    /// Builder-style [`Record::insert`].
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(name, value.into());
        self
    }

    /// The value of a field, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name)
            .and_then(|i| self.fields.get(i))
            .map(|(_, v)| v)
    }

    /// Removes a field, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let pos = self.position(name)?;
        Some(self.fields.remove(pos).1)
    }

    /// The fields in insertion order (decoded records are in ordinal order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (self.key_str(k), v))
    }

    /// Number of fields present.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether no field is present.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends field `index` of the shared names (the decoder knows names are unique).
    #[inline]
    pub(crate) fn push_shared(&mut self, index: u32, value: Value) {
        self.fields.push((Key::Shared(index), value));
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(n, v)| other.get(n) == Some(v))
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Record {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut r = Record::new();
        for (k, v) in iter {
            r.insert(k, v);
        }
        r
    }
}
