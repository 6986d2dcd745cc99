//! External events (AYS 9's `POST /webhooks/events`, 8.1's `process_event_`): which action of
//! which service an [`Event`] runs, from the services' blueprint `eventfilters` and their
//! actors' `events:` ([`Repository::event_targets`]). Running them is the caller's business.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::actor::Actor;
use crate::error::CoreError;
use crate::ids::{ActionName, ActorName, ServiceKey};
use crate::repo::Repository;
use crate::service::{EventFilter, ServiceFilter};

/// An external event: a command with tags, a secret and the channel it came by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The command (`deploy`).
    pub command: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// The secret it carries (empty: none).
    pub secret: String,
    /// The channel it came by (`webservice`, `telegram`, …; empty: unknown).
    pub channel: String,
}

/// An action of a service that an event runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct EventTarget {
    /// The service.
    pub service: ServiceKey,
    /// The action.
    pub action: ActionName,
}

impl EventFilter {
    /// Whether `event` passes this filter: the same command; every tag of the filter among the
    /// event's; the filter's secret, if it has one, equal to the event's (compared in constant
    /// time); and the filter's channel empty or `all`, or equal to the event's.
    pub fn matches(&self, event: &Event) -> bool {
        let secret_ok = self.secret.is_empty()
            || bool::from(self.secret.as_bytes().ct_eq(event.secret.as_bytes()));
        let channel_ok =
            self.channel.is_empty() || self.channel == "all" || self.channel == event.channel;
        // Every check runs, so that a wrong secret takes as long as a wrong command.
        let command_ok = self.command == event.command;
        let tags_ok = self.tags.iter().all(|t| event.tags.contains(t));
        secret_ok & channel_ok & command_ok & tags_ok
    }
}

impl Repository {
    /// The actions that `event` runs, sorted and without duplicates: for every service, each
    /// of its blueprint `eventfilters` ([`crate::Service::event_filters`]) and of its actor's
    /// `events:` ([`Actor::events`]) that the event passes ([`EventFilter::matches`]) names an
    /// action to run. A filter naming an action the service does not have is skipped with a
    /// warning. Whether the action is disabled is not looked at.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`], [`CoreError::ActorNotFound`] for a
    /// service whose actor is missing.
    pub fn event_targets(&self, event: &Event) -> Result<Vec<EventTarget>, CoreError> {
        let mut actors: HashMap<ActorName, Actor> = HashMap::new();
        let mut targets = BTreeSet::new();
        for s in self.services(&ServiceFilter::all())? {
            if !actors.contains_key(&s.actor) {
                let actor =
                    self.actor(s.actor.as_str())?
                        .ok_or_else(|| CoreError::ActorNotFound {
                            name: s.actor.to_string(),
                        })?;
                actors.insert(s.actor.clone(), actor);
            }
            let actor_events = actors.get(&s.actor).map(|a| a.events.as_slice());
            let filters = s
                .event_filters
                .iter()
                .chain(actor_events.unwrap_or_default());
            for f in filters.filter(|f| f.matches(event)) {
                match s.action(&f.action) {
                    Some(a) => {
                        targets.insert(EventTarget {
                            service: s.key.clone(),
                            action: a.name.clone(),
                        });
                    }
                    None => tracing::warn!(
                        service = %s.key,
                        action = %f.action,
                        command = %f.command,
                        "an event filter names an action the service does not have; skipped"
                    ),
                }
            }
        }
        Ok(targets.into_iter().collect())
    }
}
