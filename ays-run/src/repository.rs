//! Reading a repository of ays-core: the planner's [`PlanInput`] (every service with the state
//! of each of its actions, its parent and producers, and the action chains of every actor), and
//! the [`RepositoryPayload`] that gives each job its service data and relations.
//!
//! This is the one place where ays-run reads ays-core's domain; the planner itself works on the
//! plain [`PlanInput`] so that it can be tested and benchmarked without a store.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use ays_core::{
    ActionState, ActorName, CoreError, DataDecoder, Repository, Service, ServiceAction,
    ServiceFilter, ServiceKey,
};
use serde_json::{Map, Value};

use crate::error::{RuntimeError, SourceError};
use crate::input::{ActionChains, PlanInput, ServiceInput};
use crate::job::JobContext;
use crate::runtime::{JobPayload, PayloadSource, ServiceView};

/// Builds the planner's input from the services and actors stored in `repo`.
///
/// # Errors
///
/// [`SourceError::Repository`] when the store cannot be read, [`SourceError::MissingActor`] when
/// a service names an actor that is not stored, and [`SourceError::Input`] when two stored
/// services share a key.
pub fn plan_input(repo: &Repository) -> Result<PlanInput, SourceError> {
    plan_input_with(repo, |_, action| action.state)
}

/// As [`plan_input`], with the planner's state of each action chosen by `state_of` (a run
/// limited to some actions, or the replay of a stored run).
pub(crate) fn plan_input_with(
    repo: &Repository,
    state_of: impl Fn(&Service, &ServiceAction) -> ActionState,
) -> Result<PlanInput, SourceError> {
    let services = repo.services(&ServiceFilter::all())?;
    let mut input = PlanInput::new();
    let actors: BTreeSet<&ActorName> = services.iter().map(|s| &s.actor).collect();
    for name in actors {
        let actor = repo
            .actor(name.as_str())?
            .ok_or_else(|| SourceError::MissingActor {
                actor: name.clone(),
            })?;
        let mut chains = ActionChains::empty();
        for action in &actor.actions {
            chains = chains.with_names(action.name.clone(), action.depends_on.iter().cloned());
        }
        input.set_actor_chains(name.clone(), chains);
    }
    for service in &services {
        let mut spec = ServiceInput::new(service.key.clone(), service.actor.clone());
        for action in &service.actions {
            spec = spec.with_action(action.name.clone(), state_of(service, action));
        }
        if let Some(parent) = &service.parent {
            spec = spec.with_parent(parent.key.clone());
        }
        for producer in &service.producers {
            spec = spec.with_producer(producer.key.clone());
        }
        input.insert(spec)?;
    }
    Ok(input)
}

/// Job payloads read from a repository: the service's data (decoded by the actor's codec), its
/// parent, producers and consumers with their data, and the args of the scheduled action
/// (`processChange` gets `{"changeCategory": ..., "changed": [...]}`).
///
/// Every runtime of a run on a repository gets its payloads from here, native actions
/// included; each job reads its service and relations once, when it starts.
#[derive(Debug)]
pub(crate) struct RepositoryPayload {
    repo: Repository,
    /// A decoder per actor, its schema compiled on the first payload that needs it.
    decoders: Mutex<HashMap<ActorName, DataDecoder>>,
}

impl RepositoryPayload {
    /// Payloads of the services of `repo`.
    pub(crate) fn new(repo: Repository) -> Self {
        Self {
            repo,
            decoders: Mutex::new(HashMap::new()),
        }
    }

    fn decoder(&self, actor: &ActorName) -> Result<DataDecoder, CoreError> {
        let mut decoders = self.decoders.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(decoder) = decoders.get(actor) {
            return Ok(decoder.clone());
        }
        let decoder = self.repo.data_decoder(actor)?;
        decoders.insert(actor.clone(), decoder.clone());
        Ok(decoder)
    }

    fn view_of(&self, s: &Service) -> Result<ServiceView, CoreError> {
        // Service data always decodes to an object: it is a record of the actor's schema.
        let data = match self.decoder(&s.actor)?.data(s)? {
            Value::Object(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("value".to_owned(), other);
                map
            }
        };
        Ok(ServiceView {
            key: s.key.clone(),
            actor: s.actor.clone(),
            data,
        })
    }

    /// The payload of the job of `ctx`: its service, then every related service in one read.
    fn load(&self, ctx: &JobContext) -> Result<JobPayload, CoreError> {
        let missing = |key: &ServiceKey| CoreError::ServiceNotFound {
            key: key.to_string(),
        };
        let s = self
            .repo
            .service(ctx.service())?
            .ok_or_else(|| missing(ctx.service()))?;
        let mut related: Vec<&ServiceKey> = s
            .parent
            .iter()
            .chain(&s.producers)
            .chain(&s.consumers)
            .map(|r| &r.key)
            .collect();
        related.sort();
        related.dedup();
        let mut views = HashMap::with_capacity(related.len());
        for (key, found) in related.iter().zip(self.repo.services_by_key(&related)?) {
            let found = found.ok_or_else(|| missing(key))?;
            views.insert(*key, self.view_of(&found)?);
        }
        let view = |key: &ServiceKey| views.get(key).cloned().ok_or_else(|| missing(key));
        let parent = s.parent.as_ref().map(|p| view(&p.key)).transpose()?;
        let producers = s
            .producers
            .iter()
            .map(|p| view(&p.key))
            .collect::<Result<Vec<_>, _>>()?;
        let consumers = s
            .consumers
            .iter()
            .map(|c| view(&c.key))
            .collect::<Result<Vec<_>, _>>()?;
        let args = match self.repo.action_args(ctx.service(), ctx.action())? {
            None => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                let mut map = Map::new();
                map.insert("value".to_owned(), other);
                map
            }
        };
        Ok(JobPayload {
            service: self.view_of(&s)?,
            parent,
            producers,
            consumers,
            args,
        })
    }
}

impl PayloadSource for RepositoryPayload {
    fn payload(&self, ctx: &JobContext) -> Result<JobPayload, RuntimeError> {
        self.load(ctx).map_err(|source| RuntimeError::Payload {
            job: ctx.key().clone(),
            source: Box::new(source),
        })
    }
}
