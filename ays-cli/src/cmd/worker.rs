//! `ays worker` and `ays worker list`: workers that run the jobs of runs made with `--workers`.

use anyhow::Context;
use ays_run::CancelToken;
use ays_run::distributed::{
    WorkerOptions, WorkerRecord, default_worker_name, list_workers, run_worker,
};

use super::Env;
use crate::cli::{WorkerArgs, WorkerCommand};
use crate::exit::BadInput;
use crate::output;

pub fn run(env: &Env, args: &WorkerArgs) -> anyhow::Result<()> {
    let store = store_url(env)?;
    match args.command {
        Some(WorkerCommand::List) => list(env, &store),
        None => work(env, args, store),
    }
}

/// `--store`, else the store of the repository holding the current directory.
fn store_url(env: &Env) -> anyhow::Result<String> {
    if let Some(url) = &env.store {
        return Ok(url.clone());
    }
    let repo = env.repository().context(
        "a worker needs the store its coordinators use: pass --store URL (redis://… or \
         redis+cluster://…), or run it inside a repository on such a store",
    )?;
    Ok(repo.store_url().to_owned())
}

fn work(env: &Env, args: &WorkerArgs, store: String) -> anyhow::Result<()> {
    let lease = ays_hrd::parse_duration(&args.lease)
        .map_err(|err| BadInput(format!("--lease `{}`: {err}", args.lease)))?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => default_worker_name(),
    };
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains('/') {
        return Err(BadInput(format!(
            "--name `{name}`: a worker name is not empty and has no space or `/`"
        ))
        .into());
    }
    let concurrency = args
        .concurrency
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    if concurrency == 0 {
        return Err(BadInput("--concurrency 0 would run nothing".to_owned()).into());
    }
    // Actions files and job directories live here while the worker runs.
    let dir = tempfile::Builder::new()
        .prefix("ays-worker-")
        .tempdir()
        .context("cannot make the worker's directory")?;
    let mut options = WorkerOptions::new(store.clone(), name.clone(), dir.path());
    options.concurrency = concurrency;
    options.lease = lease;
    stop_on_signals(&options.stop)?;
    output::note(&format!(
        "worker `{name}` on {store} (concurrency {concurrency}, lease {}); Ctrl-C stops it",
        humantime::format_duration(lease)
    ));
    let report = run_worker(&options).map_err(|err| -> anyhow::Error {
        match err {
            ays_run::WorkerError::NameTaken { .. } | ays_run::WorkerError::Invalid { .. } => {
                BadInput(err.to_string()).into()
            }
            other => other.into(),
        }
    })?;
    if env.json {
        output::json(&serde_json::json!({
            "name": name,
            "done": report.done,
            "failed": report.failed,
        }))
    } else {
        output::line(&format!(
            "worker `{name}` stopped: {} jobs run, {} failed",
            report.done, report.failed
        ))
    }
}

/// SIGINT or SIGTERM once stops taking jobs, twice kills the running ones.
fn stop_on_signals(token: &CancelToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    // Registered here, before any job runs, so that no signal is missed.
    let (mut int, mut term) = runtime
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .context("cannot install the signal handlers")?;
    let token = token.clone();
    std::thread::Builder::new()
        .name("ays-signals".to_owned())
        .spawn(move || {
            runtime.block_on(async {
                loop {
                    tokio::select! {
                        got = int.recv() => if got.is_none() { break },
                        got = term.recv() => if got.is_none() { break },
                    }
                    let level = token.request();
                    let what = if level >= 2 {
                        "killing the running jobs; other workers will run them"
                    } else {
                        "taking no more jobs, letting the running ones finish; again kills them"
                    };
                    output::warn(&format!("stopping: {what}"));
                }
            });
        })
        .context("cannot start the signal handler")?;
    Ok(())
}

fn list(env: &Env, store: &str) -> anyhow::Result<()> {
    let mut workers =
        list_workers(store).with_context(|| format!("cannot read the workers of {store}"))?;
    workers.sort_by(|a, b| a.name.cmp(&b.name));
    if env.json {
        return output::json(&workers);
    }
    let mut table = output::Table::new(&[
        "NAME",
        "HOST",
        "PID",
        "IN FLIGHT",
        "DONE",
        "HEARTBEAT",
        "UP SINCE",
    ]);
    for w in &workers {
        table.row(row(w));
    }
    table.print_or(&format!("no live worker on {store}"))
}

fn row(w: &WorkerRecord) -> Vec<String> {
    vec![
        w.name.clone(),
        w.host.clone(),
        w.pid.to_string(),
        format!("{}/{}", w.in_flight.len(), w.concurrency),
        w.done.to_string(),
        format!("{:.1}s ago", w.heartbeat_age().as_secs_f64()),
        output::time(w.started_ms),
    ]
}
