//! Planner scenarios (AYS 8.1 sample repositories, filters, teardown, cycles) and properties.

use ays_core::{ActionName, ActionState};
use ays_run::{ActionChains, JobKey, PlanError, PlanInput, Planner, ServiceSpec};
use proptest::prelude::*;

use ActionState::{Disabled, New, Ok as Done, Scheduled};

/// The jobs of each step as `service:action`.
/// sample_repo1's plan when `init` has not run yet: the inits first, then the parents'
/// installs beside the children's inits, then the children's installs. The plan read from the
/// real repository (`repository.rs`) must be this same one.
pub(crate) const SAMPLE_REPO1_WITH_INIT: [&[&str]; 3] = [
    &[
        "datacenter!ovh_germany1:init",
        "datacenter!ovh_germany2:init",
        "datacenter!ovh_germany3:init",
        "sshkey!main:init",
    ],
    &[
        "cockpit!cockpitv1:init",
        "cockpit!cockpitv2:init",
        "datacenter!ovh_germany1:install",
        "datacenter!ovh_germany2:install",
        "datacenter!ovh_germany3:install",
        "sshkey!main:install",
    ],
    &["cockpit!cockpitv1:install", "cockpit!cockpitv2:install"],
];

/// The jobs of each step of `plan`, as `service:action`.
pub(crate) fn steps(plan: &ays_run::Plan) -> Vec<Vec<String>> {
    plan.steps()
        .iter()
        .map(|step| {
            step.jobs()
                .iter()
                .filter_map(|id| plan.job(*id))
                .map(|job| job.key().to_string())
                .collect()
        })
        .collect()
}

fn key(service: &str, action: &str) -> Result<JobKey, PlanError> {
    Ok(JobKey {
        service: service.parse()?,
        action: action.parse()?,
    })
}

/// sample_repo1: three datacenters, an sshkey and two cockpits whose parents are datacenters;
/// every file schedules `install` on every service.
fn sample_repo1(init: ActionState) -> Result<PlanInput, PlanError> {
    let mut input = PlanInput::new();
    for dc in ["ovh_germany1", "ovh_germany2", "ovh_germany3"] {
        input.add_service(
            ServiceSpec::new(&format!("datacenter!{dc}"), "datacenter")
                .action("init", init)
                .action("install", Scheduled),
        )?;
    }
    input.add_service(
        ServiceSpec::new("sshkey!main", "sshkey")
            .action("init", init)
            .action("install", Scheduled),
    )?;
    for (cockpit, dc) in [("cockpitv1", "ovh_germany1"), ("cockpitv2", "ovh_germany2")] {
        input.add_service(
            ServiceSpec::new(&format!("cockpit!{cockpit}"), "cockpit")
                .parent(&format!("datacenter!{dc}"))
                .action("init", init)
                .action("install", Scheduled),
        )?;
    }
    Ok(input)
}

#[test]
fn sample_repo1_with_init_done_at_creation_matches_8_1_steps() {
    // As in 8.1, `init` ran when the services were created, so it is `ok` and makes no step.
    let plan = Planner::new().plan(&sample_repo1(Done).unwrap()).unwrap();
    assert_eq!(
        steps(&plan),
        vec![
            vec![
                "datacenter!ovh_germany1:install",
                "datacenter!ovh_germany2:install",
                "datacenter!ovh_germany3:install",
                "sshkey!main:install",
            ],
            vec!["cockpit!cockpitv1:install", "cockpit!cockpitv2:install"],
        ]
    );
    insta::assert_snapshot!("sample_repo1_text", plan.render_text());
    insta::assert_snapshot!("sample_repo1_dot", plan.to_dot());
}

#[test]
fn sample_repo1_with_init_as_an_ordinary_action_adds_an_init_layer() {
    // With `init` still `new`, it is pulled in before each install; a cockpit's init waits for
    // its parent's init (same action on the producer), so it shares a step with the installs.
    let plan = Planner::new().plan(&sample_repo1(New).unwrap()).unwrap();
    assert_eq!(steps(&plan), SAMPLE_REPO1_WITH_INIT);
    let cockpit = plan.find("cockpit!cockpitv1", "install").unwrap();
    let pre: Vec<String> = cockpit
        .prerequisites()
        .iter()
        .map(|id| plan.job(*id).unwrap().key().to_string())
        .collect();
    assert_eq!(
        pre,
        vec!["cockpit!cockpitv1:init", "datacenter!ovh_germany1:install"]
    );
}

/// sample_repo3's single service: test and test2 need install, test3 needs test2.
pub(crate) fn sample_repo3() -> Result<PlanInput, PlanError> {
    let mut input = PlanInput::new();
    input.set_chains(
        "runtime_error_service",
        ActionChains::default()
            .with("test", &["install"])?
            .with("test2", &["install"])?
            .with("test3", &["test2"])?,
    )?;
    input.add_service(
        ServiceSpec::new("runtime_error_service!instance", "runtime_error_service")
            .action("init", Done)
            .actions(&["install", "test", "test2", "test3"], Scheduled),
    )?;
    Ok(input)
}

#[test]
fn sample_repo3_chains_make_three_steps() {
    let plan = Planner::new().plan(&sample_repo3().unwrap()).unwrap();
    assert_eq!(
        steps(&plan),
        vec![
            vec!["runtime_error_service!instance:install"],
            vec![
                "runtime_error_service!instance:test",
                "runtime_error_service!instance:test2"
            ],
            vec!["runtime_error_service!instance:test3"],
        ]
    );
    insta::assert_snapshot!("sample_repo3_text", plan.render_text());
}

#[test]
fn run_filters_schedule_test_only_where_requested() {
    // test_run_filters: `install` unfiltered on all services, `test` only on actor
    // test_run_filter1; the others' `test` stays `new` and is not planned.
    let mut input = PlanInput::new();
    let chains = ActionChains::default().with("test", &["install"]).unwrap();
    input
        .set_chains("test_run_filter1", chains.clone())
        .unwrap();
    input.set_chains("test_run_filter2", chains).unwrap();
    for (key, actor, test) in [
        ("test_run_filter1!a", "test_run_filter1", Scheduled),
        ("test_run_filter1!b", "test_run_filter1", Scheduled),
        ("test_run_filter2!c", "test_run_filter2", New),
    ] {
        input
            .add_service(
                ServiceSpec::new(key, actor)
                    .action("init", Done)
                    .action("install", Scheduled)
                    .action("test", test),
            )
            .unwrap();
    }
    let plan = Planner::new().plan(&input).unwrap();
    assert_eq!(
        steps(&plan),
        vec![
            vec![
                "test_run_filter1!a:install",
                "test_run_filter1!b:install",
                "test_run_filter2!c:install"
            ],
            vec!["test_run_filter1!a:test", "test_run_filter1!b:test"],
        ]
    );
    // `ays run --action test` seeds only `test`; its prerequisites still come in.
    let only: Vec<ActionName> = vec!["test".parse().unwrap()];
    let plan = Planner::new().only_actions(&only).plan(&input).unwrap();
    assert_eq!(
        steps(&plan),
        vec![
            vec!["test_run_filter1!a:install", "test_run_filter1!b:install"],
            vec!["test_run_filter1!a:test", "test_run_filter1!b:test"],
        ]
    );
}

#[test]
fn unscheduled_prerequisites_are_pulled_in_and_ok_ones_only_order() {
    // node!n1 consumes os!o1 consumes vm!v1. Scheduling node's start pulls in its install and
    // the producers' start; os's start is already ok, so it is no job, yet vm's start still
    // comes before node's.
    let mut input = PlanInput::new();
    input
        .add_service(ServiceSpec::new("vm!v1", "vm").actions(&["init", "install", "start"], New))
        .unwrap();
    input
        .add_service(
            ServiceSpec::new("os!o1", "os")
                .parent("vm!v1")
                .actions(&["init", "install", "start"], Done),
        )
        .unwrap();
    input
        .add_service(
            ServiceSpec::new("node!n1", "node")
                .producer("os!o1")
                .actions(&["init", "install"], Done)
                .action("start", Scheduled),
        )
        .unwrap();
    let plan = Planner::new().plan(&input).unwrap();
    assert_eq!(
        steps(&plan),
        vec![
            vec!["vm!v1:init"],
            vec!["vm!v1:install"],
            vec!["vm!v1:start"],
            vec!["node!n1:start"],
        ]
    );
    let start = plan.find("node!n1", "start").unwrap();
    // Looking through the `ok` nodes of os!o1 finds every vm job its chain leads to.
    let ids: Vec<_> = ["init", "install", "start"]
        .iter()
        .map(|a| plan.find("vm!v1", a).unwrap().id())
        .collect();
    assert_eq!(start.prerequisites(), ids.as_slice());
}

#[test]
fn stop_and_uninstall_run_consumers_first() {
    let mut input = PlanInput::new();
    input
        .add_service(ServiceSpec::new("vm!v1", "vm").actions(&["stop", "uninstall"], Scheduled))
        .unwrap();
    input
        .add_service(
            ServiceSpec::new("app!a1", "app")
                .producer("vm!v1")
                .actions(&["stop", "uninstall"], New),
        )
        .unwrap();
    let plan = Planner::new().plan(&input).unwrap();
    assert_eq!(
        steps(&plan),
        vec![
            vec!["app!a1:stop"],
            vec!["app!a1:uninstall", "vm!v1:stop"],
            vec!["vm!v1:uninstall"],
        ]
    );
}

#[test]
fn a_cycle_names_its_actions() {
    let mut input = PlanInput::new();
    input
        .set_chains(
            "loop",
            ActionChains::empty()
                .with("a", &["b"])
                .unwrap()
                .with("b", &["c"])
                .unwrap()
                .with("c", &["a"])
                .unwrap(),
        )
        .unwrap();
    input
        .add_service(ServiceSpec::new("loop!x", "loop").action("a", Scheduled))
        .unwrap();
    let err = Planner::new().plan(&input).unwrap_err();
    assert_eq!(
        err,
        PlanError::Cycle {
            cycle: vec![
                key("loop!x", "a").unwrap(),
                key("loop!x", "b").unwrap(),
                key("loop!x", "c").unwrap()
            ]
        }
    );
    assert_eq!(
        err.to_string(),
        "dependency cycle: loop!x:a needs loop!x:b needs loop!x:c needs loop!x:a"
    );
}

#[test]
fn a_producer_cycle_names_both_services() {
    let mut input = PlanInput::new();
    input
        .add_service(
            ServiceSpec::new("a!1", "a")
                .producer("b!1")
                .action("install", Scheduled),
        )
        .unwrap();
    input
        .add_service(
            ServiceSpec::new("b!1", "b")
                .producer("a!1")
                .action("install", New),
        )
        .unwrap();
    let err = Planner::new().plan(&input).unwrap_err();
    assert_eq!(
        err,
        PlanError::Cycle {
            // The default chain pulls in `init`, whose producer edges cycle too; the smallest is named.
            cycle: vec![key("a!1", "init").unwrap(), key("b!1", "init").unwrap()]
        }
    );
}

#[test]
fn bad_inputs_are_named() {
    let mut input = PlanInput::new();
    input
        .add_service(
            ServiceSpec::new("a!1", "a")
                .producer("b!9")
                .action("install", Scheduled),
        )
        .unwrap();
    assert_eq!(
        Planner::new().plan(&input).unwrap_err(),
        PlanError::UnknownService {
            service: "a!1".parse().unwrap(),
            missing: "b!9".parse().unwrap()
        }
    );
    assert_eq!(
        input.add_service(ServiceSpec::new("a!1", "a")).unwrap_err(),
        PlanError::DuplicateService {
            service: "a!1".parse().unwrap()
        }
    );
    match input
        .add_service(ServiceSpec::new("nobang", "a"))
        .unwrap_err()
    {
        PlanError::Name(e) => assert_eq!((e.what, e.name.as_str()), ("service key", "nobang")),
        other => panic!("{other:?}"),
    }
    let mut input = PlanInput::new();
    input
        .add_service(
            ServiceSpec::new("a!1", "a")
                .action("init", Disabled)
                .action("install", Scheduled),
        )
        .unwrap();
    assert_eq!(
        Planner::new().plan(&input).unwrap_err(),
        PlanError::DisabledPrerequisite {
            disabled: key("a!1", "init").unwrap(),
            needed_by: key("a!1", "install").unwrap()
        }
    );
}

/// A random acyclic repository: service i may consume any service j < i; each has the default
/// actions in random states.
fn arb_input() -> impl Strategy<Value = PlanInput> {
    let states = prop::sample::select(vec![New, Done, Scheduled, ActionState::Error]);
    (1usize..24)
        .prop_flat_map(move |n| {
            (
                Just(n),
                prop::collection::vec(prop::collection::vec(any::<prop::sample::Index>(), 0..3), n),
                prop::collection::vec(prop::collection::vec(states.clone(), 4), n),
            )
        })
        .prop_filter_map("valid input", |(n, producers, states)| {
            let mut input = PlanInput::new();
            for i in 0..n {
                let mut spec = ServiceSpec::new(&format!("s!{i:02}"), "x");
                for (action, state) in ["init", "install", "start", "stop"]
                    .iter()
                    .zip(states.get(i)?)
                {
                    spec = spec.action(action, *state);
                }
                if i > 0 {
                    for p in producers.get(i)? {
                        spec = spec.producer(&format!("s!{:02}", p.index(i)));
                    }
                }
                input.add_service(spec).ok()?;
            }
            Some(input)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn plans_respect_their_graph(input in arb_input()) {
        let plan = Planner::new().plan(&input).unwrap();
        let mut seen = std::collections::HashSet::new();
        let no_ok = input.services().all(|s| {
            ["init", "install", "start", "stop"]
                .iter()
                .all(|a| s.action_state(&a.parse().unwrap()) != Some(Done))
        });
        for job in plan.jobs() {
            // Every node exactly once.
            prop_assert!(seen.insert(job.key().clone()), "{} twice", job.key());
            // Every edge points forward a step.
            let mut latest = 0;
            for pre in job.prerequisites() {
                let pre = plan.job(*pre).unwrap();
                prop_assert!(pre.step() < job.step(), "{} before {}", job.key(), pre.key());
                latest = latest.max(pre.step());
            }
            // Without `ok` nodes in the way, each job sits right after its last prerequisite,
            // so independent jobs share step 1.
            if no_ok {
                prop_assert_eq!(job.step(), latest + 1);
            }
        }
        // Every candidate is planned.
        for s in input.services() {
            for a in ["init", "install", "start", "stop"] {
                if s.action_state(&a.parse().unwrap()).is_some_and(ActionState::is_candidate) {
                    prop_assert!(plan.find(s.key().as_str(), a).is_some());
                }
            }
        }
        let total: usize = plan.steps().iter().map(|s| s.jobs().len()).sum();
        prop_assert_eq!(total, plan.jobs().len());
    }
}

/// Services whose producers may be anyone, themselves included, so cycles are common.
fn arb_cyclic_input() -> impl Strategy<Value = PlanInput> {
    (1usize..10)
        .prop_flat_map(|n| {
            (
                Just(n),
                prop::collection::vec(prop::collection::vec(0..n, 0..3), n),
            )
        })
        .prop_filter_map("valid input", |(n, producers)| {
            let mut input = PlanInput::new();
            for (i, list) in producers.iter().enumerate().take(n) {
                let mut spec = ServiceSpec::new(&format!("s!{i}"), "x")
                    .action("init", New)
                    .action("install", Scheduled);
                for p in list {
                    spec = spec.producer(&format!("s!{p}"));
                }
                input.add_service(spec).ok()?;
            }
            Some(input)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_reported_cycle_is_a_real_cycle(input in arb_cyclic_input()) {
        match Planner::new().plan(&input) {
            Ok(plan) => prop_assert_eq!(plan.jobs().len(), 2 * input.services().count()),
            Err(PlanError::Cycle { cycle }) => {
                prop_assert!(!cycle.is_empty());
                // Each entry needs the next (and the last the first): the same action on a
                // producer, or install's `init` on the same service.
                for (i, key) in cycle.iter().enumerate() {
                    let next = &cycle[(i + 1) % cycle.len()];
                    let service = input.service(&key.service).unwrap();
                    let needs = (key.action == next.action
                        && service.producers().contains(&next.service))
                        || (key.service == next.service
                            && key.action.as_str() == "install"
                            && next.action.as_str() == "init");
                    prop_assert!(needs, "{} does not need {}", key, next);
                }
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }
}

#[test]
fn service_keys_split_into_role_and_instance() {
    let key: ays_core::ServiceKey = "node!web-1:8080".parse().unwrap();
    assert_eq!((key.role(), key.instance()), ("node", "web-1:8080"));
    // The role is an actor's first name segment, so it holds no `.`.
    for bad in ["", "!x", "x!", "a!b!c", "a b!c", "node.ssh!web-1"] {
        let err = bad.parse::<ays_core::ServiceKey>().unwrap_err();
        assert_eq!((err.what, err.name.as_str()), ("service key", bad));
    }
    let err = "in stall".parse::<ActionName>().unwrap_err();
    assert_eq!((err.what, err.name.as_str()), ("action name", "in stall"));
}
