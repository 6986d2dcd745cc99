//! Recurring actions under `ays daemon`: run when due, never overlapping, a failing one backing
//! off alone, and a service deleted meanwhile dropped.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::daemon::{Daemon, get, ok_with};
use crate::daemon_runs::wait_for;

/// Nanosecond times written by an action, one per line, each as `<what> <ns>`.
fn times(file: &Path, what: &str) -> Vec<u128> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix(what)?.trim().parse().ok())
        .collect()
}

/// The entry of `GET .../recurring` for `action`.
fn entry<'a>(listed: &'a Value, action: &str) -> &'a Value {
    listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} in {listed}"))
}

/// A 1 s `slow` action that takes 3 s runs again and again without overlap; a 1 s `fail`
/// action keeps failing, backing off alone, while `tick` of the same service keeps its period;
/// the daemon shows when each last ran and is due, with its log; a service deleted while its
/// action runs is dropped from the schedule.
#[test]
fn issue_11_recurring_actions_run_on_time_without_overlap_and_fail_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let marks = tmp.path().join("marks");
    ok_with(&config, tmp.path(), &["init", "r"]);
    let root = tmp.path().join("r");
    let mon = root.join("actorTemplates/mon");
    std::fs::create_dir_all(&mon).unwrap();
    std::fs::write(mon.join("schema.hrd"), "n = type:int default:1\n").unwrap();
    let m = marks.display();
    std::fs::write(
        mon.join("actions.sh"),
        format!(
            "slow() {{\n    echo \"start $(date +%s%N)\" >> '{m}'\n    sleep 3\n    echo \"end $(date +%s%N)\" >> '{m}'\n}}\n\
             fail() {{\n    echo \"fail $(date +%s%N)\" >> '{m}'\n    echo 'the disk is full' >&2\n    return 1\n}}\n\
             tick() {{\n    echo \"tick $(date +%s%N)\" >> '{m}'\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("blueprints/bp.yaml"),
        "mon__m:\nmon__other:\nactions:\n  - action: slow\n    service: m\n    recurring: 1s\n  \
         - action: fail\n    service: m\n    recurring: 1s\n  - action: tick\n    service: m\n    \
         recurring: 1s\n  - action: tick\n    service: other\n    recurring: 1s\n",
    )
    .unwrap();
    ok_with(&config, &root, &["blueprint"]);
    let token = std::fs::read_to_string(config.join("token")).unwrap();
    let token = token.trim_end();

    let daemon = Daemon::start(&config, &root, &["--port", "0"]);
    let url = daemon.url();
    std::thread::sleep(Duration::from_secs(10));
    let (status, listed) = get(&format!("{url}/ays/repository/r/recurring"), Some(token));
    assert_eq!(status, 200, "{listed}");
    let (status, scheduler) = get(&format!("{url}/ays/scheduler"), Some(token));
    assert_eq!(status, 200, "{scheduler}");

    // slow: one at a time, each start after the previous end.
    let (starts, ends) = (times(&marks, "start"), times(&marks, "end"));
    assert!(starts.len() >= 2, "slow ran {} times in 10 s", starts.len());
    for (i, end) in ends.iter().enumerate() {
        if let Some(next) = starts.get(i + 1) {
            assert!(next >= end, "slow overlapped itself: {starts:?} {ends:?}");
        }
    }
    // tick: on time, about every second (period after each end), despite the two others.
    let ticks: Vec<u128> = times(&marks, "tick");
    assert!(
        ticks.len() >= 12,
        "the two ticks ran {} times in 10 s",
        ticks.len()
    );
    // fail: retried with a backoff (1 s, 2 s, 4 s…), not every second nor every tick.
    let fails = times(&marks, "fail");
    assert!(
        (2..=5).contains(&fails.len()),
        "fail ran {} times in 10 s",
        fails.len()
    );
    let gaps: Vec<u128> = fails.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "the waits between failures grow: {gaps:?}"
    );

    let fail = entry(&listed, "fail");
    assert!(fail["failures"].as_u64().unwrap() >= 2, "{fail}");
    assert_eq!(fail["last"]["state"], "error", "{fail}");
    assert_eq!(fail["last_run"], 0, "never succeeded: {fail}");
    let logs = fail["last"]["logs"].to_string();
    assert!(logs.contains("the disk is full"), "{logs}");
    let tick = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "tick" && e["service"] == "mon!m")
        .unwrap();
    assert_eq!(tick["last"]["state"], "ok", "{tick}");
    assert_eq!(tick["failures"], 0);
    let last_run = tick["last_run"].as_i64().unwrap();
    assert!(last_run > 0, "{tick}");
    let next = tick["next_due"].as_i64().unwrap();
    assert!(
        (last_run..=last_run + 1_500).contains(&next) || tick["running"] == true,
        "next due one period after the last run: {tick}"
    );
    assert!(scheduler["actions"].as_u64().unwrap() >= 4, "{scheduler}");
    // The service shows the period, the last run and when the daemon runs it next.
    let (status, service) = get(
        &format!("{url}/ays/repository/r/service/mon/other"),
        Some(token),
    );
    assert_eq!(status, 200, "{service}");
    let shown = service["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "tick")
        .unwrap();
    assert_eq!(shown["period"], 1, "{shown}");
    assert!(shown["last_run"].as_i64().unwrap() > 0, "{shown}");
    assert!(shown["next_run"].as_i64().unwrap() > 0, "{shown}");
    let slow = service["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "slow")
        .unwrap();
    assert!(
        slow.get("next_run").is_none(),
        "not recurring on this service: {slow}"
    );
    assert!(
        scheduler["lateness_ms"]["count"].as_u64().unwrap() >= 10,
        "{scheduler}"
    );

    // Deleting a service while its recurring action may run is not blocked, and it leaves the
    // schedule.
    ok_with(&config, &root, &["service", "delete", "mon!m"]);
    wait_for("the deleted service to leave the schedule", || {
        let (_, listed) = get(&format!("{url}/ays/repository/r/recurring"), Some(token));
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["service"] != "mon!m")
            .then_some(())
    });
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}
