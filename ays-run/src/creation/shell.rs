//! Shell creation actions: the function of the template's `actions.sh`, run as a shell job is
//! ([`ShellRuntime`] in [`ShellMode::Fresh`]), with the call's service as its payload.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use ays_core::creation::{CreationCall, CreationDone, CreationFailure};
use ays_core::{ActorName, JobLogCategory, ServiceKey};

use super::{CreationFault, scratch_dir, write_if_changed};
use crate::error::{JobKey, RuntimeError};
use crate::job::{JobContext, JobOutcome};
use crate::runtime::{JobPayload, PayloadSource, ServiceView, ShellMode, ShellRuntime, last_lines};

/// The run id shell creation actions see in `AYS_RUN`: they belong to no run.
const RUN: &str = "creation";

/// How long a shell creation action may run before it is killed.
const TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// How many lines of stderr a failure's detail keeps.
const DETAIL_LINES: usize = 20;

/// Runs the call's function and reports its end.
pub(super) fn run(call: &CreationCall) -> Result<CreationDone, CreationFault> {
    let actors = scratch_dir(call).join("actors");
    let text = if call.code.file.is_empty() {
        crate::runner::shell_file(&[&call.code])
    } else {
        call.code.code.clone()
    };
    write_if_changed(&actors.join(call.actor.as_str()).join("actions.sh"), &text)?;
    let payload = payload(call)?;
    let ctx = JobContext::new(
        RUN.parse().map_err(|source| name_error(call, source))?,
        JobKey {
            service: payload.service.key.clone(),
            action: call.action.clone(),
        },
        call.actor.clone(),
        TIMEOUT,
    );
    let runtime = ShellRuntime::new(&call.repo)
        .with_mode(ShellMode::Fresh)
        .with_actors_dir(actors)
        .with_payload(Arc::new(Given(payload)));
    match runtime.execute(&ctx) {
        Ok(outcome) => Ok(done_of(outcome)),
        // A result file that is not a JSON object is the action's fault, not the runtime's.
        Err(err @ (RuntimeError::BadResult { .. } | RuntimeError::ResultNotObject { .. })) => {
            Ok(CreationDone {
                failure: Some(CreationFailure {
                    message: err.to_string(),
                    detail: ays_core::JobLog::error_text(&err),
                }),
                ..CreationDone::default()
            })
        }
        Err(source) => Err(CreationFault::Shell { source }),
    }
}

fn name_error(call: &CreationCall, source: ays_core::NameError) -> CreationFault {
    CreationFault::Name {
        action: call.action.to_string(),
        source,
    }
}

/// The payload of the job: the call's service with its data and args; its parent, producers
/// and consumers by key only (a view does not name their actors, so their role stands for it,
/// and their data is empty).
fn payload(call: &CreationCall) -> Result<JobPayload, CreationFault> {
    let view = &call.service;
    let Some(key) = view.get("key").and_then(Value::as_str) else {
        return Err(CreationFault::NoKey {
            action: call.action.to_string(),
        });
    };
    let bare = |key: &str| -> Result<ServiceView, CreationFault> {
        let key: ServiceKey = key.parse().map_err(|e| name_error(call, e))?;
        let actor: ActorName = key.role().parse().map_err(|e| name_error(call, e))?;
        Ok(ServiceView {
            key,
            actor,
            data: Map::new(),
        })
    };
    let by_role = |field: &str| -> Result<Vec<ServiceView>, CreationFault> {
        let keys = view
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|roles| roles.values())
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str);
        keys.map(bare).collect()
    };
    let mut service = bare(key)?;
    service.actor = call.actor.clone();
    service.data = view
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(JobPayload {
        service,
        parent: match view.get("parent").and_then(Value::as_str) {
            Some(parent) => Some(bare(parent)?),
            None => None,
        },
        producers: by_role("producers")?,
        consumers: by_role("consumers")?,
        args: call.args.clone(),
    })
}

/// The payload of the one job a runtime runs.
struct Given(JobPayload);

impl PayloadSource for Given {
    fn payload(&self, _ctx: &JobContext) -> Result<JobPayload, RuntimeError> {
        Ok(self.0.clone())
    }
}

/// The end of the action from its outcome: its data patch, its stdout then stderr, and for a
/// failure its message on one line, with the last lines of stderr as its detail.
fn done_of(outcome: JobOutcome) -> CreationDone {
    let text = |category| {
        outcome
            .logs
            .iter()
            .filter(|l| l.category == category)
            .map(|l| l.text.as_str())
            .collect::<String>()
    };
    let (out, err) = (text(JobLogCategory::Out), text(JobLogCategory::Err));
    let failure = outcome.result.err().map(|failure| {
        let detail = last_lines(err.as_bytes(), DETAIL_LINES);
        CreationFailure {
            message: failure.message.lines().collect::<Vec<_>>().join("; "),
            detail: if detail.is_empty() {
                failure.message.clone()
            } else {
                detail
            },
        }
    });
    CreationDone {
        args: None,
        data: outcome.data_patch.unwrap_or_default(),
        output: out + &err,
        failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ays_core::{ActionCode, Runtime};
    use serde_json::json;

    fn call(service: Value) -> CreationCall {
        CreationCall {
            action: "init".parse().unwrap(),
            code: ActionCode {
                name: "init".parse().unwrap(),
                runtime: Runtime::Shell,
                code: String::new(),
                args: String::new(),
                doc: String::new(),
                file: String::new(),
                fingerprint: String::new(),
            },
            actor: "node.ovc".parse().unwrap(),
            service,
            args: Map::new(),
            repo: std::env::temp_dir(),
        }
    }

    #[test]
    fn the_payload_carries_the_view_and_relations_by_key() {
        let call = call(json!({
            "key": "node!n1", "data": {"memGb": 2}, "parent": "vdc!v1",
            "producers": {"vdc": ["vdc!v1"], "sshkey": ["sshkey!k1"]},
            "consumers": {"app": ["app!a1"]},
        }));
        let payload = payload(&call).unwrap();
        assert_eq!(payload.service.key.as_str(), "node!n1");
        assert_eq!(payload.service.actor.as_str(), "node.ovc");
        assert_eq!(
            payload.service.data,
            *json!({"memGb": 2}).as_object().unwrap()
        );
        let parent = payload.parent.unwrap();
        assert_eq!(
            (parent.key.as_str(), parent.actor.as_str()),
            ("vdc!v1", "vdc")
        );
        let keys = |l: &[ServiceView]| l.iter().map(|s| s.key.to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&payload.producers), ["vdc!v1", "sshkey!k1"]);
        assert_eq!(keys(&payload.consumers), ["app!a1"]);
    }

    #[test]
    fn a_view_without_a_valid_key_is_refused() {
        let err = payload(&call(json!({"data": {}}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the service of the `init` call has no `key`"
        );
        let err = payload(&call(json!({"key": "no-bang"}))).unwrap_err();
        assert!(matches!(err, CreationFault::Name { .. }), "{err:?}");
    }
}
