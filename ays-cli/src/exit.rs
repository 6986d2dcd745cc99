//! Exit codes of the `ays` binary, in one place.

use std::process::ExitCode;

/// How the process ends. Usage errors (exit code 2) are reported by clap itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what was asked.
    Success,
    /// The command failed; the error was printed on stderr.
    Failure,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::from(1),
        }
    }
}
