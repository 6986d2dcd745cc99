//! Get, put and 100-put batch latency of every backend, with the raw `redis` client as baseline.
//!
//! Run: `cargo bench -p ays-store --bench backends -- --warm-up-time 1 --measurement-time 3`.
//! After criterion's own report it prints one table: the mean time per operation of each
//! backend, and the ratio ays-redis / raw-redis (same server, same keys, same values).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ays_store::testing::RedisServer;
use ays_store::{Batch, KvStore};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

const VALUE: [u8; 100] = [0x5a; 100];
const KEYS: usize = 1000;
const BATCH: usize = 100;
const BACKENDS: [&str; 4] = ["mem", "redb", "ays-redis", "raw-redis"];
const GROUPS: [&str; 3] = ["get", "put", "batch100"];

fn key(i: usize) -> Vec<u8> {
    format!("bench/key/{:06}", i % KEYS).into_bytes()
}

fn bench_store(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    op: &str,
    store: &dyn KvStore,
) {
    let mut i = 0;
    match op {
        "get" => group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                black_box(store.get(&key(i)).unwrap())
            })
        }),
        "put" => group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                store.put(&key(i), &VALUE).unwrap()
            })
        }),
        _ => group.bench_function(name, |b| {
            b.iter(|| {
                let mut batch = Batch::new();
                for _ in 0..BATCH {
                    i += 1;
                    batch.put(&key(i), &VALUE);
                }
                store.commit(&batch).unwrap()
            })
        }),
    };
}

fn bench_raw(group: &mut BenchmarkGroup<'_, WallTime>, op: &str, conn: &mut redis::Connection) {
    let mut i = 0;
    match op {
        "get" => group.bench_function("raw-redis", |b| {
            b.iter(|| {
                i += 1;
                let value: Option<Vec<u8>> = redis::cmd("GET").arg(key(i)).query(conn).unwrap();
                black_box(value)
            })
        }),
        "put" => group.bench_function("raw-redis", |b| {
            b.iter(|| {
                i += 1;
                redis::cmd("SET")
                    .arg(key(i))
                    .arg(&VALUE[..])
                    .query::<()>(conn)
                    .unwrap()
            })
        }),
        _ => group.bench_function("raw-redis", |b| {
            b.iter(|| {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for _ in 0..BATCH {
                    i += 1;
                    pipe.cmd("SET").arg(key(i)).arg(&VALUE[..]).ignore();
                }
                pipe.query::<()>(conn).unwrap()
            })
        }),
    };
}

fn fill(store: &dyn KvStore) {
    let mut batch = Batch::new();
    for i in 0..KEYS {
        batch.put(&key(i), &VALUE);
    }
    store.commit(&batch).unwrap();
}

/// The time per iteration of one benchmark, in nanoseconds, from criterion's `estimates.json`:
/// the slope (what criterion prints as `time:`) when it has one, else the mean.
fn mean_ns(dir: &Path, group: &str, backend: &str) -> Option<f64> {
    let path = dir.join(group).join(backend).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let estimate = |name: &str| json.get(name)?.get("point_estimate")?.as_f64();
    estimate("slope").or_else(|| estimate("mean"))
}

fn print_table(dir: &Path) {
    println!();
    println!("time per operation (batch100: per batch of {BATCH} puts)");
    print!("{:<10}", "op");
    for backend in BACKENDS {
        print!("{backend:>13}");
    }
    println!("{:>22}", "ays-redis/raw-redis");
    for group in GROUPS {
        print!("{group:<10}");
        let means: Vec<Option<f64>> = BACKENDS.iter().map(|b| mean_ns(dir, group, b)).collect();
        for mean in &means {
            match mean {
                Some(ns) if *ns >= 1e6 => print!("{:>10.2} ms", ns / 1e6),
                Some(ns) => print!("{:>10.2} µs", ns / 1e3),
                None => print!("{:>13}", "-"),
            }
        }
        match (
            means.get(2).copied().flatten(),
            means.get(3).copied().flatten(),
        ) {
            (Some(ays), Some(raw)) => println!("{:>21.2}x", ays / raw),
            _ => println!("{:>22}", "-"),
        }
    }
}

fn main() {
    let server = RedisServer::start().expect("start redis-server (install redis-server)");
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<(&str, Arc<dyn KvStore>)> = vec![
        ("mem", ays_store::open("mem://").unwrap()),
        (
            "redb",
            ays_store::open(&format!(
                "redb://{}",
                dir.path().join("bench.redb").display()
            ))
            .unwrap(),
        ),
        (
            "ays-redis",
            ays_store::open_namespaced(&server.url(), "bench").unwrap(),
        ),
    ];
    for (_, store) in &stores {
        fill(store.as_ref());
    }
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    for i in 0..KEYS {
        redis::cmd("SET")
            .arg(key(i))
            .arg(&VALUE[..])
            .query::<()>(&mut raw)
            .unwrap();
    }

    let out: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("criterion-backends");
    let mut criterion = Criterion::default()
        .output_directory(&out)
        .configure_from_args();
    for op in GROUPS {
        let mut group = criterion.benchmark_group(op);
        for (name, store) in &stores {
            bench_store(&mut group, name, op, store.as_ref());
        }
        bench_raw(&mut group, op, &mut raw);
        group.finish();
    }
    criterion.final_summary();
    print_table(&out);
}
