//! Golden tests against the AYS 8.1/8.2 schema.hrd → schema.capnp pairs in `shared/`, and a
//! check that every generated schema compiles with the official `capnp` tool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ays_hrd::{ActorSchema, CapnpStyle, schema_id};

/// The directory of the pairs: `AYS_HRD_PAIRS`, else `$AYS_SHARED/fixtures/hrd-pairs`, else
/// `shared/` next to the checkout.
fn pairs_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AYS_HRD_PAIRS") {
        return PathBuf::from(dir);
    }
    fixtures_dir().join("hrd-pairs")
}

/// `$AYS_SHARED/fixtures`, else `shared/fixtures` next to the checkout.
fn fixtures_dir() -> PathBuf {
    let shared = std::env::var_os("AYS_SHARED").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
        PathBuf::from,
    );
    shared.join("fixtures")
}

/// One fixture: the actor name and its three blocks.
struct Pair {
    file: String,
    actor: String,
    hrd: String,
    capnp81: String,
    capnp82: String,
}

fn load_pairs() -> Vec<Pair> {
    let dir = pairs_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "reference data missing: cannot read {} ({e}); set AYS_SHARED or AYS_HRD_PAIRS",
            dir.display()
        )
    });
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    assert_eq!(
        paths.len(),
        16,
        "expected the 16 pair files in {}",
        dir.display()
    );
    paths.iter().map(|p| split_pair(p)).collect()
}

fn split_pair(path: &Path) -> Pair {
    let text = std::fs::read_to_string(path).unwrap();
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with("=== ") {
            blocks.extend(current.take());
            if !line.starts_with("=== end ===") {
                current = Some(String::new());
            }
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
        }
    }
    let [hrd, capnp81, capnp82]: [String; 3] = blocks
        .try_into()
        .unwrap_or_else(|b: Vec<String>| panic!("{}: {} blocks, want 3", path.display(), b.len()));
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let stem = file.trim_end_matches(".txt");
    let actor = stem.split_once("__").map_or(stem, |(_, a)| a).to_owned();
    Pair {
        file,
        actor,
        hrd,
        capnp81,
        capnp82,
    }
}

/// Replaces the `@0x…;` id line by a fixed mask.
fn mask_id(capnp: &str) -> String {
    capnp
        .split_inclusive('\n')
        .map(|l| {
            let t = l.trim_end();
            let is_id = t.len() == 20
                && t.starts_with("@0x")
                && t.ends_with(';')
                && t[3..19].bytes().all(|b| b.is_ascii_hexdigit());
            if is_id { "@0xMASKED;\n" } else { l }
        })
        .collect()
}

/// Accepted deviations from the goldens: none. Every pair must match byte for byte.
const ACCEPTED_DEVIATIONS: &[&str] = &[];

fn check(pair: &Pair, style: CapnpStyle, expected: &str, failures: &mut Vec<String>) {
    let schema = match ActorSchema::parse(&pair.hrd, &pair.file) {
        Ok(s) => s,
        Err(e) => return failures.push(format!("{}: parse failed: {e}", pair.file)),
    };
    let got = schema.to_capnp(&pair.actor, style).unwrap();
    if mask_id(&got) != mask_id(expected) && !ACCEPTED_DEVIATIONS.contains(&pair.file.as_str()) {
        failures.push(format!(
            "{} ({style:?}):\n--- expected\n{expected}--- got\n{got}",
            pair.file
        ));
    }
}

#[test]
fn every_pair_converts_byte_for_byte() {
    let pairs = load_pairs();
    let mut failures = Vec::new();
    for pair in &pairs {
        check(pair, CapnpStyle::Ays81, &pair.capnp81, &mut failures);
        check(pair, CapnpStyle::Ays82, &pair.capnp82, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn conversion_is_deterministic_and_uses_the_actor_id() {
    for pair in load_pairs() {
        let schema = ActorSchema::parse(&pair.hrd, &pair.file).unwrap();
        let a = schema.to_capnp(&pair.actor, CapnpStyle::Ays82).unwrap();
        let b = ActorSchema::parse(&pair.hrd, &pair.file)
            .unwrap()
            .to_capnp(&pair.actor, CapnpStyle::Ays82)
            .unwrap();
        assert_eq!(a, b, "{}", pair.file);
        let id_line = format!("\n@0x{:016x};\n", schema_id(&pair.actor));
        assert!(a.starts_with(&id_line), "{}: {a}", pair.file);
    }
}

/// Our own schemas exercising what the pairs do not: extended types and escaped defaults.
const OWN_SCHEMAS: &[(&str, &str)] = &[
    (
        "extended",
        "addr = type:ipaddr default:'10.0.0.1'\n\
         net = type:iprange default:'10.0.0.0/8'\n\
         port = type:ipport default:8080\n\
         mail = type:email\n\
         phone = type:tel\n\
         meta = type:dict default:'{\"a\": 1}'\n\
         conf = type:yaml\n\
         blob = type:json default:'[1, 2]'\n\
         tags = type:set default:'a,b'\n\
         id = type:guid\n\
         timeout = type:duration default:1h30m\n\
         since = type:date default:2017-01-03\n\
         ratio = type:float default:0.00001\n\
         big = type:float default:1e20\n\
         flag = type:boolean\n\
         addrs = type:ipaddr list\n\
         level = minval:1 maxval:10 default:5\n",
    ),
    (
        "escaped",
        "quoted = type:str default:'say \"hi\"'\n\
         backslash = type:str default:'C:\\dir'\n\
         descr.only = type:str descr:'line\\nbreak'\n",
    ),
];

fn capnp_compiles(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = dir.join(format!("{name}.capnp"));
    std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    let out = Command::new("capnp")
        .arg("compile")
        .arg("-o-")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run `capnp` ({e}): install capnproto"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{name}: capnp compile failed:\n{}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn every_generated_schema_compiles_with_capnp() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    let mut sources: Vec<(String, String, String)> = load_pairs()
        .into_iter()
        .map(|p| (p.file.replace('.', "_"), p.actor, p.hrd))
        .collect();
    sources.extend(
        OWN_SCHEMAS
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*n).to_owned(), (*s).to_owned())),
    );
    for (name, actor, hrd) in &sources {
        let schema = ActorSchema::parse(hrd, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        for style in [CapnpStyle::Ays81, CapnpStyle::Ays82] {
            let text = schema.to_capnp(actor, style).unwrap();
            if let Err(e) = capnp_compiles(dir.path(), &format!("{name}_{style:?}"), &text) {
                if e.contains("install capnproto") {
                    panic!("{e}");
                }
                failures.push(e);
            }
            count += 1;
        }
    }
    assert_eq!(count, 2 * (16 + OWN_SCHEMAS.len()));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn own_schemas_render_extended_types_and_escapes() {
    let mut out = String::new();
    for (name, src) in OWN_SCHEMAS {
        let schema = ActorSchema::parse(src, name).unwrap();
        out.push_str(&mask_id(&schema.to_capnp(name, CapnpStyle::Ays82).unwrap()));
    }
    insta::assert_snapshot!(out);
}

/// Every schema.hrd of the upstream 8.1 templates and QA actors in `shared/` (#10).
fn upstream_schemas() -> Vec<PathBuf> {
    let root = fixtures_dir().join("upstream-81");
    let mut found = Vec::new();
    let mut dirs = vec![root.join("templates"), root.join("tests/test_services")];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n == "schema.hrd") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn issue_10_every_upstream_schema_converts_and_compiles_with_capnp() {
    let dir = tempfile::tempdir().unwrap();
    let schemas = upstream_schemas();
    assert_eq!(schemas.len(), 49, "47 templates and 2 QA actors");
    let mut failures = Vec::new();
    for path in &schemas {
        let actor = path
            .parent()
            .and_then(|p| p.file_name())
            .unwrap()
            .to_string_lossy();
        let hrd = std::fs::read_to_string(path).unwrap();
        let schema = match ActorSchema::parse(&hrd, &path.display().to_string()) {
            Ok(schema) => schema,
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        for style in [CapnpStyle::Ays81, CapnpStyle::Ays82] {
            let name = format!("{}_{style:?}", actor.replace('.', "_"));
            match schema.to_capnp(&actor, style) {
                Ok(text) => {
                    if let Err(e) = capnp_compiles(dir.path(), &name, &text) {
                        assert!(!e.contains("install capnproto"), "{e}");
                        failures.push(format!("{}: {e}", path.display()));
                    }
                }
                Err(e) => failures.push(format!("{}: {e}", path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
