//! Blueprint apply at scale and service lookup latency, on redb and Redis, beside the 8.1 way.
//!
//! - `apply_10k`: a generated blueprint of 10,000 services, each with a parent and two
//!   producers (plus 200 parents and producers), applied to a fresh repository. Peak memory of
//!   one apply is printed (VmHWM after resetting it through `/proc/self/clear_refs`).
//! - `lookup`: one service by `role!instance` from a repository of `AYS_BENCH_SERVICES`
//!   (default 100,000) services, on each store (`service`: the record; `show`: the record, its
//!   actor, its data decoded and its children), and the 8.1 way: walking the exported file
//!   mirror to the service's directory and reading `service.json` and `data.json`. Building
//!   the repositories and the mirror takes a few minutes on a small machine.
//!
//! Run: `cargo bench -p ays-core --bench repo`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ays_core::{ApplyOptions, InitOptions, Repository, ServiceKey};
use ays_store::testing::RedisServer;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const NODES: usize = 10_000;
const PARENTS: usize = 100;
const KEYS: usize = 100;

fn templates(root: &Path) {
    let t = |name: &str, hrd: &str| {
        let d = root.join("actorTemplates").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("schema.hrd"), hrd).unwrap();
    };
    t("dc", "location = type:str default:'eu'\n");
    t("key", "path = type:str\n");
    t(
        "node",
        "dc = type:str parent:'dc'\nkeys = list type:str consume:key:2:2\nimage = type:str default:'ubuntu'\nmemory = type:int default:2\n",
    );
    t("item", "value = type:str\nsize = type:int default:1\n");
}

fn blueprint_10k() -> String {
    let mut s = String::with_capacity(NODES * 80);
    for i in 0..PARENTS {
        writeln!(s, "dc__dc{i}:\n  location: zone{i}").unwrap();
    }
    for i in 0..KEYS {
        writeln!(s, "key__k{i}:\n  path: /keys/{i}").unwrap();
    }
    for i in 0..NODES {
        let (p, a, b) = (i % PARENTS, i % KEYS, (i + 1) % KEYS);
        writeln!(
            s,
            "node__n{i}:\n  dc: dc{p}\n  keys: [k{a}, k{b}]\n  memory: {}",
            i % 64
        )
        .unwrap();
    }
    s.push_str("actions:\n  - action: install\n");
    s
}

fn new_repo(dir: &Path, url: Option<&str>) -> Repository {
    let repo = Repository::init(
        dir,
        InitOptions {
            store_url: url.map(str::to_owned),
            ..InitOptions::default()
        },
    )
    .unwrap();
    templates(repo.root());
    repo
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the command line's filter (if any) selects `group`, so that a filtered run skips
/// the expensive setup of the other group.
fn wanted(group: &str) -> bool {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .all(|f| group.contains(&f) || f.contains(group))
}

fn backends(redis: &RedisServer) -> [(&'static str, Option<String>); 2] {
    [("redb", None), ("redis", Some(redis.url()))]
}

fn apply_10k(c: &mut Criterion) {
    if !wanted("apply_10k") {
        return;
    }
    let redis = RedisServer::start().unwrap();
    let bp = blueprint_10k();
    let mut group = c.benchmark_group("apply_10k");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    for (name, url) in backends(&redis) {
        // One measured apply for memory: reset the peak, apply, read the peak.
        {
            let tmp = tempfile::tempdir().unwrap();
            let repo = new_repo(&tmp.path().join("r"), url.as_deref());
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let before = peak_rss_kib().unwrap_or(0);
            let t0 = Instant::now();
            let report = repo
                .apply_blueprint_text("bp.yaml", &bp, ApplyOptions::default())
                .unwrap();
            let took = t0.elapsed();
            let after = peak_rss_kib().unwrap_or(0);
            assert_eq!(report.created.len(), NODES + PARENTS + KEYS);
            eprintln!(
                "apply_10k/{name}: one apply {took:?}, {} services, peak RSS {} MiB (was {} MiB before)",
                report.created.len(),
                after / 1024,
                before / 1024
            );
        }
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let tmp = tempfile::tempdir().unwrap();
                    let repo = new_repo(&tmp.path().join("r"), url.as_deref());
                    (tmp, repo)
                },
                |(tmp, repo)| {
                    let r = repo
                        .apply_blueprint_text("bp.yaml", &bp, ApplyOptions::default())
                        .unwrap();
                    black_box(r.created.len());
                    (tmp, repo)
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

/// Finds `services/**/<key>` the way 8.1 did (a walk of the mirror) and reads its files.
fn mirror_lookup(dir: &Path, key: &str) -> Option<(String, String)> {
    let mut stack: Vec<PathBuf> = vec![dir.join("services")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()? {
            let e = e.ok()?;
            if e.file_name().to_str() == Some(key) {
                let p = e.path();
                return Some((
                    std::fs::read_to_string(p.join("service.json")).ok()?,
                    std::fs::read_to_string(p.join("data.json")).ok()?,
                ));
            }
            if e.file_type().ok()?.is_dir() {
                stack.push(e.path());
            }
        }
    }
    None
}

fn lookup(c: &mut Criterion) {
    if !wanted("lookup") {
        return;
    }
    let n: usize = std::env::var("AYS_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let redis = RedisServer::start().unwrap();
    let mut bp = String::with_capacity(n * 40);
    for i in 0..n {
        writeln!(bp, "item__i{i}:\n  value: v{i}").unwrap();
    }
    let target: ServiceKey = format!("item!i{}", n / 2).parse().unwrap();
    let mut group = c.benchmark_group(format!("lookup_{n}"));
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let tmp = tempfile::tempdir().unwrap();
    let mut mirror = None;
    for (name, url) in backends(&redis) {
        let repo = new_repo(&tmp.path().join(name), url.as_deref());
        let t0 = Instant::now();
        repo.apply_blueprint_text("bp.yaml", &bp, ApplyOptions::default())
            .unwrap();
        eprintln!("lookup/{name}: built {n} services in {:?}", t0.elapsed());
        group.bench_function(format!("{name}/service"), |b| {
            b.iter(|| black_box(repo.service(black_box(&target)).unwrap()));
        });
        group.bench_function(format!("{name}/show"), |b| {
            b.iter(|| black_box(repo.show_service(black_box(&target)).unwrap()));
        });
        if mirror.is_none() {
            let t0 = Instant::now();
            repo.export(None).unwrap();
            eprintln!("lookup/{name}: exported the mirror in {:?}", t0.elapsed());
            mirror = Some(repo.root().to_path_buf());
        }
    }
    if let Some(root) = mirror {
        let key = target.to_string();
        assert!(mirror_lookup(&root, &key).is_some());
        group.bench_function("8.1_file_mirror_walk", |b| {
            b.iter(|| black_box(mirror_lookup(&root, black_box(&key))));
        });
    }
    group.finish();
}

criterion_group!(benches, apply_10k, lookup);
criterion_main!(benches);
