//! `ays daemon` under load, as a user runs it: the `ays` binary on the default store (redb),
//! loaded from another process, printed as one table.
//!
//! `cargo bench -p ays-cli --bench daemon` runs both workloads; name one to run only it:
//! - `api`: `wrk` (Debian's package, 2 threads, 16 connections, 10 s each) against
//!   `GET .../service/{role}/{name}` of a repository with 1,000 services, `POST .../aysrun`
//!   with `{"simulate": true}` (plans the repository: 1,000 scheduled jobs) and `POST .../aysrun`
//!   with `{}` (queues a run; nothing is scheduled, so each ends `empty`): requests per second
//!   and latency percentiles as wrk reports them.
//! - `recurring`: 10,000 services whose `monitor` (a bash function that does nothing: each
//!   execution is the scheduler, a bash job and the store's commit of its end) has a 60 s
//!   period. The daemon starts with every one due at once (the
//!   catch-up), then runs each once a minute. After 60 s the scheduler is read (`GET
//!   /ays/scheduler`, how late the last 4,096 starts were) and the daemon's CPU time is
//!   sampled over the next 60 s from `/proc/PID/stat`: the steady state. `--services N`
//!   changes the count.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const AYS: &str = env!("CARGO_BIN_EXE_ays");

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ays-daemon-bench-config")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut services = 10_000;
    let mut wanted = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--services" => services = it.next().ok_or("--services needs a number")?.parse()?,
            "--bench" => {}
            name if !name.starts_with('-') => wanted.push(name.to_owned()),
            _ => {}
        }
    }
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let mut lines = Vec::new();
    if run("api") {
        lines.extend(api()?);
    }
    if run("recurring") {
        lines.extend(recurring(services)?);
    }
    println!("| workload | result |\n|---|---|");
    for (workload, result) in lines {
        println!("| {workload} | {result} |");
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

/// A repository `r` in `dir` with `count` services of template `app` and the blueprint's
/// `actions` block, applied.
fn repository(dir: &Path, count: usize, actions: &str) -> Result<PathBuf> {
    ays(dir, &["init", "r"])?;
    let root = dir.join("r");
    let app = root.join("actorTemplates/app");
    std::fs::create_dir_all(&app)?;
    std::fs::write(app.join("schema.hrd"), "port = type:int default:80\n")?;
    let mut blueprint = String::with_capacity(count * 16);
    for i in 0..count {
        blueprint.push_str(&format!("app__s{i}:\n"));
    }
    blueprint.push_str(actions);
    std::fs::write(root.join("blueprints/bp.yaml"), blueprint)?;
    ays(&root, &["blueprint"])?;
    Ok(root)
}

/// A running daemon, killed on drop.
struct Daemon {
    child: Child,
    url: String,
}

impl Daemon {
    fn start(root: &Path) -> Result<Daemon> {
        let mut child = Command::new(AYS)
            .args(["daemon", "--port", "0"])
            .env("AYS_CONFIG_DIR", config_dir())
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let url = line
            .trim_end()
            .strip_prefix("listening on ")
            .ok_or(format!("not a `listening on` line: {line:?}"))?
            .to_owned();
        Ok(Daemon { child, url })
    }

    /// The daemon's user and system CPU time so far.
    fn cpu(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // The fields after the command name, which is in parentheses.
        let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        // The kernel's USER_HZ is 100 on Linux.
        Ok(Duration::from_millis(ticks * 10))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token() -> Result<String> {
    Ok(std::fs::read_to_string(config_dir().join("token"))?
        .trim_end()
        .to_owned())
}

/// `GET url` with the token: the body.
fn get(url: &str) -> Result<serde_json::Value> {
    let out = Command::new("curl")
        .args([
            "-sf",
            "-H",
            &format!("Authorization: Bearer {}", token()?),
            url,
        ])
        .output()?;
    if !out.status.success() {
        return Err(format!("GET {url} failed").into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Runs wrk against `url` (a POST of `body` when given): requests per second and the 50th,
/// 99th percentile latencies, as wrk prints them.
fn wrk(url: &str, body: Option<&str>, dir: &Path) -> Result<String> {
    let mut args = vec![
        "-t2".to_owned(),
        "-c16".to_owned(),
        "-d10s".to_owned(),
        "--latency".to_owned(),
        "-H".to_owned(),
        format!("Authorization: Bearer {}", token()?),
    ];
    if let Some(body) = body {
        let script = dir.join("post.lua");
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"POST\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
            ),
        )?;
        args.extend(["-s".to_owned(), script.display().to_string()]);
    }
    args.push(url.to_owned());
    let out = Command::new("wrk")
        .args(&args)
        .output()
        .map_err(|e| format!("cannot run wrk ({e}): `apt-get install -y wrk` installs it"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| -> String {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| "?".to_owned())
    };
    let non_2xx = field("Non-2xx or 3xx responses:");
    Ok(format!(
        "{} req/s, p50 {}, p99 {}{}",
        field("Requests/sec:"),
        field("50%"),
        field("99%"),
        if non_2xx == "?" {
            String::new()
        } else {
            format!(", {non_2xx} non-2xx")
        }
    ))
}

fn api() -> Result<Vec<(String, String)>> {
    let tmp = tempfile::tempdir()?;
    let root = repository(tmp.path(), 1_000, "actions:\n  - action: install\n")?;
    let daemon = Daemon::start(&root)?;
    let base = format!("{}/ays/repository/r", daemon.url);
    let mut rows = Vec::new();
    rows.push((
        "api: GET a service (1,000 services)".to_owned(),
        wrk(&format!("{base}/service/app/s500"), None, tmp.path())?,
    ));
    rows.push((
        "api: POST a run, simulate (plans 1,000 jobs)".to_owned(),
        wrk(
            &format!("{base}/aysrun"),
            Some(r#"{"simulate": true}"#),
            tmp.path(),
        )?,
    ));
    // Queued runs need nothing scheduled to end at once: the install jobs are marked done.
    ays(&root, &["run", "create", "--no-exec"])?;
    rows.push((
        "api: POST a run, queued (each ends `empty`)".to_owned(),
        wrk(&format!("{base}/aysrun"), Some("{}"), tmp.path())?,
    ));
    Ok(rows)
}

fn recurring(services: usize) -> Result<Vec<(String, String)>> {
    let tmp = tempfile::tempdir()?;
    let root = repository(
        tmp.path(),
        services,
        "actions:\n  - action: monitor\n    actor: app\n    recurring: 60s\n",
    )?;
    // The template needs the action: a bash function that does nothing.
    let app = root.join("actorTemplates/app");
    std::fs::write(app.join("actions.sh"), "monitor() {\n    :\n}\n")?;
    let started = Instant::now();
    let daemon = Daemon::start(&root)?;
    let scheduler = |at: &str| -> Result<String> {
        let s = get(&format!("{}/ays/scheduler", daemon.url))?;
        Ok(format!(
            "{at}: {} actions, lateness over the last {} starts: p50 {} ms, p99 {} ms, max {} ms",
            s["actions"],
            s["lateness_ms"]["count"],
            s["lateness_ms"]["p50"],
            s["lateness_ms"]["p99"],
            s["lateness_ms"]["max"]
        ))
    };
    std::thread::sleep(Duration::from_secs(60).saturating_sub(started.elapsed()));
    let catch_up = scheduler("after 60 s (catch-up)")?;
    let cpu_before = daemon.cpu()?;
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(60));
    let cpu = daemon.cpu()?.saturating_sub(cpu_before);
    let steady = scheduler("after 120 s (steady)")?;
    let share = cpu.as_secs_f64() / window.elapsed().as_secs_f64() * 100.0;
    Ok(vec![
        (
            format!("recurring: {services} services, 60 s monitor"),
            catch_up,
        ),
        (
            format!("recurring: {services} services, 60 s monitor"),
            format!(
                "{steady}; daemon CPU {:.1} s in 60 s ({share:.1}% of one core)",
                cpu.as_secs_f64()
            ),
        ),
    ])
}
