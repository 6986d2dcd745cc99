//! Runs as a user starts them: the `ays` binary on the default store (redb) with its journal,
//! side by side with the baseline each workload has (`make -j8`, `xargs -P 50`), in one
//! process, printed as one table.
//!
//! `cargo bench -p ays-cli --bench runs` runs every workload; name some to run only those:
//! `dag` (2,000 services in three layers whose `install` is a bash function, against `make -j8`
//! with the same recipes and graph), `fanout` (100 independent services with one bash action,
//! `-j 50`, against 100 `bash -c` through `xargs -P 50`), `big` (1,000 zones and 99,000 apps
//! under them, `install` without code: `ays blueprint` then `ays run create`, with the split of
//! the run's time and the peak RSS of each command; `--services N` makes it smaller),
//! `big-redis` (the same on a throw-away Redis server), and `kill` (a 10,000-job run killed
//! with SIGKILL at 5 seeded points and resumed: no job recorded `ok` may run again, and the
//! jobs that do run again, ended but not yet committed, are counted).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const AYS: &str = env!("CARGO_BIN_EXE_ays");

/// One line of the table.
struct Row {
    workload: String,
    ays: Duration,
    baseline: Option<(String, Duration)>,
    goal: String,
    notes: String,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut services = 100_000;
    let mut wanted = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--services" => {
                services = it.next().ok_or("--services needs a number")?.parse()?;
            }
            // What cargo passes to every bench binary.
            "--bench" => {}
            name if !name.starts_with('-') => wanted.push(name.to_owned()),
            _ => {}
        }
    }
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let mut rows = Vec::new();
    if run("dag") {
        rows.push(dag()?);
    }
    if run("fanout") {
        rows.push(fanout()?);
    }
    if run("big") {
        rows.push(big(services, None)?);
    }
    if run("kill") {
        rows.push(kill()?);
    }
    if run("big-redis") {
        let server = ays_store::testing::RedisServer::start()?;
        rows.push(big(services, Some((&server.url(), server.port())))?);
    }
    print_table(&rows);
    Ok(())
}

fn print_table(rows: &[Row]) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<44} {:>9} {:>24} {:>7} {:>8}  notes",
        "workload", "ays", "baseline", "ratio", "goal"
    );
    for r in rows {
        let (base, ratio) = match &r.baseline {
            Some((name, d)) => (
                format!("{name} {:.2}s", d.as_secs_f64()),
                format!("{:.2}x", r.ays.as_secs_f64() / d.as_secs_f64()),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            out,
            "{:<44} {:>8.2}s {:>24} {:>7} {:>8}  {}",
            r.workload,
            r.ays.as_secs_f64(),
            base,
            ratio,
            r.goal,
            r.notes
        );
    }
    print!("{out}");
}

/// A new repository `r` in `dir` (on `store`, else the embedded default) with these templates.
fn repository(
    dir: &Path,
    store: Option<&str>,
    templates: &[(&str, &str, Option<&str>)],
) -> Result<PathBuf> {
    let mut init = vec!["init", "r"];
    if let Some(url) = store {
        init.extend(["--store", url]);
    }
    ays(dir, &init)?;
    let root = dir.join("r");
    for (name, schema, actions) in templates {
        let t = root.join("actorTemplates").join(name);
        std::fs::create_dir_all(&t)?;
        std::fs::write(t.join("schema.hrd"), schema)?;
        if let Some(actions) = actions {
            std::fs::write(t.join("actions.sh"), actions)?;
        }
    }
    Ok(root)
}

/// Runs `ays args` in `dir`, failing unless it exits 0; returns its wall time and peak RSS.
fn ays(dir: &Path, args: &[&str]) -> Result<(Duration, u64)> {
    let (elapsed, peak, _) = ays_logged(dir, args)?;
    Ok((elapsed, peak))
}

/// As [`ays`], with `AYS_LOG=info`; also returns what it logged.
fn ays_logged(dir: &Path, args: &[&str]) -> Result<(Duration, u64, String)> {
    let started = Instant::now();
    let mut child = Command::new(AYS)
        .args(args)
        .env("AYS_LOG", "info")
        // `ays init` makes the daemon's API token here, not in the home directory.
        .env(
            "AYS_CONFIG_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("ays-config"),
        )
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stderr {
            let _ = std::io::Read::read_to_string(&mut s, &mut text);
        }
        text
    });
    // The high-water mark of the resident set, read until the process ends.
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        let status_file = std::fs::read_to_string(format!("/proc/{pid}/status"));
        if let Some(kib) = status_file.ok().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    let err = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("ays {}: {status}\n{err}", args.join(" ")).into());
    }
    Ok((elapsed, peak_kib, err))
}

/// The `key=value` fields of the `run timings` line in `log`, without terminal colours.
fn timings(log: &str) -> String {
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .lines()
        .find(|l| l.contains("run timings"))
        .map(|l| {
            l.split_whitespace()
                .filter(|w| w.contains("_ms="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Times `command` run by `sh -c` in `dir`, failing unless it exits 0.
fn shell(dir: &Path, command: &str) -> Result<Duration> {
    let started = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("`{command}`: {status}").into());
    }
    Ok(started.elapsed())
}

const TRUE_ACTION: &str = "install() {\n    true\n}\n";

/// 10 zones → 190 hosts → 1,800 apps, each `install` a bash `true`, against `make -j8`.
fn dag() -> Result<Row> {
    let tmp = tempfile::tempdir()?;
    let root = repository(
        tmp.path(),
        None,
        &[
            ("zone", "name = type:str\n", Some(TRUE_ACTION)),
            ("host", "zone = type:str parent:zone\n", Some(TRUE_ACTION)),
            ("app", "host = type:str parent:host\n", Some(TRUE_ACTION)),
        ],
    )?;
    let (zones, hosts, apps) = (10, 190, 1_800);
    let mut bp = String::new();
    let mut make = String::from("all:");
    for a in 0..apps {
        let _ = write!(make, " a{a}");
    }
    make.push('\n');
    for z in 0..zones {
        let _ = writeln!(bp, "zone__z{z}:");
        let _ = writeln!(make, "z{z}:\n\t@bash -c true");
    }
    for h in 0..hosts {
        let _ = writeln!(bp, "host__h{h}:\n  zone: z{}", h % zones);
        let _ = writeln!(make, "h{h}: z{}\n\t@bash -c true", h % zones);
    }
    for a in 0..apps {
        let _ = writeln!(bp, "app__a{a}:\n  host: h{}", a % hosts);
        let _ = writeln!(make, "a{a}: h{}\n\t@bash -c true", a % hosts);
    }
    bp.push_str("actions:\n  - action: install\n");
    std::fs::write(root.join("blueprints/bp.yaml"), bp)?;
    std::fs::write(tmp.path().join("Makefile"), make)?;
    ays(&root, &["blueprint"])?;
    let (run, _) = ays(&root, &["run", "create", "-y", "-j", "8"])?;
    let make = shell(tmp.path(), "make -s -j8 all")?;
    Ok(Row {
        workload: "dag: 2,000 services, bash install, -j 8".into(),
        ays: run,
        baseline: Some(("make -j8".into(), make)),
        goal: "<=1.2x".into(),
        notes: "2,000 jobs (`init` is done at creation), as many as make's recipes".into(),
    })
}

/// A repository of `services` independent `app` services whose actions file is `actions`, with
/// `install` scheduled on each by an applied blueprint.
fn independent_apps(dir: &Path, services: usize, actions: &str, schedule: &str) -> Result<PathBuf> {
    let root = repository(dir, None, &[("app", "port = type:int\n", Some(actions))])?;
    let mut bp = String::new();
    for a in 0..services {
        let _ = writeln!(bp, "app__a{a}:\n  port: {a}");
    }
    let _ = writeln!(bp, "actions:\n  - action: {schedule}");
    std::fs::write(root.join("blueprints/bp.yaml"), bp)?;
    ays(&root, &["blueprint"])?;
    Ok(root)
}

/// 100 independent services with one bash action, `-j 50`, against `xargs -P 50`: the median
/// of 5 runs of each, alternated, since one run lasts a tenth of a second.
fn fanout() -> Result<Row> {
    let mut runs = Vec::new();
    let mut floors = Vec::new();
    for _ in 0..5 {
        let tmp = tempfile::tempdir()?;
        let root = independent_apps(tmp.path(), 100, TRUE_ACTION, "install")?;
        runs.push(ays(&root, &["run", "create", "-y", "-j", "50"])?.0);
        floors.push(shell(
            tmp.path(),
            "seq 100 | xargs -P 50 -I{} bash -c true",
        )?);
    }
    Ok(Row {
        workload: "fanout: 100 services, bash install, -j 50".into(),
        ays: median(&mut runs),
        baseline: Some(("xargs -P 50".into(), median(&mut floors))),
        goal: "<=1.8x".into(),
        notes: "median of 5".into(),
    })
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// The commands a Redis server has processed so far (`INFO stats`).
fn redis_commands(port: u16) -> Result<u64> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "stats"])
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .ok_or("no total_commands_processed in INFO stats")?
        .trim()
        .parse()?)
}

/// `services` services (1% zones, the rest apps under them), `install` without code, on the
/// embedded store or on the Redis server at (url, port).
fn big(services: usize, redis: Option<(&str, u16)>) -> Result<Row> {
    let tmp = tempfile::tempdir()?;
    let store = redis.map(|(url, _)| url);
    let root = repository(
        tmp.path(),
        store,
        &[
            ("zone", "name = type:str\n", None),
            ("app", "zone = type:str parent:zone\n", None),
        ],
    )?;
    let zones = (services / 100).max(1);
    let mut bp = String::with_capacity(services * 24);
    for z in 0..zones {
        let _ = writeln!(bp, "zone__z{z}:");
    }
    for a in 0..services - zones {
        let _ = writeln!(bp, "app__a{a}:\n  zone: z{}", a % zones);
    }
    bp.push_str("actions:\n  - action: install\n");
    std::fs::write(root.join("blueprints/bp.yaml"), bp)?;
    let (apply, apply_rss) = ays(&root, &["blueprint"])?;
    let before = redis.map(|(_, port)| redis_commands(port)).transpose()?;
    let (run, run_rss, log) = ays_logged(&root, &["run", "create", "-y"])?;
    let mut split = timings(&log);
    if let (Some((_, port)), Some(before)) = (redis, before) {
        // Every service has one job (install; `init` is done at creation).
        let commands = redis_commands(port)?.saturating_sub(before);
        let _ = write!(
            split,
            " redis_server_commands_per_job={:.2}",
            commands as f64 / services as f64
        );
    }
    let backend = if store.is_some() { "redis" } else { "redb" };
    Ok(Row {
        workload: format!("big: {services} services, no code, {backend}"),
        ays: apply + run,
        baseline: None,
        // The goal is the default store's; the Redis figure is reported beside it.
        goal: if store.is_some() { "report" } else { "<10s" }.into(),
        notes: format!(
            "blueprint {:.2}s ({} MiB), run {:.2}s ({} MiB): {split}",
            apply.as_secs_f64(),
            apply_rss / 1024,
            run.as_secs_f64(),
            run_rss / 1024
        ),
    })
}

/// The actions that ran, from the log every action appends a line to: `service action`.
fn executions(log: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(s, a)| (s.to_owned(), a.to_owned()))
        .collect()
}

/// The jobs of the newest run recorded `ok`, as (service, action).
fn ok_jobs(root: &Path) -> Result<std::collections::HashSet<(String, String)>> {
    let out = Command::new(AYS)
        .args(["job", "list", "--json"])
        .current_dir(root)
        .output()?;
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(jobs
        .as_array()
        .ok_or("job list --json is not an array")?
        .iter()
        .filter(|j| j["state"] == "ok")
        .filter_map(|j| {
            Some((
                j["service"].as_str()?.to_owned(),
                j["action"].as_str()?.to_owned(),
            ))
        })
        .collect())
}

/// 5,000 services whose `install` and `start` both run bash (10,000 jobs; `init` runs when the
/// blueprint creates them), killed with SIGKILL once a seeded number of actions have run, then
/// resumed.
fn kill() -> Result<Row> {
    const SERVICES: usize = 5_000;
    const KILL_AT: [usize; 5] = [500, 2_500, 5_000, 7_500, 9_500];
    let action = "install() {\n    echo \"$AYS_SERVICE install\" >> \"$AYS_REPO/ran.log\"\n}\n\
                  start() {\n    echo \"$AYS_SERVICE start\" >> \"$AYS_REPO/ran.log\"\n}\n";
    let mut notes = Vec::new();
    let mut total = Duration::ZERO;
    for at in KILL_AT {
        let tmp = tempfile::tempdir()?;
        let root = independent_apps(tmp.path(), SERVICES, action, "start")?;
        let log = root.join("ran.log");
        let started = Instant::now();
        let mut child = Command::new(AYS)
            .args(["run", "create", "-y", "-j", "8"])
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        while executions(&log).len() < at && child.try_wait()?.is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill()?; // SIGKILL
        child.wait()?;
        let ran_before = executions(&log).len();
        let ok_before = ok_jobs(&root)?;
        ays(&root, &["run", "resume", "-y"])?;
        total += started.elapsed();
        let ran = executions(&log);
        let mut count = std::collections::HashMap::new();
        for job in &ran {
            *count.entry(job.clone()).or_insert(0usize) += 1;
        }
        let again: Vec<&(String, String)> = count
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(job, _)| job)
            .collect();
        if let Some(job) = again.iter().find(|job| ok_before.contains(**job)) {
            return Err(format!("kill at {at}: {job:?} was recorded ok and ran again").into());
        }
        if count.len() != 2 * SERVICES || ok_jobs(&root)?.len() != 2 * SERVICES {
            return Err(format!("kill at {at}: not every job ran and ended ok").into());
        }
        notes.push(format!(
            "at {at}: {ran_before} ran, {} recorded ok, {} ran again",
            ok_before.len(),
            again.len()
        ));
    }
    Ok(Row {
        workload: "kill: 10,000 jobs, SIGKILL at 5 points, resume".into(),
        ays: total,
        baseline: None,
        goal: "0 ok rerun".into(),
        notes: notes.join("; "),
    })
}
