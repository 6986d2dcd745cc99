//! `ays actor list|update`.

use crate::cli::ActorCommand;
use crate::output::{self, Table};

use super::Env;

pub fn run(env: &Env, command: ActorCommand) -> anyhow::Result<()> {
    let repo = env.repository()?;
    match command {
        ActorCommand::List => print_list(env, repo.actors()?),
        ActorCommand::Update { name } => {
            let updates = repo.update_actors(name.as_deref())?;
            print_updates(env, &updates)
        }
    }
}

/// Prints what `ays actor update` changed.
pub fn print_updates(env: &Env, updates: &[ays_core::ActorUpdate]) -> anyhow::Result<()> {
    if env.json {
        return output::json(&updates);
    }
    let mut table = Table::new(&["ACTOR", "SERVICES", "CHANGES"]);
    for u in updates {
        let mut changes = Vec::new();
        let names = |list: &[ays_core::ActionName]| {
            list.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        if !u.changed_actions.is_empty() {
            changes.push(format!("changed: {}", names(&u.changed_actions)));
        }
        if !u.added_actions.is_empty() {
            changes.push(format!("new: {}", names(&u.added_actions)));
        }
        if !u.removed_actions.is_empty() {
            changes.push(format!("removed: {}", names(&u.removed_actions)));
        }
        if !u.added_fields.is_empty() {
            changes.push(format!("fields added: {}", u.added_fields.join(",")));
        }
        if !u.removed_fields.is_empty() {
            changes.push(format!("fields removed: {}", u.removed_fields.join(",")));
        }
        if changes.is_empty() {
            changes.push("up to date".into());
        }
        table.row(vec![
            u.actor.clone(),
            u.services.to_string(),
            changes.join("; "),
        ]);
    }
    table.print()
}

/// Prints actors as `ays actor list` does.
pub fn print_list(env: &Env, actors: Vec<ays_core::ActorSummary>) -> anyhow::Result<()> {
    if env.json {
        return output::json(&actors);
    }
    let mut table = Table::new(&["ACTOR", "ROLE", "SERVICES", "ACTIONS"]);
    for a in actors {
        table.row(vec![
            a.name,
            a.role,
            a.services.to_string(),
            a.actions.join(","),
        ]);
    }
    table.print_or("no actors yet: a blueprint makes them from their templates")
}
