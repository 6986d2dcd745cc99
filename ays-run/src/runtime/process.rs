//! Child processes of runtimes: capped capture, waiting with a deadline, killing a group.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, Signal, kill_process_group, pidfd_open};

use ays_core::JobLogCategory;

use crate::job::{JobContext, LogEntry};

/// How a waited-for process ended.
pub(crate) enum Ended {
    /// It exited (or was killed by someone else) with this status.
    Exited(ExitStatus),
    /// A process another one started ended; its parent knows the status.
    Gone,
    TimedOut,
    Killed,
}

/// Waits for `child`, killing its whole process group at the deadline or on a kill request.
/// Its output, if piped, is left unread (see [`run_child`]).
pub(crate) fn wait_child(child: &mut Child, ctx: &JobContext) -> std::io::Result<Ended> {
    Ok(watch(Watched::Child(child), ctx, None, None, 0, Duration::ZERO)?.ended)
}

/// Waits for `child` on this thread alone, reading its piped stdout and stderr as they come
/// (see [`watch`]).
pub(crate) fn run_child(
    child: &mut Child,
    ctx: &JobContext,
    cap: usize,
    grace: Duration,
) -> std::io::Result<Finished> {
    let out = child.stdout.take().map(|p| File::from(OwnedFd::from(p)));
    let err = child.stderr.take().map(|p| File::from(OwnedFd::from(p)));
    watch(Watched::Child(child), ctx, out, err, cap, grace)
}

/// How often a waiting job looks at its kill request.
const CANCEL_CHECK: Duration = Duration::from_millis(20);

/// A process being waited for.
pub(crate) enum Watched<'a> {
    /// A child of this process: its status comes from waiting for it.
    Child(&'a mut Child),
    /// A process another one started and reaps (a job of the bash server), leading its own
    /// process group: its end is seen on its pidfd (`None`: it had already ended).
    Foreign { pid: u32, pidfd: Option<OwnedFd> },
}

/// A process that ended, with what it wrote to its stdout and stderr.
pub(crate) struct Finished {
    pub(crate) ended: Ended,
    pub(crate) out: Captured,
    pub(crate) err: Captured,
}

/// What is kept of an output stream of at most `cap` bytes: its beginning and its end (where
/// the error usually is), and how many bytes between them were cut.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    head: Vec<u8>,
    tail: Vec<u8>,
    cut: u64,
    cap: usize,
}

impl Captured {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    /// `bytes`, capped.
    pub(crate) fn of(bytes: &[u8], cap: usize) -> Self {
        let mut kept = Self::new(cap);
        kept.push(bytes);
        kept
    }

    fn head_cap(&self) -> usize {
        self.cap - self.cap / 2
    }

    fn tail_cap(&self) -> usize {
        self.cap / 2
    }

    /// Adds what the stream wrote next.
    pub(crate) fn push(&mut self, mut chunk: &[u8]) {
        let room = self.head_cap().saturating_sub(self.head.len());
        if room > 0 {
            let (first, rest) = chunk.split_at(room.min(chunk.len()));
            self.head.extend_from_slice(first);
            chunk = rest;
        }
        self.tail.extend_from_slice(chunk);
        // Drop what can no longer be in the last `tail_cap` bytes, now and then.
        if self.tail.len() > 2 * self.tail_cap().max(4096) {
            let excess = self.tail.len() - self.tail_cap();
            self.tail.drain(..excess);
            self.cut += excess as u64;
        }
    }

    /// The kept bytes, with a line saying how many were cut between the beginning and the end.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let excess = self.tail.len().saturating_sub(self.tail_cap());
        let tail = self.tail.get(excess..).unwrap_or_default();
        let cut = self.cut + excess as u64;
        let mut out = Vec::with_capacity(self.head.len() + tail.len() + 40);
        out.extend_from_slice(&self.head);
        if cut > 0 {
            out.extend_from_slice(format!("\n[... {cut} bytes cut ...]\n").as_bytes());
        }
        out.extend_from_slice(tail);
        out
    }
}

/// One output stream (a pipe or a FIFO) being read.
struct Stream {
    pipe: Option<File>,
    kept: Captured,
}

impl Stream {
    /// Reads what is there; the pipe is dropped at its end.
    fn read(&mut self, buf: &mut [u8]) {
        let Some(pipe) = self.pipe.as_mut() else {
            return;
        };
        match pipe.read(buf) {
            Ok(0) => self.pipe = None,
            Ok(n) => self.kept.push(buf.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            Err(_) => self.pipe = None,
        }
    }
}

/// Waits for a process on this thread alone, reading its stdout and stderr (at most `cap` bytes
/// of each) as they come: `poll` on the streams and on a pidfd of the process, so its end is
/// seen at once, without sleeping. At the deadline or on a kill request its whole process group
/// is killed. A background process the job left behind may hold the streams open: they get
/// `grace` after the exit, then what was read is kept.
pub(crate) fn watch(
    mut process: Watched<'_>,
    ctx: &JobContext,
    out: Option<File>,
    err: Option<File>,
    cap: usize,
    grace: Duration,
) -> std::io::Result<Finished> {
    let deadline = Instant::now().checked_add(ctx.timeout());
    // Without a pidfd (a kernel older than 5.3), a child's exit is looked for on a short tick.
    let (pid, pidfd) = match &mut process {
        Watched::Child(child) => (
            child.id(),
            pidfd_open(Pid::from_child(child), PidfdFlags::empty()).ok(),
        ),
        Watched::Foreign { pid, pidfd } => (*pid, pidfd.take()),
    };
    let mut out = Stream {
        pipe: out,
        kept: Captured::new(cap),
    };
    let mut err = Stream {
        pipe: err,
        kept: Captured::new(cap),
    };
    let mut buf = [0u8; 16 * 1024];
    let mut tick = Duration::from_micros(50);
    let mut exited: Option<(Ended, Instant)> = match (&process, &pidfd) {
        (Watched::Foreign { .. }, None) => Some((Ended::Gone, Instant::now())),
        _ => None,
    };
    let mut pidfd_ready = false;
    loop {
        if exited.is_none() {
            match &mut process {
                Watched::Child(child) => {
                    if let Some(status) = child.try_wait()? {
                        exited = Some((Ended::Exited(status), Instant::now()));
                    }
                }
                Watched::Foreign { .. } => {
                    if pidfd_ready {
                        exited = Some((Ended::Gone, Instant::now()));
                    }
                }
            }
        }
        let now = Instant::now();
        let wait = match &exited {
            Some((_, at)) => {
                let left = grace.saturating_sub(now.saturating_duration_since(*at));
                if (out.pipe.is_none() && err.pipe.is_none()) || left.is_zero() {
                    let ended = exited.map_or(Ended::Gone, |(ended, _)| ended);
                    return Ok(Finished {
                        ended,
                        out: out.kept,
                        err: err.kept,
                    });
                }
                left
            }
            None => {
                let timed_out = deadline.is_some_and(|d| now >= d);
                if timed_out || ctx.cancel().is_killing() {
                    kill_group(pid);
                    if let Watched::Child(child) = &mut process {
                        // Reap the leader so it does not linger as a zombie.
                        child.wait()?;
                    }
                    let ended = if timed_out {
                        Ended::TimedOut
                    } else {
                        Ended::Killed
                    };
                    return Ok(Finished {
                        ended,
                        out: out.kept,
                        err: err.kept,
                    });
                }
                let until_deadline =
                    deadline.map_or(CANCEL_CHECK, |d| d.saturating_duration_since(now));
                let wait = until_deadline.min(CANCEL_CHECK);
                if pidfd.is_some() {
                    wait
                } else {
                    tick = tick.saturating_mul(2).min(Duration::from_millis(5));
                    wait.min(tick)
                }
            }
        };
        let mut fds = Vec::with_capacity(3);
        let out_at = out.pipe.as_ref().map(|p| {
            fds.push(PollFd::new(p, PollFlags::IN));
            fds.len() - 1
        });
        let err_at = err.pipe.as_ref().map(|p| {
            fds.push(PollFd::new(p, PollFlags::IN));
            fds.len() - 1
        });
        let pid_at = match (&exited, &pidfd) {
            (None, Some(fd)) => {
                fds.push(PollFd::new(fd, PollFlags::IN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let timeout = Timespec::try_from(wait).ok();
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready = |at: Option<usize>| {
            at.and_then(|i| fds.get(i))
                .is_some_and(|fd| !fd.revents().is_empty())
        };
        let (read_out, read_err) = (ready(out_at), ready(err_at));
        pidfd_ready |= ready(pid_at);
        drop(fds);
        if read_out {
            out.read(&mut buf);
        }
        if read_err {
            err.read(&mut buf);
        }
    }
}

/// Sends SIGKILL to the process group led by `pid` (children spawned with `process_group(0)`).
pub(crate) fn kill_group(pid: u32) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    // The group may already be gone (ESRCH); nothing else can be done about a failure here.
    let _ = kill_process_group(pid, Signal::KILL);
}

/// Reads a file, keeping at most `cap` bytes of it (its beginning and its end); a missing file
/// reads as empty.
pub(crate) fn read_capped(path: &Path, cap: usize) -> std::io::Result<Captured> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Captured::new(cap)),
        Err(err) => return Err(err),
    };
    let mut kept = Captured::new(cap);
    let size = file.metadata()?.len();
    let (head, tail) = (kept.head_cap() as u64, kept.tail_cap() as u64);
    if size <= head + tail {
        let mut all = Vec::new();
        file.read_to_end(&mut all)?;
        kept.push(&all);
        return Ok(kept);
    }
    (&mut file).take(head).read_to_end(&mut kept.head)?;
    file.seek(SeekFrom::Start(size - tail))?;
    file.read_to_end(&mut kept.tail)?;
    kept.cut = size - head - tail;
    Ok(kept)
}

/// Turns captured output into a log entry.
pub(crate) fn log_entry(category: JobLogCategory, kept: &Captured) -> Option<LogEntry> {
    let bytes = kept.bytes();
    if bytes.is_empty() {
        return None;
    }
    Some(LogEntry {
        category,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// The last `n` non-empty lines of some output, joined by newlines.
pub(crate) fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines.get(start..).unwrap_or_default().join("\n")
}
