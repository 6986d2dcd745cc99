//! `ays service list|show|delete|state|set-state`.

use anyhow::Context;
use ays_core::{
    ActionName, ActionState, DeleteOptions, DeletePlan, Repository, ServiceDetail, ServiceFilter,
    ServiceKey,
};
use serde::{Deserialize, Serialize};

use super::Env;
use crate::cli::{ConfirmArgs, ServiceCommand, ServiceFilterArgs};
use crate::output::{self, Table};

pub fn run(env: &Env, command: ServiceCommand) -> anyhow::Result<()> {
    let repo = env.repository()?;
    match command {
        ServiceCommand::List(filter) => list(env, &repo, &filter),
        ServiceCommand::Show { key, filter } => show(env, &repo, key.as_deref(), &filter),
        ServiceCommand::Delete {
            key,
            force,
            confirm,
        } => delete(env, &repo, &key, force, &confirm),
        ServiceCommand::State(filter) => state(env, &repo, &filter),
        ServiceCommand::SetState {
            action,
            state,
            filter,
        } => set_state(env, &repo, &action, &state, &filter),
    }
}

pub fn parse_key(text: &str) -> anyhow::Result<ServiceKey> {
    text.parse()
        .with_context(|| format!("`{text}` is not a service key (role!instance)"))
}

pub fn filter(args: &ServiceFilterArgs) -> anyhow::Result<ServiceFilter> {
    Ok(ServiceFilter {
        role: args.role.clone(),
        name: args.name.clone(),
        actor: args.actor.clone(),
        parent: args.parent.as_deref().map(parse_key).transpose()?,
        producer: args.producer.as_deref().map(parse_key).transpose()?,
        ..ServiceFilter::default()
    })
}

/// A service as `ays service list` prints it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServiceRow {
    /// `role!instance`.
    pub key: String,
    /// Its actor.
    pub actor: String,
    /// Its parent's key.
    pub parent: Option<String>,
}

fn list(env: &Env, repo: &Repository, args: &ServiceFilterArgs) -> anyhow::Result<()> {
    let services = repo.services(&filter(args)?)?;
    let rows: Vec<ServiceRow> = services
        .into_iter()
        .map(|s| ServiceRow {
            key: s.key.to_string(),
            actor: s.actor.to_string(),
            parent: s.parent.map(|p| p.key.to_string()),
        })
        .collect();
    print_list(env, &rows)
}

/// Prints services as `ays service list` does.
pub fn print_list(env: &Env, rows: &[ServiceRow]) -> anyhow::Result<()> {
    if env.json {
        return output::json(rows);
    }
    if rows.is_empty() {
        return output::line("no services match");
    }
    let mut table = Table::new(&["SERVICE", "ACTOR", "PARENT"]);
    for s in rows {
        table.row(vec![
            s.key.clone(),
            s.actor.clone(),
            s.parent.clone().unwrap_or_default(),
        ]);
    }
    table.print()
}

fn show(
    env: &Env,
    repo: &Repository,
    key: Option<&str>,
    args: &ServiceFilterArgs,
) -> anyhow::Result<()> {
    let keys = match key {
        Some(key) => vec![parse_key(key)?],
        None => repo.service_keys(&filter(args)?)?,
    };
    let mut views = Vec::with_capacity(keys.len());
    for key in &keys {
        views.push(repo.show_service(key)?);
    }
    print_details(env, &views)
}

/// Prints services as `ays service show` does.
pub fn print_details(env: &Env, views: &[ServiceDetail]) -> anyhow::Result<()> {
    if env.json {
        return output::json(views);
    }
    for (i, view) in views.iter().enumerate() {
        if i > 0 {
            output::line("")?;
        }
        let keys_text = |keys: &[ServiceKey]| {
            keys.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!("service {}\n  actor: {}\n", view.key, view.actor);
        if let Some(parent) = &view.parent {
            text.push_str(&format!("  parent: {parent}\n"));
        }
        for (label, list) in [
            ("producers", &view.producers),
            ("consumers", &view.consumers),
            ("children", &view.children),
        ] {
            if !list.is_empty() {
                text.push_str(&format!("  {label}: {}\n", keys_text(list)));
            }
        }
        text.push_str("  data:\n");
        if let Some(fields) = view.data.as_object() {
            for (name, value) in fields {
                text.push_str(&format!("    {name} = {value}\n"));
            }
        }
        text.push_str("  actions:\n");
        for a in &view.actions {
            let recurring = if a.period > 0 {
                format!(
                    " (every {}, last run {})",
                    output::period(a.period),
                    output::time_or(a.last_run, "never")
                )
            } else {
                String::new()
            };
            text.push_str(&format!("    {} {}{recurring}\n", a.name, a.state.as_str()));
        }
        output::line(text.trim_end())?;
    }
    Ok(())
}

fn delete(
    env: &Env,
    repo: &Repository,
    key: &str,
    force: bool,
    confirm: &ConfirmArgs,
) -> anyhow::Result<()> {
    let key = parse_key(key)?;
    let plan = repo.delete_plan(&key)?;
    if confirm.dry_run {
        if env.json {
            return output::json(&plan);
        }
        return output::line(&describe(&plan, "would delete", "would unlink"));
    }
    if output::will_ask(confirm.yes) {
        output::line(&describe(&plan, "will delete", "will unlink"))?;
    }
    output::confirm(
        &format!("delete {} service(s)", plan.deleted.len()),
        confirm.yes,
    )?;
    let done = repo.delete_service(&key, DeleteOptions { force })?;
    print_deleted(env, &done)
}

/// Prints what `ays service delete` deleted and unlinked.
pub fn print_deleted(env: &Env, done: &DeletePlan) -> anyhow::Result<()> {
    if env.json {
        return output::json(done);
    }
    output::line(&describe(done, "deleted", "unlinked"))
}

/// The services a delete removes and those it unlinks, one per line.
fn describe(plan: &DeletePlan, deleted: &str, unlinked: &str) -> String {
    let mut lines: Vec<String> = plan
        .deleted
        .iter()
        .map(|k| format!("{deleted} {k}"))
        .collect();
    for u in &plan.unlinked {
        let mut line = format!("{unlinked} {} from {}", u.service, u.lost);
        if !u.field.is_empty() {
            line.push_str(&format!(
                " (drops `{}` from its `{}`",
                u.lost.instance(),
                u.field
            ));
            if u.left < u.min {
                line.push_str(&format!(
                    "; it needs {} {} and keeps {}",
                    u.min,
                    u.lost.role(),
                    u.left
                ));
            }
            line.push(')');
        }
        lines.push(line);
    }
    lines.join("\n")
}

fn state(env: &Env, repo: &Repository, args: &ServiceFilterArgs) -> anyhow::Result<()> {
    let states = repo.service_states(&filter(args)?)?;
    if env.json {
        return output::json(&states);
    }
    let mut table = Table::new(&["SERVICE", "ACTION", "STATE"]);
    for s in states {
        for (action, state) in s.actions {
            table.row(vec![
                s.key.to_string(),
                action.to_string(),
                state.as_str().to_owned(),
            ]);
        }
    }
    table.print()
}

fn set_state(
    env: &Env,
    repo: &Repository,
    action: &str,
    state: &str,
    args: &ServiceFilterArgs,
) -> anyhow::Result<()> {
    let action: ActionName = action
        .parse()
        .with_context(|| format!("`{action}` is not an action name"))?;
    let state: ActionState = state.parse()?;
    let changed = repo.set_action_state(&filter(args)?, &action, state)?;
    if env.json {
        return output::json(&changed);
    }
    if changed.is_empty() {
        return output::line(&format!(
            "no service changed: {action} was already {}",
            state.as_str()
        ));
    }
    for key in changed {
        output::line(&format!("{key}: {action} -> {}", state.as_str()))?;
    }
    Ok(())
}
