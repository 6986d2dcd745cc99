//! Reading a repository of ays-core: the planner's [`PlanInput`] (every service with the state
//! of each of its actions, its parent and producers, and the action chains of every actor), and
//! the [`RepositoryPayload`] that gives each job its service data and relations.
//!
//! This is the one place where ays-run reads ays-core's domain; the planner itself works on the
//! plain [`PlanInput`] so that it can be tested and benchmarked without a store.

use std::collections::BTreeSet;

use ays_core::{Repository, Service, ServiceAction, ServiceFilter};
use serde_json::{Map, Value};

use crate::error::{RuntimeError, SourceError};
use crate::input::{ActionChains, ActionState, PlanInput, ServiceSpec};
use crate::job::JobContext;
use crate::runtime::{JobPayload, PayloadSource, ServiceView};

/// Builds the planner's input from the services and actors stored in `repo`.
///
/// # Errors
///
/// [`SourceError::Repository`] when the store cannot be read, [`SourceError::MissingActor`] when
/// a service names an actor that is not stored, and [`SourceError::Input`] when a stored name is
/// not one the planner accepts.
pub fn plan_input(repo: &Repository) -> Result<PlanInput, SourceError> {
    plan_input_with(repo, |_, action| state(action.state))
}

/// As [`plan_input`], with the planner's state of each action chosen by `state_of` (a run
/// limited to some actions, or the replay of a stored run).
pub(crate) fn plan_input_with(
    repo: &Repository,
    state_of: impl Fn(&Service, &ServiceAction) -> ActionState,
) -> Result<PlanInput, SourceError> {
    let services = repo.services(&ServiceFilter::all())?;
    let mut input = PlanInput::new();
    let actors: BTreeSet<String> = services.iter().map(|s| s.actor.to_string()).collect();
    for name in &actors {
        let actor = repo.actor(name)?.ok_or_else(|| SourceError::MissingActor {
            actor: name.clone(),
        })?;
        let mut chains = ActionChains::empty();
        for action in &actor.actions {
            let needs: Vec<&str> = action.depends_on.iter().map(|a| a.as_str()).collect();
            chains = chains.with(action.name.as_str(), &needs)?;
        }
        input.set_chains(name, chains)?;
    }
    for service in &services {
        let key = service.key.to_string();
        let mut spec = ServiceSpec::new(&key, service.actor.as_str());
        for action in &service.actions {
            spec = spec.action(action.name.as_str(), state_of(service, action));
        }
        if let Some(parent) = &service.parent {
            spec = spec.parent(&parent.key.to_string());
        }
        for producer in &service.producers {
            let producer = producer.key.to_string();
            if service.parent.as_ref().map(|p| p.key.to_string()) != Some(producer.clone()) {
                spec = spec.producer(&producer);
            }
        }
        input.add_service(spec)?;
    }
    Ok(input)
}

/// The planner's name for a stored action state; the two enums list the same states of
/// AYS 8.1 §4.8.
pub(crate) fn state(stored: ays_core::ActionState) -> ActionState {
    match stored {
        ays_core::ActionState::New => ActionState::New,
        ays_core::ActionState::Changed => ActionState::Changed,
        ays_core::ActionState::Ok => ActionState::Ok,
        ays_core::ActionState::Scheduled => ActionState::Scheduled,
        ays_core::ActionState::Disabled => ActionState::Disabled,
        ays_core::ActionState::Error => ActionState::Error,
        ays_core::ActionState::Running => ActionState::Running,
    }
}

/// Job payloads read from a repository: the service's data (decoded by the actor's codec), its
/// parent, producers and consumers with their data, and the args of the scheduled action
/// (`processChange` gets `{"changeCategory": ..., "changed": [...]}`).
#[derive(Debug, Clone)]
pub struct RepositoryPayload {
    repo: Repository,
}

impl RepositoryPayload {
    /// Payloads of the services of `repo`.
    pub fn new(repo: Repository) -> Self {
        Self { repo }
    }

    fn view(&self, ctx: &JobContext, key: &ays_core::ServiceKey) -> Result<ServiceView, String> {
        let s = self
            .repo
            .service(key)
            .map_err(|e| error_chain(&e))?
            .ok_or_else(|| format!("service `{key}` is not in the repository"))?;
        self.view_of(ctx, &s)
    }

    fn view_of(&self, _ctx: &JobContext, s: &Service) -> Result<ServiceView, String> {
        let data = match self.repo.service_data(s).map_err(|e| error_chain(&e))? {
            Value::Object(map) => map,
            other => return Err(format!("data of `{}` is not an object: {other}", s.key)),
        };
        Ok(ServiceView {
            key: s.key.to_string().parse().map_err(|e| error_chain(&e))?,
            actor: s.actor.as_str().parse().map_err(|e| error_chain(&e))?,
            data,
        })
    }

    fn load(&self, ctx: &JobContext) -> Result<JobPayload, String> {
        let key: ays_core::ServiceKey = ctx
            .service()
            .as_str()
            .parse()
            .map_err(|e| error_chain(&e))?;
        let s = self
            .repo
            .service(&key)
            .map_err(|e| error_chain(&e))?
            .ok_or_else(|| format!("service `{key}` is not in the repository"))?;
        let parent = s
            .parent
            .as_ref()
            .map(|p| self.view(ctx, &p.key))
            .transpose()?;
        let producers = s
            .producers
            .iter()
            .map(|p| self.view(ctx, &p.key))
            .collect::<Result<Vec<_>, _>>()?;
        let consumers = s
            .consumers
            .iter()
            .map(|c| self.view(ctx, &c.key))
            .collect::<Result<Vec<_>, _>>()?;
        let action: ays_core::ActionName =
            ctx.action().as_str().parse().map_err(|e| error_chain(&e))?;
        let args = match self
            .repo
            .action_args(&key, &action)
            .map_err(|e| error_chain(&e))?
        {
            None => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                let mut map = Map::new();
                map.insert("value".to_owned(), other);
                map
            }
        };
        Ok(JobPayload {
            service: self.view_of(ctx, &s)?,
            parent,
            producers,
            consumers,
            args,
        })
    }
}

impl PayloadSource for RepositoryPayload {
    fn payload(&self, ctx: &JobContext) -> Result<JobPayload, RuntimeError> {
        self.load(ctx).map_err(|reason| RuntimeError::Payload {
            job: ctx.key().clone(),
            reason,
        })
    }
}

/// An error and its causes on one line.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
