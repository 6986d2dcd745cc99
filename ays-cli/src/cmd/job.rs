//! `ays job list|show`: the stored jobs of runs.

use anyhow::Context;
use std::collections::HashMap;

use ays_core::{JobFilter, JobRecord, JobState, Repository, RunId, RunRecord};

use super::Env;
use crate::cli::{JobCommand, JobFilterArgs};
use crate::output::{self, Table};

pub fn run(env: &Env, command: JobCommand) -> anyhow::Result<()> {
    let repo = env.repository()?;
    match command {
        JobCommand::List { run, filter, all } => list(env, &repo, run.as_deref(), &filter, all),
        JobCommand::Show { run, number } => show(env, &repo, &run, number),
    }
}

pub fn filter(args: &JobFilterArgs) -> anyhow::Result<JobFilter> {
    Ok(JobFilter {
        actor: args
            .actor
            .as_deref()
            .map(|a| {
                a.parse()
                    .with_context(|| format!("`{a}` is not an actor name"))
            })
            .transpose()?,
        service: args
            .service
            .as_deref()
            .map(|s| {
                s.parse()
                    .with_context(|| format!("`{s}` is not a service key (role!instance)"))
            })
            .transpose()?,
        action: args
            .action
            .as_deref()
            .map(|a| {
                a.parse()
                    .with_context(|| format!("`{a}` is not an action name"))
            })
            .transpose()?,
        state: args.state.as_deref().map(str::parse).transpose()?,
    })
}

/// The newest run, if there is one.
fn latest_run(repo: &Repository) -> anyhow::Result<Option<RunId>> {
    Ok(repo.runs()?.into_iter().next().map(|r| r.id))
}

/// The run `run` names: a run id, a prefix of exactly one, or `latest` (also the default).
pub fn run_id(repo: &Repository, run: Option<&str>) -> anyhow::Result<RunId> {
    // The ids only: no run record is read to find one.
    pick_run(run, || latest_run(repo), |prefix| Ok(repo.run_ids(prefix)?))
}

/// The run `run` names, given the newest run and the ids that begin with a prefix.
pub fn pick_run(
    run: Option<&str>,
    latest: impl FnOnce() -> anyhow::Result<Option<RunId>>,
    matching: impl FnOnce(&str) -> anyhow::Result<Vec<RunId>>,
) -> anyhow::Result<RunId> {
    let wanted = match run {
        None | Some("latest") => {
            return latest()?.context("the repository has no run yet");
        }
        Some(run) => run,
    };
    let mut matching = matching(wanted)?;
    if let Some(exact) = matching.iter().position(|id| id.as_str() == wanted) {
        return Ok(matching.swap_remove(exact));
    }
    match matching.len() {
        1 => Ok(matching.swap_remove(0)),
        0 => Err(
            crate::exit::BadInput(format!("no run `{wanted}` (`ays run list` lists them)")).into(),
        ),
        _ => Err(crate::exit::BadInput(format!(
            "`{wanted}` names {} runs: {}",
            matching.len(),
            matching
                .iter()
                .map(RunId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

fn list(
    env: &Env,
    repo: &Repository,
    run: Option<&str>,
    args: &JobFilterArgs,
    all: bool,
) -> anyhow::Result<()> {
    let run = match run {
        Some(run) => run_id(repo, Some(run))?,
        None => match latest_run(repo)? {
            Some(latest) => latest,
            None if env.json => return output::json_array(Vec::<JobRecord>::new()),
            None => return output::line("no runs yet"),
        },
    };
    let jobs = repo.jobs(&run, &filter(args)?)?;
    if env.json {
        return output::json_array(&jobs);
    }
    print_list(env, repo.run(&run)?.as_ref(), &jobs, all)
}

/// Prints the jobs of a run as `ays job list` does (`run` is needed past [`LIST_AT_MOST`]
/// jobs, for the summary).
pub fn print_list(
    env: &Env,
    run: Option<&RunRecord>,
    jobs: &[JobRecord],
    all: bool,
) -> anyhow::Result<()> {
    if env.json {
        return output::json_array(jobs);
    }
    match run {
        Some(record) if !all => print_jobs(record, jobs),
        _ => job_table(jobs).print_or("no jobs match"),
    }
}

/// Runs with more jobs than this print a summary unless `--all` is given.
pub const LIST_AT_MOST: usize = 50;

/// The failed jobs a summary names, at most.
const FAILED_AT_MOST: usize = 20;

/// `jobs` of `run` as a table, or, past [`LIST_AT_MOST`] jobs, a summary: per step its state
/// and how many of its jobs are in each state, then the failed jobs.
pub fn print_jobs(run: &RunRecord, jobs: &[JobRecord]) -> anyhow::Result<()> {
    if jobs.len() <= LIST_AT_MOST {
        return job_table(jobs).print_or("no jobs match");
    }
    let state_of: HashMap<u32, JobState> = jobs.iter().map(|j| (j.number, j.state)).collect();
    let mut table = Table::new(&["STEP", "STATE", "JOBS", "OK", "ERROR", "RUNNING", "NEW"]);
    for step in &run.steps {
        let mut counts = [0usize; 4];
        for job in &step.jobs {
            if let Some(state) = state_of.get(&job.number) {
                let slot = match state {
                    JobState::Ok => 0,
                    JobState::Error => 1,
                    JobState::Running => 2,
                    JobState::New => 3,
                };
                if let Some(n) = counts.get_mut(slot) {
                    *n += 1;
                }
            }
        }
        let mut row = vec![
            step.number.to_string(),
            step.state.to_string(),
            counts.iter().sum::<usize>().to_string(),
        ];
        row.extend(counts.iter().map(ToString::to_string));
        table.row(row);
    }
    table.print()?;
    let errors: Vec<&JobRecord> = jobs.iter().filter(|j| j.state == JobState::Error).collect();
    let failed: Vec<JobRecord> = errors
        .iter()
        .take(FAILED_AT_MOST)
        .map(|j| (*j).clone())
        .collect();
    if !failed.is_empty() {
        output::line("failed jobs:")?;
        job_table(&failed).print()?;
    }
    let more = if errors.len() > failed.len() {
        format!(" ({} more failed)", errors.len() - failed.len())
    } else {
        String::new()
    };
    output::line(&format!(
        "{} jobs{more}; `--all` lists every job, `--json` gives them all",
        jobs.len()
    ))
}

/// One row per job: number, service, action, state, attempts, duration.
pub fn job_table(jobs: &[JobRecord]) -> Table {
    let mut table = Table::new(&["JOB", "SERVICE", "ACTION", "STATE", "ATTEMPTS", "DURATION"]);
    for job in jobs {
        table.row(vec![
            job.number.to_string(),
            job.service.to_string(),
            job.action.to_string(),
            job.state.as_str().to_owned(),
            job.attempts.to_string(),
            job.duration_ms().map(output::duration).unwrap_or_default(),
        ]);
    }
    table
}

fn show(env: &Env, repo: &Repository, run: &str, number: u32) -> anyhow::Result<()> {
    let run = run_id(repo, Some(run))?;
    let job = repo
        .job(&run, number)?
        .ok_or_else(|| crate::exit::BadInput(format!("run `{run}` has no job {number}")))?;
    print_job(env, &job)
}

/// Prints a job as `ays job show` does.
pub fn print_job(env: &Env, job: &JobRecord) -> anyhow::Result<()> {
    if env.json {
        return output::json(&job);
    }
    let mut text = format!(
        "job {} of run {}\n  service: {}\n  action: {}\n  state: {}\n  attempts: {} of {}\n  \
         planned: {}\n  started: {}\n  finished: {}\n",
        job.number,
        job.run,
        job.service,
        job.action,
        job.state,
        job.attempts,
        job.max_attempts,
        output::time(job.created_at),
        output::time_or(job.started_at, "not yet"),
        output::time_or(job.finished_at, "not yet"),
    );
    if let Some(ms) = job.duration_ms() {
        text.push_str(&format!("  duration: {}\n", output::duration(ms)));
    }
    if !job.args.is_empty() {
        text.push_str(&format!("  args: {}\n", job.args));
    }
    text.push_str(&logs_text(job));
    output::line(text.trim_end())
}

/// The log lines of a job, one per line, with their category.
pub fn logs_text(job: &JobRecord) -> String {
    let mut text = String::new();
    if !job.logs.is_empty() {
        text.push_str("  logs:\n");
    }
    for log in &job.logs {
        let category = serde_json::to_value(log.category)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        for line in log.message.lines() {
            text.push_str(&format!("    [{category}] {line}\n"));
        }
    }
    text
}
