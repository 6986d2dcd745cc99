//! Child processes of runtimes: capped capture, waiting with a deadline, killing a group.

use std::fs::File;
use std::io::{ErrorKind, Read};
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

/// At most `cap` bytes of one output stream, and whether more were cut.
#[derive(Default)]
pub(crate) struct Captured {
    pub(crate) bytes: Vec<u8>,
    pub(crate) truncated: bool,
}

/// One output stream (a pipe or a FIFO) being read.
struct Stream {
    pipe: Option<File>,
    kept: Captured,
}

impl Stream {
    /// Reads what is there; the pipe is dropped at its end.
    fn read(&mut self, buf: &mut [u8], cap: usize) {
        let Some(pipe) = self.pipe.as_mut() else {
            return;
        };
        match pipe.read(buf) {
            Ok(0) => self.pipe = None,
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default();
                let room = cap.saturating_sub(self.kept.bytes.len());
                self.kept.truncated |= chunk.len() > room;
                self.kept
                    .bytes
                    .extend_from_slice(chunk.get(..room.min(n)).unwrap_or_default());
            }
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
        kept: Captured::default(),
    };
    let mut err = Stream {
        pipe: err,
        kept: Captured::default(),
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
            out.read(&mut buf, cap);
        }
        if read_err {
            err.read(&mut buf, cap);
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

/// Reads a file, keeping at most `cap` bytes; a missing file reads as empty.
pub(crate) fn read_capped(path: &Path, cap: usize) -> std::io::Result<(Vec<u8>, bool)> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), false)),
        Err(err) => return Err(err),
    };
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut kept = Vec::new();
    file.take(limit).read_to_end(&mut kept)?;
    let truncated = kept.len() > cap;
    kept.truncate(cap);
    Ok((kept, truncated))
}

/// Turns captured output into a log entry, with a marker when it was cut.
pub(crate) fn log_entry(
    category: JobLogCategory,
    bytes: &[u8],
    truncated: bool,
) -> Option<LogEntry> {
    if bytes.is_empty() {
        return None;
    }
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if truncated {
        text.push_str("\n[output truncated]");
    }
    Some(LogEntry { category, text })
}

/// The last `n` non-empty lines of some output, joined by newlines.
pub(crate) fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines.get(start..).unwrap_or_default().join("\n")
}
