//! Creation actions (`input`, `init`) through `CreationActions`, driven by a fake host.

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::path::{Path, PathBuf};

use ays_core::creation::{
    CreationCall, CreationDone, CreationEvent, CreationFailure, CreationRequest, CreationRuntime,
    CreationSession,
};
use ays_core::{ActionCode, Runtime};
use ays_run::CreationActions;
use serde_json::{Map, Value, json};

type Res<T> = Result<T, Box<dyn Error>>;

/// The code of `action`: the whole actions file `code`, read from the template file `file`.
fn code(runtime: Runtime, action: &str, code: &str, file: &str) -> Res<ActionCode> {
    Ok(ActionCode {
        name: action.parse()?,
        runtime,
        code: code.to_owned(),
        args: String::new(),
        doc: String::new(),
        file: file.to_owned(),
        fingerprint: String::new(),
    })
}

/// A service view as ays-core gives it.
fn view(repo: &Path, actor: &str, instance: &str, data: Value) -> Value {
    let role = actor.split('.').next().unwrap_or(actor);
    let key = format!("{role}!{instance}");
    json!({
        "key": key, "role": role, "name": instance, "actor": actor, "data": data,
        "parent": null, "producers": {}, "consumers": {},
        "path": repo.join(".ays/services").join(&key),
    })
}

fn object(value: Value) -> Res<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!("not an object: {other}").into()),
    }
}

/// A repository as far as creation actions see it: services by key, templates by actor (the
/// code of their `init`), every request and event in order.
struct Host {
    repo: tempfile::TempDir,
    services: BTreeMap<String, Value>,
    inits: HashMap<String, ActionCode>,
    /// Requests of these ops are refused with this text.
    refuse: HashMap<&'static str, String>,
    requests: Vec<CreationRequest>,
    events: Vec<String>,
}

impl Host {
    fn new() -> Res<Self> {
        Ok(Self {
            repo: tempfile::tempdir()?,
            services: BTreeMap::new(),
            inits: HashMap::new(),
            refuse: HashMap::new(),
            requests: Vec::new(),
            events: Vec::new(),
        })
    }

    fn root(&self) -> PathBuf {
        self.repo.path().to_owned()
    }

    fn call(
        &self,
        action: &str,
        code: ActionCode,
        service: &Value,
        args: Value,
    ) -> Res<CreationCall> {
        let actor = service["actor"].as_str().ok_or("view without actor")?;
        Ok(CreationCall {
            action: action.parse()?,
            code,
            actor: actor.parse()?,
            service: service.clone(),
            args: object(args)?,
            repo: self.root(),
        })
    }

    /// Runs `call` to its end, answering its requests.
    fn run(&mut self, session: &mut dyn CreationSession, call: &CreationCall) -> Res<CreationDone> {
        let key = call.service["key"].as_str().unwrap_or("?").to_owned();
        self.events.push(format!("call {} {key}", call.action));
        session.call(call)?;
        loop {
            match session.next()? {
                CreationEvent::Request(request) => {
                    let op = op(&request);
                    self.events.push(format!("request {op}"));
                    self.requests.push(request.clone());
                    let reply = match self.refuse.get(op) {
                        Some(error) => Err(error.clone()),
                        None => Ok(self.answer(session, request)?),
                    };
                    self.events.push(format!("reply {op}"));
                    session.reply(reply)?;
                }
                CreationEvent::Done(done) => {
                    self.events.push(format!("done {key}"));
                    return Ok(done);
                }
            }
        }
    }

    fn answer(
        &mut self,
        session: &mut dyn CreationSession,
        request: CreationRequest,
    ) -> Res<Value> {
        Ok(match request {
            CreationRequest::Get { key } => self.services.get(&key).cloned().unwrap_or(Value::Null),
            CreationRequest::Find { actor, parent, .. } => Value::Array(
                self.services
                    .values()
                    .filter(|v| actor.as_deref().is_none_or(|a| v["actor"] == a))
                    .filter(|v| parent.as_deref().is_none_or(|p| v["parent"] == p))
                    .cloned()
                    .collect(),
            ),
            CreationRequest::Actor { name } => json!({ "name": name }),
            CreationRequest::Create {
                actor,
                instance,
                args,
            } => {
                let created = view(self.repo.path(), &actor, &instance, Value::Object(args));
                let key = created["key"].as_str().unwrap_or_default().to_owned();
                self.services.insert(key.clone(), created);
                if let Some(init) = self.inits.get(&actor).cloned() {
                    let call = self.call("init", init, &self.services[&key], json!({}))?;
                    let done = self.run(session, &call)?;
                    if let Some(failure) = done.failure {
                        return Err(format!("nested init failed: {failure:?}").into());
                    }
                    self.events.push(format!("nested output {:?}", done.output));
                }
                self.services[&key].clone()
            }
            CreationRequest::Consume { consumer, producer } => {
                let role = producer.split('!').next().unwrap_or_default().to_owned();
                let view = self.services.get_mut(&consumer).ok_or("no consumer")?;
                view["producers"][role] = json!([producer]);
                view.clone()
            }
            CreationRequest::Save { key, data } => {
                let view = self.services.get_mut(&key).ok_or("no such service")?;
                let fields = view["data"].as_object_mut().ok_or("no data")?;
                fields.extend(data);
                view.clone()
            }
        })
    }
}

fn op(request: &CreationRequest) -> &'static str {
    match request {
        CreationRequest::Get { .. } => "get",
        CreationRequest::Find { .. } => "find",
        CreationRequest::Actor { .. } => "actor",
        CreationRequest::Create { .. } => "create",
        CreationRequest::Consume { .. } => "consume",
        CreationRequest::Save { .. } => "save",
    }
}

const NODE_OVC: &str = "\
def input(job):
    # support for using node in blueprint to specify the parent.
    args = job.model.args
    if 'node' in args:
        args['os'] = args['node']
        del args['node']
    return args


def init(job):
    service = job.service
    os_actor = service.aysrepo.actorGet('os.ssh.ubuntu')
    os_actor.serviceCreate(service.name, args={'node': service.name, 'sshkey': service.model.data.sshkey})
    print('created', service.name)
";

const NODE_FILE: &str = "/templates/nodes/node.ovc/actions.py";

const OS_INIT: &str = "\
def init(job):
    service = job.service
    print('os init of', service.name, 'for', service.model.data.node)
    service.model.data.ready = True
    service.saveAll()
";

#[test]
fn input_returning_args_replaces_them_and_unchanged_args_stay_none() {
    let mut host = Host::new().unwrap();
    let mut session = CreationActions::new().session().unwrap();
    let node = view(host.repo.path(), "node.ovc", "n1", json!({}));
    let input = code(Runtime::Python, "input", NODE_OVC, NODE_FILE).unwrap();
    let call = host
        .call(
            "input",
            input,
            &node,
            json!({"node": "n1", "os.image": "ubuntu"}),
        )
        .unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(done.failure, None);
    assert_eq!(
        done.args,
        Some(object(json!({"os": "n1", "os.image": "ubuntu"})).unwrap())
    );

    for (text, expected) in [
        ("def input(job):\n    return None\n", None),
        ("def input(job):\n    job.model.args.get('x')\n", None),
        (
            "def input(job):\n    job.model.args['size'] = 2\n",
            Some(json!({"x": 1, "size": 2})),
        ),
        (
            "def input(job):\n    job.model.args = {'replaced': True}\n",
            Some(json!({"replaced": true})),
        ),
    ] {
        let input = code(Runtime::Python, "input", text, "/t/actions.py").unwrap();
        let call = host.call("input", input, &node, json!({"x": 1})).unwrap();
        let done = host.run(session.as_mut(), &call).unwrap();
        assert_eq!(done.failure, None, "{text}");
        assert_eq!(done.args, expected.map(|v| object(v).unwrap()), "{text}");
    }
    // All of it in the session's one interpreter: no request was needed.
    assert_eq!(host.requests, []);
}

#[test]
fn init_creates_a_service_whose_own_init_runs_nested_before_the_reply() {
    let mut host = Host::new().unwrap();
    host.inits.insert(
        "os.ssh.ubuntu".into(),
        code(
            Runtime::Python,
            "init",
            OS_INIT,
            "/templates/os.ssh.ubuntu/actions.py",
        )
        .unwrap(),
    );
    let node = view(
        host.repo.path(),
        "node.ovc",
        "n1",
        json!({"sshkey": "main"}),
    );
    host.services.insert("node!n1".into(), node.clone());
    let mut session = CreationActions::new().session().unwrap();
    let init = code(Runtime::Python, "init", NODE_OVC, NODE_FILE).unwrap();
    let call = host.call("init", init, &node, json!({})).unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(done.failure, None);
    assert_eq!(done.output, "created n1\n");
    assert_eq!(done.args, None);
    assert_eq!(
        host.requests,
        [
            CreationRequest::Actor {
                name: "os.ssh.ubuntu".into()
            },
            CreationRequest::Create {
                actor: "os.ssh.ubuntu".into(),
                instance: "n1".into(),
                args: object(json!({"node": "n1", "sshkey": "main"})).unwrap(),
            },
            CreationRequest::Save {
                key: "os!n1".into(),
                data: object(json!({"ready": true})).unwrap(),
            },
        ]
    );
    assert_eq!(
        host.events,
        [
            "call init node!n1",
            "request actor",
            "reply actor",
            "request create",
            "call init os!n1",
            "request save",
            "reply save",
            "done os!n1",
            "nested output \"os init of n1 for n1\\n\"",
            "reply create",
            "done node!n1",
        ]
    );
    assert_eq!(host.services["os!n1"]["data"]["ready"], json!(true));
}

#[test]
fn services_are_read_found_linked_and_saved_through_requests() {
    let mut host = Host::new().unwrap();
    let root = host.root();
    let mut vdc = view(&root, "vdc", "v1", json!({"location": "fra"}));
    vdc["consumers"] = json!({"node": ["node!n1"]});
    let mut node = view(&root, "node.ovc", "n1", json!({"memGb": 2}));
    node["parent"] = json!("vdc!v1");
    node["producers"] = json!({"vdc": ["vdc!v1"]});
    let key = view(&root, "sshkey", "k1", json!({}));
    for v in [&vdc, &node, &key] {
        host.services
            .insert(v["key"].as_str().unwrap().to_owned(), v.clone());
    }
    let text = "\
def init(job):
    service = job.service
    repo = service.aysrepo
    print(repo.serviceGet('os', 'nope', die=False))
    try:
        repo.serviceGet('os', 'nope')
    except j.exceptions.NotFound as e:
        print('not found:', e)
    print(service.parent, service.parent.model.data.location, service.producers['vdc'])
    print([str(s) for s in repo.servicesFind(actor='node.ovc', parent=service.parent)])
    print(repo.servicesFind(name='n*', first=True))
    service.consume(repo.serviceGet('sshkey', 'k1'))
    print(sorted(service.producers))
    service.model.data['mem.gb'] = 4
    service.model.data.unsaved = 'kept'
    service.model.save()
    service.data.later = 1
";
    let init = code(Runtime::Python, "init", text, "/t/actions.py").unwrap();
    let call = host.call("init", init, &node, json!({})).unwrap();
    let mut session = CreationActions::new().session().unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(done.failure, None, "{}", done.output);
    assert_eq!(
        done.output,
        "None\nnot found: service os!nope not found\nservice:vdc!v1 fra [service:vdc!v1]\n\
         ['service:node!n1']\nservice:node!n1\n['sshkey', 'vdc']\n"
    );
    let ops: Vec<&str> = host.requests.iter().map(op).collect();
    assert_eq!(
        ops,
        [
            "get", "get", "get", "get", "find", "find", "get", "consume", "get", "get", "save"
        ]
    );
    assert_eq!(
        host.requests[4],
        CreationRequest::Find {
            actor: Some("node.ovc".into()),
            role: None,
            name: None,
            parent: Some("vdc!v1".into()),
            producer: None,
        }
    );
    assert_eq!(
        host.requests[5],
        CreationRequest::Find {
            actor: None,
            role: None,
            name: Some("n*".into()),
            parent: None,
            producer: None,
        }
    );
    assert_eq!(
        host.requests[10],
        CreationRequest::Save {
            key: "node!n1".into(),
            data: object(json!({"memGb": 4, "unsaved": "kept"})).unwrap(),
        }
    );
    // What the action assigned after its last save is the data it leaves.
    assert_eq!(done.data, object(json!({"later": 1})).unwrap());
}

#[test]
fn a_refused_request_raises_where_the_action_asked_naming_the_template_line() {
    let mut host = Host::new().unwrap();
    host.refuse
        .insert("create", "os.ssh.ubuntu: no such field `sshkey`".into());
    let node = view(
        host.repo.path(),
        "node.ovc",
        "n1",
        json!({"sshkey": "main"}),
    );
    let init = code(Runtime::Python, "init", NODE_OVC, NODE_FILE).unwrap();
    let call = host.call("init", init, &node, json!({})).unwrap();
    let mut session = CreationActions::new().session().unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    let failure = done.failure.unwrap();
    assert_eq!(
        failure.message,
        "j.exceptions.RuntimeError: os.ssh.ubuntu: no such field `sshkey`"
    );
    assert!(
        failure
            .detail
            .starts_with("Traceback (most recent call last):"),
        "{}",
        failure.detail
    );
    // serviceCreate is on line 13 of the template's file.
    assert!(
        failure.detail.contains(&format!(
            "File \"{NODE_FILE}\", line 13, in init\n    os_actor.serviceCreate("
        )),
        "{}",
        failure.detail
    );
    // The session goes on: the same interpreter runs the next call.
    let input = code(Runtime::Python, "input", NODE_OVC, NODE_FILE).unwrap();
    let call = host
        .call("input", input, &node, json!({"node": "n2"}))
        .unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(done.args, Some(object(json!({"os": "n2"})).unwrap()));
}

#[test]
fn jumpscale_exceptions_fail_the_action_with_their_message_and_output() {
    let text = "\
from JumpScale import j as jumpscale


def input(job):
    print('checking', job.service)
    assert jumpscale is j
    raise j.exceptions.Input(message='Cannot find ssh key:x for service:%s' % job.service,
                             level=1, source='', tags='', msgpub='')
";
    let mut host = Host::new().unwrap();
    let key = view(host.repo.path(), "sshkey", "k1", json!({}));
    let input = code(Runtime::Python, "input", text, "/t/sshkey/actions.py").unwrap();
    let call = host.call("input", input, &key, json!({})).unwrap();
    let mut session = CreationActions::new().session().unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(done.output, "checking service:sshkey!k1\n");
    assert_eq!(
        done.failure.map(|f| f.message),
        Some("j.exceptions.Input: Cannot find ssh key:x for service:service:sshkey!k1".into())
    );
    assert_eq!(done.args, None);
}

#[test]
fn prints_are_output_and_processes_an_action_starts_cannot_break_the_conversation() {
    let text = "\
import os, sys


def init(job):
    print('hello')
    os.system('echo noise from a child; echo more >&2')
    os.write(1, b'raw write to fd 1\\n')
    sys.stderr.write('to stderr\\n')
    job.log('logged')
";
    let mut host = Host::new().unwrap();
    let node = view(host.repo.path(), "node", "n1", json!({}));
    let init = code(Runtime::Python, "init", text, "/t/actions.py").unwrap();
    let call = host.call("init", init, &node, json!({})).unwrap();
    let mut session = CreationActions::new().session().unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(done.failure, None);
    assert_eq!(done.output, "hello\nto stderr\nlogged\n");
}

#[test]
fn j_sal_makes_keys_as_the_sshkey_template_does() {
    // The upstream sshkey template's way, with `sh` standing in for ssh-keygen.
    let text = "\
def input(job):
    args = job.model.args
    args['key.path'] = j.sal.fs.joinPaths(job.service.path, 'id_rsa')
    j.sal.fs.createDir(job.service.path)
    j.sal.fs.remove(args['key.path'])
    j.sal.fs.remove(args['key.path'])
    cmd = \"sh -c 'echo PRIVATE > %s; echo PUBLIC > %s.pub; echo made'\" % (args['key.path'], args['key.path'])
    rc, out = j.sal.process.execute(cmd, die=True, ignoreErrorOutput=False)
    args['made'] = [rc, out]
    args['key.priv'] = j.sal.fs.fileGetContents(args['key.path'])
    args['key.pub'] = j.sal.fs.fileGetContents(args['key.path'] + '.pub')
    j.sal.fs.chmod(args['key.path'], 0o600)
    j.sal.fs.copyFile(args['key.path'] + '.pub', args['key.path'] + '.copy')
    j.sal.fs.writeFile(args['key.path'] + '.copy', 'more', append=True)
    args['copy'] = j.sal.fs.fileGetContents(args['key.path'] + '.copy')
    args['exists'] = [j.sal.fs.exists(args['key.path'], followlinks=True), j.sal.fs.exists('/nope')]
    try:
        j.sal.process.execute('echo oops >&2; exit 3')
    except j.exceptions.RuntimeError as e:
        args['failed'] = str(e)
    args['kept going'] = j.sal.process.execute('exit 2', die=False)
    try:
        j.clients.openvcloud
    except AttributeError as e:
        args['missing'] = str(e)
    return args
";
    let mut host = Host::new().unwrap();
    let key = view(host.repo.path(), "sshkey", "k1", json!({}));
    let dir = host.repo.path().join(".ays/services/sshkey!k1");
    let input = code(Runtime::Python, "input", text, "/t/sshkey/actions.py").unwrap();
    let call = host.call("input", input, &key, json!({})).unwrap();
    let mut session = CreationActions::new().session().unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(done.failure, None, "{}", done.output);
    let path = dir.join("id_rsa");
    assert_eq!(
        done.args,
        Some(
            object(json!({
                "key.path": path,
                "made": [0, "made\n"],
                "key.priv": "PRIVATE\n",
                "key.pub": "PUBLIC\n",
                "copy": "PUBLIC\nmore",
                "exists": [true, false],
                "failed": "command exited with 3: echo oops >&2; exit 3\noops",
                "kept going": [2, ""],
                "missing": "j.clients is not part of ays's compatibility API \
                            (j.exceptions, j.sal.fs and j.sal.process)",
            }))
            .unwrap()
        )
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

const SHELL: &str = r#"
init() {
    echo "$AYS_SERVICE $AYS_ACTION $AYS_RUN in $PWD"
    grep -o '"key":"vdc[^"]*"' "$AYS_JOB_FILE"
    echo '{"ready": true}' > "$AYS_RESULT_FILE"
}
"#;

#[test]
fn a_shell_init_result_file_is_the_data_it_sets_and_a_failure_keeps_stderr() {
    let mut host = Host::new().unwrap();
    let mut node = view(host.repo.path(), "node", "n1", json!({"size": 1}));
    node["parent"] = json!("vdc!v1");
    let init = code(Runtime::Shell, "init", SHELL, "/t/node/actions.sh").unwrap();
    let call = host.call("init", init, &node, json!({})).unwrap();
    let mut session = CreationActions::new().session().unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    let root = std::fs::canonicalize(host.repo.path()).unwrap();
    assert_eq!(
        done,
        CreationDone {
            args: None,
            data: object(json!({"ready": true})).unwrap(),
            output: format!(
                "node!n1 init creation in {}\n\"key\":\"vdc!v1\"\n",
                root.display()
            ),
            failure: None,
        }
    );

    let failing =
        "init() {\n    echo working\n    echo first >&2\n    echo boom >&2\n    return 4\n}\n";
    let init = code(Runtime::Shell, "init", failing, "/t/node/actions.sh").unwrap();
    let call = host.call("init", init, &node, json!({})).unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(
        done.failure,
        Some(CreationFailure {
            message: "exited with 4: first; boom".into(),
            detail: "first\nboom".into(),
        })
    );
    assert_eq!(done.output, "working\nfirst\nboom\n");
}

#[test]
fn sessions_without_python_actions_never_start_python() {
    let mut host = Host::new().unwrap();
    let runtime = CreationActions::new().with_python("/nonexistent/python3");
    let mut session = runtime.session().unwrap();
    let node = view(host.repo.path(), "node", "n1", json!({}));
    let shell = code(Runtime::Shell, "init", SHELL, "/t/node/actions.sh").unwrap();
    let call = host.call("init", shell, &node, json!({})).unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(done.failure, None);
    let none = code(Runtime::None, "input", "", "").unwrap();
    let call = host.call("input", none, &node, json!({"a": 1})).unwrap();
    assert_eq!(
        host.run(session.as_mut(), &call).unwrap(),
        CreationDone::default()
    );
    // The interpreter is only looked for when a Python action comes.
    let python = code(Runtime::Python, "init", NODE_OVC, NODE_FILE).unwrap();
    let call = host.call("init", python, &node, json!({})).unwrap();
    let err = session.call(&call).unwrap_err();
    assert!(
        err.message
            .starts_with("cannot start `/nonexistent/python3` for creation actions: "),
        "{err}"
    );
}

#[test]
fn an_interpreter_that_dies_is_an_error_naming_its_exit_and_stderr() {
    let text = "\
import os, sys


def init(job):
    sys.__stderr__.write('about to die\\n')
    sys.__stderr__.flush()
    os._exit(3)
";
    let mut host = Host::new().unwrap();
    let node = view(host.repo.path(), "node", "n1", json!({}));
    let init = code(Runtime::Python, "init", text, "/t/actions.py").unwrap();
    let call = host.call("init", init, &node, json!({})).unwrap();
    let mut session = CreationActions::new().session().unwrap();
    let err = host.run(session.as_mut(), &call).unwrap_err();
    assert_eq!(
        err.to_string(),
        "python ended (exit status: 3) while running a creation action; \
         its stderr ended with: about to die"
    );
    // The next Python call gets a new interpreter.
    let input = code(Runtime::Python, "input", NODE_OVC, NODE_FILE).unwrap();
    let call = host
        .call("input", input, &node, json!({"node": "n1"}))
        .unwrap();
    let done = host.run(session.as_mut(), &call).unwrap();
    assert_eq!(done.args, Some(object(json!({"os": "n1"})).unwrap()));
}

#[test]
fn a_python_action_that_hangs_is_killed_at_the_timeout() {
    let text = "\
import sys, time


def init(job):
    sys.__stderr__.write('waiting forever\\n')
    sys.__stderr__.flush()
    time.sleep(3600)
";
    let mut host = Host::new().unwrap();
    let node = view(host.repo.path(), "node", "n1", json!({}));
    let init = code(Runtime::Python, "init", text, "/t/actions.py").unwrap();
    let call = host.call("init", init, &node, json!({})).unwrap();
    let mut session = CreationActions::new()
        .with_timeout(std::time::Duration::from_secs(1))
        .session()
        .unwrap();
    let started = std::time::Instant::now();
    let err = host.run(session.as_mut(), &call).unwrap_err();
    assert_eq!(
        err.to_string(),
        "python said nothing for 1s while running a creation action: killed; \
         its stderr ended with: waiting forever"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn the_session_refuses_events_out_of_order() {
    let host = Host::new().unwrap();
    let mut session = CreationActions::new().session().unwrap();
    assert_eq!(
        session.next().unwrap_err().message,
        "no creation action is running"
    );
    assert_eq!(
        session.reply(Ok(Value::Null)).unwrap_err().message,
        "no request waits for a reply"
    );
    let node = view(host.repo.path(), "node.ovc", "n1", json!({"sshkey": "k"}));
    let init = code(Runtime::Python, "init", NODE_OVC, NODE_FILE).unwrap();
    let call = host.call("init", init, &node, json!({})).unwrap();
    session.call(&call).unwrap();
    // The action runs: nothing may start before it asks something.
    assert_eq!(
        session.call(&call).unwrap_err().message,
        "a creation action can only start when none runs, or when the running one waits for a reply"
    );
    assert_eq!(
        session.next().unwrap(),
        CreationEvent::Request(CreationRequest::Actor {
            name: "os.ssh.ubuntu".into()
        })
    );
    assert_eq!(
        session.next().unwrap_err().message,
        "the running creation action waits for a reply"
    );
    session.reply(Err("no such actor".into())).unwrap();
    let CreationEvent::Done(done) = session.next().unwrap() else {
        panic!("expected the end of the action");
    };
    assert_eq!(
        done.failure.map(|f| f.message),
        Some("j.exceptions.RuntimeError: no such actor".into())
    );
}
