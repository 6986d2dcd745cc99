//! The snapshot the planner reads: services, their action states, relations and action chains.
//!
//! [`plan_input`](crate::plan_input) fills a [`PlanInput`] from a repository; tests build one by
//! hand. Names are ays-core's identifiers, validated once when they enter the snapshot, so the
//! planner itself never parses.

use std::collections::BTreeMap;

use ays_core::{ActionName, ActionState, ActorName, ServiceKey};

use crate::error::PlanError;

/// Which actions an action needs within one service (the actor's `init_actions_` of AYS 8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionChains {
    needs: BTreeMap<ActionName, Vec<ActionName>>,
}

impl ActionChains {
    /// No dependencies at all.
    pub fn empty() -> Self {
        Self {
            needs: BTreeMap::new(),
        }
    }

    /// Sets what `action` needs, replacing any earlier entry (for example `test: [install]`).
    ///
    /// # Errors
    ///
    /// [`PlanError::Name`] when a name is not a valid action name.
    pub fn with(self, action: &str, needs: &[&str]) -> Result<Self, PlanError> {
        let needs = needs
            .iter()
            .map(|n| n.parse())
            .collect::<Result<Vec<ActionName>, _>>()?;
        Ok(self.with_names(action.parse()?, needs))
    }

    /// As [`ActionChains::with`], with names already parsed.
    pub fn with_names(
        mut self,
        action: ActionName,
        needs: impl IntoIterator<Item = ActionName>,
    ) -> Self {
        let mut list = Vec::new();
        for need in needs {
            if !list.contains(&need) {
                list.push(need);
            }
        }
        self.needs.insert(action, list);
        self
    }

    /// The actions `action` needs directly (empty when it needs none).
    pub fn needs(&self, action: &ActionName) -> &[ActionName] {
        self.needs.get(action).map_or(&[], Vec::as_slice)
    }
}

impl Default for ActionChains {
    /// The AYS 8.1 default: install needs init, start needs install, monitor needs start,
    /// uninstall needs stop.
    fn default() -> Self {
        let mut chains = Self::empty();
        for (action, need) in [
            ("install", "init"),
            ("start", "install"),
            ("monitor", "start"),
            ("uninstall", "stop"),
        ] {
            if let (Ok(action), Ok(need)) = (action.parse(), need.parse()) {
                chains = chains.with_names(action, [need]);
            }
        }
        chains
    }
}

/// One service as written by a caller, validated by [`PlanInput::add_service`].
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    key: String,
    actor: String,
    parent: Option<String>,
    producers: Vec<String>,
    actions: Vec<(String, ActionState)>,
}

impl ServiceSpec {
    /// A service `key` (`role!instance`) of actor `actor`, with no action and no relation yet.
    pub fn new(key: &str, actor: &str) -> Self {
        Self {
            key: key.to_owned(),
            actor: actor.to_owned(),
            parent: None,
            producers: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Adds an action in the given state.
    pub fn action(mut self, name: &str, state: ActionState) -> Self {
        self.actions.push((name.to_owned(), state));
        self
    }

    /// Adds several actions in one state.
    pub fn actions(mut self, names: &[&str], state: ActionState) -> Self {
        for name in names {
            self.actions.push(((*name).to_owned(), state));
        }
        self
    }

    /// Sets the parent; the parent also counts as a producer.
    pub fn parent(mut self, key: &str) -> Self {
        self.parent = Some(key.to_owned());
        self
    }

    /// Adds a producer (a service this one consumes).
    pub fn producer(mut self, key: &str) -> Self {
        self.producers.push(key.to_owned());
        self
    }
}

/// One validated service of a [`PlanInput`].
#[derive(Debug, Clone)]
pub struct ServiceInput {
    pub(crate) key: ServiceKey,
    pub(crate) actor: ActorName,
    pub(crate) parent: Option<ServiceKey>,
    /// Producers, the parent first when there is one, without duplicates.
    pub(crate) producers: Vec<ServiceKey>,
    pub(crate) actions: BTreeMap<ActionName, ActionState>,
}

impl ServiceInput {
    /// A service with no relation and no action yet.
    pub fn new(key: ServiceKey, actor: ActorName) -> Self {
        Self {
            key,
            actor,
            parent: None,
            producers: Vec::new(),
            actions: BTreeMap::new(),
        }
    }

    /// Sets the parent (also a producer).
    pub fn with_parent(mut self, parent: ServiceKey) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Adds a producer.
    pub fn with_producer(mut self, producer: ServiceKey) -> Self {
        if !self.producers.contains(&producer) {
            self.producers.push(producer);
        }
        self
    }

    /// Sets the state of an action.
    pub fn with_action(mut self, action: ActionName, state: ActionState) -> Self {
        self.actions.insert(action, state);
        self
    }

    /// The service's key.
    pub fn key(&self) -> &ServiceKey {
        &self.key
    }

    /// The service's actor.
    pub fn actor(&self) -> &ActorName {
        &self.actor
    }

    /// The parent, if any.
    pub fn parent(&self) -> Option<&ServiceKey> {
        self.parent.as_ref()
    }

    /// The producers, parent included.
    pub fn producers(&self) -> &[ServiceKey] {
        &self.producers
    }

    /// The state of an action, if the service has it.
    pub fn action_state(&self, action: &ActionName) -> Option<ActionState> {
        self.actions.get(action).copied()
    }
}

/// Everything the planner needs to know about a repository, and nothing more.
#[derive(Debug, Clone, Default)]
pub struct PlanInput {
    pub(crate) services: BTreeMap<ServiceKey, ServiceInput>,
    pub(crate) chains: BTreeMap<ActorName, ActionChains>,
}

impl PlanInput {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the action chains of an actor; actors without an entry use [`ActionChains::default`].
    ///
    /// # Errors
    ///
    /// [`PlanError::Name`] when `actor` is not a valid actor name.
    pub fn set_chains(&mut self, actor: &str, chains: ActionChains) -> Result<(), PlanError> {
        self.set_actor_chains(actor.parse()?, chains);
        Ok(())
    }

    /// As [`PlanInput::set_chains`], with the name already parsed.
    pub fn set_actor_chains(&mut self, actor: ActorName, chains: ActionChains) {
        self.chains.insert(actor, chains);
    }

    /// Validates and adds a service. Relations may name services added later.
    ///
    /// # Errors
    ///
    /// An invalid key, actor or action name, or [`PlanError::DuplicateService`].
    pub fn add_service(&mut self, spec: ServiceSpec) -> Result<&ServiceInput, PlanError> {
        let key: ServiceKey = spec.key.parse()?;
        let actor: ActorName = spec.actor.parse()?;
        let parent = spec
            .parent
            .as_deref()
            .map(str::parse::<ServiceKey>)
            .transpose()?;
        let mut producers: Vec<ServiceKey> = parent.iter().cloned().collect();
        for producer in &spec.producers {
            let producer: ServiceKey = producer.parse()?;
            if !producers.contains(&producer) {
                producers.push(producer);
            }
        }
        let mut actions = BTreeMap::new();
        for (name, state) in spec.actions {
            actions.insert(name.parse()?, state);
        }
        self.insert(ServiceInput {
            key,
            actor,
            parent,
            producers,
            actions,
        })
    }

    /// Adds a service whose names are already parsed (the parent is added to the producers
    /// when missing).
    ///
    /// # Errors
    ///
    /// [`PlanError::DuplicateService`].
    pub fn insert(&mut self, mut service: ServiceInput) -> Result<&ServiceInput, PlanError> {
        if let Some(parent) = &service.parent {
            service.producers.retain(|p| p != parent);
            service.producers.insert(0, parent.clone());
        }
        if self.services.contains_key(&service.key) {
            return Err(PlanError::DuplicateService {
                service: service.key,
            });
        }
        Ok(self.services.entry(service.key.clone()).or_insert(service))
    }

    /// The services, by key.
    pub fn services(&self) -> impl Iterator<Item = &ServiceInput> {
        self.services.values()
    }

    /// One service.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceInput> {
        self.services.get(key)
    }

    /// The chains of an actor (the default chains when none were set).
    pub fn chains(&self, actor: &ActorName) -> Option<&ActionChains> {
        self.chains.get(actor)
    }
}
