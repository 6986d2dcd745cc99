//! The strict parser for general HRD documents (`actor.hrd`, `service.hrd`, …).
//!
//! The grammar is the one of AYS 8.1 (`hrd.md` §1), with the deliberate deviations listed in
//! the crate documentation: every place where 8.1 silently lost or corrupted data is an error
//! or is parsed faithfully here.

use std::collections::HashMap;

use crate::ast::{Document, Entry, Value};
use crate::error::HrdError;
use crate::lexer::{column, find_top, split_top, strip_comment, trim_at};
use crate::location::Location;

/// Parses a general HRD document.
///
/// `file` is only used in locations; no I/O happens.
///
/// # Errors
///
/// Returns an [`HrdError`] naming the file, line and column for a line without `=`, an invalid
/// or duplicate key, an unterminated quote, an unquoted URL, a malformed block item, or a line
/// right after a block without a blank line in between.
///
/// # Example
///
/// ```
/// use ays_hrd::{parse_document, Value};
///
/// let doc = parse_document("port = 22\nname = 'web 1'\nhosts = a, b,\n", "x.hrd")?;
/// assert_eq!(doc.get("port"), Some(&Value::Int(22)));
/// assert_eq!(doc.get("name"), Some(&Value::Str("web 1".into())));
/// assert_eq!(doc.get("hosts").and_then(Value::as_list).map(<[Value]>::len), Some(2));
/// # Ok::<(), ays_hrd::HrdError>(())
/// ```
pub fn parse_document(src: &str, file: &str) -> Result<Document, HrdError> {
    let lines: Vec<&str> = src.lines().collect();
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: HashMap<String, Location> = HashMap::new();
    let mut i = 0usize;
    while let Some(&raw) = lines.get(i) {
        let number = i.saturating_add(1);
        i = number;
        let content = strip_comment(raw);
        let trimmed = content.trim();
        if trimmed.is_empty() {
            continue;
        }
        let start = content.len().saturating_sub(content.trim_start().len());
        let at = Location::new(file, number, column(raw, start));
        let Some(eq) = content.find('=') else {
            return Err(HrdError::MissingEquals {
                at,
                found: trimmed.to_owned(),
            });
        };
        let key_text = content.get(..eq).unwrap_or_default().trim();
        check_key(key_text, &at)?;
        let value_text = content.get(eq.saturating_add(1)..).unwrap_or_default();
        let value = if value_text.trim().is_empty() {
            let (value, next) = parse_block(&lines, i, file, key_text)?;
            i = next;
            value
        } else {
            let line = Line { raw, file, number };
            let (off, text) = trim_at(eq.saturating_add(1), value_text);
            parse_inline(&line, off, text, key_text)?
        };
        if let Some(first) = seen.get(key_text) {
            return Err(HrdError::DuplicateKey {
                at,
                key: key_text.to_owned(),
                first: first.clone(),
            });
        }
        seen.insert(key_text.to_owned(), at.clone());
        entries.push(Entry {
            key: key_text.to_owned(),
            at,
            value,
        });
    }
    tracing::trace!(file, entries = entries.len(), "parsed hrd document");
    Ok(Document { entries })
}

/// A source line being parsed, for building locations.
struct Line<'a> {
    raw: &'a str,
    file: &'a str,
    number: usize,
}

impl Line<'_> {
    fn at(&self, byte: usize) -> Location {
        Location::new(self.file, self.number, column(self.raw, byte))
    }
}

/// Whether `key` is a valid HRD key: dot-separated non-empty parts of ASCII letters, digits,
/// `_` and `-`.
pub(crate) fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("the key is empty");
    }
    if key.split('.').any(str::is_empty) {
        return Some("a dotted part is empty");
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Some("keys hold only ASCII letters, digits, `_`, `-` and `.`");
    }
    None
}

fn check_key(key: &str, at: &Location) -> Result<(), HrdError> {
    match key_problem(key) {
        Some(reason) => Err(HrdError::InvalidKey {
            at: at.clone(),
            key: key.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Parses the indented block that follows `key =` on line `first` (0-based index of the first
/// line after the assignment). Returns the value and the index of the next unread line.
fn parse_block(
    lines: &[&str],
    first: usize,
    file: &str,
    key: &str,
) -> Result<(Value, usize), HrdError> {
    let mut items: Vec<(usize, &str, &str)> = Vec::new();
    let mut i = first;
    while let Some(&raw) = lines.get(i) {
        let number = i.saturating_add(1);
        if raw.trim().is_empty() {
            break;
        }
        let content = strip_comment(raw);
        if content.trim().is_empty() {
            // A comment line inside a block; 8.1 ended the block here and lost what followed.
            i = number;
            continue;
        }
        if !raw.starts_with([' ', '\t']) {
            if items.is_empty() {
                break;
            }
            let start = raw.len().saturating_sub(raw.trim_start().len());
            return Err(HrdError::LineAfterBlock {
                at: Location::new(file, number, column(raw, start)),
                key: key.to_owned(),
                found: content.trim().to_owned(),
            });
        }
        items.push((number, raw, content));
        i = number;
    }
    let Some(&(_, _, first_content)) = items.first() else {
        return Ok((Value::Str(String::new()), i));
    };
    let first_trim = first_content.trim();
    if !first_trim.ends_with(',') {
        let text: Vec<&str> = items.iter().map(|(_, _, c)| c.trim()).collect();
        return Ok((Value::Str(text.join("\n")), i));
    }
    let is_dict = matches!(find_top(first_trim, ':'), Ok(Some(_)));
    let mut list = Vec::new();
    let mut dict = Vec::new();
    let last = items.len().saturating_sub(1);
    for (n, (number, raw, content)) in items.iter().enumerate() {
        let line = Line {
            raw,
            file,
            number: *number,
        };
        let (off, text) = trim_at(0, content);
        let body = match text.strip_suffix(',') {
            Some(body) => body,
            None if n == last => text,
            None => {
                return Err(HrdError::Unexpected {
                    at: line.at(off.saturating_add(text.len())),
                    key: key.to_owned(),
                    expected: "`,` at the end of a block item that is not the last",
                    found: text.to_owned(),
                });
            }
        };
        let pieces = split_top(body, ',').map_err(|q| unterminated(&line, off + q, key))?;
        for (p_off, piece) in pieces {
            let (p_off, piece) = trim_at(off.saturating_add(p_off), piece);
            if piece.is_empty() {
                continue;
            }
            if is_dict {
                dict.push(parse_pair(&line, p_off, piece, key)?);
            } else {
                list.push(parse_scalar_or_brackets(&line, p_off, piece, key)?);
            }
        }
    }
    let value = if is_dict {
        Value::Dict(dict)
    } else {
        Value::List(list)
    };
    Ok((value, i))
}

fn unterminated(line: &Line<'_>, byte: usize, key: &str) -> HrdError {
    HrdError::UnterminatedQuote {
        at: line.at(byte),
        key: key.to_owned(),
    }
}

/// Parses a one-line value (already trimmed, found at byte `off` of the line).
fn parse_inline(line: &Line<'_>, off: usize, text: &str, key: &str) -> Result<Value, HrdError> {
    let pieces = split_top(text, ',').map_err(|q| unterminated(line, off + q, key))?;
    let has_comma = pieces.len() > 1;
    let mut items = Vec::new();
    for (p_off, piece) in pieces {
        let (p_off, piece) = trim_at(off.saturating_add(p_off), piece);
        if !piece.is_empty() {
            items.push((p_off, piece));
        }
    }
    let colon_items = items
        .iter()
        .filter(|(_, p)| matches!(find_top(p, ':'), Ok(Some(_))))
        .count();
    if colon_items > 0 {
        if colon_items != items.len() {
            return Err(HrdError::Unexpected {
                at: line.at(off),
                key: key.to_owned(),
                expected: "either only `name: value` items or none",
                found: text.to_owned(),
            });
        }
        let mut dict = Vec::new();
        for (p_off, piece) in items {
            dict.push(parse_pair(line, p_off, piece, key)?);
        }
        return Ok(Value::Dict(dict));
    }
    if has_comma {
        let mut list = Vec::new();
        for (p_off, piece) in items {
            list.push(parse_scalar_or_brackets(line, p_off, piece, key)?);
        }
        return Ok(Value::List(list));
    }
    parse_scalar_or_brackets(line, off, text, key)
}

/// Parses `name: value` (trimmed, at byte `off`).
fn parse_pair(
    line: &Line<'_>,
    off: usize,
    text: &str,
    key: &str,
) -> Result<(String, Value), HrdError> {
    let colon = match find_top(text, ':') {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(HrdError::Unexpected {
                at: line.at(off),
                key: key.to_owned(),
                expected: "a `name: value` item",
                found: text.to_owned(),
            });
        }
        Err(q) => return Err(unterminated(line, off + q, key)),
    };
    let name = text.get(..colon).unwrap_or_default().trim();
    if let Some(reason) = key_problem(name) {
        return Err(HrdError::InvalidKey {
            at: line.at(off),
            key: name.to_owned(),
            reason,
        });
    }
    let rest = text.get(colon.saturating_add(1)..).unwrap_or_default();
    if rest.starts_with("//") {
        return Err(HrdError::Unexpected {
            at: line.at(off),
            key: key.to_owned(),
            expected: "a single-quoted URL (8.1 read an unquoted `scheme://` as a dict)",
            found: text.to_owned(),
        });
    }
    let (v_off, v_text) = trim_at(off.saturating_add(colon).saturating_add(1), rest);
    let value = parse_scalar_or_brackets(line, v_off, v_text, key)?;
    Ok((name.to_owned(), value))
}

/// Parses a scalar or a bracket list `[a, b]` (trimmed, at byte `off`).
fn parse_scalar_or_brackets(
    line: &Line<'_>,
    off: usize,
    text: &str,
    key: &str,
) -> Result<Value, HrdError> {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let inner_off = off.saturating_add(1);
        let pieces = split_top(inner, ',').map_err(|q| unterminated(line, inner_off + q, key))?;
        let mut list = Vec::new();
        for (p_off, piece) in pieces {
            let (p_off, piece) = trim_at(inner_off.saturating_add(p_off), piece);
            if !piece.is_empty() {
                list.push(parse_scalar(line, p_off, piece, key)?);
            }
        }
        return Ok(Value::List(list));
    }
    parse_scalar(line, off, text, key)
}

/// Parses a scalar: a fully quoted string, or an unquoted word typed as bool, int, float or
/// string.
fn parse_scalar(line: &Line<'_>, off: usize, text: &str, key: &str) -> Result<Value, HrdError> {
    if let Some(q) = text.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let body = text.get(1..).unwrap_or_default();
        let Some(end) = body.find(q) else {
            return Err(unterminated(line, off, key));
        };
        let rest = body.get(end.saturating_add(1)..).unwrap_or_default();
        if !rest.is_empty() {
            return Err(HrdError::Unexpected {
                at: line.at(off.saturating_add(end).saturating_add(2)),
                key: key.to_owned(),
                expected: "nothing after the closing quote",
                found: rest.trim().to_owned(),
            });
        }
        return Ok(Value::Str(body.get(..end).unwrap_or_default().to_owned()));
    }
    if text.starts_with('[') || text.ends_with(']') {
        return Err(HrdError::Unexpected {
            at: line.at(off),
            key: key.to_owned(),
            expected: "a list `[a, b]` of scalars",
            found: text.to_owned(),
        });
    }
    Ok(type_scalar(text))
}

/// Types an unquoted scalar.
pub(crate) fn type_scalar(text: &str) -> Value {
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Int(i);
    }
    if looks_like_float(digits)
        && let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        return Value::Float(f);
    }
    Value::Str(text.to_owned())
}

/// `digits[.digits][e[+-]digits]` with at least one digit and a `.` or an exponent.
fn looks_like_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(p) => (s.get(..p).unwrap_or_default(), s.get(p.saturating_add(1)..)),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let all_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let has_digit = !int.is_empty() || frac.is_some_and(|f| !f.is_empty());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    has_digit
        && all_digits(int)
        && frac.is_none_or(all_digits)
        && exp_ok
        && (frac.is_some() || exp.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_typed_only_when_unquoted() {
        assert_eq!(type_scalar("True"), Value::Bool(true));
        assert_eq!(type_scalar("-5"), Value::Int(-5));
        assert_eq!(type_scalar("1.5"), Value::Float(1.5));
        assert_eq!(type_scalar("1e3"), Value::Float(1000.0));
        assert_eq!(type_scalar("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(type_scalar("30s"), Value::Str("30s".into()));
        assert_eq!(type_scalar("-"), Value::Str("-".into()));
        assert_eq!(type_scalar("."), Value::Str(".".into()));
        assert_eq!(type_scalar("inf"), Value::Str("inf".into()));
    }
}
