//! Action states, delete, destroy and actor updates (8.1: test_validate_ays_update,
//! test_validate_delete_models).

use ays_core::both;
use ays_core::testing::{Backend, TestRepo, TestResult};
use ays_core::{
    ActionState, ApplyOptions, CoreError, DeleteOptions, ServiceFilter, TransitionError,
};
use serde_json::json;

use crate::support::fails;

fn tree(t: &TestRepo) -> TestResult {
    t.template("farm", "location = type:str\n")?;
    t.template("vdc", "farm = type:str parent:'farm'\n")?;
    t.template("key", "path = type:str\n")?;
    t.template(
        "node",
        "vdc = type:str parent:'vdc'\nkey = type:str consume:key:1\n",
    )?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "farm__f:\nvdc__v1:\n  farm: f\nvdc__v2:\n  farm: f\nkey__k:\nnode__n1:\n  vdc: v1\n  key: k\nnode__n2:\n  vdc: v2\n  key: k\n",
        ApplyOptions::default(),
    )?;
    Ok(())
}

fn states(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree(&t)?;
    let install = "install".parse()?;
    let nodes = ServiceFilter {
        role: Some("node".into()),
        ..ServiceFilter::all()
    };
    let changed = t.repo.schedule_action(&nodes, &install, false)?;
    assert_eq!(changed.len(), 2);
    t.repo.set_action_state(&nodes, &install, ActionState::Ok)?;
    assert!(
        t.repo.schedule_action(&nodes, &install, false)?.is_empty(),
        "ok stays ok without force"
    );
    assert_eq!(
        t.repo.schedule_action(&nodes, &install, true)?.len(),
        2,
        "force reschedules ok"
    );
    let n1 = ServiceFilter {
        name: Some("n1".into()),
        ..nodes.clone()
    };
    t.repo
        .set_action_state(&n1, &install, ActionState::Disabled)?;
    let before = t.scan()?;
    let err = fails(t.repo.schedule_action(&nodes, &install, true))?;
    assert!(
        matches!(&err, CoreError::Transition { key, source: TransitionError::Disabled, .. } if key == "node!n1"),
        "{err:?}"
    );
    assert_eq!(t.scan()?, before);
    let err = fails(
        t.repo
            .set_action_state(&nodes, &install, ActionState::Running),
    )?;
    assert!(matches!(
        err,
        CoreError::Transition {
            source: TransitionError::NotManual { .. },
            ..
        }
    ));
    let st = t.repo.service_states(&nodes)?;
    let got: Vec<_> = st
        .iter()
        .map(|s| {
            (
                s.key.to_string(),
                s.actions
                    .iter()
                    .find(|(a, _)| a.as_str() == "install")
                    .map(|(_, st)| *st),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("node!n1".into(), Some(ActionState::Disabled)),
            ("node!n2".into(), Some(ActionState::Scheduled))
        ]
    );
    let by_state = ServiceFilter {
        action_state: Some(("install".parse()?, ActionState::Scheduled)),
        ..ServiceFilter::all()
    };
    assert_eq!(t.repo.service_keys(&by_state)?, ["node!n2".parse()?]);
    // `new` states are not indexed: such services are found by reading them all.
    let new_start = ServiceFilter {
        action_state: Some(("start".parse()?, ActionState::New)),
        ..ServiceFilter::all()
    };
    let expected: Vec<ays_core::ServiceKey> = t
        .repo
        .service_states(&ServiceFilter::all())?
        .into_iter()
        .filter(|s| {
            s.actions
                .iter()
                .any(|(a, st)| a.as_str() == "start" && *st == ActionState::New)
        })
        .map(|s| s.key)
        .collect();
    assert_eq!(expected.len(), 6, "{expected:?}");
    assert_eq!(t.repo.service_keys(&new_start)?, expected);
    t.check_indexes()?;
    Ok(())
}
both!(action_states_follow_the_machine, states);

fn delete(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree(&t)?;
    let deleted = t
        .repo
        .delete_service(&"vdc!v1".parse()?, DeleteOptions::default())?
        .deleted;
    assert_eq!(deleted, ["vdc!v1".parse()?, "node!n1".parse()?]);
    let all: Vec<String> = t
        .repo
        .service_keys(&ServiceFilter::all())?
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(all, ["farm!f", "key!k", "node!n2", "vdc!v2"]);
    let key = t.repo.show_service(&"key!k".parse()?)?;
    assert_eq!(key.consumers, ["node!n2".parse()?]);
    let farm = t.repo.show_service(&"farm!f".parse()?)?;
    assert_eq!(farm.children, ["vdc!v2".parse()?]);
    assert_eq!(farm.consumers, ["vdc!v2".parse()?]);
    assert!(matches!(
        t.repo
            .delete_service(&"vdc!v1".parse()?, DeleteOptions::default()),
        Err(CoreError::ServiceNotFound { .. })
    ));
    t.check_indexes()?;
    Ok(())
}
both!(delete_removes_children_and_links, delete);

fn destroy(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree(&t)?;
    t.repo.store().put(b"run/r1", b"a run")?;
    let report = t.repo.destroy()?;
    assert_eq!((report.actors, report.services), (4, 6));
    let left: Vec<String> = t
        .scan()?
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .filter(|k| !k.starts_with("code/"))
        .collect();
    assert_eq!(left, ["repo", "run/r1"], "runs and the repo record stay");
    assert!(t.repo.actors()?.is_empty());
    Ok(())
}
both!(test_validate_delete_models, destroy);

fn update(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template(
        "app",
        "name = type:str default:'x'\nold = type:str\nport = type:int default:80\n",
    )?;
    t.write(
        "actorTemplates/app/actions.sh",
        "install() {\n  echo v1\n}\nbackup() {\n  true\n}\n",
    )?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "app__a:\n  name: hello\n  old: gone\n  port: 81\napp__b:\nactions:\n  - action: install\n",
        ApplyOptions::default(),
    )?;
    t.repo
        .set_action_state(&ServiceFilter::all(), &"install".parse()?, ActionState::Ok)?;
    // Unchanged template: nothing to do.
    let same = t.repo.update_actors(Some("app"))?;
    assert!(!same[0].actor_changed);
    // Change the code of install, drop backup, add check; drop `old`, add `extra`.
    t.write(
        "actorTemplates/app/actions.sh",
        "install() {\n  echo v2\n}\ncheck() {\n  true\n}\n",
    )?;
    t.template(
        "app",
        "name = type:str default:'x'\nport = type:int default:80\nextra = type:str default:'new'\n",
    )?;
    let before_bad = t.scan()?;
    let up = t.repo.update_actors(None)?;
    assert_eq!(up.len(), 1);
    let u = &up[0];
    assert_eq!(u.changed_actions, ["install".parse()?]);
    assert_eq!(u.added_actions, ["check".parse()?]);
    assert_eq!(u.removed_actions, ["backup".parse()?]);
    assert_eq!(u.added_fields, ["extra"]);
    assert_eq!(u.removed_fields, ["old"]);
    assert_eq!(u.services, 2);
    assert_ne!(t.scan()?, before_bad);
    let a = t.repo.show_service(&"app!a".parse()?)?;
    assert_eq!(a.data, json!({"name": "hello", "port": 81, "extra": "new"}));
    let state = |n: &str| {
        a.actions
            .iter()
            .find(|x| x.name.as_str() == n)
            .map(|x| x.state)
    };
    assert_eq!(state("install"), Some(ActionState::Changed));
    assert_eq!(state("check"), Some(ActionState::New));
    assert_eq!(state("backup"), None);
    assert_eq!(state("start"), Some(ActionState::New));
    // An incompatible type change is an error that changes nothing.
    t.template(
        "app",
        "name = type:int\nport = type:int default:80\nextra = type:str default:'new'\n",
    )?;
    let before = t.scan()?;
    let err = fails(t.repo.update_actors(Some("app")))?;
    assert!(
        matches!(&err, CoreError::IncompatibleSchema { actor, field, .. } if actor == "app" && field == "name"),
        "{err:?}"
    );
    assert_eq!(t.scan()?, before);
    t.check_indexes()?;
    Ok(())
}
both!(test_validate_ays_update, update);

fn runner_api(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree(&t)?;
    let key = "key!k".parse()?;
    let install = "install".parse()?;
    assert_eq!(
        t.repo
            .record_action_run(&key, &install, ays_core::ActionRun::Started)?,
        ActionState::New
    );
    t.repo.record_action_run(
        &key,
        &install,
        ays_core::ActionRun::Succeeded {
            at_ms: 1_700_000_000_000,
        },
    )?;
    let s = t.repo.service(&key)?.ok_or("missing")?;
    let a = s.action("install").ok_or("install")?;
    assert_eq!((a.state, a.last_run), (ActionState::Ok, 1_700_000_000_000));
    let changed = t
        .repo
        .patch_service_data(&key, &json!({"path": "/root/.ssh/id"}))?;
    assert_eq!(changed, ["path"]);
    assert_eq!(
        t.repo.show_service(&key)?.data,
        json!({"path": "/root/.ssh/id"})
    );
    let before = t.scan()?;
    let err = fails(t.repo.patch_service_data(&key, &json!({"nosuch": 1})))?;
    assert!(matches!(err, CoreError::Codec { .. }), "{err:?}");
    let err = fails(t.repo.record_action_run(
        &key,
        &"nosuch".parse()?,
        ays_core::ActionRun::Failed,
    ))?;
    assert!(matches!(err, CoreError::UnknownAction { .. }), "{err:?}");
    assert_eq!(t.scan()?, before);
    t.check_indexes()?;
    Ok(())
}
both!(runner_records_action_runs_and_data_patches, runner_api);

/// A named in-memory store is shared by every handle of the process; a private one is not.
#[test]
fn issue_7_named_memory_stores_are_shared_and_private_ones_start_empty() -> TestResult {
    let dir = tempfile::tempdir()?;
    let name = format!("mem://lifecycle-{}", std::process::id());
    let repo = ays_core::Repository::init(
        dir.path(),
        ays_core::InitOptions {
            store_url: Some(name.clone()),
            ..ays_core::InitOptions::default()
        },
    )?;
    std::fs::create_dir_all(dir.path().join("actorTemplates/app"))?;
    std::fs::write(
        dir.path().join("actorTemplates/app/schema.hrd"),
        "port = type:int\n",
    )?;
    repo.apply_blueprint_text(
        "bp.yaml",
        "app__a:\n  port: 80\n",
        ays_core::ApplyOptions::default(),
    )?;
    let all = ays_core::ServiceFilter::all();
    let shared = ays_core::Repository::open(dir.path(), ays_core::OpenOptions::default())?;
    assert_eq!(shared.store_url(), name);
    assert_eq!(shared.service_keys(&all)?, ["app!a".parse()?]);
    let private = ays_core::Repository::open(
        dir.path(),
        ays_core::OpenOptions {
            store_url: Some("mem://".to_owned()),
        },
    )?;
    assert_eq!(private.service_keys(&all)?, []);
    Ok(())
}

/// The ids of every service of the repository.
fn all_keys(t: &TestRepo) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    Ok(t.repo
        .service_keys(&ServiceFilter::all())?
        .iter()
        .map(ToString::to_string)
        .collect())
}

fn restore_needs_a_mirror(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree(&t)?;
    let before = all_keys(&t)?;
    let elsewhere = tempfile::tempdir()?;
    // The repository itself has no mirror yet, a mistyped directory none at all, and half a
    // mirror is not one.
    std::fs::create_dir_all(elsewhere.path().join("half/actors"))?;
    for (dir, missing) in [
        (None, "actors/"),
        (Some(elsewhere.path().join("nosuch")), "the directory"),
        (Some(elsewhere.path().join("half")), "services/"),
    ] {
        let err = fails(t.repo.restore(dir.as_deref()))?;
        let CoreError::NoMirror { missing: got, .. } = &err else {
            return Err(format!("unexpected {err}").into());
        };
        assert_eq!(got, missing);
        assert!(err.to_string().contains("ays export"), "{err}");
        assert_eq!(all_keys(&t)?, before, "a failed restore changes nothing");
    }
    Ok(())
}
both!(
    issue_9_restore_without_a_mirror_fails_and_changes_nothing,
    restore_needs_a_mirror
);

fn export_targets(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree(&t)?;
    let tmp = tempfile::tempdir()?;
    let fresh = tmp.path().join("new/mirror");
    let report = t.repo.export(Some(&fresh))?;
    assert!(report.created, "export says it made the directory");
    let again = t.repo.export(Some(&fresh))?;
    assert!(!again.created, "an earlier export is replaced");
    // A directory with an `actors/` of its own is not replaced.
    let mine = tmp.path().join("work");
    std::fs::create_dir_all(mine.join("actors/notes"))?;
    std::fs::write(mine.join("actors/notes/todo.txt"), "keep me")?;
    let err = fails(t.repo.export(Some(&mine)))?;
    assert!(matches!(err, CoreError::NotAMirror { .. }), "{err}");
    assert!(mine.join("actors/notes/todo.txt").is_file());
    Ok(())
}
both!(
    issue_9_export_says_what_it_creates_and_keeps_foreign_directories,
    export_targets
);

fn changes_wait_for_runs(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree(&t)?;
    t.repo.export(None)?;
    let before = all_keys(&t)?;
    let run = t
        .repo
        .lock_run("r1", &ays_core::RunLockOptions::default())?;
    for err in [
        fails(
            t.repo
                .delete_service(&"vdc!v1".parse()?, DeleteOptions::default())
                .map(|_| ()),
        )?,
        fails(t.repo.destroy().map(|_| ()))?,
        fails(t.repo.restore(None).map(|_| ()))?,
    ] {
        assert!(
            matches!(&err, CoreError::RunLocked { run, .. } if run == "r1"),
            "{err}"
        );
    }
    assert_eq!(all_keys(&t)?, before, "nothing changed under the run");
    drop(run);
    t.repo
        .delete_service(&"vdc!v1".parse()?, DeleteOptions::default())?;
    // And a run cannot start while a change holds the lock.
    let holding = t.repo.hold_runs("restore")?;
    let err = fails(
        t.repo
            .lock_run("r2", &ays_core::RunLockOptions::default())
            .map(|_| ()),
    )?;
    assert!(
        matches!(&err, CoreError::RunLocked { run, .. } if run == "(restore)"),
        "{err}"
    );
    drop(holding);
    Ok(())
}
both!(
    issue_9_delete_destroy_and_restore_refuse_a_running_run,
    changes_wait_for_runs
);

fn needed_producers(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree(&t)?;
    let before = all_keys(&t)?;
    let k: ays_core::ServiceKey = "key!k".parse()?;
    // Both nodes consume key!k and need one key: the plan says so, the delete refuses.
    let plan = t.repo.delete_plan(&k)?;
    assert_eq!(plan.deleted, std::slice::from_ref(&k));
    let short: Vec<String> = plan.needed().map(|u| u.service.to_string()).collect();
    assert_eq!(short, ["node!n1", "node!n2"]);
    assert!(
        plan.unlinked
            .iter()
            .all(|u| u.field == "key" && u.min == 1 && u.left == 0)
    );
    let err = fails(
        t.repo
            .delete_service(&k, DeleteOptions::default())
            .map(|_| ()),
    )?;
    assert!(matches!(err, CoreError::ProducerNeeded { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("node!n1 needs at least 1 key and would have 0"),
        "{err}"
    );
    assert_eq!(all_keys(&t)?, before, "a refused delete changes nothing");
    // Forced, the nodes lose the relation and the name in their data alike.
    t.repo.delete_service(&k, DeleteOptions { force: true })?;
    for node in ["node!n1", "node!n2"] {
        let shown = t.repo.show_service(&node.parse()?)?;
        assert!(shown.producers.iter().all(|p| p.role() != "key"), "{node}");
        assert_eq!(
            shown.data["key"],
            json!(""),
            "{node} keeps no dangling name"
        );
    }
    t.check_indexes()?;
    Ok(())
}
both!(
    issue_9_deleting_a_needed_producer_is_refused_unless_forced,
    needed_producers
);

fn field_spellings(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("vm", "mem.gb = type:int\nos.image = type:str\n")?;
    t.repo
        .apply_blueprint_text("bp.yaml", "vm__a:\n  mem.gb: 2\n", ApplyOptions::default())?;
    let key = "vm!a".parse()?;
    // A data patch may name fields as schema.hrd does, or as Cap'n Proto does.
    let changed = t
        .repo
        .patch_service_data(&key, &json!({"mem.gb": 8, "os_image": "debian"}))?;
    assert_eq!(changed, ["memGb", "osImage"]);
    t.repo
        .validate_data_patch(&key, &json!({"memGb": 16, "os.image": "alpine"}))?;
    assert_eq!(
        t.repo.show_service(&key)?.data,
        json!({"memGb": 8, "osImage": "debian"})
    );
    Ok(())
}
both!(
    issue_9_data_patches_accept_both_field_spellings,
    field_spellings
);
