//! The file mirror (8.1: test_directory_structure) and its round trip.

use ays_core::both;
use ays_core::testing::{Backend, TestRepo, TestResult};
use ays_core::{ApplyOptions, ServiceFilter};

fn directory_structure(b: Backend) -> TestResult {
    let t = TestRepo::with_scenario(b, "sample_repo1")?;
    t.write(
        "actorTemplates/cockpit/actions.py",
        "def install(job):\n    pass\n",
    )?;
    t.repo.apply_blueprints(ApplyOptions::default())?;
    t.repo.apply_blueprint_text(
        "filters.yaml",
        "eventfilters:\n  - actor: sshkey\n    channel: telegram\n    cmd: restart\n    action: start\n",
        ApplyOptions::default(),
    )?;
    let report = t.repo.export(None)?;
    assert_eq!((report.actors, report.services), (3, 6));
    let root = t.root();
    for actor in ["cockpit", "datacenter", "sshkey"] {
        for f in ["actor.json", "schema.capnp", "schema.hrd"] {
            assert!(
                root.join("actors").join(actor).join(f).is_file(),
                "actors/{actor}/{f}"
            );
        }
    }
    assert!(root.join("actors/cockpit/actions.py").is_file());
    for svc in [
        "datacenter!ovh_germany1/cockpit!cockpitv1",
        "datacenter!ovh_germany3/cockpit!cockpitv2",
        "datacenter!ovh_germany2",
        "sshkey!main",
    ] {
        for f in ["service.json", "data.json", "schema.capnp"] {
            assert!(
                root.join("services").join(svc).join(f).is_file(),
                "services/{svc}/{f}"
            );
        }
    }
    assert!(
        !root.join("services/cockpit!cockpitv1").exists(),
        "children are nested"
    );
    // Round trip: destroy, restore, and every service, relation and state is back.
    let views = |t: &TestRepo| -> Result<Vec<ays_core::ServiceDetail>, Box<dyn std::error::Error>> {
        let mut out = Vec::new();
        for k in t.repo.service_keys(&ServiceFilter::all())? {
            out.push(t.repo.show_service(&k)?);
        }
        Ok(out)
    };
    t.repo.set_action_state(
        &ServiceFilter {
            role: Some("sshkey".into()),
            ..ServiceFilter::all()
        },
        &"install".parse()?,
        ays_core::ActionState::Ok,
    )?;
    t.repo.export(None)?;
    let before = views(&t)?;
    let actors = t.repo.actors()?;
    t.repo.destroy()?;
    assert!(t.repo.service_keys(&ServiceFilter::all())?.is_empty());
    let restored = t.repo.restore(None)?;
    assert_eq!((restored.actors, restored.services), (3, 6));
    assert_eq!(views(&t)?, before);
    assert_eq!(t.repo.actors()?, actors);
    t.check_indexes()?;
    Ok(())
}
both!(test_directory_structure, directory_structure);
