//! `recurring:`: the actions that run periodically, each with its `period` and `log` flag.

use super::yaml::{Node, Reader, boolean, get, items, quote, text};
use crate::actor_config::RecurringAction;
use crate::duration::{format_duration, parse_duration};
use crate::error::ConfigYamlError;

/// Reads `recurring`; one that is not a list is ignored. `log` defaults to `true`.
pub(super) fn read(
    r: &Reader<'_>,
    doc: &Node<'_>,
) -> Result<Vec<RecurringAction>, ConfigYamlError> {
    let Some(list) = get(doc, "recurring").and_then(items) else {
        return Ok(Vec::new());
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
