//! Embedding ays: a Rust program builds a repository on an in-memory store, defines its actor
//! templates in code, registers native actions (plain Rust functions) that read their
//! service's data and its parent's, and runs them, with no shell, no Python and no server. It checks what the actions stored and exits
//! non-zero when something is wrong.
//!
//! Run with `cargo run --example embed`.

use std::error::Error;
use std::sync::Arc;

use ays_core::{
    ApplyOptions, InitOptions, JobState, Repository, ServiceFilter, Template, TemplateSource,
};
use ays_run::{ActionFailed, ActionRegistry, RunOptions, create_run};

const DATACENTER_SCHEMA: &str = "subnet = type:str default:'10.0.0'\n";

const NODE_SCHEMA: &str = "\
datacenter = type:str parent:'datacenter'
index = type:int
ip = type:str descr:'set by install'
";

const BLUEPRINT: &str = "\
datacenter__dc1:
  subnet: '192.168.7'
node__n1:
  datacenter: 'dc1'
  index: 11
node__n2:
  datacenter: 'dc1'
  index: 12
actions:
  - action: install
";

fn main() -> Result<(), Box<dyn Error>> {
    // A repository whose store lives in memory: nothing is written but its config.
    let dir = tempfile::tempdir()?;
    let options = InitOptions {
        store_url: Some("mem://".into()),
        ..InitOptions::default()
    };
    let repo = Repository::init(dir.path(), options)?;
    // Templates built in code, not read from `actorTemplates/`.
    for (actor, schema) in [("datacenter", DATACENTER_SCHEMA), ("node", NODE_SCHEMA)] {
        let source = TemplateSource {
            schema_hrd: Some(schema.to_owned()),
            ..TemplateSource::default()
        };
        let template = Template::from_source(&actor.parse()?, format!("embed/{actor}"), &source)?;
        repo.install_template(&template)?;
    }
    let report = repo.apply_blueprint_text("embed.yaml", BLUEPRINT, ApplyOptions::default())?;
    println!("created {} services", report.created.len());

    // Native actions: `install` gives every node an address from its datacenter's subnet and
    // its own index; the change is validated against the schema and committed with the job's
    // success.
    let mut actions = ActionRegistry::new();
    actions.register_for("node", "install", |job| {
        let parent = job.parent().ok_or("a node needs its datacenter")?;
        let subnet = parent.data["subnet"]
            .as_str()
            .ok_or_else(|| ActionFailed::msg("the datacenter has no subnet"))?;
        let index = job.data("index").and_then(|v| v.as_i64()).unwrap_or(0);
        let ip = format!("{subnet}.{index}");
        job.log(format!("assigned {ip}"));
        job.set("ip", serde_json::json!(ip));
        Ok(())
    })?;
    let mut run = RunOptions::default();
    run.registry = Some(Arc::new(actions));
    let outcome = create_run(&repo, &run)?;
    let record = outcome.record.ok_or("nothing was scheduled")?;
    println!("run {}: {}", record.id, record.state);
    if record.state != JobState::Ok {
        return Err(format!("run {} ended {}", record.id, record.state).into());
    }

    let nodes = ServiceFilter {
        role: Some("node".into()),
        ..ServiceFilter::default()
    };
    for node in repo.services(&nodes)? {
        let data = repo.service_data(&node)?;
        let expected = format!("192.168.7.{}", data["index"]);
        println!("{} has ip {}", node.key, data["ip"]);
        if data["ip"] != expected.as_str() {
            return Err(format!("{}: ip {} instead of {expected}", node.key, data["ip"]).into());
        }
    }
    Ok(())
}
