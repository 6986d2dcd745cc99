//! Error types of the crate: one enum per area, each variant naming where it happened.

use std::fmt;

/// A position in a schema file: file name, 1-based line and 1-based column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file name given to [`crate::parse_schema`].
    pub file: String,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number, counted in characters.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// An error found while parsing or validating Cap'n Proto schema text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The text does not follow the grammar.
    #[error("{at}: expected {expected}, found {found}")]
    Syntax {
        /// Where the unexpected token starts.
        at: Location,
        /// What the parser expected there.
        expected: String,
        /// What it found instead.
        found: String,
    },
    /// A Cap'n Proto feature outside the subset used by actor schemas.
    #[error("{at}: {feature} are not supported by ays-schema")]
    Unsupported {
        /// Where the construct starts.
        at: Location,
        /// The feature, in plural (`unions`, `annotations`, ...).
        feature: &'static str,
    },
    /// Two fields of one struct (or enumerants of one enum) share an ordinal.
    #[error("{at}: `{field}` of `{struct_name}` reuses ordinal @{ordinal}")]
    DuplicateOrdinal {
        /// Where the second field is declared.
        at: Location,
        /// The struct's full name.
        struct_name: String,
        /// The second field's name.
        field: String,
        /// The shared ordinal.
        ordinal: u16,
    },
    /// The ordinals of a struct (or enum) are not exactly `0..N`.
    #[error("{at}: ordinals of `{scope}` must be dense: @{missing} is missing")]
    OrdinalGap {
        /// Where the struct or enum is declared.
        at: Location,
        /// The struct's or enum's full name.
        scope: String,
        /// The first missing ordinal.
        missing: u32,
    },
    /// Two members of one scope share a name.
    #[error("{at}: `{name}` is declared twice in `{scope}`")]
    DuplicateName {
        /// Where the second declaration is.
        at: Location,
        /// The scope (struct or enum full name, or the file).
        scope: String,
        /// The repeated name.
        name: String,
    },
    /// A type name that is neither built in nor declared.
    #[error("{at}: unknown type `{name}`")]
    UnknownType {
        /// Where the type is named.
        at: Location,
        /// The name as written.
        name: String,
    },
    /// A default value that does not fit its field's type.
    #[error("{at}: default of field `{field}` must be {expected}, found {found}")]
    BadDefault {
        /// Where the default value starts.
        at: Location,
        /// The field's name.
        field: String,
        /// What the type requires.
        expected: String,
        /// The value as written.
        found: String,
    },
    /// Structs, list types or list literals nested deeper than the parser allows.
    #[error("{at}: nesting deeper than {limit} levels")]
    TooDeep {
        /// Where the level past the limit opens.
        at: Location,
        /// The deepest nesting allowed.
        limit: u32,
    },
}

impl SchemaError {
    /// Where the error is: every variant names a place in the schema text.
    pub fn location(&self) -> &Location {
        match self {
            SchemaError::Syntax { at, .. }
            | SchemaError::Unsupported { at, .. }
            | SchemaError::DuplicateOrdinal { at, .. }
            | SchemaError::OrdinalGap { at, .. }
            | SchemaError::DuplicateName { at, .. }
            | SchemaError::UnknownType { at, .. }
            | SchemaError::BadDefault { at, .. }
            | SchemaError::TooDeep { at, .. } => at,
        }
    }
}

/// An error while encoding or decoding service data, or converting it from JSON.
///
/// `path` fields name the value, e.g. `spec.tags[2]`; the root struct is the empty path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The schema has no struct of that name.
    #[error("schema `{file}` has no struct `{name}`")]
    UnknownStruct {
        /// The schema's file name.
        file: String,
        /// The struct name asked for.
        name: String,
    },
    /// The record has a field the struct does not declare.
    #[error("`{path}`: struct `{struct_name}` has no field `{field}`")]
    UnknownField {
        /// Path of the struct holding the field.
        path: String,
        /// The struct's full name.
        struct_name: String,
        /// The unknown field name.
        field: String,
    },
    /// A value of the wrong type for its field.
    #[error("`{path}`: expected {expected}, found {found}")]
    WrongType {
        /// Path of the value.
        path: String,
        /// The schema type, e.g. `Int64` or `List(Text)`.
        expected: String,
        /// The kind of value given, e.g. `Text` or `JSON string`.
        found: String,
    },
    /// A number that does not fit the field's width.
    #[error("`{path}`: {value} is out of range for {expected}")]
    OutOfRange {
        /// Path of the value.
        path: String,
        /// The schema type.
        expected: String,
        /// The value given.
        value: String,
    },
    /// An enumerant name the enum does not declare.
    #[error("`{path}`: enum `{enum_name}` has no enumerant `{name}`")]
    UnknownEnumerant {
        /// Path of the value.
        path: String,
        /// The enum's full name.
        enum_name: String,
        /// The name given.
        name: String,
    },
    /// A stored enum ordinal the enum does not declare (written by a newer schema).
    #[error("`{path}`: enum `{enum_name}` has no enumerant @{ordinal}")]
    UnknownEnumOrdinal {
        /// Path of the value.
        path: String,
        /// The enum's full name.
        enum_name: String,
        /// The stored ordinal.
        ordinal: u16,
    },
    /// A list too long for a Cap'n Proto list pointer.
    #[error("`{path}`: list of {len} elements is too long")]
    TooLong {
        /// Path of the list.
        path: String,
        /// Its length.
        len: usize,
    },
    /// The bytes are not a valid Cap'n Proto message of this struct (framing, bounds, limits).
    #[error("`{path}`: malformed message")]
    Malformed {
        /// Path of the value being read (empty for the framing).
        path: String,
        /// The reader's error.
        #[source]
        source: capnp::Error,
    },
    /// A stored Text that is not UTF-8.
    #[error("`{path}`: text is not valid UTF-8")]
    InvalidUtf8 {
        /// Path of the value.
        path: String,
        /// The decoding error.
        #[source]
        source: std::str::Utf8Error,
    },
}
