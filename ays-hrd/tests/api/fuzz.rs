//! Fuzzing of the HRD, `schema.hrd`, `actor.hrd` and `config.yaml` parsers with structured
//! mutations of real inputs: the `schema.hrd` of every AYS 8.1 pair, the 8.1 templates'
//! `actor.hrd` files and the `config.yaml` written from them, truncated, spliced with
//! delimiters, nested deeply and given huge numbers. No parser may panic, and every error must
//! name the file it was given and a line and column within the text.
//!
//! The case counts suit CI; `PROPTEST_CASES=100000 cargo test -p ays-hrd --test api fuzz::`
//! runs a longer session.

use std::path::{Path, PathBuf};

use ays_hrd::{
    ActorConfig, ActorSchema, CapnpStyle, ConfigYaml, HrdError, Location, parse_document,
    print_document,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

// ---------------------------------------------------------------------------------------------
// Seeds, read from the shared fixtures at test time.

fn shared_dir() -> PathBuf {
    std::env::var_os("AYS_SHARED").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
        PathBuf::from,
    )
}

/// Every file called `name` under `dir`, recursively, in path order.
fn files_named(dir: &Path, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let entries = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("fixtures missing: cannot read {} ({e})", d.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n == name) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The `schema.hrd` of every pair and of every 8.1 template.
fn schema_seeds() -> Vec<String> {
    let shared = shared_dir().join("fixtures");
    let pairs = std::fs::read_dir(shared.join("hrd-pairs")).unwrap();
    let mut seeds: Vec<String> = pairs
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .filter_map(|text| {
            let (_, rest) = text.split_once("=== schema.hrd ===\n")?;
            Some(rest.split_once("=== schema.capnp")?.0.to_owned())
        })
        .collect();
    assert_eq!(seeds.len(), 16, "expected 16 hrd pairs");
    seeds.extend(files_named(&shared.join("upstream-81"), "schema.hrd"));
    seeds
}

/// General HRD: the 8.1 `actor.hrd` files and a document using every construct.
fn hrd_seeds() -> Vec<String> {
    let mut seeds = files_named(&shared_dir().join("fixtures/upstream-81"), "actor.hrd");
    assert!(!seeds.is_empty(), "expected actor.hrd files in upstream-81");
    seeds.push(
        "# c\na.b = 1\nname = 'web, 1' # t\nhosts = a, 'b, c',\nkv = k: v, n: 3,\n\
         l = [1, 2.5, true]\ntext =\n    one\n    two\n\nrecurring.monitor =\n    \
         period: 30s,\n    log: True,\n\nflists.x =\n\tnamespace: 'main', url: 'http://h',\n"
            .to_owned(),
    );
    seeds
}

/// The `config.yaml` that `ays template migrate` writes for each seed schema, plus one with
/// every section.
fn yaml_seeds() -> Vec<String> {
    let mut seeds: Vec<String> = schema_seeds()
        .iter()
        .filter_map(|s| ActorSchema::parse(s, "schema.hrd").ok())
        .map(|s| ConfigYaml::from_hrd(&s, None).to_yaml())
        .collect();
    seeds.push(
        "links:\n  parent: {role: vdc, argname: vdc, auto: true}\n  consume:\n    - role: disk\n      \
         min: 1\n      max: 3\nrecurring:\n  - action: monitor\n    period: 1h30m\n    log: false\n\
         concurrency: 2\ntimeouts: [{install: 2m}]\nretries: {install: 3}\ndepends:\n  test: [install]\n"
            .to_owned(),
    );
    seeds
}

// ---------------------------------------------------------------------------------------------
// Text mutations.

const HRD_JUNK: &[&str] = &[
    "=",
    " = ",
    ":",
    ",",
    "'",
    "\"",
    "[",
    "]",
    "#",
    " #",
    "\n",
    "\n\n",
    "\t",
    "    ",
    "@ask",
    "@",
    "type:",
    "type:set list",
    "default:",
    "default:''",
    "parent:",
    "consume:a:1:0",
    "consume:a,b",
    "list",
    "regex:'('",
    "regex:'a)|(?:'",
    "minval:",
    "maxval:1e999",
    "descr:'",
    "99999999999999999999",
    "-9223372036854775809",
    "1e999",
    "recurring.x =\n",
    "period: 0s,",
    "period: 99999999999999w,",
    "log: maybe,",
    "é",
    "\u{0}",
    "\r\n",
    "\r",
    "\u{2028}",
    "a..b",
    "http://h/p",
    "$(x)",
    "_",
    ".",
    "Foo",
    "type:dict default:'{'",
    "type:ipport default:0",
];

const YAML_JUNK: &[&str] = &[
    ":",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "!!int ",
    "!x ",
    "? ",
    "|",
    ">",
    "'",
    "\"",
    "#",
    "\n",
    "\t",
    "  ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "links:",
    "consume:",
    "parent:",
    "min: 99999999999999999999",
    "max: -1",
    "period: 1e999",
    "period: 5m3",
    "concurrency: 0",
    "timeouts:",
    "depends:",
    "\u{0}",
    "é",
    "\r\n",
    "\u{feff}",
];

const HRD_NESTS: &[(&str, &str)] = &[("[", "]"), ("'", "'"), ("a: ", ""), ("    ", "")];
const YAML_NESTS: &[(&str, &str)] = &[("- ", ""), ("[", "]"), ("{a: ", "}"), ("a:\n ", "")];

/// One structural edit of a text, at a character position.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(Index),
    Delete(Index, usize),
    Insert(Index, String),
    Duplicate(Index, usize),
    Nest(Index, (&'static str, &'static str), usize),
}

fn edit(
    junk: &'static [&'static str],
    nests: &'static [(&'static str, &'static str)],
) -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), 1..24usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), select(junk)).prop_map(|(i, s)| Edit::Insert(i, s.to_owned())),
        (any::<Index>(), any::<char>()).prop_map(|(i, c)| Edit::Insert(i, c.to_string())),
        (any::<Index>(), 1..64usize).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        (any::<Index>(), select(nests), 1..12_000usize).prop_map(|(i, p, n)| Edit::Nest(i, p, n)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: &Index| i.index(chars.len() + 1);
    let join = |parts: &[&[char]]| parts.iter().flat_map(|p| p.iter()).collect::<String>();
    match edit {
        Edit::Truncate(i) => join(&[&chars[..at(i)]]),
        Edit::Delete(i, n) => {
            let start = at(i);
            let end = (start + n).min(chars.len());
            join(&[&chars[..start], &chars[end..]])
        }
        Edit::Insert(i, s) => {
            let start = at(i);
            let inserted: Vec<char> = s.chars().collect();
            join(&[&chars[..start], &inserted, &chars[start..]])
        }
        Edit::Duplicate(i, n) => {
            let start = at(i);
            let end = (start + n).min(chars.len());
            join(&[&chars[..end], &chars[start..]])
        }
        Edit::Nest(i, (open, close), n) => {
            let start = at(i);
            let open: Vec<char> = open.repeat(*n).chars().collect();
            let close: Vec<char> = close.repeat(*n).chars().collect();
            join(&[&chars[..start], &open, &chars[start..], &close])
        }
    }
}

fn mutated(
    seeds: Vec<String>,
    junk: &'static [&'static str],
    nests: &'static [(&'static str, &'static str)],
) -> impl Strategy<Value = String> {
    (
        select(seeds),
        proptest::collection::vec(edit(junk, nests), 1..5),
    )
        .prop_map(|(seed, edits)| edits.iter().fold(seed, |text, e| apply(&text, e)))
}

// ---------------------------------------------------------------------------------------------
// Properties.

const FILE: &str = "fuzz/dir/é template.hrd";

/// The lines of `src`: split at LF for HRD (a CR before it is part of the line), and at CR LF,
/// CR or LF for YAML, as each language counts them.
fn lines(src: &str, yaml: bool) -> Vec<String> {
    if yaml {
        src.replace("\r\n", "\n")
            .replace('\r', "\n")
            .split('\n')
            .map(str::to_owned)
            .collect()
    } else {
        src.split('\n').map(str::to_owned).collect()
    }
}

/// Checks that `at` names `FILE` and a line and column within `src` (a column may point just
/// past the end of its line).
fn check_at(src: &str, yaml: bool, at: &Location) -> Result<(), TestCaseError> {
    prop_assert_eq!(&*at.file, FILE);
    let lines = lines(src, yaml);
    let line = usize::try_from(at.line).unwrap_or(usize::MAX);
    prop_assert!(
        line >= 1 && line <= lines.len(),
        "{at}: line out of the text"
    );
    let width = lines[line - 1].chars().count();
    let column = usize::try_from(at.column).unwrap_or(usize::MAX);
    prop_assert!(
        column >= 1 && column <= width + 1,
        "{at}: column out of line {line} ({width} characters)"
    );
    Ok(())
}

/// Checks every location of a parse error, and that its message starts with the first.
fn check_located(src: &str, err: &HrdError) -> Result<(), TestCaseError> {
    let Some(at) = err.location() else {
        return Err(TestCaseError::fail(format!("no location: {err:?}")));
    };
    check_at(src, matches!(err, HrdError::ConfigYaml(_)), at)?;
    prop_assert!(err.to_string().starts_with(&format!("{at}: ")), "{err}");
    match err {
        HrdError::DuplicateKey { first, .. } => check_at(src, false, first)?,
        HrdError::NameCollision { other_at, .. } => check_at(src, false, other_at)?,
        _ => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn mutated_documents_parse_or_fail_located(src in mutated(hrd_seeds(), HRD_JUNK, HRD_NESTS)) {
        match parse_document(&src, FILE) {
            Ok(doc) => {
                // What parses prints back to text that parses to the same values.
                if let Ok(text) = print_document(&doc) {
                    let back = parse_document(&text, "printed.hrd").unwrap();
                    let pairs = |d: &ays_hrd::Document| {
                        d.entries().iter().map(|e| (e.key.clone(), e.value.clone())).collect::<Vec<_>>()
                    };
                    prop_assert_eq!(pairs(&back), pairs(&doc), "printed:\n{}", text);
                }
            }
            Err(err) => check_located(&src, &err)?,
        }
        if let Err(err) = ActorConfig::parse_actor_hrd(&src, FILE) {
            check_located(&src, &err)?;
        }
    }

    #[test]
    fn mutated_schemas_parse_or_fail_located(src in mutated(schema_seeds(), HRD_JUNK, HRD_NESTS)) {
        match ActorSchema::parse(&src, FILE) {
            Ok(schema) => {
                for style in [CapnpStyle::Ays81, CapnpStyle::Ays82] {
                    let text = schema.to_capnp("fuzz", style).unwrap();
                    prop_assert_eq!(text.lines().filter(|l| l.starts_with('\t')).count(), schema.fields().len());
                }
                // The config.yaml written from it reads back.
                let yaml = ConfigYaml::from_hrd(&schema, None).to_yaml();
                let back = ConfigYaml::parse(&yaml, "config.yaml").unwrap();
                prop_assert_eq!(back.consumes.len(), schema.consumes().len());
            }
            Err(err) => check_located(&src, &err)?,
        }
    }

    #[test]
    fn mutated_config_yaml_parses_or_fails_located(src in mutated(yaml_seeds(), YAML_JUNK, YAML_NESTS)) {
        if let Err(err) = ConfigYaml::parse(&src, FILE) {
            check_located(&src, &HrdError::from(err))?;
        }
    }
}

#[test]
fn issue_9_deeply_nested_config_yaml_is_a_located_error_not_a_stack_overflow() {
    for (src, column) in [
        // Block sequences nested on one line; saphyr built and dropped them recursively.
        (format!("{}x\n", "- ".repeat(100_000)), 129),
        (format!("{}x\n", "- ".repeat(64)), 0),
        (format!("links: {}\n", "[".repeat(100)), 71),
    ] {
        let got = ConfigYaml::parse(&src, FILE);
        if column == 0 {
            // 64 levels are read (and then refused for not being a mapping).
            assert!(
                !matches!(got, Err(ays_hrd::ConfigYamlError::TooDeep { .. })),
                "{got:?}"
            );
            continue;
        }
        let err = got.unwrap_err();
        assert_eq!(
            err,
            ays_hrd::ConfigYamlError::TooDeep {
                at: Location::new(FILE, 1, column),
                limit: 64
            }
        );
        assert_eq!(
            err.to_string(),
            format!("{FILE}:1:{column}: nesting deeper than 64 levels")
        );
    }
}

#[test]
fn issue_9_yaml_error_at_the_end_of_the_text_is_located_within_it() {
    // saphyr stops on line 5, after the last line of a text without a final newline.
    let err = ConfigYaml::parse("links:\n  consume:\n    - role: fs\n      a", FILE).unwrap_err();
    assert_eq!(err.location(), &Location::new(FILE, 4, 8), "{err}");
    // The same for a node: the empty value of `? role` starts on line 4.
    let err = ConfigYaml::parse("links:\n  parent:\n   ? role", FILE).unwrap_err();
    assert_eq!(err.location(), &Location::new(FILE, 3, 10), "{err}");
    // A CR alone breaks a YAML line too.
    let err = ConfigYaml::parse("links:\r  consume:\r    - role: fs\r      a", FILE).unwrap_err();
    assert_eq!(err.location(), &Location::new(FILE, 4, 8), "{err}");
}
