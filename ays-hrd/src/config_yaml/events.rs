//! `events:` (AYS 9): the external events that run an action on every service of the actor,
//! each a `command` and an `action`, with optional `tags`, `secret` and `channel`.

use super::EventEntry;
use super::yaml::{Node, Reader, get, items, pairs, quote, text};
use crate::error::ConfigYamlError;

/// What an entry is, for errors.
const ENTRY: &str = "a mapping with a `command` and an `action` (`- command: deploy`)";

/// Reads `events`. An empty or null one is none; any other value that is not a list of
/// mappings is an error, and so is an entry without a non-empty `command` or `action`, or
/// whose `tags` are not strings, or whose `secret` or `channel` is not a string. Other keys of
/// an entry are ignored, as elsewhere in the file.
pub(super) fn read(r: &Reader<'_>, doc: &Node<'_>) -> Result<Vec<EventEntry>, ConfigYamlError> {
    let Some(node) = get(doc, "events") else {
        return Ok(Vec::new());
    };
    let Some(list) = items(node) else {
        let empty = node.data.is_null() || pairs(node).is_some_and(|mut p| p.next().is_none());
        if empty {
            return Ok(Vec::new());
        }
        return Err(r.wrong_type(
            node,
            "events",
            "a list of mappings with a `command` and an `action`",
        ));
    };
    let mut events = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let field = |name: &str| format!("events[{i}].{name}");
        if !entry.data.is_mapping() {
            return Err(r.wrong_type(entry, format!("events[{i}]"), ENTRY));
        }
        let required = |name: &str| -> Result<String, ConfigYamlError> {
            let node = get(entry, name).ok_or_else(|| r.missing(entry, field(name)))?;
            text(node)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| r.wrong_type(node, field(name), "a non-empty string"))
        };
        let command = required("command")?;
        let action = required("action")?;
        let optional = |name: &str| -> Result<String, ConfigYamlError> {
            match get(entry, name) {
                None => Ok(String::new()),
                Some(node) if node.data.is_null() => Ok(String::new()),
                Some(node) => text(node).ok_or_else(|| r.wrong_type(node, field(name), "a string")),
            }
        };
        let secret = optional("secret")?;
        let channel = optional("channel")?;
        let tags = match get(entry, "tags") {
            None => Vec::new(),
            Some(node) if node.data.is_null() => Vec::new(),
            Some(node) => match items(node) {
                Some(tags) => tags
                    .iter()
                    .enumerate()
                    .map(|(j, t)| {
                        text(t).ok_or_else(|| {
                            r.wrong_type(t, format!("events[{i}].tags[{j}]"), "a string")
                        })
                    })
                    .collect::<Result<Vec<String>, ConfigYamlError>>()?,
                None => vec![
                    text(node)
                        .ok_or_else(|| r.wrong_type(node, field("tags"), "a list of strings"))?,
                ],
            },
        };
        events.push(EventEntry {
            command,
            action,
            tags,
            secret,
            channel,
            at: r.at(entry),
        });
    }
    Ok(events)
}

/// Writes `events:` when there are some.
pub(super) fn write(out: &mut String, events: &[EventEntry]) {
    if events.is_empty() {
        return;
    }
    out.push_str("events:\n");
    for e in events {
        out.push_str(&format!("  - command: {}\n", quote(&e.command)));
        out.push_str(&format!("    action: {}\n", quote(&e.action)));
        if !e.tags.is_empty() {
            let tags: Vec<String> = e.tags.iter().map(|t| quote(t)).collect();
            out.push_str(&format!("    tags: [{}]\n", tags.join(", ")));
        }
        if !e.secret.is_empty() {
            out.push_str(&format!("    secret: {}\n", quote(&e.secret)));
        }
        if !e.channel.is_empty() {
            out.push_str(&format!("    channel: {}\n", quote(&e.channel)));
        }
    }
}
