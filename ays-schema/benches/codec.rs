//! Codec benchmark: a 20-field service record through our codec and through serde_json.
//!
//! Run: `cargo bench -p ays-schema --bench codec -- --warm-up-time 1 --measurement-time 3`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use ays_schema::{Codec, Encoding, Record, parse_schema};
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

/// The same record as a serde type, for serde_json.
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

fn bench(c: &mut Criterion) {
    let schema = parse_schema(SCHEMA, "bench.capnp").unwrap();
    let codec = Codec::new(&schema, "Schema").unwrap();
    let json_bytes = serde_json::to_vec(&node()).unwrap();
    let json_value: serde_json::Value = serde_json::from_slice(&json_bytes).unwrap();
    let record = Record::from_json(&schema, "Schema", &json_value).unwrap();
    assert_eq!(record.len(), 20);
    let typed = node();

    let mut g = c.benchmark_group("codec");
    for (name, encoding) in [
        ("unpacked", Encoding::Unpacked),
        ("packed", Encoding::Packed),
    ] {
        let bytes = codec.encode(&record, encoding).unwrap();
        assert_eq!(codec.decode(&bytes, encoding).unwrap(), record);
        g.bench_function(format!("ays_encode_{name}"), |b| {
            b.iter(|| codec.encode(black_box(&record), encoding).unwrap())
        });
        g.bench_function(format!("ays_decode_{name}"), |b| {
            b.iter(|| codec.decode(black_box(&bytes), encoding).unwrap())
        });
    }
    g.bench_function("serde_json_encode_struct", |b| {
        b.iter(|| serde_json::to_vec(black_box(&typed)).unwrap())
    });
    g.bench_function("serde_json_decode_struct", |b| {
        b.iter(|| serde_json::from_slice::<Node>(black_box(&json_bytes)).unwrap())
    });
    g.bench_function("serde_json_encode_value", |b| {
        b.iter(|| serde_json::to_vec(black_box(&json_value)).unwrap())
    });
    g.bench_function("serde_json_decode_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&json_bytes)).unwrap())
    });

    // The allocation floor of a decoded record: cloning it makes the same allocations.
    g.bench_function("baseline_clone_record", |b| {
        b.iter(|| black_box(&record).clone())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
