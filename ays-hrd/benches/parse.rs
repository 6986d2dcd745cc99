//! Parses and converts every hrd-pairs fixture (read from `shared/` at run time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::PathBuf;

use ays_hrd::{ActorSchema, CapnpStyle};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The `schema.hrd` blocks of the fixtures, with their file names.
fn fixtures() -> Vec<(String, String)> {
    let shared = std::env::var_os("AYS_SHARED").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
        PathBuf::from,
    );
    let dir = shared.join("fixtures/hrd-pairs");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reference data missing: {} ({e})", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let start = text.find("=== schema.hrd ===\n").unwrap() + "=== schema.hrd ===\n".len();
            let end = text.find("=== schema.capnp (AYS 8.1").unwrap();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, text[start..end].to_owned())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let all = fixtures();
    let count = u64::try_from(all.len()).unwrap();
    let mut group = c.benchmark_group("hrd");
    group.throughput(Throughput::Elements(count));
    group.bench_function("parse_all", |b| {
        b.iter(|| {
            for (name, src) in &all {
                black_box(ActorSchema::parse(black_box(src), name).unwrap());
            }
        });
    });
    group.bench_function("parse_and_convert_all", |b| {
        b.iter(|| {
            for (name, src) in &all {
                let schema = ActorSchema::parse(black_box(src), name).unwrap();
                black_box(schema.to_capnp(name, CapnpStyle::Ays82).unwrap());
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
