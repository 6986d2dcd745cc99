//! Template discovery and reading, and repository discovery.

use ays_core::testing::{TestResult, write_file};
use ays_core::{
    ApplyOptions, CoreError, InitOptions, Repository, Runtime, TemplateError, TemplateSet,
};
use ays_hrd::ConfigYamlError;

use crate::support::fails;

#[test]
fn local_templates_override_global_ones_and_the_last_global_wins() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write_file(root, "g1/web/schema.hrd", "a = type:str\n")?;
    write_file(root, "g1/group/db/actions.sh", "install() {\n  true\n}\n")?;
    write_file(root, "g1/_archived/old/schema.hrd", "a = type:str\n")?;
    write_file(root, "g1/.hidden/x/schema.hrd", "a = type:str\n")?;
    write_file(root, "g2/cache/config.yaml", "links: {}\n")?;
    write_file(
        root,
        "local/web/schema.capnp",
        "@0xf000000000000001;\nstruct Schema {\n  b @0 :Text;\n}\n",
    )?;
    let set = TemplateSet::discover(&root.join("local"), &[root.join("g1"), root.join("g2")])?;
    let list: Vec<(String, bool)> = set
        .list()
        .into_iter()
        .map(|t| (t.name.to_string(), t.local))
        .collect();
    assert_eq!(
        list,
        [
            ("cache".to_owned(), false),
            ("db".to_owned(), false),
            ("web".to_owned(), true)
        ]
    );
    write_file(root, "g2/web/schema.hrd", "a = type:str\n")?;
    // As in 8.1, the template found last is used; the other is named as ignored.
    let set = TemplateSet::discover(&root.join("none"), &[root.join("g1"), root.join("g2")])?;
    let web = set.find("web").ok_or("no web")?;
    assert_eq!(web.path, root.join("g2/web"));
    assert_eq!(web.ignored, [root.join("g1/web")]);
    Ok(())
}

#[test]
fn templates_read_relations_settings_and_actions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    // 8.2 layout: schema.capnp + config.yaml.
    write_file(
        root,
        "t/app/schema.capnp",
        "@0xf000000000000002;\nstruct Schema {\n  node @0 :Text;\n  keys @1 :List(Text);\n}\n",
    )?;
    write_file(
        root,
        "t/app/config.yaml",
        "links:\n  parent:\n    role: node.ssh\n    argname: node\n    auto: true\n  consume:\n    - role: sshkey\n      argname: keys\n      min: 1\n      max: 3\nrecurring:\n  - action: monitor\n    period: 5m\n    log: false\ntimeouts:\n  - install: 2m\nretries:\n  install: 3\ndepends:\n  test: [install]\n",
    )?;
    write_file(
        root,
        "t/app/actions.py",
        "import os\n\ndef install(job):\n    \"\"\"Install it.\"\"\"\n    os.system('true')\n\ndef test(job):\n    pass\n",
    )?;
    // 8.1 layout: schema.hrd + actor.hrd.
    write_file(
        root,
        "t/old/schema.hrd",
        "host = type:str parent:'node' optional\n",
    )?;
    write_file(
        root,
        "t/old/actor.hrd",
        "recurring.monitor =\n    period: 30s,\n    log: True,\n\ndepends.check = install, start\n",
    )?;
    let set = TemplateSet::discover(&root.join("t"), &[])?;
    let app = set.load("app")?;
    let parent = app.parent.clone().ok_or("no parent")?;
    assert_eq!(
        (parent.role.as_str(), parent.arg_name.as_str(), parent.auto),
        ("node", "node", true)
    );
    assert_eq!(app.consumes.len(), 1);
    assert_eq!(
        (
            app.consumes[0].role.as_str(),
            app.consumes[0].min,
            app.consumes[0].max
        ),
        ("sshkey", 1, 3)
    );
    let action = |t: &ays_core::Template, n: &str| {
        t.actions
            .iter()
            .find(|a| a.code.name.as_str() == n)
            .cloned()
    };
    let install = action(&app, "install").ok_or("install")?;
    assert_eq!(install.code.runtime, Runtime::Python);
    assert_eq!(install.code.doc, "Install it.");
    assert_eq!((install.timeout, install.retries), (120, 3));
    assert_eq!(install.depends_on, ["init".parse()?]);
    let monitor = action(&app, "monitor").ok_or("monitor")?;
    assert_eq!(
        (monitor.period, monitor.log, monitor.code.runtime),
        (300, false, Runtime::None)
    );
    assert_eq!(
        action(&app, "test").ok_or("test")?.depends_on,
        ["install".parse()?]
    );
    let names: Vec<String> = app
        .actions
        .iter()
        .map(|a| a.code.name.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "init",
            "install",
            "monitor",
            "start",
            "stop",
            "test",
            "uninstall"
        ]
    );
    let old = set.load("old")?;
    assert!(
        old.parent
            .as_ref()
            .is_some_and(|p| p.optional && p.arg_key == "host")
    );
    assert_eq!(action(&old, "monitor").ok_or("monitor")?.period, 30);
    assert_eq!(
        action(&old, "check").map(|a| a.depends_on),
        None,
        "depends alone does not create an action"
    );
    assert_eq!(
        action(&old, "uninstall").ok_or("uninstall")?.depends_on,
        ["stop".parse()?]
    );
    // A broken schema is reported with its template.
    write_file(root, "t/bad/schema.hrd", "x = type:nosuch\n")?;
    let err = fails(TemplateSet::discover(&root.join("t"), &[])?.load("bad"))?;
    assert!(
        matches!(&err, TemplateError::Hrd { template, .. } if template == "bad"),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn repositories_are_found_upward_and_get_unique_ids() -> TestResult {
    let dir = tempfile::tempdir()?;
    let a = Repository::init(
        &dir.path().join("one/repo"),
        InitOptions {
            store_url: Some("mem://".into()),
            ..InitOptions::default()
        },
    )?;
    let b = Repository::init(
        &dir.path().join("two/repo"),
        InitOptions {
            store_url: Some("mem://".into()),
            ..InitOptions::default()
        },
    )?;
    assert_ne!(a.id(), b.id(), "same folder name, different ids");
    assert!(a.id().starts_with("repo-"));
    let sub = a.root().join("blueprints/deep");
    std::fs::create_dir_all(&sub)?;
    assert_eq!(Repository::discover(&sub)?, a.root());
    let err = fails(Repository::discover(dir.path()))?;
    assert!(matches!(err, CoreError::NotARepository { .. }), "{err:?}");
    let err = fails(Repository::init(a.root(), InitOptions::default()))?;
    assert!(
        matches!(err, CoreError::AlreadyRepository { .. }),
        "{err:?}"
    );
    // The default store is the embedded file; an override wins.
    let c = Repository::init(&dir.path().join("three"), InitOptions::default())?;
    assert_eq!(
        c.store_url(),
        format!("redb://{}", c.root().join(".ays/store.redb").display())
    );
    write_file(c.root(), "actorTemplates/k/schema.hrd", "a = type:str\n")?;
    c.apply_blueprint_text("bp.yaml", "k__x:\n", ApplyOptions::default())?;
    drop(c);
    let reopened = Repository::open(&dir.path().join("three"), ays_core::OpenOptions::default())?;
    assert_eq!(
        reopened.service_keys(&ays_core::ServiceFilter::all())?,
        ["k!x".parse()?]
    );
    let other = Repository::open(
        &dir.path().join("three"),
        ays_core::OpenOptions {
            store_url: Some("mem://".to_owned()),
        },
    )?;
    assert_eq!(other.store_url(), "mem://");
    assert!(
        other
            .service_keys(&ays_core::ServiceFilter::all())?
            .is_empty()
    );
    Ok(())
}

#[test]
fn issue_4_templates_read_concurrency_and_retry_backoff() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write_file(
        root,
        "t/new/config.yaml",
        "concurrency: 2\nretries: {install: 3}\nretry_delay: {install: 2s}\nretry_max_delay:\n  - install: 1m\n",
    )?;
    write_file(root, "t/old/schema.hrd", "name = type:str\n")?;
    write_file(
        root,
        "t/old/actor.hrd",
        "concurrency = 1\nretries.start = 2\nretry_delay.start = 5\nretry_max_delay.start = 1h\n",
    )?;
    write_file(root, "t/none/config.yaml", "retries: {install: 1}\n")?;
    write_file(root, "t/zero/config.yaml", "concurrency: 0\n")?;
    let set = TemplateSet::discover(&root.join("t"), &[])?;
    let backoff = |t: &ays_core::Template, n: &str| {
        t.actions
            .iter()
            .find(|a| a.code.name.as_str() == n)
            .map(|a| (a.retries, a.retry_delay, a.retry_max_delay))
    };
    let new = set.load("new")?;
    assert_eq!(new.concurrency, 2);
    assert_eq!(backoff(&new, "install"), Some((3, Some(2), Some(60))));
    assert_eq!(backoff(&new, "start"), Some((0, None, None)));
    let old = set.load("old")?;
    assert_eq!(old.concurrency, 1);
    assert_eq!(backoff(&old, "start"), Some((2, Some(5), Some(3600))));
    let none = set.load("none")?;
    assert_eq!(none.concurrency, 0);
    assert_eq!(backoff(&none, "install"), Some((1, None, None)));
    let err = fails(set.load("zero"))?;
    let (template, yaml) = config_yaml_error(&err)?;
    assert_eq!(template, "zero");
    let ConfigYamlError::WrongType {
        at,
        field,
        expected,
        found,
    } = yaml
    else {
        return Err(format!("expected WrongType, got {yaml:?}").into());
    };
    assert_eq!(
        (
            at.line,
            at.column,
            field.as_str(),
            *expected,
            found.as_str()
        ),
        (1, 14, "concurrency", "a count of at least 1", "`0`")
    );
    Ok(())
}

/// The template and the `config.yaml` error of `err`, which must be one.
fn config_yaml_error(err: &TemplateError) -> Result<(&str, &ConfigYamlError), String> {
    match err {
        TemplateError::ConfigYaml { template, source } => Ok((template, source)),
        other => Err(format!("expected TemplateError::ConfigYaml, got {other:?}")),
    }
}

#[test]
fn issue_7_template_errors_name_their_line_and_column() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write_file(
        root,
        "t/duration/config.yaml",
        "retries: {install: 3}\ntimeouts:\n  install: 2x\n",
    )?;
    write_file(
        root,
        "t/count/config.yaml",
        "links:\n  consume:\n    - role: sshkey\n      max: many\n",
    )?;
    write_file(
        root,
        "t/yaml_depends/config.yaml",
        "depends:\n  install:\n    - init\n    - in-stall\n",
    )?;
    write_file(root, "t/hrd_depends/schema.hrd", "name = type:str\n")?;
    write_file(
        root,
        "t/hrd_depends/actor.hrd",
        "retries.start = 2\n\ndepends.start = install, in-stall\n",
    )?;
    write_file(
        root,
        "t/forever/config.yaml",
        "retry_delay:\n  install: 5000000000\n",
    )?;
    let set = TemplateSet::discover(&root.join("t"), &[])?;

    let err = fails(set.load("duration"))?;
    let (_, yaml) = config_yaml_error(&err)?;
    let ConfigYamlError::BadDuration {
        at, field, text, ..
    } = yaml
    else {
        return Err(format!("expected BadDuration, got {yaml:?}").into());
    };
    assert_eq!(
        (at.line, at.column, field.as_str(), text.as_str()),
        (3, 12, "timeouts.install", "2x")
    );
    assert_eq!(
        at.file.as_ref(),
        root.join("t/duration/config.yaml").display().to_string()
    );

    let err = fails(set.load("count"))?;
    let (_, yaml) = config_yaml_error(&err)?;
    assert_eq!(
        yaml.to_string(),
        format!(
            "{}:4:12: `links.consume[0].max` expects a count, found the string `many`",
            root.join("t/count/config.yaml").display()
        )
    );

    // Action names are checked by ays-core, whose locations are `file:line`.
    for (name, file, line, action) in [
        ("yaml_depends", "config.yaml", 4, "install"),
        ("hrd_depends", "actor.hrd", 3, "start"),
    ] {
        let err = fails(set.load(name))?;
        let TemplateError::Malformed { at, reason, .. } = &err else {
            return Err(format!("{name}: expected Malformed, got {err:?}").into());
        };
        assert_eq!(
            (at.file.clone(), at.line),
            (
                root.join("t").join(name).join(file).display().to_string(),
                line
            )
        );
        let expected = format!("action `{action}` depends on invalid action name `in-stall`");
        assert!(reason.starts_with(&expected), "{reason}");
    }

    let err = fails(set.load("forever"))?;
    let TemplateError::Malformed { at, reason, .. } = &err else {
        return Err(format!("expected Malformed, got {err:?}").into());
    };
    assert_eq!(
        (at.line, reason.as_str()),
        (
            2,
            "`retry_delay` of `install` is 5000000000 seconds, more than 4294967295"
        )
    );
    Ok(())
}

/// A template built in code is installed as an actor that blueprints use, and installing a
/// changed version updates it as `ays actor update` would.
fn installed_templates(b: ays_core::testing::Backend) -> TestResult {
    use ays_core::{ActionState, ServiceFilter, Template, TemplateSource};
    let t = ays_core::testing::TestRepo::new(b)?;
    let name = "web".parse()?;
    let mut source = TemplateSource {
        schema_hrd: Some("port = type:int default:80\n".into()),
        actions_sh: Some("install() {\n    echo one\n}\n".into()),
        ..TemplateSource::default()
    };
    let first = t
        .repo
        .install_template(&Template::from_source(&name, "code/web", &source)?)?;
    assert_eq!(
        (first.actor_changed, first.added_actions.len()),
        (true, ays_core::DEFAULT_ACTIONS.len())
    );
    assert!(t.repo.actor("web")?.is_some());
    t.repo
        .apply_blueprint_text("bp.yaml", "web__w:\n", ApplyOptions::default())?;
    let key = "web!w".parse()?;
    t.repo
        .set_action_state(&ServiceFilter::all(), &"install".parse()?, ActionState::Ok)?;

    // New code for install and a new field: install becomes changed, the data gets the default.
    source.schema_hrd = Some("port = type:int default:80\nhost = type:str default:'h'\n".into());
    source.actions_sh = Some("install() {\n    echo two\n}\n".into());
    let second = t
        .repo
        .install_template(&Template::from_source(&name, "code/web", &source)?)?;
    assert_eq!(second.changed_actions, ["install".parse()?]);
    assert_eq!(second.added_fields, ["host"]);
    let shown = t.repo.show_service(&key)?;
    assert_eq!(
        (shown.data["port"].clone(), shown.data["host"].clone()),
        (80.into(), "h".into())
    );
    let install = shown.actions.iter().find(|a| a.name.as_str() == "install");
    assert_eq!(install.map(|a| a.state), Some(ActionState::Changed));
    assert_eq!(t.repo.service_keys(&ServiceFilter::all())?, [key]);

    // A broken template is refused when it is built, before anything is written.
    source.schema_hrd = Some("port = type:nosuch\n".into());
    let err = fails(Template::from_source(&name, "code/web", &source))?;
    assert!(
        matches!(&err, TemplateError::Hrd { template, .. } if template == "web"),
        "{err:?}"
    );
    t.check_indexes()?;
    Ok(())
}
ays_core::both!(
    issue_7_templates_built_in_code_install_and_update,
    installed_templates
);

#[test]
fn issue_9_shell_syntax_errors_are_reported_when_the_template_is_loaded() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write_file(root, "t/broken/schema.hrd", "name = type:str\n")?;
    write_file(
        root,
        "t/broken/actions.sh",
        "install() {\n    echo installing\n}\n\nstart() {\n    if true; then\n        echo (\n    fi\n}\n",
    )?;
    write_file(root, "t/fine/actions.sh", "install() {\n    echo ok\n}\n")?;
    let set = TemplateSet::discover(&root.join("t"), &[])?;
    let err = fails(set.load("broken"))?;
    let TemplateError::Malformed { at, reason, .. } = &err else {
        return Err(format!("expected Malformed, got {err:?}").into());
    };
    assert!(at.file.ends_with("broken/actions.sh"), "{at}");
    assert_eq!(at.line, 7, "the template's own line: {err}");
    assert!(reason.starts_with("bash: syntax error"), "{reason}");
    set.load("fine")?;
    Ok(())
}
