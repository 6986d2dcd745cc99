//! What an actor holds that its `Actor` model has no field for (its concurrency, the backoff of
//! its retries, and its `events:` filters), as JSON under `actor-limits/<name>`:
//! `{"concurrency": 1, "retry": {"install": {"delay": 2, "max": 60}}, "events": [{"channel":
//! "", "command": "deploy", "action": "install", "secret": "", "tags": []}]}` (seconds).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::actor::Actor;
use crate::error::CoreError;
use crate::service::EventFilter;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    #[serde(default)]
    concurrency: u32,
    #[serde(default)]
    retry: BTreeMap<String, Backoff>,
    #[serde(default)]
    events: Vec<EventFilter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Backoff {
    #[serde(default)]
    delay: Option<u32>,
    #[serde(default)]
    max: Option<u32>,
}

/// The limits record of `a`; `None` when it has none to store.
pub(crate) fn encode_actor_limits(a: &Actor) -> Option<Vec<u8>> {
    let mut retry = serde_json::Map::new();
    for act in &a.actions {
        let mut backoff = serde_json::Map::new();
        if let Some(d) = act.retry_delay {
            backoff.insert("delay".to_owned(), d.into());
        }
        if let Some(m) = act.retry_max_delay {
            backoff.insert("max".to_owned(), m.into());
        }
        if !backoff.is_empty() {
            retry.insert(act.name.to_string(), backoff.into());
        }
    }
    if a.concurrency == 0 && retry.is_empty() && a.events.is_empty() {
        return None;
    }
    let mut out = serde_json::Map::new();
    if a.concurrency > 0 {
        out.insert("concurrency".to_owned(), a.concurrency.into());
    }
    if !retry.is_empty() {
        out.insert("retry".to_owned(), retry.into());
    }
    if !a.events.is_empty() {
        // Strings only: serialising cannot fail.
        let events = serde_json::to_value(&a.events).unwrap_or_default();
        out.insert("events".to_owned(), events);
    }
    Some(serde_json::Value::Object(out).to_string().into_bytes())
}

/// Sets on `a` the limits stored under `key`.
pub(crate) fn apply_actor_limits(key: &str, bytes: &[u8], a: &mut Actor) -> Result<(), CoreError> {
    let limits: Limits = serde_json::from_slice(bytes).map_err(|e| CoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    a.concurrency = limits.concurrency;
    a.events = limits.events;
    for act in &mut a.actions {
        if let Some(b) = limits.retry.get(act.name.as_str()) {
            act.retry_delay = b.delay;
            act.retry_max_delay = b.max;
        }
    }
    Ok(())
}
