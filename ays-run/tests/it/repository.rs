//! Plans read from real repositories of ays-core: the scenarios of
//! `shared/fixtures/scenarios/README.md`, loaded from their templates and blueprints.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use ays_core::testing::copy_scenario;
use ays_core::{ApplyOptions, InitOptions, Repository};
use ays_run::{Planner, plan_input};

use crate::planner::steps;
use crate::support::write_sample_repo3_actions;

/// A repository on an in-memory store holding the scenario's templates and blueprints.
fn scenario_repo(tmp: &Path, scenario: &str) -> Repository {
    let options = InitOptions {
        store_url: Some("mem://".into()),
        ..InitOptions::default()
    };
    let repo = Repository::init(tmp, options).unwrap();
    copy_scenario(scenario, tmp).unwrap();
    repo
}

#[test]
fn sample_repo1_plans_parents_before_children() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = scenario_repo(tmp.path(), "sample_repo1");
    repo.apply_blueprints(ApplyOptions::default()).unwrap();

    // `init` belongs to creation (as in 8.1): these templates define none, so it is `ok` once
    // the blueprint is applied, and the plan is the README's: the parents' installs, then the
    // cockpits'.
    let plan = Planner::new().plan(&plan_input(&repo).unwrap()).unwrap();
    assert_eq!(
        steps(&plan),
        [
            vec![
                "datacenter!ovh_germany1:install",
                "datacenter!ovh_germany2:install",
                "datacenter!ovh_germany3:install",
                "sshkey!main:install",
            ],
            vec!["cockpit!cockpitv1:install", "cockpit!cockpitv2:install"],
        ]
    );
}

#[test]
fn sample_repo3_plans_the_failing_scenario_chains() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = scenario_repo(tmp.path(), "sample_repo3");
    write_sample_repo3_actions(tmp.path()).unwrap();
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
  runtime_error_service!instance install [scheduled]
step 2
  runtime_error_service!instance test [scheduled] after runtime_error_service!instance:install
  runtime_error_service!instance test2 [scheduled] after runtime_error_service!instance:install
step 3
  runtime_error_service!instance test3 [scheduled] after runtime_error_service!instance:test2
"
    );
}

#[test]
fn recurring_specs_give_every_recurring_action_with_its_period_and_last_run() {
    use ays_run::recurring::{RecurringSchedule, recurring_specs};

    let tmp = tempfile::tempdir().unwrap();
    let repo = scenario_repo(tmp.path(), "sample_repo1");
    std::fs::write(
        tmp.path().join("actorTemplates/datacenter/config.yaml"),
        "recurring:\n  - action: monitor\n    period: 5m\n",
    )
    .unwrap();
    repo.apply_blueprints(ApplyOptions::default()).unwrap();
    let specs = recurring_specs(&repo).unwrap();
    let mut got: Vec<(String, String, u64, i64)> = specs
        .iter()
        .map(|s| {
            (
                s.service.to_string(),
                s.action.to_string(),
                s.period.as_secs(),
                s.last_run_ms,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("datacenter!ovh_germany1".into(), "monitor".into(), 300, 0),
            ("datacenter!ovh_germany2".into(), "monitor".into(), 300, 0),
            ("datacenter!ovh_germany3".into(), "monitor".into(), 300, 0),
        ]
    );
    // Never run: all due at once.
    let mut schedule = RecurringSchedule::new();
    schedule.sync("sample_repo1", specs);
    assert_eq!(schedule.take_due(0, 10).len(), 3);
}
