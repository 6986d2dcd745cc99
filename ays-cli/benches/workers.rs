//! Distributed workers as a user runs them: `ays run create --workers` (the coordinator, with
//! its journal in the store) and `ays worker` processes, on one Redis server that the bench
//! starts on a free loopback port; printed as tables.
//!
//! `cargo bench -p ays-cli --bench workers` runs both workloads; name one to run only it:
//! - `scaling`: 2,000 jobs whose action sleeps 100 ms, on 1, 2 and 4 workers of 16 jobs at
//!   once each: the run's makespan against the ideal (2,000 × 100 ms / (16 × workers)).
//!   `--jobs N` changes the count.
//! - `overhead`: 2,000 jobs whose action does nothing (`:`), in-process (`ays run create -j 2`)
//!   on the same Redis store and on the default store (redb), and through the stream to one
//!   worker running 2 at once (`ays run create --workers -j 2`): the time per job and the
//!   ratio of each to in-process on Redis.
//!
//! Each measurement makes its own repository (init and blueprint are not timed); the time is
//! the whole `ays run create` process, planning, journaling and the final commit included.
//! The coordinator, the workers and Redis share this machine: the scaling table also gives the
//! share of the machine's CPU time that was busy during each run (`/proc/stat`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ays_store::testing::RedisServer;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const AYS: &str = env!("CARGO_BIN_EXE_ays");

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ays-workers-bench-config")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut jobs = 2_000;
    let mut wanted = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--jobs" => jobs = it.next().ok_or("--jobs needs a number")?.parse()?,
            "--bench" => {}
            name if !name.starts_with('-') => wanted.push(name.to_owned()),
            _ => {}
        }
    }
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let server = RedisServer::start()?;
    if run("scaling") {
        scaling(&server.url(), jobs)?;
    }
    if run("overhead") {
        overhead(&server.url(), jobs)?;
    }
    Ok(())
}

/// Runs `ays args` in `dir`; fails unless it exits 0.
fn ays(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(AYS)
        .args(args)
        .env("AYS_CONFIG_DIR", config_dir())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "ays {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// A repository in a new directory under `tmp`, on `store` (`None`: the default), with `count`
/// services whose `install` runs `body`, applied and scheduled.
fn repository(tmp: &Path, store: Option<&str>, count: usize, body: &str) -> Result<PathBuf> {
    let dir = tempfile::tempdir_in(tmp)?.keep();
    let mut init = vec!["init", "r"];
    if let Some(url) = store {
        init.extend(["--store", url]);
    }
    ays(&dir, &init)?;
    let root = dir.join("r");
    std::fs::create_dir_all(root.join("actorTemplates/node"))?;
    std::fs::write(
        root.join("actorTemplates/node/actions.sh"),
        format!("install() {{\n    {body}\n}}\n"),
    )?;
    let mut bp = String::new();
    for i in 0..count {
        bp.push_str(&format!("node__n{i}:\n"));
    }
    bp.push_str("actions:\n  - action: install\n");
    std::fs::write(root.join("blueprints/nodes.yaml"), bp)?;
    ays(&root, &["blueprint"])?;
    Ok(root)
}

/// `n` workers of `concurrency` on `url`, until dropped.
struct Workers(Vec<Child>);

impl Workers {
    fn start(url: &str, n: usize, concurrency: usize) -> Result<Self> {
        let mut children = Vec::new();
        for i in 0..n {
            children.push(
                Command::new(AYS)
                    .args(["worker", "--store", url, "--name"])
                    .arg(format!("bench-{i}"))
                    .args(["--concurrency", &concurrency.to_string(), "-q"])
                    .env("AYS_CONFIG_DIR", config_dir())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()?,
            );
        }
        // Until each has registered.
        let started = Instant::now();
        loop {
            let out = Command::new(AYS)
                .args(["worker", "list", "--json", "--store", url])
                .env("AYS_CONFIG_DIR", config_dir())
                .output()?;
            let list: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            if list.as_array().is_some_and(|a| a.len() == n) {
                return Ok(Self(children));
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err("workers did not register within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}

/// The time `ays run create args` takes in `root`.
fn timed_run(root: &Path, args: &[&str]) -> Result<Duration> {
    let mut all = vec!["run", "create", "-q"];
    all.extend_from_slice(args);
    let started = Instant::now();
    ays(root, &all)?;
    Ok(started.elapsed())
}

fn scaling(url: &str, jobs: usize) -> Result<()> {
    const CONCURRENCY: usize = 16;
    let tmp = tempfile::tempdir()?;
    println!(
        "{jobs} jobs sleeping 100 ms, workers of {CONCURRENCY} at once, `ays run create \
         --workers` on Redis\n"
    );
    println!(
        "| workers | makespan | ideal | ideal / makespan | speed-up over 1 worker | machine CPU busy |"
    );
    println!("|---|---|---|---|---|---|");
    let mut one = None;
    for n in [1, 2, 4] {
        let root = repository(tmp.path(), Some(url), jobs, "sleep 0.1")?;
        let workers = Workers::start(url, n, CONCURRENCY)?;
        let cpu = cpu_times();
        let took = timed_run(&root, &["--workers"])?;
        let busy = busy_share(cpu, cpu_times());
        drop(workers);
        let ideal = Duration::from_millis(100).mul_f64(jobs as f64 / (CONCURRENCY * n) as f64);
        let base = *one.get_or_insert(took);
        println!(
            "| {n} | {:.2} s | {:.2} s | {:.0}% | {:.2}× | {:.0}% |",
            took.as_secs_f64(),
            ideal.as_secs_f64(),
            100.0 * ideal.as_secs_f64() / took.as_secs_f64(),
            base.as_secs_f64() / took.as_secs_f64(),
            100.0 * busy,
        );
    }
    println!();
    Ok(())
}

fn overhead(url: &str, jobs: usize) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    println!("{jobs} jobs doing nothing (`:`), 2 at once\n");
    println!("| path | run time | per job | ratio to in-process on Redis |");
    println!("|---|---|---|---|");
    let root = repository(tmp.path(), Some(url), jobs, ":")?;
    let local_redis = timed_run(&root, &["-j", "2"])?;
    let root = repository(tmp.path(), None, jobs, ":")?;
    let local_redb = timed_run(&root, &["-j", "2"])?;
    let root = repository(tmp.path(), Some(url), jobs, ":")?;
    let workers = Workers::start(url, 1, 2)?;
    let stream = timed_run(&root, &["--workers", "-j", "2"])?;
    drop(workers);
    for (path, took) in [
        (
            "in-process, Redis store (`ays run create -j 2`)",
            local_redis,
        ),
        ("in-process, default store (redb)", local_redb),
        (
            "through the stream, 1 worker of 2 (`--workers -j 2`)",
            stream,
        ),
    ] {
        println!(
            "| {path} | {:.2} s | {:.2} ms | {:.2}× |",
            took.as_secs_f64(),
            took.as_secs_f64() * 1000.0 / jobs as f64,
            took.as_secs_f64() / local_redis.as_secs_f64(),
        );
    }
    println!(
        "\ndispatch overhead per job through the stream: {:.2} ms more than in-process on Redis",
        (stream.as_secs_f64() - local_redis.as_secs_f64()) * 1000.0 / jobs as f64
    );
    Ok(())
}

/// The machine's (busy, total) CPU time so far, in clock ticks, from `/proc/stat`.
fn cpu_times() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // idle and iowait are the 4th and 5th.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The share of the machine's CPU time that was busy between two [`cpu_times`].
fn busy_share(before: (u64, u64), after: (u64, u64)) -> f64 {
    let total = after.1.saturating_sub(before.1).max(1);
    after.0.saturating_sub(before.0) as f64 / total as f64
}
