//! Services: instances of actors, with their relations, per-action states and data.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::action_state::ActionState;
use crate::ids::{ActionName, ActorName, ServiceKey};
use crate::keys::{self, IndexKind};

/// A reference to another service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ServiceRef {
    /// Its actor.
    pub actor: ActorName,
    /// Its key.
    pub key: ServiceKey,
}

/// The state of one action of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAction {
    /// The action.
    pub name: ActionName,
    /// The key of its code record.
    pub code_key: String,
    /// Its state.
    pub state: ActionState,
    /// Recurring period in seconds (0: not recurring).
    pub period: u32,
    /// Last successful run of a recurring action, ms since the epoch (0: never).
    pub last_run: i64,
    /// Whether runs are logged.
    pub log: bool,
}

/// A filter that routes external events to an action of a service: a blueprint's
/// `eventfilters` entry, or an entry of an actor template's `events:` (see
/// [`crate::Repository::event_targets`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct EventFilter {
    /// The channel (`all`, `telegram`, `email`, `webservice`, `blueprint`).
    pub channel: String,
    /// The command.
    pub command: String,
    /// The action to run.
    pub action: String,
    /// A shared secret.
    pub secret: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// A service as stored. Serializes without its data bytes (see [`ServiceDetail`] for the data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Its key (`role!instance`).
    pub key: ServiceKey,
    /// Its actor.
    pub actor: ActorName,
    /// Its parent, if any (also the first producer).
    pub parent: Option<ServiceRef>,
    /// The services it consumes (the parent included).
    pub producers: Vec<ServiceRef>,
    /// The services that consume it (its children included).
    pub consumers: Vec<ServiceRef>,
    /// Its actions, sorted by name.
    pub actions: Vec<ServiceAction>,
    /// Its event filters.
    pub event_filters: Vec<EventFilter>,
    /// Its data: a packed Cap'n Proto message of the actor's `Schema` struct.
    #[serde(skip)]
    pub data: Vec<u8>,
    /// The [`crate::Actor::schema_hash`] the data was written with.
    pub data_schema_id: u64,
}

impl Service {
    /// The action named `name`.
    pub fn action(&self, name: &str) -> Option<&ServiceAction> {
        self.actions.iter().find(|a| a.name.as_str() == name)
    }

    pub(crate) fn action_mut(&mut self, name: &str) -> Option<&mut ServiceAction> {
        self.actions.iter_mut().find(|a| a.name.as_str() == name)
    }

    pub(crate) fn add_producer(&mut self, p: ServiceRef) {
        if !self.producers.contains(&p) {
            self.producers.push(p);
        }
    }

    pub(crate) fn add_consumer(&mut self, c: ServiceRef) {
        if !self.consumers.contains(&c) {
            self.consumers.push(c);
        }
    }

    pub(crate) fn as_ref(&self) -> ServiceRef {
        ServiceRef {
            actor: self.actor.clone(),
            key: self.key.clone(),
        }
    }

    /// The index entries to delete and to add when a service stored as `old` becomes `new`
    /// (`None`: absent), each list sorted.
    ///
    /// A change of action states alone (every job start and end) touches only the `state`
    /// entries of the actions whose state changed, so only those are built.
    pub(crate) fn index_changes(
        old: Option<&Service>,
        new: Option<&Service>,
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        if let (Some(old), Some(new)) = (old, new)
            && old.same_index_but_states(new)
        {
            let mut stale = Vec::new();
            let mut added = Vec::new();
            for (o, n) in old.actions.iter().zip(&new.actions) {
                if o.state != n.state {
                    let state = |a: &ServiceAction| {
                        keys::index(
                            IndexKind::State,
                            &keys::state_value(&a.name, a.state),
                            &new.key,
                        )
                    };
                    if is_indexed(o.state) {
                        stale.push(state(o));
                    }
                    if is_indexed(n.state) {
                        added.push(state(n));
                    }
                }
            }
            stale.sort();
            added.sort();
            return (stale, added);
        }
        let old: BTreeSet<Vec<u8>> = old
            .map(Service::index_keys)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let new: BTreeSet<Vec<u8>> = new
            .map(Service::index_keys)
            .unwrap_or_default()
            .into_iter()
            .collect();
        (
            old.difference(&new).cloned().collect(),
            new.difference(&old).cloned().collect(),
        )
    }

    /// Whether `other` has the same index entries as `self` except for the states of its
    /// actions, which are the same actions in the same (strictly sorted) order.
    fn same_index_but_states(&self, other: &Service) -> bool {
        self.key == other.key
            && self.actor == other.actor
            && self.parent == other.parent
            && self.producers == other.producers
            && self.consumers == other.consumers
            && self.actions.len() == other.actions.len()
            && self
                .actions
                .iter()
                .zip(&other.actions)
                .all(|(a, b)| a.name == b.name)
            && self
                .actions
                .windows(2)
                .all(|w| matches!(w, [a, b] if a.name < b.name))
    }

    /// Every index entry of this service (see [`crate::keys`]).
    pub(crate) fn index_keys(&self) -> Vec<Vec<u8>> {
        let k = &self.key;
        let mut out = Vec::with_capacity(
            4 + self.producers.len() + self.consumers.len() + self.actions.len(),
        );
        out.push(keys::index(IndexKind::Actor, self.actor.as_str(), k));
        out.push(keys::index(IndexKind::Instance, k.instance(), k));
        if let Some(p) = &self.parent {
            out.push(keys::index(IndexKind::Parent, &p.key.to_string(), k));
        }
        for p in &self.producers {
            out.push(keys::index(IndexKind::Producer, &p.key.to_string(), k));
        }
        for c in &self.consumers {
            out.push(keys::index(IndexKind::Consumer, &c.key.to_string(), k));
        }
        for a in self.actions.iter().filter(|a| is_indexed(a.state)) {
            out.push(keys::index(
                IndexKind::State,
                &keys::state_value(&a.name, a.state),
                k,
            ));
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Whether services are indexed by an action in `state`. Every action of a service starts
/// `new`, and most stay so (a blueprint of 100,000 services would write half a million such
/// entries), so services with a `new` action are found by reading them all instead.
pub(crate) fn is_indexed(state: ActionState) -> bool {
    state != ActionState::New
}

/// Which services to list: every field set must match (the CLI's `--role`, `--name`,
/// `--actor`, `--parent`, `--producer`, plus an action state).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFilter {
    /// The role.
    pub role: Option<String>,
    /// The instance name.
    pub name: Option<String>,
    /// The actor name.
    pub actor: Option<String>,
    /// The parent's key (`role!instance`).
    pub parent: Option<ServiceKey>,
    /// A producer's key: matches the services that consume it.
    pub producer: Option<ServiceKey>,
    /// A consumer's key: matches the services it consumes.
    pub consumer: Option<ServiceKey>,
    /// An action and its state: matches the services whose action is in that state.
    pub action_state: Option<(ActionName, ActionState)>,
}

impl ServiceFilter {
    /// A filter that matches every service.
    pub fn all() -> Self {
        Self::default()
    }

    /// Whether `s` passes every condition.
    pub fn matches(&self, s: &Service) -> bool {
        self.role.as_deref().is_none_or(|r| s.key.role() == r)
            && self.name.as_deref().is_none_or(|n| s.key.instance() == n)
            && self.actor.as_deref().is_none_or(|a| s.actor.as_str() == a)
            && self
                .parent
                .as_ref()
                .is_none_or(|p| s.parent.as_ref().is_some_and(|sp| &sp.key == p))
            && self
                .producer
                .as_ref()
                .is_none_or(|p| s.producers.iter().any(|sp| &sp.key == p))
            && self
                .consumer
                .as_ref()
                .is_none_or(|c| s.consumers.iter().any(|sc| &sc.key == c))
            && self
                .action_state
                .as_ref()
                .is_none_or(|(a, st)| s.action(a.as_str()).is_some_and(|x| x.state == *st))
    }
}

/// A service as shown to users (`ays service show --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceDetail {
    /// `role!instance`.
    pub key: ServiceKey,
    /// The actor.
    pub actor: ActorName,
    /// The role.
    pub role: String,
    /// The instance name.
    pub instance: String,
    /// The parent.
    pub parent: Option<ServiceKey>,
    /// The producers (parent included).
    pub producers: Vec<ServiceKey>,
    /// The consumers (children included).
    pub consumers: Vec<ServiceKey>,
    /// The children.
    pub children: Vec<ServiceKey>,
    /// The actions and their states.
    pub actions: Vec<ServiceAction>,
    /// The event filters.
    pub event_filters: Vec<EventFilter>,
    /// The data as JSON, every field present (defaults included).
    pub data: serde_json::Value,
}

/// The action states of one service (`ays service state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStates {
    /// The service.
    pub key: ServiceKey,
    /// `(action, state)` pairs, sorted by action.
    pub actions: Vec<(ActionName, ActionState)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(actions: &[(&str, ActionState)]) -> Service {
        let app: ActorName = "app".parse().unwrap();
        let zone: ActorName = "zone".parse().unwrap();
        let parent = ServiceRef {
            key: ServiceKey::new(&zone, "z".parse().unwrap()),
            actor: zone,
        };
        Service {
            key: ServiceKey::new(&app, "a".parse().unwrap()),
            actor: app,
            parent: Some(parent.clone()),
            producers: vec![parent],
            consumers: vec![],
            actions: actions
                .iter()
                .map(|(name, state)| ServiceAction {
                    name: name.parse().unwrap(),
                    code_key: String::new(),
                    state: *state,
                    period: 0,
                    last_run: 0,
                    log: false,
                })
                .collect(),
            event_filters: vec![],
            data: vec![],
            data_schema_id: 0,
        }
    }

    /// The changes as the difference of every entry before and after.
    fn full_diff(old: Option<&Service>, new: Option<&Service>) -> (Vec<String>, Vec<String>) {
        let set = |s: Option<&Service>| -> BTreeSet<Vec<u8>> {
            s.map(Service::index_keys)
                .unwrap_or_default()
                .into_iter()
                .collect()
        };
        let (old, new) = (set(old), set(new));
        let text = |k: &Vec<u8>| String::from_utf8_lossy(k).into_owned();
        (
            old.difference(&new).map(text).collect(),
            new.difference(&old).map(text).collect(),
        )
    }

    fn changes(old: Option<&Service>, new: Option<&Service>) -> (Vec<String>, Vec<String>) {
        let (stale, added) = Service::index_changes(old, new);
        let text = |k: Vec<u8>| String::from_utf8_lossy(&k).into_owned();
        (
            stale.into_iter().map(text).collect(),
            added.into_iter().map(text).collect(),
        )
    }

    #[test]
    fn a_state_change_touches_only_its_state_entries() {
        use ActionState::{Ok, Scheduled};
        let old = service(&[("init", Scheduled), ("install", Scheduled)]);
        let new = service(&[("init", Ok), ("install", Scheduled)]);
        assert_eq!(
            changes(Some(&old), Some(&new)),
            (
                vec!["idx/state/init:scheduled/app!a".to_owned()],
                vec!["idx/state/init:ok/app!a".to_owned()]
            )
        );
        assert_eq!(changes(Some(&new), Some(&new)), (vec![], vec![]));
    }

    #[test]
    fn index_changes_equal_the_full_difference() {
        use ActionState::{New, Ok, Scheduled};
        let base = service(&[("init", Scheduled), ("install", Scheduled)]);
        let mut states = base.clone();
        states.actions[1].state = Ok;
        let mut other_actions = service(&[("init", Ok), ("start", New)]);
        other_actions.actions[0].state = Scheduled;
        let mut orphan = base.clone();
        orphan.parent = None;
        orphan.producers.clear();
        orphan.actions[0].state = Ok;
        let mut unsorted = service(&[("install", Ok), ("init", Ok)]);
        unsorted.consumers.push(base.as_ref());
        let all = [&base, &states, &other_actions, &orphan, &unsorted];
        for old in all.iter().map(|s| Some(*s)).chain([None]) {
            for new in all.iter().map(|s| Some(*s)).chain([None]) {
                assert_eq!(changes(old, new), full_diff(old, new), "{old:?} -> {new:?}");
            }
        }
    }
}
