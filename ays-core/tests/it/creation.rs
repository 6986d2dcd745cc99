//! `input` and `init` at creation (8.1 §3.5), driven by a scripted creation runtime: what they
//! ask is checked and written in the blueprint's one batch, a failure writes nothing, and
//! templates without them start nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use ays_core::both;
use ays_core::creation::{
    CreationCall, CreationDone, CreationError, CreationEvent, CreationFailure, CreationRequest,
    CreationRuntime, CreationSession,
};
use ays_core::serde_json::{Map, Value, json};
use ays_core::testing::{Backend, TestRepo, TestResult};
use ays_core::{ActionState, ApplyOptions, BlueprintError, CoreError, Repository, ServiceKey};

/// What a scripted action does: the events it yields, in order.
type Script = fn(&CreationCall) -> Vec<CreationEvent>;

#[derive(Debug, Default)]
struct Log {
    sessions: usize,
    /// `actor action` of each call, in order.
    calls: Vec<String>,
    replies: Vec<Result<Value, String>>,
}

#[derive(Debug)]
struct Scripted {
    script: Script,
    log: Arc<Mutex<Log>>,
}

impl CreationRuntime for Scripted {
    fn session(&self) -> Result<Box<dyn CreationSession>, CreationError> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sessions += 1;
        Ok(Box::new(Session {
            script: self.script,
            log: Arc::clone(&self.log),
            frames: Vec::new(),
        }))
    }
}

struct Session {
    script: Script,
    log: Arc<Mutex<Log>>,
    /// The running actions, innermost last, each with its events still to yield.
    frames: Vec<VecDeque<CreationEvent>>,
}

impl CreationSession for Session {
    fn call(&mut self, call: &CreationCall) -> Result<(), CreationError> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .calls
            .push(format!("{} {}", call.actor, call.action));
        self.frames.push((self.script)(call).into());
        Ok(())
    }

    fn next(&mut self) -> Result<CreationEvent, CreationError> {
        let frame = self
            .frames
            .last_mut()
            .ok_or_else(|| CreationError::new("nothing runs"))?;
        let ev = frame.pop_front().unwrap_or(CreationEvent::Done(done()));
        if matches!(ev, CreationEvent::Done(_)) {
            self.frames.pop();
        }
        Ok(ev)
    }

    fn reply(&mut self, reply: Result<Value, String>) -> Result<(), CreationError> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replies
            .push(reply);
        Ok(())
    }
}

fn done() -> CreationDone {
    CreationDone::default()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn with_runtime(t: &TestRepo, script: Script) -> (Repository, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let repo = t.repo.clone().with_creation_runtime(Arc::new(Scripted {
        script,
        log: Arc::clone(&log),
    }));
    (repo, log)
}

fn log_of(log: &Arc<Mutex<Log>>) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// node.ovc's `input` turns `node:` into `os:`, and its `init` creates its os.ssh.ubuntu, as
/// the upstream template does; sshkey has no creation action.
fn node_templates(t: &TestRepo) -> TestResult {
    t.template("sshkey", "key.pub = type:str\n")?;
    t.template(
        "node.ovc",
        "os = type:str\nsshkey = type:str consume:sshkey:0:1\nmemory = type:int default:1\n",
    )?;
    t.write(
        "actorTemplates/node.ovc/actions.py",
        "def input(job):\n    args = job.model.args\n    args['os'] = args.pop('node')\n    return args\n\n\
         def init(job):\n    pass\n\ndef install(job):\n    pass\n",
    )?;
    t.template(
        "os.ssh.ubuntu",
        "node = type:str parent:'node' auto\nsshkey = type:str consume:sshkey:0:1\n",
    )?;
    Ok(())
}

fn node_script(call: &CreationCall) -> Vec<CreationEvent> {
    match (call.actor.as_str(), call.action.as_str()) {
        ("node.ovc", "input") => {
            let mut args = call.args.clone();
            if let Some(n) = args.remove("node") {
                args.insert("os".into(), n);
            }
            vec![CreationEvent::Done(CreationDone {
                args: Some(args),
                ..done()
            })]
        }
        ("node.ovc", "init") => {
            let name = call.service["name"].as_str().unwrap_or_default().to_owned();
            let sshkey = call.service["data"]["sshkey"].clone();
            vec![
                CreationEvent::Request(CreationRequest::Actor {
                    name: "os.ssh.ubuntu".into(),
                }),
                CreationEvent::Request(CreationRequest::Create {
                    actor: "os.ssh.ubuntu".into(),
                    instance: name.clone(),
                    args: obj(json!({"node": name, "sshkey": sshkey})),
                }),
                CreationEvent::Request(CreationRequest::Find {
                    actor: Some("os.*".into()),
                    role: None,
                    name: Some(name),
                    parent: None,
                    producer: None,
                }),
                CreationEvent::Done(CreationDone {
                    output: "node ready\n".into(),
                    ..done()
                }),
            ]
        }
        _ => vec![CreationEvent::Done(done())],
    }
}

fn init_creates_services(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    node_templates(&t)?;
    let (repo, log) = with_runtime(&t, node_script);
    let report = repo.apply_blueprint_text(
        "bp.yaml",
        "sshkey__main:\nnode.ovc__demo:\n  node: anything\n  sshkey: main\n",
        ApplyOptions::default(),
    )?;
    let created: Vec<String> = report.created.iter().map(ToString::to_string).collect();
    assert_eq!(created, ["sshkey!main", "node!demo", "os!demo"]);
    // `input` renamed the attribute before the schema saw it.
    let node = repo.service(&"node!demo".parse()?)?.ok_or("no node")?;
    let data = repo.service_data(&node)?;
    assert_eq!(data["os"], "anything");
    assert_eq!(node.action("init").map(|a| a.state), Some(ActionState::Ok));
    assert_eq!(node.action("input").map(|a| a.state), Some(ActionState::Ok));
    // The service init created is linked as a blueprint's would be: under its parent, with
    // the sshkey the node had.
    let os = repo.service(&"os!demo".parse()?)?.ok_or("no os")?;
    assert_eq!(os.actor.as_str(), "os.ssh.ubuntu");
    assert_eq!(
        os.parent.as_ref().map(|p| p.key.to_string()).as_deref(),
        Some("node!demo")
    );
    let producers: Vec<String> = os.producers.iter().map(|p| p.key.to_string()).collect();
    assert_eq!(producers, ["node!demo", "sshkey!main"]);
    let l = log_of(&log);
    assert_eq!(l.sessions, 1);
    assert_eq!(l.calls, ["node.ovc input", "node.ovc init"]);
    // actorGet, serviceCreate, then servicesFind(actor='os.*') found the new service.
    assert_eq!(l.replies.len(), 3);
    let found = l.replies[2].as_ref().map_err(Clone::clone)?;
    assert_eq!(found[0]["key"], "os!demo");
    assert_eq!(found[0]["parent"], "node!demo");
    t.check_indexes()?;
    Ok(())
}

#[test]
fn issue_10_init_runs_again_on_each_application_and_runs_skip_it() -> TestResult {
    let t = TestRepo::new(Backend::Redb)?;
    node_templates(&t)?;
    let (repo, log) = with_runtime(&t, node_script);
    let bp = "sshkey__main:\nnode.ovc__demo:\n  node: x\n  sshkey: main\n";
    repo.apply_blueprint_text("bp.yaml", bp, ApplyOptions::default())?;
    // A blueprint that names no node still runs the node's init (8.1 did on every
    // execution); the service it asks for exists, so nothing is created.
    let report =
        repo.apply_blueprint_text("other.yaml", "sshkey__other:\n", ApplyOptions::default())?;
    let created: Vec<String> = report.created.iter().map(ToString::to_string).collect();
    assert_eq!(created, ["sshkey!other"]);
    assert_eq!(
        log_of(&log).calls,
        ["node.ovc input", "node.ovc init", "node.ovc init"]
    );
    Ok(())
}

both!(
    issue_10_init_creates_services_in_the_blueprints_batch,
    init_creates_services
);

fn failing_init(b: Backend) -> TestResult {
    let t = TestRepo::new(b)?;
    node_templates(&t)?;
    fn failing(call: &CreationCall) -> Vec<CreationEvent> {
        match call.action.as_str() {
            "init" => vec![
                CreationEvent::Request(CreationRequest::Create {
                    actor: "os.ssh.ubuntu".into(),
                    instance: "demo".into(),
                    args: obj(json!({"node": "demo"})),
                }),
                CreationEvent::Done(CreationDone {
                    failure: Some(CreationFailure {
                        message: "Input: no g8client".into(),
                        detail: "File \"actorTemplates/node.ovc/actions.py\", line 5, in init"
                            .into(),
                    }),
                    ..done()
                }),
            ],
            _ => vec![CreationEvent::Done(done())],
        }
    }
    let (repo, _) = with_runtime(&t, failing);
    let before = t.scan()?;
    let err = repo
        .apply_blueprint_text(
            "bp.yaml",
            "node.ovc__demo:\n  os: x\n",
            ApplyOptions::default(),
        )
        .err()
        .ok_or("the blueprint applied")?;
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            CoreError::Blueprint(BlueprintError::CreationFailed { action: "init", .. })
        ),
        "{text}"
    );
    assert!(
        text.starts_with("bp.yaml:1: `node!demo`: init failed: Input: no g8client"),
        "{text}"
    );
    assert!(text.contains("actions.py\", line 5"), "{text}");
    assert_eq!(t.scan()?, before, "a failing init wrote something");
    Ok(())
}

both!(
    issue_10_a_failing_init_rejects_the_blueprint_and_writes_nothing,
    failing_init
);

#[test]
fn issue_10_a_refused_request_fails_the_blueprint_even_when_caught() -> TestResult {
    let t = TestRepo::new(Backend::Redb)?;
    node_templates(&t)?;
    fn unknown(call: &CreationCall) -> Vec<CreationEvent> {
        match call.action.as_str() {
            // The action asks for an actor that has no template, catches the error and ends.
            "init" => vec![
                CreationEvent::Request(CreationRequest::Create {
                    actor: "nosuch".into(),
                    instance: "x".into(),
                    args: Map::new(),
                }),
                CreationEvent::Done(done()),
            ],
            _ => vec![CreationEvent::Done(done())],
        }
    }
    let (repo, log) = with_runtime(&t, unknown);
    let before = t.scan()?;
    let err = repo
        .apply_blueprint_text(
            "bp.yaml",
            "node.ovc__demo:\n  os: x\n",
            ApplyOptions::default(),
        )
        .err()
        .ok_or("the blueprint applied")?;
    assert!(err.to_string().contains("unknown actor `nosuch`"), "{err}");
    let reply = log_of(&log).replies.first().cloned().ok_or("no reply")?;
    assert!(reply.is_err_and(|m| m.contains("nosuch")));
    assert_eq!(t.scan()?, before);
    Ok(())
}

#[test]
fn issue_10_templates_without_input_or_init_start_nothing() -> TestResult {
    let t = TestRepo::new(Backend::Redb)?;
    t.template("app", "port = type:int\n")?;
    t.write(
        "actorTemplates/app/actions.py",
        "def install(job):\n    pass\n",
    )?;
    let (repo, log) = with_runtime(&t, node_script);
    repo.apply_blueprint_text("bp.yaml", "app__a:\n  port: 1\n", ApplyOptions::default())?;
    assert_eq!(log_of(&log).sessions, 0);
    // Without a runtime, such templates work as before.
    t.repo
        .apply_blueprint_text("bp.yaml", "app__b:\n  port: 2\n", ApplyOptions::default())?;
    Ok(())
}

#[test]
fn issue_10_without_a_runtime_a_template_with_init_is_refused_by_name() -> TestResult {
    let t = TestRepo::new(Backend::Redb)?;
    node_templates(&t)?;
    let before = t.scan()?;
    let err = t
        .repo
        .apply_blueprint_text(
            "bp.yaml",
            "node.ovc__demo:\n  node: x\n",
            ApplyOptions::default(),
        )
        .err()
        .ok_or("the blueprint applied")?;
    let text = err.to_string();
    assert!(
        text.starts_with("bp.yaml:1: `node!demo`: its template defines `input`"),
        "{text}"
    );
    assert_eq!(t.scan()?, before);
    Ok(())
}

#[test]
fn issue_10_init_saves_data_and_links_producers() -> TestResult {
    let t = TestRepo::new(Backend::Redb)?;
    t.template("g8client", "account = type:str\n")?;
    t.template(
        "vdc",
        "account = type:str\ng8client = type:str consume:g8client:1:1\n",
    )?;
    t.template("app", "port = type:int\n")?;
    t.write(
        "actorTemplates/vdc/actions.py",
        "def init(job):\n    pass\n",
    )?;
    fn vdc(call: &CreationCall) -> Vec<CreationEvent> {
        let key = call.service["key"].as_str().unwrap_or_default().to_owned();
        // As the upstream vdc: the account comes from the g8client producer.
        let producer = call.service["producers"]["g8client"][0]
            .as_str()
            .unwrap_or("")
            .to_owned();
        vec![
            CreationEvent::Request(CreationRequest::Get { key: producer }),
            CreationEvent::Request(CreationRequest::Save {
                key: key.clone(),
                data: obj(json!({"account": "acme"})),
            }),
            CreationEvent::Request(CreationRequest::Consume {
                consumer: key,
                producer: "app!web".into(),
            }),
            CreationEvent::Request(CreationRequest::Get {
                key: "app!none".into(),
            }),
            CreationEvent::Done(done()),
        ]
    }
    let (repo, log) = with_runtime(&t, vdc);
    repo.apply_blueprint_text(
        "bp.yaml",
        "g8client__env:\n  account: acme\napp__web:\n  port: 80\nvdc__v:\n  g8client: env\n",
        ApplyOptions::default(),
    )?;
    let v = repo
        .service(&"vdc!v".parse::<ServiceKey>()?)?
        .ok_or("no vdc")?;
    assert_eq!(repo.service_data(&v)?["account"], "acme");
    let producers: Vec<String> = v.producers.iter().map(|p| p.key.to_string()).collect();
    assert_eq!(producers, ["g8client!env", "app!web"]);
    let web = repo.service(&"app!web".parse()?)?.ok_or("no app")?;
    assert!(web.consumers.iter().any(|c| c.key.as_str() == "vdc!v"));
    let l = log_of(&log);
    let g8 = l.replies[0].as_ref().map_err(Clone::clone)?;
    assert_eq!(g8["data"]["account"], "acme");
    assert_eq!(l.replies[3], Ok(Value::Null));
    t.check_indexes()?;
    Ok(())
}

#[test]
fn issue_10_input_runs_again_only_to_translate_unknown_attributes() -> TestResult {
    let t = TestRepo::new(Backend::Redb)?;
    node_templates(&t)?;
    let (repo, log) = with_runtime(&t, node_script);
    let bp = "sshkey__main:\nnode.ovc__demo:\n  node: x\n  sshkey: main\n";
    repo.apply_blueprint_text("bp.yaml", bp, ApplyOptions::default())?;
    // The same blueprint again: `node` is not in the schema, so input translates it again,
    // and nothing changes.
    let again = repo.apply_blueprint_text("bp.yaml", bp, ApplyOptions::default())?;
    assert!(again.is_empty(), "{again:?}");
    // With schema attributes only, input (which may have side effects) does not run.
    let plain = "node.ovc__demo:\n  os: y\n";
    let changed = repo.apply_blueprint_text("bp.yaml", plain, ApplyOptions::default())?;
    assert_eq!(changed.updated.len(), 1);
    assert_eq!(
        log_of(&log).calls,
        [
            "node.ovc input",
            "node.ovc init",
            "node.ovc input",
            "node.ovc init",
            "node.ovc init"
        ]
    );
    Ok(())
}

#[test]
fn issue_10_a_later_block_may_name_what_an_earlier_init_created() -> TestResult {
    // As upstream test_node_docker: app_docker's parent is the os.ssh.ubuntu that node.ovc's
    // init creates; the blueprint never declares it.
    let t = TestRepo::new(Backend::Redb)?;
    node_templates(&t)?;
    t.template("app_docker", "os = type:str parent:'os'\n")?;
    let (repo, _) = with_runtime(&t, node_script);
    let report = repo.apply_blueprint_text(
        "bp.yaml",
        "node.ovc__demo:\n  node: x\napp_docker__a:\n  os: demo\n",
        ApplyOptions::default(),
    )?;
    let created: Vec<String> = report.created.iter().map(ToString::to_string).collect();
    assert_eq!(created, ["node!demo", "app_docker!a", "os!demo"]);
    let app = repo.service(&"app_docker!a".parse()?)?.ok_or("no app")?;
    assert_eq!(
        app.parent.as_ref().map(|p| p.key.to_string()).as_deref(),
        Some("os!demo")
    );
    Ok(())
}
