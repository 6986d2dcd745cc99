//! What travels between a coordinator and its workers, as JSON messages of ays-store's queue.
//!
//! - A [`JobMessage`] on the repository's `jobs` stream: one attempt of one job, with its
//!   service's payload and the content address (SHA-256) of its actions file, stored once in the
//!   repository's store at `code/<sha256>`.
//! - A [`ResultMessage`] on the run's reply stream: the attempt's outcome.
//! - A [`WorkerRecord`] at `worker/<name>` of the [`WORKERS_NAMESPACE`]: a worker's heartbeat.
//! - A [`RepoRecord`] at `repo/<namespace>` of the same namespace: a repository whose run
//!   dispatches jobs now, so that workers read its stream.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use ays_core::{ActorName, JobLogCategory, Runtime, ServiceKey};

use crate::job::{FailureKind, JobFailure, JobOutcome, LogEntry};
use crate::runtime::{JobPayload, ServiceView};

/// The store namespace holding worker heartbeats and the repositories with work.
pub const WORKERS_NAMESPACE: &str = "ays-workers";
/// The stream of a repository's jobs.
pub(crate) const JOBS_STREAM: &str = "jobs";
/// The consumer group of workers on [`JOBS_STREAM`].
pub(crate) const WORKERS_GROUP: &str = "workers";
/// The version of the messages; a worker refuses others.
pub(crate) const WIRE_VERSION: u32 = 1;

/// The key of a worker's heartbeat in the [`WORKERS_NAMESPACE`].
pub(crate) fn worker_key(name: &str) -> Vec<u8> {
    format!("worker/{name}").into_bytes()
}

/// The key of a repository with work in the [`WORKERS_NAMESPACE`].
pub(crate) fn repo_key(namespace: &str) -> Vec<u8> {
    format!("repo/{namespace}").into_bytes()
}

/// The key of a content-addressed actions file in a repository's store.
pub(crate) fn code_key(sha: &str) -> Vec<u8> {
    format!("code/{sha}").into_bytes()
}

/// The SHA-256 of `bytes`, in lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One attempt of one job, for a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobMessage {
    pub(crate) v: u32,
    /// The repository's store namespace.
    pub(crate) repo: String,
    pub(crate) run: String,
    /// The job's index in the plan.
    pub(crate) job: usize,
    pub(crate) attempt: u32,
    pub(crate) service: String,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) timeout_ms: u64,
    /// `shell` or `python`.
    pub(crate) runtime: String,
    /// The SHA-256 of the actions file.
    pub(crate) code: String,
    /// The template file a Python actions file was read from (tracebacks name it).
    #[serde(default)]
    pub(crate) origin: Option<String>,
    pub(crate) payload: PayloadWire,
    /// The stream the result goes to.
    pub(crate) reply: String,
}

/// A [`JobPayload`] on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PayloadWire {
    service: ServiceWire,
    parent: Option<ServiceWire>,
    producers: Vec<ServiceWire>,
    consumers: Vec<ServiceWire>,
    args: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ServiceWire {
    key: String,
    actor: String,
    data: Map<String, Value>,
}

impl ServiceWire {
    fn of(view: &ServiceView) -> Self {
        Self {
            key: view.key.to_string(),
            actor: view.actor.to_string(),
            data: view.data.clone(),
        }
    }

    fn view(&self) -> Result<ServiceView, String> {
        Ok(ServiceView {
            key: parse::<ServiceKey>("service", &self.key)?,
            actor: parse::<ActorName>("actor", &self.actor)?,
            data: self.data.clone(),
        })
    }
}

pub(crate) fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| format!("bad {what} `{text}`: {e}"))
}

impl PayloadWire {
    pub(crate) fn of(payload: &JobPayload) -> Self {
        Self {
            service: ServiceWire::of(&payload.service),
            parent: payload.parent.as_ref().map(ServiceWire::of),
            producers: payload.producers.iter().map(ServiceWire::of).collect(),
            consumers: payload.consumers.iter().map(ServiceWire::of).collect(),
            args: payload.args.clone(),
        }
    }

    pub(crate) fn payload(&self) -> Result<JobPayload, String> {
        let views = |list: &[ServiceWire]| -> Result<Vec<ServiceView>, String> {
            list.iter().map(ServiceWire::view).collect()
        };
        Ok(JobPayload {
            service: self.service.view()?,
            parent: self.parent.as_ref().map(ServiceWire::view).transpose()?,
            producers: views(&self.producers)?,
            consumers: views(&self.consumers)?,
            args: self.args.clone(),
        })
    }
}

/// The name of a runtime on the wire.
pub(crate) fn runtime_name(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Shell => "shell",
        Runtime::Python => "python",
        Runtime::None => "none",
    }
}

/// The outcome of one attempt, from a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResultMessage {
    pub(crate) run: String,
    pub(crate) job: usize,
    pub(crate) attempt: u32,
    /// The worker that ran it.
    pub(crate) worker: String,
    /// The worker that held it before, when this one claimed it after that one's lease ran out.
    #[serde(default)]
    pub(crate) claimed_from: Option<String>,
    /// How many times the message was delivered.
    pub(crate) deliveries: u64,
    /// A notice that the worker starts the attempt, not its outcome.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) started: bool,
    /// `None`: ok.
    pub(crate) failure: Option<FailureWire>,
    pub(crate) logs: Vec<LogWire>,
    pub(crate) data_patch: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FailureWire {
    kind: String,
    message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogWire {
    category: String,
    text: String,
}

fn kind_of(name: &str) -> FailureKind {
    match name {
        "timeout" => FailureKind::Timeout,
        "killed" => FailureKind::Killed,
        "panicked" => FailureKind::Panicked,
        "runtime" => FailureKind::Runtime,
        _ => FailureKind::Error,
    }
}

fn category_of(name: &str) -> JobLogCategory {
    JobLogCategory::ALL
        .into_iter()
        .find(|c| c.as_str() == name)
        .unwrap_or(JobLogCategory::Msg)
}

impl ResultMessage {
    /// The message reporting `outcome`.
    pub(crate) fn of(job: &JobMessage, worker: &str, outcome: &JobOutcome) -> Self {
        Self {
            run: job.run.clone(),
            job: job.job,
            attempt: job.attempt,
            worker: worker.to_owned(),
            claimed_from: None,
            deliveries: 1,
            started: false,
            failure: outcome.result.as_ref().err().map(|f| FailureWire {
                kind: f.kind.as_str().to_owned(),
                message: f.message.clone(),
            }),
            logs: outcome
                .logs
                .iter()
                .map(|l| LogWire {
                    category: l.category.as_str().to_owned(),
                    text: l.text.clone(),
                })
                .collect(),
            data_patch: outcome.data_patch.clone(),
        }
    }

    /// The outcome it reports, with a first log line naming the worker.
    pub(crate) fn outcome(&self) -> JobOutcome {
        let mut said = format!("ran on worker `{}`", self.worker);
        if let Some(previous) = &self.claimed_from {
            said.push_str(&format!(
                ", which claimed it after worker `{previous}` held it past its lease \
                 (delivery {})",
                self.deliveries
            ));
        }
        let mut logs = vec![LogEntry {
            category: JobLogCategory::Msg,
            text: said,
        }];
        logs.extend(self.logs.iter().map(|l| LogEntry {
            category: category_of(&l.category),
            text: l.text.clone(),
        }));
        JobOutcome {
            result: match &self.failure {
                None => Ok(()),
                Some(f) => Err(JobFailure {
                    kind: kind_of(&f.kind),
                    message: f.message.clone(),
                }),
            },
            logs,
            data_patch: self.data_patch.clone(),
        }
    }
}

/// A worker's heartbeat, at `worker/<name>` with a TTL of its lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Its name.
    pub name: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// How many jobs it runs at once.
    pub concurrency: usize,
    /// Its lease, in milliseconds: a job it holds without renewing for this long is claimed.
    pub lease_ms: u64,
    /// When it started (ms since the epoch).
    pub started_ms: i64,
    /// Its last heartbeat (ms since the epoch).
    pub heartbeat_ms: i64,
    /// The jobs it runs now.
    pub in_flight: Vec<InFlightJob>,
    /// Attempts it finished since it started.
    pub done: u64,
}

impl WorkerRecord {
    /// How long ago its last heartbeat was written, by this machine's clock.
    pub fn heartbeat_age(&self) -> std::time::Duration {
        let ms = crate::store_journal::now_ms().saturating_sub(self.heartbeat_ms);
        std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }
}

/// A job a worker runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlightJob {
    /// The repository's store namespace.
    pub repo: String,
    /// The run.
    pub run: String,
    /// `service:action`.
    pub job: String,
    /// The attempt.
    pub attempt: u32,
    /// When it started (ms since the epoch).
    pub since_ms: i64,
}

/// A repository whose run dispatches jobs, at `repo/<namespace>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RepoRecord {
    pub(crate) run: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_keeps_its_outcome_and_names_its_workers() {
        let outcome = JobOutcome {
            result: Err(JobFailure {
                kind: FailureKind::Timeout,
                message: "too slow".into(),
            }),
            logs: vec![LogEntry {
                category: JobLogCategory::Err,
                text: "oops".into(),
            }],
            data_patch: Some(Map::from_iter([("a".to_owned(), Value::from(1))])),
        };
        let job = JobMessage {
            v: WIRE_VERSION,
            repo: "r".into(),
            run: "run1".into(),
            job: 3,
            attempt: 2,
            service: "node!a".into(),
            actor: "node".into(),
            action: "install".into(),
            timeout_ms: 1000,
            runtime: "shell".into(),
            code: sha256_hex(b"x"),
            origin: None,
            payload: PayloadWire {
                service: ServiceWire {
                    key: "node!a".into(),
                    actor: "node".into(),
                    data: Map::new(),
                },
                parent: None,
                producers: Vec::new(),
                consumers: Vec::new(),
                args: Map::new(),
            },
            reply: "results/run1".into(),
        };
        let mut result = ResultMessage::of(&job, "w1", &outcome);
        result.claimed_from = Some("w2".into());
        result.deliveries = 2;
        let back: ResultMessage =
            serde_json::from_slice(&serde_json::to_vec(&result).unwrap()).unwrap();
        let got = back.outcome();
        assert_eq!(got.result, outcome.result);
        assert_eq!(got.data_patch, outcome.data_patch);
        assert_eq!(got.logs[1..], outcome.logs[..]);
        assert!(
            got.logs[0].text.contains("`w1`") && got.logs[0].text.contains("`w2`"),
            "{:?}",
            got.logs[0]
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(job.payload.payload().is_ok());
    }
}
