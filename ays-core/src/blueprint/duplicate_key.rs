//! The key that a YAML mapping holds twice, with the lines of both occurrences.
//!
//! saphyr refuses a mapping that holds a key twice, but its error gives only a position: that
//! of the second occurrence for a scalar key, that of the key's end for a `? [complex]` key. It
//! names neither the key nor the first occurrence. Reading them back from the text (the first
//! line that starts with the key) was wrong for flow mappings (`{a: 1, a: 2}`), for `? key`
//! keys and for a key that another mapping holds earlier. So the text is read again as
//! saphyr's events, which carry spans: every open mapping keeps its keys, compared as saphyr
//! compares them (scalars by value, so `v`, `'v'` and `"v"` are one key; tags included;
//! sequences and mappings as keys by their whole content; aliases as the node they name),
//! and the duplicate reported is the first one saphyr meets, when the key's value ends.

use std::collections::HashMap;

use saphyr::{ScalarOwned, Tag};
use saphyr_parser::{Event, Parser, Span};

/// A key that one mapping holds twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DuplicateKey {
    /// The key as written (a scalar's value; `[a, b]` or `{a: 1}` for a complex key).
    pub(crate) key: String,
    /// The 1-based line where the second occurrence starts.
    pub(crate) line: usize,
    /// The 1-based line where the first occurrence starts.
    pub(crate) first_line: usize,
}

/// A node's identity as a mapping key, compared as saphyr compares keys.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    /// A scalar's value; `None` when its tag forces a type it does not parse as.
    Scalar(Option<ScalarOwned>),
    /// A node with a tag outside the YAML core schema.
    Tagged(Tag, Box<Key>),
    Sequence(Vec<Key>),
    Mapping(Vec<(Key, Key)>),
    /// An alias to an anchor not defined before it.
    Bad,
}

/// A finished node: its identity and how it is shown.
#[derive(Debug, Clone)]
struct Node {
    key: Key,
    shown: String,
}

/// A key read, waiting for its value.
#[derive(Debug)]
struct PendingKey {
    node: Node,
    line: usize,
    /// The line of an earlier equal key of the same mapping.
    first_line: Option<usize>,
}

/// A sequence or mapping being read.
#[derive(Debug)]
struct Open {
    anchor: usize,
    tag: Option<Tag>,
    line: usize,
    kind: OpenKind,
}

#[derive(Debug)]
enum OpenKind {
    Sequence(Vec<Node>),
    Mapping {
        entries: Vec<(Node, Node)>,
        /// Every key read so far, with its line.
        keys: Vec<(Key, usize)>,
        pending: Option<PendingKey>,
    },
}

/// The first key that a mapping of `text` holds twice, in the order saphyr reports them, or
/// `None` when no mapping does (or the text is not YAML, which saphyr reports instead).
pub(crate) fn find(text: &str) -> Option<DuplicateKey> {
    let mut reader = Reader::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        if let Some(found) = reader.on_event(event, span) {
            return Some(found);
        }
    }
    None
}

#[derive(Debug, Default)]
struct Reader {
    open: Vec<Open>,
    anchors: HashMap<usize, Node>,
}

impl Reader {
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Option<DuplicateKey> {
        let line = span.start.line();
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.map(|t| t.into_owned());
                let parsed = |tag: Option<&Tag>| {
                    let tag = tag.map(|t| std::borrow::Cow::Owned(t.clone()));
                    ScalarOwned::parse_from_cow_and_metadata(value.clone(), style, tag.as_ref())
                };
                let key = match tag {
                    Some(tag) if !tag.is_yaml_core_schema() => {
                        Key::Tagged(tag, Box::new(Key::Scalar(parsed(None))))
                    }
                    tag => Key::Scalar(parsed(tag.as_ref())),
                };
                let node = Node {
                    key,
                    shown: value.into_owned(),
                };
                self.finish(node, anchor, line)
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    key: Key::Bad,
                    shown: "*".to_owned(),
                });
                self.finish(node, 0, line)
            }
            Event::SequenceStart(anchor, tag) => {
                self.open.push(Open {
                    anchor,
                    tag: tag.map(|t| t.into_owned()),
                    line,
                    kind: OpenKind::Sequence(Vec::new()),
                });
                None
            }
            Event::MappingStart(anchor, tag) => {
                self.open.push(Open {
                    anchor,
                    tag: tag.map(|t| t.into_owned()),
                    line,
                    kind: OpenKind::Mapping {
                        entries: Vec::new(),
                        keys: Vec::new(),
                        pending: None,
                    },
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let open = self.open.pop()?;
                let (key, shown) = match open.kind {
                    OpenKind::Sequence(items) => {
                        let shown: Vec<String> = items.iter().map(|n| n.shown.clone()).collect();
                        let key = Key::Sequence(items.into_iter().map(|n| n.key).collect());
                        (key, format!("[{}]", shown.join(", ")))
                    }
                    OpenKind::Mapping { entries, .. } => {
                        let shown: Vec<String> = entries
                            .iter()
                            .map(|(k, v)| format!("{}: {}", k.shown, v.shown))
                            .collect();
                        let key = Key::Mapping(
                            entries.into_iter().map(|(k, v)| (k.key, v.key)).collect(),
                        );
                        (key, format!("{{{}}}", shown.join(", ")))
                    }
                };
                let key = match open.tag {
                    Some(tag) if !tag.is_yaml_core_schema() => Key::Tagged(tag, Box::new(key)),
                    _ => key,
                };
                self.finish(Node { key, shown }, open.anchor, open.line)
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => None,
        }
    }

    /// Places a finished node, which starts on `line`, in the node that holds it.
    fn finish(&mut self, node: Node, anchor: usize, line: usize) -> Option<DuplicateKey> {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let parent = self.open.last_mut()?;
        match &mut parent.kind {
            OpenKind::Sequence(items) => items.push(node),
            OpenKind::Mapping {
                entries,
                keys,
                pending,
            } => match pending.take() {
                None => {
                    let first_line = keys
                        .iter()
                        .find(|(key, _)| *key == node.key)
                        .map(|&(_, first)| first);
                    *pending = Some(PendingKey {
                        node,
                        line,
                        first_line,
                    });
                }
                Some(key) => {
                    if let Some(first_line) = key.first_line {
                        return Some(DuplicateKey {
                            key: key.node.shown,
                            line: key.line,
                            first_line,
                        });
                    }
                    keys.push((key.node.key.clone(), key.line));
                    entries.push((key.node, node));
                }
            },
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(text: &str) -> Option<(String, usize, usize)> {
        find(text).map(|d| (d.key, d.line, d.first_line))
    }

    #[test]
    fn finds_the_key_and_both_lines() {
        let some = |key: &str, line, first| Some((key.to_owned(), line, first));
        assert_eq!(dup("a: 1\nb: 2\n"), None);
        assert_eq!(dup("a: 1\nb: 2\na: 3\n"), some("a", 3, 1));
        assert_eq!(dup("x: {a: 1,\n  a: 2}\n"), some("a", 2, 1));
        assert_eq!(dup("? a\n: 1\n? b\n: 2\n? a\n: 3\n"), some("a", 5, 1));
        assert_eq!(
            dup("? [a,\n   b]\n: 1\n? [a, b]\n: 2\n"),
            some("[a, b]", 4, 1)
        );
        // Equal by value: quoting does not matter, types and tags do.
        assert_eq!(dup("'v': 1\n\"v\": 2\n"), some("v", 2, 1));
        assert_eq!(dup("1: a\n'1': b\n"), None);
        assert_eq!(dup("!x a: 1\na: 2\n"), None);
        assert_eq!(dup("&k a: 1\n*k : 2\n"), some("a", 2, 1));
        // Keys of other mappings are no duplicates.
        assert_eq!(
            dup("s1:\n  v: 1\ns2:\n  v: 1\n  w: 2\n  v: 3\n"),
            some("v", 6, 4)
        );
    }

    #[test]
    fn reports_the_duplicate_saphyr_meets_first() {
        // saphyr finds a duplicate when the key's value ends: the inner one first.
        assert_eq!(
            dup("a: 1\na: {b: 1,\n  b: 2}\n"),
            Some(("b".to_owned(), 3, 2))
        );
    }
}
