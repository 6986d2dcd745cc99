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
    let token = created_token();
    if env.json {
        return output::json(&serde_json::json!({
            "path": repo.root(),
            "id": repo.id(),
            "store": repo.store_url(),
            "token_created": token,
        }));
    }
    output::line(&format!(
        "initialised AYS repository {} (id {}, store {})",
        repo.root().display(),
        repo.id(),
        repo.store_url()
    ))?;
    if let Some(path) = token {
        output::line(&format!(
            "created the API token of `ays daemon` in {} (`ays token show` prints it)",
            path.display()
        ))?;
    }
    Ok(())
}

/// Creates this user's API token if there is none yet; where, when it was created now. A token
/// that cannot be made does not undo the repository: a warning says so, and `ays token rotate`
/// or `ays daemon` makes it later.
fn created_token() -> Option<PathBuf> {
    let made = ays_daemon::token::TokenFile::locate()
        .and_then(|file| Ok((file.read_or_create()?.1, file)));
    match made {
        Ok((true, file)) => Some(file.path().to_path_buf()),
        Ok((false, _)) => None,
        Err(err) => {
            output::warn(&format!(
                "the API token of `ays daemon` is not usable: {:#}",
                anyhow::Error::from(err)
            ));
            None
        }
    }
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
    print_destroyed(env, &report)
}

/// Prints what `ays destroy` removed.
pub fn print_destroyed(env: &Env, report: &ays_core::DestroyReport) -> anyhow::Result<()> {
    if env.json {
        return output::json(report);
    }
    output::line(&format!(
        "removed {} actor(s) and {} service(s); runs are kept",
        report.actors, report.services
    ))
}
