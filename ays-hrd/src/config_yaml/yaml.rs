//! The YAML layer under `config.yaml`: saphyr's located nodes read the way ays-core read them
//! (string keys, integers accepted as text, tagged nodes opaque), errors placed at a node, and
//! scalars written so that they read back unchanged.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use saphyr_parser::{Event, Parser};

use crate::error::ConfigYamlError;
use crate::location::Location;

/// A YAML node with where it starts.
pub(super) type Node<'input> = MarkedYaml<'input>;

/// The deepest nesting of sequences and mappings read. A `config.yaml` nests four levels;
/// saphyr builds and drops its nodes recursively, so a line of ten thousand `- ` overflowed the
/// stack.
const MAX_DEPTH: usize = 64;

/// Where (1-based line and column) the YAML `text` first nests sequences and mappings deeper
/// than `max`, read from the parser's events before any node is built: saphyr builds and drops
/// its nodes recursively, so deep nesting (a line of ten thousand `- `) overflows the stack. A
/// syntax error ends the check: the loader, reading the same events, reports it before it has
/// built anything deeper.
pub fn yaml_nesting_beyond(text: &str, max: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else {
            return None;
        };
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > max {
                    return Some((span.start.line(), span.start.col() + 1));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Reads the nodes of one text, whose file name goes into every location.
pub(super) struct Reader<'f> {
    file: &'f str,
    text: &'f str,
}

impl<'f> Reader<'f> {
    pub(super) fn new(file: &'f str, text: &'f str) -> Self {
        Reader { file, text }
    }

    /// Parses the text into its YAML documents.
    pub(super) fn load(&self) -> Result<Vec<Node<'f>>, ConfigYamlError> {
        self.check_depth()?;
        MarkedYaml::load_from_str(self.text).map_err(|e| ConfigYamlError::Syntax {
            at: self.within(e.marker().line(), e.marker().col() + 1),
            reason: e.info().to_owned(),
        })
    }

    /// The location of `line` and `column` of the text, moved to the end of the text when past
    /// it: saphyr places an error, or an empty node, at the end of a text without a final
    /// newline on the line after the last.
    fn within(&self, line: usize, column: usize) -> Location {
        let lines = lines(self.text);
        if line <= lines.len() {
            return Location::new(self.file, line, column);
        }
        let last = lines.last().map_or(0, |l| l.chars().count());
        Location::new(self.file, lines.len(), last + 1)
    }

    /// Refuses nesting deeper than [`MAX_DEPTH`] ([`yaml_nesting_beyond`]).
    fn check_depth(&self) -> Result<(), ConfigYamlError> {
        match yaml_nesting_beyond(self.text, MAX_DEPTH) {
            Some((line, column)) => Err(ConfigYamlError::TooDeep {
                at: self.within(line, column),
                limit: MAX_DEPTH,
            }),
            None => Ok(()),
        }
    }

    /// Where `node` starts (saphyr counts columns from 0, [`Location`] from 1).
    pub(super) fn at(&self, node: &Node<'_>) -> Location {
        let start = node.span.start;
        self.within(start.line(), start.col() + 1)
    }

    /// `field` (found at `node`) expects `expected`.
    pub(super) fn wrong_type(
        &self,
        node: &Node<'_>,
        field: impl Into<String>,
        expected: &'static str,
    ) -> ConfigYamlError {
        ConfigYamlError::WrongType {
            at: self.at(node),
            field: field.into(),
            expected,
            found: found(node),
        }
    }

    /// `field` is absent from the mapping `node`.
    pub(super) fn missing(&self, node: &Node<'_>, field: impl Into<String>) -> ConfigYamlError {
        ConfigYamlError::Missing {
            at: self.at(node),
            field: field.into(),
        }
    }
}

/// The lines of `text` as YAML counts them: a line break is CR LF, CR or LF.
fn lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\r', '\n']) {
        out.push(rest.get(..i).unwrap_or_default());
        let skip = if rest.get(i..).is_some_and(|r| r.starts_with("\r\n")) {
            2
        } else {
            1
        };
        rest = rest.get(i + skip..).unwrap_or_default();
    }
    out.push(rest);
    out
}

/// The value of the string key `key` when `node` is a mapping.
pub(super) fn get<'a, 'input>(node: &'a Node<'input>, key: &str) -> Option<&'a Node<'input>> {
    pairs(node)?.find_map(|(k, v)| (scalar(k)?.as_str()? == key).then_some(v))
}

/// The key-value pairs when `node` is a mapping, in file order.
pub(super) fn pairs<'a, 'input>(
    node: &'a Node<'input>,
) -> Option<impl Iterator<Item = (&'a Node<'input>, &'a Node<'input>)>> {
    match &node.data {
        YamlData::Mapping(map) => Some(map.iter()),
        _ => None,
    }
}

/// The items when `node` is a sequence.
pub(super) fn items<'a, 'input>(node: &'a Node<'input>) -> Option<&'a [Node<'input>]> {
    match &node.data {
        YamlData::Sequence(items) => Some(items),
        _ => None,
    }
}

/// The text of a string or integer scalar: 8.2 templates write `period: 30` for `"30"`.
pub(super) fn text(node: &Node<'_>) -> Option<String> {
    match scalar(node)? {
        Scalar::String(s) => Some(s.to_string()),
        Scalar::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// The value of a boolean scalar.
pub(super) fn boolean(node: &Node<'_>) -> Option<bool> {
    scalar(node)?.as_bool()
}

/// The value of an integer scalar.
pub(super) fn integer(node: &Node<'_>) -> Option<i64> {
    scalar(node)?.as_integer()
}

/// The scalar of `node`; a node with a tag outside the core schema (`!x 5`) is none.
fn scalar<'a, 'input>(node: &'a Node<'input>) -> Option<&'a Scalar<'input>> {
    match &node.data {
        YamlData::Value(s) => Some(s),
        _ => None,
    }
}

/// What `node` is, for an error message: a scalar in backticks (a string says so, as `'1'` and
/// `1` look alike), or the kind of node.
fn found(node: &Node<'_>) -> String {
    match &node.data {
        YamlData::Value(Scalar::Null) => "null".to_owned(),
        YamlData::Value(Scalar::Boolean(b)) => format!("`{b}`"),
        YamlData::Value(Scalar::Integer(i)) => format!("`{i}`"),
        YamlData::Value(Scalar::FloatingPoint(f)) => format!("`{f}`"),
        YamlData::Value(Scalar::String(s)) | YamlData::Representation(s, _, _) => {
            format!("the string `{s}`")
        }
        YamlData::Sequence(_) => "a list".to_owned(),
        YamlData::Mapping(_) => "a mapping".to_owned(),
        YamlData::Tagged(tag, _) => format!("a value tagged `{tag}`"),
        YamlData::Alias(_) => "an alias".to_owned(),
        YamlData::BadValue => "a value that does not match its tag".to_owned(),
    }
}

/// A YAML double-quoted scalar.
pub(super) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A mapping key: plain when it reads back as the same string (`osImage`, `install`), quoted
/// otherwise (`"a b"`, `"true"`, `""`).
pub(super) fn key(text: &str) -> String {
    let mut chars = text.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            text,
            "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
        );
    if plain { text.to_owned() } else { quote(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_everything_special() {
        assert_eq!(quote("a\"b\\c\nd\u{7}"), "\"a\\\"b\\\\c\\nd\\u0007\"");
    }

    #[test]
    fn keys_are_plain_only_when_they_read_back_as_strings() {
        assert_eq!(
            [
                key("osImage"),
                key("_a1"),
                key("true"),
                key("1a"),
                key("a b"),
                key("")
            ],
            ["osImage", "_a1", "\"true\"", "\"1a\"", "\"a b\"", "\"\""]
        );
    }
}
