//! Printing a [`Document`] back to HRD text that [`parse_document`](crate::parse_document)
//! reads as the same keys and values.

use crate::ast::{Document, Entry, Value};
use crate::error::HrdError;
use crate::parser::{key_problem, type_scalar};

/// Prints a document as HRD: one `key = value` line per entry, lists and dicts inline with a
/// trailing `,`, a string holding newlines as an indented text block followed by a blank line.
///
/// Comments are not kept by the parser, so they are not printed.
///
/// # Errors
///
/// Returns [`HrdError::Unexpected`] at the entry's location for what HRD cannot express: a
/// string holding both quote characters, a newline anywhere but in a top-level text block, an
/// empty dict, a dict inside a list, lists nested more than twice, or an invalid key.
///
/// # Example
///
/// ```
/// let doc = ays_hrd::parse_document("a = 1\nb = 'x, y'\nc = p, q,\n", "x.hrd")?;
/// assert_eq!(ays_hrd::print_document(&doc)?, "a = 1\nb = 'x, y'\nc = p, q,\n");
/// # Ok::<(), ays_hrd::HrdError>(())
/// ```
pub fn print_document(doc: &Document) -> Result<String, HrdError> {
    let mut out = String::new();
    for entry in doc.entries() {
        print_entry(entry, &mut out)?;
    }
    Ok(out)
}

fn print_entry(entry: &Entry, out: &mut String) -> Result<(), HrdError> {
    let fail = |expected: &'static str, found: String| HrdError::Unexpected {
        at: entry.at.clone(),
        key: entry.key.clone(),
        expected,
        found,
    };
    if key_problem(&entry.key).is_some() {
        return Err(fail("a printable key", entry.key.clone()));
    }
    let text = match &entry.value {
        Value::Str(s) if s.contains('\n') => {
            let block = text_block(s).ok_or_else(|| {
                fail(
                    "a text block of trimmed, non-empty lines without `#`",
                    s.clone(),
                )
            })?;
            out.push_str(&format!("{} =\n{block}\n", entry.key));
            return Ok(());
        }
        Value::List(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                parts.push(print_nested(item).ok_or_else(|| {
                    fail("a list of scalars or `[…]` lists", format!("{item:?}"))
                })?);
            }
            format!("{},", parts.join(", "))
        }
        Value::Dict(pairs) => {
            if pairs.is_empty() {
                return Err(fail("a non-empty dict", "{}".into()));
            }
            let mut parts = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                if key_problem(k).is_some() {
                    return Err(fail("a printable dict key", k.clone()));
                }
                let v = print_nested(v)
                    .ok_or_else(|| fail("a dict of scalars or `[…]` lists", format!("{v:?}")))?;
                parts.push(format!("{k}: {v}"));
            }
            format!("{},", parts.join(", "))
        }
        scalar => {
            print_scalar(scalar).ok_or_else(|| fail("a printable scalar", format!("{scalar:?}")))?
        }
    };
    out.push_str(&format!("{} = {text}\n", entry.key));
    Ok(())
}

/// A scalar, or a `[…]` list of scalars.
fn print_nested(value: &Value) -> Option<String> {
    match value {
        Value::List(items) => {
            let parts: Option<Vec<String>> = items.iter().map(print_scalar).collect();
            Some(format!("[{}]", parts?.join(", ")))
        }
        other => print_scalar(other),
    }
}

fn print_scalar(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) => print_str(s),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) if f.is_finite() => Some(format!("{f:?}")),
        Value::Bool(b) => Some(b.to_string()),
        Value::Float(_) | Value::List(_) | Value::Dict(_) => None,
    }
}

fn print_str(s: &str) -> Option<String> {
    if s.chars().any(char::is_control) {
        return None;
    }
    let plain = !s.is_empty()
        && s.trim() == s
        && !s.contains([',', ':', '#', '\'', '"', '[', ']'])
        && type_scalar(s) == Value::Str(s.to_owned());
    if plain {
        Some(s.to_owned())
    } else if !s.contains('\'') {
        Some(format!("'{s}'"))
    } else if !s.contains('"') {
        Some(format!("\"{s}\""))
    } else {
        None
    }
}

/// The indented lines of a text block, if the parser would read them back as `s`.
fn text_block(s: &str) -> Option<String> {
    let lines: Vec<&str> = s.split('\n').collect();
    let ok = lines.iter().all(|l| {
        !l.is_empty() && l.trim() == *l && !l.contains('#') && !l.chars().any(char::is_control)
    }) && !lines.first().is_some_and(|l| l.ends_with(','));
    ok.then(|| lines.iter().map(|l| format!("    {l}\n")).collect())
}
