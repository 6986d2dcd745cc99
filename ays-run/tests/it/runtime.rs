//! Runtimes: native registry, `actions.sh` through bash, `actions.py` through Python.

use ays_core::{JobLogCategory, JobState};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ays_run::{
    ActionRegistry, ExecConfig, Executor, FailureKind, JobContext, JobKey, JobOutcome, JobPayload,
    LogEntry, MemoryJournal, PayloadSource, Planner, PythonMode, PythonRuntime, RuntimeError,
    Schedule, ServiceView, ShellMode, ShellRuntime, SystemClock,
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

/// Every shell test runs in both modes.
const SHELL_MODES: [ShellMode; 2] = [ShellMode::Forking, ShellMode::Fresh];

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
    echo "$! $BASHPID" > "$AYS_REPO/pids"
    wait
}
flood() {
    head -c 3000000 /dev/zero | tr '\0' 'o'
    head -c 3000000 /dev/zero | tr '\0' 'e' >&2
    echo done
}
detach() {
    echo started
    sleep 300 &
    echo "$!" > "$AYS_REPO/detached"
}
"#;

#[test]
fn shell_actions_get_context_and_return_patch_logs_and_errors() {
    for mode in SHELL_MODES {
        let repo = tempfile::tempdir().unwrap();
        actor_file(repo.path(), "vm", "actions.sh", ACTIONS_SH).unwrap();
        let shell = ShellRuntime::new(repo.path())
            .with_mode(mode)
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
            format!(
                "{}\n[... 4000 bytes cut ...]\n{}",
                "x".repeat(500),
                "x".repeat(500)
            )
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
}

#[test]
fn shell_output_beyond_the_pipe_buffer_is_read_while_the_action_runs_and_capped() {
    for mode in SHELL_MODES {
        let repo = tempfile::tempdir().unwrap();
        actor_file(repo.path(), "vm", "actions.sh", ACTIONS_SH).unwrap();
        let cap = 100_000;
        let shell = ShellRuntime::new(repo.path())
            .with_mode(mode)
            .with_output_cap(cap);
        let out = shell
            .execute(&ctx("vm!one", "vm", "flood", MINUTE).unwrap())
            .unwrap();
        // Neither stream blocks the action though both far exceed a pipe's buffer.
        assert_eq!(out.result, Ok(()));
        assert_eq!(out.logs.len(), 2);
        // The beginning and the end of each stream are kept: the end is where errors are.
        let half = cap / 2;
        let (out_text, err_text) = (&out.logs[0].text, &out.logs[1].text);
        assert_eq!(
            *out_text,
            format!(
                "{}\n[... {} bytes cut ...]\n{}done\n",
                "o".repeat(half),
                3_000_005 - cap,
                "o".repeat(half - 5)
            )
        );
        assert_eq!(
            *err_text,
            format!(
                "{}\n[... {} bytes cut ...]\n{}",
                "e".repeat(half),
                3_000_000 - cap,
                "e".repeat(half)
            )
        );
    }
}

#[test]
fn a_background_process_holding_the_output_does_not_hold_the_job() {
    for mode in SHELL_MODES {
        let repo = tempfile::tempdir().unwrap();
        actor_file(repo.path(), "vm", "actions.sh", ACTIONS_SH).unwrap();
        let shell = ShellRuntime::new(repo.path()).with_mode(mode);
        let begun = Instant::now();
        let out = shell
            .execute(&ctx("vm!one", "vm", "detach", MINUTE).unwrap())
            .unwrap();
        // The `sleep 300` keeps stdout open; the job ends a short grace after bash exits, with
        // what was written before.
        assert!(
            begun.elapsed() < Duration::from_secs(100),
            "waited for the sleep"
        );
        assert_eq!(out.result, Ok(()));
        assert_eq!(out.logs, vec![log(JobLogCategory::Out, "started\n")]);
        let pid = std::fs::read_to_string(repo.path().join("detached")).unwrap();
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
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
    for mode in SHELL_MODES {
        let repo = tempfile::tempdir().unwrap();
        actor_file(repo.path(), "vm", "actions.sh", ACTIONS_SH).unwrap();
        let shell = ShellRuntime::new(repo.path()).with_mode(mode);
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
}

const ACTIONS_PY: &str = r#"
import time

def install(job):
    service = job.service
    print("hello from", service.name)
    job.log("parent " + service.parent.name + " in " + service.parent.data.location)
    job.log("node size %d" % service.producers['node'][0].data.size)
    job.log("force %s" % job.args['force'])
    assert service.data["os.image"] == service.data.os_image == service.data.osImage
    service.data.osImage = "ubuntu-" + service.data.osImage

def test(job):
    raise RuntimeError("Error from service " + job.service.key)

def slow(job):
    time.sleep(300)
"#;

#[test]
fn python_output_and_logs_keep_their_beginning_and_end_within_the_cap() {
    let repo = tempfile::tempdir().unwrap();
    let actions = r#"
import sys

def install(job):
    print("o" * 30000 + "the end")
    for i in range(100):
        job.log("entry %d " % i + "x" * 990)
    job.log("last words")
"#;
    actor_file(repo.path(), "vm", "actions.py", actions).unwrap();
    let python = PythonRuntime::new(repo.path(), PythonMode::Forking).with_output_cap(10_000);
    let out = python
        .execute(&ctx("vm!one", "vm", "install", MINUTE).unwrap())
        .unwrap();
    assert_eq!(out.result, Ok(()));
    let printed = &out.logs[0];
    assert_eq!(printed.category, JobLogCategory::Out);
    assert_eq!(
        printed.text,
        format!(
            "{}\n[... 20008 bytes cut ...]\n{}the end\n",
            "o".repeat(5000),
            "o".repeat(4992)
        )
    );
    let logged = &out.logs[1..];
    let total: usize = logged.iter().map(|l| l.text.len()).sum();
    assert!(total <= 10_100, "{total} bytes of log kept");
    assert!(logged[0].text.starts_with("entry 0 "));
    assert_eq!(logged.last().unwrap().text, "last words");
    // 5 entries of 998 bytes fit in the first half of the budget, "last words" and the last 4
    // entries (999 bytes) in the second; the 91 between (5 x 998 + 86 x 999 bytes) are cut.
    assert_eq!(logged.len(), 11);
    assert_eq!(logged[5].text, "[... 91 log entries (90904 bytes) cut ...]");
    assert!(logged[6].text.starts_with("entry 96 "));
}

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

const ACTIONS_PY_8_1: &str = r#"
from JumpScale import j as jumpscale


def install(job):
    service = job.service
    assert jumpscale is j and job.model.args is job.args
    job.model.log("force %s" % job.model.args["force"], level=1, category="msg")
    service.model.data.osImage = service.model.data.os_image + "-8.1"
    service.saveAll()
    service.model.save()
    job.model.log("%s %s %s %s" % (
        service.model.name, service.model.role, service.model.dbobj.actorName, service))
    job.log("parent %s, producers %s" % (service.parent, sorted(service.producers)))
    for what in ("service.aysrepo", "j.clients"):
        try:
            eval(what)
        except (j.exceptions.RuntimeError, AttributeError) as e:
            job.log(str(e))
    job.model.args = {"replaced": True}
    job.log("args %s" % job.args)
    try:
        job.error("first try")
    except j.exceptions.RuntimeError:
        job.log("caught")
    job.error("giving up on %s" % service.name)
"#;

#[test]
fn python_run_jobs_see_the_8_1_object_model() {
    let repo = tempfile::tempdir().unwrap();
    actor_file(repo.path(), "vm", "actions.py", ACTIONS_PY_8_1).unwrap();
    for mode in [PythonMode::Forking, PythonMode::Fresh] {
        let python = PythonRuntime::new(repo.path(), mode).with_payload(Arc::new(Payloads));
        let out = python
            .execute(&ctx("vm!one", "vm", "install", MINUTE).unwrap())
            .unwrap();
        assert_eq!(
            out.result.clone().unwrap_err().message,
            "RuntimeError: giving up on one",
            "{mode:?}: {:?}",
            out.logs
        );
        let texts: Vec<&str> = out.logs.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts[..10],
            [
                "force True",
                "one vm vm service:vm!one",
                "parent service:datacenter!dc1, producers ['datacenter', 'node']",
                "service.aysrepo is available in `input` and `init`, while a blueprint creates \
                 services, not in run jobs (an `init` that changed since the blueprint ran runs \
                 again, with it, when the blueprints are applied again: `ays blueprint`)",
                "j.clients is not part of ays's compatibility API \
                 (j.exceptions, j.sal.fs and j.sal.process)",
                "args {'replaced': True}",
                "first try",
                "caught",
                "giving up on one",
                "RuntimeError: giving up on one",
            ],
            "{mode:?}"
        );
        assert_eq!(
            out.logs[6].category,
            JobLogCategory::ErrorMsg,
            "job.error logs"
        );
        assert_eq!(out.data_patch, None, "a failed job changes nothing");
    }
    // The same without the failure: the assignment is the patch.
    let ok = ACTIONS_PY_8_1.replace("    job.error(\"giving", "    # job.error(\"giving");
    actor_file(repo.path(), "vm", "actions.py", &ok).unwrap();
    let python =
        PythonRuntime::new(repo.path(), PythonMode::Forking).with_payload(Arc::new(Payloads));
    let out = python
        .execute(&ctx("vm!one", "vm", "install", MINUTE).unwrap())
        .unwrap();
    assert_eq!(out.result, Ok(()), "{:?}", out.logs);
    assert_eq!(
        out.data_patch,
        json!({"osImage": "debian-8.1"}).as_object().cloned()
    );
}

#[test]
fn sample_repo3_with_shell_actions_under_steps() {
    for mode in SHELL_MODES {
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
        let shell = ShellRuntime::new(repo.path()).with_mode(mode);
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
}

#[test]
fn a_second_cancel_request_kills_a_running_shell_action() {
    for mode in SHELL_MODES {
        let repo = tempfile::tempdir().unwrap();
        actor_file(repo.path(), "vm", "actions.sh", ACTIONS_SH).unwrap();
        let shell = ShellRuntime::new(repo.path()).with_mode(mode);
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
}

/// An actions file as people write it: top-level settings and helpers, `set -e`, a changed IFS.
const WRITTEN_SH: &str = r#"set -e
IFS=,
GREETING=hello
helper() { echo "$GREETING from $1"; }
install() {
    helper "$AYS_SERVICE_INSTANCE"
}
stops_early() {
    false
    echo "not reached"
}
exits() { exit 3; }
replaced() { exec bash -c 'echo replaced; exit 4'; }
pid() { echo "$BASHPID"; }
"#;

/// The text of the `out` log of `outcome`.
fn out_text(outcome: &JobOutcome) -> String {
    outcome
        .logs
        .iter()
        .filter(|l| l.category == JobLogCategory::Out)
        .map(|l| l.text.clone())
        .collect()
}

#[test]
fn shell_jobs_keep_what_the_file_sets_and_report_every_exit() {
    for mode in SHELL_MODES {
        let repo = tempfile::tempdir().unwrap();
        actor_file(repo.path(), "vm", "actions.sh", WRITTEN_SH).unwrap();
        let shell = ShellRuntime::new(repo.path()).with_mode(mode);
        let run = |action: &str| {
            shell
                .execute(&ctx("vm!one", "vm", action, MINUTE).unwrap())
                .unwrap()
        };
        let out = run("install");
        assert_eq!(out.result, Ok(()), "{mode:?}");
        assert_eq!(out_text(&out), "hello from one\n", "{mode:?}");

        // `set -e` at the top of the file holds in the action.
        let out = run("stops_early");
        assert_eq!(out_text(&out), "", "{mode:?}");
        assert_eq!(out.result.unwrap_err().message, "exited with 1", "{mode:?}");

        let out = run("exits");
        assert_eq!(out.result.unwrap_err().message, "exited with 3", "{mode:?}");

        // A function that replaces its shell still reports the program's status.
        let out = run("replaced");
        assert_eq!(out_text(&out), "replaced\n", "{mode:?}");
        assert_eq!(out.result.unwrap_err().message, "exited with 4", "{mode:?}");

        // Each job has a process of its own.
        let (a, b) = (out_text(&run("pid")), out_text(&run("pid")));
        assert!(!a.trim().is_empty() && a != b, "{mode:?}: {a} {b}");
    }
}

#[test]
fn an_actions_file_that_does_not_load_fails_its_jobs_with_bash_s_error() {
    for mode in SHELL_MODES {
        let repo = tempfile::tempdir().unwrap();
        actor_file(
            repo.path(),
            "vm",
            "actions.sh",
            "install() {\n  echo (\n}\n",
        )
        .unwrap();
        let shell = ShellRuntime::new(repo.path()).with_mode(mode);
        for _ in 0..2 {
            let out = shell
                .execute(&ctx("vm!one", "vm", "install", MINUTE).unwrap())
                .unwrap();
            let failure = out.result.unwrap_err();
            assert_eq!(failure.kind, FailureKind::Error, "{mode:?}");
            assert!(
                failure.message.starts_with("exited with 97:")
                    && failure.message.contains("syntax error"),
                "{mode:?}: {}",
                failure.message
            );
        }
    }
}

#[test]
fn parallel_shell_jobs_get_their_own_output_and_results() {
    for mode in SHELL_MODES {
        let repo = tempfile::tempdir().unwrap();
        let actions = "install() {\n  echo \"out $AYS_SERVICE_INSTANCE\"\n  \
                       echo \"{\\\"n\\\": \\\"$AYS_SERVICE_INSTANCE\\\"}\" > \"$AYS_RESULT_FILE\"\n}\n";
        actor_file(repo.path(), "vm", "actions.sh", actions).unwrap();
        let shell = ShellRuntime::new(repo.path()).with_mode(mode);
        let outcomes: Vec<(String, JobOutcome)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let shell = &shell;
                    scope.spawn(move || {
                        let name = format!("n{i}");
                        let job = ctx(&format!("vm!{name}"), "vm", "install", MINUTE).unwrap();
                        (name, shell.execute(&job).unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (name, out) in outcomes {
            assert_eq!(out.result, Ok(()), "{mode:?}");
            assert_eq!(out_text(&out), format!("out {name}\n"), "{mode:?}");
            assert_eq!(
                out.data_patch,
                json!({ "n": name }).as_object().cloned(),
                "{mode:?}"
            );
        }
    }
}
