//! `POST /webhooks/events` under `ays daemon`: template `events:` and blueprint `eventfilters`
//! map an event to actions, which a queued run runs; duplicates join a run still queued.

use serde_json::{Value, json};

use crate::daemon::{Daemon, get, ok_with};
use crate::daemon_runs::{send, wait_for};

/// The lines of `file` that start with `what`.
fn count(file: &std::path::Path, what: &str) -> usize {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(what))
        .count()
}

#[test]
fn issue_11_events_run_the_actions_they_map_to_and_duplicates_coalesce() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let marks = tmp.path().join("marks");
    let gate = tmp.path().join("gate");
    ok_with(&config, tmp.path(), &["init", "r"]);
    let root = tmp.path().join("r");
    let app = root.join("actorTemplates/app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("schema.hrd"), "n = type:int default:1\n").unwrap();
    std::fs::write(
        app.join("config.yaml"),
        "events:\n  - command: deploy\n    action: deploy\n    tags: [prod]\n",
    )
    .unwrap();
    let (m, g) = (marks.display(), gate.display());
    std::fs::write(
        app.join("actions.sh"),
        format!(
            "deploy() {{\n    echo \"deploy $AYS_SERVICE\" >> '{m}'\n    \
             while [ ! -e '{g}' ]; do sleep 0.05; done\n}}\n\
             backup() {{\n    echo \"backup $AYS_SERVICE\" >> '{m}'\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("blueprints/bp.yaml"),
        "app__a:\napp__b:\neventfilters:\n  - actor: app\n    service: b\n    cmd: backup\n    \
         secret: s3cret\n    action: backup\n",
    )
    .unwrap();
    ok_with(&config, &root, &["blueprint"]);
    let token = std::fs::read_to_string(config.join("token")).unwrap();
    let token = token.trim_end();
    let daemon = Daemon::start(&config, &root, &["--port", "0"]);
    let url = daemon.url();
    let hook = format!("{url}/webhooks/events");
    let runs = format!("{url}/ays/repository/r/aysrun");
    let run_state = |id: &str| -> Value {
        let (_, run) = get(&format!("{runs}/{id}"), Some(token));
        run
    };

    // No filter matches: nothing is scheduled.
    for event in [
        json!({"command": "deploy", "tags": ["dev"]}),
        json!({"command": "backup"}),
        json!({"command": "backup", "secret": "guess"}),
        json!({"command": "restart", "tags": ["prod"]}),
    ] {
        let (status, outcome) = send("POST", &hook, token, Some(&event.to_string()));
        assert_eq!(
            (status, &outcome),
            (200, &json!({"targets": [], "runs": []})),
            "{event}"
        );
    }
    let (status, body) = send("POST", &hook, token, Some(r#"{"tags": []}"#));
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("invalid_value"))
    );

    // A matching event schedules deploy on both services (the template's filter) and queues a
    // run of it; its job waits at the gate.
    let event = json!({"command": "deploy", "tags": ["prod", "eu"], "payload": {"rev": 7}});
    let (status, first) = send("POST", &hook, token, Some(&event.to_string()));
    assert_eq!(status, 202, "{first}");
    assert_eq!(
        first["targets"],
        json!([
            {"repository": "r", "service": "app!a", "action": "deploy"},
            {"repository": "r", "service": "app!b", "action": "deploy"},
        ])
    );
    assert_eq!(first["runs"][0]["coalesced"], false);
    let first_run = first["runs"][0]["id"].as_str().unwrap().to_owned();
    wait_for("the deploys to start", || {
        (count(&marks, "deploy") == 2).then_some(())
    });
    // Two more while it runs: the first queues a second run, the other joins it.
    let (_, second) = send("POST", &hook, token, Some(&event.to_string()));
    let (_, third) = send("POST", &hook, token, Some(&event.to_string()));
    assert_eq!(second["runs"][0]["coalesced"], false, "{second}");
    assert_eq!(third["runs"][0]["coalesced"], true, "{third}");
    assert_eq!(third["runs"][0]["id"], second["runs"][0]["id"]);
    let second_run = second["runs"][0]["id"].as_str().unwrap().to_owned();
    std::fs::write(&gate, "").unwrap();
    for id in [&first_run, &second_run] {
        wait_for("the event's run to end", || {
            (run_state(id)["run"]["state"] == "ok").then_some(())
        });
    }
    assert_eq!(
        count(&marks, "deploy"),
        4,
        "two runs of two services, not three"
    );

    // The blueprint's filter with its secret.
    let event = json!({"command": "backup", "secret": "s3cret"});
    let (status, outcome) = send("POST", &hook, token, Some(&event.to_string()));
    assert_eq!(status, 202, "{outcome}");
    assert_eq!(
        outcome["targets"],
        json!([{"repository": "r", "service": "app!b", "action": "backup"}])
    );
    let id = outcome["runs"][0]["id"].as_str().unwrap().to_owned();
    wait_for("the backup run to end", || {
        (run_state(&id)["run"]["state"] == "ok").then_some(())
    });
    assert_eq!(count(&marks, "backup app!b"), 1);
    assert_eq!(count(&marks, "backup"), 1, "only b has the filter");
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}
