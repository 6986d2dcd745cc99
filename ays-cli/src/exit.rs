//! Exit codes of the `ays` binary, in one place (documented in `ays --help`):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the command did what was asked |
//! | 1 | it failed (the store, the file system, a run that cannot start…) |
//! | 2 | bad input or configuration: a wrong argument (also clap's usage errors), an invalid blueprint, template, schema, name or config, data on stdin that does not fit its schema, a service, actor or run that does not exist, nothing to resume, a missing or exposed API token, repositories the daemon cannot serve, a command not available with `--remote`, a request the daemon refuses as bad (400, 401, 404, 422) |
//! | 3 | a run ended with failed jobs |

use std::fmt;
use std::process::ExitCode;

use ays_core::CoreError;
use ays_store::StoreError;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what was asked.
    Success,
    /// The command failed; the error was printed on stderr.
    Failure,
    /// The input or the configuration is wrong; the error says where.
    BadInput,
    /// A run ended with failed jobs.
    RunFailed,
}

impl Exit {
    /// The exit of a command that failed with `err`.
    pub fn of(err: &anyhow::Error) -> Exit {
        for cause in err.chain() {
            if cause.downcast_ref::<RunFailed>().is_some() {
                return Exit::RunFailed;
            }
            if cause.downcast_ref::<BadInput>().is_some()
                || cause.downcast_ref::<Rejected>().is_some()
                || cause.downcast_ref::<ays_hrd::HrdError>().is_some()
                || cause.downcast_ref::<ays_schema::SchemaError>().is_some()
                || cause.downcast_ref::<ays_core::NameError>().is_some()
                || cause.downcast_ref::<ays_core::BlueprintError>().is_some()
                || cause.downcast_ref::<ays_core::TemplateError>().is_some()
                || cause
                    .downcast_ref::<StoreError>()
                    .is_some_and(is_bad_store_input)
                || cause.downcast_ref::<CoreError>().is_some_and(is_bad_input)
                || cause
                    .downcast_ref::<ays_daemon::DaemonError>()
                    .is_some_and(is_bad_daemon_input)
                || cause
                    .downcast_ref::<ays_daemon::token::TokenError>()
                    .is_some_and(is_bad_token)
                || cause
                    .downcast_ref::<crate::remote::RemoteError>()
                    .is_some_and(crate::remote::RemoteError::is_bad_input)
                || cause.downcast_ref::<ays_run::RunError>().is_some_and(|e| {
                    matches!(
                        e,
                        ays_run::RunError::NoSuchRun { .. } | ays_run::RunError::NothingToResume
                    )
                })
            {
                return Exit::BadInput;
            }
        }
        Exit::Failure
    }

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::BadInput => 2,
            Exit::RunFailed => 3,
        }
    }
}

fn is_bad_input(err: &CoreError) -> bool {
    matches!(
        err,
        CoreError::NotARepository { .. }
            | CoreError::AlreadyRepository { .. }
            | CoreError::Config { .. }
            | CoreError::ServiceNotFound { .. }
            | CoreError::ActorNotFound { .. }
            | CoreError::UnknownAction { .. }
            | CoreError::Transition { .. }
            | CoreError::ProducerNeeded { .. }
            | CoreError::NoMirror { .. }
            | CoreError::NotAMirror { .. }
            | CoreError::Mirror { .. }
            | CoreError::Name(_)
            | CoreError::Template(_)
            | CoreError::Blueprint(_)
    )
}

fn is_bad_daemon_input(err: &ays_daemon::DaemonError) -> bool {
    use ays_daemon::DaemonError;
    matches!(
        err,
        DaemonError::NoRepositories
            | DaemonError::NotARepository { .. }
            | DaemonError::NoneUnder { .. }
            | DaemonError::BadName { .. }
            | DaemonError::DuplicateName { .. }
            | DaemonError::RemoteNotAllowed { .. }
    )
}

/// A token that is missing, readable by others or not a token is configuration to fix.
fn is_bad_token(err: &ays_daemon::token::TokenError) -> bool {
    use ays_daemon::token::TokenError;
    matches!(
        err,
        TokenError::NoConfigDir
            | TokenError::Missing { .. }
            | TokenError::Exposed { .. }
            | TokenError::Malformed { .. }
    )
}

fn is_bad_store_input(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::InvalidUrl { .. }
            | StoreError::InvalidNamespace { .. }
            | StoreError::Missing { .. }
            | StoreError::BackendDisabled { .. }
    )
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// A run ended with failed jobs (exit code 3); the message lists them.
#[derive(Debug)]
pub struct RunFailed(pub String);

impl fmt::Display for RunFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunFailed {}

/// Wrong input found by the CLI itself (exit code 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Input the CLI read (stdin, a file named on the command line) that a library rejected: exit
/// code 2. The message says what was read; the library's error stays the cause, so that the
/// printed chain says what is wrong with it.
#[derive(Debug)]
pub struct Rejected {
    what: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl Rejected {
    /// `what` was rejected because of `source`.
    pub fn new(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Rejected {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for Rejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_input_is_bad_input_and_keeps_its_cause() {
        let cause = std::io::Error::other("`port`: expected Int64");
        let err = anyhow::Error::from(Rejected::new("stdin does not fit struct `Schema`", cause));
        assert_eq!(Exit::of(&err), Exit::BadInput);
        assert_eq!(
            format!("{err:#}"),
            "stdin does not fit struct `Schema`: `port`: expected Int64"
        );
        let plain = anyhow::Error::from(std::io::Error::other("disk on fire"));
        assert_eq!(Exit::of(&plain), Exit::Failure);
    }
}
