//! Embedding ays: a Rust program builds a repository on an in-memory store, registers native
//! actions (plain Rust functions) and runs them, with no shell, no Python and no server.
//!
//! Run with `cargo run --example embed`.

use std::error::Error;
use std::sync::Arc;

use ays_core::{ApplyOptions, InitOptions, Repository, ServiceFilter};
use ays_run::{ActionRegistry, RunOptions, create_run};

const NODE_SCHEMA: &str = "\
datacenter = type:str parent:'datacenter'
ip = type:str descr:'set by install'
";

const BLUEPRINT: &str = "\
datacenter__dc1:
node__n1:
  datacenter: 'dc1'
node__n2:
  datacenter: 'dc1'
actions:
  - action: install
";

fn main() -> Result<(), Box<dyn Error>> {
    // A repository whose store lives in memory: nothing is written but the template files.
    let dir = tempfile::tempdir()?;
    let options = InitOptions {
        store_url: Some("mem://".into()),
        ..InitOptions::default()
    };
    let repo = Repository::init(dir.path(), options)?;
    for (actor, schema) in [
        ("datacenter", "location = type:str default:'local'\n"),
        ("node", NODE_SCHEMA),
    ] {
        let template = dir.path().join("actorTemplates").join(actor);
        std::fs::create_dir_all(&template)?;
        std::fs::write(template.join("schema.hrd"), schema)?;
    }
    let report = repo.apply_blueprint_text("embed.yaml", BLUEPRINT, ApplyOptions::default())?;
    println!("created {} services", report.created.len());

    // Native actions: `install` gives every node an address; its change to the service data is
    // validated against the schema and committed with the job's success.
    let mut actions = ActionRegistry::new();
    actions.register_for("node", "install", |job| {
        let ip = format!("10.0.0.{}", job.ctx().service().instance().len());
        job.log(format!("assigned {ip}"));
        job.set("ip", serde_json::json!(ip));
        Ok(())
    })?;
    let mut run = RunOptions::default();
    run.registry = Some(Arc::new(actions));
    let outcome = create_run(&repo, &run, None)?;
    let record = outcome.record.ok_or("nothing was scheduled")?;
    println!("run {}: {}", record.id, record.state);

    for node in repo.services(&ServiceFilter {
        role: Some("node".into()),
        ..ServiceFilter::default()
    })? {
        println!("{} has ip {}", node.key, repo.service_data(&node)?["ip"]);
    }
    Ok(())
}
