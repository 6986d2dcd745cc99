//! Executor benchmarks, one table each: native no-op overhead (wide and deep), shell `true`
//! jobs against `make -j`, dag makespan against the critical path, Python fresh vs forking.
//!
//! Run: `cargo bench -p ays-run --bench executor [-- native|make|makespan|python]`.

use ays_core::{ActionState, JobState};
use std::error::Error;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ays_run::{
    ActionRunner, ExecConfig, Executor, JobContext, JobOutcome, MemoryJournal, Plan, PlanInput,
    Planner, PythonMode, PythonRuntime, Schedule, ServiceSpec, ShellRuntime, SystemClock,
};

type Res<T> = Result<T, Box<dyn Error>>;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `n` services of actor `actor` with `install` scheduled (`init` ok); service i consumes the
/// services `producers(i)`.
fn plan(n: usize, actor: &str, producers: impl Fn(usize) -> Vec<usize>) -> Res<Plan> {
    let mut input = PlanInput::new();
    for i in 0..n {
        let mut spec = ServiceSpec::new(&format!("{actor}!s{i:06}"), actor)
            .action("init", ActionState::Ok)
            .action("install", ActionState::Scheduled);
        for p in producers(i) {
            spec = spec.producer(&format!("{actor}!s{p:06}"));
        }
        input.add_service(spec)?;
    }
    Ok(Planner::new().plan(&input)?)
}

fn executor(threads: usize, schedule: Schedule) -> Res<Executor> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let mut config = ExecConfig::default();
    config.schedule = schedule;
    config.max_parallel = threads;
    Ok(Executor::new(
        Arc::new(pool),
        Arc::new(SystemClock::new()),
        config,
    ))
}

fn timed_run(exec: &Executor, plan: &Plan, runner: &dyn ActionRunner) -> Res<Duration> {
    let start = Instant::now();
    let report = exec.run(&"bench".parse()?, plan, runner, &MemoryJournal::new())?;
    let elapsed = start.elapsed();
    if report.state != JobState::Ok {
        return Err(format!("run ended {:?}", report.state).into());
    }
    Ok(elapsed)
}

fn native() -> Res<()> {
    const N: usize = 100_000;
    let noop = |_: &JobContext| JobOutcome::ok();
    println!("native no-op jobs, {N} per graph, {} threads", cores());
    println!(
        "{:<22} {:>10} {:>12}",
        "graph / schedule", "total ms", "µs per job"
    );
    let wide = plan(N, "w", |_| Vec::new())?;
    let deep = plan(N, "d", |i| i.checked_sub(1).into_iter().collect())?;
    for (name, plan, schedule) in [
        ("wide / dag", &wide, Schedule::Dag),
        ("wide / steps", &wide, Schedule::Steps),
        ("deep / dag", &deep, Schedule::Dag),
        ("deep / steps", &deep, Schedule::Steps),
    ] {
        let elapsed = timed_run(&executor(cores(), schedule)?, plan, &noop)?;
        println!(
            "{:<22} {:>10.1} {:>12.2}",
            name,
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e6 / N as f64
        );
    }
    Ok(())
}

/// 2,000 jobs in 20 layers of 100; each job needs two jobs of the layer before.
fn layered(i: usize) -> Vec<usize> {
    match i.checked_sub(100) {
        Some(base) => {
            let layer_start = base - base % 100;
            vec![base, layer_start + (base + 37) % 100]
        }
        None => Vec::new(),
    }
}

fn make_vs_shell() -> Res<()> {
    const N: usize = 2_000;
    let jobs = cores();
    let dir = tempfile::tempdir()?;
    let actions = dir.path().join("actors/m/actions.sh");
    std::fs::create_dir_all(actions.parent().ok_or("no parent")?)?;
    std::fs::write(&actions, "install() { true; }\n")?;
    let plan = plan(N, "m", layered)?;
    // The same graph as a Makefile, each recipe running the same bash command.
    let mut makefile = String::from(".PHONY: all\nall:");
    for i in 0..N {
        write!(makefile, " j{i}")?;
    }
    makefile.push('\n');
    for i in 0..N {
        write!(makefile, "j{i}:")?;
        for p in layered(i) {
            write!(makefile, " j{p}")?;
        }
        writeln!(
            makefile,
            "\n\t@AYS_ACTION=install bash -c 'source \"{}\" && install'\n.PHONY: j{i}",
            actions.display()
        )?;
    }
    std::fs::write(dir.path().join("Makefile"), makefile)?;
    let shell = ShellRuntime::new(dir.path());
    let ours = timed_run(&executor(jobs, Schedule::Dag)?, &plan, &shell)?;
    let start = Instant::now();
    let status = Command::new("make")
        .arg("-s")
        .arg(format!("-j{jobs}"))
        .arg("-C")
        .arg(dir.path())
        .status()?;
    let make = start.elapsed();
    if !status.success() {
        return Err("make failed".into());
    }
    println!("shell `true` jobs, {N} over one graph (20 layers), -j{jobs}");
    println!("{:<18} {:>10} {:>12}", "runner", "total ms", "ms per job");
    for (name, t) in [("ays-run dag", ours), ("make -j", make)] {
        println!(
            "{:<18} {:>10.0} {:>12.3}",
            name,
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e3 / N as f64
        );
    }
    println!(
        "ratio ays-run / make: {:.2}x",
        ours.as_secs_f64() / make.as_secs_f64()
    );
    Ok(())
}

fn makespan() -> Res<()> {
    // Per group: a short chain of two 60 ms jobs and a long chain of six 20 ms jobs (both 120 ms
    // in total); eight groups side by side. Layer k of the steps schedule waits for the slowest
    // job of layer k, so steps take 2 x 60 + 4 x 20 = 200 ms; the critical path is 120 ms.
    const GROUPS: usize = 8;
    let mut input = PlanInput::new();
    for g in 0..GROUPS {
        for (chain, len) in [("a", 2), ("b", 6)] {
            for i in 0..len {
                let mut spec = ServiceSpec::new(&format!("{chain}{g}!n{i}"), chain)
                    .action("init", ActionState::Ok)
                    .action("install", ActionState::Scheduled);
                if i > 0 {
                    spec = spec.producer(&format!("{chain}{g}!n{}", i - 1));
                }
                input.add_service(spec)?;
            }
        }
    }
    let plan = Planner::new().plan(&input)?;
    let sleeper = |ctx: &JobContext| {
        let ms = if ctx.service().role().starts_with('a') {
            60
        } else {
            20
        };
        std::thread::sleep(Duration::from_millis(ms));
        JobOutcome::ok()
    };
    let threads = GROUPS * 2;
    let nominal = Duration::from_millis(120);
    let dag_exec = executor(threads, Schedule::Dag)?;
    let start = Instant::now();
    let report = dag_exec.run(&"bench".parse()?, &plan, &sleeper, &MemoryJournal::new())?;
    let dag = start.elapsed();
    // The critical path again, from the jobs' measured durations (sleeps overshoot a little).
    let mut finish = vec![Duration::ZERO; plan.jobs().len()];
    for (job, rep) in plan.jobs().iter().zip(&report.jobs) {
        let took = rep
            .attempts
            .iter()
            .map(|a| a.ended.saturating_sub(a.started))
            .sum::<Duration>();
        let ready = job
            .prerequisites()
            .iter()
            .filter_map(|p| finish.get(p.index()).copied())
            .max()
            .unwrap_or_default();
        if let Some(slot) = finish.get_mut(job.id().index()) {
            *slot = ready + took;
        }
    }
    let measured = finish.iter().copied().max().unwrap_or_default();
    let steps = timed_run(&executor(threads, Schedule::Steps)?, &plan, &sleeper)?;
    println!(
        "sleeping jobs, {} jobs in {GROUPS} uneven groups, {threads} slots",
        plan.jobs().len()
    );
    println!("{:<34} {:>8} {:>18}", "", "ms", "dag / this");
    for (name, t) in [
        ("critical path, nominal sleeps", nominal),
        ("critical path, measured jobs", measured),
        ("dag makespan", dag),
        ("steps makespan", steps),
    ] {
        println!(
            "{:<34} {:>8.1} {:>17.3}x",
            name,
            t.as_secs_f64() * 1e3,
            dag.as_secs_f64() / t.as_secs_f64()
        );
    }
    Ok(())
}

fn python() -> Res<()> {
    // A fresh interpreter is slow enough that fewer jobs give a stable rate.
    const FRESH: usize = 40;
    const FORKING: usize = 300;
    let dir = tempfile::tempdir()?;
    let actions = dir.path().join("actors/p/actions.py");
    std::fs::create_dir_all(actions.parent().ok_or("no parent")?)?;
    std::fs::write(
        &actions,
        "def install(job):\n    job.service.data.done = True\n",
    )?;
    println!("python actions, independent jobs, {} slots", cores());
    println!(
        "{:<18} {:>6} {:>10} {:>12}",
        "mode", "jobs", "total ms", "jobs per s"
    );
    let mut rates = Vec::new();
    for (name, mode, n) in [
        ("fresh python3", PythonMode::Fresh, FRESH),
        ("forking server", PythonMode::Forking, FORKING),
    ] {
        let plan = plan(n, "p", |_| Vec::new())?;
        let runtime = PythonRuntime::new(dir.path(), mode);
        let t = timed_run(&executor(cores(), Schedule::Dag)?, &plan, &runtime)?;
        let rate = n as f64 / t.as_secs_f64();
        rates.push(rate);
        println!(
            "{:<18} {:>6} {:>10.0} {:>12.0}",
            name,
            n,
            t.as_secs_f64() * 1e3,
            rate
        );
    }
    if let [fresh, forking] = rates.as_slice() {
        println!("ratio forking / fresh: {:.1}x", forking / fresh);
    }
    Ok(())
}

fn main() -> Res<()> {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    if wants("native") {
        native()?;
        println!();
    }
    if wants("make") {
        make_vs_shell()?;
        println!();
    }
    if wants("makespan") {
        makespan()?;
        println!();
    }
    if wants("python") {
        python()?;
    }
    Ok(())
}
