//! Public API tests: HRD documents, schema errors, relations, actor.hrd, config.yaml and
//! property tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ays_hrd::{
    ActorConfig, ActorSchema, CapnpStyle, ConfigYaml, DefaultValue, FieldType, HrdError,
    ValidationError, ValidationRule, Value, parse_document, print_document,
};
use proptest::prelude::*;

#[path = "api/fuzz.rs"]
mod fuzz;

// ---------------------------------------------------------------- general HRD

#[test]
fn document_reads_keys_quotes_lists_and_blocks() {
    let src = "\
# header comment
a.b.c = 1
name = 'web, 1' # trailing comment
pw = abc#def
ratio = 0.5
on = True
hosts = a, 'b, c', d,
one = x,
empty = ,
brackets = [1, 2]
kv = k: v, n: 3,
url = 'http://h/p'
text =
    line one
    line 'two' end

recurring.monitor =
    period: 30s,
    # a comment inside a block
    log: True,

flists.global =
\tnamespace: 'main', mountpoint: '/tmp/x', store_url: 'http://host:8080',
";
    let doc = parse_document(src, "x.hrd").unwrap();
    let s = |v: &str| Value::Str(v.into());
    let got: Vec<(&str, &Value)> = doc
        .entries()
        .iter()
        .map(|e| (e.key.as_str(), &e.value))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a.b.c", &Value::Int(1)),
            ("name", &s("web, 1")),
            ("pw", &s("abc#def")),
            ("ratio", &Value::Float(0.5)),
            ("on", &Value::Bool(true)),
            ("hosts", &Value::List(vec![s("a"), s("b, c"), s("d")])),
            ("one", &Value::List(vec![s("x")])),
            ("empty", &Value::List(vec![])),
            ("brackets", &Value::List(vec![Value::Int(1), Value::Int(2)])),
            (
                "kv",
                &Value::Dict(vec![("k".into(), s("v")), ("n".into(), Value::Int(3))])
            ),
            ("url", &s("http://h/p")),
            ("text", &s("line one\nline 'two' end")),
            (
                "recurring.monitor",
                &Value::Dict(vec![
                    ("period".into(), s("30s")),
                    ("log".into(), Value::Bool(true))
                ])
            ),
            (
                "flists.global",
                &Value::Dict(vec![
                    ("namespace".into(), s("main")),
                    ("mountpoint".into(), s("/tmp/x")),
                    ("store_url".into(), s("http://host:8080")),
                ])
            ),
        ]
    );
    let e = doc.entry("recurring.monitor").unwrap();
    assert_eq!((e.at.line, e.at.column, &*e.at.file), (17, 1, "x.hrd"));
    let prefixed: Vec<&str> = doc.with_prefix("recurring").map(|(rest, _)| rest).collect();
    assert_eq!(prefixed, ["monitor"]);
}

/// Bad inputs with their rendered error messages, reviewed in one snapshot.
const BAD_HRD: &[&str] = &[
    "no equals sign here\n",
    "a..b = 1\n",
    "a = 1\na = 2\n",
    "a = 'open\n",
    "url = http://h/p\n",
    "block =\n    one,\n    two,\nswallowed = 1\n",
    "list =\n    a,\n    b\n    c,\n",
    "dict =\n    a: 1,\n    nope,\n",
    "mixed = a: 1, b,\n",
    "q = 'a' b\n",
    "@prepend $x\n",
    "x = [1, [2]]\n",
];

const BAD_SCHEMA: &[&str] = &[
    "a = type:ipaddrr\n",
    "a = type:str colour:red\n",
    "a = type:str type:int\n",
    "a = type\n",
    "a..b = type:str\n",
    "Foo = type:str\n",
    "a-b = type:str\n",
    "a.b = type:str\na_b = type:int\n",
    "a = type:int default:abc\n",
    "a = type:bool default:yes\n",
    "a = type:ipaddr default:'300.1.1.1'\n",
    "a = type:str consume:x:5:1\n",
    "a = type:str consume:x,y\n",
    "a = type:str consume:x:300\n",
    "a = type:bool regex:'x'\n",
    "a = type:str regex:'('\n",
    "a = type:bool minval:1\n",
    "a = minval:5 maxval:1\n",
    "a = type:set list\n",
    "a = descr:'unterminated\n",
    "no equals\n",
    "a = type:int default:99999999999999999999\n",
    "a = type:ipport default:0\n",
];

const BAD_ACTOR: &[&str] = &[
    "recurring.monitor =\n    period: 30x,\n    log: True,\n",
    "recurring.monitor =\n    period: 0s,\n",
    "recurring.monitor =\n    log: True,\n",
    "recurring.monitor = 30s\n",
    "recurring.monitor =\n    period: 5m,\n    colour: red,\n",
    "recurring.monitor =\n    period: 5m,\n    log: maybe,\n",
];

const BAD_CONFIG_YAML: &[&str] = &[
    "links:\n  consume: [\n",
    "retries: {install: 1, install: 2}\n",
    "links:\n  parent:\n    argname: vdc\n",
    "links:\n  consume:\n    - role: sshkey\n      min: '1'\n",
    "recurring:\n  - action: monitor\n    period: 30x\n",
    "recurring:\n  - action: monitor\n",
    "concurrency: 0\n",
    "timeouts:\n  install: [2m]\n",
    "depends:\n  ~: [install]\n",
];

/// Each input with its error message; `parse` renders the message.
fn render_errors(
    title: &str,
    inputs: &[&str],
    parse: impl Fn(&str) -> Result<(), String>,
) -> String {
    let mut out = format!("## {title}\n");
    for input in inputs {
        let message = match parse(input) {
            Ok(()) => panic!("{title}: expected an error for {input:?}"),
            Err(message) => message,
        };
        out.push_str(&format!("{input:?}\n  => {message}\n"));
    }
    out
}

/// `e` and its causes, separated by `: `.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    message
}

#[test]
fn bad_inputs_render_located_errors() {
    let message = |e: HrdError| e.to_string();
    let mut out = render_errors("hrd", BAD_HRD, |s| {
        parse_document(s, "bad.hrd").map(drop).map_err(message)
    });
    out.push_str(&render_errors("schema.hrd", BAD_SCHEMA, |s| {
        ActorSchema::parse(s, "schema.hrd")
            .map(drop)
            .map_err(message)
    }));
    out.push_str(&render_errors("actor.hrd", BAD_ACTOR, |s| {
        ActorConfig::parse_actor_hrd(s, "actor.hrd")
            .map(drop)
            .map_err(message)
    }));
    // With the causes, as `ays` prints them.
    out.push_str(&render_errors("config.yaml", BAD_CONFIG_YAML, |s| {
        ConfigYaml::parse(s, "config.yaml")
            .map(drop)
            .map_err(|e| with_causes(&e))
    }));
    insta::assert_snapshot!(out);
}

#[test]
fn errors_carry_variant_fields() {
    match parse_document("block =\n    one,\nlost = 1\n", "f.hrd").unwrap_err() {
        HrdError::LineAfterBlock { at, key, found } => {
            assert_eq!(
                (at.line, at.column, key.as_str(), found.as_str()),
                (3, 1, "block", "lost = 1")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    match ActorSchema::parse("a.b = type:str\n\na_b = type:int\n", "s.hrd").unwrap_err() {
        HrdError::NameCollision {
            at,
            field,
            name,
            other,
            other_at,
        } => {
            assert_eq!(
                (
                    at.line,
                    field.as_str(),
                    name.as_str(),
                    other.as_str(),
                    other_at.line
                ),
                (3, "a_b", "aB", "a.b", 1)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    match ActorSchema::parse("x = type:str\nport = type:tcp\n", "s.hrd").unwrap_err() {
        HrdError::UnknownType { at, field, name } => {
            assert_eq!(
                (at.to_string(), field.as_str(), name.as_str()),
                ("s.hrd:2:8".into(), "port", "tcp")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------------------- schema.hrd

#[test]
fn schema_fields_carry_options_and_rules() {
    let src = "\
ip = type:ipaddr descr:'the__address' @ASk default:'::1'
name = type:str regex:'[a-z]+' default:abc alias:'n,nm'
level = minval:1 maxval:10
ports = list type:int default:'1, 2'
a = type:str
a = type:int default:3
";
    let schema = ActorSchema::parse(src, "schema.hrd").unwrap();
    let names: Vec<(&str, &str, String)> = schema
        .fields()
        .iter()
        .map(|f| (f.raw_name(), f.name(), f.capnp_type()))
        .collect();
    assert_eq!(
        names,
        [
            ("ip", "ip", "Text".to_owned()),
            ("name", "name", "Text".into()),
            ("level", "level", "Int64".into()),
            ("ports", "ports", "List(Int64)".into()),
            ("a", "a", "Int64".into()),
        ]
    );
    let ip = schema.field("ip").unwrap();
    assert_eq!(ip.field_type(), FieldType::IpAddr);
    assert_eq!(ip.validation_rule(), ValidationRule::IpAddr);
    assert_eq!(ip.description(), Some("the address"));
    assert!(ip.asks());
    assert_eq!(ip.default(), Some(&DefaultValue::Text("::1".into())));
    assert_eq!(
        ip.validate("nope"),
        Err(ValidationError::Format {
            value: "nope".into(),
            expected: "an IPv4 or IPv6 address"
        })
    );
    assert_eq!(
        ip.parse_value("10.1.2.3"),
        Ok(DefaultValue::Text("10.1.2.3".into()))
    );
    let typed = ActorSchema::parse(
        "d = type:date\np = type:ipport\ns = type:set\nb = type:bool\n",
        "t.hrd",
    )
    .unwrap();
    let parsed: Vec<Result<DefaultValue, ValidationError>> = [
        ("d", "1970-01-02"),
        ("p", "443"),
        ("s", "a, b"),
        ("b", "TRUE"),
        ("s", "a, a"),
    ]
    .iter()
    .map(|(f, v)| typed.field(f).unwrap().parse_value(v))
    .collect();
    assert_eq!(
        parsed,
        [
            Ok(DefaultValue::Int(86_400)),
            Ok(DefaultValue::Int(443)),
            Ok(DefaultValue::List(vec![
                DefaultValue::Text("a".into()),
                DefaultValue::Text("b".into())
            ])),
            Ok(DefaultValue::Bool(true)),
            Err(ValidationError::DuplicateItem {
                value: "a, a".into(),
                item: "a".into()
            }),
        ]
    );
    let name = schema.field("name").unwrap();
    assert_eq!(name.regex(), Some("[a-z]+"));
    assert_eq!(
        name.other_options(),
        [("alias".to_owned(), "n,nm".to_owned())]
    );
    assert_eq!(
        name.validate("abc1"),
        Err(ValidationError::NoMatch {
            value: "abc1".into(),
            pattern: "[a-z]+".into()
        })
    );
    let level = schema.field("level").unwrap();
    assert_eq!((level.minval(), level.maxval()), (Some(1.0), Some(10.0)));
    assert_eq!(level.validate("5"), Ok(()));
    assert_eq!(
        level.validate("11"),
        Err(ValidationError::OutOfRange {
            value: "11".into(),
            min: "1".into(),
            max: "10".into()
        })
    );
    assert_eq!(
        schema.field("ports").unwrap().default(),
        Some(&DefaultValue::List(vec![
            DefaultValue::Int(1),
            DefaultValue::Int(2)
        ]))
    );
    assert_eq!(
        schema.field("a").unwrap().default(),
        Some(&DefaultValue::Int(3))
    );
    assert_eq!(schema.field("a").unwrap().location().line, 6);
}

#[test]
fn relations_follow_8_1() {
    let src = "\
vdc = type:str parent:'vdc.main' auto optional
sshkey = type:str consume:sshkey:1  auto
disk.list = type:str list consume:disk:0
fs = type:str consume:fs.btrfs:1:2
";
    let schema = ActorSchema::parse(src, "schema.hrd").unwrap();
    let p = schema.parent().unwrap();
    assert_eq!(
        (
            p.role.as_str(),
            p.raw_role.as_str(),
            p.auto,
            p.optional,
            p.arg_key.as_str(),
            p.arg_name.as_str()
        ),
        ("vdc", "vdc.main", true, true, "vdc", "vdc")
    );
    let c: Vec<(&str, &str, u8, u8, bool, &str, &str)> = schema
        .consumes()
        .iter()
        .map(|c| {
            (
                c.role.as_str(),
                c.raw_role.as_str(),
                c.min,
                c.max,
                c.auto,
                c.arg_key.as_str(),
                c.arg_name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        c,
        [
            ("sshkey", "sshkey", 1, 100, true, "sshkey", "sshkey"),
            ("disk", "disk", 0, 100, false, "disk.list", "diskList"),
            ("fs", "fs.btrfs", 1, 2, false, "fs", "fs"),
        ]
    );
    assert_eq!(
        schema.field("diskList").map(|f| f.raw_name()),
        Some("disk.list")
    );
    // A second parent (test_network_configuration in 8.1): the first is the parent, the second
    // a plain field, named for a warning.
    let two =
        ActorSchema::parse("a = type:str parent:x\nb = type:str parent:y\n", "s.hrd").unwrap();
    assert_eq!(two.parent().map(|p| p.role.as_str()), Some("x"));
    assert!(two.consumes().is_empty());
    let ignored: Vec<String> = two
        .ignored_parents()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ignored,
        [
            "s.hrd:2:1: field `b` declares a second parent: it is a plain field, and field `a` at s.hrd:1:1 the parent"
        ]
    );
}

#[test]
fn empty_schema_gives_empty_struct_and_bad_actor_name_fails() {
    let schema = ActorSchema::parse("# nothing\n\n", "schema.hrd").unwrap();
    let text = schema.to_capnp("empty", CapnpStyle::Ays81).unwrap();
    assert!(text.ends_with(";\nstruct Schema {\n\n}\n"), "{text}");
    assert!(matches!(
        schema.to_capnp("", CapnpStyle::Ays82),
        Err(HrdError::BadActorName {
            reason: "the name is empty",
            ..
        })
    ));
}

// ---------------------------------------------------------------- actor.hrd and config.yaml

const ACTOR_HRD: &str = "\
recurring.monitor =
    period: 30s,
    log: True,

recurring.backup =
    period: 1d,
    log: false,

recurring.check = period: 1h30m, log: 'False',
flists.global =
    namespace: 'main', mountpoint: '/tmp/x', mode: 'ro',
";

#[test]
fn actor_hrd_gives_recurring_actions() {
    let config = ActorConfig::parse_actor_hrd(ACTOR_HRD, "actor.hrd").unwrap();
    let got: Vec<(&str, Duration, bool, u32)> = config
        .recurring()
        .iter()
        .map(|r| (r.action.as_str(), r.period, r.log, r.at.line))
        .collect();
    assert_eq!(
        got,
        [
            ("monitor", Duration::from_secs(30), true, 1),
            ("backup", Duration::from_secs(86_400), false, 5),
            ("check", Duration::from_secs(5_400), false, 9),
        ]
    );
    let flist = config.document().get("flists.global").unwrap();
    assert_eq!(flist.dict_get("mode"), Some(&Value::Str("ro".into())));
}

const CONFIG_SCHEMA: &str = "\
image = type:str default:'Ubuntu 16.04 x64' descr:'the \"OS\" image: x'
vdc = type:str parent:'vdc' auto
sshkey = type:str consume:sshkey:1  auto
disk = type:str list consume:disk:0
fs = type:str consume:fs.btrfs:1:50
";

#[test]
fn config_yaml_snapshot_and_parses_back() {
    let schema = ActorSchema::parse(CONFIG_SCHEMA, "schema.hrd").unwrap();
    let config = ActorConfig::parse_actor_hrd(ACTOR_HRD, "actor.hrd").unwrap();
    let yaml = ConfigYaml::from_hrd(&schema, Some(&config)).to_yaml();
    insta::assert_snapshot!(yaml);
    assert_eq!(yaml, ConfigYaml::from_hrd(&schema, Some(&config)).to_yaml());

    let back = ConfigYaml::parse(&yaml, "config.yaml").unwrap();
    assert_eq!(back.to_yaml(), yaml);
    let parent = back.parent.as_ref().unwrap();
    assert_eq!(
        (
            parent.role.as_str(),
            parent.arg_name.as_str(),
            parent.auto,
            parent.optional
        ),
        ("vdc", "vdc", true, false)
    );
    let consumes: Vec<(&str, &str, bool, u32, u32)> = back
        .consumes
        .iter()
        .map(|c| (c.role.as_str(), c.arg_name.as_str(), c.auto, c.min, c.max))
        .collect();
    assert_eq!(
        consumes,
        [
            ("sshkey", "sshkey", true, 1, 100),
            ("disk", "disk", false, 0, 100),
            ("fs.btrfs", "fs", false, 1, 50),
        ]
    );
    let properties: Vec<(&str, &str)> = back
        .properties
        .iter()
        .map(|p| (p.name.as_str(), p.description.as_str()))
        .collect();
    assert_eq!(
        properties,
        [
            ("image", "the \"OS\" image: x"),
            ("vdc", ""),
            ("sshkey", ""),
            ("disk", ""),
            ("fs", ""),
        ]
    );
    let recurring: Vec<(&str, Duration, bool, u32)> = back
        .recurring
        .iter()
        .map(|r| (r.action.as_str(), r.period, r.log, r.at.line))
        .collect();
    assert_eq!(
        recurring,
        [
            ("monitor", Duration::from_secs(30), true, 31),
            ("backup", Duration::from_secs(86_400), false, 34),
            ("check", Duration::from_secs(5_400), false, 37),
        ]
    );

    let bare = ActorSchema::parse("a = type:str\n", "schema.hrd").unwrap();
    let yaml = ConfigYaml::from_hrd(&bare, None).to_yaml();
    assert_eq!(
        yaml,
        "links:\n  consume: []\ndoc:\n  property:\n    - a: \"\"\nrecurring: []\n"
    );
    let back = ConfigYaml::parse(&yaml, "config.yaml").unwrap();
    assert_eq!(
        (back.parent, back.consumes.len(), back.recurring.len()),
        (None, 0, 0)
    );
}

// ---------------------------------------------------------------- property tests

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsers_never_panic(src in "(?s).{0,300}") {
        let _ = parse_document(&src, "p.hrd");
        let _ = ActorSchema::parse(&src, "p.hrd").map(|s| s.to_capnp("p", CapnpStyle::Ays82));
        let _ = ActorConfig::parse_actor_hrd(&src, "p.hrd");
        let _ = ConfigYaml::parse(&src, "p.yaml");
    }

    #[test]
    fn parsers_never_panic_on_hrd_like_lines(lines in proptest::collection::vec(
        "[ \t]{0,2}[a-z._@#]{0,6}[ ]?=?[ ]?[a-zA-Z0-9:,'\"\\[\\]#@ ._-]{0,20}", 0..12)) {
        let src = lines.join("\n");
        let _ = parse_document(&src, "p.hrd");
        let _ = ActorSchema::parse(&src, "p.hrd").map(|s| s.to_capnp("p", CapnpStyle::Ays81));
        let _ = ActorConfig::parse_actor_hrd(&src, "p.hrd");
    }

    #[test]
    fn print_then_parse_round_trips(entries in proptest::collection::btree_map("[a-z][a-z0-9_]{0,5}(\\.[a-z0-9]{1,4}){0,2}", value(), 0..8)) {
        let doc = ays_hrd::Document::from_entries(
            entries
                .into_iter()
                .map(|(key, value)| ays_hrd::Entry { at: ays_hrd::Location::new("gen", 1, 1), key, value })
                .collect(),
        );
        let text = print_document(&doc).unwrap();
        let back = parse_document(&text, "printed.hrd").unwrap();
        let pairs = |d: &ays_hrd::Document| d.entries().iter().map(|e| (e.key.clone(), e.value.clone())).collect::<Vec<_>>();
        prop_assert_eq!(pairs(&back), pairs(&doc), "printed:\n{}", text);
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-zA-Z0-9 ,:#'._/-]{0,12}".prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        (-1.0e9f64..1.0e9).prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let nested = prop_oneof![
        scalar(),
        proptest::collection::vec(scalar(), 0..3).prop_map(Value::List)
    ];
    prop_oneof![
        scalar(),
        proptest::collection::vec(nested.clone(), 0..4).prop_map(Value::List),
        proptest::collection::vec(("[a-z][a-z0-9_]{0,4}", nested), 1..4).prop_map(Value::Dict),
    ]
}

/// A valid `schema.hrd` line: a unique name (`f<i>` plus a dotted or snake suffix) and
/// options in random order.
fn schema_line(i: usize) -> impl Strategy<Value = (String, String, String)> {
    let ty = prop_oneof![
        Just(("str", "Text", "'x y'")),
        Just(("int", "Int64", "-3")),
        Just(("bool", "Bool", "False")),
        Just(("float", "Float32", "1.5")),
        Just(("ipaddr", "Text", "'10.0.0.1'")),
        Just(("duration", "Int64", "5m")),
    ];
    (
        ty,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(""), Just(".a_b"), Just("_c.d")],
    )
        .prop_map(move |((t, capnp, default), list, with_default, suffix)| {
            let raw = format!("f{i}{suffix}");
            let mut opts = vec![format!("type:{t}")];
            if list {
                opts.push("list".into());
            }
            if with_default && !list {
                opts.push(format!("default:{default}"));
            }
            opts.push("descr:'some words'".into());
            opts.reverse();
            let capnp = if list {
                format!("List({capnp})")
            } else {
                capnp.to_owned()
            };
            (raw.clone(), format!("{raw} = {}", opts.join(" ")), capnp)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn valid_schemas_convert_with_dense_ordinals(lines in (1usize..10).prop_flat_map(|n| {
        (0..n).map(schema_line).collect::<Vec<_>>()
    })) {
        let src: String = lines.iter().map(|(_, l, _)| format!("{l}\n\n")).collect();
        let schema = ActorSchema::parse(&src, "gen.hrd").unwrap();
        prop_assert_eq!(schema.fields().len(), lines.len());
        let text = schema.to_capnp("gen", CapnpStyle::Ays81).unwrap();
        let field_lines: Vec<&str> = text.lines().filter(|l| l.starts_with('\t')).collect();
        for (n, ((raw, _, capnp), line)) in lines.iter().zip(&field_lines).enumerate() {
            let field = schema.field(raw).unwrap();
            prop_assert_eq!(*line, format!("\t{} @{n} :{capnp};", field.name()));
        }
    }
}
