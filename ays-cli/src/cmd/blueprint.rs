//! `ays blueprint [PATH] [--dry-run]`.

use std::path::Path;

use ays_core::{ApplyOptions, BlueprintReport};

use super::Env;
use crate::output::{self, Table};

pub fn run(env: &Env, path: Option<&Path>, dry_run: bool) -> anyhow::Result<()> {
    let repo = env.repository()?;
    let path = path.map(|p| {
        if p.is_relative() {
            env.dir.join(p)
        } else {
            p.to_path_buf()
        }
    });
    let options = ApplyOptions { dry_run };
    let report = match path {
        Some(path) => repo.apply_blueprint_file(&path, options)?,
        None => repo.apply_blueprints(options)?,
    };
    print_report(env, &report)
}

/// Prints what a blueprint did, as `ays blueprint` does.
pub fn print_report(env: &Env, report: &BlueprintReport) -> anyhow::Result<()> {
    if env.json {
        return output::json(report);
    }
    output::line(&summary(report))?;
    table(report).print()
}

fn summary(report: &BlueprintReport) -> String {
    let verb = if report.dry_run {
        "would apply"
    } else {
        "applied"
    };
    let files = if report.files.is_empty() {
        "no blueprint".to_owned()
    } else {
        report.files.join(", ")
    };
    format!(
        "{verb} {files}: {} created, {} updated, {} scheduled",
        report.created.len(),
        report.updated.len(),
        report.scheduled.len()
    )
}

fn table(report: &BlueprintReport) -> Table {
    let mut table = Table::new(&["CHANGE", "SERVICE", "DETAIL"]);
    for actor in &report.actors_created {
        table.row(vec!["actor".into(), actor.to_string(), "created".into()]);
    }
    for key in &report.created {
        table.row(vec!["create".into(), key.to_string(), String::new()]);
    }
    for updated in &report.updated {
        let detail: Vec<String> = updated
            .fields
            .iter()
            .map(|f| format!("{}: {} -> {}", f.field, f.old, f.new))
            .collect();
        table.row(vec![
            "update".into(),
            updated.key.to_string(),
            detail.join(", "),
        ]);
    }
    for scheduled in &report.scheduled {
        table.row(vec![
            "schedule".into(),
            scheduled.key.to_string(),
            format!(
                "{}: {} -> {}",
                scheduled.action,
                scheduled.from.as_str(),
                scheduled.to.as_str()
            ),
        ]);
    }
    table
}
