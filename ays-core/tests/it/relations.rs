//! Parents, producers and consumers (8.1: test_dependency_tree, test_auto_behavior).

use ays_core::both;
use ays_core::testing::{Backend, TestRepo, TestResult};
use ays_core::{ApplyOptions, BlueprintError, CoreError, ServiceFilter, ServiceKey};

use crate::support::fails;

/// A check of the error a bad blueprint gives.
type Check = fn(&BlueprintError) -> bool;

fn keys(v: &[ServiceKey]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn tree_templates(t: &TestRepo) -> TestResult {
    t.template("vdcfarm", "location = type:str\n")?;
    t.template(
        "vdc",
        "vdcfarm = type:str parent:'vdcfarm'\naccount = type:str\n",
    )?;
    t.template("sshkey", "key.path = type:str\n")?;
    t.template("node.ovc", "vdc = type:str parent:'vdc'\nsshkey = list type:str consume:sshkey:1:2\nos.image = type:str default:'Ubuntu 16.04'\n")?;
    Ok(())
}

fn dependency_tree(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree_templates(&t)?;
    let bp = "\
node.ovc__vm1:
  vdc: myvdc
  sshkey: [k1, k2]
vdcfarm__farm:
vdc__myvdc:
  vdcfarm: farm
sshkey__k1:
sshkey__k2:
";
    t.repo
        .apply_blueprint_text("bp.yaml", bp, ApplyOptions::default())?;
    let vm = t.repo.show_service(&"node!vm1".parse()?)?;
    assert_eq!(vm.actor.as_str(), "node.ovc");
    assert_eq!(vm.role, "node");
    assert_eq!(
        vm.parent.as_ref().map(ToString::to_string).as_deref(),
        Some("vdc!myvdc")
    );
    assert_eq!(keys(&vm.producers), ["vdc!myvdc", "sshkey!k1", "sshkey!k2"]);
    assert_eq!(vm.data["sshkey"], serde_json::json!(["k1", "k2"]));
    let vdc = t.repo.show_service(&"vdc!myvdc".parse()?)?;
    assert_eq!(keys(&vdc.consumers), ["node!vm1"]);
    assert_eq!(keys(&vdc.children), ["node!vm1"]);
    assert_eq!(keys(&vdc.producers), ["vdcfarm!farm"]);
    let k1 = t.repo.show_service(&"sshkey!k1".parse()?)?;
    assert_eq!(keys(&k1.consumers), ["node!vm1"]);
    // Index-backed filters.
    let f = |flt: ServiceFilter| t.repo.service_keys(&flt);
    assert_eq!(
        keys(&f(ServiceFilter {
            producer: Some("sshkey!k2".parse()?),
            ..ServiceFilter::all()
        })?),
        ["node!vm1"]
    );
    assert_eq!(
        keys(&f(ServiceFilter {
            parent: Some("vdcfarm!farm".parse()?),
            ..ServiceFilter::all()
        })?),
        ["vdc!myvdc"]
    );
    assert_eq!(
        keys(&f(ServiceFilter {
            role: Some("sshkey".into()),
            ..ServiceFilter::all()
        })?),
        ["sshkey!k1", "sshkey!k2"]
    );
    assert_eq!(
        keys(&f(ServiceFilter {
            actor: Some("node.ovc".into()),
            ..ServiceFilter::all()
        })?),
        ["node!vm1"]
    );
    assert_eq!(
        keys(&f(ServiceFilter {
            name: Some("k2".into()),
            ..ServiceFilter::all()
        })?),
        ["sshkey!k2"]
    );
    t.check_indexes()?;
    Ok(())
}
both!(test_dependency_tree, dependency_tree);

fn auto_behavior(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("sshkey", "key.path = type:str\n")?;
    t.template("vdc", "account = type:str\n")?;
    t.template("zero", "sshkey = type:str consume:sshkey:0 auto\n")?;
    t.template("two", "sshkey = list type:str consume:sshkey:2 auto\n")?;
    t.template("child", "vdc = type:str parent:'vdc' auto\n")?;
    let report = t.repo.apply_blueprint_text(
        "bp.yaml",
        "zero__z:\ntwo__a:\ntwo__b:\nchild__c:\n",
        ApplyOptions::default(),
    )?;
    assert_eq!(
        keys(&report.created),
        [
            "zero!z",
            "two!a",
            "two!b",
            "child!c",
            "sshkey!auto_0",
            "sshkey!auto_1",
            "vdc!auto_0"
        ]
    );
    assert!(
        t.repo
            .show_service(&"zero!z".parse()?)?
            .producers
            .is_empty(),
        "min 0: no producer"
    );
    for k in ["two!a", "two!b"] {
        let s = t.repo.show_service(&k.parse()?)?;
        assert_eq!(
            keys(&s.producers),
            ["sshkey!auto_0", "sshkey!auto_1"],
            "{k}"
        );
    }
    let shared = t.repo.show_service(&"sshkey!auto_0".parse()?)?;
    assert_eq!(keys(&shared.consumers), ["two!a", "two!b"]);
    let c = t.repo.show_service(&"child!c".parse()?)?;
    assert_eq!(
        c.parent.map(|p| p.to_string()).as_deref(),
        Some("vdc!auto_0")
    );
    assert_eq!(c.data["vdc"], "auto_0");
    // A named parent that does not exist, with `auto`: a new `vdc!auto_1` as in 8.1, not a
    // `vdc!nosuch`; and a consumer's named producer that does not exist is not invented.
    let report = t.repo.apply_blueprint_text(
        "named.yaml",
        "child__d:\n  vdc: nosuch\ntwo__e:\n  sshkey: [nokey]\n",
        ApplyOptions::default(),
    )?;
    assert_eq!(keys(&report.created), ["child!d", "two!e", "vdc!auto_1"]);
    let e = t.repo.show_service(&"two!e".parse()?)?;
    assert_eq!(keys(&e.producers), ["sshkey!auto_0", "sshkey!auto_1"]);
    t.check_indexes()?;
    Ok(())
}
both!(test_auto_behavior, auto_behavior);

fn relation_errors(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree_templates(&t)?;
    t.repo.apply_blueprint_text(
        "ok.yaml",
        "vdcfarm__farm:\nsshkey__k1:\n",
        ApplyOptions::default(),
    )?;
    let before = t.scan()?;
    let cases: [(&str, Check); 3] = [
        (
            "vdc__v:\n  vdcfarm: nosuch\n",
            |e| matches!(e, BlueprintError::MissingParent { instance: Some(i), role, .. } if i == "nosuch" && role == "vdcfarm"),
        ),
        (
            "vdc__v:\nnode.ovc__vm:\n  vdc: v\n  sshkey: [k1, k2, k3]\n",
            |e| {
                matches!(
                    e,
                    BlueprintError::TooManyProducers {
                        max: 2,
                        found: 3,
                        ..
                    }
                )
            },
        ),
        ("vdc__v:\n", |_| false),
    ];
    for (bp, check) in cases.iter().take(2) {
        let err = fails(
            t.repo
                .apply_blueprint_text("bad.yaml", bp, ApplyOptions::default()),
        )?;
        let CoreError::Blueprint(e) = &err else {
            return Err(format!("unexpected {err:?}").into());
        };
        assert!(check(e), "{bp}: {e:?}");
        assert_eq!(t.scan()?, before, "{bp}: nothing written");
    }
    // A named producer that does not exist is dropped, as in 8.1: `min` is met by the existing
    // `sshkey!k1`, and no `sshkey!k9` is invented.
    t.repo.apply_blueprint_text(
        "named.yaml",
        "vdc__v:\nnode.ovc__vm:\n  vdc: v\n  sshkey: k9\n",
        ApplyOptions::default(),
    )?;
    let vm = t.repo.show_service(&"node!vm".parse()?)?;
    let producers: Vec<String> = vm.producers.iter().map(|p| p.to_string()).collect();
    assert!(producers.contains(&"sshkey!k1".to_owned()), "{producers:?}");
    assert!(
        t.repo.service(&"sshkey!k9".parse()?)?.is_none(),
        "not invented"
    );
    // Too few producers, no auto: min 1 with no sshkey service at all.
    let t2 = TestRepo::new(b)?;
    tree_templates(&t2)?;
    let err = fails(t2.repo.apply_blueprint_text(
        "bad.yaml",
        "vdcfarm__f:\nvdc__v:\nnode.ovc__vm:\n",
        ApplyOptions::default(),
    ))?;
    assert!(
        matches!(&err, CoreError::Blueprint(BlueprintError::TooFewProducers { min: 1, found: 0, key, at, .. }) if key == "node!vm" && at.line == 3),
        "{err:?}"
    );
    assert!(
        t2.scan()?.iter().all(|(k, _)| k == b"repo"),
        "nothing but the repo record"
    );
    Ok(())
}
both!(relation_errors_change_nothing, relation_errors);

fn relinking(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree_templates(&t)?;
    let bp = |vdc: &str, keys: &str| {
        format!(
            "vdcfarm__farm:\nvdc__v1:\n  vdcfarm: farm\nvdc__v2:\n  vdcfarm: farm\nsshkey__k1:\nsshkey__k2:\nnode.ovc__vm:\n  vdc: {vdc}\n  sshkey: [{keys}]\n"
        )
    };
    t.repo
        .apply_blueprint_text("bp.yaml", &bp("v1", "k1"), ApplyOptions::default())?;
    let report =
        t.repo
            .apply_blueprint_text("bp.yaml", &bp("v2", "k2"), ApplyOptions::default())?;
    assert_eq!(report.updated.len(), 1);
    assert_eq!(report.updated[0].changed, ["vdc", "sshkey"]);
    let vm = t.repo.show_service(&"node!vm".parse()?)?;
    assert_eq!(keys(&vm.producers), ["vdc!v2", "sshkey!k2"]);
    for (k, consumers) in [
        ("vdc!v1", vec![]),
        ("vdc!v2", vec!["node!vm"]),
        ("sshkey!k1", vec![]),
        ("sshkey!k2", vec!["node!vm"]),
    ] {
        assert_eq!(
            keys(&t.repo.show_service(&k.parse()?)?.consumers),
            consumers,
            "{k}"
        );
    }
    assert!(t.repo.show_service(&"vdc!v1".parse()?)?.children.is_empty());
    t.check_indexes()?;
    Ok(())
}
both!(changed_relations_are_relinked_on_both_sides, relinking);

fn role_names(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("vdc", "account = type:str\n")?;
    t.template(
        "app",
        "vdcname = type:str parent:'vdc'\nkeyname = type:str consume:sshkey:0\n",
    )?;
    t.template("sshkey", "path = type:str\n")?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "vdc__v:\nsshkey__k:\napp__a:\n  vdc: v\n  sshkey: k\n",
        ApplyOptions::default(),
    )?;
    let a = t.repo.show_service(&"app!a".parse()?)?;
    assert_eq!(a.data, serde_json::json!({"vdcname": "v", "keyname": "k"}));
    assert_eq!(keys(&a.producers), ["vdc!v", "sshkey!k"]);
    Ok(())
}
both!(relations_may_be_named_by_their_role, role_names);

fn services_read_together_decode_as_one_at_a_time(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    tree_templates(&t)?;
    let bp = "\
vdcfarm__farm:
  location: fra
vdc__myvdc:
  vdcfarm: farm
  account: acme
sshkey__k1:
";
    t.repo
        .apply_blueprint_text("bp.yaml", bp, ApplyOptions::default())?;
    let (vdc, farm, nosuch): (ServiceKey, ServiceKey, ServiceKey) = (
        "vdc!myvdc".parse()?,
        "vdcfarm!farm".parse()?,
        "vdc!nosuch".parse()?,
    );
    let found = t.repo.services_by_key(&[&vdc, &nosuch, &farm])?;
    let found_keys: Vec<Option<String>> = found
        .iter()
        .map(|s| s.as_ref().map(|s| s.key.to_string()))
        .collect();
    assert_eq!(
        found_keys,
        [Some("vdc!myvdc".into()), None, Some("vdcfarm!farm".into())]
    );
    let (Some(vdc_service), Some(farm_service)) = (&found[0], &found[2]) else {
        return Err("both services are there".into());
    };
    let decoder = t.repo.data_decoder(&"vdc".parse()?)?;
    assert_eq!(decoder.actor().as_str(), "vdc");
    assert_eq!(
        decoder.data(vdc_service)?,
        t.repo.service_data(vdc_service)?
    );
    assert_eq!(decoder.data(vdc_service)?["account"], "acme");
    // A decoder reads only its own actor's services.
    let err = fails(decoder.data(farm_service))?;
    assert!(matches!(err, CoreError::Corrupt { .. }), "{err}");
    let err = fails(t.repo.data_decoder(&"nosuch".parse()?))?;
    assert!(matches!(err, CoreError::ActorNotFound { .. }), "{err}");
    Ok(())
}
both!(
    services_are_read_together_and_decoded_per_actor,
    services_read_together_decode_as_one_at_a_time
);

fn consume_cycles(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("me", "other = type:str consume:me:0:1\n")?;
    t.template("ca", "b = type:str consume:cb:0:1\n")?;
    t.template("cb", "a = type:str consume:ca:0:1\n")?;
    let cycle_of = |err: &CoreError| match err {
        CoreError::Blueprint(BlueprintError::Cycle { cycle, at, .. }) => {
            Some((cycle.join(" -> "), at.line))
        }
        _ => None,
    };
    // A service consuming itself.
    let err = fails(t.repo.apply_blueprint_text(
        "self.yaml",
        "me__x:\n  other: x\n",
        ApplyOptions::default(),
    ))?;
    assert_eq!(cycle_of(&err), Some(("me!x -> me!x".into(), 1)), "{err}");
    // Two consuming each other, in one blueprint.
    let err = fails(t.repo.apply_blueprint_text(
        "two.yaml",
        "ca__1:\n  b: '2'\ncb__2:\n  a: '1'\n",
        ApplyOptions::default(),
    ))?;
    assert!(cycle_of(&err).is_some(), "{err}");
    assert!(
        t.repo.service_keys(&ServiceFilter::all())?.is_empty(),
        "nothing written"
    );
    // And across blueprints: the second closes the cycle with a service already there.
    t.repo.apply_blueprint_text(
        "first.yaml",
        "cb__2:\nca__1:\n  b: '2'\n",
        ApplyOptions::default(),
    )?;
    let before = t.repo.show_service(&"cb!2".parse()?)?;
    let err = fails(t.repo.apply_blueprint_text(
        "second.yaml",
        "cb__2:\n  a: '1'\n",
        ApplyOptions::default(),
    ))?;
    assert_eq!(
        cycle_of(&err),
        Some(("cb!2 -> ca!1 -> cb!2".into(), 1)),
        "{err}"
    );
    assert!(err.to_string().starts_with("second.yaml:1"), "{err}");
    assert_eq!(
        t.repo.show_service(&"cb!2".parse()?)?,
        before,
        "nothing changed"
    );
    Ok(())
}
both!(
    issue_9_consume_cycles_are_refused_at_blueprint_time,
    consume_cycles
);
