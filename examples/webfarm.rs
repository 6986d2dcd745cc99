//! The web farm: a repository of five actor templates (datacenter, sshkey, node, app, load
//! balancer) whose shell actions do real local work, a blueprint, and a run that installs and
//! starts the farm in parallel, then checks its effects and uninstalls it again.
//!
//! Run with `cargo run --example webfarm`; it uses the embedded store (no server) and a
//! temporary directory, and leaves no process running. `--keep DIR` builds the farm in DIR
//! instead and leaves it installed, to explore with the `ays` command.

use std::error::Error;
use std::path::{Path, PathBuf};

use ays_core::{ActionName, ApplyOptions, InitOptions, JobFilter, Repository, ServiceFilter};
use ays_run::{RunOptions, create_run};

fn main() -> Result<(), Box<dyn Error>> {
    let keep = keep_dir()?;
    let tmp = tempfile::tempdir()?;
    let root = keep.clone().unwrap_or_else(|| tmp.path().join("webfarm"));

    // 1. A repository with the example's templates and blueprint, on the embedded store.
    let repo = Repository::init(&root, InitOptions::default())?;
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("webfarm");
    copy_dir(
        &example.join("actorTemplates"),
        &root.join("actorTemplates"),
    )?;
    copy_dir(&example.join("blueprints"), &root.join("blueprints"))?;
    println!("repository {} on {}", root.display(), repo.store_url());

    // 2. The blueprint creates the services and schedules install everywhere and start on apps.
    let report = repo.apply_blueprints(ApplyOptions::default())?;
    println!(
        "blueprint: {} services created, {} actions scheduled",
        report.created.len(),
        report.scheduled.len()
    );

    // 3. The run: the three nodes install in parallel, each app after its node, the load
    //    balancer after every app.
    let outcome = create_run(&repo, &RunOptions::default())?;
    let run = outcome.record.ok_or("the blueprint scheduled nothing")?;
    println!("run {}: {} ({} steps)", run.id, run.state, run.steps.len());
    for job in repo.jobs(&run.id, &JobFilter::all())? {
        let ms = job.duration_ms().unwrap_or_default();
        println!(
            "  {:<16} {:<10} {:<6} {ms} ms",
            job.service.to_string(),
            job.action.to_string(),
            job.state.as_str()
        );
    }
    if run.state != ays_core::JobState::Ok {
        return Err(format!(
            "run {} failed: see `ays -C {} run show --logs`",
            run.id,
            root.display()
        )
        .into());
    }

    // 4. The effects are real: files written, processes started, data recorded.
    let backends = std::fs::read_to_string(root.join("var/lb!front/backends.conf"))?;
    print!("load balancer backends:\n{backends}");
    for app in repo.services(&ServiceFilter {
        role: Some("app".into()),
        ..ServiceFilter::default()
    })? {
        let data = repo.service_data(&app)?;
        println!("  {} runs as pid {}", app.key, data["pid"]);
    }

    // 5. Uninstall (stop comes first: consumers before producers), unless asked to keep it.
    if keep.is_none() {
        let uninstall: ActionName = "uninstall".parse()?;
        repo.schedule_action(&ServiceFilter::all(), &uninstall, true)?;
        let outcome = create_run(&repo, &RunOptions::default())?;
        let state = outcome
            .record
            .map(|r| r.state.as_str())
            .unwrap_or("nothing to run");
        println!("uninstall run: {state}");
    }
    Ok(())
}

/// `--keep DIR`, if given.
fn keep_dir() -> Result<Option<PathBuf>, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(None),
        (Some("--keep"), Some(dir)) => Ok(Some(PathBuf::from(dir))),
        _ => Err("usage: cargo run --example webfarm [-- --keep DIR]".into()),
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
