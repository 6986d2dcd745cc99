//! The actor and action settings: `concurrency`, and the per-action `timeouts`, `retries`,
//! `retry_delay` and `retry_max_delay`.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use super::ConfigYaml;
use super::yaml::{Node, Reader, get, integer, items, key, pairs, quote, text};
use crate::duration::{format_duration, parse_duration};
use crate::error::ConfigYamlError;
use crate::location::Located;

/// Reads `concurrency`: an integer of at least 1.
pub(super) fn read_concurrency(
    r: &Reader<'_>,
    doc: &Node<'_>,
) -> Result<Option<NonZeroU32>, ConfigYamlError> {
    let Some(node) = get(doc, "concurrency") else {
        return Ok(None);
    };
    integer(node)
        .and_then(|n| u32::try_from(n).ok())
        .and_then(NonZeroU32::new)
        .map(Some)
        .ok_or_else(|| r.wrong_type(node, "concurrency", "a count of at least 1"))
}

/// Reads a section of durations by action (`timeouts`, `retry_delay`, `retry_max_delay`).
pub(super) fn read_durations(
    r: &Reader<'_>,
    doc: &Node<'_>,
    section: &str,
) -> Result<BTreeMap<String, Located<Duration>>, ConfigYamlError> {
    read_by_action(r, doc, section, |field, node| {
        let text = text(node)
            .ok_or_else(|| r.wrong_type(node, field.clone(), "a duration such as `30s`"))?;
        parse_duration(&text).map_err(|source| ConfigYamlError::BadDuration {
            at: r.at(node),
            field,
            text,
            source,
        })
    })
}

/// Reads a section of counts by action (`retries`): integers, or strings of digits.
pub(super) fn read_counts(
    r: &Reader<'_>,
    doc: &Node<'_>,
    section: &str,
) -> Result<BTreeMap<String, Located<u32>>, ConfigYamlError> {
    read_by_action(r, doc, section, |field, node| {
        text(node)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| r.wrong_type(node, field, "a count"))
    })
}

/// Reads `section` as a mapping from action names to values, or as 8.2's list of such
/// mappings; items that are not mappings are ignored, and a later action replaces an earlier
/// one. `value` reads one value, given its field (`timeouts.install`).
fn read_by_action<T>(
    r: &Reader<'_>,
    doc: &Node<'_>,
    section: &str,
    value: impl Fn(String, &Node<'_>) -> Result<T, ConfigYamlError>,
) -> Result<BTreeMap<String, Located<T>>, ConfigYamlError> {
    let mut out = BTreeMap::new();
    let Some(node) = get(doc, section) else {
        return Ok(out);
    };
    let mappings = items(node).unwrap_or(std::slice::from_ref(node));
    for (k, v) in mappings.iter().filter_map(pairs).flatten() {
        let action = text(k).ok_or_else(|| r.wrong_type(k, section, "action names as keys"))?;
        let field = format!("{section}.{action}");
        let located = Located {
            value: value(field, v)?,
            at: r.at(v),
        };
        out.insert(action, located);
    }
    Ok(out)
}

/// Writes the sections that hold something: `concurrency`, then the per-action ones.
pub(super) fn write(out: &mut String, config: &ConfigYaml) {
    if let Some(n) = config.concurrency {
        out.push_str(&format!("concurrency: {n}\n"));
    }
    let durations = |d: &Duration| quote(&format_duration(*d));
    write_by_action(out, "timeouts", &config.timeouts, durations);
    write_by_action(out, "retries", &config.retries, u32::to_string);
    write_by_action(out, "retry_delay", &config.retry_delays, durations);
    write_by_action(out, "retry_max_delay", &config.retry_max_delays, durations);
}

fn write_by_action<T>(
    out: &mut String,
    section: &str,
    by_action: &BTreeMap<String, Located<T>>,
    value: impl Fn(&T) -> String,
) {
    if by_action.is_empty() {
        return;
    }
    out.push_str(&format!("{section}:\n"));
    for (action, v) in by_action {
        out.push_str(&format!("  {}: {}\n", key(action), value(&v.value)));
    }
}
