//! Quickstart: an actor schema written in HRD becomes a Cap'n Proto schema, a service record is
//! encoded with it and stored in the embedded store, then read back in one query.
//!
//! Run with `cargo run --example quickstart`; it needs no server and leaves nothing behind. It
//! checks each step's result and exits non-zero when one is wrong.

use std::error::Error;

/// The data schema of a small actor, in the `schema.hrd` dialect of AYS 8.1.
const SCHEMA_HRD: &str = "\
os.image = type:str default:'Ubuntu 16.04'
memory = type:int default:2
ports = list type:str
vdc = type:str parent:'vdc' auto
sshkey = type:str consume:sshkey:1 auto
";

fn main() -> Result<(), Box<dyn Error>> {
    // 1. schema.hrd → Cap'n Proto schema text (with a stable id derived from the actor name).
    let schema = ays_hrd::ActorSchema::parse(SCHEMA_HRD, "node/schema.hrd")?;
    let capnp_text = schema.to_capnp("node", ays_hrd::CapnpStyle::Ays82)?;
    println!("schema.capnp of actor `node`:{capnp_text}");
    check(
        capnp_text.contains("struct Schema") && capnp_text.contains("osImage"),
        "the Cap'n Proto schema has a struct `Schema` with the field `osImage`",
    )?;
    let parent = schema.parent().ok_or("the schema has no parent relation")?;
    println!(
        "parent: role `{}` from field `{}` (auto: {}, optional: {})",
        parent.role, parent.arg_name, parent.auto, parent.optional
    );
    check(
        parent.role == "vdc" && parent.arg_name == "vdc" && parent.auto,
        "the parent is an auto `vdc` named by the field `vdc`",
    )?;
    let consumes: Vec<&str> = schema.consumes().iter().map(|c| c.role.as_str()).collect();
    for consume in schema.consumes() {
        println!(
            "consumes: role `{}` from field `{}`, {}..={} services (auto: {})",
            consume.role, consume.arg_name, consume.min, consume.max, consume.auto
        );
    }
    check(
        consumes == ["sshkey"],
        "the actor consumes one role, `sshkey`",
    )?;

    // 2. The schema text → the layout the Cap'n Proto compiler would give it.
    let capnp_schema = ays_schema::parse_schema(&capnp_text, "node/schema.capnp")?;

    // 3. A service's data → a packed Cap'n Proto message (absent fields take their defaults).
    let data = serde_json::json!({ "ports": ["22:2222"], "vdc": "myvdc", "sshkey": "main" });
    let record = ays_schema::Record::from_json(&capnp_schema, "Schema", &data)?;
    let bytes = ays_schema::encode(
        &capnp_schema,
        "Schema",
        &record,
        ays_schema::Encoding::Packed,
    )?;
    println!("service data: {} bytes packed", bytes.len());

    // 4. Store it in the embedded store (one redb file) and load it back with one query.
    let dir = tempfile::tempdir()?;
    let url = format!("redb://{}", dir.path().join("ays.redb").display());
    let store = ays_store::open(&url)?;
    store.put(b"service/node!vm1", &bytes)?;
    let loaded = store
        .get(b"service/node!vm1")?
        .ok_or("the service was not stored")?;
    let back = ays_schema::decode(
        &capnp_schema,
        "Schema",
        &loaded,
        ays_schema::Encoding::Packed,
    )?;
    println!("node!vm1 = {}", back.to_json());
    check(
        loaded == bytes,
        "the store gives back the bytes it was given",
    )?;
    let json = back.to_json();
    check(
        json["ports"] == serde_json::json!(["22:2222"]),
        "ports read back",
    )?;
    check(json["vdc"] == "myvdc", "vdc reads back")?;
    check(
        json["memory"] == 2 && json["osImage"] == "Ubuntu 16.04",
        "absent fields read back as their defaults",
    )?;
    println!("quickstart: every check passed");
    Ok(())
}

/// Fails with `what` when `ok` is false.
fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}").into())
    }
}
