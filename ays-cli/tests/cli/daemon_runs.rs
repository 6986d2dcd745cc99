//! Runs through `ays daemon`'s API: simulated, queued one at a time per repository, cancelled,
//! executed again, deleted, and continued after the daemon stops or dies.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemon::{Daemon, get, ok_with};

/// `METHOD url` with `body` (JSON text, or none) and the bearer token: status and JSON body
/// (`Null` when empty).
pub(crate) fn send(method: &str, url: &str, token: &str, body: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let mut response = match (method, body) {
        ("POST", Some(body)) => agent
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body),
        ("POST", None) => agent.post(url).header("Authorization", &auth).send_empty(),
        ("DELETE", _) => agent.delete(url).header("Authorization", &auth).call(),
        _ => agent.get(url).header("Authorization", &auth).call(),
    }
    .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: {e}: {text}"))
    };
    (status, body)
}

/// Waits up to 60 s for `check` to give `Some`.
pub(crate) fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "waited 60 s for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A repository `r` under `parent`: `db!main` and its child `web!site`, both with `install`
/// scheduled. `db`'s install appends `db` to `marks` and waits until `gate` exists; `web`'s
/// appends `web`.
fn gated_repository(config: &Path, parent: &Path, marks: &Path, gate: &Path) -> PathBuf {
    ok_with(config, parent, &["init", "r"]);
    let root = parent.join("r");
    let db = root.join("actorTemplates/db");
    let web = root.join("actorTemplates/web");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(db.join("schema.hrd"), "size = type:int default:1\n").unwrap();
    std::fs::write(
        db.join("actions.sh"),
        format!(
            "install() {{\n    echo db >> '{}'\n    echo $BASHPID >> '{}.pids'\n    \
             while [ ! -e '{}' ]; do sleep 0.05; done\n}}\n",
            marks.display(),
            marks.display(),
            gate.display()
        ),
    )
    .unwrap();
    std::fs::write(web.join("schema.hrd"), "db = type:str parent:'db'\n").unwrap();
    std::fs::write(
        web.join("actions.sh"),
        format!("install() {{\n    echo web >> '{}'\n}}\n", marks.display()),
    )
    .unwrap();
    std::fs::write(
        root.join("blueprints/bp.yaml"),
        "db__main:\nweb__site:\n  db: main\nactions:\n  - action: install\n",
    )
    .unwrap();
    ok_with(config, &root, &["blueprint"]);
    root
}

/// The lines of `marks` (empty when it does not exist).
fn marks_of(marks: &Path) -> Vec<String> {
    std::fs::read_to_string(marks)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The state of each job of `run`, by service.
fn job_states(run: &Value) -> Vec<(String, String)> {
    run["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["service"].as_str().unwrap().to_owned(),
                j["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

struct Setup {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    root: PathBuf,
    marks: PathBuf,
    gate: PathBuf,
    token: String,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let marks = tmp.path().join("marks");
    let gate = tmp.path().join("gate");
    let root = gated_repository(&config, tmp.path(), &marks, &gate);
    let token = std::fs::read_to_string(config.join("token"))
        .unwrap()
        .trim_end()
        .to_owned();
    Setup {
        _tmp: tmp,
        config,
        root,
        marks,
        gate,
        token,
    }
}

/// A queued run is planned and executed by the daemon, one at a time; SIGTERM lets its running
/// job finish and starts no other; the next daemon resumes it without running again what
/// ended, then takes the next request; a deleted run is gone.
#[test]
fn issue_11_runs_through_the_api_queue_one_at_a_time_and_survive_a_restart() {
    let s = setup();
    let daemon = Daemon::start(&s.config, &s.root, &["--port", "0", "-v"]);
    let runs = format!("{}/ays/repository/r/aysrun", daemon.url());
    let token = s.token.as_str();

    // Simulate: the plan, nothing stored.
    let (status, plan) = send("POST", &runs, token, Some(r#"{"simulate": true}"#));
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        plan,
        json!({"steps": [
            {"number": 1, "jobs": [{"service": "db!main", "actor": "db", "action": "install", "after": []}]},
            {"number": 2, "jobs": [{"service": "web!site", "actor": "web", "action": "install", "after": ["db!main:install"]}]},
        ]})
    );
    assert_eq!(get(&runs, Some(token)), (200, json!([])));

    // Two runs asked for: the first executes, the second waits its turn.
    let (status, first) = send("POST", &runs, token, None);
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["queue"]["state"], "queued");
    let first = first["id"].as_str().unwrap().to_owned();
    let (status, second) = send("POST", &runs, token, Some("{}"));
    assert_eq!(status, 202, "{second}");
    let second = second["id"].as_str().unwrap().to_owned();
    wait_for("the db job to run", || {
        let (_, run) = get(&format!("{runs}/{first}"), Some(token));
        (job_states(&run).first() == Some(&("db!main".into(), "running".into()))).then_some(())
    });
    let (_, waiting) = get(&format!("{runs}/{second}"), Some(token));
    assert_eq!(waiting["run"]["state"], "new", "{waiting}");
    assert_eq!(waiting["queue"]["state"], "queued", "{waiting}");
    assert_eq!(waiting["queue"]["position"], 1, "{waiting}");
    let (_, listed) = get(&runs, Some(token));
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");

    // SIGTERM while db's job runs: it may finish (the gate opens), web does not start.
    let gate = s.gate.clone();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        std::fs::write(gate, "").unwrap();
    });
    let (code, err) = daemon.terminate();
    opener.join().unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopping: running jobs may finish"), "{err}");
    assert_eq!(marks_of(&s.marks), ["db"]);
    let shown: Value = serde_json::from_str(&ok_with(
        &s.config,
        &s.root,
        &["--json", "run", "show", &first],
    ))
    .unwrap();
    assert_eq!(shown["run"]["state"], "running", "unfinished: {shown}");
    assert_eq!(
        job_states(&shown),
        [
            ("db!main".into(), "ok".into()),
            ("web!site".into(), "new".into())
        ]
    );

    // The next daemon resumes the first run, then takes the second request.
    let daemon = Daemon::start(&s.config, &s.root, &["--port", "0"]);
    let runs = format!("{}/ays/repository/r/aysrun", daemon.url());
    let done = wait_for("the first run to end", || {
        let (_, run) = get(&format!("{runs}/{first}"), Some(token));
        (run["run"]["state"] == "ok").then_some(run)
    });
    assert_eq!(
        job_states(&done),
        [
            ("db!main".into(), "ok".into()),
            ("web!site".into(), "ok".into())
        ]
    );
    assert!(done.get("queue").is_none(), "its request is gone: {done}");
    assert_eq!(marks_of(&s.marks), ["db", "web"], "db did not run again");
    let empty = wait_for("the second request to be taken", || {
        let (_, run) = get(&format!("{runs}/{second}"), Some(token));
        (run["queue"]["state"] == "empty").then_some(run)
    });
    assert_eq!(empty["run"]["steps"], json!([]), "{empty}");

    // Deleting: the stored run, and the request that made none.
    for id in [&first, &second] {
        assert_eq!(
            send("DELETE", &format!("{runs}/{id}"), token, None),
            (204, Value::Null)
        );
        let (status, body) = get(&format!("{runs}/{id}"), Some(token));
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &json!("run_not_found"))
        );
    }
    assert_eq!(get(&runs, Some(token)), (200, json!([])));
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}

/// A cancelled run stops starting jobs and stays unfinished; a new run is refused while it is;
/// executing it again resumes it; what has ended cannot be executed or cancelled.
#[test]
fn issue_11_a_cancelled_run_stays_unfinished_and_executes_again() {
    let s = setup();
    let daemon = Daemon::start(&s.config, &s.root, &["--port", "0"]);
    let runs = format!("{}/ays/repository/r/aysrun", daemon.url());
    let token = s.token.as_str();

    let (_, asked) = send("POST", &runs, token, Some(r#"{"schedule": "steps"}"#));
    let id = asked["id"].as_str().unwrap().to_owned();
    wait_for("the db job to run", || {
        let (_, run) = get(&format!("{runs}/{id}"), Some(token));
        (job_states(&run).first() == Some(&("db!main".into(), "running".into()))).then_some(())
    });
    assert_eq!(
        send("POST", &format!("{runs}/{id}/cancel"), token, None),
        (200, json!({"id": id, "outcome": "stopping"}))
    );
    std::fs::write(&s.gate, "").unwrap();
    let stopped = wait_for("the run to stop", || {
        let (_, run) = get(&format!("{runs}/{id}"), Some(token));
        (run.get("queue").is_none() && job_states(&run)[0].1 == "ok").then_some(run)
    });
    assert_eq!(stopped["run"]["state"], "running", "unfinished: {stopped}");
    assert_eq!(job_states(&stopped)[1], ("web!site".into(), "new".into()));
    let (status, body) = send("POST", &format!("{runs}/{id}/cancel"), token, None);
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("run_not_running"))
    );

    // A new run is refused while this one is unfinished, and says why.
    let (_, refused) = send("POST", &runs, token, None);
    let refused = refused["id"].as_str().unwrap().to_owned();
    let body = wait_for("the new run to be refused", || {
        let (_, run) = get(&format!("{runs}/{refused}"), Some(token));
        (run["queue"]["state"] == "refused").then_some(run)
    });
    let message = body["queue"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("run `{id}` is unfinished")),
        "{message}"
    );

    // Executing it again resumes it.
    let (status, again) = send("POST", &format!("{runs}/{id}"), token, None);
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["queue"]["kind"], "resume");
    let done = wait_for("the run to end", || {
        let (_, run) = get(&format!("{runs}/{id}"), Some(token));
        (run["run"]["state"] == "ok").then_some(run)
    });
    assert_eq!(job_states(&done)[1], ("web!site".into(), "ok".into()));
    assert_eq!(marks_of(&s.marks), ["db", "web"]);
    let (status, body) = send("POST", &format!("{runs}/{id}"), token, None);
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("run_finished"))
    );
    let (status, body) = send("POST", &format!("{runs}/{id}/cancel"), token, None);
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("run_not_running"))
    );
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}

/// A daemon killed with SIGKILL loses no queued run: the next one runs it.
#[test]
fn issue_11_a_killed_daemon_keeps_its_queue() {
    let s = setup();
    let mut daemon = Daemon::start(&s.config, &s.root, &["--port", "0"]);
    let runs = format!("{}/ays/repository/r/aysrun", daemon.url());
    let token = s.token.as_str();
    let (_, asked) = send("POST", &runs, token, None);
    let id = asked["id"].as_str().unwrap().to_owned();
    wait_for("the db job to run", || {
        let (_, run) = get(&format!("{runs}/{id}"), Some(token));
        (job_states(&run).first() == Some(&("db!main".into(), "running".into()))).then_some(())
    });
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    // The job it was running does not go on unseen: its bash server ends it.
    let pids = std::fs::read_to_string(s.marks.with_extension("pids")).unwrap();
    let pid = pids.lines().next().unwrap().trim().to_owned();
    wait_for("the killed daemon's job to end", || {
        let alive = std::process::Command::new("kill")
            .args(["-0", &pid])
            .status()
            .unwrap()
            .success();
        (!alive).then_some(())
    });
    std::fs::write(&s.gate, "").unwrap();

    let daemon = Daemon::start(&s.config, &s.root, &["--port", "0"]);
    let runs = format!("{}/ays/repository/r/aysrun", daemon.url());
    let done = wait_for("the run to end", || {
        let (_, run) = get(&format!("{runs}/{id}"), Some(token));
        (run["run"]["state"] == "ok").then_some(run)
    });
    assert_eq!(
        job_states(&done),
        [
            ("db!main".into(), "ok".into()),
            ("web!site".into(), "ok".into())
        ]
    );
    // The killed job ran again (at least once), and web once.
    let marks = marks_of(&s.marks);
    assert_eq!(marks.iter().filter(|m| *m == "web").count(), 1, "{marks:?}");
    assert!(
        marks.iter().filter(|m| *m == "db").count() >= 1,
        "{marks:?}"
    );
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}
