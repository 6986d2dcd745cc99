//! Runtimes: native registry, `actions.sh` through bash, `actions.py` through Python.

use ays_core::{JobLogCategory, JobState};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ays_run::{
    ActionRegistry, ExecConfig, Executor, FailureKind, JobContext, JobKey, JobOutcome, JobPayload,
    LogEntry, MemoryJournal, PayloadSource, Planner, PythonMode, PythonRuntime, RuntimeError,
    Schedule, ServiceView, ShellRuntime, SystemClock,
};
use serde_json::json;

use crate::planner::sample_repo3;

fn ctx(
    service: &str,
    actor: &str,
    action: &str,
    timeout: Duration,
) -> Result<JobContext, Box<dyn std::error::Error>> {
    let key = JobKey {
        service: service.parse()?,
        action: action.parse()?,
    };
    Ok(JobContext::new(
        "run1".parse()?,
        key,
        actor.parse()?,
        timeout,
    ))
}

const MINUTE: Duration = Duration::from_secs(60);

/// Writes `<repo>/actors/<actor>/<file>`.
fn actor_file(repo: &Path, actor: &str, file: &str, text: &str) -> std::io::Result<()> {
    let dir = repo.join("actors").join(actor);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(file), text)
}

fn log(category: JobLogCategory, text: &str) -> LogEntry {
    LogEntry {
        category,
        text: text.to_owned(),
    }
}

#[test]
fn native_actions_log_patch_and_fail() {
    let mut registry = ActionRegistry::new();
    registry
        .register("install", |job| {
            job.log(format!("installing {}", job.ctx().service()));
            job.set("ipPublic", json!("1.2.3.4"));
            Ok(())
        })
        .unwrap()
        .register("test", |job| {
            Err(format!("Error from service {}", job.ctx().service()).into())
        })
        .unwrap()
        .register_for("special", "install", |_| Err("special install".into()))
        .unwrap();
    let out = ays_run::ActionRunner::run(&registry, &ctx("vm!1", "vm", "install", MINUTE).unwrap());
    assert_eq!(out.result, Ok(()));
    assert_eq!(out.logs, vec![log(JobLogCategory::Msg, "installing vm!1")]);
    assert_eq!(
        out.data_patch,
        json!({"ipPublic": "1.2.3.4"}).as_object().cloned()
    );
    let out = ays_run::ActionRunner::run(&registry, &ctx("vm!1", "vm", "test", MINUTE).unwrap());
    assert_eq!(out.result.unwrap_err().message, "Error from service vm!1");
    let out = ays_run::ActionRunner::run(
        &registry,
        &ctx("s!1", "special", "install", MINUTE).unwrap(),
    );
    assert_eq!(out.result.unwrap_err().message, "special install");
    // Nothing registered for `start`: it succeeds without running anything, and says so.
    let out = ays_run::ActionRunner::run(&registry, &ctx("vm!1", "vm", "start", MINUTE).unwrap());
    assert_eq!(out.result, Ok(()));
    assert_eq!(
        out.logs,
        vec![log(
            JobLogCategory::Msg,
            "actor `vm` has no code for `start`: nothing ran"
        )]
    );
}

/// A payload with data, a parent and a producer, as ays-core would give.
struct Payloads;

impl PayloadSource for Payloads {
    fn payload(&self, ctx: &JobContext) -> Result<JobPayload, RuntimeError> {
        let view = |key: &str, actor: &str, data: serde_json::Value| -> Option<ServiceView> {
            Some(ServiceView {
                key: key.parse().ok()?,
                actor: actor.parse().ok()?,
                data: data.as_object()?.clone(),
            })
        };
        let missing = || RuntimeError::Payload {
            job: ctx.key().clone(),
            source: Box::new(ays_core::CoreError::ServiceNotFound {
                key: "bad fixture".into(),
            }),
        };
        let mut payload = JobPayload::bare(ctx);
        payload.service.data = json!({"osImage": "debian", "size": 1})
            .as_object()
            .cloned()
            .ok_or_else(missing)?;
        payload.parent = Some(
            view("datacenter!dc1", "datacenter", json!({"location": "fra"})).ok_or_else(missing)?,
        );
        payload.producers = vec![
            view("datacenter!dc1", "datacenter", json!({"location": "fra"})).ok_or_else(missing)?,
            view("node!n1", "node", json!({"size": 8})).ok_or_else(missing)?,
        ];
        payload.args = json!({"force": true})
            .as_object()
            .cloned()
            .ok_or_else(missing)?;
        Ok(payload)
    }
}

const ACTIONS_SH: &str = r#"
install() {
    echo "$AYS_SERVICE_ROLE $AYS_SERVICE_INSTANCE $AYS_ACTOR $AYS_ACTION $AYS_RUN $AYS_JOB"
    echo "warning" >&2
    grep -o '"location":"fra"' "$AYS_JOB_FILE"
    echo '{"osImage": "ubuntu"}' > "$AYS_RESULT_FILE"
}
test() {
    echo "first line" >&2
    echo "Error from service $AYS_SERVICE" >&2
    return 3
}
noisy() {
    head -c 5000 /dev/zero | tr '\0' 'x'
}
slow() {
    sleep 300 &
    echo "$! $$" > "$AYS_REPO/pids"
    wait
}
"#;

#[test]
fn shell_actions_get_context_and_return_patch_logs_and_errors() {
    let repo = tempfile::tempdir().unwrap();
    actor_file(repo.path(), "vm", "actions.sh", ACTIONS_SH).unwrap();
    let shell = ShellRuntime::new(repo.path())
        .with_payload(Arc::new(Payloads))
        .with_output_cap(1000);
    let out = shell
        .execute(&ctx("vm!one", "vm", "install", MINUTE).unwrap())
        .unwrap();
    assert_eq!(out.result, Ok(()));
    assert_eq!(
        out.logs,
        vec![
            log(
                JobLogCategory::Out,
                // The parent, and again as a producer.
                "vm one vm install run1 vm!one:install\n\"location\":\"fra\"\n\"location\":\"fra\"\n"
            ),
            log(JobLogCategory::Err, "warning\n"),
        ]
    );
    assert_eq!(
        out.data_patch,
        json!({"osImage": "ubuntu"}).as_object().cloned()
    );

    let out = shell
        .execute(&ctx("vm!one", "vm", "test", MINUTE).unwrap())
        .unwrap();
    let failure = out.result.clone().unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error);
    assert_eq!(
        failure.message,
        "exited with 3: first line\nError from service vm!one"
    );

    let out = shell
        .execute(&ctx("vm!one", "vm", "noisy", MINUTE).unwrap())
        .unwrap();
    assert_eq!(out.logs.len(), 1);
    assert_eq!(
        out.logs[0].text,
        format!("{}\n[output truncated]", "x".repeat(1000))
    );

    // Undefined functions and actors without actions.sh are no-ops.
    let out = shell
        .execute(&ctx("vm!one", "vm", "monitor", MINUTE).unwrap())
        .unwrap();
    assert_eq!(out, JobOutcome::ok());
    let out = shell
        .execute(&ctx("db!one", "db", "install", MINUTE).unwrap())
        .unwrap();
    assert_eq!(out, JobOutcome::ok());
}

/// Whether a process is gone (or a zombie waiting for its reaper).
fn is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn shell_timeout_kills_the_whole_process_group() {
    let repo = tempfile::tempdir().unwrap();
    actor_file(repo.path(), "vm", "actions.sh", ACTIONS_SH).unwrap();
    let shell = ShellRuntime::new(repo.path());
    let out = shell
        .execute(&ctx("vm!one", "vm", "slow", Duration::from_millis(300)).unwrap())
        .unwrap();
    assert_eq!(out.result.unwrap_err().kind, FailureKind::Timeout);
    let pids = std::fs::read_to_string(repo.path().join("pids")).unwrap();
    let pids: Vec<&str> = pids.split_whitespace().collect();
    assert_eq!(pids.len(), 2, "child sleep and bash");
    // Poll with a deadline: the kill is sent, reaping by init may take a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|p| is_gone(p)) {
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} survived the timeout"
        );
        std::thread::yield_now();
    }
}

const ACTIONS_PY: &str = r#"
import time

def install(job):
    service = job.service
    print("hello from", service.name)
    job.log("parent " + service.parent.name + " in " + service.parent.data.location)
    job.log("node size %d" % service.producers['node'][0].data.size)
    job.log("force %s" % job.args['force'])
    service.data.osImage = "ubuntu-" + service.data.osImage

def test(job):
    raise RuntimeError("Error from service " + job.service.key)

def slow(job):
    time.sleep(300)
"#;

#[test]
fn python_actions_read_relations_and_return_patches_in_both_modes() {
    let repo = tempfile::tempdir().unwrap();
    actor_file(repo.path(), "vm", "actions.py", ACTIONS_PY).unwrap();
    for mode in [PythonMode::Forking, PythonMode::Fresh] {
        let python = PythonRuntime::new(repo.path(), mode).with_payload(Arc::new(Payloads));
        let out = python
            .execute(&ctx("vm!one", "vm", "install", MINUTE).unwrap())
            .unwrap();
        assert_eq!(out.result, Ok(()), "{mode:?}: {:?}", out.logs);
        assert_eq!(
            out.logs,
            vec![
                log(JobLogCategory::Out, "hello from one\n"),
                log(JobLogCategory::Msg, "parent dc1 in fra"),
                log(JobLogCategory::Msg, "node size 8"),
                log(JobLogCategory::Msg, "force True"),
            ],
            "{mode:?}"
        );
        assert_eq!(
            out.data_patch,
            json!({"osImage": "ubuntu-debian"}).as_object().cloned()
        );

        let out = python
            .execute(&ctx("vm!one", "vm", "test", MINUTE).unwrap())
            .unwrap();
        let failure = out.result.clone().unwrap_err();
        assert_eq!(failure.kind, FailureKind::Error);
        assert_eq!(failure.message, "RuntimeError: Error from service vm!one");
        let trace = out
            .logs
            .iter()
            .find(|l| l.category == JobLogCategory::Trace)
            .unwrap();
        assert!(
            trace.text.starts_with("Traceback (most recent call last):"),
            "{}",
            trace.text
        );
        assert!(trace.text.contains("in test"), "{}", trace.text);

        let out = python
            .execute(&ctx("vm!one", "vm", "slow", Duration::from_millis(300)).unwrap())
            .unwrap();
        assert_eq!(
            out.result.unwrap_err().kind,
            FailureKind::Timeout,
            "{mode:?}"
        );
        // An undefined function is a no-op.
        let out = python
            .execute(&ctx("vm!one", "vm", "monitor", MINUTE).unwrap())
            .unwrap();
        assert_eq!(out.result, Ok(()));
    }
}

#[test]
fn sample_repo3_with_shell_actions_under_steps() {
    let repo = tempfile::tempdir().unwrap();
    actor_file(
        repo.path(),
        "runtime_error_service",
        "actions.sh",
        "test() { echo \"Error from service $AYS_SERVICE\" >&2; return 1; }\ntest2() { :; }\ntest3() { :; }\n",
    )
    .unwrap();
    let plan = Planner::new().plan(&sample_repo3().unwrap()).unwrap();
    let mut config = ExecConfig::default();
    config.schedule = Schedule::Steps;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let exec = Executor::new(Arc::new(pool), Arc::new(SystemClock::new()), config);
    let shell = ShellRuntime::new(repo.path());
    let report = exec
        .run(&"r3".parse().unwrap(), &plan, &shell, &MemoryJournal::new())
        .unwrap();
    let states: Vec<JobState> = report.jobs.iter().map(|j| j.state).collect();
    assert_eq!(
        states,
        vec![JobState::Ok, JobState::Error, JobState::Ok, JobState::New]
    );
    assert_eq!(
        report.steps,
        vec![JobState::Ok, JobState::Error, JobState::New]
    );
    assert_eq!(report.state, JobState::Error);
    let test = report
        .job("runtime_error_service!instance", "test")
        .unwrap();
    assert_eq!(
        test.outcome.as_ref().unwrap().logs,
        vec![
            log(
                JobLogCategory::Err,
                "Error from service runtime_error_service!instance\n"
            ),
            log(
                JobLogCategory::ErrorMsg,
                "exited with 1: Error from service runtime_error_service!instance"
            ),
        ]
    );
}

#[test]
fn a_second_cancel_request_kills_a_running_shell_action() {
    let repo = tempfile::tempdir().unwrap();
    actor_file(repo.path(), "vm", "actions.sh", ACTIONS_SH).unwrap();
    let shell = ShellRuntime::new(repo.path());
    let token = ays_run::CancelToken::new();
    assert_eq!(token.request(), 1);
    assert_eq!(token.request(), 2);
    let ctx = ctx("vm!one", "vm", "slow", MINUTE)
        .unwrap()
        .with_cancel(token);
    let out = shell.execute(&ctx).unwrap();
    let failure = out.result.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Killed);
    assert_eq!(failure.message, "killed by cancellation");
}
