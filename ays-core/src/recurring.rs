//! The last execution of each recurring action (AYS 8.1 §5.4), which a daemon runs outside any
//! run: [`Repository::save_recurring_job`] records its end, [`Repository::recurring_job`] reads
//! it back. One record per (service, action), under `recurring/<role>!<instance>/<action>`,
//! replaced by each execution and removed with its service (and by `destroy`).
//!
//! A recurring execution is not a job of a run: it never moves the action's state (a
//! `scheduled` action stays scheduled for the next run, an `error` one stays a candidate), and
//! it takes no run lock, since it runs while a run of the repository may be live. On success it
//! sets the action's `last_run` and applies the action's data patch, as 8.1's daemon did.

use crate::error::CoreError;
use crate::ids::{ActionName, ServiceKey};
use crate::keys;
use crate::record;
use crate::repo::Repository;
use crate::runs::{JobLog, JobLogCategory, JobRecord, JobState};
use crate::staging::Staging;

/// How often [`Repository::save_recurring_job`] stages its change again after another writer
/// came first, before it takes the write lock.
const OPTIMISTIC_TRIES: usize = 3;

impl Repository {
    /// Records the end of one execution of the recurring action `job.action` of `job.service`
    /// (run outside any run), in one atomic batch: `job` becomes the action's last execution
    /// (replacing the previous one), and, when it is `ok`, the action's `last_run` becomes the
    /// job's end and `patch` is applied to the service data, checked against the actor's
    /// schema. A patch the schema rejects turns the job into an `error` (the reason is logged)
    /// and changes no data; a failed job changes nothing but its record. The action's state
    /// is never changed.
    ///
    /// Returns the record as stored, or `None` when the service, or its action, no longer
    /// exists (deleted while the action ran): then nothing is written. It takes no run lock,
    /// and takes the write lock only when other writers keep racing it (the batch is guarded by
    /// the service's bytes, as [`Repository::record_jobs`]'s is).
    ///
    /// # Errors
    ///
    /// [`CoreError::Busy`], [`CoreError::Store`], [`CoreError::Corrupt`], and
    /// [`CoreError::ActorNotFound`] for a service whose actor is missing; nothing is written.
    pub fn save_recurring_job(
        &self,
        job: &JobRecord,
        patch: Option<&serde_json::Value>,
    ) -> Result<Option<JobRecord>, CoreError> {
        for _ in 0..OPTIMISTIC_TRIES {
            let mut staging = self.staging();
            let Some(stored) = self.stage_recurring(&mut staging, job, patch)? else {
                return Ok(None);
            };
            let batch = staging.into_guarded_batch()?;
            match self.store().commit(&batch) {
                Ok(()) => return Ok(Some(stored)),
                Err(err) if err.is_conflict() => {
                    tracing::debug!(%err, "recurring job raced another writer, staging again");
                }
                Err(err) => return Err(CoreError::store("save recurring job")(err)),
            }
        }
        let _lock = self.write_lock()?;
        let mut staging = self.staging();
        let Some(stored) = self.stage_recurring(&mut staging, job, patch)? else {
            return Ok(None);
        };
        let batch = staging.into_batch()?;
        self.commit(&batch, "save recurring job")?;
        Ok(Some(stored))
    }

    /// Stages what [`Repository::save_recurring_job`] writes; `None` when the service or its
    /// action is gone.
    fn stage_recurring(
        &self,
        staging: &mut Staging<'_>,
        job: &JobRecord,
        patch: Option<&serde_json::Value>,
    ) -> Result<Option<JobRecord>, CoreError> {
        let Some(service) = staging.service(&job.service)? else {
            return Ok(None);
        };
        if service.action(job.action.as_str()).is_none() {
            return Ok(None);
        }
        let mut service = service.clone();
        let mut stored = job.clone();
        if stored.state == JobState::Ok
            && let Some(patch) = patch
        {
            match self.apply_data_patch(&mut service, patch) {
                Ok(_) => {}
                Err(err @ CoreError::Codec { .. }) => {
                    let reason = JobLog::error_text(&err);
                    tracing::info!(service = %job.service, action = %job.action, %reason, "data patch of a recurring action rejected");
                    stored.logs.push(JobLog {
                        at_ms: job.finished_at,
                        category: JobLogCategory::ErrorMsg,
                        message: format!("data patch rejected: {reason}"),
                    });
                    stored.set_state(JobState::Error, job.finished_at);
                    // The patch is not applied: the service stays as it was read.
                    service = staging.service(&job.service)?.cloned().ok_or_else(|| {
                        CoreError::ServiceNotFound {
                            key: job.service.to_string(),
                        }
                    })?;
                }
                Err(other) => return Err(other),
            }
        }
        if stored.state == JobState::Ok {
            if let Some(a) = service.action_mut(job.action.as_str()) {
                a.last_run = stored.finished_at;
            }
            staging.put_service(service)?;
        }
        staging.put_raw(
            keys::recurring(&job.service, &job.action),
            Some(record::encode_job(&stored, self.id())),
        );
        Ok(Some(stored))
    }

    /// The last execution of recurring action `action` of `service` outside runs, as
    /// [`Repository::save_recurring_job`] stored it; `None` when it never ran (or its service
    /// was deleted since).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn recurring_job(
        &self,
        service: &ServiceKey,
        action: &ActionName,
    ) -> Result<Option<JobRecord>, CoreError> {
        let k = keys::recurring(service, action);
        match self
            .store()
            .get(&k)
            .map_err(CoreError::store("get recurring job"))?
        {
            Some(b) => Ok(Some(record::decode_job(&String::from_utf8_lossy(&k), &b)?)),
            None => Ok(None),
        }
    }
}
