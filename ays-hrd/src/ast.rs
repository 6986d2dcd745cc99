//! The located syntax tree of a general HRD document.

use crate::location::Location;

/// A typed HRD value.
///
/// HRD 8.1 kept every scalar as a string and typed it only when read. This crate types unquoted
/// scalars when parsing (`true`/`false` in any case → [`Value::Bool`], a decimal integer that
/// fits `i64` → [`Value::Int`], a finite decimal float → [`Value::Float`]); a quoted scalar is
/// always a [`Value::Str`]. Use [`Value::to_text`] to get the text of any scalar back.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (quoted, or unquoted and not a number or boolean).
    Str(String),
    /// An unquoted decimal integer.
    Int(i64),
    /// An unquoted decimal float.
    Float(f64),
    /// An unquoted `true` or `false`, in any case.
    Bool(bool),
    /// A list: `a, b,` inline, `[a, b]`, or a block of `item,` lines.
    List(Vec<Value>),
    /// A dict in written order: `k: v,` inline or a block of `key: value,` lines.
    Dict(Vec<(String, Value)>),
}

impl Value {
    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::Int`].
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The items, if this is a [`Value::List`].
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The pairs, if this is a [`Value::Dict`].
    pub fn as_dict(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Dict(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// The value under `key`, if this is a [`Value::Dict`] holding it.
    pub fn dict_get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The text of a scalar (`Int(30)` gives `30`, `Bool(true)` gives `true`); `None` for a
    /// list or dict.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format!("{f:?}")),
            Value::Bool(b) => Some(b.to_string()),
            Value::List(_) | Value::Dict(_) => None,
        }
    }

    /// A short name of the kind of value, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }
}

/// One `key = value` assignment, with where its key starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key as written (case kept; dots are part of the key).
    pub key: String,
    /// Where the key starts.
    pub at: Location,
    /// The parsed value.
    pub value: Value,
}

/// A parsed HRD document: its entries in file order. Keys are unique.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub(crate) entries: Vec<Entry>,
}

impl Document {
    /// Builds a document from entries (used to print documents built by hand).
    pub fn from_entries(entries: Vec<Entry>) -> Self {
        Self { entries }
    }

    /// The entries in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry for `key` (exact, case-sensitive match).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The value for `key` (exact, case-sensitive match).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entry(key).map(|e| &e.value)
    }

    /// The entries whose key starts with `prefix` followed by a `.`, paired with the rest of
    /// the key: with `prefix = "recurring"`, `recurring.monitor` yields `("monitor", entry)`.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Entry)> {
        self.entries.iter().filter_map(move |e| {
            let rest = e.key.strip_prefix(prefix)?.strip_prefix('.')?;
            Some((rest, e))
        })
    }
}
