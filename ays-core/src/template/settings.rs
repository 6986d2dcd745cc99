//! Action settings and relations from `config.yaml` (8.2 layout, read by
//! [`ays_hrd::ConfigYaml`]) and `actor.hrd` (8.1 layout).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::{ConsumeSpec, ParentSpec, field_name};
use crate::error::{Location, TemplateError};
use crate::service::EventFilter;

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
    /// The actions each action requires, replacing its default ones.
    pub(crate) depends: BTreeMap<String, Vec<Required>>,
    pub(crate) parent: Option<ParentSpec>,
    pub(crate) consumes: Vec<ConsumeSpec>,
    /// `events`: each filter with where its entry is, checked against the actions when they
    /// are assembled.
    pub(crate) events: Vec<(EventFilter, Location)>,
}

/// An action named in `depends`, with where it was named (checked when the actions are
/// assembled: only the depends of existing actions are).
#[derive(Debug, Clone)]
pub(crate) struct Required {
    pub(crate) name: String,
    pub(crate) at: Location,
}

impl Required {
    /// Each of `names`, named at `at`.
    fn all_at(names: impl IntoIterator<Item = String>, at: &Location) -> Vec<Required> {
        names
            .into_iter()
            .map(|name| Required {
                name,
                at: at.clone(),
            })
            .collect()
    }
}

impl Settings {
    /// Adds the dependencies that 8.1's `init_actions_` returns (on `line` of `file`) for the
    /// actions that `config.yaml` and `actor.hrd` give none: their `depends` win.
    pub(crate) fn init_actions(
        &mut self,
        file: &std::path::Path,
        line: usize,
        depends: BTreeMap<String, Vec<String>>,
    ) {
        let at = Location::new(file.display().to_string(), line);
        for (action, names) in depends {
            self.depends
                .entry(action)
                .or_insert_with(|| Required::all_at(names, &at));
        }
    }
}

/// Whole seconds of a duration such as `30s`, `5m`, `1h30m` or `12` ([`ays_hrd::parse_duration`]),
/// when they fit `u32`.
pub(crate) fn parse_duration(text: &str) -> Option<u32> {
    let duration = ays_hrd::parse_duration(text).ok()?;
    u32::try_from(duration.as_secs()).ok()
}

/// Takes the relations and settings of a `config.yaml` read by [`ays_hrd::ConfigYaml`]: roles are
/// cut at their first `.`, `argname`s sanitised into field names, and durations must fit `u32`
/// seconds.
pub(crate) fn apply_config_yaml(
    t: &str,
    config: &ays_hrd::ConfigYaml,
    s: &mut Settings,
) -> Result<(), TemplateError> {
    if let Some(p) = &config.parent {
        s.parent = Some(ParentSpec {
            role: cut_role(&p.role),
            arg_key: p.arg_name.clone(),
            arg_name: field_name(&p.arg_name),
            auto: p.auto,
            optional: p.optional,
        });
    }
    for c in &config.consumes {
        s.consumes.push(ConsumeSpec {
            role: cut_role(&c.role),
            arg_key: c.arg_name.clone(),
            arg_name: field_name(&c.arg_name),
            min: c.min,
            max: c.max,
            auto: c.auto,
        });
    }
    for r in &config.recurring {
        let what = format!("the period of recurring `{}`", r.action);
        let period = seconds(t, &r.at, &what, r.period)?;
        s.recurring.insert(r.action.clone(), (period, r.log));
    }
    if let Some(n) = config.concurrency {
        s.concurrency = Some(n.get());
    }
    for (section, from, to) in [
        ("timeouts", &config.timeouts, &mut s.timeouts),
        ("retry_delay", &config.retry_delays, &mut s.retry_delays),
        (
            "retry_max_delay",
            &config.retry_max_delays,
            &mut s.retry_max_delays,
        ),
    ] {
        for (action, d) in from {
            let what = format!("`{section}` of `{action}`");
            to.insert(action.clone(), seconds(t, &d.at, &what, d.value)?);
        }
    }
    for (action, n) in &config.retries {
        s.retries.insert(action.clone(), n.value);
    }
    for e in &config.events {
        let filter = EventFilter {
            channel: e.channel.clone(),
            command: e.command.clone(),
            action: e.action.clone(),
            secret: e.secret.clone(),
            tags: e.tags.clone(),
        };
        s.events.push((filter, line_of(&e.at)));
    }
    for (action, names) in &config.depends {
        let required = names
            .iter()
            .map(|n| Required {
                name: n.value.clone(),
                at: line_of(&n.at),
            })
            .collect();
        s.depends.insert(action.clone(), required);
    }
    Ok(())
}

/// A duration in whole seconds, which the template's records hold as `u32`.
fn seconds(
    t: &str,
    at: &ays_hrd::Location,
    what: &str,
    duration: Duration,
) -> Result<u32, TemplateError> {
    let secs = duration.as_secs();
    u32::try_from(secs)
        .ok()
        .ok_or_else(|| TemplateError::Malformed {
            at: line_of(at),
            template: t.to_owned(),
            reason: format!("{what} is {secs} seconds, more than {}", u32::MAX),
        })
}

/// A location of ays-hrd (`file:line:col`) as ays-core's `file:line`.
fn line_of(at: &ays_hrd::Location) -> Location {
    Location::new(
        at.file.to_string(),
        usize::try_from(at.line).unwrap_or(usize::MAX),
    )
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
                    let names = match &entry.value {
                        ays_hrd::Value::List(items) => {
                            items.iter().filter_map(ays_hrd::Value::to_text).collect()
                        }
                        _ => split_names(&text),
                    };
                    let required = Required::all_at(names, &line_of(&entry.at));
                    s.depends.insert(action.to_owned(), required);
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
