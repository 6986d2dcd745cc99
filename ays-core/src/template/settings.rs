//! Action settings and relations from `config.yaml` (8.2 layout) and `actor.hrd` (8.1 layout).

use std::collections::BTreeMap;
use std::path::Path;

use super::{ConsumeSpec, ParentSpec, field_name};
use crate::error::{Location, TemplateError};

/// Action settings gathered from `config.yaml` or `actor.hrd`.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    pub(crate) recurring: BTreeMap<String, (u32, bool)>,
    pub(crate) timeouts: BTreeMap<String, u32>,
    pub(crate) retries: BTreeMap<String, u32>,
    /// Seconds before the first retry, by action.
    pub(crate) retry_delays: BTreeMap<String, u32>,
    /// Longest wait between retries in seconds, by action.
    pub(crate) retry_max_delays: BTreeMap<String, u32>,
    /// At most this many jobs of the actor at once.
    pub(crate) concurrency: Option<u32>,
    pub(crate) depends: BTreeMap<String, Vec<String>>,
    pub(crate) parent: Option<ParentSpec>,
    pub(crate) consumes: Vec<ConsumeSpec>,
}

/// Whole seconds of a duration such as `30s`, `5m`, `1h30m` or `12` ([`ays_hrd::parse_duration`]),
/// when they fit `u32`.
pub(crate) fn parse_duration(text: &str) -> Option<u32> {
    let duration = ays_hrd::parse_duration(text).ok()?;
    u32::try_from(duration.as_secs()).ok()
}

pub(crate) fn parse_config_yaml(
    t: &str,
    path: &Path,
    text: &str,
    s: &mut Settings,
) -> Result<(), TemplateError> {
    use saphyr::{LoadableYamlNode, Yaml};
    let file = path.display().to_string();
    let bad = |reason: String| TemplateError::Malformed {
        at: Location::new(file.clone(), 0),
        template: t.to_owned(),
        reason,
    };
    let docs = Yaml::load_from_str(text).map_err(|e| TemplateError::Malformed {
        at: Location::new(file.clone(), e.marker().line()),
        template: t.to_owned(),
        reason: e.info().to_owned(),
    })?;
    let Some(doc) = docs.first() else {
        return Ok(());
    };
    let str_of = |y: &Yaml<'_>| -> Option<String> {
        match y {
            Yaml::Value(v) => v
                .as_str()
                .map(str::to_owned)
                .or_else(|| v.as_integer().map(|i| i.to_string())),
            _ => None,
        }
    };
    let get = |y: &'_ Yaml<'_>, k: &str| -> Option<Yaml<'static>> {
        y.as_mapping().and_then(|m| {
            m.iter()
                .find(|(key, _)| key.as_str() == Some(k))
                .map(|(_, v)| v.clone().into_owned_static())
        })
    };
    let bool_of = |y: Option<Yaml<'_>>| y.and_then(|v| v.as_bool()).unwrap_or(false);
    let count = |y: Option<Yaml<'_>>, d: u32, what: &str| -> Result<u32, TemplateError> {
        match y {
            None => Ok(d),
            Some(v) => v
                .as_integer()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| bad(format!("`{what}` must be a count"))),
        }
    };
    if let Some(links) = get(doc, "links") {
        if let Some(p) = get(&links, "parent").filter(|p| p.is_mapping()) {
            let role = get(&p, "role")
                .as_ref()
                .and_then(str_of)
                .ok_or_else(|| bad("links.parent needs a `role`".to_owned()))?;
            let arg = get(&p, "argname")
                .as_ref()
                .and_then(str_of)
                .unwrap_or_else(|| role.clone());
            s.parent = Some(ParentSpec {
                role: cut_role(&role),
                arg_key: arg.clone(),
                arg_name: field_name(&arg),
                auto: bool_of(get(&p, "auto")),
                optional: bool_of(get(&p, "optional")),
            });
        }
        if let Some(list) = get(&links, "consume") {
            for c in list.as_vec().into_iter().flatten() {
                let role = get(c, "role")
                    .as_ref()
                    .and_then(str_of)
                    .ok_or_else(|| bad("links.consume entries need a `role`".to_owned()))?;
                let arg = get(c, "argname")
                    .as_ref()
                    .and_then(str_of)
                    .unwrap_or_else(|| role.clone());
                let min = count(get(c, "min"), 0, "min")?;
                let max = count(get(c, "max"), 100, "max")?;
                s.consumes.push(ConsumeSpec {
                    role: cut_role(&role),
                    arg_key: arg.clone(),
                    arg_name: field_name(&arg),
                    min,
                    max,
                    auto: bool_of(get(c, "auto")),
                });
            }
        }
    }
    if let Some(list) = get(doc, "recurring") {
        for r in list.as_vec().into_iter().flatten() {
            let action = get(r, "action")
                .as_ref()
                .and_then(str_of)
                .ok_or_else(|| bad("recurring entries need an `action`".to_owned()))?;
            let period_text = get(r, "period")
                .as_ref()
                .and_then(str_of)
                .unwrap_or_default();
            let period = parse_duration(&period_text)
                .ok_or_else(|| bad(format!("recurring `{action}`: bad period `{period_text}`")))?;
            let log = get(r, "log").and_then(|v| v.as_bool()).unwrap_or(true);
            s.recurring.insert(action, (period, log));
        }
    }
    if let Some(y) = get(doc, "concurrency") {
        s.concurrency = Some(
            count(Some(y), 0, "concurrency")
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("`concurrency` must be a count of at least 1".to_owned()))?,
        );
    }
    for section in ["timeouts", "retries", "retry_delay", "retry_max_delay"] {
        let seconds = section != "retries";
        let Some(y) = get(doc, section) else { continue };
        // Either a mapping or 8.2's list of one-entry mappings.
        let mut pairs: Vec<(Yaml<'static>, Yaml<'static>)> = Vec::new();
        let items: Vec<Yaml<'static>> = match &y {
            Yaml::Sequence(items) => items
                .iter()
                .map(|i| i.clone().into_owned_static())
                .collect(),
            other => vec![other.clone()],
        };
        for item in items {
            if let Some(m) = item.as_mapping() {
                for (k, v) in m {
                    pairs.push((k.clone().into_owned_static(), v.clone().into_owned_static()));
                }
            }
        }
        for (k, v) in pairs {
            let action =
                str_of(&k).ok_or_else(|| bad(format!("`{section}` keys are action names")))?;
            let text = str_of(&v).unwrap_or_default();
            let n = if seconds {
                parse_duration(&text)
            } else {
                text.parse().ok()
            }
            .ok_or_else(|| bad(format!("{section} of `{action}`: bad value `{text}`")))?;
            let map = match section {
                "timeouts" => &mut s.timeouts,
                "retries" => &mut s.retries,
                "retry_delay" => &mut s.retry_delays,
                _ => &mut s.retry_max_delays,
            };
            map.insert(action, n);
        }
    }
    if let Some(m) = get(doc, "depends") {
        for (k, v) in m.as_mapping().into_iter().flatten() {
            let action =
                str_of(k).ok_or_else(|| bad("`depends` keys are action names".to_owned()))?;
            let list: Vec<String> = match v {
                Yaml::Sequence(items) => items.iter().filter_map(str_of).collect(),
                other => str_of(other).map(|s| split_names(&s)).unwrap_or_default(),
            };
            s.depends.insert(action, list);
        }
    }
    Ok(())
}

trait OwnedStatic {
    fn into_owned_static(self) -> saphyr::Yaml<'static>;
}

impl OwnedStatic for saphyr::Yaml<'_> {
    fn into_owned_static(self) -> saphyr::Yaml<'static> {
        use saphyr::{Scalar, Yaml};
        match self {
            Yaml::Value(v) => Yaml::Value(match v {
                Scalar::Null => Scalar::Null,
                Scalar::Boolean(b) => Scalar::Boolean(b),
                Scalar::Integer(i) => Scalar::Integer(i),
                Scalar::FloatingPoint(f) => Scalar::FloatingPoint(f),
                Scalar::String(s) => Scalar::String(std::borrow::Cow::Owned(s.into_owned())),
            }),
            Yaml::Sequence(items) => Yaml::Sequence(
                items
                    .into_iter()
                    .map(OwnedStatic::into_owned_static)
                    .collect(),
            ),
            Yaml::Mapping(m) => Yaml::Mapping(
                m.into_iter()
                    .map(|(k, v)| (k.into_owned_static(), v.into_owned_static()))
                    .collect(),
            ),
            _ => Yaml::Value(Scalar::Null),
        }
    }
}

pub(crate) fn parse_actor_hrd(
    t: &str,
    path: &Path,
    text: &str,
    s: &mut Settings,
) -> Result<(), TemplateError> {
    let file = path.display().to_string();
    let config = ays_hrd::ActorConfig::parse_actor_hrd(text, &file).map_err(|source| {
        TemplateError::Hrd {
            template: t.to_owned(),
            source: Box::new(source),
        }
    })?;
    for r in config.recurring() {
        let period = u32::try_from(r.period.as_secs()).unwrap_or(u32::MAX);
        s.recurring.insert(r.action.clone(), (period, r.log));
    }
    if let Some(entry) = config.document().entry("concurrency") {
        let text = entry.value.to_text().unwrap_or_default();
        let n = text.trim().parse::<u32>().ok().filter(|n| *n > 0);
        s.concurrency = Some(n.ok_or_else(|| TemplateError::Malformed {
            at: Location::new(file.clone(), usize::try_from(entry.at.line).unwrap_or(0)),
            template: t.to_owned(),
            reason: format!("`concurrency` must be a count of at least 1, not `{text}`"),
        })?);
    }
    for (prefix, which) in [
        ("timeout", 0),
        ("retries", 1),
        ("depends", 2),
        ("retry_delay", 3),
        ("retry_max_delay", 4),
    ] {
        for (action, entry) in config.document().with_prefix(prefix) {
            let text = entry.value.to_text().unwrap_or_default();
            let bad = || TemplateError::Malformed {
                at: Location::new(file.clone(), usize::try_from(entry.at.line).unwrap_or(0)),
                template: t.to_owned(),
                reason: format!("`{}`: bad value `{text}`", entry.key),
            };
            match which {
                0 => {
                    s.timeouts
                        .insert(action.to_owned(), parse_duration(&text).ok_or_else(bad)?);
                }
                1 => {
                    s.retries
                        .insert(action.to_owned(), text.trim().parse().map_err(|_| bad())?);
                }
                3 => {
                    s.retry_delays
                        .insert(action.to_owned(), parse_duration(&text).ok_or_else(bad)?);
                }
                4 => {
                    s.retry_max_delays
                        .insert(action.to_owned(), parse_duration(&text).ok_or_else(bad)?);
                }
                _ => {
                    let list = match &entry.value {
                        ays_hrd::Value::List(items) => {
                            items.iter().filter_map(ays_hrd::Value::to_text).collect()
                        }
                        _ => split_names(&text),
                    };
                    s.depends.insert(action.to_owned(), list);
                }
            }
        }
    }
    Ok(())
}

fn split_names(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn cut_role(role: &str) -> String {
    role.split('.').next().unwrap_or(role).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_8_1() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("12"), Some(12));
        assert_eq!(parse_duration("x"), None);
    }
}
