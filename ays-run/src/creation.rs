//! Creation actions: the [`CreationRuntime`] that runs a template's `input` and `init` while a
//! blueprint is applied (see [`ays_core::creation`] for when and why).
//!
//! - Python actions run in one `python3` per session, started on the session's first Python
//!   call (a blueprint whose templates have no Python `input` or `init` starts none). It runs
//!   the embedded action server in its `create` mode, in the repository's directory, and talks
//!   JSON lines with it ([`interpreter`]). The action sees JumpScale 8.1's object model:
//!   `job.model.args`, `job.service` with its data, relations and `aysrepo` (`actorGet(...)
//!   .serviceCreate(...)`, `serviceGet`, `servicesFind`), `service.consume`, `save`, and `j`
//!   (`j.exceptions`, `j.sal.fs`, `j.sal.process`). Each of its reads and changes is a
//!   [`CreationRequest`] answered by the host; a change asked for in a request may run other
//!   actions (the created service's own), nested in the session before the reply.
//! - Shell actions run as a shell job does ([`ShellRuntime`](crate::ShellRuntime), a fresh bash
//!   per call, the same environment and `AYS_JOB_FILE`); what the function writes to
//!   `$AYS_RESULT_FILE` is the data it sets ([`CreationDone::data`]). They ask nothing: the
//!   session's next event after one is its end.
//!
//! Each actions file is written under `<repo>/.ays/creation/<code key>/` first (for Python,
//! with `actions.py.origin` naming the template's file, so that tracebacks name it).

mod interpreter;
mod shell;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tracing::debug;

use ays_core::creation::{
    CreationCall, CreationDone, CreationError, CreationEvent, CreationRuntime, CreationSession,
};
use ays_core::{JobLog, NameError, Runtime};

use crate::error::RuntimeError;
use interpreter::{FromPython, Interpreter};

/// Runs the creation actions of `actions.py` and `actions.sh` files; install it with
/// [`ays_core::Repository::with_creation_runtime`].
///
/// ```
/// use ays_core::creation::CreationRuntime;
///
/// let runtime = ays_run::CreationActions::new().with_python("python3");
/// // A session starts no process until it runs a Python action.
/// let _session = runtime.session()?;
/// # Ok::<(), ays_core::creation::CreationError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CreationActions {
    python: PathBuf,
    timeout: Duration,
}

/// How long a Python creation action may go without a word (a request or its end) before it
/// is killed; the same as a shell creation action's timeout.
pub const CREATION_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for CreationActions {
    fn default() -> Self {
        Self::new()
    }
}

impl CreationActions {
    /// Python actions run by `python3`, shell ones by `bash`.
    pub fn new() -> Self {
        Self {
            python: PathBuf::from("python3"),
            timeout: CREATION_TIMEOUT,
        }
    }

    /// Kills a Python action that says nothing for `timeout` (default [`CREATION_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs Python actions with another interpreter.
    pub fn with_python(mut self, python: impl Into<PathBuf>) -> Self {
        self.python = python.into();
        self
    }
}

impl CreationRuntime for CreationActions {
    fn session(&self) -> Result<Box<dyn CreationSession>, CreationError> {
        Ok(Box::new(Session {
            python: self.python.clone(),
            timeout: self.timeout,
            interpreter: None,
            stack: Vec::new(),
        }))
    }
}

/// Why a creation action could not run; given to ays-core as a [`CreationError`] holding the
/// whole chain.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreationFault {
    /// The host broke the conversation's order.
    #[error("{0}")]
    Order(&'static str),
    /// The call's service view has no `key`.
    #[error("the service of the `{action}` call has no `key`")]
    NoKey {
        /// The action called.
        action: String,
    },
    /// A key or name of the call is not valid.
    #[error("the `{action}` call names an invalid service")]
    Name {
        /// The action called.
        action: String,
        /// The rejected name.
        #[source]
        source: NameError,
    },
    /// An actions file could not be written.
    #[error("cannot write `{}`", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The interpreter could not be started.
    #[error("cannot start `{}` for creation actions", .program.display())]
    Spawn {
        /// The interpreter.
        program: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A Python action said nothing for the whole timeout; the interpreter was killed.
    #[error("python said nothing for {}s while running a creation action: killed{}", .after.as_secs(), last_words(.stderr))]
    TimedOut {
        /// The timeout.
        after: Duration,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// The interpreter ended (or closed its end) in the middle of the conversation.
    #[error("python ended ({status}) while running a creation action{}", last_words(.stderr))]
    Ended {
        /// Its exit status, as text.
        status: String,
        /// The last lines it wrote to stderr.
        stderr: String,
    },
    /// The interpreter's output could not be read.
    #[error("cannot read what python answers")]
    Read {
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The interpreter wrote something that is not a message of the conversation.
    #[error("python wrote `{line}`, which is not a creation message")]
    Garbage {
        /// The line, cut to 200 bytes.
        line: String,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
    },
    /// The shell runtime could not run a shell action.
    #[error("cannot run the shell action")]
    Shell {
        /// The cause.
        #[source]
        source: RuntimeError,
    },
}

fn last_words(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with: {stderr}")
    }
}

impl From<CreationFault> for CreationError {
    fn from(fault: CreationFault) -> Self {
        CreationError::new(JobLog::error_text(&fault))
    }
}

/// An action of the session's stack.
enum Frame {
    /// A Python action, waiting for the host's reply to its last request or not.
    Python { waiting: bool },
    /// An action that already ran (shell, or no code): its end is the next event.
    Ended(Box<CreationDone>),
}

/// One blueprint's conversation: a stack of running actions (each nested one started while the
/// one below waits for a reply) and the interpreter, once a Python action ran.
struct Session {
    python: PathBuf,
    timeout: Duration,
    interpreter: Option<Interpreter>,
    stack: Vec<Frame>,
}

impl Session {
    fn start(&mut self, call: &CreationCall) -> Result<(), CreationFault> {
        if !matches!(
            self.stack.last(),
            None | Some(Frame::Python { waiting: true })
        ) {
            return Err(CreationFault::Order(
                "a creation action can only start when none runs, or when the running one waits \
                 for a reply",
            ));
        }
        debug!(action = %call.action, actor = %call.actor, runtime = call.code.runtime.as_str(),
            "creation action started");
        let frame = match call.code.runtime {
            Runtime::None => Frame::Ended(Box::default()),
            Runtime::Shell => Frame::Ended(Box::new(shell::run(call)?)),
            Runtime::Python => {
                self.start_python(call)?;
                Frame::Python { waiting: false }
            }
        };
        self.stack.push(frame);
        Ok(())
    }

    fn start_python(&mut self, call: &CreationCall) -> Result<(), CreationFault> {
        let dir = scratch_dir(call);
        let file = dir.join("actions.py");
        if call.code.file.is_empty() {
            write_if_changed(&file, &crate::runner::python_file(&[&call.code]))?;
        } else {
            write_if_changed(&file, &call.code.code)?;
            write_if_changed(&dir.join("actions.py.origin"), &call.code.file)?;
        }
        let interpreter = match &mut self.interpreter {
            Some(interpreter) => interpreter,
            None => {
                debug!(python = %self.python.display(), "starting python for creation actions");
                self.interpreter
                    .insert(Interpreter::start(&self.python, &call.repo)?)
            }
        };
        let sent = interpreter.send(&json!({
            "type": "call",
            "action": call.action.as_str(),
            "repo": call.repo,
            "actions": file,
            "service": call.service,
            "args": call.args,
        }));
        sent.inspect_err(|_| self.broken())
    }

    fn advance(&mut self) -> Result<CreationEvent, CreationFault> {
        match self.stack.last_mut() {
            None => Err(CreationFault::Order("no creation action is running")),
            Some(Frame::Ended(_)) => match self.stack.pop() {
                Some(Frame::Ended(done)) => Ok(CreationEvent::Done(*done)),
                _ => Err(CreationFault::Order("no creation action is running")),
            },
            Some(Frame::Python { waiting: true }) => Err(CreationFault::Order(
                "the running creation action waits for a reply",
            )),
            Some(Frame::Python { waiting }) => {
                let Some(interpreter) = self.interpreter.as_mut() else {
                    return Err(CreationFault::Order("python is not running"));
                };
                match interpreter.receive(self.timeout) {
                    Ok(FromPython::Request(request)) => {
                        *waiting = true;
                        Ok(CreationEvent::Request(request))
                    }
                    Ok(FromPython::Done(done)) => {
                        self.stack.pop();
                        Ok(CreationEvent::Done(done.into_done()))
                    }
                    Err(fault) => {
                        self.broken();
                        Err(fault)
                    }
                }
            }
        }
    }

    fn answer(&mut self, reply: Result<Value, String>) -> Result<(), CreationFault> {
        let (Some(Frame::Python { waiting }), Some(interpreter)) =
            (self.stack.last_mut(), self.interpreter.as_mut())
        else {
            return Err(CreationFault::Order("no request waits for a reply"));
        };
        if !*waiting {
            return Err(CreationFault::Order("no request waits for a reply"));
        }
        let message = match reply {
            Ok(value) => json!({"type": "reply", "ok": true, "value": value}),
            Err(error) => json!({"type": "reply", "ok": false, "error": error}),
        };
        *waiting = false;
        interpreter.send(&message).inspect_err(|_| self.broken())
    }

    /// Forgets the interpreter after it failed, and the actions it ran: the next Python call
    /// starts a new one.
    fn broken(&mut self) {
        self.interpreter = None;
        self.stack.clear();
    }
}

impl CreationSession for Session {
    fn call(&mut self, call: &CreationCall) -> Result<(), CreationError> {
        Ok(self.start(call)?)
    }

    fn next(&mut self) -> Result<CreationEvent, CreationError> {
        Ok(self.advance()?)
    }

    fn reply(&mut self, reply: Result<Value, String>) -> Result<(), CreationError> {
        Ok(self.answer(reply)?)
    }
}

/// Where the files of a call's code go: `<repo>/.ays/creation/<code key>/` (`.ays` is the
/// repository's own directory; the key changes with the code and its template file).
fn scratch_dir(call: &CreationCall) -> PathBuf {
    call.repo
        .join(".ays")
        .join("creation")
        .join(call.code.key())
}

/// Writes `text` to `path` (and its directory) unless it holds it already, so that an
/// interpreter keeps the module it compiled from it. The file is replaced in one rename, as
/// another process may read it.
fn write_if_changed(path: &Path, text: &str) -> Result<(), CreationFault> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    let fail = |source| CreationFault::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}
