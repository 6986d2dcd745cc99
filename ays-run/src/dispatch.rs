//! Where the attempts of a run's jobs execute: a [`Dispatcher`] takes one attempt of a job
//! whose stored code runs with a given runtime and returns its outcome.
//!
//! [`InProcess`] runs it here with the shell or Python runtime; the stream dispatcher
//! ([`crate::distributed`]) hands it to a worker. The executor, the planner, the journal and
//! the data patch's validation do not know which one runs it.

use ays_core::Runtime;

use crate::job::{ActionRunner, JobContext, JobOutcome};
use crate::runtime::{PythonRuntime, ShellRuntime};

/// Runs one attempt of a job with stored code.
pub(crate) trait Dispatcher: Send + Sync {
    /// Runs the attempt of `ctx`, whose code runs with `runtime` (shell or Python).
    fn dispatch(&self, ctx: &JobContext, runtime: Runtime) -> JobOutcome;
}

/// Runs attempts in this process.
#[derive(Debug)]
pub(crate) struct InProcess {
    pub(crate) shell: ShellRuntime,
    pub(crate) python: PythonRuntime,
}

impl Dispatcher for InProcess {
    fn dispatch(&self, ctx: &JobContext, runtime: Runtime) -> JobOutcome {
        match runtime {
            Runtime::Shell => self.shell.run(ctx),
            Runtime::Python => self.python.run(ctx),
            Runtime::None => JobOutcome::nothing_to_run(ctx),
        }
    }
}
