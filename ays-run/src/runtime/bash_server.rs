//! The bash action server: one `bash` per actions file, started on the first job of its actor,
//! which sources the file once and forks a subshell per job (see `server.sh`). A job then costs
//! a `fork` of a small shell instead of starting bash, loading its libraries and sourcing the
//! file again.
//!
//! Each job leads its own process group, so a timeout or a kill request kills all it started;
//! its end is seen on a pidfd, its stdout and stderr come through two FIFOs read as they are
//! written (capped, like pipes), and its exit status through a file the job's wrapper writes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustix::fs::{CWD, Mode, OFlags, mkfifoat, open};
use rustix::process::{Pid, PidfdFlags, getpid, pidfd_open};
use tracing::debug;

use super::process::{Captured, Ended, Finished, Watched, kill_group, read_capped, watch};
use super::scratch::JobFiles;
use crate::error::RuntimeError;
use crate::job::JobContext;

const SERVER: &str = include_str!("server.sh");

/// How often a job waiting for its process to be forked looks at its kill request.
const CANCEL_CHECK: Duration = Duration::from_millis(20);

/// Whether this kernel has pidfds (Linux 5.3), which the server needs to see its jobs end.
pub(super) fn supported() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| pidfd_open(getpid(), PidfdFlags::empty()).is_ok())
}

/// The servers of one runtime, one per actions file; a server that died is replaced on the next
/// job.
#[derive(Debug, Default)]
pub(super) struct BashServers {
    servers: Mutex<HashMap<PathBuf, Arc<BashServer>>>,
}

impl BashServers {
    /// Runs the action of `ctx`, a function of `file`, in the server of that file.
    pub(super) fn run(
        &self,
        ctx: &JobContext,
        file: &Path,
        repo: &Path,
        files: &JobFiles,
        cap: usize,
        grace: Duration,
    ) -> Result<Finished, RuntimeError> {
        let server = self.server(ctx, file, repo, files.dir())?;
        let io = |path: PathBuf| {
            move |source: std::io::Error| RuntimeError::Io {
                job: ctx.key().clone(),
                path,
                source,
            }
        };
        let (out, err) = (files.path("out"), files.path("err"));
        let out = fifo(&out).map_err(io(out))?;
        let err = fifo(&err).map_err(io(err))?;
        let Some(pid) = server.start_job(ctx, files)? else {
            // The server died: it could not load the file, whose errors are in its log.
            let status = server.exit_status();
            let log = server.log.clone();
            let err = read_capped(&log, cap).map_err(io(log))?;
            return Ok(Finished {
                ended: Ended::Exited(status),
                out: Captured::new(cap),
                err,
            });
        };
        let (pid, pidfd) = match pid {
            Started::Pid(pid) => (pid, server.pidfd_of(pid)),
            Started::GaveUp(ended) => {
                return Ok(Finished {
                    ended,
                    out: Captured::new(cap),
                    err: Captured::new(cap),
                });
            }
        };
        let mut finished = watch(
            Watched::Foreign { pid, pidfd },
            ctx,
            Some(out),
            Some(err),
            cap,
            grace,
        )
        .map_err(io(PathBuf::from("bash")))?;
        if matches!(finished.ended, Ended::Gone) {
            let path = files.path("status");
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    if let Ok(code) = text.trim().parse::<i32>() {
                        finished.ended = Ended::Exited(ExitStatus::from_raw((code & 0xff) << 8));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(io(path)(source)),
            }
        }
        Ok(finished)
    }

    /// The live server of `file`, started if there is none.
    fn server(
        &self,
        ctx: &JobContext,
        file: &Path,
        repo: &Path,
        scratch: &Path,
    ) -> Result<Arc<BashServer>, RuntimeError> {
        let mut map = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = map.get(file).filter(|s| !s.dead.load(Ordering::SeqCst)) {
            return Ok(Arc::clone(server));
        }
        let log = scratch.join(format!("server-{}.log", map.len()));
        let server = BashServer::start(ctx, file, repo, scratch, log).map_err(|source| {
            RuntimeError::Spawn {
                job: ctx.key().clone(),
                program: "bash".into(),
                source,
            }
        })?;
        let server = Arc::new(server);
        map.insert(file.to_owned(), Arc::clone(&server));
        Ok(server)
    }
}

/// Makes the FIFO `path` and opens its reading end without waiting for a writer.
fn fifo(path: &Path) -> std::io::Result<File> {
    mkfifoat(CWD, path, Mode::RUSR | Mode::WUSR)?;
    let fd = open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// The parent of process `pid`, from `/proc`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// What became of a job sent to the server.
enum Started {
    /// Its process.
    Pid(u32),
    /// It timed out or was cancelled before the server forked it.
    GaveUp(Ended),
}

/// Replies waited for, by job id: the job's pid.
type Pending = Arc<Mutex<HashMap<u64, Sender<u32>>>>;

/// One bash sourcing one actions file, and the thread routing its replies.
#[derive(Debug)]
struct BashServer {
    child: Mutex<Child>,
    pid: u32,
    stdin: Mutex<ChildStdin>,
    pending: Pending,
    dead: Arc<AtomicBool>,
    /// The server's stderr: what the file printed or failed with while it was sourced.
    log: PathBuf,
}

impl BashServer {
    fn start(
        ctx: &JobContext,
        file: &Path,
        repo: &Path,
        scratch: &Path,
        log: PathBuf,
    ) -> std::io::Result<Self> {
        let mut command = Command::new("bash");
        command
            .args(["--noprofile", "--norc", "-c", SERVER, "ays-bash-server"])
            .env("AYS_ACTIONS_FILE", file)
            .env("AYS_REPO", repo)
            .env("AYS_ACTOR", ctx.actor().as_str())
            .env("AYS_SCRATCH", scratch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?)
            .process_group(0);
        if repo.is_dir() {
            command.current_dir(repo);
        }
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("bash server has no pipes"));
        };
        let pending: Pending = Arc::default();
        let dead = Arc::new(AtomicBool::new(false));
        let (routes, flag) = (Arc::clone(&pending), Arc::clone(&dead));
        std::thread::Builder::new()
            .name("ays-bash-server".into())
            .spawn(move || route_replies(stdout, &routes, &flag))?;
        debug!(file = %file.display(), pid = child.id(), "bash server started");
        Ok(Self {
            pid: child.id(),
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            pending,
            dead,
            log,
        })
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<u64, Sender<u32>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the job of `ctx` and waits for its process; `None` when the server died first.
    fn start_job(
        &self,
        ctx: &JobContext,
        files: &JobFiles,
    ) -> Result<Option<Started>, RuntimeError> {
        let id = files.id();
        let (tx, rx) = mpsc::channel();
        self.pending().insert(id, tx);
        let line = format!(
            "{id} {} {} {} {}\n",
            ctx.run().as_str(),
            ctx.service().as_str(),
            ctx.action().as_str(),
            ctx.attempt()
        );
        let sent = self
            .stdin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(line.as_bytes());
        if sent.is_err() {
            // It is gone; its exit status and log say why.
            self.pending().remove(&id);
            self.dead.store(true, Ordering::SeqCst);
            return Ok(None);
        }
        let deadline = Instant::now().checked_add(ctx.timeout());
        loop {
            match rx.recv_timeout(CANCEL_CHECK) {
                Ok(pid) => return Ok(Some(Started::Pid(pid))),
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Timeout) => {}
            }
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            if timed_out || ctx.cancel().is_killing() {
                // A reply arriving later finds no one waiting and kills the job it names.
                if self.pending().remove(&id).is_some() {
                    let ended = if timed_out {
                        Ended::TimedOut
                    } else {
                        Ended::Killed
                    };
                    return Ok(Some(Started::GaveUp(ended)));
                }
            }
        }
    }

    /// A pidfd of job `pid`, `None` when the job already ended (and its pid may have been
    /// reused: a process that is not this server's child is not the job).
    fn pidfd_of(&self, pid: u32) -> Option<OwnedFd> {
        let fd = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok())?;
        (parent_of(pid) == Some(self.pid)).then_some(fd)
    }

    /// The exit status of a server that closed its replies.
    fn exit_status(&self) -> ExitStatus {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        child
            .wait()
            .unwrap_or_else(|_| ExitStatus::from_raw(127 << 8))
    }
}

/// Reads `id pid` replies and hands each pid to the job waiting for it; a job no one waits for
/// any more (it timed out first) is killed. At the end of the replies the server is dead.
fn route_replies(stdout: impl std::io::Read, routes: &Pending, dead: &AtomicBool) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Some((id, pid)) = line.split_once(' ') else {
            continue;
        };
        let (Ok(id), Ok(pid)) = (id.parse::<u64>(), pid.trim().parse::<u32>()) else {
            continue;
        };
        let waiting = routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        match waiting {
            Some(tx) => {
                if tx.send(pid).is_err() {
                    kill_group(pid);
                }
            }
            None => kill_group(pid),
        }
    }
    dead.store(true, Ordering::SeqCst);
    // Dropping the senders tells every waiting job.
    routes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}

impl Drop for BashServer {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
    }
}
