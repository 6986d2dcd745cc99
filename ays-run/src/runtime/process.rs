//! Child processes of runtimes: capped capture, waiting with a deadline, killing a group.

use std::io::Read;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

use ays_core::JobLogCategory;

use crate::job::{JobContext, LogEntry};

/// How a waited-for process ended.
pub(crate) enum Ended {
    Exited(ExitStatus),
    TimedOut,
    Killed,
}

/// Waits for `child`, killing its whole process group at the deadline or on a kill request.
pub(crate) fn wait_child(child: &mut Child, ctx: &JobContext) -> std::io::Result<Ended> {
    let deadline = Instant::now().checked_add(ctx.timeout());
    let mut pause = Duration::from_micros(50);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Ended::Exited(status));
        }
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        if timed_out || ctx.cancel().is_killing() {
            kill_group(child.id());
            // Reap the leader so it does not linger as a zombie.
            child.wait()?;
            return Ok(if timed_out {
                Ended::TimedOut
            } else {
                Ended::Killed
            });
        }
        thread::sleep(pause);
        pause = pause.saturating_mul(2).min(Duration::from_millis(5));
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

/// A stream read on its own thread, keeping at most `cap` bytes.
pub(crate) struct Capture {
    rx: Receiver<(Vec<u8>, bool)>,
}

impl Capture {
    pub(crate) fn start(mut stream: impl Read + Send + 'static, cap: usize) -> Self {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut kept = Vec::new();
            let mut truncated = false;
            let mut buf = [0u8; 8192];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = cap.saturating_sub(kept.len());
                        let chunk = buf.get(..n).unwrap_or_default();
                        if chunk.len() > room {
                            truncated = true;
                        }
                        kept.extend_from_slice(chunk.get(..room.min(n)).unwrap_or_default());
                    }
                }
            }
            let _ = tx.send((kept, truncated));
        });
        Self { rx }
    }

    /// The captured bytes; a background process still holding the pipe open gets `grace` to
    /// close it, after which what was read so far is kept.
    pub(crate) fn finish(self, grace: Duration) -> (Vec<u8>, bool) {
        self.rx.recv_timeout(grace).unwrap_or_default()
    }
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
