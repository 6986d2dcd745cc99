//! Codec benchmark: a 20-field service record through our codec and through serde_json.
//!
//! Run: `cargo bench -p ays-schema --bench codec -- --warm-up-time 1 --measurement-time 3`.
//! It prints one table per group with each mean as a ratio to our fastest path.
//!
//! "Decode" delivers what serde_json delivers: `ays_view_*` frames the message and reads
//! every field, walking the `List(Text)` items as `&str` (UTF-8 checked); `ays_decode_*`
//! builds the owned `Record`. serde_json parses into a struct with owned `String`s, into a
//! struct borrowing `&str` from the input, and into `serde_json::Value`.
//!
//! Measured 2026-11-25 on the shared 2-core VM while other builds ran, with
//! `--warm-up-time 2 --measurement-time 8` for steadier means:
//!
//! | decode                                  | mean    | vs view |
//! |-----------------------------------------|---------|---------|
//! | ays_view_unpacked                       |  240 ns |   1.0x  |
//! | ays_view_packed_reused_buffer           |  422 ns |   1.8x  |
//! | ays_view_packed (allocates the unpack)  |  593 ns |   2.5x  |
//! | serde_json_struct_borrowed (`&str`)     |  940 ns |   3.9x  |
//! | ays_decode_unpacked (owned `Record`)    | 1016 ns |   4.2x  |
//! | baseline_clone_record                   | 1164 ns |   4.8x  |
//! | ays_decode_packed (owned `Record`)      | 1265 ns |   5.3x  |
//! | serde_json_struct_owned (`String`)      | 1366 ns |   5.7x  |
//! | serde_json_value                        | 3200 ns |  13.3x  |
//!
//! The 5x goal still depends on the run. The view's own time is steady (230 to 240 ns), but
//! serde_json into owned strings moves between 1.1 and 1.4 µs with the machine's load, so
//! the ratio moves between 4.6x and 5.7x; the fastest of many short runs in one process gives
//! 4.7x. Against serde_json borrowing `&str` the view is 3.7x to 3.9x faster, and against
//! serde_json into `Value` 10x to 13x. About a fifth of the view's time is `str::from_utf8`
//! on texts of 4 to 35 bytes; `simdutf8` hands inputs under 64 bytes to that same function,
//! so it would not help here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use ays_schema::{Codec, Encoding, Message, Record, ValueRef, parse_schema};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

const SCHEMA: &str = r#"@0xf3d30fa3ae2e10d9;
struct Schema {
  description @0 :Text;
  bootdiskSize @1 :Int64 = 10;
  memory @2 :Int64 = 1;
  sizeID @3 :Int64 = 0;
  osImage @4 :Text = "Ubuntu 15.10";
  ports @5 :List(Text);
  machineId @6 :Int64 = 0;
  ipPublic @7 :Text;
  ipPrivate @8 :Text;
  sshLogin @9 :Text;
  sshPassword @10 :Text;
  vdc @11 :Text;
  disk @12 :List(Text);
  sshkey @13 :Text;
  enabled @14 :Bool = true;
  load @15 :Float64;
  sshPort @16 :Int64 = 22;
  monitored @17 :Bool;
  ratio @18 :Float64 = 0.5;
  ovfLink @19 :Text;
}
"#;

/// The same record as a serde type with owned strings, for serde_json.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    description: String,
    bootdisk_size: i64,
    memory: i64,
    #[serde(rename = "sizeID")]
    size_id: i64,
    os_image: String,
    ports: Vec<String>,
    machine_id: i64,
    ip_public: String,
    ip_private: String,
    ssh_login: String,
    ssh_password: String,
    vdc: String,
    disk: Vec<String>,
    sshkey: String,
    enabled: bool,
    load: f64,
    ssh_port: i64,
    monitored: bool,
    ratio: f64,
    ovf_link: String,
}

/// The same record as a serde type borrowing its strings from the JSON input.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Deserialized only, to be timed.
struct NodeRef<'a> {
    description: &'a str,
    bootdisk_size: i64,
    memory: i64,
    #[serde(rename = "sizeID")]
    size_id: i64,
    os_image: &'a str,
    #[serde(borrow)]
    ports: Vec<&'a str>,
    machine_id: i64,
    ip_public: &'a str,
    ip_private: &'a str,
    ssh_login: &'a str,
    ssh_password: &'a str,
    vdc: &'a str,
    #[serde(borrow)]
    disk: Vec<&'a str>,
    sshkey: &'a str,
    enabled: bool,
    load: f64,
    ssh_port: i64,
    monitored: bool,
    ratio: f64,
    ovf_link: &'a str,
}

fn node() -> Node {
    Node {
        description: "a test machine in the default vdc".into(),
        bootdisk_size: 20,
        memory: 4,
        size_id: 3,
        os_image: "Ubuntu 16.04 x64".into(),
        ports: vec!["80:80".into(), "443:443".into(), "2222:22".into()],
        machine_id: 1234,
        ip_public: "185.15.201.12".into(),
        ip_private: "192.168.103.254".into(),
        ssh_login: "root".into(),
        ssh_password: "s3cr3t-passw0rd".into(),
        vdc: "vdc1".into(),
        disk: vec!["disk1".into(), "disk2".into()],
        sshkey: "main".into(),
        enabled: false,
        load: 0.75,
        ssh_port: 2222,
        monitored: true,
        ratio: 0.125,
        ovf_link: "https://example.com/ovf/node1".into(),
    }
}

/// Zero-copy decode: frame the message, then read every field, walking list items as `&str`.
fn view_all(codec: &Codec, bytes: &[u8], encoding: Encoding) -> usize {
    read_all(&codec.read(bytes, encoding).unwrap())
}

/// Reads every field of a framed message.
fn read_all(message: &Message<'_>) -> usize {
    let root = message.root().unwrap();
    let mut seen = 0;
    for field in root.iter() {
        let (_, value) = field.unwrap();
        match value {
            ValueRef::Text(s) => seen += black_box(s).len(),
            ValueRef::List(list) => {
                for item in list.iter() {
                    let ValueRef::Text(s) = item.unwrap() else {
                        panic!("a list of text")
                    };
                    seen += black_box(s).len();
                }
            }
            // Scalars are taken out, as a caller would.
            ValueRef::Int(i) => seen += usize::from(black_box(i) != i64::MIN),
            ValueRef::Float(f) => seen += usize::from(!black_box(f).is_nan()),
            ValueRef::Bool(b) => seen += usize::from(black_box(b) == b),
            other => panic!("unexpected {}", other.kind()),
        }
    }
    seen
}

fn bench(c: &mut Criterion) {
    let schema = parse_schema(SCHEMA, "bench.capnp").unwrap();
    let codec = Codec::new(&schema, "Schema").unwrap();
    let json_bytes = serde_json::to_vec(&node()).unwrap();
    let json_value: serde_json::Value = serde_json::from_slice(&json_bytes).unwrap();
    let record = Record::from_json(&schema, "Schema", &json_value).unwrap();
    assert_eq!(record.len(), 20);
    let typed = node();
    let unpacked = codec.encode(&record, Encoding::Unpacked).unwrap();
    let packed = codec.encode(&record, Encoding::Packed).unwrap();
    for (bytes, encoding) in [(&unpacked, Encoding::Unpacked), (&packed, Encoding::Packed)] {
        assert_eq!(codec.decode(bytes, encoding).unwrap(), record);
        let message = codec.read(bytes, encoding).unwrap();
        assert_eq!(message.root().unwrap().to_record().unwrap(), record);
        assert_eq!(message.is_in_place(), encoding == Encoding::Unpacked);
    }
    // Every text byte and every one of the 9 scalars: what serde_json delivers too.
    let texts = [
        &typed.description,
        &typed.os_image,
        &typed.ip_public,
        &typed.ip_private,
        &typed.ssh_login,
        &typed.ssh_password,
        &typed.vdc,
        &typed.sshkey,
        &typed.ovf_link,
    ];
    let text_bytes: usize = texts
        .into_iter()
        .chain(&typed.ports)
        .chain(&typed.disk)
        .map(String::len)
        .sum();
    assert_eq!(
        view_all(&codec, &unpacked, Encoding::Unpacked),
        text_bytes + 9
    );

    let mut g = c.benchmark_group("decode");
    g.bench_function("ays_view_unpacked", |b| {
        b.iter(|| view_all(&codec, black_box(&unpacked), Encoding::Unpacked))
    });
    g.bench_function("ays_view_packed", |b| {
        b.iter(|| view_all(&codec, black_box(&packed), Encoding::Packed))
    });
    let mut buffer = Vec::new();
    g.bench_function("ays_view_packed_reused_buffer", |b| {
        b.iter(|| read_all(&codec.read_packed(black_box(&packed), &mut buffer).unwrap()))
    });
    g.bench_function("ays_decode_unpacked", |b| {
        b.iter(|| {
            codec
                .decode(black_box(&unpacked), Encoding::Unpacked)
                .unwrap()
        })
    });
    g.bench_function("ays_decode_packed", |b| {
        b.iter(|| codec.decode(black_box(&packed), Encoding::Packed).unwrap())
    });
    g.bench_function("serde_json_struct_owned", |b| {
        b.iter(|| serde_json::from_slice::<Node>(black_box(&json_bytes)).unwrap())
    });
    g.bench_function("serde_json_struct_borrowed", |b| {
        b.iter(|| serde_json::from_slice::<NodeRef<'_>>(black_box(&json_bytes)).unwrap())
    });
    g.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&json_bytes)).unwrap())
    });
    // The allocation floor of an owned record: cloning it makes the same allocations.
    g.bench_function("baseline_clone_record", |b| {
        b.iter(|| black_box(&record).clone())
    });
    g.finish();

    let mut g = c.benchmark_group("encode");
    g.bench_function("ays_encode_unpacked", |b| {
        b.iter(|| {
            codec
                .encode(black_box(&record), Encoding::Unpacked)
                .unwrap()
        })
    });
    g.bench_function("ays_encode_packed", |b| {
        b.iter(|| codec.encode(black_box(&record), Encoding::Packed).unwrap())
    });
    g.bench_function("serde_json_struct", |b| {
        b.iter(|| serde_json::to_vec(black_box(&typed)).unwrap())
    });
    g.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::to_vec(black_box(&json_value)).unwrap())
    });
    g.finish();

    print_ratios("decode", "ays_view_unpacked");
    print_ratios("encode", "ays_encode_unpacked");
}

/// Prints one table of a group's mean times, each as a ratio to `reference`, from the
/// estimates criterion has just written.
fn print_ratios(group: &str, reference: &str) {
    let home = std::env::var_os("CRITERION_HOME").map_or_else(
        || {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| std::path::PathBuf::from("target"), Into::into);
            target.join("criterion")
        },
        Into::into,
    );
    let mean = |bench: &str| -> Option<f64> {
        let path = home.join(group).join(bench).join("new/estimates.json");
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["mean"]["point_estimate"].as_f64()
    };
    let Some(base) = mean(reference) else {
        println!(
            "{group}: no estimates under {} (filtered run?)",
            home.display()
        );
        return;
    };
    let Ok(entries) = std::fs::read_dir(home.join(group)) else {
        return;
    };
    let mut rows: Vec<(String, f64)> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some((name.clone(), mean(&name)?)))
        .collect();
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    println!("\n{group}: mean time, and how many times slower than {reference}");
    for (name, ns) in rows {
        println!("  {name:<28} {ns:>9.1} ns  {:>6.2}x", ns / base);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
