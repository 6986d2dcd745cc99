//! `ays run create|list|show|resume|unlock` and `ays do`: planning and executing runs.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Mutex;

use anyhow::{Context, bail};
use ays_core::{ActionName, JobRecord, JobState, Repository, RunRecord, RunSummary, ServiceKey};
use ays_run::{CancelToken, FailurePolicy, JournalEvent, RunOptions, RunOutcome, Schedule};
use indicatif::{ProgressBar, ProgressStyle};

use super::Env;
use super::job::{LIST_AT_MOST, job_table, logs_text, print_jobs, run_id};
use crate::cli::{RunArgs, RunCommand, ScheduleArg, ServiceFilterArgs};
use crate::output::{self, Table};

pub fn run(env: &Env, command: RunCommand) -> anyhow::Result<()> {
    let repo = env.repository()?;
    match command {
        RunCommand::Create { options } => execute(env, &repo, &options, Vec::new(), None, None),
        RunCommand::Resume {
            options,
            override_settings,
        } => execute(
            env,
            &repo,
            &options,
            Vec::new(),
            Some(override_settings),
            None,
        ),
        RunCommand::Abandon { id } => abandon(env, &repo, &id),
        RunCommand::List => list(env, &repo),
        RunCommand::Show { id, logs, dot, all } => show(env, &repo, id.as_deref(), logs, dot, all),
        RunCommand::Unlock { force: _ } => unlock(env, &repo),
    }
}

/// `ays do ACTION`: schedules the action on the selected services, then runs it.
pub fn run_do(
    env: &Env,
    action: &str,
    force: bool,
    filter: &ServiceFilterArgs,
    options: &RunArgs,
) -> anyhow::Result<()> {
    let repo = env.repository()?;
    let action: ActionName = action
        .parse()
        .with_context(|| format!("`{action}` is not an action name"))?;
    let filter = super::service::filter(filter)?;
    let matched = repo.services(&filter)?;
    if matched.is_empty() {
        return Err(crate::exit::BadInput("no service matches the filters".into()).into());
    }
    let with_action: BTreeSet<ServiceKey> = matched
        .iter()
        .filter(|s| s.action(action.as_str()).is_some())
        .map(|s| s.key.clone())
        .collect();
    if with_action.is_empty() {
        let known: BTreeSet<&str> = matched
            .iter()
            .flat_map(|s| s.actions.iter().map(|a| a.name.as_str()))
            .collect();
        return Err(crate::exit::BadInput(format!(
            "no selected service has an action `{action}` (their actions: {})",
            known.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    if options.dry_run {
        return execute(
            env,
            &repo,
            options,
            vec![action],
            None,
            Some(ays_run::AssumeScheduled {
                services: with_action,
                force,
            }),
        );
    }
    let scheduled = repo.schedule_action(&filter, &action, force)?;
    if !env.json {
        output::line(&format!(
            "scheduled {action} on {} service(s)",
            scheduled.len()
        ))?;
    }
    execute(env, &repo, options, vec![action], None, None)
}

fn run_options(
    args: &RunArgs,
    only: &[ActionName],
    cancel: CancelToken,
) -> anyhow::Result<RunOptions<'static>> {
    let mut options = RunOptions::default();
    options.schedule = match args.schedule {
        ScheduleArg::Steps => Schedule::Steps,
        ScheduleArg::Dag => Schedule::Dag,
    };
    options.jobs = args.jobs.unwrap_or(0);
    options.failure = if args.fail_fast {
        FailurePolicy::FailFast
    } else if args.keep_going {
        FailurePolicy::KeepGoing
    } else {
        FailurePolicy::StopDependents
    };
    options.no_exec = args.no_exec;
    options.dry_run = args.dry_run;
    options.workers = args.workers;
    options.only_actions = only
        .iter()
        .map(|a| {
            a.as_str()
                .parse()
                .with_context(|| format!("`{a}` is not an action name"))
        })
        .collect::<anyhow::Result<_>>()?;
    options.cancel = Some(cancel);
    Ok(options)
}

/// Ctrl-C once stops starting new jobs, twice kills the running ones; both leave a run that
/// `ays run resume` finishes.
fn install_ctrl_c(token: &CancelToken) -> anyhow::Result<()> {
    let token = token.clone();
    ctrlc::set_handler(move || {
        let level = token.request();
        let what = if level >= 2 {
            "killing running jobs"
        } else {
            "no new job will start; Ctrl-C again kills the running ones"
        };
        eprintln!("interrupted: {what}");
    })
    .context("cannot install the Ctrl-C handler")
}

fn execute(
    env: &Env,
    repo: &Repository,
    args: &RunArgs,
    only: Vec<ActionName>,
    resume: Option<bool>,
    assume: Option<ays_run::AssumeScheduled>,
) -> anyhow::Result<()> {
    let token = CancelToken::new();
    if !args.dry_run {
        install_ctrl_c(&token)?;
    }
    let mut options = run_options(args, &only, token)?;
    options.override_stored = resume.unwrap_or(false);
    options.assume_scheduled = assume;
    let progress = Progress::new(!env.json && !output::quiet());
    let observer = |event: &JournalEvent| progress.event(event);
    options.observer = Some(&observer);
    let outcome = if resume.is_some() {
        ays_run::resume_run(repo, &options)?
    } else {
        ays_run::create_run(repo, &options)?
    };
    progress.finish();
    if args.dry_run {
        return print_plan(env, &outcome, args.dot);
    }
    report(env, outcome.record.as_ref(), &outcome.jobs)
}

fn print_plan(env: &Env, outcome: &RunOutcome, dot: bool) -> anyhow::Result<()> {
    if dot {
        return output::line(outcome.plan.to_dot().trim_end());
    }
    if env.json {
        let steps: Vec<Vec<String>> = outcome
            .plan
            .steps()
            .iter()
            .map(|step| {
                step.jobs()
                    .iter()
                    .filter_map(|id| outcome.plan.job(*id))
                    .map(|job| job.key().to_string())
                    .collect()
            })
            .collect();
        return output::json(&serde_json::json!({ "steps": steps }));
    }
    if outcome.plan.is_empty() {
        return output::line("nothing to run: no action is scheduled, changed or in error");
    }
    output::line(outcome.plan.render_text().trim_end())
}

/// Prints how a run ended, as `ays run create` does (`None`: nothing was run), and fails as it
/// does when the run did not end `ok`.
pub fn report(env: &Env, record: Option<&RunRecord>, jobs: &[JobRecord]) -> anyhow::Result<()> {
    let Some(record) = record else {
        if env.json {
            return output::json(&serde_json::json!({ "run": null, "jobs": [] }));
        }
        return output::line("nothing to run: no action is scheduled, changed or in error");
    };
    if env.json {
        output::json(&serde_json::json!({ "run": record, "jobs": jobs }))?;
    } else {
        print_jobs(record, jobs)?;
        output::line(&format!("run {}: {}", record.id, record.state))?;
    }
    let failed = jobs.iter().filter(|j| j.state == JobState::Error).count();
    if record.state == JobState::Running {
        bail!(
            "run {} was interrupted: `ays run resume` finishes it without running its finished jobs again",
            record.id
        );
    }
    if record.state != JobState::Ok {
        let not_run = jobs.iter().filter(|j| j.state == JobState::New).count();
        let mut message = format!(
            "run {} ended in {}: {failed} job(s) failed, {not_run} not run (see `ays run show {} --logs`)",
            record.id, record.state, record.id
        );
        for job in jobs.iter().filter(|j| j.state == JobState::Error).take(20) {
            let reason = job
                .logs
                .iter()
                .rev()
                .find(|l| l.category == ays_core::JobLogCategory::ErrorMsg)
                .map_or("no error message", |l| l.message.as_str());
            let key = format!("{}:{}", job.service, job.action);
            // Runtime errors name their job already.
            let reason = reason.strip_prefix(&format!("{key}: ")).unwrap_or(reason);
            message.push_str(&format!("\n  {key}: {reason}"));
        }
        return Err(crate::exit::RunFailed(message).into());
    }
    Ok(())
}

fn list(env: &Env, repo: &Repository) -> anyhow::Result<()> {
    print_list(env, &ays_run::list_runs(repo)?)
}

/// Prints runs as `ays run list` does.
pub fn print_list(env: &Env, runs: &[RunSummary]) -> anyhow::Result<()> {
    if env.json {
        return output::json(&runs);
    }
    if runs.is_empty() {
        return output::line("no runs yet");
    }
    let mut table = Table::new(&["RUN", "STATE", "STEPS", "JOBS", "CREATED"]);
    for run in runs {
        table.row(vec![
            run.id.to_string(),
            run.state.as_str().to_owned(),
            run.steps.to_string(),
            run.jobs.to_string(),
            output::time(run.created_at),
        ]);
    }
    table.print()
}

fn show(
    env: &Env,
    repo: &Repository,
    id: Option<&str>,
    logs: bool,
    dot: bool,
    all: bool,
) -> anyhow::Result<()> {
    let id = run_id(repo, id)?;
    print_detail(env, &ays_run::show_run(repo, &id)?, logs, dot, all)
}

/// Prints a run as `ays run show` does.
pub fn print_detail(
    env: &Env,
    detail: &ays_run::RunDetail,
    logs: bool,
    dot: bool,
    all: bool,
) -> anyhow::Result<()> {
    if dot {
        return output::line(run_dot(detail).trim_end());
    }
    if env.json {
        return output::json(detail);
    }
    output::line(&format!(
        "run {}: {}\n  created: {}\n  finished: {}",
        detail.run.id,
        detail.run.state,
        output::time(detail.run.created_at),
        output::time_or(detail.run.finished_at, "not yet")
    ))?;
    if !all && detail.jobs.len() > LIST_AT_MOST {
        return print_jobs(&detail.run, &detail.jobs);
    }
    for step in &detail.run.steps {
        let jobs: Vec<String> = step
            .jobs
            .iter()
            .map(|j| format!("{}:{}", j.service, j.action))
            .collect();
        output::line(&format!(
            "  step {} {}: {}",
            step.number,
            step.state,
            jobs.join(", ")
        ))?;
    }
    job_table(&detail.jobs).print()?;
    if logs {
        for job in &detail.jobs {
            let text = logs_text(job);
            if !text.is_empty() {
                output::line(&format!(
                    "job {} {}:{}",
                    job.number, job.service, job.action
                ))?;
                output::line(text.trim_end())?;
            }
        }
    }
    Ok(())
}

/// A stored run as Graphviz: one cluster per step, each job coloured by its state, and an edge
/// from each step to the next (a stored run keeps its steps, not every job's prerequisites;
/// `ays run create --dry-run --dot` draws those).
fn run_dot(detail: &ays_run::RunDetail) -> String {
    fn quote(text: &str) -> String {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        format!("\"{escaped}\"")
    }
    fn colour(state: JobState) -> &'static str {
        match state {
            JobState::Ok => "palegreen",
            JobState::Error => "salmon",
            JobState::Running => "khaki",
            JobState::New => "white",
        }
    }
    let mut text = format!(
        "digraph {} {{\n  compound=true;\n  rankdir=LR;\n  node [shape=box, style=filled];\n",
        quote(&format!("run {}", detail.run.id))
    );
    for step in &detail.run.steps {
        text.push_str(&format!(
            "  subgraph cluster_{} {{\n    label={};\n",
            step.number,
            quote(&format!("step {} ({})", step.number, step.state))
        ));
        for job in &step.jobs {
            let state = detail
                .jobs
                .iter()
                .find(|j| j.number == job.number)
                .map_or(JobState::New, |j| j.state);
            text.push_str(&format!(
                "    j{} [label={}, fillcolor={}];\n",
                job.number,
                quote(&format!("{}\n{} [{}]", job.service, job.action, state)),
                colour(state)
            ));
        }
        text.push_str("  }\n");
    }
    for pair in detail.run.steps.windows(2) {
        if let [from, to] = pair
            && let (Some(a), Some(b)) = (from.jobs.first(), to.jobs.first())
        {
            text.push_str(&format!(
                "  j{} -> j{} [ltail=cluster_{}, lhead=cluster_{}];\n",
                a.number, b.number, from.number, to.number
            ));
        }
    }
    text.push_str("}\n");
    text
}

fn abandon(env: &Env, repo: &Repository, id: &str) -> anyhow::Result<()> {
    let record = ays_run::abandon_run(repo, &id.parse()?)?;
    if env.json {
        return output::json(&record);
    }
    output::line(&format!("run {} abandoned: {}", record.id, record.state))
}

fn unlock(env: &Env, repo: &Repository) -> anyhow::Result<()> {
    let removed = ays_run::unlock(repo)?;
    if env.json {
        return output::json(&removed);
    }
    match removed {
        Some(lock) => output::line(&format!(
            "removed the lock of run {} (host {}, pid {})",
            lock.run, lock.host, lock.pid
        )),
        None => output::line("the repository was not locked"),
    }
}

/// Shows a run while it executes: a progress bar with counts per state and the running jobs on
/// a terminal, one plain line per job otherwise. Output goes to stderr; stdout is for results.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    state: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    ok: usize,
    error: usize,
    running: BTreeSet<String>,
}

impl Progress {
    /// Progress on stderr, unless `enabled` is false.
    pub fn new(enabled: bool) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (enabled && terminal).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            plain: enabled && !terminal,
            state: Mutex::new(Counts::default()),
        }
    }

    fn event(&self, event: &JournalEvent) {
        match event {
            JournalEvent::RunStarted { jobs, .. } => self.total(*jobs),
            JournalEvent::JobStarted { job, .. } => self.started(&job.to_string()),
            JournalEvent::JobFinished { job, state, .. } => self.finished(&job.to_string(), *state),
            _ => {}
        }
    }

    /// The run has `jobs` jobs.
    pub fn total(&self, jobs: usize) {
        self.lock().total = jobs;
        if let Some(bar) = &self.bar {
            bar.set_length(u64::try_from(jobs).unwrap_or(u64::MAX));
        }
    }

    /// Job `job` (`service:action`) started.
    pub fn started(&self, job: &str) {
        let mut counts = self.lock();
        counts.running.insert(job.to_owned());
        self.show(&counts, format!("started  {job}"));
    }

    /// Job `job` (`service:action`) ended in `state`.
    pub fn finished(&self, job: &str, state: JobState) {
        let mut counts = self.lock();
        counts.running.remove(job);
        match state {
            JobState::Ok => counts.ok += 1,
            _ => counts.error += 1,
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        self.show(&counts, format!("finished {job}: {state}"));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn show(&self, counts: &Counts, line: String) {
        if let Some(bar) = &self.bar {
            let running: Vec<&str> = counts.running.iter().map(String::as_str).collect();
            bar.set_message(format!(
                "ok {} error {} running {}: {}",
                counts.ok,
                counts.error,
                counts.running.len(),
                running.join(" ")
            ));
        } else if self.plain {
            eprintln!("{line}");
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
