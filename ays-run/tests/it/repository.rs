//! Plans read from real repositories of ays-core: the scenarios of
//! `shared/fixtures/scenarios/README.md`, loaded from their templates and blueprints.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use ays_core::{ApplyOptions, InitOptions, Repository};
use ays_run::{Planner, plan_input};

use crate::planner::{SAMPLE_REPO1_WITH_INIT, steps};

/// The shared scenarios directory; its absence is a failure, never a skip.
fn scenarios() -> PathBuf {
    let shared = std::env::var_os("AYS_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
        PathBuf::from,
    );
    let dir = shared.join("fixtures/scenarios");
    assert!(
        dir.is_dir(),
        "the shared scenarios are missing at `{}` (set AYS_SHARED to the shared directory)",
        dir.display()
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A repository on an in-memory store holding the scenario's templates and blueprints.
fn scenario_repo(tmp: &Path, scenario: &str) -> Repository {
    let options = InitOptions {
        store_url: Some("mem://".into()),
        ..InitOptions::default()
    };
    let repo = Repository::init(tmp, options).unwrap();
    let src = scenarios().join(scenario);
    copy_dir(&src.join("actorTemplates"), &tmp.join("actorTemplates"));
    copy_dir(&src.join("blueprints"), &tmp.join("blueprints"));
    repo
}

#[test]
fn sample_repo1_plans_parents_before_children() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = scenario_repo(tmp.path(), "sample_repo1");
    repo.apply_blueprints(ApplyOptions::default()).unwrap();

    // `init` is an ordinary action of the chain here, never run at creation, so the inits come
    // first; the cockpits' inits wait for their parents' inits, as every same-named action does.
    let plan = Planner::new().plan(&plan_input(&repo).unwrap()).unwrap();
    assert_eq!(steps(&plan), SAMPLE_REPO1_WITH_INIT);
}

#[test]
fn sample_repo3_plans_the_failing_scenario_chains() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = scenario_repo(tmp.path(), "sample_repo3");
    // The scenario's action chains and actions, written in this project's formats.
    let template = tmp.path().join("actorTemplates/runtime_error_service");
    std::fs::write(
        template.join("config.yaml"),
        "depends:\n  test: [install]\n  test2: [install]\n  test3: [test2]\n",
    )
    .unwrap();
    std::fs::write(
        template.join("actions.sh"),
        "test() {\n    echo \"Error from service $AYS_SERVICE\" >&2\n    return 1\n}\n\
         test2() {\n    :\n}\n\ntest3() {\n    :\n}\n",
    )
    .unwrap();
    repo.apply_blueprints(ApplyOptions::default()).unwrap();
    let mut plan_text = Planner::new()
        .plan(&plan_input(&repo).unwrap())
        .unwrap()
        .render_text();
    plan_text.retain(|c| c != '\r');
    assert_eq!(
        plan_text,
        "\
step 1
  runtime_error_service!instance init [new]
step 2
  runtime_error_service!instance install [scheduled] after runtime_error_service!instance:init
step 3
  runtime_error_service!instance test [scheduled] after runtime_error_service!instance:install
  runtime_error_service!instance test2 [scheduled] after runtime_error_service!instance:install
step 4
  runtime_error_service!instance test3 [scheduled] after runtime_error_service!instance:test2
"
    );
}
