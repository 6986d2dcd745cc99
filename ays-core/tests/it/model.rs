//! Random sequences of blueprints, state changes and deletes never leave a stale or missing
//! index entry, and never leave a dangling link (proptest, in-memory store).

use ays_core::testing::{TestRepo, TestResult};
use ays_core::{ActionState, ApplyOptions, InitOptions, Repository, ServiceFilter};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Apply a blueprint: node `n` under vdc `v`, consuming the given keys.
    Apply {
        n: u8,
        v: u8,
        keys: Vec<u8>,
        image: u8,
    },
    SetState {
        n: u8,
        state: u8,
    },
    Delete {
        vdc: bool,
        i: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0..3u8,
            0..2u8,
            proptest::collection::vec(0..3u8, 1..3),
            0..3u8
        )
            .prop_map(|(n, v, keys, image)| Op::Apply { n, v, keys, image }),
        (0..3u8, 0..4u8).prop_map(|(n, state)| Op::SetState { n, state }),
        (any::<bool>(), 0..3u8).prop_map(|(vdc, i)| Op::Delete { vdc, i }),
    ]
}

fn run(ops: &[Op]) -> TestResult {
    let dir = tempfile::tempdir()?;
    let repo = Repository::init(
        &dir.path().join("r"),
        InitOptions {
            store_url: Some("mem://".into()),
            ..InitOptions::default()
        },
    )?;
    let t = TestRepo::wrap(repo, dir);
    t.template("vdc", "name = type:str\n")?;
    t.template("key", "path = type:str\n")?;
    t.template(
        "node",
        "vdc = type:str parent:'vdc'\nkeys = list type:str consume:key:1:3\nimage = type:str\n",
    )?;
    for op in ops {
        let outcome = match op {
            Op::Apply { n, v, keys, image } => {
                let mut bp = String::from("vdc__v0:\nvdc__v1:\nkey__k0:\nkey__k1:\nkey__k2:\n");
                let list: Vec<String> = keys.iter().map(|k| format!("k{k}")).collect();
                bp.push_str(&format!(
                    "node__n{n}:\n  vdc: v{v}\n  keys: [{}]\n  image: i{image}\n",
                    list.join(", ")
                ));
                t.repo
                    .apply_blueprint_text("bp.yaml", &bp, ApplyOptions::default())
                    .map(|_| ())
            }
            Op::SetState { n, state } => {
                let state = [
                    ActionState::New,
                    ActionState::Ok,
                    ActionState::Scheduled,
                    ActionState::Error,
                ][usize::from(*state) % 4];
                let f = ServiceFilter {
                    name: Some(format!("n{n}")),
                    ..ServiceFilter::all()
                };
                t.repo
                    .set_action_state(&f, &"install".parse()?, state)
                    .map(|_| ())
            }
            Op::Delete { vdc, i } => {
                let key = if *vdc {
                    format!("vdc!v{}", i % 2)
                } else {
                    format!("key!k{i}")
                };
                let force = ays_core::DeleteOptions { force: true };
                match t.repo.delete_service(&key.parse()?, force) {
                    Err(ays_core::CoreError::ServiceNotFound { .. }) => Ok(()),
                    other => other.map(|_| ()),
                }
            }
        };
        outcome?;
        t.check_indexes()?;
        if let Op::Apply { n, .. } = op {
            // After a blueprint, its node is linked to what its data names.
            let f = ServiceFilter {
                role: Some("node".into()),
                name: Some(format!("n{n}")),
                ..ServiceFilter::all()
            };
            for s in t.repo.services(&f)? {
                let data = t.repo.service_data(&s)?;
                let named: Vec<String> = data["keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(|k| format!("key!{k}")))
                    .collect();
                let linked: Vec<String> = s
                    .producers
                    .iter()
                    .filter(|p| p.key.role() == "key")
                    .map(|p| p.key.to_string())
                    .collect();
                assert_eq!(linked, named, "{}", s.key);
                let parent = s.parent.as_ref().map(|p| p.key.instance().to_string());
                assert_eq!(parent.as_deref(), data["vdc"].as_str(), "{}", s.key);
            }
        }
        // Every link points at an existing service that links back.
        for s in t.repo.services(&ServiceFilter::all())? {
            for p in &s.producers {
                let other = t.repo.service(&p.key)?.ok_or("dangling producer")?;
                assert!(
                    other.consumers.iter().any(|c| c.key == s.key),
                    "{} -> {}",
                    s.key,
                    p.key
                );
            }
            for c in &s.consumers {
                let other = t.repo.service(&c.key)?.ok_or("dangling consumer")?;
                assert!(
                    other.producers.iter().any(|p| p.key == s.key),
                    "{} <- {}",
                    s.key,
                    c.key
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn indexes_and_links_stay_consistent(ops in proptest::collection::vec(op(), 1..10)) {
        run(&ops).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
