//! `ays init`, `ays export`, `ays restore`, `ays destroy`: the repository as a whole.

use std::path::{Path, PathBuf};

use ays_core::{InitOptions, Repository};

use super::Env;
use crate::cli::ConfirmArgs;
use crate::output;

pub fn init(env: &Env, dir: Option<PathBuf>, template_dirs: Vec<PathBuf>) -> anyhow::Result<()> {
    let dir = match dir {
        Some(dir) if dir.is_relative() => env.dir.join(dir),
        Some(dir) => dir,
        None => env.dir.clone(),
    };
    let options = InitOptions {
        store_url: env.store.clone(),
        template_dirs,
    };
    let repo = Repository::init(&dir, options)?;
    env.warn_if_in_memory(repo.store_url());
    if env.json {
        return output::json(&serde_json::json!({
            "path": repo.root(),
            "id": repo.id(),
            "store": repo.store_url(),
        }));
    }
    output::line(&format!(
        "initialised AYS repository {} (id {}, store {})",
        repo.root().display(),
        repo.id(),
        repo.store_url()
    ))
}

pub fn export(env: &Env, dir: Option<&Path>) -> anyhow::Result<()> {
    let repo = env.repository()?;
    let report = repo.export(dir)?;
    if env.json {
        return output::json(&report);
    }
    if report.created {
        output::line(&format!("created {}", report.dir.display()))?;
    }
    output::line(&format!(
        "exported {} actor(s) and {} service(s) to {}",
        report.actors,
        report.services,
        report.dir.display()
    ))
}

pub fn restore(env: &Env, dir: Option<&Path>) -> anyhow::Result<()> {
    let repo = env.repository()?;
    let report = repo.restore(dir)?;
    if env.json {
        return output::json(&report);
    }
    output::line(&format!(
        "restored {} actor(s) and {} service(s)",
        report.actors, report.services
    ))
}

pub fn destroy(env: &Env, confirm: &ConfirmArgs) -> anyhow::Result<()> {
    let repo = env.repository()?;
    let plan = repo.destroy_plan()?;
    if confirm.dry_run {
        if env.json {
            return output::json(&plan);
        }
        return output::line(&format!(
            "would remove {} actor(s) and {} service(s); runs are kept",
            plan.actors, plan.services
        ));
    }
    output::confirm(
        &format!(
            "remove all {} actor(s) and {} service(s) of {}",
            plan.actors,
            plan.services,
            repo.root().display()
        ),
        confirm.yes,
    )?;
    let report = repo.destroy()?;
    if env.json {
        return output::json(&report);
    }
    output::line(&format!(
        "removed {} actor(s) and {} service(s); runs are kept",
        report.actors, report.services
    ))
}
