//! `--remote URL`: the commands that go through the daemon's API, printing what they print on
//! a local repository (the API's JSON is read back into the types the printers take). Every
//! other command is refused: none falls back to a local repository.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use ays_core::{
    ActorUpdate, BlueprintReport, DestroyReport, JobRecord, JobState, RunId, RunSummary,
    ServiceDetail, ServiceKey,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Env;
use super::job::{LIST_AT_MOST, pick_run};
use super::run::Progress;
use super::service::ServiceRow;
use crate::cli::{
    ActorCommand, Command, ConfirmArgs, JobCommand, JobFilterArgs, RunArgs, RunCommand,
    ScheduleArg, ServiceCommand, ServiceFilterArgs,
};
use crate::exit::BadInput;
use crate::output;
use crate::remote::{
    ActorUpdatedWire, ActorWire, BlueprintReportWire, Client, DeletedWire, DestroyWire, JobWire,
    RemoteError, RunDetailWire, RunSummaryWire, ServiceWire, segment,
};

/// Runs `command` through the daemon at `url`.
pub fn run(env: &Env, url: &str, repository: Option<&str>, command: Command) -> anyhow::Result<()> {
    // What has no route is refused before the daemon is asked anything.
    let supported = matches!(
        &command,
        Command::Blueprint { .. }
            | Command::Destroy { .. }
            | Command::Service(
                ServiceCommand::List(_)
                    | ServiceCommand::Show { .. }
                    | ServiceCommand::Delete { .. }
            )
            | Command::Actor(_)
            | Command::Run(
                RunCommand::List
                    | RunCommand::Show { .. }
                    | RunCommand::Create { .. }
                    | RunCommand::Resume { .. }
            )
            | Command::Job(_)
    );
    if !supported {
        return Err(not_available(&command).into());
    }
    if let Some(refusal) = no_dry_run(&command) {
        return Err(refusal.into());
    }
    let client = Client::connect(url, repository)?;
    match command {
        Command::Blueprint { path, .. } => blueprint(env, &client, path.as_deref()),
        Command::Destroy { confirm } => destroy(env, &client, &confirm),
        Command::Service(ServiceCommand::Delete {
            key,
            force,
            confirm,
        }) => service_delete(env, &client, &key, force, &confirm),
        Command::Actor(ActorCommand::Update { name }) => actor_update(env, &client, name),
        Command::Service(ServiceCommand::List(filter)) => service_list(env, &client, &filter),
        Command::Service(ServiceCommand::Show { key, filter }) => {
            service_show(env, &client, key.as_deref(), &filter)
        }
        Command::Actor(ActorCommand::List) => {
            let actors: Vec<ActorWire> = client.get(&client.path("actor"), &[])?;
            super::actor::print_list(env, actors.into_iter().map(Into::into).collect())
        }
        Command::Run(RunCommand::List) => {
            let runs: Vec<RunSummary> = runs(&client)?.into_iter().map(Into::into).collect();
            super::run::print_list(env, &runs)
        }
        Command::Run(RunCommand::Show { id, logs, dot, all }) => {
            let id = resolve(&client, id.as_deref())?;
            let detail = run_detail(&client, &id)?;
            super::run::print_detail(env, &detail, logs, dot, all)
        }
        Command::Run(RunCommand::Create { options }) => create(env, &client, &options),
        Command::Run(RunCommand::Resume {
            options,
            override_settings,
        }) => resume(env, &client, &options, override_settings),
        Command::Job(JobCommand::List { run, filter, all }) => {
            job_list(env, &client, run.as_deref(), &filter, all)
        }
        Command::Job(JobCommand::Show { run, number }) => {
            let id = resolve(&client, Some(&run))?;
            let path = client.path(&format!("job/{}/{number}", segment(id.as_str())));
            let job: JobWire = client.get(&path, &[])?;
            super::job::print_job(env, &JobRecord::from(job))
        }
        _ => Err(not_available(&command).into()),
    }
}

/// The refusal of a --dry-run that the API has no route for.
fn no_dry_run(command: &Command) -> Option<BadInput> {
    let (name, why) = match command {
        Command::Blueprint { dry_run: true, .. } => (
            "blueprint",
            "the API has no dry run for blueprints (`POST .../blueprint/NAME` applies one)",
        ),
        Command::Service(ServiceCommand::Delete { confirm, .. }) if confirm.dry_run => (
            "service delete",
            "the API has no route that plans a delete without doing it",
        ),
        _ => return None,
    };
    Some(BadInput(format!(
        "`ays {name} --dry-run` is not available with --remote: {why}; run it where the \
         repository is, without --remote or AYS_REMOTE"
    )))
}

/// The refusal of a command that has no route.
fn not_available(command: &Command) -> BadInput {
    let name = name_of(command);
    let why = match command {
        Command::Run(RunCommand::Abandon { .. }) => {
            " (the API has no route that ends a run and keeps it: `POST .../aysrun/ID/cancel` \
             stops it, `DELETE .../aysrun/ID` deletes it)"
        }
        _ => "",
    };
    BadInput(format!(
        "`ays {name}` is not available with --remote: run it where the repository is, without \
         --remote or AYS_REMOTE{why}"
    ))
}

/// The words that name `command` (`service delete`).
fn name_of(command: &Command) -> &'static str {
    match command {
        Command::Init { .. } => "init",
        Command::Blueprint { .. } => "blueprint",
        Command::Service(c) => match c {
            ServiceCommand::List(_) => "service list",
            ServiceCommand::Show { .. } => "service show",
            ServiceCommand::Delete { .. } => "service delete",
            ServiceCommand::State(_) => "service state",
            ServiceCommand::SetState { .. } => "service set-state",
        },
        Command::Actor(c) => match c {
            ActorCommand::List => "actor list",
            ActorCommand::Update { .. } => "actor update",
        },
        Command::Export { .. } => "export",
        Command::Restore { .. } => "restore",
        Command::Destroy { .. } => "destroy",
        Command::Run(c) => match c {
            RunCommand::Create { .. } => "run create",
            RunCommand::List => "run list",
            RunCommand::Show { .. } => "run show",
            RunCommand::Resume { .. } => "run resume",
            RunCommand::Abandon { .. } => "run abandon",
            RunCommand::Unlock { .. } => "run unlock",
        },
        Command::Do { .. } => "do",
        Command::Worker(_) => "worker",
        Command::Job(c) => match c {
            JobCommand::List { .. } => "job list",
            JobCommand::Show { .. } => "job show",
        },
        Command::Schema(_) => "schema",
        Command::Template(_) => "template",
        Command::Data(_) => "data",
        Command::Daemon(_) => "daemon",
        Command::Token(_) => "token",
        Command::Completion { .. } => "completion",
    }
}

/// `value`, the answer of the daemon to `what`, read as `T`.
fn decode<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> anyhow::Result<T> {
    serde_json::from_value(value)
        .with_context(|| format!("unexpected answer of the daemon to {what}"))
}

/// A blueprint as `GET .../blueprint` lists it.
#[derive(Deserialize)]
struct BlueprintListed {
    name: String,
}

/// `ays blueprint [FILE]`: FILE uploaded under its file name and executed; without FILE,
/// every active blueprint of the daemon's repository executed in name order (one after the
/// other, each as one unit: the API has no route that applies them all as one).
/// (--dry-run was refused before.)
fn blueprint(env: &Env, client: &Client, path: Option<&Path>) -> anyhow::Result<()> {
    let report = match path {
        Some(path) => upload_and_execute(env, client, path)?,
        None => {
            let mut listed: Vec<BlueprintListed> = client.get(&client.path("blueprint"), &[])?;
            listed.sort_by(|a, b| a.name.cmp(&b.name));
            let mut report = BlueprintReport::default();
            for (i, blueprint) in listed.iter().enumerate() {
                match execute_blueprint(client, &blueprint.name) {
                    Ok(one) => merge(&mut report, one),
                    Err(err) => {
                        if i > 0 {
                            let applied: Vec<&str> =
                                listed[..i].iter().map(|b| b.name.as_str()).collect();
                            output::note(&format!(
                                "the daemon applied {} before {} was refused",
                                applied.join(", "),
                                blueprint.name
                            ));
                        }
                        return Err(err);
                    }
                }
            }
            report
        }
    };
    super::blueprint::print_report(env, &report)
}

/// Adds `one`, the report of the next blueprint, to `all`.
fn merge(all: &mut BlueprintReport, one: BlueprintReport) {
    all.files.extend(one.files);
    all.actors_created.extend(one.actors_created);
    all.created.extend(one.created);
    all.updated.extend(one.updated);
    all.scheduled.extend(one.scheduled);
}

fn execute_blueprint(client: &Client, name: &str) -> anyhow::Result<BlueprintReport> {
    let path = client.path(&format!("blueprint/{}", segment(name)));
    let (_, answer) = client.post(&path, &json!({}))?;
    let report: BlueprintReportWire = decode(&format!("POST {path}"), answer)?;
    Ok(report.into())
}

/// Uploads the local blueprint `path` as the blueprint of its file name (rewriting one of
/// that name) and executes it. When it is refused, the upload is undone: the blueprint is
/// deleted, or gets its former content back.
fn upload_and_execute(env: &Env, client: &Client, path: &Path) -> anyhow::Result<BlueprintReport> {
    let path = if path.is_relative() {
        env.dir.join(path)
    } else {
        path.to_path_buf()
    };
    let content =
        std::fs::read_to_string(&path).map_err(|source| ays_core::BlueprintError::Io {
            path: path.clone(),
            source,
        })?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            BadInput(format!(
                "`{}` has no file name to name the blueprint by",
                path.display()
            ))
        })?
        .to_owned();
    let one = client.path(&format!("blueprint/{}", segment(&name)));
    let former = match client.post(
        &client.path("blueprint"),
        &json!({ "name": name, "content": content }),
    ) {
        Ok(_) => None,
        Err(RemoteError::Api { code, .. }) if code == "blueprint_exists" => {
            let old: Value = client.get(&one, &[])?;
            let old = old["content"].as_str().unwrap_or_default().to_owned();
            client.put(&one, &json!({ "content": content }))?;
            Some(old)
        }
        Err(err) => return Err(err.into()),
    };
    execute_blueprint(client, &name).inspect_err(|_| {
        let undone = match former {
            None => client.delete_empty(&one),
            Some(old) => client.put(&one, &json!({ "content": old })).map(|_| ()),
        };
        if let Err(err) = undone {
            output::note(&format!(
                "the refused blueprint {name} stays in the daemon's repository: {err}"
            ));
        }
    })
}

/// `ays service delete KEY [--force]`. The API deletes at once: there is no plan to show
/// first, so --dry-run was refused before, and the question (on a terminal, without --yes) names the
/// services from their children.
fn service_delete(
    env: &Env,
    client: &Client,
    key: &str,
    force: bool,
    confirm: &ConfirmArgs,
) -> anyhow::Result<()> {
    let key = super::service::parse_key(key)?;
    if output::will_ask(confirm.yes) {
        let mut deleted = vec![key.clone()];
        let mut next = 0;
        while next < deleted.len() {
            let children = service(client, &deleted[next])?.children;
            deleted.extend(children);
            next += 1;
        }
        let lines: Vec<String> = deleted.iter().map(|k| format!("will delete {k}")).collect();
        output::line(&lines.join("\n"))?;
        output::confirm(&format!("delete {} service(s)", deleted.len()), confirm.yes)?;
    }
    let path = client.path(&format!(
        "service/{}/{}",
        segment(key.role()),
        segment(key.instance())
    ));
    let query: &[(&str, &str)] = if force { &[("force", "true")] } else { &[] };
    let done: DeletedWire = client.delete(&path, query)?;
    super::service::print_deleted(env, &done.into())
}

/// `ays actor update [NAME]`: each actor updated through `PUT .../actor/NAME` (without NAME,
/// every actor, in name order).
fn actor_update(env: &Env, client: &Client, name: Option<String>) -> anyhow::Result<()> {
    let names = match name {
        Some(name) => vec![name],
        None => {
            #[derive(Deserialize)]
            struct Listed {
                name: String,
            }
            let mut listed: Vec<Listed> = client.get(&client.path("actor"), &[])?;
            listed.sort_by(|a, b| a.name.cmp(&b.name));
            listed.into_iter().map(|a| a.name).collect()
        }
    };
    let mut updates: Vec<ActorUpdate> = Vec::with_capacity(names.len());
    for name in &names {
        let path = client.path(&format!("actor/{}", segment(name)));
        let (_, answer) = client.put(&path, &json!({}))?;
        let updated: ActorUpdatedWire = decode(&format!("PUT {path}"), answer)?;
        updates.push(updated.into());
    }
    super::actor::print_updates(env, &updates)
}

/// `ays destroy`: `POST .../destroy`. The counts that --dry-run and the question show are
/// those of the daemon's lists of actors and services.
fn destroy(env: &Env, client: &Client, confirm: &ConfirmArgs) -> anyhow::Result<()> {
    if confirm.dry_run || output::will_ask(confirm.yes) {
        let actors: Vec<ActorWire> = client.get(&client.path("actor"), &[])?;
        let services: Vec<ServiceRow> = client.get(&client.path("service"), &[])?;
        let plan = DestroyReport {
            actors: actors.len(),
            services: services.len(),
        };
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
                "remove all {} actor(s) and {} service(s) of repository `{}` of the daemon at {}",
                plan.actors,
                plan.services,
                client.repository(),
                client.url()
            ),
            confirm.yes,
        )?;
    }
    let path = client.path("destroy");
    let (_, answer) = client.post(&path, &json!({}))?;
    let done: DestroyWire = decode(&format!("POST {path}"), answer)?;
    super::repo::print_destroyed(env, &done.into())
}

/// The query of the service filters given (checked as the local command checks them).
fn service_query(args: &ServiceFilterArgs) -> anyhow::Result<Vec<(&'static str, String)>> {
    super::service::filter(args)?;
    Ok([
        ("role", &args.role),
        ("name", &args.name),
        ("actor", &args.actor),
        ("parent", &args.parent),
        ("producer", &args.producer),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
    .collect())
}

fn query_ref<'a>(query: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    query.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

fn service_list(env: &Env, client: &Client, args: &ServiceFilterArgs) -> anyhow::Result<()> {
    let query = service_query(args)?;
    let rows: Vec<ServiceRow> = client.get(&client.path("service"), &query_ref(&query))?;
    super::service::print_list(env, &rows)
}

fn service(client: &Client, key: &ServiceKey) -> Result<ServiceDetail, RemoteError> {
    let path = client.path(&format!(
        "service/{}/{}",
        segment(key.role()),
        segment(key.instance())
    ));
    client.get::<ServiceWire>(&path, &[]).map(Into::into)
}

fn service_show(
    env: &Env,
    client: &Client,
    key: Option<&str>,
    args: &ServiceFilterArgs,
) -> anyhow::Result<()> {
    let keys = match key {
        Some(key) => vec![super::service::parse_key(key)?],
        None => {
            let query = service_query(args)?;
            let rows: Vec<ServiceRow> = client.get(&client.path("service"), &query_ref(&query))?;
            rows.iter()
                .map(|r| super::service::parse_key(&r.key))
                .collect::<anyhow::Result<_>>()?
        }
    };
    let mut views = Vec::with_capacity(keys.len());
    for key in &keys {
        views.push(service(client, key)?);
    }
    super::service::print_details(env, &views)
}

/// The stored runs, newest first (not the requests that made no run yet).
fn runs(client: &Client) -> anyhow::Result<Vec<RunSummaryWire>> {
    let runs: Vec<RunSummaryWire> = client.get(&client.path("aysrun"), &[])?;
    Ok(runs.into_iter().filter(RunSummaryWire::is_stored).collect())
}

/// The run `wanted` names, as `ays run show` and `ays job list` read it.
fn resolve(client: &Client, wanted: Option<&str>) -> anyhow::Result<RunId> {
    let ids = || -> anyhow::Result<Vec<RunId>> {
        Ok(runs(client)?
            .into_iter()
            .map(|r| RunSummary::from(r).id)
            .collect())
    };
    pick_run(
        wanted,
        || Ok(ids()?.into_iter().next()),
        |prefix| {
            Ok(ids()?
                .into_iter()
                .filter(|id| id.as_str().starts_with(prefix))
                .collect())
        },
    )
}

fn run_detail(client: &Client, id: &RunId) -> anyhow::Result<ays_run::RunDetail> {
    let path = client.path(&format!("aysrun/{}", segment(id.as_str())));
    let detail: RunDetailWire = client.get(&path, &[])?;
    Ok(detail.into())
}

fn job_list(
    env: &Env,
    client: &Client,
    run: Option<&str>,
    args: &JobFilterArgs,
    all: bool,
) -> anyhow::Result<()> {
    super::job::filter(args)?;
    let id = match run {
        Some(run) => resolve(client, Some(run))?,
        None => match runs(client)?.into_iter().next() {
            Some(latest) => RunSummary::from(latest).id,
            None if env.json => return output::json_array(Vec::<JobRecord>::new()),
            None => return output::line("no runs yet"),
        },
    };
    let mut query = vec![("run", id.to_string())];
    for (name, value) in [
        ("actor", &args.actor),
        ("service", &args.service),
        ("action", &args.action),
        ("state", &args.state),
    ] {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    let jobs: Vec<JobWire> = client.get(&client.path("job"), &query_ref(&query))?;
    let jobs: Vec<JobRecord> = jobs.into_iter().map(Into::into).collect();
    // Only a summary (past LIST_AT_MOST jobs) needs the run's steps.
    let record = if !env.json && !all && jobs.len() > LIST_AT_MOST {
        Some(run_detail(client, &id)?.run)
    } else {
        None
    };
    super::job::print_list(env, record.as_ref(), &jobs, all)
}

/// What `POST .../aysrun` answers.
#[derive(Deserialize)]
struct Queued {
    id: String,
}

/// What `POST .../aysrun` answers with `simulate`.
#[derive(Deserialize)]
struct Simulated {
    steps: Vec<PlannedStep>,
}

#[derive(Deserialize)]
struct PlannedStep {
    number: usize,
    jobs: Vec<PlannedJob>,
}

#[derive(Deserialize)]
struct PlannedJob {
    service: String,
    action: String,
    after: Vec<String>,
}

fn create(env: &Env, client: &Client, args: &RunArgs) -> anyhow::Result<()> {
    if args.no_exec {
        return Err(BadInput(
            "--no-exec is not available with --remote: the daemon runs every job".into(),
        )
        .into());
    }
    if args.dot {
        return Err(BadInput("--dot is not available with --remote".into()).into());
    }
    if args.workers {
        return Err(BadInput(
            "--workers is not available with --remote: the daemon executes its runs itself".into(),
        )
        .into());
    }
    let failure = if args.fail_fast {
        "fail_fast"
    } else if args.keep_going {
        "keep_going"
    } else {
        "stop_dependents"
    };
    let body = json!({
        "simulate": args.dry_run,
        "schedule": match args.schedule {
            ScheduleArg::Dag => "dag",
            ScheduleArg::Steps => "steps",
        },
        "failure": failure,
        "jobs": args.jobs.unwrap_or(0),
    });
    let (_, answer) = client.post(&client.path("aysrun"), &body)?;
    if args.dry_run {
        let plan: Simulated = serde_json::from_value(answer)
            .context("unexpected answer of the daemon to a simulated run")?;
        return print_plan(env, client, &plan);
    }
    queued(env, client, args, answer)
}

/// After a run was queued: follows it with --follow, else prints its id.
fn queued(env: &Env, client: &Client, args: &RunArgs, answer: Value) -> anyhow::Result<()> {
    let queued: Queued = serde_json::from_value(answer.clone())
        .context("unexpected answer of the daemon to a queued run")?;
    let id: RunId = queued.id.parse()?;
    if args.follow {
        return follow(env, client, &id);
    }
    if env.json {
        return output::json(&answer);
    }
    output::line(&format!("run {id}: queued"))?;
    output::note(&format!(
        "`ays run show {id}` shows it; `ays run create --follow` follows a run to its end"
    ));
    Ok(())
}

/// The plan of a simulated run, as `ays run create --dry-run` prints it: each job with the
/// state of its action, read from its service.
fn print_plan(env: &Env, client: &Client, plan: &Simulated) -> anyhow::Result<()> {
    if env.json {
        let steps: Vec<Vec<String>> = plan
            .steps
            .iter()
            .map(|s| {
                s.jobs
                    .iter()
                    .map(|j| format!("{}:{}", j.service, j.action))
                    .collect()
            })
            .collect();
        return output::json(&json!({ "steps": steps }));
    }
    if plan.steps.is_empty() {
        return output::line("nothing to run: no action is scheduled, changed or in error");
    }
    let mut services: HashMap<String, ServiceDetail> = HashMap::new();
    let mut text = String::new();
    for step in &plan.steps {
        text.push_str(&format!("step {}\n", step.number));
        for job in &step.jobs {
            if !services.contains_key(&job.service) {
                let key = super::service::parse_key(&job.service)?;
                services.insert(job.service.clone(), service(client, &key)?);
            }
            let state = services
                .get(&job.service)
                .and_then(|s| s.actions.iter().find(|a| a.name.as_str() == job.action))
                .map_or("new", |a| a.state.as_str());
            text.push_str(&format!("  {} {} [{state}]", job.service, job.action));
            if !job.after.is_empty() {
                text.push_str(&format!(" after {}", job.after.join(", ")));
            }
            text.push('\n');
        }
    }
    output::line(text.trim_end())
}

fn resume(
    env: &Env,
    client: &Client,
    args: &RunArgs,
    override_settings: bool,
) -> anyhow::Result<()> {
    for (given, flag) in [
        (override_settings, "--override-settings"),
        (args.dry_run, "--dry-run"),
        (args.no_exec, "--no-exec"),
    ] {
        if given {
            return Err(BadInput(format!(
                "`ays run resume {flag}` is not available with --remote: the daemon resumes a \
                 run with its own settings"
            ))
            .into());
        }
    }
    let unfinished = runs(client)?
        .into_iter()
        .map(RunSummary::from)
        .find(|r| !r.state.is_finished());
    let Some(run) = unfinished else {
        return Err(ays_run::RunError::NothingToResume.into());
    };
    let path = client.path(&format!("aysrun/{}", segment(run.id.as_str())));
    let (_, answer) = client.post(&path, &json!({}))?;
    queued(env, client, args, answer)
}

/// Follows run `id` through the daemon's event stream, showing progress as a local run does,
/// then reports it as `ays run create` does. Ctrl-C asks the daemon to cancel the run, once,
/// and stops following.
fn follow(env: &Env, client: &Client, id: &RunId) -> anyhow::Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;
    let events = client.events(&client.path(&format!("aysrun/{}/events", segment(id.as_str()))))?;
    // The stream is read on a thread of its own, so that Ctrl-C is seen while it waits.
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for event in events {
            if send.send(event).is_err() {
                return;
            }
        }
    });
    let progress = Progress::new(!env.json && !output::quiet());
    let ended = loop {
        let event = match receive.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => event?,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if interrupted.load(Ordering::SeqCst) {
                    progress.finish();
                    return Err(cancel(client, id));
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
        };
        let (name, data) = event;
        match name.as_str() {
            "job" => {
                let job = format!(
                    "{}:{}",
                    data["service"].as_str().unwrap_or_default(),
                    data["action"].as_str().unwrap_or_default()
                );
                match data["state"].as_str().map(str::parse::<JobState>) {
                    Some(Ok(JobState::Running)) => progress.started(&job),
                    Some(Ok(state @ (JobState::Ok | JobState::Error))) => {
                        progress.finished(&job, state);
                    }
                    _ => {}
                }
            }
            "run" => {
                if let Some(jobs) = data["jobs"].as_u64().filter(|n| *n > 0) {
                    progress.total(usize::try_from(jobs).unwrap_or(usize::MAX));
                }
                if let Some(end) = run_end(&data) {
                    break Some(end);
                }
            }
            "error" => {
                progress.finish();
                return Err(RemoteError::Api {
                    status: 200,
                    code: data["error"]["code"].as_str().unwrap_or("error").to_owned(),
                    message: data["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                }
                .into());
            }
            _ => {}
        }
    };
    progress.finish();
    match ended {
        Some(RunEnd::Finished) => {
            let detail = run_detail(client, id)?;
            super::run::report(env, Some(&detail.run), &detail.jobs)
        }
        Some(RunEnd::Empty) => super::run::report(env, None, &[]),
        Some(RunEnd::Failed(message)) => Err(anyhow!("run {id}: {message}")),
        None => Err(anyhow!(
            "the daemon at {} ended the stream before run {id} ended: `ays run show {id}` \
             shows where it is",
            client.url()
        )),
    }
}

/// How a followed run ended, from a `run` event.
enum RunEnd {
    /// It ended: `ok` or `error`.
    Finished,
    /// Nothing was scheduled: no run was stored.
    Empty,
    /// It was refused, cancelled, or stopped unfinished.
    Failed(String),
}

/// The end that a `run` event says, if it says one.
fn run_end(data: &Value) -> Option<RunEnd> {
    if let Some(message) = data["message"].as_str() {
        return Some(RunEnd::Failed(message.to_owned()));
    }
    let queue = &data["queue"];
    match queue["state"].as_str() {
        Some("empty") => return Some(RunEnd::Empty),
        Some(state @ ("refused" | "cancelled")) => {
            let message = queue["message"].as_str().unwrap_or_default();
            return Some(RunEnd::Failed(format!("{state}: {message}")));
        }
        _ => {}
    }
    data["state"]
        .as_str()
        .and_then(|s| s.parse::<JobState>().ok())
        .filter(|s| s.is_finished())
        .map(|_| RunEnd::Finished)
}

/// Asks the daemon to cancel run `id` (Ctrl-C while following): the error to end with.
fn cancel(client: &Client, id: &RunId) -> anyhow::Error {
    let path = client.path(&format!("aysrun/{}/cancel", segment(id.as_str())));
    match client.post(&path, &json!({})) {
        Ok((_, answer)) => {
            let outcome = answer["outcome"].as_str().unwrap_or_default();
            let what = match outcome {
                "dequeued" => "it will not start".to_owned(),
                "stopping" => "no new job will start; the running ones finish; it stays \
                               unfinished, and `ays run resume` (through the daemon) goes on \
                               with it"
                    .to_owned(),
                other => other.to_owned(),
            };
            anyhow!("interrupted: the daemon cancelled run {id}: {what}")
        }
        Err(err) => anyhow::Error::from(err).context(format!(
            "interrupted: cannot cancel run {id} through the daemon"
        )),
    }
}
