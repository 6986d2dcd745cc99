//! Changes through `ays daemon`'s API: a repository created in `--repos-dir`, a blueprint
//! written and executed, a run, then the service, the repository's services and the
//! repository itself deleted.

use serde_json::{Value, json};

use crate::daemon::{Daemon, get, ok_with};
use crate::daemon_runs::{send, wait_for};

#[test]
fn issue_11_a_repository_made_and_unmade_through_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let repos = tmp.path().join("repos");
    let marks = tmp.path().join("marks");
    std::fs::create_dir(&repos).unwrap();
    // An empty --repos-dir is served: repositories are created there.
    let daemon = Daemon::start(
        &config,
        tmp.path(),
        &["--repos-dir", "repos", "--port", "0"],
    );
    let token = ok_with(&config, tmp.path(), &["token", "show"]);
    let token = token.trim_end();
    let api = format!("{}/ays/repository", daemon.url());
    assert_eq!(get(&api, Some(token)), (200, json!([])));

    let (status, created) = send("POST", &api, token, Some(r#"{"name": "farm"}"#));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "farm");
    let root = repos.join("farm");
    assert!(root.join(".ays/config.yaml").is_file());
    let (status, again) = send("POST", &api, token, Some(r#"{"name": "farm"}"#));
    assert_eq!(
        (status, &again["error"]["code"]),
        (409, &json!("repository_exists"))
    );

    // A template on disk; a blueprint through the API, executed.
    let template = root.join("actorTemplates/web");
    std::fs::create_dir_all(&template).unwrap();
    std::fs::write(template.join("schema.hrd"), "port = type:int default:80\n").unwrap();
    std::fs::write(
        template.join("actions.sh"),
        format!(
            "install() {{\n    echo \"$AYS_SERVICE_INSTANCE\" >> '{}'\n}}\n",
            marks.display()
        ),
    )
    .unwrap();
    let farm = format!("{api}/farm");
    let blueprint = json!({
        "name": "web.yaml",
        "content": "web__site:\n  port: 8080\nactions:\n  - action: install\n",
    });
    let (status, body) = send(
        "POST",
        &format!("{farm}/blueprint"),
        token,
        Some(&blueprint.to_string()),
    );
    assert_eq!(status, 201, "{body}");
    let (status, report) = send("POST", &format!("{farm}/blueprint/web.yaml"), token, None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], json!(["web!site"]), "{report}");
    let (status, service) = get(&format!("{farm}/service/web/site"), Some(token));
    assert_eq!(status, 200, "{service}");
    assert_eq!(service["data"]["port"], 8080);

    // A run through the queue.
    let (status, queued) = send("POST", &format!("{farm}/aysrun"), token, Some("{}"));
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    let run: Value = wait_for("the run to end", || {
        let (_, run) = get(&format!("{farm}/aysrun/{id}"), Some(token));
        let state = run["run"]["state"].as_str().unwrap_or_default().to_owned();
        ["ok", "error"].contains(&state.as_str()).then_some(run)
    });
    assert_eq!(run["run"]["state"], "ok", "{run}");
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "site\n");

    // Delete the service, destroy the repository's services, delete the repository.
    let (status, deleted) = send("DELETE", &format!("{farm}/service/web/site"), token, None);
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["deleted"], json!(["web!site"]));
    assert_eq!(
        get(&format!("{farm}/service"), Some(token)),
        (200, json!([]))
    );
    let (status, destroyed) = send("POST", &format!("{farm}/destroy"), token, None);
    assert_eq!(status, 200, "{destroyed}");
    assert_eq!(destroyed, json!({"actors": 1, "services": 0}));
    assert!(root.join("blueprints/web.yaml").is_file());
    let (status, body) = send("DELETE", &farm, token, None);
    assert_eq!(status, 204, "{body}");
    assert!(!root.exists());
    assert_eq!(get(&api, Some(token)), (200, json!([])));
    let (status, gone) = get(&farm, Some(token));
    assert_eq!(
        (status, &gone["error"]["code"]),
        (404, &json!("repository_not_found"))
    );

    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}
