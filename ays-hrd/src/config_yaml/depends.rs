//! `depends:`: the actions each action requires on the same service.

use std::collections::BTreeMap;

use super::yaml::{Node, Reader, get, items, key, pairs, quote, text};
use crate::error::ConfigYamlError;
use crate::location::Located;

/// Reads `depends`, a mapping from an action to a list of actions (`test: [install]`) or a
/// comma-separated string (`test: install, start`); one that is not a mapping is ignored, and
/// so are list items that are not strings. Any other value requires nothing.
pub(super) fn read(
    r: &Reader<'_>,
    doc: &Node<'_>,
) -> Result<BTreeMap<String, Vec<Located<String>>>, ConfigYamlError> {
    let mut depends = BTreeMap::new();
    let Some(entries) = get(doc, "depends").and_then(pairs) else {
        return Ok(depends);
    };
    for (k, v) in entries {
        let action = text(k).ok_or_else(|| r.wrong_type(k, "depends", "action names as keys"))?;
        let required: Vec<Located<String>> = match (items(v), text(v)) {
            (Some(list), _) => list
                .iter()
                .filter_map(|item| {
                    Some(Located {
                        value: text(item)?,
                        at: r.at(item),
                    })
                })
                .collect(),
            (None, Some(names)) => split_names(&names)
                .map(|name| Located {
                    value: name.to_owned(),
                    at: r.at(v),
                })
                .collect(),
            (None, None) => Vec::new(),
        };
        depends.insert(action, required);
    }
    Ok(depends)
}

/// The names of a comma-separated list, trimmed, without empty ones.
fn split_names(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Writes `depends:` when it holds something, each list in flow style.
pub(super) fn write(out: &mut String, depends: &BTreeMap<String, Vec<Located<String>>>) {
    if depends.is_empty() {
        return;
    }
    out.push_str("depends:\n");
    for (action, required) in depends {
        let names: Vec<String> = required.iter().map(|r| quote(&r.value)).collect();
        out.push_str(&format!("  {}: [{}]\n", key(action), names.join(", ")));
    }
}
