//! Reading a repository of ays-core into a [`PlanInput`]: every service with the state of each
//! of its actions, its parent and producers, and the action chains of every actor.
//!
//! This is the one place where ays-run reads ays-core's domain; the planner itself works on the
//! plain [`PlanInput`] so that it can be tested and benchmarked without a store.

use std::collections::BTreeSet;

use ays_core::{Repository, ServiceFilter};

use crate::error::SourceError;
use crate::input::{ActionChains, ActionState, PlanInput, ServiceSpec};

/// Builds the planner's input from the services and actors stored in `repo`.
///
/// # Errors
///
/// [`SourceError::Repository`] when the store cannot be read, [`SourceError::MissingActor`] when
/// a service names an actor that is not stored, and [`SourceError::Input`] when a stored name is
/// not one the planner accepts.
pub fn plan_input(repo: &Repository) -> Result<PlanInput, SourceError> {
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
            spec = spec.action(action.name.as_str(), state(action.state));
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
fn state(stored: ays_core::ActionState) -> ActionState {
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
