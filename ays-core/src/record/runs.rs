//! Runs and jobs ↔ the `Run` and `Job` models.

use super::{builder, corrupt, len_u32, parse, read, text};
use crate::error::CoreError;
use crate::runs::{
    JobLog, JobLogCategory, JobRecord, JobRef, JobState, JobStateChange, RunRecord, RunStepRecord,
};
use ays_schema::models::{self, to_bytes};

fn state_to_model(s: JobState) -> models::JobState {
    match s {
        JobState::New => models::JobState::New,
        JobState::Running => models::JobState::Running,
        JobState::Ok => models::JobState::Ok,
        JobState::Error => models::JobState::Error,
    }
}

fn state_from_model(s: models::JobState) -> JobState {
    match s {
        models::JobState::New => JobState::New,
        models::JobState::Running => JobState::Running,
        models::JobState::Ok => JobState::Ok,
        models::JobState::Error => JobState::Error,
    }
}

fn category_to_model(c: JobLogCategory) -> models::LogCategory {
    match c {
        JobLogCategory::Out => models::LogCategory::Out,
        JobLogCategory::Err => models::LogCategory::Err,
        JobLogCategory::Msg => models::LogCategory::Msg,
        JobLogCategory::Alert => models::LogCategory::Alert,
        JobLogCategory::ErrorMsg => models::LogCategory::Errormsg,
        JobLogCategory::Trace => models::LogCategory::Trace,
    }
}

fn category_from_model(c: models::LogCategory) -> JobLogCategory {
    match c {
        models::LogCategory::Out => JobLogCategory::Out,
        models::LogCategory::Err => JobLogCategory::Err,
        models::LogCategory::Msg => JobLogCategory::Msg,
        models::LogCategory::Alert => JobLogCategory::Alert,
        models::LogCategory::Errormsg => JobLogCategory::ErrorMsg,
        models::LogCategory::Trace => JobLogCategory::Trace,
    }
}

/// What of a run an encoded `Run` message holds: a run's steps list 200,000 jobs for a run of
/// 200,000 jobs (25 MB), which never change once it is stored, while its states change at
/// every step; so the two are stored apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunPart {
    /// Everything but the jobs of each step.
    Header,
    /// The run's key and each step's number and jobs, nothing else.
    Jobs,
}

pub(crate) fn encode_run(r: &RunRecord, repo: &str, part: RunPart) -> Vec<u8> {
    let mut message = builder();
    let mut m = message.init_root::<models::run::Builder>();
    m.set_key(r.id.as_str());
    m.set_repo_key(repo);
    if part == RunPart::Header {
        m.set_state(state_to_model(r.state));
        m.set_created_at(r.created_at);
        m.set_finished_at(r.finished_at);
    }
    let mut steps = m.init_steps(len_u32(r.steps.len()));
    for (i, step) in r.steps.iter().enumerate() {
        let mut sb = steps.reborrow().get(len_u32(i));
        sb.set_number(step.number);
        if part == RunPart::Header {
            sb.set_state(state_to_model(step.state));
            sb.set_started_at(step.started_at);
            sb.set_finished_at(step.finished_at);
            continue;
        }
        let mut jobs = sb.init_jobs(len_u32(step.jobs.len()));
        for (j, job) in step.jobs.iter().enumerate() {
            let mut jb = jobs.reborrow().get(len_u32(j));
            jb.set_key(job.number.to_string());
            jb.set_actor_name(job.actor.as_str());
            jb.set_action_name(job.action.as_str());
            jb.set_service_name(job.service.instance());
            jb.set_service_key(job.service.to_string());
        }
    }
    to_bytes(&message)
}

/// How many jobs the steps of an encoded run list, without decoding them.
pub(crate) fn count_run_jobs(key: &str, bytes: &[u8]) -> Result<usize, CoreError> {
    let message = read(key, bytes)?;
    let m = message
        .get_root::<models::run::Reader>()
        .map_err(corrupt(key))?;
    let mut count = 0usize;
    for s in m.get_steps().map_err(corrupt(key))? {
        let jobs = s.get_jobs().map_err(corrupt(key))?;
        count = count.saturating_add(usize::try_from(jobs.len()).unwrap_or(usize::MAX));
    }
    Ok(count)
}

/// Gives the steps of `run` the jobs of the steps of `jobs` (a run decoded from its
/// [`RunPart::Jobs`]), by step number.
pub(crate) fn merge_run_jobs(
    key: &str,
    run: &mut RunRecord,
    jobs: RunRecord,
) -> Result<(), CoreError> {
    let mut lists: std::collections::HashMap<u32, Vec<JobRef>> =
        jobs.steps.into_iter().map(|s| (s.number, s.jobs)).collect();
    for step in &mut run.steps {
        if let Some(list) = lists.remove(&step.number) {
            step.jobs = list;
        }
    }
    if let Some(number) = lists.keys().min() {
        return Err(CoreError::Corrupt {
            key: key.to_owned(),
            reason: format!("lists the jobs of step {number}, which the run does not have"),
        });
    }
    Ok(())
}

pub(crate) fn decode_run(key: &str, bytes: &[u8]) -> Result<RunRecord, CoreError> {
    let message = read(key, bytes)?;
    let m = message
        .get_root::<models::run::Reader>()
        .map_err(corrupt(key))?;
    let mut steps = Vec::new();
    for s in m.get_steps().map_err(corrupt(key))? {
        let mut jobs = Vec::new();
        for j in s.get_jobs().map_err(corrupt(key))? {
            jobs.push(JobRef {
                number: parse(key, &text(key, j.get_key())?)?,
                service: parse(key, &text(key, j.get_service_key())?)?,
                actor: parse(key, &text(key, j.get_actor_name())?)?,
                action: parse(key, &text(key, j.get_action_name())?)?,
            });
        }
        steps.push(RunStepRecord {
            number: s.get_number(),
            state: state_from_model(s.get_state().map_err(corrupt(key))?),
            started_at: s.get_started_at(),
            finished_at: s.get_finished_at(),
            jobs,
        });
    }
    Ok(RunRecord {
        id: parse(key, &text(key, m.get_key())?)?,
        state: state_from_model(m.get_state().map_err(corrupt(key))?),
        created_at: m.get_created_at(),
        finished_at: m.get_finished_at(),
        steps,
        settings: String::new(),
    })
}

pub(crate) fn encode_job(j: &JobRecord, repo: &str) -> Vec<u8> {
    let mut message = builder();
    let mut m = message.init_root::<models::job::Builder>();
    m.set_key(format!("{}/{}", j.run, j.number));
    m.set_run_key(j.run.as_str());
    m.set_repo_key(repo);
    m.set_service_key(j.service.to_string());
    m.set_actor_name(j.actor.as_str());
    m.set_service_name(j.service.instance());
    m.set_action_name(j.action.as_str());
    m.set_action_key(&j.code_key);
    m.set_state(state_to_model(j.state));
    {
        let mut list = m
            .reborrow()
            .init_state_changes(len_u32(j.state_changes.len()));
        for (i, c) in j.state_changes.iter().enumerate() {
            let mut cb = list.reborrow().get(len_u32(i));
            cb.set_epoch(c.at_ms);
            cb.set_state(state_to_model(c.state));
        }
    }
    {
        let mut list = m.reborrow().init_logs(len_u32(j.logs.len()));
        for (i, l) in j.logs.iter().enumerate() {
            let mut lb = list.reborrow().get(len_u32(i));
            lb.set_epoch(l.at_ms);
            lb.set_category(category_to_model(l.category));
            lb.set_message(&l.message);
        }
    }
    m.set_args(&j.args);
    m.set_result(&j.result);
    m.set_attempts(j.attempts);
    m.set_max_attempts(j.max_attempts);
    m.set_timeout(j.timeout_secs);
    m.set_created_at(j.created_at);
    m.set_started_at(j.started_at);
    m.set_finished_at(j.finished_at);
    to_bytes(&message)
}

pub(crate) fn decode_job(key: &str, bytes: &[u8]) -> Result<JobRecord, CoreError> {
    let message = read(key, bytes)?;
    let m = message
        .get_root::<models::job::Reader>()
        .map_err(corrupt(key))?;
    let job_key = text(key, m.get_key())?;
    let (_, number) = job_key.rsplit_once('/').ok_or_else(|| CoreError::Corrupt {
        key: key.to_owned(),
        reason: format!("job key `{job_key}` is not `<run>/<number>`"),
    })?;
    let mut state_changes = Vec::new();
    for c in m.get_state_changes().map_err(corrupt(key))? {
        state_changes.push(JobStateChange {
            at_ms: c.get_epoch(),
            state: state_from_model(c.get_state().map_err(corrupt(key))?),
        });
    }
    let mut logs = Vec::new();
    for l in m.get_logs().map_err(corrupt(key))? {
        logs.push(JobLog {
            at_ms: l.get_epoch(),
            category: category_from_model(l.get_category().map_err(corrupt(key))?),
            message: text(key, l.get_message())?,
        });
    }
    Ok(JobRecord {
        run: parse(key, &text(key, m.get_run_key())?)?,
        number: parse(key, number)?,
        service: parse(key, &text(key, m.get_service_key())?)?,
        actor: parse(key, &text(key, m.get_actor_name())?)?,
        action: parse(key, &text(key, m.get_action_name())?)?,
        code_key: text(key, m.get_action_key())?,
        state: state_from_model(m.get_state().map_err(corrupt(key))?),
        state_changes,
        logs,
        args: text(key, m.get_args())?,
        result: text(key, m.get_result())?,
        attempts: m.get_attempts(),
        max_attempts: m.get_max_attempts(),
        timeout_secs: m.get_timeout(),
        created_at: m.get_created_at(),
        started_at: m.get_started_at(),
        finished_at: m.get_finished_at(),
    })
}
