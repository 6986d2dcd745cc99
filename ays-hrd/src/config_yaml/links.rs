//! `links:`: the parent relation (`links.parent`) and the consumed roles (`links.consume`).

use super::yaml::{Node, Reader, boolean, get, integer, items, quote, text};
use super::{ConsumeLink, ParentLink};
use crate::error::ConfigYamlError;

/// The default `min` of a consumed role.
const DEFAULT_MIN: u32 = 0;
/// The default `max` of a consumed role.
const DEFAULT_MAX: u32 = 100;

/// Reads `links.parent`; one that is not a mapping is ignored.
pub(super) fn read_parent(
    r: &Reader<'_>,
    doc: &Node<'_>,
) -> Result<Option<ParentLink>, ConfigYamlError> {
    let Some(parent) = get(doc, "links")
        .and_then(|links| get(links, "parent"))
        .filter(|p| p.data.is_mapping())
    else {
        return Ok(None);
    };
    let (role, arg_name) = role_and_arg_name(r, parent, "links.parent")?;
    Ok(Some(ParentLink {
        role,
        arg_name,
        auto: flag(parent, "auto"),
        optional: flag(parent, "optional"),
        at: r.at(parent),
    }))
}

/// Reads `links.consume`; one that is not a list is ignored.
pub(super) fn read_consumes(
    r: &Reader<'_>,
    doc: &Node<'_>,
) -> Result<Vec<ConsumeLink>, ConfigYamlError> {
    let Some(list) = get(doc, "links")
        .and_then(|links| get(links, "consume"))
        .and_then(items)
    else {
        return Ok(Vec::new());
    };
    let mut consumes = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let field = format!("links.consume[{i}]");
        if !entry.data.is_mapping() {
            return Err(r.wrong_type(entry, field, "a mapping with a `role`"));
        }
        let (role, arg_name) = role_and_arg_name(r, entry, &field)?;
        consumes.push(ConsumeLink {
            role,
            arg_name,
            auto: flag(entry, "auto"),
            min: count(r, entry, &field, "min", DEFAULT_MIN)?,
            max: count(r, entry, &field, "max", DEFAULT_MAX)?,
            at: r.at(entry),
        });
    }
    Ok(consumes)
}

/// The required `role` of a link, and its `argname` (the role when absent or not a string).
fn role_and_arg_name(
    r: &Reader<'_>,
    link: &Node<'_>,
    field: &str,
) -> Result<(String, String), ConfigYamlError> {
    let node = get(link, "role").ok_or_else(|| r.missing(link, format!("{field}.role")))?;
    let role = text(node).ok_or_else(|| r.wrong_type(node, format!("{field}.role"), "a string"))?;
    let arg_name = get(link, "argname")
        .and_then(text)
        .unwrap_or_else(|| role.clone());
    Ok((role, arg_name))
}

/// A boolean flag, `false` when absent or not a boolean.
fn flag(link: &Node<'_>, name: &str) -> bool {
    get(link, name).and_then(boolean).unwrap_or(false)
}

/// `min` or `max`: an integer that fits `u32`, or `default` when absent.
fn count(
    r: &Reader<'_>,
    link: &Node<'_>,
    field: &str,
    name: &str,
    default: u32,
) -> Result<u32, ConfigYamlError> {
    let Some(node) = get(link, name) else {
        return Ok(default);
    };
    integer(node)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| r.wrong_type(node, format!("{field}.{name}"), "a count"))
}

/// Writes `links:`, with `consume: []` when nothing is consumed.
pub(super) fn write(out: &mut String, parent: Option<&ParentLink>, consumes: &[ConsumeLink]) {
    out.push_str("links:\n");
    if let Some(p) = parent {
        out.push_str("  parent:\n");
        out.push_str(&format!("    role: {}\n", quote(&p.role)));
        out.push_str(&format!("    argname: {}\n", quote(&p.arg_name)));
        out.push_str(&format!("    auto: {}\n", p.auto));
        out.push_str(&format!("    optional: {}\n", p.optional));
    }
    if consumes.is_empty() {
        out.push_str("  consume: []\n");
        return;
    }
    out.push_str("  consume:\n");
    for c in consumes {
        out.push_str(&format!("    - role: {}\n", quote(&c.role)));
        out.push_str(&format!("      argname: {}\n", quote(&c.arg_name)));
        out.push_str(&format!("      auto: {}\n", c.auto));
        out.push_str(&format!("      min: {}\n", c.min));
        out.push_str(&format!("      max: {}\n", c.max));
    }
}
