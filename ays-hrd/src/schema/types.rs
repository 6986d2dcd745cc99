//! Field types and typed defaults of `schema.hrd`.

use std::fmt;

use crate::validation::ValidationRule;

/// The type of a schema field, as named by `type:` (default `str`).
///
/// The first five variants are the types AYS 8.1 converted; the others were known to its type
/// registry but made the conversion fail, and are accepted here (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `str`, `string`: `Text`.
    Str,
    /// `multiline`: `Text`.
    Multiline,
    /// `int`, `integer`: `Int64`.
    Int,
    /// `float`: `Float32`.
    Float,
    /// `bool`, `boolean`: `Bool`.
    Bool,
    /// `ipaddr`, `ipaddress`: `Text` holding an IPv4 or IPv6 address.
    IpAddr,
    /// `iprange`, `ipaddressrange`: `Text` holding a CIDR range.
    IpRange,
    /// `ipport`: `UInt16` in `1..=65535`.
    IpPort,
    /// `email`: `Text` holding an email address.
    Email,
    /// `tel`, `mobile`: `Text` holding a phone number.
    Tel,
    /// `dict`: `Text` holding a JSON object.
    Dict,
    /// `yaml`: `Text` holding JSON (a subset of YAML).
    Yaml,
    /// `json`: `Text` holding JSON.
    Json,
    /// `set`: `List(Text)` with unique items.
    Set,
    /// `guid`: `Text` holding a UUID.
    Guid,
    /// `duration`: `Int64` seconds.
    Duration,
    /// `date`: `Int64` seconds since the Unix epoch.
    Date,
}

impl FieldType {
    /// Parses a type name, case-insensitively.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "str" | "string" => FieldType::Str,
            "multiline" => FieldType::Multiline,
            "int" | "integer" => FieldType::Int,
            "float" => FieldType::Float,
            "bool" | "boolean" => FieldType::Bool,
            "ipaddr" | "ipaddress" => FieldType::IpAddr,
            "iprange" | "ipaddressrange" => FieldType::IpRange,
            "ipport" => FieldType::IpPort,
            "email" => FieldType::Email,
            "tel" | "mobile" => FieldType::Tel,
            "dict" => FieldType::Dict,
            "yaml" => FieldType::Yaml,
            "json" => FieldType::Json,
            "set" => FieldType::Set,
            "guid" => FieldType::Guid,
            "duration" => FieldType::Duration,
            "date" => FieldType::Date,
            _ => return None,
        })
    }

    /// The canonical name (`str`, `int`, `ipaddr`, …).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "str",
            FieldType::Multiline => "multiline",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::IpAddr => "ipaddr",
            FieldType::IpRange => "iprange",
            FieldType::IpPort => "ipport",
            FieldType::Email => "email",
            FieldType::Tel => "tel",
            FieldType::Dict => "dict",
            FieldType::Yaml => "yaml",
            FieldType::Json => "json",
            FieldType::Set => "set",
            FieldType::Guid => "guid",
            FieldType::Duration => "duration",
            FieldType::Date => "date",
        }
    }

    /// The Cap'n Proto type of one value of this type.
    pub fn capnp_type(self) -> &'static str {
        match self {
            FieldType::Int | FieldType::Duration | FieldType::Date => "Int64",
            FieldType::Float => "Float32",
            FieldType::Bool => "Bool",
            FieldType::IpPort => "UInt16",
            FieldType::Set => "List(Text)",
            FieldType::Str
            | FieldType::Multiline
            | FieldType::IpAddr
            | FieldType::IpRange
            | FieldType::Email
            | FieldType::Tel
            | FieldType::Dict
            | FieldType::Yaml
            | FieldType::Json
            | FieldType::Guid => "Text",
        }
    }

    /// The rule a value of this type must follow.
    pub fn validation_rule(self) -> ValidationRule {
        match self {
            FieldType::Str | FieldType::Multiline => ValidationRule::Text,
            FieldType::Int => ValidationRule::Int,
            FieldType::Float => ValidationRule::Float,
            FieldType::Bool => ValidationRule::Bool,
            FieldType::IpAddr => ValidationRule::IpAddr,
            FieldType::IpRange => ValidationRule::IpRange,
            FieldType::IpPort => ValidationRule::IpPort,
            FieldType::Email => ValidationRule::Email,
            FieldType::Tel => ValidationRule::Tel,
            FieldType::Dict => ValidationRule::JsonObject,
            FieldType::Yaml | FieldType::Json => ValidationRule::Json,
            FieldType::Set => ValidationRule::UniqueItems,
            FieldType::Guid => ValidationRule::Guid,
            FieldType::Duration => ValidationRule::Duration,
            FieldType::Date => ValidationRule::Date,
        }
    }

    /// Whether values are stored as `Text`.
    pub(crate) fn is_text(self) -> bool {
        self.capnp_type() == "Text"
    }
}

/// A typed default value of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// A text default (for every `Text`-based type).
    Text(String),
    /// An integer default (`int`, `ipport`, `duration` in seconds, `date` in epoch seconds).
    Int(i64),
    /// A float default.
    Float(f64),
    /// A boolean default.
    Bool(bool),
    /// A list default (for `list` fields and `set`).
    List(Vec<DefaultValue>),
}

impl fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefaultValue::Text(s) => f.write_str(s),
            DefaultValue::Int(i) => write!(f, "{i}"),
            DefaultValue::Float(x) => f.write_str(&crate::to_capnp::python_float_repr(*x)),
            DefaultValue::Bool(b) => write!(f, "{b}"),
            DefaultValue::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}
