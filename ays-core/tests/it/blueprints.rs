//! Blueprint parsing, validation and atomicity (8.1: test_parse_bp, test_validate_service_args,
//! validate_repo2, test_validate_bp_update_propagation).

use ays_core::both;
use ays_core::testing::{Backend, TestRepo, TestResult};
use ays_core::{ApplyOptions, BlueprintError, CoreError, ServiceFilter};
use serde_json::json;

use crate::support::fails;

const PARSEBP: &str = "\
name = type:str default:'default name'
count = type:int default:5
enabled = type:bool default:False
tags = list type:str
descr = type:str
";

fn data(t: &TestRepo, key: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    Ok(t.repo.show_service(&key.parse()?)?.data)
}

fn parse_bp(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("parsebp", PARSEBP)?;
    let bp = "parsebp__defaults:\n\nparsebp__given:\n  name: 'Grüße, 世界 ✓'\n  count: 7\n  enabled: true\n  tags: [a, 'ü']\n";
    let report = t
        .repo
        .apply_blueprint_text("bp.yaml", bp, ApplyOptions::default())?;
    assert_eq!(
        report.created,
        ["parsebp!defaults".parse()?, "parsebp!given".parse()?]
    );
    assert_eq!(report.actors_created, ["parsebp".parse()?]);
    assert_eq!(
        data(&t, "parsebp!defaults")?,
        json!({"name": "default name", "count": 5, "enabled": false, "tags": [], "descr": ""})
    );
    assert_eq!(
        data(&t, "parsebp!given")?,
        json!({"name": "Grüße, 世界 ✓", "count": 7, "enabled": true, "tags": ["a", "ü"], "descr": ""})
    );
    // Every action starts `new`, but `init`: without code, it has nothing left to do once
    // the service is created (8.1 ran it at creation), so runs skip it.
    let s = t
        .repo
        .service(&"parsebp!defaults".parse()?)?
        .ok_or("missing")?;
    assert!(s.actions.iter().all(|a| a.state
        == if a.name.as_str() == "init" {
            ays_core::ActionState::Ok
        } else {
            ays_core::ActionState::New
        }));
    t.check_indexes()?;
    Ok(())
}
both!(test_parse_bp, parse_bp);

fn service_args(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template(
        "sample1",
        "field = type:str\nfield.with.dot = type:str\nfield_with_underscore = type:str\n",
    )?;
    let bp = "sample1__a:\n  field: f\n  field.with.dot: dotted\n  fieldWithUnderscore: camel\nsample1__b:\n  fieldWithDot: camel-dot\n  field_with_underscore: under\n";
    t.repo
        .apply_blueprint_text("bp.yaml", bp, ApplyOptions::default())?;
    assert_eq!(
        data(&t, "sample1!a")?,
        json!({"field": "f", "fieldWithDot": "dotted", "fieldWithUnderscore": "camel"})
    );
    assert_eq!(
        data(&t, "sample1!b")?,
        json!({"field": "", "fieldWithDot": "camel-dot", "fieldWithUnderscore": "under"})
    );
    let before = t.scan()?;
    let err = fails(t.repo.apply_blueprint_text(
        "bad.yaml",
        "sample1__c:\n  field: x\n  nosuch: 1\n",
        ApplyOptions::default(),
    ))?;
    match err {
        CoreError::Blueprint(BlueprintError::UnknownAttribute {
            at,
            key,
            attribute,
            valid,
        }) => {
            assert_eq!((at.file.as_str(), at.line), ("bad.yaml", 3));
            assert_eq!((key.as_str(), attribute.as_str()), ("sample1!c", "nosuch"));
            assert_eq!(valid, ["field", "field.with.dot", "field_with_underscore"]);
        }
        other => return Err(format!("unexpected {other:?}").into()),
    }
    assert_eq!(t.scan()?, before, "a bad blueprint changes nothing");
    Ok(())
}
both!(test_validate_service_args, service_args);

fn wrong_types(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("parsebp", PARSEBP)?;
    t.template("net", "addr = type:ipaddr\n")?;
    let before = t.scan()?;
    let err = fails(t.repo.apply_blueprint_text(
        "bp.yaml",
        "parsebp__x:\n  count: many\n",
        ApplyOptions::default(),
    ))?;
    let CoreError::Blueprint(BlueprintError::BadValue {
        at,
        key,
        attribute,
        reason,
    }) = err
    else {
        return Err(format!("unexpected {err:?}").into());
    };
    assert_eq!(
        (at.line, key.as_str(), attribute.as_str()),
        (2, "parsebp!x", "count")
    );
    assert_eq!(reason, "expected Int64, found a string");
    let err = fails(t.repo.apply_blueprint_text(
        "bp.yaml",
        "net__x:\n  addr: 300.1.1.1\n",
        ApplyOptions::default(),
    ))?;
    assert!(
        matches!(&err, CoreError::Blueprint(BlueprintError::BadValue { attribute, .. }) if attribute == "addr"),
        "{err:?}"
    );
    assert_eq!(t.scan()?, before);
    Ok(())
}
both!(wrong_types_are_rejected, wrong_types);

fn repo2(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("parsebp", PARSEBP)?;
    t.repo
        .apply_blueprint_text("ok.yaml", "parsebp__one:\n", ApplyOptions::default())?;
    let before = t.scan()?;
    let err = fails(t.repo.apply_blueprint_text(
        "bp.yaml",
        "parsebp__two:\nnosuchactor__x:\n  a: 1\n",
        ApplyOptions::default(),
    ))?;
    let CoreError::Blueprint(BlueprintError::UnknownActor { at, key, actor }) = err else {
        return Err(format!("unexpected {err:?}").into());
    };
    assert_eq!(
        (at.line, key.as_str(), actor.as_str()),
        (2, "nosuchactor__x", "nosuchactor")
    );
    // A duplicate key in one file.
    let err = fails(t.repo.apply_blueprint_text(
        "bp.yaml",
        "parsebp__two:\n  count: 1\nparsebp__two:\n  count: 2\n",
        ApplyOptions::default(),
    ))?;
    let CoreError::Blueprint(BlueprintError::Duplicate { at, key, first }) = err else {
        return Err(format!("unexpected {err:?}").into());
    };
    assert_eq!((at.line, key.as_str(), first.line), (3, "parsebp__two", 1));
    // A duplicate service across the files of `blueprints/`.
    t.write("blueprints/1_a.yaml", "parsebp__dup:\n")?;
    t.write(
        "blueprints/2_b.yaml",
        "parsebp__other:\nparsebp__dup:\n  count: 3\n",
    )?;
    t.write("blueprints/_archived.yaml", "nosuchactor__x:\n")?;
    let err = fails(t.repo.apply_blueprints(ApplyOptions::default()))?;
    let CoreError::Blueprint(BlueprintError::Duplicate { at, key, first }) = err else {
        return Err(format!("unexpected {err:?}").into());
    };
    assert_eq!(
        (at.to_string(), key.as_str(), first.to_string()),
        (
            "blueprints/2_b.yaml:2".to_owned(),
            "parsebp!dup",
            "blueprints/1_a.yaml:1".to_owned()
        )
    );
    assert_eq!(t.scan()?, before, "rejected blueprints change nothing");
    Ok(())
}
both!(validate_repo2, repo2);

const NODE: &str = "image = type:str default:'ubuntu'\nport = type:int default:22\nhost = type:str consume:host:1\n";
const NODE_ACTIONS: &str =
    "install() {\n  echo install\n}\n\nprocessChange() {\n  echo changed\n}\n";

fn update_propagation(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("host", "addr = type:str\n")?;
    t.template("node", NODE)?;
    t.write("actorTemplates/node/actions.sh", NODE_ACTIONS)?;
    let bp = |image: &str| {
        format!(
            "host__h1:\n  addr: 10.0.0.1\nnode__n1:\n  image: {image}\n  host: h1\nactions:\n  - action: install\n"
        )
    };
    let first = t
        .repo
        .apply_blueprint_text("bp.yaml", &bp("ubuntu"), ApplyOptions::default())?;
    assert_eq!(first.created.len(), 2);
    // Unchanged: nothing at all.
    let before = t.scan()?;
    let again = t
        .repo
        .apply_blueprint_text("bp.yaml", &bp("ubuntu"), ApplyOptions::default())?;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(t.scan()?, before);
    // Changed: new data written, processChange scheduled with the changed fields.
    t.repo.set_action_state(
        &ServiceFilter::all(),
        &"install".parse()?,
        ays_core::ActionState::Ok,
    )?;
    let dry =
        t.repo
            .apply_blueprint_text("bp.yaml", &bp("debian"), ApplyOptions { dry_run: true })?;
    let scanned = t.scan()?;
    let changed = t
        .repo
        .apply_blueprint_text("bp.yaml", &bp("debian"), ApplyOptions::default())?;
    assert_eq!(changed.updated, dry.updated);
    assert!(dry.dry_run && !changed.dry_run);
    assert_ne!(t.scan()?, scanned);
    assert_eq!(changed.updated.len(), 1);
    assert_eq!(changed.updated[0].key.to_string(), "node!n1");
    assert_eq!(changed.updated[0].changed, ["image"]);
    assert_eq!(
        changed
            .scheduled
            .iter()
            .map(|s| (s.key.to_string(), s.action.to_string()))
            .collect::<Vec<_>>(),
        [("node!n1".to_owned(), "processChange".to_owned())]
    );
    assert_eq!(data(&t, "node!n1")?["image"], "debian");
    let args = t
        .repo
        .action_args(&"node!n1".parse()?, &"processChange".parse()?)?;
    assert_eq!(
        args,
        Some(json!({"changeCategory": "config", "changed": ["image"]}))
    );
    let s = t.repo.service(&"node!n1".parse()?)?.ok_or("missing")?;
    assert_eq!(
        s.action("install").map(|a| a.state),
        Some(ays_core::ActionState::Ok),
        "install stays ok"
    );
    t.check_indexes()?;
    // A second change before any run: the pending args name both fields.
    let bp2 = bp("debian").replace("  host: h1\n", "  host: h1\n  port: 2222\n");
    t.repo
        .apply_blueprint_text("bp.yaml", &bp2, ApplyOptions::default())?;
    let args = t
        .repo
        .action_args(&"node!n1".parse()?, &"processChange".parse()?)?;
    assert_eq!(
        args,
        Some(json!({"changeCategory": "config", "changed": ["image", "port"]}))
    );
    // Deleting the service deletes its args too.
    t.repo
        .delete_service(&"node!n1".parse()?, ays_core::DeleteOptions::default())?;
    let args = t
        .repo
        .action_args(&"node!n1".parse()?, &"processChange".parse()?)?;
    assert_eq!(args, None);
    t.check_indexes()?;
    Ok(())
}
both!(test_validate_bp_update_propagation, update_propagation);

fn sample_repo1(b: Backend) -> TestResult {
    let t = TestRepo::with_scenario(b, "sample_repo1")?;
    let report = t.repo.apply_blueprints(ApplyOptions::default())?;
    let created: Vec<String> = report.created.iter().map(ToString::to_string).collect();
    // Files in name order: bp_related1 names a parent declared only in bp_related2.
    assert_eq!(
        created,
        [
            "datacenter!ovh_germany2",
            "cockpit!cockpitv1",
            "datacenter!ovh_germany1",
            "datacenter!ovh_germany3",
            "sshkey!main",
            "cockpit!cockpitv2"
        ]
    );
    let v1 = t.repo.show_service(&"cockpit!cockpitv1".parse()?)?;
    assert_eq!(
        v1.parent.map(|p| p.to_string()),
        Some("datacenter!ovh_germany1".to_owned())
    );
    // `install` scheduled on all six (three files each schedule it; scheduled once).
    assert_eq!(report.scheduled.len(), 6);
    assert!(
        report
            .scheduled
            .iter()
            .all(|s| s.action.as_str() == "install")
    );
    t.check_indexes()?;
    Ok(())
}
both!(sample_repo1_applies_as_one_unit, sample_repo1);

fn run_filters(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    for name in ["app.web", "app.db", "other"] {
        t.template(name, "x = type:str\n")?;
        t.write(
            &format!("actorTemplates/{name}/actions.sh"),
            "test() {\n  true\n}\n",
        )?;
    }
    let bp = "app.web__w:\napp.db__d:\nother__w:\nactions:\n  - action: install\n  - action: test\n    actor: app.*\n    service: w\n  - action: 'start, stop'\n    service: d\n  - action: monitor\n    actor: other\n    recurring: 5m\n";
    let report = t
        .repo
        .apply_blueprint_text("bp.yaml", bp, ApplyOptions::default())?;
    let mut got: Vec<(String, String)> = report
        .scheduled
        .iter()
        .map(|s| (s.key.to_string(), s.action.to_string()))
        .collect();
    got.sort();
    let want = [
        ("app!d", "install"),
        ("app!d", "start"),
        ("app!d", "stop"),
        ("app!w", "install"),
        ("app!w", "test"),
        ("other!w", "install"),
        ("other!w", "monitor"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
    let other = t.repo.service(&"other!w".parse()?)?.ok_or("missing")?;
    assert_eq!(
        other.action("test").map(|a| a.state),
        Some(ays_core::ActionState::New),
        "not requested: stays new"
    );
    assert_eq!(other.action("monitor").map(|a| a.period), Some(300));
    t.check_indexes()?;
    Ok(())
}
both!(test_run_filters, run_filters);

fn force_and_disabled(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("parsebp", PARSEBP)?;
    t.repo
        .apply_blueprint_text("bp.yaml", "parsebp__a:\n", ApplyOptions::default())?;
    let install = "install".parse()?;
    t.repo
        .set_action_state(&ServiceFilter::all(), &install, ays_core::ActionState::Ok)?;
    let plain = t.repo.apply_blueprint_text(
        "bp.yaml",
        "actions:\n  - action: install\n",
        ApplyOptions::default(),
    )?;
    assert!(plain.scheduled.is_empty(), "ok stays ok");
    let forced = t.repo.apply_blueprint_text(
        "bp.yaml",
        "actions:\n  - action: install\n    force: true\n",
        ApplyOptions::default(),
    )?;
    assert_eq!(forced.scheduled.len(), 1);
    assert_eq!(
        (forced.scheduled[0].from, forced.scheduled[0].to),
        (ays_core::ActionState::Ok, ays_core::ActionState::Scheduled)
    );
    t.repo.set_action_state(
        &ServiceFilter::all(),
        &install,
        ays_core::ActionState::Disabled,
    )?;
    let before = t.scan()?;
    let err = fails(t.repo.apply_blueprint_text(
        "bp.yaml",
        "parsebp__b:\nactions:\n  - action: install\n    force: true\n",
        ApplyOptions::default(),
    ))?;
    let CoreError::Blueprint(BlueprintError::Action {
        at,
        key,
        action,
        reason,
    }) = err
    else {
        return Err(format!("unexpected {err:?}").into());
    };
    assert_eq!(
        (at.line, key.as_str(), action.as_str()),
        (3, "parsebp!a", "install")
    );
    assert_eq!(reason, "the action is disabled and cannot be scheduled");
    assert_eq!(t.scan()?, before, "parsebp!b was not created");
    Ok(())
}
both!(
    force_reschedules_and_disabled_is_an_error,
    force_and_disabled
);

fn multi_document(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("sshkey", "key.path = type:str\n")?;
    let report = t.repo.apply_blueprint_text(
        "multi.yaml",
        "sshkey__one:\n---\nsshkey__two:\n---\nactions:\n  - action: install\n",
        ApplyOptions::default(),
    )?;
    let created: Vec<String> = report.created.iter().map(ToString::to_string).collect();
    assert_eq!(
        created,
        ["sshkey!one", "sshkey!two"],
        "every document applies"
    );
    assert_eq!(
        report.scheduled.len(),
        2,
        "actions of the last document reach both"
    );
    // A key repeated in another document is the duplicate it would be in one.
    let err = fails(t.repo.apply_blueprint_text(
        "dup.yaml",
        "sshkey__three:\n---\nsshkey__three:\n",
        ApplyOptions::default(),
    ))?;
    assert!(
        matches!(err, CoreError::Blueprint(BlueprintError::Duplicate { .. })),
        "{err}"
    );
    assert_eq!(t.repo.service_keys(&ServiceFilter::all())?.len(), 2);
    Ok(())
}
both!(
    issue_9_every_document_of_a_multi_document_blueprint_applies,
    multi_document
);

fn hostile_text(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    t.template("sshkey", "key.path = type:str\n")?;
    t.template("node", "key = type:str consume:sshkey:0:1\n")?;
    let at = |err: &CoreError| match err {
        CoreError::Blueprint(
            BlueprintError::TooDeep { at, .. }
            | BlueprintError::Syntax { at, .. }
            | BlueprintError::BadValue { at, .. },
        ) => Some(at.to_string()),
        _ => None,
    };
    // Nesting that overflowed the YAML loader's stack.
    let deep = format!("{}x\n", "- ".repeat(10_000));
    let err = fails(
        t.repo
            .apply_blueprint_text("deep.yaml", &deep, ApplyOptions::default()),
    )?;
    assert_eq!(at(&err).as_deref(), Some("deep.yaml:1"), "{err}");
    // An error at the end of a text without a final newline stays within the text.
    let err = fails(t.repo.apply_blueprint_text(
        "end.yaml",
        "sshkey__x:\n  v: 1\n  w",
        ApplyOptions::default(),
    ))?;
    assert_eq!(at(&err).as_deref(), Some("end.yaml:3"), "{err}");
    // A producer named by something that cannot be a service name is a located bad value.
    let err = fails(t.repo.apply_blueprint_text(
        "bad.yaml",
        "sshkey__k:\nnode__n:\n  key: '- x'\n",
        ApplyOptions::default(),
    ))?;
    assert_eq!(at(&err).as_deref(), Some("bad.yaml:2"), "{err}");
    assert!(t.repo.service_keys(&ServiceFilter::all())?.is_empty());
    Ok(())
}
both!(
    issue_9_hostile_blueprints_fail_located_without_crashing,
    hostile_text
);
