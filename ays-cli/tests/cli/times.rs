//! Times in tables are RFC 3339 (or "never", "not yet"), durations and periods read as people
//! write them, and `--json` keeps the raw numbers (issue 9, item 16).

use serde_json::Value;

use crate::repo::{json, ok};

/// Checks that `text` holds `label: <RFC 3339 time>` and returns the time.
fn time_after(text: &str, label: &str) -> String {
    let line = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` in {text}"));
    let time = line.trim();
    assert!(
        humantime::parse_rfc3339(time).is_ok(),
        "`{label}` is not an RFC 3339 time: {line:?}"
    );
    time.to_owned()
}

/// Checks that `value[field]` is a positive raw number (ms after the epoch).
fn raw_ms(value: &Value, field: &str) -> i64 {
    let ms = value[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field}: {value}"));
    assert!(ms > 1_700_000_000_000, "{field}: {ms}");
    ms
}

#[test]
fn issue_9_tables_show_human_times_and_json_raw_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("r");
    ok(tmp.path(), &["init", "r"]);
    let dir = repo.join("actorTemplates/app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("schema.hrd"), "port = type:int\n").unwrap();
    std::fs::write(
        repo.join("blueprints/bp.yaml"),
        "app__a:\nactions:\n  - action: install\n  - action: monitor\n    recurring: 5m\n",
    )
    .unwrap();
    ok(&repo, &["blueprint"]);

    // Before any run: the recurring action has never run.
    let shown = ok(&repo, &["service", "show", "app!a"]);
    assert!(
        shown.contains("    monitor scheduled (every 5m, last run never)\n"),
        "{shown}"
    );
    ok(&repo, &["run", "create", "-y"]);

    let job = ok(&repo, &["job", "show", "latest", "1"]);
    assert!(job.contains("  attempts: 1 of 1\n"), "{job}");
    for label in ["planned:", "started:", "finished:"] {
        time_after(&job, label);
    }
    assert!(job.contains("  duration: 0."), "{job}");
    let raw = json(&repo, &["job", "show", "latest", "1"]);
    for field in ["created_at", "started_at", "finished_at"] {
        raw_ms(&raw, field);
    }

    let run = ok(&repo, &["run", "show"]);
    time_after(&run, "created:");
    time_after(&run, "finished:");
    let raw = json(&repo, &["run", "show"]);
    raw_ms(&raw["run"], "created_at");
    raw_ms(&raw["run"], "finished_at");

    let shown = ok(&repo, &["service", "show", "app!a"]);
    let line = shown
        .lines()
        .find(|l| l.trim_start().starts_with("monitor"))
        .unwrap();
    let time = line
        .strip_prefix("    monitor ok (every 5m, last run ")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(humantime::parse_rfc3339(time).is_ok(), "{line:?}");
    let raw = json(&repo, &["service", "show", "app!a"]);
    let monitor = raw[0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "monitor")
        .unwrap();
    assert_eq!(monitor["period"], 300);
    raw_ms(monitor, "last_run");

    let jobs = ok(&repo, &["job", "list"]);
    assert!(jobs.lines().next().unwrap().ends_with("DURATION"), "{jobs}");
    assert!(
        jobs.lines().skip(1).all(|l| l.ends_with('s')),
        "durations in seconds: {jobs}"
    );
}
