//! Fuzzing of the blueprint parser and resolver with structured mutations of the shared
//! scenarios' blueprints, applied as dry runs to a repository holding their templates. No
//! blueprint may panic, and every error must name the file given and a line within the text.
//!
//! The mutations nest at most 40 levels: deeper YAML crashes the process today (see the
//! `issue 9` report: `- ` repeated 10,000 times overflows the stack in `blueprint/parse.rs`).
//! The case count suits CI; `PROPTEST_CASES=5000 cargo test -p ays-core --features testing
//! --test it fuzz_blueprint` runs a longer session.
#![allow(clippy::unwrap_used, clippy::panic)]

use ays_core::testing::{Backend, TestRepo, fixture};
use ays_core::{ApplyOptions, BlueprintError, CoreError, Location};
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

/// The blueprints of the shared scenarios, and a few written for the templates of
/// `sample_repo1` that use every section.
fn seeds() -> Vec<String> {
    let mut seeds = Vec::new();
    for scenario in ["sample_repo1", "sample_repo3"] {
        let dir = fixture(&format!("scenarios/{scenario}/blueprints")).unwrap();
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        seeds.extend(paths.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    }
    seeds.push(
        "datacenter__dc1:\n  location: 'here'\n  description: 'one'\n\ncockpit__c1:\n  \
         datacenter: 'dc1'\n  description: 'x'\n\nactions:\n  - action: 'install, test'\n    \
         actor: cockpit\n    service: c1\n    recurring: 5m\n    force: true\n\neventfilters:\n  \
         - actor: cockpit\n    channel: telegram\n    tags: [a, b]\n"
            .to_owned(),
    );
    seeds
}

const JUNK: &[&str] = &[
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
    "__",
    "actions:",
    "eventfilters:",
    "action: ",
    "recurring: 1e999",
    "force: maybe",
    "99999999999999999999",
    "-9223372036854775809",
    "datacenter__",
    "cockpit__c2:\n",
    "\u{0}",
    "é",
    "\r\n",
    "\u{feff}",
];

/// Nesting, past the depth blueprints may have too.
const NESTS: &[(&str, &str)] = &[("- ", ""), ("[", "]"), ("{a: ", "}")];

#[derive(Debug, Clone)]
enum Edit {
    Truncate(Index),
    Delete(Index, usize),
    Insert(Index, String),
    Duplicate(Index, usize),
    Nest(Index, (&'static str, &'static str), usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), 1..24usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), select(JUNK)).prop_map(|(i, s)| Edit::Insert(i, s.to_owned())),
        (any::<Index>(), any::<char>()).prop_map(|(i, c)| Edit::Insert(i, c.to_string())),
        (any::<Index>(), 1..64usize).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        (any::<Index>(), select(NESTS), 1..200usize).prop_map(|(i, p, n)| Edit::Nest(i, p, n)),
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

const FILE: &str = "blueprints/é fuzz.yaml";

/// Checks that `at` names `FILE` and a line of `text`.
fn check_at(text: &str, at: &Location) -> Result<(), TestCaseError> {
    prop_assert_eq!(&at.file, FILE);
    // YAML breaks lines at CR LF, CR and LF.
    let lines = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .count();
    prop_assert!(
        at.line >= 1 && at.line <= lines,
        "{at}: line out of the text ({lines} lines)"
    );
    Ok(())
}

/// Checks that a duplicate key's lines are in order and, for a key written plain, hold it.
fn check_duplicate(
    text: &str,
    at: &Location,
    key: &str,
    first: &Location,
) -> Result<(), TestCaseError> {
    prop_assert!(first.line <= at.line, "first {first} after {at}");
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if plain && !text.contains('\r') {
        let line_of = |n: usize| text.split('\n').nth(n - 1).unwrap_or_default();
        for loc in [first, at] {
            prop_assert!(
                line_of(loc.line).contains(key),
                "{loc}: line {:?} does not hold key `{key}`",
                line_of(loc.line)
            );
        }
    }
    Ok(())
}

fn check_located(text: &str, err: &CoreError) -> Result<(), TestCaseError> {
    let err = match err {
        CoreError::Blueprint(err) => err,
        other => {
            return Err(TestCaseError::fail(format!(
                "not a blueprint error: {other}"
            )));
        }
    };
    let at = match err {
        BlueprintError::Duplicate { at, first, key } => {
            check_at(text, first)?;
            check_duplicate(text, at, key, first)?;
            at
        }
        BlueprintError::Syntax { at, .. }
        | BlueprintError::Malformed { at, .. }
        | BlueprintError::UnknownActor { at, .. }
        | BlueprintError::UnknownAttribute { at, .. }
        | BlueprintError::BadValue { at, .. }
        | BlueprintError::MissingParent { at, .. }
        | BlueprintError::AmbiguousParent { at, .. }
        | BlueprintError::TooFewProducers { at, .. }
        | BlueprintError::TooManyProducers { at, .. }
        | BlueprintError::NoMatch { at, .. }
        | BlueprintError::Action { at, .. }
        | BlueprintError::Template { at, .. }
        | BlueprintError::TooDeep { at, .. }
        | BlueprintError::Cycle { at, .. } => at,
        other => return Err(TestCaseError::fail(format!("no location: {other:?}"))),
    };
    check_at(text, at)?;
    prop_assert!(err.to_string().starts_with(&format!("{at}")), "{err}");
    Ok(())
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn mutated_blueprints_apply_or_fail_located(
        (seed, edits) in (select(seeds()), proptest::collection::vec(edit(), 1..5)),
    ) {
        thread_local!(static REPO: TestRepo = TestRepo::with_scenario(Backend::Redb, "sample_repo1").unwrap());
        let text = edits.iter().fold(seed, |text, e| apply(&text, e));
        REPO.with(|t| match t.repo.apply_blueprint_text(FILE, &text, ApplyOptions { dry_run: true }) {
            Ok(_) => Ok(()),
            Err(err) => check_located(&text, &err),
        })?;
    }
}

#[test]
fn a_bad_actor_name_in_actions_or_eventfilters_is_located() {
    let t = TestRepo::with_scenario(Backend::Redb, "sample_repo1").unwrap();
    for (section, text) in [
        (
            "actions",
            "actions:\n  - action: install\n    actor: 'cockpit.'\n",
        ),
        (
            "eventfilters",
            "eventfilters:\n  - actor: 'c ockpit'\n    channel: telegram\n",
        ),
    ] {
        let err = t
            .repo
            .apply_blueprint_text(FILE, text, ApplyOptions { dry_run: true })
            .unwrap_err();
        match &err {
            CoreError::Blueprint(BlueprintError::Malformed { at, key, reason }) => {
                assert_eq!((at.line, key.as_str()), (2, section), "{err}");
                assert!(reason.starts_with("`actor`: invalid actor name"), "{err}");
            }
            other => panic!("{text:?}: {other}"),
        }
    }
}

/// How the mapping of [`duplicate_key_text`] is written.
#[derive(Debug, Clone, Copy)]
enum MapStyle {
    /// `k: v`, one per line.
    Block,
    /// `{k: v, k: v}` on one line.
    Flow,
    /// `{` then `k: v,` one per line, then `}`.
    FlowLines,
    /// `? k` then `: v`, two lines per key.
    Explicit,
}

/// A blueprint whose service `app__x` holds `keys` in `style`, quoted as `quotes` say, after a
/// service holding every key once, which a key's first line must never be taken from.
/// Returns the text and, when a key repeats, the key and the lines of its second and first
/// occurrences.
fn duplicate_key_text(
    keys: &[(&str, usize)],
    style: MapStyle,
) -> (String, Option<(String, usize, usize)>) {
    let quote = |(key, quoting): &(&str, usize)| match quoting % 3 {
        0 => (*key).to_owned(),
        1 => format!("'{key}'"),
        _ => format!("\"{key}\""),
    };
    let mut text = "other__y:\n  a: 0\n  b: 0\n  c: 0\n".to_owned();
    let offset = 5;
    let line_of = |i: usize| match style {
        MapStyle::Block => offset + 1 + i,
        MapStyle::Flow => offset,
        MapStyle::FlowLines => offset + 1 + i,
        MapStyle::Explicit => offset + 1 + 2 * i,
    };
    let written: Vec<String> = keys.iter().map(quote).collect();
    match style {
        MapStyle::Block => {
            text.push_str("app__x:\n");
            for (i, k) in written.iter().enumerate() {
                text.push_str(&format!("  {k}: {i}\n"));
            }
        }
        MapStyle::Flow => {
            let entries: Vec<String> = written
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{k}: {i}"))
                .collect();
            text.push_str(&format!("app__x: {{{}}}\n", entries.join(", ")));
        }
        MapStyle::FlowLines => {
            text.push_str("app__x: {\n");
            for (i, k) in written.iter().enumerate() {
                text.push_str(&format!("  {k}: {i},\n"));
            }
            text.push_str("}\n");
        }
        MapStyle::Explicit => {
            text.push_str("app__x:\n");
            for (i, k) in written.iter().enumerate() {
                text.push_str(&format!("  ? {k}\n  : {i}\n"));
            }
        }
    }
    let duplicate = keys.iter().enumerate().find_map(|(j, (key, _))| {
        keys[..j]
            .iter()
            .position(|(earlier, _)| earlier == key)
            .map(|i| ((*key).to_owned(), line_of(j), line_of(i)))
    });
    (text, duplicate)
}

#[test]
fn fuzz_bug_4_duplicate_keys_name_their_own_lines_in_every_style() {
    let t = TestRepo::with_scenario(Backend::Redb, "sample_repo1").unwrap();
    let cases: &[(&str, &str, usize, usize)] = &[
        // A flow mapping on one line: both occurrences are on it.
        ("s__x: {a: 1, a: 2}\n", "a", 1, 1),
        ("s__x:\n  b: 0\n  c: {a: 1,\n    a: 2}\n", "a", 4, 3),
        // Explicit keys, whose lines hold no `:`.
        ("s__x:\n  ? a\n  : 1\n  ? a\n  : 2\n", "a", 4, 2),
        // A complex key, shown in flow style, named where it starts.
        (
            "s__x:\n  ? [p,\n     q]\n  : 1\n  ? [p, q]\n  : 2\n",
            "[p, q]",
            5,
            2,
        ),
        // Another mapping holds the key first: the first line is of the same mapping.
        ("s__y:\n  a: 1\ns__x:\n  b: 1\n  a: 2\n  a: 3\n", "a", 6, 5),
        // Quoted and plain are one key.
        ("s__x:\n  'a': 1\n  \"a\": 2\n", "a", 3, 2),
    ];
    for &(text, key, line, first) in cases {
        let err = t
            .repo
            .apply_blueprint_text(FILE, text, ApplyOptions { dry_run: true })
            .unwrap_err();
        match &err {
            CoreError::Blueprint(BlueprintError::Duplicate {
                at,
                key: got,
                first: got_first,
            }) => assert_eq!(
                (got.as_str(), at.line, got_first.line),
                (key, line, first),
                "{text:?}: {err}"
            ),
            other => panic!("{text:?}: {other}"),
        }
        assert_eq!(
            err.to_string(),
            format!("{FILE}:{line}: duplicate key `{key}` (first at {FILE}:{first})")
        );
    }
}

proptest! {
    #![proptest_config(cases(64))]

    /// Every style of mapping, with keys quoted or not: a repeated key is reported with the
    /// lines of its own two occurrences, never those of another mapping.
    #[test]
    fn fuzz_bug_4_duplicate_key_lines_in_generated_mappings(
        keys in proptest::collection::vec((select(&["a", "b", "c", "d"][..]), 0..3usize), 1..7),
        style in select(&[MapStyle::Block, MapStyle::Flow, MapStyle::FlowLines, MapStyle::Explicit][..]),
    ) {
        thread_local!(static REPO: TestRepo = TestRepo::with_scenario(Backend::Redb, "sample_repo1").unwrap());
        let (text, duplicate) = duplicate_key_text(&keys, style);
        let result = REPO.with(|t| t.repo.apply_blueprint_text(FILE, &text, ApplyOptions { dry_run: true }));
        match (duplicate, result) {
            (Some((key, line, first)), Err(CoreError::Blueprint(BlueprintError::Duplicate { at, key: got, first: got_first }))) => {
                prop_assert_eq!((got, at.line, got_first.line), (key, line, first), "{}", text);
            }
            (Some(expected), other) => {
                return Err(TestCaseError::fail(format!("{text}: expected {expected:?}, got {other:?}")));
            }
            (None, Err(CoreError::Blueprint(err @ BlueprintError::Duplicate { .. }))) => {
                return Err(TestCaseError::fail(format!("{text}: no duplicate, got {err}")));
            }
            (None, _) => {}
        }
    }
}
