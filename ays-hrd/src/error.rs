//! The error types of the crate: [`HrdError`] for parsing and conversion, [`ConfigYamlError`]
//! for reading a `config.yaml` (also wrapped by [`HrdError`]), [`ValidationError`] for checking a
//! value against a field's rules.

use crate::duration::DurationError;
use crate::location::Location;

/// Everything that can go wrong while parsing HRD, `schema.hrd`, `actor.hrd` or `config.yaml`
/// text, or while converting a schema to Cap'n Proto.
///
/// Every variant carries the [`Location`] of the offending text (shown as `file:line:col`) and
/// the key or field involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HrdError {
    /// A line that is neither blank, a comment, an assignment nor a block continuation.
    #[error("{at}: expected `key = value`, found `{found}`")]
    MissingEquals {
        /// Where the line starts.
        at: Location,
        /// The offending line, trimmed.
        found: String,
    },
    /// A key (or a schema field name) that is empty or holds characters HRD keys may not hold.
    #[error("{at}: invalid key `{key}`: {reason}")]
    InvalidKey {
        /// Where the key starts.
        at: Location,
        /// The key as written.
        key: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The same key assigned twice in one document (8.1 silently kept the last one).
    #[error("{at}: duplicate key `{key}`, first defined at {first}")]
    DuplicateKey {
        /// Where the second definition starts.
        at: Location,
        /// The key.
        key: String,
        /// Where the first definition starts.
        first: Location,
    },
    /// A quote that is never closed on its line.
    #[error("{at}: unterminated quote in `{key}`")]
    UnterminatedQuote {
        /// Where the quote opens.
        at: Location,
        /// The key or field whose value holds the quote.
        key: String,
    },
    /// Something other than what the grammar allows at this place.
    #[error("{at}: `{key}`: expected {expected}, found `{found}`")]
    Unexpected {
        /// Where the offending text starts.
        at: Location,
        /// The key or field being parsed.
        key: String,
        /// What the grammar allows here.
        expected: &'static str,
        /// What was found instead.
        found: String,
    },
    /// A non-indented line right after a multi-line block; AYS 8.1 silently dropped it.
    #[error(
        "{at}: expected a blank line after the block of `{key}`, found `{found}` (AYS 8.1 would drop this line)"
    )]
    LineAfterBlock {
        /// Where the offending line starts.
        at: Location,
        /// The key of the block.
        key: String,
        /// The offending line, trimmed.
        found: String,
    },
    /// A `schema.hrd` type name that is not known.
    #[error("{at}: field `{field}`: unknown type `{name}`")]
    UnknownType {
        /// Where the `type:` option starts.
        at: Location,
        /// The field.
        field: String,
        /// The type as written.
        name: String,
    },
    /// A `schema.hrd` option (tag or label) that is not known.
    #[error("{at}: field `{field}`: unknown option `{option}`")]
    UnknownOption {
        /// Where the option starts.
        at: Location,
        /// The field.
        field: String,
        /// The option as written.
        option: String,
    },
    /// A `schema.hrd` option given twice on one line.
    #[error("{at}: field `{field}`: option `{option}` given twice")]
    DuplicateOption {
        /// Where the second occurrence starts.
        at: Location,
        /// The field.
        field: String,
        /// The option key, lower-cased.
        option: String,
    },
    /// A `schema.hrd` option whose value is malformed or does not fit the field.
    #[error("{at}: field `{field}`: invalid `{option}`: {reason}")]
    InvalidOption {
        /// Where the option starts.
        at: Location,
        /// The field.
        field: String,
        /// The option key, lower-cased.
        option: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// A default value that does not parse as the field's type or breaks its validation rule.
    #[error("{at}: field `{field}`: default `{value}` is not {expected}")]
    InvalidDefault {
        /// Where the `default:` option starts.
        at: Location,
        /// The field.
        field: String,
        /// The default as written.
        value: String,
        /// What the field's type expects.
        expected: String,
    },
    /// A field name that cannot become a Cap'n Proto field name.
    #[error("{at}: field `{field}`: {reason}")]
    BadFieldName {
        /// Where the field name starts.
        at: Location,
        /// The raw field name.
        field: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Two different raw field names that sanitise to the same Cap'n Proto name.
    #[error("{at}: field `{field}` becomes `{name}`, like field `{other}` at {other_at}")]
    NameCollision {
        /// Where the second field starts.
        at: Location,
        /// The second raw field name.
        field: String,
        /// The shared sanitised name.
        name: String,
        /// The first raw field name.
        other: String,
        /// Where the first field starts.
        other_at: Location,
    },
    /// A `regex:` option that does not compile.
    #[error("{at}: field `{field}`: invalid regex `{pattern}`")]
    InvalidRegex {
        /// Where the `regex:` option starts.
        at: Location,
        /// The field.
        field: String,
        /// The pattern as written.
        pattern: String,
        /// The compiler's error.
        #[source]
        source: Box<regex::Error>,
    },
    /// A recurring period that is not a positive duration such as `30s`, `5m`, `1h` or `1d`.
    #[error("{at}: recurring action `{action}`: invalid period `{period}`: {reason}")]
    BadPeriod {
        /// Where the recurring entry starts.
        at: Location,
        /// The action name.
        action: String,
        /// The period as written.
        period: String,
        /// What is wrong, in words.
        reason: &'static str,
    },
    /// An actor name that cannot name a schema.
    #[error("invalid actor name `{name}`: {reason}")]
    BadActorName {
        /// The actor name as given.
        name: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// A `config.yaml` that cannot be read.
    #[error(transparent)]
    ConfigYaml(#[from] ConfigYamlError),
}

/// Everything that can go wrong while reading a `config.yaml`
/// ([`ConfigYaml::parse`](crate::ConfigYaml::parse)).
///
/// Every variant carries the [`Location`] of the offending node (shown as `file:line:col`) and
/// the field involved, as a path from the top of the file: `concurrency`,
/// `links.consume[1].min`, `recurring[0].period`, `timeouts.install`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigYamlError {
    /// The text is not YAML: bad indentation, an unclosed quote, a key given twice in one
    /// mapping, …
    #[error("{at}: invalid YAML: {reason}")]
    Syntax {
        /// Where the YAML parser stopped.
        at: Location,
        /// The YAML parser's message.
        reason: String,
    },
    /// A key that must be given is absent.
    #[error("{at}: `{field}` is missing")]
    Missing {
        /// Where the mapping that lacks the key starts.
        at: Location,
        /// The missing field.
        field: String,
    },
    /// A value (or a key) of the wrong kind or out of range.
    #[error("{at}: `{field}` expects {expected}, found {found}")]
    WrongType {
        /// Where the offending node starts.
        at: Location,
        /// The field.
        field: String,
        /// What the field takes, in words.
        expected: &'static str,
        /// What was found: a scalar in backticks (`` the string `1` ``, `` `true` ``), or the
        /// kind of node (`a list`).
        found: String,
    },
    /// Sequences and mappings nested deeper than the reader allows.
    #[error("{at}: nesting deeper than {limit} levels")]
    TooDeep {
        /// Where the sequence or mapping past the limit starts.
        at: Location,
        /// The deepest nesting allowed.
        limit: usize,
    },
    /// A text that is not a duration such as `30s`, `5m` or `1h30m`.
    #[error("{at}: `{field}`: invalid duration `{text}`")]
    BadDuration {
        /// Where the duration starts.
        at: Location,
        /// The field.
        field: String,
        /// The text as written.
        text: String,
        /// What is wrong with it.
        #[source]
        source: DurationError,
    },
}

impl HrdError {
    /// Where the error is: the offending text for every error of parsing; `None` only for
    /// [`HrdError::BadActorName`], which is about a name given by the caller.
    pub fn location(&self) -> Option<&Location> {
        match self {
            HrdError::MissingEquals { at, .. }
            | HrdError::InvalidKey { at, .. }
            | HrdError::DuplicateKey { at, .. }
            | HrdError::UnterminatedQuote { at, .. }
            | HrdError::Unexpected { at, .. }
            | HrdError::LineAfterBlock { at, .. }
            | HrdError::UnknownType { at, .. }
            | HrdError::UnknownOption { at, .. }
            | HrdError::DuplicateOption { at, .. }
            | HrdError::InvalidOption { at, .. }
            | HrdError::InvalidDefault { at, .. }
            | HrdError::BadFieldName { at, .. }
            | HrdError::NameCollision { at, .. }
            | HrdError::InvalidRegex { at, .. }
            | HrdError::BadPeriod { at, .. } => Some(at),
            HrdError::BadActorName { .. } => None,
            HrdError::ConfigYaml(e) => Some(e.location()),
        }
    }
}

impl ConfigYamlError {
    /// Where the error is.
    pub fn location(&self) -> &Location {
        match self {
            ConfigYamlError::Syntax { at, .. }
            | ConfigYamlError::Missing { at, .. }
            | ConfigYamlError::WrongType { at, .. }
            | ConfigYamlError::TooDeep { at, .. }
            | ConfigYamlError::BadDuration { at, .. } => at,
        }
    }
}

/// A value that breaks a field's [`ValidationRule`](crate::ValidationRule), `regex`, `minval`
/// or `maxval`.
///
/// It carries the value and what was expected; the caller adds the field and the location of
/// the value (for example a blueprint line).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The value does not have the required form.
    #[error("`{value}` is not {expected}")]
    Format {
        /// The offending value.
        value: String,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// A number outside the allowed range.
    #[error("`{value}` is outside {min}..={max}")]
    OutOfRange {
        /// The offending value.
        value: String,
        /// The lowest allowed value.
        min: String,
        /// The highest allowed value.
        max: String,
    },
    /// A text that does not match the field's `regex:`.
    #[error("`{value}` does not match `{pattern}`")]
    NoMatch {
        /// The offending value.
        value: String,
        /// The field's pattern.
        pattern: String,
    },
    /// A `set` that holds the same item twice.
    #[error("`{value}` holds `{item}` twice")]
    DuplicateItem {
        /// The offending value.
        value: String,
        /// The repeated item.
        item: String,
    },
}
