//! Blueprint text → located blocks, in file order.
//!
//! Top-level keys are `actor__instance` service blocks, `actions:` (a list of
//! `{action, actor, service, recurring, force}`) and `eventfilters:` (a list of
//! `{actor, service, channel, cmd, secret, action, tags}`). The YAML parser keeps the line of
//! every node, and rejects duplicate keys in one mapping.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, ScanError, YamlData};

use super::duplicate_key;
use crate::error::{BlueprintError, Location};
use crate::ids::{ActionName, ActorName, InstanceName};
use crate::service::EventFilter;
use crate::template::parse_duration;

/// A YAML value with the line of every node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Yv {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<(Yv, usize)>),
    Map,
}

impl Yv {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Yv::Null => "null",
            Yv::Bool(_) => "a boolean",
            Yv::Int(_) => "an integer",
            Yv::Float(_) => "a float",
            Yv::Str(_) => "a string",
            Yv::List(_) => "a list",
            Yv::Map => "a mapping",
        }
    }

    /// The text of a scalar.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match self {
            Yv::Bool(b) => Some(b.to_string()),
            Yv::Int(i) => Some(i.to_string()),
            Yv::Float(f) => Some(f.to_string()),
            Yv::Str(s) => Some(s.clone()),
            Yv::Null | Yv::List(_) | Yv::Map => None,
        }
    }
}

/// One attribute of a service block.
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    pub(crate) name: String,
    pub(crate) value: Yv,
    pub(crate) line: usize,
}

/// An `actor__instance:` block.
#[derive(Debug, Clone)]
pub(crate) struct ServiceBlock {
    pub(crate) at: Location,
    pub(crate) key: String,
    pub(crate) actor: ActorName,
    pub(crate) instance: InstanceName,
    pub(crate) attrs: Vec<Attr>,
}

/// One entry of `actions:`.
#[derive(Debug, Clone)]
pub(crate) struct ActionEntry {
    pub(crate) at: Location,
    pub(crate) actions: Vec<ActionName>,
    pub(crate) actor: Option<String>,
    pub(crate) service: Option<String>,
    pub(crate) recurring: Option<u32>,
    pub(crate) force: bool,
}

/// One entry of `eventfilters:`.
#[derive(Debug, Clone)]
pub(crate) struct FilterEntry {
    pub(crate) at: Location,
    pub(crate) actor: Option<String>,
    pub(crate) service: Option<String>,
    pub(crate) filter: EventFilter,
}

/// Every block of the blueprints being applied, in order.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) services: Vec<ServiceBlock>,
    pub(crate) actions: Vec<ActionEntry>,
    pub(crate) filters: Vec<FilterEntry>,
}

fn line(n: &MarkedYaml<'_>) -> usize {
    n.span.start.line()
}

fn value(n: &MarkedYaml<'_>) -> Yv {
    match &n.data {
        YamlData::Value(s) => match s {
            Scalar::Null => Yv::Null,
            Scalar::Boolean(b) => Yv::Bool(*b),
            Scalar::Integer(i) => Yv::Int(*i),
            Scalar::FloatingPoint(f) => Yv::Float(f.into_inner()),
            Scalar::String(s) => Yv::Str(s.to_string()),
        },
        YamlData::Representation(s, _, _) => Yv::Str(s.to_string()),
        YamlData::Sequence(items) => Yv::List(items.iter().map(|i| (value(i), line(i))).collect()),
        YamlData::Tagged(_, inner) => value(inner),
        YamlData::Mapping(_) => Yv::Map,
        YamlData::Alias(_) | YamlData::BadValue => Yv::Null,
    }
}

fn key_text(n: &MarkedYaml<'_>) -> Option<String> {
    value(n).scalar_text()
}

/// Parses one blueprint file into `out`.
/// The deepest nesting of sequences and mappings a blueprint may have. Blueprints nest a few
/// levels; deeper nesting (ten thousand `- `) would overflow the stack of the YAML loader.
const MAX_DEPTH: usize = 64;

pub(crate) fn parse(file: &str, text: &str, out: &mut Parsed) -> Result<(), BlueprintError> {
    if let Some((line, _)) = ays_hrd::yaml_nesting_beyond(text, MAX_DEPTH) {
        return Err(BlueprintError::TooDeep {
            at: Location::new(file, line),
            limit: MAX_DEPTH,
        });
    }
    let docs = MarkedYaml::load_from_str(text).map_err(|e| load_error(file, text, &e))?;
    // Every document of a multi-document file (`---`) is part of the blueprint, applied with
    // the others as one unit.
    for doc in &docs {
        let map = match &doc.data {
            YamlData::Mapping(m) => m,
            YamlData::Value(Scalar::Null) => continue,
            _ => {
                return Err(BlueprintError::Malformed {
                    at: Location::new(file, line(doc)),
                    key: "(top level)".to_owned(),
                    reason: "a blueprint is a mapping of `actor__instance` blocks".to_owned(),
                });
            }
        };
        for (k, v) in map {
            let key = key_text(k).unwrap_or_default();
            match key.as_str() {
                "actions" => parse_actions(file, &key, v, out)?,
                "eventfilters" => parse_filters(file, &key, v, out)?,
                _ => {
                    let at = Location::new(file, line(k));
                    out.services.push(parse_service(at, key, v)?);
                }
            }
        }
    }
    Ok(())
}

/// The error for text the YAML parser rejects. For a key held twice by one mapping, the
/// parser gives only a position; the key and both of its lines are found by
/// [`duplicate_key::find`].
fn load_error(file: &str, text: &str, e: &ScanError) -> BlueprintError {
    // At the end of a text without a final line break the parser counts one line more. Line
    // breaks as YAML counts them: CR LF, LF or CR.
    let breaks = text
        .matches(['\n', '\r'])
        .count()
        .saturating_sub(text.matches("\r\n").count());
    let lines = breaks + 1;
    let at = Location::new(file, e.marker().line().min(lines));
    if e.info().contains("duplicated key")
        && let Some(found) = duplicate_key::find(text)
    {
        return BlueprintError::Duplicate {
            at: Location::new(file, found.line),
            key: found.key,
            first: Location::new(file, found.first_line),
        };
    }
    BlueprintError::Syntax {
        at,
        reason: e.info().to_owned(),
    }
}

/// An `actor__instance:` block whose key `key` is at `at`, and its attributes `v`.
fn parse_service(
    at: Location,
    key: String,
    v: &MarkedYaml<'_>,
) -> Result<ServiceBlock, BlueprintError> {
    let malformed = |reason: String| BlueprintError::Malformed {
        at: at.clone(),
        key: key.clone(),
        reason,
    };
    let (actor, instance) = key.split_once("__").ok_or_else(|| {
        malformed("expected `actor__instance`, `actions` or `eventfilters`".to_owned())
    })?;
    let actor: ActorName = actor
        .parse()
        .map_err(|e: crate::ids::NameError| malformed(e.to_string()))?;
    let instance: InstanceName = instance
        .parse()
        .map_err(|e: crate::ids::NameError| malformed(e.to_string()))?;
    let mut attrs = Vec::new();
    match &v.data {
        YamlData::Mapping(m) => {
            for (ak, av) in m {
                let name = key_text(ak).ok_or_else(|| {
                    malformed(format!("attribute at line {} is not a name", line(ak)))
                })?;
                attrs.push(Attr {
                    name,
                    value: value(av),
                    line: line(av).max(line(ak)),
                });
            }
        }
        YamlData::Value(Scalar::Null) => {}
        _ => return Err(malformed("the attributes must be a mapping".to_owned())),
    }
    Ok(ServiceBlock {
        at,
        key,
        actor,
        instance,
        attrs,
    })
}

/// The entries of a list section: each with its location and its `(key, value node)` pairs.
type Entries<'a, 'i> = Vec<(Location, Vec<(String, &'a MarkedYaml<'i>)>)>;

fn entries<'a, 'i>(
    file: &str,
    key: &str,
    v: &'a MarkedYaml<'i>,
) -> Result<Entries<'a, 'i>, BlueprintError> {
    let items = match &v.data {
        YamlData::Sequence(items) => items,
        YamlData::Value(Scalar::Null) => return Ok(Vec::new()),
        _ => {
            return Err(BlueprintError::Malformed {
                at: Location::new(file, line(v)),
                key: key.to_owned(),
                reason: "must be a list".to_owned(),
            });
        }
    };
    let mut out = Vec::new();
    for item in items {
        let at = Location::new(file, line(item));
        let YamlData::Mapping(m) = &item.data else {
            return Err(BlueprintError::Malformed {
                at,
                key: key.to_owned(),
                reason: "every entry must be a mapping".to_owned(),
            });
        };
        let fields = m
            .iter()
            .map(|(k, v)| (key_text(k).unwrap_or_default(), v))
            .collect();
        out.push((at, fields));
    }
    Ok(out)
}

fn text_of(v: &MarkedYaml<'_>) -> Option<String> {
    value(v).scalar_text()
}

fn parse_actions(
    file: &str,
    key: &str,
    v: &MarkedYaml<'_>,
    out: &mut Parsed,
) -> Result<(), BlueprintError> {
    for (at, fields) in entries(file, key, v)? {
        let bad = |reason: String| BlueprintError::Malformed {
            at: at.clone(),
            key: key.to_owned(),
            reason,
        };
        let mut entry = ActionEntry {
            at: at.clone(),
            actions: Vec::new(),
            actor: None,
            service: None,
            recurring: None,
            force: false,
        };
        for (name, value_node) in fields {
            let text = text_of(value_node);
            match name.as_str() {
                "action" => {
                    for a in text
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                    {
                        entry.actions.push(
                            a.parse()
                                .map_err(|e: crate::ids::NameError| bad(e.to_string()))?,
                        );
                    }
                }
                "actor" => entry.actor = text,
                "service" => entry.service = text,
                "recurring" => {
                    let t = text.unwrap_or_default();
                    entry.recurring =
                        Some(parse_duration(&t).ok_or_else(|| bad(format!("bad period `{t}`")))?);
                }
                "force" => {
                    entry.force = match value(value_node) {
                        Yv::Bool(b) => b,
                        other => {
                            return Err(bad(format!(
                                "`force` must be true or false, not {}",
                                other.kind()
                            )));
                        }
                    };
                }
                other => {
                    return Err(bad(format!(
                        "unknown key `{other}` (expected action, actor, service, recurring, force)"
                    )));
                }
            }
        }
        if entry.actions.is_empty() {
            return Err(bad("an entry needs `action`".to_owned()));
        }
        out.actions.push(entry);
    }
    Ok(())
}

fn parse_filters(
    file: &str,
    key: &str,
    v: &MarkedYaml<'_>,
    out: &mut Parsed,
) -> Result<(), BlueprintError> {
    for (at, fields) in entries(file, key, v)? {
        let mut entry = FilterEntry {
            at: at.clone(),
            actor: None,
            service: None,
            filter: EventFilter::default(),
        };
        for (name, value_node) in fields {
            let text = text_of(value_node).unwrap_or_default();
            match name.as_str() {
                "actor" => entry.actor = Some(text),
                "service" => entry.service = Some(text),
                "channel" => entry.filter.channel = text,
                "cmd" | "command" => entry.filter.command = text,
                "secret" => entry.filter.secret = text,
                "action" => entry.filter.action = text,
                "tags" => {
                    entry.filter.tags = match value(value_node) {
                        Yv::List(items) => items
                            .into_iter()
                            .filter_map(|(v, _)| v.scalar_text())
                            .collect(),
                        other => other.scalar_text().into_iter().collect(),
                    };
                }
                other => {
                    return Err(BlueprintError::Malformed {
                        at: at.clone(),
                        key: key.to_owned(),
                        reason: format!(
                            "unknown key `{other}` (expected actor, service, channel, cmd, secret, action, tags)"
                        ),
                    });
                }
            }
        }
        out.filters.push(entry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_order_and_lines() {
        let text = "b__x:\n  attr: 1\na__y:\n  list: [a, b]\nactions:\n  - action: 'install, test'\n    actor: a\n";
        let mut p = Parsed::default();
        parse("bp.yaml", text, &mut p).unwrap();
        let keys: Vec<_> = p
            .services
            .iter()
            .map(|s| (s.key.as_str(), s.at.line))
            .collect();
        assert_eq!(keys, [("b__x", 1), ("a__y", 3)]);
        assert_eq!(p.services[0].attrs[0].value, Yv::Int(1));
        assert_eq!(p.services[0].attrs[0].line, 2);
        assert_eq!(p.actions[0].actions.len(), 2);
        assert_eq!(p.actions[0].actor.as_deref(), Some("a"));
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "[a-z_:\\-\\[\\]{}, '\"\n]{0,80}") {
            let _outcome = parse("bp.yaml", &text, &mut Parsed::default());
        }
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let text = "a__x:\n  v: 1\na__x:\n  v: 2\n";
        let err = parse("bp.yaml", text, &mut Parsed::default()).unwrap_err();
        match err {
            BlueprintError::Duplicate { at, key, first } => {
                assert_eq!((at.line, key.as_str(), first.line), (3, "a__x", 1));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn duplicate_attributes_name_the_earlier_key_of_their_own_mapping() {
        let text = "a__x:\n  v: 1\na__y:\n  'v': 1\n  \"v\": 2\n";
        let err = parse("bp.yaml", text, &mut Parsed::default()).unwrap_err();
        match err {
            BlueprintError::Duplicate { at, key, first } => {
                // The earlier `v` of the same mapping, not the `v` of `a__x`.
                assert_eq!((at.line, key.as_str(), first.line), (5, "v", 4));
                assert_eq!(
                    (at.file.as_str(), first.file.as_str()),
                    ("bp.yaml", "bp.yaml")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
