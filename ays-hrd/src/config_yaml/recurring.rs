//! `recurring:`: the actions that run periodically, each with its `period` and `log` flag.

use super::yaml::{Node, Reader, boolean, get, items, pairs, quote, text};
use crate::actor_config::RecurringAction;
use crate::duration::{format_duration, parse_duration};
use crate::error::ConfigYamlError;

/// Reads `recurring`; `log` defaults to `true`. An empty or null one is none; a mapping with
/// entries (`recurring: {monitor: 5m}`) is an error rather than recurring actions silently
/// lost, and so is any other non-list value.
pub(super) fn read(
    r: &Reader<'_>,
    doc: &Node<'_>,
) -> Result<Vec<RecurringAction>, ConfigYamlError> {
    let Some(node) = get(doc, "recurring") else {
        return Ok(Vec::new());
    };
    let Some(list) = items(node) else {
        let empty = node.data.is_null() || pairs(node).is_some_and(|mut p| p.next().is_none());
        if empty {
            return Ok(Vec::new());
        }
        return Err(r.wrong_type(
            node,
            "recurring",
            "a list of mappings with an `action` and a `period` (`- action: monitor`)",
        ));
    };
    let mut recurring = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let field = |name: &str| format!("recurring[{i}].{name}");
        if !entry.data.is_mapping() {
            return Err(r.wrong_type(
                entry,
                format!("recurring[{i}]"),
                "a mapping with an `action` and a `period`",
            ));
        }
        let node = get(entry, "action").ok_or_else(|| r.missing(entry, field("action")))?;
        let action = text(node).ok_or_else(|| r.wrong_type(node, field("action"), "a string"))?;
        let node = get(entry, "period").ok_or_else(|| r.missing(entry, field("period")))?;
        let period_text = text(node)
            .ok_or_else(|| r.wrong_type(node, field("period"), "a duration such as `30s`"))?;
        let period =
            parse_duration(&period_text).map_err(|source| ConfigYamlError::BadDuration {
                at: r.at(node),
                field: field("period"),
                text: period_text.clone(),
                source,
            })?;
        recurring.push(RecurringAction {
            action,
            period,
            log: get(entry, "log").and_then(boolean).unwrap_or(true),
            at: r.at(entry),
        });
    }
    Ok(recurring)
}

/// Writes `recurring:`, with `recurring: []` when there is none.
pub(super) fn write(out: &mut String, recurring: &[RecurringAction]) {
    if recurring.is_empty() {
        out.push_str("recurring: []\n");
        return;
    }
    out.push_str("recurring:\n");
    for r in recurring {
        out.push_str(&format!("  - action: {}\n", quote(&r.action)));
        out.push_str(&format!(
            "    period: {}\n",
            quote(&format_duration(r.period))
        ));
        out.push_str(&format!("    log: {}\n", r.log));
    }
}
