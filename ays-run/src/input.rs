//! The snapshot the planner reads: services, their action states, relations and action chains.
//!
//! ays-core fills a [`PlanInput`] from a repository; tests build one by hand. Everything here is
//! validated once, when it enters the snapshot, so the planner itself never parses.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::PlanError;

/// A service's identity, `role!instance` (for example `datacenter!ovh_germany1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    text: String,
    bang: usize,
}

impl ServiceKey {
    /// The role, the part before `!`.
    pub fn role(&self) -> &str {
        self.text.get(..self.bang).unwrap_or_default()
    }

    /// The instance name, the part after `!`.
    pub fn instance(&self) -> &str {
        self.text.get(self.bang + 1..).unwrap_or_default()
    }

    /// The key as written, `role!instance`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for ServiceKey {
    type Err = PlanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || PlanError::InvalidServiceKey { key: s.to_owned() };
        let (role, instance) = s.split_once('!').ok_or_else(invalid)?;
        let bad = |part: &str| part.is_empty() || part.contains(['!', ' ', '\t', '\n', ':']);
        if bad(role) || bad(instance) {
            return Err(invalid());
        }
        Ok(Self {
            text: s.to_owned(),
            bang: role.len(),
        })
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Checks the characters shared by action and actor names.
fn is_name(s: &str, extra: &[char]) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c))
}

/// An action name such as `install` or `test2` (ASCII letters, digits and `_`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActionName(String);

impl ActionName {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this action runs consumers first (`stop` and `uninstall`).
    pub fn is_teardown(&self) -> bool {
        matches!(self.0.as_str(), "stop" | "uninstall")
    }
}

impl FromStr for ActionName {
    type Err = PlanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_name(s, &[]) {
            Ok(Self(s.to_owned()))
        } else {
            Err(PlanError::InvalidActionName {
                action: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for ActionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An actor (template) name such as `node.ssh` (ASCII letters, digits, `_`, `-` and `.`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorName(String);

impl ActorName {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ActorName {
    type Err = PlanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_name(s, &['.', '-']) {
            Ok(Self(s.to_owned()))
        } else {
            Err(PlanError::InvalidActorName {
                actor: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for ActorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state of one action of one service (AYS 8.1 §4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionState {
    /// Never run.
    New,
    /// Its code changed since it last ran.
    Changed,
    /// Ran successfully.
    Ok,
    /// Asked for by a blueprint or a user.
    Scheduled,
    /// May not run.
    Disabled,
    /// Failed last time.
    Error,
    /// A job was running it (possibly a run that died).
    Running,
}

impl ActionState {
    /// Whether the action seeds a run: `scheduled`, `changed` or `error`.
    pub fn is_candidate(self) -> bool {
        matches!(self, Self::Scheduled | Self::Changed | Self::Error)
    }

    /// The lower-case name used by AYS.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Changed => "changed",
            Self::Ok => "ok",
            Self::Scheduled => "scheduled",
            Self::Disabled => "disabled",
            Self::Error => "error",
            Self::Running => "running",
        }
    }
}

impl fmt::Display for ActionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// [`PlanError::InvalidActionName`] when a name is not a valid action name.
    pub fn with(mut self, action: &str, needs: &[&str]) -> Result<Self, PlanError> {
        let action: ActionName = action.parse()?;
        let mut list = Vec::with_capacity(needs.len());
        for need in needs {
            let need: ActionName = need.parse()?;
            if !list.contains(&need) {
                list.push(need);
            }
        }
        self.needs.insert(action, list);
        Ok(self)
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
        let mut needs = BTreeMap::new();
        for (action, need) in [
            ("install", "init"),
            ("start", "install"),
            ("monitor", "start"),
            ("uninstall", "stop"),
        ] {
            needs.insert(
                ActionName(action.to_owned()),
                vec![ActionName(need.to_owned())],
            );
        }
        Self { needs }
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
    /// [`PlanError::InvalidActorName`] when `actor` is not a valid actor name.
    pub fn set_chains(&mut self, actor: &str, chains: ActionChains) -> Result<(), PlanError> {
        self.chains.insert(actor.parse()?, chains);
        Ok(())
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
        if self.services.contains_key(&key) {
            return Err(PlanError::DuplicateService { service: key });
        }
        let service = ServiceInput {
            key: key.clone(),
            actor,
            parent,
            producers,
            actions,
        };
        Ok(self.services.entry(key).or_insert(service))
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
