//! External events: `events:` of a template's config.yaml, and which actions an event runs
//! (`Repository::event_targets`) from those and the blueprints' `eventfilters`.

use ays_core::both;
use ays_core::testing::{Backend, TestRepo, TestResult};
use ays_core::{ApplyOptions, CoreError, Event, EventFilter, EventTarget, TemplateError};

use crate::support::fails;

const WEB_EVENTS: &str = "events:\n  - command: deploy\n    action: install\n    tags: [prod]\n  - command: ping\n    action: monitor\n    channel: telegram\n  - command: restart\n    action: start\n    secret: s3cret\n  - command: any\n    action: stop\n    channel: all\n";

fn repo(b: Backend) -> Result<TestRepo, Box<dyn std::error::Error>> {
    let t = TestRepo::new(b)?;
    t.write("actorTemplates/web/config.yaml", WEB_EVENTS)?;
    t.write("actorTemplates/db/schema.hrd", "size = type:int\n")?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "web__w1:\nweb__w2:\ndb__d1:\ndb__d2:\neventfilters:\n  - actor: db\n    service: d1\n    cmd: deploy\n    action: install\n    channel: all\n  - actor: db\n    service: d1\n    cmd: deploy\n    action: nosuch\n  - actor: web\n    service: w1\n    cmd: deploy\n    action: install\n    tags: [prod]\n  - actor: db\n    service: d2\n    cmd: backup\n    action: start\n    secret: k\n    channel: email\n    tags: [nightly, full]\n",
        ApplyOptions::default(),
    )?;
    Ok(t)
}

fn event(command: &str, tags: &[&str], secret: &str, channel: &str) -> Event {
    Event {
        command: command.to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        secret: secret.to_owned(),
        channel: channel.to_owned(),
    }
}

/// The targets of `e`, as `service:action`.
fn targets(t: &TestRepo, e: &Event) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    Ok(t.repo
        .event_targets(e)?
        .into_iter()
        .map(|EventTarget { service, action }| format!("{service}:{action}"))
        .collect())
}

fn targets_of_events(b: Backend) -> TestResult {
    let t = repo(b)?;
    let actor = t.repo.actor("web")?.ok_or("no actor")?;
    assert_eq!(actor.events.len(), 4, "stored with the actor");
    assert_eq!(actor.events[0].tags, ["prod"]);
    assert!(t.repo.actor("db")?.ok_or("no actor")?.events.is_empty());

    // Actor events and blueprint filters together; w1's filter duplicates its actor's.
    assert_eq!(
        targets(&t, &event("deploy", &["prod", "eu"], "", "webservice"))?,
        ["db!d1:install", "web!w1:install", "web!w2:install"]
    );
    // A missing tag keeps the tagged filters out; db's has none (the `nosuch` one is skipped).
    assert_eq!(
        targets(&t, &event("deploy", &["eu"], "", ""))?,
        ["db!d1:install"]
    );
    // Channels: the filter's must be the event's, unless it is empty or `all`.
    assert_eq!(
        targets(&t, &event("ping", &[], "", "telegram"))?,
        ["web!w1:monitor", "web!w2:monitor"]
    );
    assert!(targets(&t, &event("ping", &[], "", "email"))?.is_empty());
    assert!(targets(&t, &event("ping", &[], "", ""))?.is_empty());
    assert_eq!(targets(&t, &event("any", &[], "", "x"))?.len(), 2);
    // Secrets must match; a filter without one takes any.
    assert!(targets(&t, &event("restart", &[], "", ""))?.is_empty());
    assert!(targets(&t, &event("restart", &[], "s3cre", ""))?.is_empty());
    assert!(targets(&t, &event("restart", &[], "s3cret!", ""))?.is_empty());
    assert_eq!(
        targets(&t, &event("restart", &[], "s3cret", ""))?,
        ["web!w1:start", "web!w2:start"]
    );
    assert_eq!(targets(&t, &event("any", &[], "whatever", ""))?.len(), 2);
    // Everything at once.
    assert_eq!(
        targets(
            &t,
            &event("backup", &["full", "nightly", "x"], "k", "email")
        )?,
        ["db!d2:start"]
    );
    assert!(targets(&t, &event("backup", &["full"], "k", "email"))?.is_empty());
    assert!(targets(&t, &event("backup", &["full", "nightly"], "k", "all"))?.is_empty());
    assert!(targets(&t, &event("Backup", &["full", "nightly"], "k", "email"))?.is_empty());
    assert!(targets(&t, &event("nothing", &[], "", ""))?.is_empty());
    Ok(())
}
both!(
    an_event_runs_the_actions_its_filters_name,
    targets_of_events
);

#[test]
fn a_filter_matches_on_command_tags_secret_and_channel() {
    let f = EventFilter {
        channel: String::new(),
        command: "c".into(),
        action: "install".into(),
        secret: String::new(),
        tags: vec![],
    };
    assert!(f.matches(&event("c", &[], "", "")));
    assert!(f.matches(&event("c", &["t"], "s", "webservice")));
    assert!(!f.matches(&event("d", &[], "", "")));
    let tagged = EventFilter {
        tags: vec!["a".into(), "b".into()],
        ..f.clone()
    };
    assert!(tagged.matches(&event("c", &["b", "a"], "", "")));
    assert!(!tagged.matches(&event("c", &["a"], "", "")));
    let secret = EventFilter {
        secret: "k".into(),
        ..f.clone()
    };
    assert!(secret.matches(&event("c", &[], "k", "")));
    assert!(!secret.matches(&event("c", &[], "", "")));
    assert!(!secret.matches(&event("c", &[], "kk", "")));
    let all = EventFilter {
        channel: "all".into(),
        ..f.clone()
    };
    assert!(all.matches(&event("c", &[], "", "telegram")));
    let email = EventFilter {
        channel: "email".into(),
        ..f
    };
    assert!(email.matches(&event("c", &[], "", "email")));
    assert!(!email.matches(&event("c", &[], "", "telegram")));
}

fn template_errors(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    // An entry without an action: the config.yaml reader names the file, line and field.
    t.write(
        "actorTemplates/bad/config.yaml",
        "events:\n  - command: deploy\n    action: install\n  - command: x\n",
    )?;
    let err = fails(t.repo.templates()?.load("bad"))?;
    let text = format!("{}", ErrorChain(&err));
    assert!(matches!(err, TemplateError::ConfigYaml { .. }), "{err:?}");
    assert!(
        text.contains("config.yaml:4:5: `events[1].action` is missing"),
        "{text}"
    );
    // An action the template does not have.
    t.write(
        "actorTemplates/bad/config.yaml",
        "events:\n  - command: deploy\n    action: instal\n",
    )?;
    let err = fails(t.repo.templates()?.load("bad"))?;
    match &err {
        TemplateError::Malformed { at, reason, .. } => {
            assert!(at.file.ends_with("config.yaml") && at.line == 2, "{at}");
            assert!(
                reason.contains("`events[0].action`") && reason.contains("`instal`"),
                "{reason}"
            );
        }
        other => return Err(format!("unexpected {other:?}").into()),
    }
    // A blueprint using it fails the same way, and writes nothing.
    let bp = fails(
        t.repo
            .apply_blueprint_text("bp.yaml", "bad__x:\n", ApplyOptions::default()),
    )?;
    assert!(matches!(bp, CoreError::Blueprint(_)), "{bp:?}");
    assert!(t.repo.actor("bad")?.is_none());
    Ok(())
}
both!(bad_events_entries_are_template_errors, template_errors);

fn export_restore(b: Backend) -> TestResult {
    let t = repo(b)?;
    let before = t.repo.actor("web")?.ok_or("no actor")?;
    t.repo.export(None)?;
    t.repo.restore(None)?;
    let after = t.repo.actor("web")?.ok_or("no actor")?;
    assert_eq!(after.events, before.events);
    assert_eq!(
        targets(&t, &event("restart", &[], "s3cret", ""))?,
        ["web!w1:start", "web!w2:start"]
    );
    Ok(())
}
both!(actor_events_survive_export_and_restore, export_restore);

/// An error and its causes, `: `-separated.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}
