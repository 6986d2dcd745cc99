//! The Python side of a creation session: one `python3` running the action server in its
//! `create` mode, spoken to in JSON lines.
//!
//! To Python, on its stdin: `{"type": "call", "action", "actions", "service", "args"}` starts an
//! action; `{"type": "reply", "ok": true, "value"}` or `{"type": "reply", "ok": false, "error"}`
//! answers its last request. From Python, on its stdout: `{"type": "request", "op", ...}` (a
//! [`CreationRequest`]) and `{"type": "done", "ok", "args", "data", "output", "error",
//! "traceback"}`. The server keeps private copies of both pipes and points its fds 0 and 1 at
//! /dev/null and stderr, so nothing an action prints or starts can break the conversation.
//! stderr is read on a thread of its own, which keeps its last lines for error messages.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use tracing::debug;

use ays_core::creation::{CreationDone, CreationFailure, CreationRequest};

use super::CreationFault;
use crate::runtime::python_command;

/// How many lines of stderr are kept for error messages, and how long each may be.
const STDERR_LINES: usize = 5;
const STDERR_LINE_CAP: usize = 500;

/// How long Python may take to close stderr once it closed its end of the conversation.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// What Python says.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(super) enum FromPython {
    /// The running action asks something.
    Request(CreationRequest),
    /// The running action ended.
    Done(PyDone),
}

/// The end of an action, as Python reports it.
#[derive(Debug, Deserialize)]
pub(super) struct PyDone {
    ok: bool,
    #[serde(default)]
    args: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    output: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    traceback: Option<String>,
}

impl PyDone {
    pub(super) fn into_done(self) -> CreationDone {
        let failure = (!self.ok).then(|| CreationFailure {
            message: self
                .error
                .unwrap_or_else(|| "the action failed without a message".to_owned()),
            detail: self.traceback.unwrap_or_default(),
        });
        CreationDone {
            args: self.args,
            data: self.data.unwrap_or_default(),
            output: self.output,
            failure,
        }
    }
}

/// The last lines Python wrote to stderr; shared with the thread reading them, which holds the
/// lock only to push a line.
type Tail = Arc<Mutex<VecDeque<String>>>;

/// A running `python3 … create`.
pub(super) struct Interpreter {
    child: Child,
    stdin: ChildStdin,
    /// Python's protocol lines, read by a thread so that waiting for one can time out.
    stdout: Receiver<std::io::Result<String>>,
    tail: Tail,
    /// Says when stderr reached its end.
    stderr_closed: Receiver<()>,
}

impl Interpreter {
    /// Starts `python` in `repo`.
    pub(super) fn start(python: &Path, repo: &Path) -> Result<Self, CreationFault> {
        let spawn_error = |source| CreationFault::Spawn {
            program: python.to_owned(),
            source,
        };
        let mut child = python_command(python, repo)
            .arg("create")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            // Unreachable with three piped streams; the child must not outlive the error.
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error(std::io::Error::other("python has no pipes")));
        };
        let tail = Tail::default();
        let (closed, stderr_closed) = mpsc::channel();
        let lines = Arc::clone(&tail);
        let reader = std::thread::Builder::new()
            .name("ays-creation-stderr".into())
            .spawn(move || {
                let mut stderr = BufReader::new(stderr);
                let mut buf = Vec::new();
                while stderr.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                    let text = String::from_utf8_lossy(&buf);
                    let line: String = text.trim_end().chars().take(STDERR_LINE_CAP).collect();
                    buf.clear();
                    if line.trim().is_empty() {
                        continue;
                    }
                    debug!(line = %line, "creation python stderr");
                    let mut kept = lines.lock().unwrap_or_else(PoisonError::into_inner);
                    if kept.len() == STDERR_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
                // The session may be gone already; nobody else needs to know.
                let _ = closed.send(());
            });
        if let Err(source) = reader {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error(source));
        }
        let (line_tx, lines_rx) = mpsc::channel();
        let stdout_reader = std::thread::Builder::new()
            .name("ays-creation-stdout".into())
            .spawn(move || {
                let mut stdout = BufReader::new(stdout);
                loop {
                    let mut line = String::new();
                    let read = stdout.read_line(&mut line);
                    let end = !matches!(read, Ok(n) if n > 0);
                    if line_tx.send(read.map(|_| line)).is_err() || end {
                        break;
                    }
                }
            });
        if let Err(source) = stdout_reader {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error(source));
        }
        Ok(Self {
            child,
            stdin,
            stdout: lines_rx,
            tail,
            stderr_closed,
        })
    }

    /// Sends one message.
    pub(super) fn send(&mut self, message: &Value) -> Result<(), CreationFault> {
        let mut line = message.to_string();
        line.push('\n');
        let sent = self
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush());
        sent.map_err(|_| self.ended())
    }

    /// Waits up to `timeout` for the next message; after that Python is killed.
    pub(super) fn receive(&mut self, timeout: Duration) -> Result<FromPython, CreationFault> {
        match self.stdout.recv_timeout(timeout) {
            Ok(Ok(line)) if line.is_empty() => Err(self.ended()),
            Ok(Ok(line)) => serde_json::from_str(&line).map_err(|source| CreationFault::Garbage {
                line: cut(line.trim_end(), 200),
                source,
            }),
            Ok(Err(source)) => Err(CreationFault::Read { source }),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
                Err(CreationFault::TimedOut {
                    after: timeout,
                    stderr: Vec::from_iter(tail.iter().map(String::as_str)).join(" | "),
                })
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.ended()),
        }
    }

    /// Why the conversation ended: Python's exit status and the last lines of its stderr.
    fn ended(&mut self) -> CreationFault {
        // stderr closes when Python exits, unless a process it started keeps it open.
        let closed = self.stderr_closed.recv_timeout(EXIT_GRACE).is_ok();
        let status = match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            Ok(None) if closed => self
                .child
                .wait()
                .map_or_else(|e| format!("status unknown: {e}"), |s| s.to_string()),
            Ok(None) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                "it closed its end and was killed".to_owned()
            }
            Err(e) => format!("status unknown: {e}"),
        };
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        CreationFault::Ended {
            status,
            stderr: Vec::from_iter(tail.iter().map(String::as_str)).join(" | "),
        }
    }
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        // Python idles between calls; nothing it holds needs a clean exit.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    text.get(..end).unwrap_or_default().to_owned()
}
