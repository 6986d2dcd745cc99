//! The repository commands over the embedded store and over Redis: init, blueprint, service,
//! actor, export, restore, destroy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ays_core::testing::copy_scenario;
use ays_store::testing::RedisServer;
use serde_json::Value;

use crate::{ays, stderr, stdout};

/// The stores a scenario runs against: the embedded default (`None`) and a real Redis server,
/// shared by the tests running at the same time and stopped when the last guard drops.
pub fn stores() -> (Arc<RedisServer>, Vec<Option<String>>) {
    let server =
        RedisServer::shared().unwrap_or_else(|err| panic!("cannot start redis-server: {err}"));
    let url = server.url().to_owned();
    (server, vec![None, Some(url)])
}

/// Runs `ays` in `dir` and asserts success, returning stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = ays(dir, args, b"");
    assert!(
        out.status.success(),
        "ays {args:?} failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// Runs `ays --json` in `dir` and parses the output.
pub fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

/// A new repository holding sample_repo1's templates and blueprints, on `store`.
fn sample_repo1(tmp: &Path, store: Option<&str>) -> PathBuf {
    let repo = tmp.join("repo");
    let mut args = vec!["init", "repo"];
    if let Some(url) = store {
        args.extend_from_slice(&["--store", url]);
    }
    ok(tmp, &args);
    copy_scenario("sample_repo1", &repo).unwrap();
    repo
}

pub fn keys(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap().to_owned())
        .collect()
}

const SAMPLE_REPO1_SERVICES: [&str; 6] = [
    "cockpit!cockpitv1",
    "cockpit!cockpitv2",
    "datacenter!ovh_germany1",
    "datacenter!ovh_germany2",
    "datacenter!ovh_germany3",
    "sshkey!main",
];

#[test]
fn sample_repo1_blueprints_apply_as_one_unit() {
    let (_redis, stores) = stores();
    for store in stores {
        let tmp = tempfile::tempdir().unwrap();
        let repo = sample_repo1(tmp.path(), store.as_deref());

        let dry = json(&repo, &["blueprint", "--dry-run"]);
        assert_eq!(dry["dry_run"], true);
        assert_eq!(dry["created"].as_array().unwrap().len(), 6);
        assert_eq!(json(&repo, &["service", "list"]), Value::Array(vec![]));

        let applied = json(&repo, &["blueprint"]);
        assert_eq!(applied["scheduled"].as_array().unwrap().len(), 6);
        assert_eq!(
            keys(&json(&repo, &["service", "list"])),
            SAMPLE_REPO1_SERVICES
        );

        // cockpitv1's parent is declared in a later file; the parent is also a producer.
        let shown = json(&repo, &["service", "show", "cockpit!cockpitv1"]);
        assert_eq!(shown[0]["parent"], "datacenter!ovh_germany1");
        assert_eq!(shown[0]["producers"][0], "datacenter!ovh_germany1");
        let parent = json(&repo, &["service", "show", "datacenter!ovh_germany1"]);
        assert_eq!(parent[0]["consumers"][0], "cockpit!cockpitv1");
        assert_eq!(parent[0]["children"][0], "cockpit!cockpitv1");

        let children = json(
            &repo,
            &["service", "list", "--parent", "datacenter!ovh_germany3"],
        );
        assert_eq!(keys(&children), ["cockpit!cockpitv2"]);

        // Applying the same blueprints again changes nothing.
        let again = json(&repo, &["blueprint"]);
        assert_eq!(again["created"], Value::Array(vec![]));
        assert_eq!(again["updated"], Value::Array(vec![]));
        assert_eq!(again["scheduled"], Value::Array(vec![]));
    }
}

#[test]
fn a_bad_blueprint_changes_nothing_and_names_file_line_and_key() {
    let (_redis, stores) = stores();
    for store in stores {
        let tmp = tempfile::tempdir().unwrap();
        let repo = sample_repo1(tmp.path(), store.as_deref());
        ok(&repo, &["blueprint"]);
        let before = (
            json(&repo, &["service", "show"]),
            json(&repo, &["service", "state"]),
        );

        std::fs::write(
            repo.join("blueprints/zz_bad.yaml"),
            "sshkey__second:\n  nosuchfield: 1\n",
        )
        .unwrap();
        let out = ays(&repo, &["blueprint"], b"");
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains("zz_bad.yaml:2"), "file and line: {err}");
        assert!(err.contains("nosuchfield"), "the attribute: {err}");
        assert!(err.contains("sshkey!second"), "the service key: {err}");

        let after = (
            json(&repo, &["service", "show"]),
            json(&repo, &["service", "state"]),
        );
        assert_eq!(
            before, after,
            "a failed blueprint must leave every service as it was"
        );
    }
}

#[test]
fn states_delete_export_destroy_and_restore() {
    let (_redis, stores) = stores();
    for store in stores {
        let tmp = tempfile::tempdir().unwrap();
        let repo = sample_repo1(tmp.path(), store.as_deref());
        ok(&repo, &["blueprint"]);

        let changed = json(
            &repo,
            &[
                "service",
                "set-state",
                "install",
                "--state",
                "ok",
                "--role",
                "sshkey",
            ],
        );
        assert_eq!(changed, serde_json::json!(["sshkey!main"]));
        let states = json(&repo, &["service", "state", "--role", "sshkey"]);
        assert_eq!(states[0]["key"], "sshkey!main");
        let bad_state = ays(
            &repo,
            &["service", "set-state", "install", "--state", "sleepy"],
            b"",
        );
        assert_eq!(bad_state.status.code(), Some(1));
        assert!(
            stderr(&bad_state).contains("sleepy"),
            "{}",
            stderr(&bad_state)
        );

        // Export, destroy, restore: every service, relation and action state comes back.
        let before = json(&repo, &["service", "show"]);
        ok(&repo, &["export"]);
        assert!(
            repo.join("services/datacenter!ovh_germany1/cockpit!cockpitv1/service.json")
                .is_file(),
            "children are nested under their parent"
        );
        let would = ays(&repo, &["destroy", "--dry-run"], b"");
        assert_eq!(
            stdout(&would),
            "would remove 3 actor(s) and 6 service(s); runs are kept\n"
        );
        assert_eq!(json(&repo, &["service", "show"]), before);
        let destroyed = json(&repo, &["destroy"]);
        assert_eq!(destroyed["services"], 6);
        assert_eq!(json(&repo, &["service", "list"]), Value::Array(vec![]));
        let restored = json(&repo, &["restore"]);
        assert_eq!(restored["services"], 6);
        assert_eq!(json(&repo, &["service", "show"]), before);

        // A dry run lists the cascade and changes nothing.
        let listed = json(&repo, &["service", "list"]);
        let dry = ays(
            &repo,
            &["service", "delete", "datacenter!ovh_germany1", "--dry-run"],
            b"",
        );
        assert!(dry.status.success(), "{}", stderr(&dry));
        assert_eq!(
            stdout(&dry),
            "would delete datacenter!ovh_germany1\nwould delete cockpit!cockpitv1\n"
        );
        assert_eq!(json(&repo, &["service", "list"]), listed);

        // Deleting a parent deletes its children and unlinks them from the others.
        let deleted = json(&repo, &["service", "delete", "datacenter!ovh_germany1"]);
        let mut deleted: Vec<String> = serde_json::from_value(deleted["deleted"].clone()).unwrap();
        deleted.sort();
        assert_eq!(deleted, ["cockpit!cockpitv1", "datacenter!ovh_germany1"]);
        assert_eq!(
            keys(&json(&repo, &["service", "list"])),
            [
                "cockpit!cockpitv2",
                "datacenter!ovh_germany2",
                "datacenter!ovh_germany3",
                "sshkey!main"
            ]
        );
    }
}

#[test]
fn the_repository_is_found_upward_or_with_dash_c() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample_repo1(tmp.path(), None);
    ok(&repo, &["blueprint"]);
    let deep = repo.join("actorTemplates/cockpit");
    assert_eq!(keys(&json(&deep, &["service", "list"])).len(), 6);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = ays(elsewhere.path(), &["service", "list"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not inside an AYS repository"),
        "{}",
        stderr(&out)
    );
    let listed = ok(
        elsewhere.path(),
        &[
            "-C",
            repo.to_str().unwrap(),
            "service",
            "list",
            "--role",
            "sshkey",
        ],
    );
    assert_eq!(listed, "SERVICE      ACTOR   PARENT\nsshkey!main  sshkey\n");
}

#[test]
fn init_refuses_an_existing_repository() {
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["init", "r"]);
    let again = ays(tmp.path(), &["init", "r"], b"");
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("already"), "{}", stderr(&again));
}

/// Runs `ays` in `dir` with extra environment variables.
fn ays_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ays"))
        .env("AYS_CONFIG_DIR", crate::config_dir())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn issue_9_a_failed_init_leaves_nothing_and_only_init_creates_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: the store cannot be written.
    let failed = ays_env(
        tmp.path(),
        &["init", "x/y"],
        &[("AYS_STORE", "redis://127.0.0.1:1/0")],
    );
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        !tmp.path().join("x").exists(),
        "a failed init leaves nothing"
    );
    // An existing directory is kept, but what init made in it goes.
    std::fs::create_dir(tmp.path().join("mine")).unwrap();
    std::fs::write(tmp.path().join("mine/notes.txt"), "mine").unwrap();
    let failed = ays_env(
        tmp.path(),
        &["init", "mine"],
        &[("AYS_STORE", "redis://127.0.0.1:1/0")],
    );
    assert_eq!(failed.status.code(), Some(1));
    let left: Vec<String> = std::fs::read_dir(tmp.path().join("mine"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["notes.txt"]);
    // So a second init works.
    ok(tmp.path(), &["init", "mine"]);

    // A mistyped store path is an error, not a new store.
    let repo = tmp.path().join("mine");
    let mistyped = tmp.path().join("mistyped.redb");
    let url = format!("redb://{}", mistyped.display());
    let out = ays(&repo, &["--store", &url, "service", "list"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no store at"), "{}", stderr(&out));
    assert!(!mistyped.exists());

    // An in-memory store keeps nothing: commands that change state say so, others do not.
    let persist = "nothing this command changes will persist";
    let changed = ays(&repo, &["--store", "mem://x", "blueprint"], b"");
    assert!(changed.status.success());
    assert!(stderr(&changed).contains(persist), "{}", stderr(&changed));
    for read in [
        &["--store", "mem://x", "service", "list"][..],
        &["--store", "mem://x", "blueprint", "--dry-run"],
    ] {
        let out = ays(&repo, read, b"");
        assert!(
            !stderr(&out).contains(persist),
            "{read:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn issue_9_a_needed_producer_is_deleted_only_with_force_and_restore_needs_a_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("r");
    ok(tmp.path(), &["init", "r"]);
    for (name, schema) in [
        ("key", "path = type:str\n"),
        ("node", "key = type:str consume:key:1\n"),
    ] {
        let dir = repo.join("actorTemplates").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("schema.hrd"), schema).unwrap();
    }
    std::fs::write(
        repo.join("blueprints/bp.yaml"),
        "key__k:\nnode__n:\n  key: k\n",
    )
    .unwrap();
    ok(&repo, &["blueprint"]);

    let dry = ays(&repo, &["service", "delete", "key!k", "--dry-run"], b"");
    assert_eq!(
        stdout(&dry),
        "would delete key!k\nwould unlink node!n from key!k (drops `k` from its `key`; \
         it needs 1 key and keeps 0)\n"
    );
    let refused = ays(&repo, &["service", "delete", "key!k"], b"");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("node!n needs at least 1 key and would have 0"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        keys(&json(&repo, &["service", "list"])),
        ["key!k", "node!n"]
    );
    let forced = ays(&repo, &["service", "delete", "key!k", "--force", "-y"], b"");
    assert!(forced.status.success(), "{}", stderr(&forced));
    let node = json(&repo, &["service", "show", "node!n"]);
    assert_eq!(node[0]["data"]["key"], "", "no dangling name: {node}");

    // No mirror: restore fails and keeps every service.
    let restore = ays(&repo, &["restore", "/mistyped/dir"], b"");
    assert_eq!(restore.status.code(), Some(2));
    assert!(
        stderr(&restore).contains("no export mirror"),
        "{}",
        stderr(&restore)
    );
    assert_eq!(keys(&json(&repo, &["service", "list"])), ["node!n"]);
    // Export says when it creates its directory.
    let export = ok(&repo, &["export", "../mirror"]);
    assert!(export.starts_with("created "), "{export}");
}

#[test]
fn issue_9_a_blueprint_dry_run_shows_the_drift_it_would_revert() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("r");
    ok(tmp.path(), &["init", "r"]);
    let dir = repo.join("actorTemplates/host");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("schema.hrd"),
        "cores = type:int\nname = type:str\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("blueprints/bp.yaml"),
        "host__a:\n  cores: 2\n  name: web\n",
    )
    .unwrap();
    ok(&repo, &["blueprint"]);
    // An action changed the data since (here by hand, as a data patch would).
    let library = ays_core::Repository::open(&repo, ays_core::OpenOptions::default()).unwrap();
    library
        .patch_service_data(&"host!a".parse().unwrap(), &serde_json::json!({"cores": 4}))
        .unwrap();
    drop(library);
    let dry = ok(&repo, &["blueprint", "--dry-run"]);
    assert!(
        dry.lines().any(|l| l.starts_with("update")
            && l.contains("host!a")
            && l.ends_with("cores: 4 -> 2")),
        "{dry}"
    );
    let report = json(&repo, &["blueprint", "--dry-run"]);
    assert_eq!(
        report["updated"][0]["fields"],
        serde_json::json!([{"field": "cores", "old": 4, "new": 2}])
    );
}

#[test]
fn issue_9_a_field_defined_twice_is_warned_about_once_without_colour() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("r");
    ok(tmp.path(), &["init", "r"]);
    let dir = repo.join("actorTemplates/vm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("schema.hrd"), "size = type:int\nsize = type:str\n").unwrap();
    std::fs::write(repo.join("blueprints/bp.yaml"), "vm__a:\n  size: big\n").unwrap();
    let applied = ays(&repo, &["blueprint"], b"");
    assert!(applied.status.success(), "{}", stderr(&applied));
    let err = stderr(&applied);
    assert_eq!(err.matches("defined twice").count(), 1, "{err}");
    assert!(err.contains("schema.hrd:2:1"), "{err}");
    assert!(!err.contains('\u{1b}'), "no colour into a pipe: {err:?}");
    let shown = ays(&repo, &["service", "show", "vm!a"], b"");
    assert!(shown.status.success());
    assert!(
        !stderr(&shown).contains("defined twice"),
        "{}",
        stderr(&shown)
    );
}

#[test]
fn issue_9_completion_scripts_and_json_errors_with_their_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let bash = ays(tmp.path(), &["completion", "bash"], b"");
    assert!(bash.status.success());
    assert!(
        stdout(&bash).contains("_ays()"),
        "a bash completion function"
    );
    // Outside a repository: bad input, as JSON on stderr with --json.
    let out = ays(tmp.path(), &["--json", "service", "list"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err: Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(err["code"], 2);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("not inside an AYS repository"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}
