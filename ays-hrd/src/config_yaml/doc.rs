//! `doc:`: the description of each schema field (`doc.property`), documentation only.

use super::PropertyDoc;
use super::yaml::{Node, Reader, get, items, key, pairs, quote, text};

/// Reads `doc.property`: a list of `name: "description"` mappings. AYS never read this section
/// and never rejected it, so entries of another shape are skipped rather than refused.
pub(super) fn read(r: &Reader<'_>, doc: &Node<'_>) -> Vec<PropertyDoc> {
    let Some(list) = get(doc, "doc")
        .and_then(|d| get(d, "property"))
        .and_then(items)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(pairs)
        .flatten()
        .filter_map(|(k, v)| {
            Some(PropertyDoc {
                name: text(k)?,
                description: text(v)?,
                at: r.at(k),
            })
        })
        .collect()
}

/// Writes `doc:`, with `property: []` when there is no field.
pub(super) fn write(out: &mut String, properties: &[PropertyDoc]) {
    out.push_str("doc:\n");
    if properties.is_empty() {
        out.push_str("  property: []\n");
        return;
    }
    out.push_str("  property:\n");
    for p in properties {
        out.push_str(&format!(
            "    - {}: {}\n",
            key(&p.name),
            quote(&p.description)
        ));
    }
}
