//! Planning benchmark: 100,000 jobs into steps (wide, tree and deep graphs), time and peak memory.
//!
//! Run: `cargo bench -p ays-run --bench plan`. Prints one table.

use ays_core::ActionState;
use std::time::Instant;

use ays_run::{PlanError, PlanInput, Planner, ServiceSpec};

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// `n` services with `install` scheduled and `init` ok; `producer(i)` names service i's producer.
fn input(n: usize, producer: impl Fn(usize) -> Option<usize>) -> Result<PlanInput, PlanError> {
    let mut input = PlanInput::new();
    for i in 0..n {
        let mut spec = ServiceSpec::new(&format!("svc!s{i:06}"), "svc")
            .action("init", ActionState::Ok)
            .action("install", ActionState::Scheduled);
        if let Some(p) = producer(i) {
            spec = spec.producer(&format!("svc!s{p:06}"));
        }
        input.add_service(spec)?;
    }
    Ok(input)
}

/// Names the producer of service i, if any.
type Producer = dyn Fn(usize) -> Option<usize>;

fn main() -> Result<(), PlanError> {
    const N: usize = 100_000;
    println!(
        "{:<28} {:>10} {:>8} {:>12} {:>14}",
        "graph (100,000 jobs)", "plan ms", "steps", "µs per job", "peak RSS MiB"
    );
    let shapes: [(&str, Box<Producer>); 3] = [
        ("wide (no edges)", Box::new(|_| None)),
        (
            "binary tree (producer i/2)",
            Box::new(|i| (i > 0).then(|| (i - 1) / 2)),
        ),
        ("deep (chain)", Box::new(|i| i.checked_sub(1))),
    ];
    for (name, producer) in shapes {
        let input = input(N, producer)?;
        let start = Instant::now();
        let plan = Planner::new().plan(&input)?;
        let elapsed = start.elapsed();
        assert_eq!(plan.jobs().len(), N);
        println!(
            "{:<28} {:>10.1} {:>8} {:>12.2} {:>14.1}",
            name,
            elapsed.as_secs_f64() * 1e3,
            plan.steps().len(),
            elapsed.as_secs_f64() * 1e6 / N as f64,
            peak_mib()
        );
    }
    Ok(())
}
