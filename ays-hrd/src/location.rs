//! Where something is in an input text.

use std::fmt;
use std::sync::Arc;

/// A position in an input file: the file name as given by the caller, a 1-based line and a
/// 1-based column (counted in characters).
///
/// Displayed as `file:line:col`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file name the caller passed to the parser (no I/O happens here).
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl Location {
    /// Builds a location; numbers beyond `u32::MAX` saturate.
    pub fn new(file: &str, line: usize, column: usize) -> Self {
        Self {
            file: Arc::from(file),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A value with where it was read.
///
/// A value built in code carries the location of what it was derived from, or any location its
/// builder picks. Equality compares locations too, so compare `value`s to ignore them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it starts.
    pub at: Location,
}
