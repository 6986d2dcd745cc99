//! The Python runtime: `def name(job)` functions of the actor's `actions.py`.
//!
//! In [`PythonMode::Forking`] one interpreter is started on first use with the embedded
//! `server.py`; it compiles each actions file once and forks a child per job, so interpreter
//! start-up is paid once per runtime. [`PythonMode::Fresh`] starts `python3` per job.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::process::{Captured, Ended, kill_group, log_entry, read_capped, wait_child};
use super::scratch::{JobFiles, Scratch};
use super::shell::write_file;
use super::{ActorsDir, BarePayload, DEFAULT_OUTPUT_CAP, PayloadSource};
use ays_core::{JobLog, JobLogCategory};

use crate::error::RuntimeError;
use crate::job::{ActionRunner, FailureKind, JobContext, JobOutcome, LogEntry};

/// The program Python runs: the 8.1 object model actions see, then the server using it.
const SERVER: &str = concat!(include_str!("compat.py"), include_str!("server.py"));

/// How long a killed child's exit report may take before the job is given up on.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How Python jobs are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PythonMode {
    /// A pre-started server forks per job (default).
    #[default]
    Forking,
    /// A fresh interpreter per job.
    Fresh,
}

/// Runs `actions.py` functions. The file is run as a module (imports, constants and helpers
/// work; `__name__` is `ays_actions`), once per server, and the action's function is called with
/// the `job`: `job.service.data.<field>` reads and assigns data (assignments come back as the
/// data patch), `job.service.parent`, `job.service.producers['role']`, `job.args` and
/// `job.log(...)`. Returning ends the job `ok`; a value other than `None` is recorded in its log
/// (`returned <json>`, or the value's `repr`) and changes nothing else. An exception fails the
/// job with its traceback in the log; when `actions.py.origin` next to the file names the
/// template's file, the traceback names that file and its lines.
///
/// JumpScale 8.1's names work too: `j` (also `from JumpScale import j`) with `j.exceptions`,
/// `j.sal.fs` and `j.sal.process`; `job.model.args`, `job.model.log(msg, level, category)`,
/// `job.error(msg)` (logs and raises); `service.model.data`, `service.model.name`, `.role` and
/// `.dbobj.actorName`. `service.save()` and `saveAll()` do nothing, as the data patch is saved
/// when the job ends; `service.aysrepo` and `service.consume` raise, as they exist only in
/// `input` and `init` while a blueprint creates services.
pub struct PythonRuntime {
    repo: PathBuf,
    actors: ActorsDir,
    payload: Arc<dyn PayloadSource>,
    python: PathBuf,
    mode: PythonMode,
    output_cap: usize,
    scratch: Scratch,
    // The server, started on first use and replaced if it dies; locked only to get or start it.
    server: Mutex<Option<Arc<Server>>>,
}

impl std::fmt::Debug for PythonRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonRuntime")
            .field("repo", &self.repo)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl PythonRuntime {
    /// Actions of repository `repo`, in `<repo>/actors/<actor>/actions.py`, run by `python3`.
    pub fn new(repo: impl Into<PathBuf>, mode: PythonMode) -> Self {
        let repo = repo.into();
        Self {
            actors: ActorsDir(repo.join("actors")),
            repo,
            payload: Arc::new(BarePayload),
            python: PathBuf::from("python3"),
            mode,
            output_cap: DEFAULT_OUTPUT_CAP,
            scratch: Scratch::default(),
            server: Mutex::new(None),
        }
    }

    /// Looks for actors in `dir` instead.
    pub fn with_actors_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.actors = ActorsDir(dir.into());
        self
    }

    /// Gets payloads from `source` (default: empty data, no relations).
    pub fn with_payload(mut self, source: Arc<dyn PayloadSource>) -> Self {
        self.payload = source;
        self
    }

    /// Keeps at most `bytes` of each output stream, and of what an action logs (default 1 MiB).
    pub fn with_output_cap(mut self, bytes: usize) -> Self {
        self.output_cap = bytes;
        self
    }

    /// Uses another interpreter.
    pub fn with_python(mut self, python: impl Into<PathBuf>) -> Self {
        self.python = python.into();
        self
    }

    /// Runs the action of `ctx` once.
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] when the job cannot be set up or the interpreter fails; an action that
    /// raises is an `Ok` outcome holding the failure.
    pub fn execute(&self, ctx: &JobContext) -> Result<JobOutcome, RuntimeError> {
        let file = self.actors.file(ctx.actor(), "actions.py");
        if !file.exists() {
            return Ok(JobOutcome::ok());
        }
        let files = self.scratch.job(ctx)?;
        let path = |name: &str| files.path(name);
        let payload = self.payload.payload(ctx)?;
        let doc = payload.to_json(ctx, &self.repo.to_string_lossy());
        write_file(ctx, &path("job.json"), doc.to_string().as_bytes())?;
        let mut request = json!({
            "actions": file,
            "function": ctx.action().as_str(),
            "job_file": path("job.json"),
            "result": path("result.json"),
            "out": path("out"),
            "err": path("err"),
        });
        let ended = match self.mode {
            PythonMode::Fresh => self.run_fresh(ctx, &request)?,
            PythonMode::Forking => self.run_forked(ctx, &mut request)?,
        };
        self.collect(ctx, &files, &ended)
    }

    fn run_fresh(&self, ctx: &JobContext, request: &Value) -> Result<Ended, RuntimeError> {
        let mut child = python_command(&self.python, &self.repo)
            .arg("once")
            .arg(request.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|source| self.spawn_error(ctx, source))?;
        wait_child(&mut child, ctx).map_err(|source| RuntimeError::Io {
            job: ctx.key().clone(),
            path: self.python.clone(),
            source,
        })
    }

    fn spawn_error(&self, ctx: &JobContext, source: std::io::Error) -> RuntimeError {
        RuntimeError::Spawn {
            job: ctx.key().clone(),
            program: self.python.to_string_lossy().into_owned(),
            source,
        }
    }

    fn server(&self, ctx: &JobContext) -> Result<Arc<Server>, RuntimeError> {
        let mut slot = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = slot.as_ref().filter(|s| !s.dead.load(Ordering::SeqCst)) {
            return Ok(Arc::clone(server));
        }
        let server = Arc::new(
            Server::start(&self.python, &self.repo).map_err(|e| self.spawn_error(ctx, e))?,
        );
        *slot = Some(Arc::clone(&server));
        Ok(server)
    }

    fn run_forked(&self, ctx: &JobContext, request: &mut Value) -> Result<Ended, RuntimeError> {
        let server = self.server(ctx)?;
        let gone = |what: &'static str, source: Option<std::io::Error>| RuntimeError::Server {
            job: ctx.key().clone(),
            program: "python",
            what,
            source,
        };
        let id = server.next.fetch_add(1, Ordering::SeqCst);
        if let Some(map) = request.as_object_mut() {
            map.insert("id".into(), id.into());
        }
        let (tx, rx) = mpsc::channel();
        server.pending().insert(id, tx);
        let line = format!("{request}\n");
        let sent = server
            .stdin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(line.as_bytes());
        if let Err(err) = sent {
            server.pending().remove(&id);
            server.dead.store(true, Ordering::SeqCst);
            return Err(gone("did not take the request", Some(err)));
        }
        let deadline = Instant::now().checked_add(ctx.timeout());
        let mut pid = None;
        let mut killed: Option<(Ended, Instant)> = None;
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(Reply::Pid(p)) => pid = Some(p),
                Ok(Reply::Exit(code)) => {
                    return Ok(match killed {
                        Some((ended, _)) => ended,
                        None => Ended::Exited(exit_status(code)),
                    });
                }
                Ok(Reply::Gone) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(gone("exited", None));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            match &killed {
                Some((_, at)) if at.elapsed() > KILL_GRACE => {
                    server.pending().remove(&id);
                    return Err(gone("never reported the exit of a killed job", None));
                }
                Some(_) => {}
                None => {
                    let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
                    if timed_out || ctx.cancel().is_killing() {
                        if let Some(pid) = pid {
                            kill_group(pid);
                        }
                        let ended = if timed_out {
                            Ended::TimedOut
                        } else {
                            Ended::Killed
                        };
                        killed = Some((ended, Instant::now()));
                    }
                }
            }
        }
    }

    /// Reads the result, output and traceback files of a finished job.
    /// The outcome of a job from what it left in `dir`: its captured output, and the result
    /// document the server wrote.
    fn collect(
        &self,
        ctx: &JobContext,
        files: &JobFiles,
        ended: &Ended,
    ) -> Result<JobOutcome, RuntimeError> {
        let mut logs = self.read_output(ctx, files)?;
        let result = read_result(ctx, &files.path("result.json"))?;
        let mut outcome = outcome_of(ctx, ended, result, &mut logs, self.output_cap);
        logs.append(&mut outcome.logs);
        outcome.logs = logs;
        Ok(outcome)
    }

    /// The job's standard output and error, each capped, as log entries.
    fn read_output(
        &self,
        ctx: &JobContext,
        files: &JobFiles,
    ) -> Result<Vec<LogEntry>, RuntimeError> {
        let mut logs = Vec::new();
        for (name, category) in [("out", JobLogCategory::Out), ("err", JobLogCategory::Err)] {
            let path = files.path(name);
            let kept = read_capped(&path, self.output_cap).map_err(|source| RuntimeError::Io {
                job: ctx.key().clone(),
                path: path.clone(),
                source,
            })?;
            logs.extend(log_entry(category, &kept));
        }
        Ok(logs)
    }
}

/// The result document `server.py` writes for a job.
#[derive(Debug, Default, serde::Deserialize)]
struct PyResult {
    /// Whether the action returned normally.
    #[serde(default)]
    ok: bool,
    /// What the action logged with `job.log`.
    #[serde(default)]
    logs: Vec<PyLog>,
    /// The data fields it changed.
    #[serde(default)]
    patch: Option<Map<String, Value>>,
    /// The exception's message.
    #[serde(default)]
    error: Option<String>,
    /// The exception's traceback.
    #[serde(default)]
    traceback: Option<String>,
}

/// One entry an action logged.
#[derive(Debug, serde::Deserialize)]
struct PyLog {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    text: String,
}

/// The result document at `path`, `None` when the job wrote none (it died first).
fn read_result(ctx: &JobContext, path: &Path) -> Result<Option<PyResult>, RuntimeError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|source| RuntimeError::BadResult {
                    job: ctx.key().clone(),
                    path: path.to_owned(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RuntimeError::Io {
            job: ctx.key().clone(),
            path: path.to_owned(),
            source,
        }),
    }
}

/// The outcome of a job that ended as `ended` with `result`; what the action logged goes to
/// `logs`.
fn outcome_of(
    ctx: &JobContext,
    ended: &Ended,
    result: Option<PyResult>,
    logs: &mut Vec<LogEntry>,
    cap: usize,
) -> JobOutcome {
    match (ended, result) {
        (Ended::TimedOut, _) => JobOutcome::failed(
            FailureKind::Timeout,
            format!("killed after its timeout of {:?}", ctx.timeout()),
        ),
        (Ended::Killed, _) => JobOutcome::failed(FailureKind::Killed, "killed by cancellation"),
        (Ended::Exited(_) | Ended::Gone, Some(result)) => {
            logs.extend(capped_logs(result.logs, cap));
            if result.ok {
                let mut ok = JobOutcome::ok();
                ok.data_patch = result.patch.filter(|p| !p.is_empty());
                ok
            } else {
                let error = result.error.as_deref().unwrap_or("error");
                let mut failed = JobOutcome::failed(FailureKind::Error, error);
                if let Some(tb) = result.traceback {
                    failed.logs.push(LogEntry {
                        category: JobLogCategory::Trace,
                        text: tb,
                    });
                }
                failed
            }
        }
        (Ended::Exited(status), None) => JobOutcome::failed(
            FailureKind::Runtime,
            format!("python ended ({status}) without a result"),
        ),
        (Ended::Gone, None) => {
            JobOutcome::failed(FailureKind::Runtime, "python ended without a result")
        }
    }
}

impl ActionRunner for PythonRuntime {
    fn run(&self, ctx: &JobContext) -> JobOutcome {
        self.execute(ctx).unwrap_or_else(|err| {
            JobOutcome::failed(FailureKind::Runtime, JobLog::error_text(&err))
        })
    }
}

/// What an action logged with `job.log`, kept within `cap` bytes like its output: each entry
/// capped, and when they are more than `cap` together, the first and the last entries with one
/// entry in between saying what was cut.
fn capped_logs(entries: Vec<PyLog>, cap: usize) -> Vec<LogEntry> {
    // With more than one entry, the first and the last each fit in half the budget.
    let each = if entries.len() > 1 { cap / 2 } else { cap };
    let entries: Vec<LogEntry> = entries
        .into_iter()
        .map(|entry| LogEntry {
            category: category(entry.category.as_deref()),
            text: String::from_utf8_lossy(&Captured::of(entry.text.as_bytes(), each).bytes())
                .into_owned(),
        })
        .collect();
    let total: usize = entries.iter().map(|e| e.text.len()).sum();
    if total <= cap {
        return entries;
    }
    let fits = |budget: usize, it: &mut dyn Iterator<Item = &LogEntry>| {
        let mut used = 0;
        it.take_while(|e| {
            used += e.text.len();
            used <= budget
        })
        .count()
    };
    let first = fits(cap - cap / 2, &mut entries.iter());
    let last = fits(cap / 2, &mut entries.iter().rev()).min(entries.len() - first);
    let cut = entries.len() - first - last;
    let cut_bytes: usize = entries
        .iter()
        .skip(first)
        .take(cut)
        .map(|e| e.text.len())
        .sum();
    let mut kept = Vec::with_capacity(first + last + 1);
    let mut entries = entries.into_iter();
    kept.extend(entries.by_ref().take(first));
    kept.push(LogEntry {
        category: JobLogCategory::Msg,
        text: format!("[... {cut} log entries ({cut_bytes} bytes) cut ...]"),
    });
    kept.extend(entries.skip(cut));
    kept
}

/// The category an action gave a log entry; an entry without one, or with one this version
/// does not know, is a message.
fn category(name: Option<&str>) -> JobLogCategory {
    name.and_then(|n| n.parse().ok())
        .unwrap_or(JobLogCategory::Msg)
}

fn exit_status(code: i32) -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    // waitstatus_to_exitcode gives -signal for a signal; rebuild a wait status from it.
    if code < 0 {
        std::process::ExitStatus::from_raw(code.saturating_neg() & 0x7f)
    } else {
        std::process::ExitStatus::from_raw((code & 0xff) << 8)
    }
}

enum Reply {
    Pid(u32),
    Exit(i32),
    Gone,
}

type Pending = Arc<Mutex<HashMap<u64, Sender<Reply>>>>;

/// `python -c SERVER` in the repository `repo` (when it exists), with `AYS_REPO` set: actions
/// run where shell actions do.
pub(crate) fn python_command(python: &Path, repo: &Path) -> Command {
    let mut command = Command::new(python);
    command.arg("-c").arg(SERVER).env("AYS_REPO", repo);
    if repo.is_dir() {
        command.current_dir(repo);
    }
    command
}

/// The forking server process and the thread routing its replies.
struct Server {
    child: Mutex<Child>,
    stdin: Mutex<ChildStdin>,
    // Replies waited for, by request id; locked only to insert, remove or route one reply.
    pending: Pending,
    next: AtomicU64,
    dead: Arc<AtomicBool>,
}

impl Server {
    fn start(python: &Path, repo: &Path) -> std::io::Result<Self> {
        let mut child = python_command(python, repo)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("python server has no pipes"));
        };
        let pending: Pending = Arc::default();
        let dead = Arc::new(AtomicBool::new(false));
        let (routes, flag) = (Arc::clone(&pending), Arc::clone(&dead));
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(reply) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let Some(id) = reply.get("id").and_then(Value::as_u64) else {
                    continue;
                };
                let mut map = routes.lock().unwrap_or_else(PoisonError::into_inner);
                let pid = reply.get("pid").and_then(Value::as_u64);
                let exit = reply.get("exit").and_then(Value::as_i64);
                match (pid.map(u32::try_from), exit.map(i32::try_from)) {
                    (Some(Ok(pid)), _) => {
                        if let Some(tx) = map.get(&id) {
                            let _ = tx.send(Reply::Pid(pid));
                        }
                    }
                    (_, Some(Ok(code))) => {
                        if let Some(tx) = map.remove(&id) {
                            let _ = tx.send(Reply::Exit(code));
                        }
                    }
                    _ => {}
                }
            }
            flag.store(true, Ordering::SeqCst);
            for (_, tx) in routes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain()
            {
                let _ = tx.send(Reply::Gone);
            }
        });
        Ok(Self {
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            pending,
            next: AtomicU64::new(1),
            dead,
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Sender<Reply>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
    }
}
