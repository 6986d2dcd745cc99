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
        BlueprintError::Duplicate { at, first, .. } => {
            check_at(text, first)?;
            at
        }
        BlueprintError::Syntax { at, .. }
        | BlueprintError::Malformed { at, .. }
        | BlueprintError::UnknownActor { at, .. }
        | BlueprintError::UnknownAttribute { at, .. }
        | BlueprintError::BadValue { at, .. }
        | BlueprintError::MissingParent { at, .. }
        | BlueprintError::AmbiguousParent { at, .. }
        | BlueprintError::UnknownProducer { at, .. }
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
