use proptest::prelude::*;

use super::*;
use crate::duration::DurationError;

fn parse(src: &str) -> ConfigYaml {
    ConfigYaml::parse(src, "c.yaml").unwrap()
}

fn error(src: &str) -> ConfigYamlError {
    ConfigYaml::parse(src, "c.yaml").unwrap_err()
}

fn at(line: usize, column: usize) -> Location {
    Location::new("c.yaml", line, column)
}

#[test]
fn every_section_reads_with_its_locations() {
    let config = parse(
        "links:\n  parent:\n    role: node.ssh\n    argname: node\n    auto: true\n  consume:\n    - role: sshkey\n      argname: keys\n      min: 1\n      max: 3\ndoc:\n  property:\n    - node: \"the node\"\nrecurring:\n  - action: monitor\n    period: 5m\n    log: false\nconcurrency: 2\ntimeouts:\n  - install: 2m\nretries:\n  install: '3'\nretry_delay: {install: 0}\nretry_max_delay: {install: 1h}\ndepends:\n  test: [install]\n  start: init, install\n",
    );
    assert_eq!(
        config.parent,
        Some(ParentLink {
            role: "node.ssh".into(),
            arg_name: "node".into(),
            auto: true,
            optional: false,
            at: at(3, 5),
        })
    );
    assert_eq!(
        config.consumes,
        [ConsumeLink {
            role: "sshkey".into(),
            arg_name: "keys".into(),
            auto: false,
            min: 1,
            max: 3,
            at: at(7, 7),
        }]
    );
    assert_eq!(
        config.properties,
        [PropertyDoc {
            name: "node".into(),
            description: "the node".into(),
            at: at(13, 7),
        }]
    );
    assert_eq!(
        config.recurring,
        [RecurringAction {
            action: "monitor".into(),
            period: Duration::from_secs(300),
            log: false,
            at: at(15, 5),
        }]
    );
    assert_eq!(config.concurrency, NonZeroU32::new(2));
    let located = |secs, line, column| Located {
        value: Duration::from_secs(secs),
        at: at(line, column),
    };
    assert_eq!(config.timeouts["install"], located(120, 20, 14));
    assert_eq!(
        config.retries["install"],
        Located {
            value: 3,
            at: at(22, 12)
        }
    );
    assert_eq!(config.retry_delays["install"], located(0, 23, 24));
    assert_eq!(config.retry_max_delays["install"], located(3_600, 24, 28));
    let names = |action: &str| -> Vec<(String, u32, u32)> {
        config.depends[action]
            .iter()
            .map(|n| (n.value.clone(), n.at.line, n.at.column))
            .collect()
    };
    assert_eq!(names("test"), [("install".to_owned(), 26, 10)]);
    assert_eq!(
        names("start"),
        [("init".to_owned(), 27, 10), ("install".to_owned(), 27, 10)]
    );
}

#[test]
fn semantic_errors_name_their_line_column_and_field() {
    let wrong = |line, column, field: &str, expected, found: &str| ConfigYamlError::WrongType {
        at: at(line, column),
        field: field.into(),
        expected,
        found: found.into(),
    };
    let cases = [
        (
            "recurring:\n  - action: monitor\n    period: 5x\n",
            ConfigYamlError::BadDuration {
                at: at(3, 13),
                field: "recurring[0].period".into(),
                text: "5x".into(),
                source: DurationError::UnknownUnit,
            },
        ),
        (
            "recurring:\n  - action: monitor\n    log: true\n",
            ConfigYamlError::Missing {
                at: at(2, 5),
                field: "recurring[0].period".into(),
            },
        ),
        (
            "recurring:\n  - action: [monitor]\n    period: 5m\n",
            wrong(2, 13, "recurring[0].action", "a string", "a list"),
        ),
        (
            "recurring:\n  - monitor\n",
            wrong(
                2,
                5,
                "recurring[0]",
                "a mapping with an `action` and a `period`",
                "the string `monitor`",
            ),
        ),
        (
            "links:\n  parent:\n    argname: vdc\n",
            ConfigYamlError::Missing {
                at: at(3, 5),
                field: "links.parent.role".into(),
            },
        ),
        (
            "links:\n  consume:\n    - role: sshkey\n    - role: disk\n      min: '1'\n",
            wrong(5, 12, "links.consume[1].min", "a count", "the string `1`"),
        ),
        (
            "links:\n  consume:\n    - role: sshkey\n      max: -1\n",
            wrong(4, 12, "links.consume[0].max", "a count", "`-1`"),
        ),
        (
            "concurrency: 0\n",
            wrong(1, 14, "concurrency", "a count of at least 1", "`0`"),
        ),
        (
            "retries:\n  install: 1.5\n",
            wrong(2, 12, "retries.install", "a count", "`1.5`"),
        ),
        (
            "timeouts:\n  - install: 2m\n  - ~: 3m\n",
            wrong(3, 5, "timeouts", "action names as keys", "null"),
        ),
        (
            "retry_delay: {install: [2s]}\n",
            wrong(
                1,
                24,
                "retry_delay.install",
                "a duration such as `30s`",
                "a list",
            ),
        ),
        (
            "retry_max_delay:\n  start: 1h 30m\n",
            ConfigYamlError::BadDuration {
                at: at(2, 10),
                field: "retry_max_delay.start".into(),
                text: "1h 30m".into(),
                source: DurationError::UnknownUnit,
            },
        ),
        (
            "depends:\n  test: [install]\n  true: [start]\n",
            wrong(3, 3, "depends", "action names as keys", "`true`"),
        ),
    ];
    for (src, expected) in cases {
        assert_eq!(error(src), expected, "{src:?}");
    }
}

#[test]
fn yaml_errors_name_where_the_parser_stopped() {
    let ConfigYamlError::Syntax { at: where_, reason } = error("retries: {a: 1, a: 2}\n") else {
        panic!("expected a syntax error");
    };
    assert_eq!(
        (where_.line, reason.contains("duplicate")),
        (1, true),
        "{reason}"
    );
    let ConfigYamlError::Syntax { at: where_, .. } = error("links:\n  consume: [\n") else {
        panic!("expected a syntax error");
    };
    assert_eq!(where_.line, 3);
}

/// What the ays-core reader accepted stays accepted, read the same way.
#[test]
fn lenient_rules_of_the_old_reader_are_kept() {
    let config = parse(
        "kept: true\nlinks:\n  parent: vdc\n  consume: {}\ndoc: 5\nrecurring: {}\ntimeouts: [5, {install: 30}]\ndepends:\n  test: [install, 5, true, {a: b}]\n  stop: ~\n",
    );
    let expected = ConfigYaml {
        timeouts: BTreeMap::from([(
            "install".to_owned(),
            Located {
                value: Duration::from_secs(30),
                at: at(7, 25),
            },
        )]),
        depends: BTreeMap::from([
            (
                "test".to_owned(),
                vec![
                    Located {
                        value: "install".to_owned(),
                        at: at(9, 10),
                    },
                    Located {
                        value: "5".to_owned(),
                        at: at(9, 19),
                    },
                ],
            ),
            ("stop".to_owned(), Vec::new()),
        ]),
        ..ConfigYaml::default()
    };
    assert_eq!(config, expected);

    let config = parse(
        "links:\n  parent: {role: 5, auto: yes, argname: [x]}\nrecurring:\n  - {action: m, period: 0, log: maybe}\n",
    );
    let parent = config.parent.unwrap();
    assert_eq!(
        (parent.role.as_str(), parent.arg_name.as_str(), parent.auto),
        ("5", "5", false)
    );
    let m = &config.recurring[0];
    assert_eq!((m.period, m.log), (Duration::ZERO, true));

    for empty in ["", "# nothing\n", "---\n", "just text\n", "[1, 2]\n"] {
        assert_eq!(parse(empty), ConfigYaml::default(), "{empty:?}");
    }
}

/// Every location set to one place, to compare what was read with what was written.
fn unlocated(mut config: ConfigYaml) -> ConfigYaml {
    let nowhere = Location::new("", 0, 0);
    if let Some(p) = &mut config.parent {
        p.at = nowhere.clone();
    }
    for c in &mut config.consumes {
        c.at = nowhere.clone();
    }
    for p in &mut config.properties {
        p.at = nowhere.clone();
    }
    for r in &mut config.recurring {
        r.at = nowhere.clone();
    }
    for e in &mut config.events {
        e.at = nowhere.clone();
    }
    for map in [
        &mut config.timeouts,
        &mut config.retry_delays,
        &mut config.retry_max_delays,
    ] {
        for v in map.values_mut() {
            v.at = nowhere.clone();
        }
    }
    for v in config.retries.values_mut() {
        v.at = nowhere.clone();
    }
    for v in config.depends.values_mut().flatten() {
        v.at = nowhere.clone();
    }
    config
}

fn somewhere() -> Location {
    Location::new("gen", 1, 1)
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-zA-Z0-9_.]{0,8}",
        "(?s).{0,8}",
        Just("true".to_owned()),
        Just(String::new()),
    ]
}

fn located<T: std::fmt::Debug + Clone>(
    value: impl Strategy<Value = T>,
) -> impl Strategy<Value = Located<T>> {
    value.prop_map(|value| Located {
        value,
        at: somewhere(),
    })
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..200_000).prop_map(Duration::from_secs),
        any::<u64>().prop_map(Duration::from_secs),
    ]
}

fn by_action<T: std::fmt::Debug + Clone>(
    value: impl Strategy<Value = T>,
) -> impl Strategy<Value = BTreeMap<String, Located<T>>> {
    proptest::collection::btree_map(any_text(), located(value), 0..3)
}

fn any_config() -> impl Strategy<Value = ConfigYaml> {
    let parent = proptest::option::of(
        (any_text(), any_text(), any::<bool>(), any::<bool>()).prop_map(
            |(role, arg_name, auto, optional)| ParentLink {
                role,
                arg_name,
                auto,
                optional,
                at: somewhere(),
            },
        ),
    );
    let consume = (
        any_text(),
        any_text(),
        any::<bool>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(role, arg_name, auto, min, max)| ConsumeLink {
            role,
            arg_name,
            auto,
            min,
            max,
            at: somewhere(),
        });
    let property = (any_text(), any_text()).prop_map(|(name, description)| PropertyDoc {
        name,
        description,
        at: somewhere(),
    });
    let recurring =
        (any_text(), any_duration(), any::<bool>()).prop_map(|(action, period, log)| {
            RecurringAction {
                action,
                period,
                log,
                at: somewhere(),
            }
        });
    let links = (parent, proptest::collection::vec(consume, 0..3));
    let docs = (
        proptest::collection::vec(property, 0..3),
        proptest::collection::vec(recurring, 0..3),
    );
    let settings = (
        proptest::option::of(any::<NonZeroU32>()),
        by_action(any_duration()),
        by_action(any::<u32>()),
        by_action(any_duration()),
        by_action(any_duration()),
        proptest::collection::btree_map(
            any_text(),
            proptest::collection::vec(located(any_text()), 0..3),
            0..3,
        ),
    );
    (links, docs, settings).prop_map(
        |(
            (parent, consumes),
            (properties, recurring),
            (concurrency, timeouts, retries, retry_delays, retry_max_delays, depends),
        )| ConfigYaml {
            parent,
            consumes,
            properties,
            recurring,
            concurrency,
            timeouts,
            retries,
            retry_delays,
            retry_max_delays,
            depends,
            events: Vec::new(),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn what_is_written_reads_back_equal(config in any_config()) {
        let text = config.to_yaml();
        let back = ConfigYaml::parse(&text, "written.yaml")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back.to_yaml(), text.clone());
        prop_assert_eq!(unlocated(back), unlocated(config), "written:\n{}", text);
    }

    #[test]
    fn the_reader_never_panics(src in "(?s).{0,200}") {
        let _ = ConfigYaml::parse(&src, "p.yaml");
    }

    #[test]
    fn the_reader_never_panics_on_yaml_like_lines(lines in proptest::collection::vec(
        "[ ]{0,4}-?[ ]?(links|parent|consume|role|min|recurring|action|period|timeouts|retries|depends|concurrency|doc|property|[a-z]{1,3})?:?[ ]?[a-z0-9\\[\\]{},:'\"~ -]{0,12}",
        0..12,
    )) {
        let _ = ConfigYaml::parse(&lines.join("\n"), "p.yaml");
    }
}

#[test]
fn strings_with_unprintable_characters_read_back() {
    let odd = "a\u{fffe}\u{ffff}\u{85}\u{7f}\u{a0}\u{10ffff}\u{2028}\u{feff}\u{0}\u{1b}z";
    let config = ConfigYaml {
        recurring: vec![RecurringAction {
            action: odd.to_owned(),
            period: Duration::from_secs(1),
            log: true,
            at: somewhere(),
        }],
        properties: vec![PropertyDoc {
            name: odd.to_owned(),
            description: odd.to_owned(),
            at: somewhere(),
        }],
        ..ConfigYaml::default()
    };
    let back = ConfigYaml::parse(&config.to_yaml(), "w.yaml").unwrap();
    assert_eq!(unlocated(back), unlocated(config));
}

#[test]
fn a_recurring_mapping_with_entries_is_an_error_and_an_empty_one_is_none() {
    let err = error("recurring:\n  monitor: 5m\n");
    assert!(
        matches!(&err, ConfigYamlError::WrongType { field, .. } if field == "recurring"),
        "{err:?}"
    );
    assert!(err.to_string().contains("c.yaml:2"), "{err}");
    for empty in ["recurring: {}\n", "recurring:\n", "recurring: []\n"] {
        assert!(parse(empty).recurring.is_empty(), "{empty}");
    }
}

#[test]
fn events_read_with_defaults_and_write_back() {
    let config = parse(
        "events:\n  - command: deploy\n    action: install\n    tags: [prod, eu]\n    secret: s3\n    channel: webservice\n  - command: 5\n    action: monitor\n    tags: solo\n",
    );
    assert_eq!(
        config.events,
        [
            EventEntry {
                command: "deploy".into(),
                action: "install".into(),
                tags: vec!["prod".into(), "eu".into()],
                secret: "s3".into(),
                channel: "webservice".into(),
                at: at(2, 5),
            },
            EventEntry {
                command: "5".into(),
                action: "monitor".into(),
                tags: vec!["solo".into()],
                secret: String::new(),
                channel: String::new(),
                at: at(7, 5),
            },
        ]
    );
    let back = ConfigYaml::parse(&config.to_yaml(), "c.yaml").unwrap();
    let strip = |c: &ConfigYaml| -> Vec<(String, String, Vec<String>, String, String)> {
        c.events
            .iter()
            .map(|e| {
                (
                    e.command.clone(),
                    e.action.clone(),
                    e.tags.clone(),
                    e.secret.clone(),
                    e.channel.clone(),
                )
            })
            .collect()
    };
    assert_eq!(strip(&back), strip(&config));
    for empty in ["events: {}\n", "events:\n", "events: []\n", "x: 1\n"] {
        assert!(parse(empty).events.is_empty(), "{empty}");
    }
}

#[test]
fn bad_events_name_their_line_and_field() {
    for (src, field, line) in [
        ("events:\n  - action: install\n", "events[0].command", 2),
        ("events:\n  - command: deploy\n", "events[0].action", 2),
        (
            "events:\n  - command: a\n    action: b\n  - command: ''\n    action: b\n",
            "events[1].command",
            4,
        ),
        (
            "events:\n  - command: a\n    action: b\n    tags: [x, {y: 1}]\n",
            "events[0].tags[1]",
            4,
        ),
        (
            "events:\n  - command: a\n    action: b\n    tags: {x: 1}\n",
            "events[0].tags",
            4,
        ),
        (
            "events:\n  - command: a\n    action: b\n    secret: [x]\n",
            "events[0].secret",
            4,
        ),
        (
            "events:\n  - command: a\n    action: b\n    channel: {c: 1}\n",
            "events[0].channel",
            4,
        ),
        ("events:\n  - deploy\n", "events[0]", 2),
        ("events: deploy\n", "events", 1),
        ("events: {deploy: install}\n", "events", 1),
    ] {
        let err = error(src);
        let (at, got) = match &err {
            ConfigYamlError::Missing { at, field }
            | ConfigYamlError::WrongType { at, field, .. } => (at, field),
            other => panic!("{src}: unexpected {other:?}"),
        };
        assert_eq!((got.as_str(), at.line), (field, line), "{src}: {err}");
        assert!(
            err.to_string().starts_with(&format!("c.yaml:{line}:")),
            "{err}"
        );
    }
}
