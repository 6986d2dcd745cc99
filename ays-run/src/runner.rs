//! [`RepositoryRunner`]: the [`ActionRunner`] of a run on a repository. Each job runs the
//! action code stored in the repository (the code is authoritative, not the template on disk):
//! a native function of an optional [`ActionRegistry`] when one is registered, else by the code's
//! runtime: `actions.sh` functions (shell), `actions.py` functions (python) or nothing (`none`).
//!
//! The runtimes read `<dir>/<actor>/actions.sh|py`, so [`RepositoryRunner::prepare`] writes each
//! actor's stored code into `.ays/runs/<run id>/actors/<actor>/` first, where it stays as the
//! record of what ran. A data patch the actor's schema rejects fails the job before it is
//! recorded, so no dependent runs after it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ays_core::{
    ActionCode, ActionName, Actor, ActorName, CoreError, JobLog, JobLogCategory, Repository, RunId,
    Runtime,
};

use crate::dispatch::{Dispatcher, InProcess};
use crate::distributed::StreamDispatcher;
use crate::error::RunError;
use crate::executor::{ExecConfig, RetryPolicy};

use crate::job::{ActionRunner, FailureKind, JobContext, JobOutcome, LogEntry};
use crate::orchestrate::RunOptions;
use crate::plan::Plan;
use crate::repository::RepositoryPayload;
use crate::runtime::{ActionRegistry, PythonMode, PythonRuntime, ShellRuntime};

/// Delay before the first retry of an action with retries and no `retry_delay`; doubled each
/// time.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest delay between retries of an action without `retry_max_delay`.
const RETRY_MAX_DELAY: Duration = Duration::from_secs(60);

/// How one action of one actor runs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ActionSpec {
    runtime: Runtime,
    code_key: String,
    /// Seconds, 0: the default.
    timeout: u32,
    /// 0: the default.
    retries: u32,
    /// Seconds before the first retry (`None`: [`RETRY_DELAY`]).
    retry_delay: Option<u32>,
    /// Longest wait between retries in seconds (`None`: [`RETRY_MAX_DELAY`]).
    retry_max_delay: Option<u32>,
}

/// The [`ActionRunner`] of a run on a repository: each job runs the action code stored in the
/// repository (the stored code is authoritative, not the template on disk), written out under
/// the run's directory for the shell and Python runtimes; a native function of the run's
/// [`ActionRegistry`] wins over stored code. A data patch the actor's schema rejects fails the
/// job before it is recorded, so no dependent runs after it. [`create_run`](crate::create_run)
/// makes one; an embedder running its own [`Executor`](crate::Executor) on a repository's plan
/// makes one with [`RepositoryRunner::prepare`].
pub struct RepositoryRunner {
    repo: Repository,
    payload: Arc<RepositoryPayload>,
    registry: Option<Arc<ActionRegistry>>,
    /// Where attempts of stored code run: here, or on workers.
    dispatcher: Arc<dyn Dispatcher>,
    distributed: bool,
    actions: HashMap<ActorName, HashMap<ActionName, ActionSpec>>,
    /// The actors with a concurrency limit.
    concurrency: HashMap<ActorName, usize>,
    dir: PathBuf,
}

impl std::fmt::Debug for RepositoryRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryRunner")
            .field("repo", &self.repo.id())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The shell file of actions stored as function bodies (before whole files were stored): each
/// body inside its function.
pub(crate) fn shell_file(codes: &[&ActionCode]) -> String {
    let mut out = String::from("# Written by ays from the repository's stored action code.\n");
    for c in codes {
        let body = if c.code.trim().is_empty() {
            "    :\n"
        } else {
            &c.code
        };
        out.push_str(&format!("\n{}() {{\n{body}}}\n", c.name));
    }
    out
}

/// The Python file of actions stored as function bodies (before whole files were stored): each
/// body under its `def`.
pub(crate) fn python_file(codes: &[&ActionCode]) -> String {
    let mut out = String::from("# Written by ays from the repository's stored action code.\n");
    for c in codes {
        let args = if c.args.is_empty() { "job" } else { &c.args };
        let body = if c.code.trim().is_empty() {
            "    pass\n"
        } else {
            &c.code
        };
        out.push_str(&format!("\n\ndef {}({args}):\n{body}", c.name));
    }
    out
}

/// The actions file of one runtime: the whole file as the template has it, stored with each
/// of its actions; or, for actions stored as function bodies, a file made of them. Returns
/// the file's text and the template file it was read from (`None` for a made one).
fn actions_file<'a>(
    codes: &[&'a ActionCode],
    made: fn(&[&ActionCode]) -> String,
) -> Result<(String, Option<&'a str>), String> {
    let (whole, bodies): (Vec<&ActionCode>, Vec<&ActionCode>) =
        codes.iter().partition(|c| !c.file.is_empty());
    let Some(first) = whole.first() else {
        return Ok((made(&bodies), None));
    };
    if !bodies.is_empty() || whole.iter().any(|c| c.code != first.code) {
        return Err(format!(
            "its stored actions come from more than one version of {}",
            first.file
        ));
    }
    Ok((first.code.clone(), Some(first.file.as_str())))
}
/// Reads how each action of `actor` runs into `specs`, and returns its stored shell and Python
/// code.
fn load_actions(
    repo: &Repository,
    run: &RunId,
    actor: &Actor,
    specs: &mut HashMap<ActorName, HashMap<ActionName, ActionSpec>>,
) -> Result<Vec<ActionCode>, RunError> {
    let mut codes = Vec::new();
    for a in &actor.actions {
        let code = if a.code_key.is_empty() {
            None
        } else {
            repo.action_code(&a.code_key)
                .map_err(RunError::repo(Some(run), "read its action code"))?
        };
        let runtime = code.as_ref().map_or(Runtime::None, |c| c.runtime);
        codes.extend(code.filter(|c| c.runtime != Runtime::None));
        specs.entry(actor.name.clone()).or_default().insert(
            a.name.clone(),
            ActionSpec {
                runtime,
                code_key: a.code_key.clone(),
                timeout: a.timeout,
                retries: a.retries,
                retry_delay: a.retry_delay,
                retry_max_delay: a.retry_max_delay,
            },
        );
    }
    Ok(codes)
}

/// Writes the shell and Python code of one actor into `dir` (`actions.sh`, `actions.py`), and
/// next to a Python file read from a template the template file's path (`actions.py.origin`),
/// which tracebacks name.
fn materialise(
    run: &RunId,
    actor: &ActorName,
    dir: &Path,
    codes: &[ActionCode],
) -> Result<(), RunError> {
    let failed = |path: PathBuf, source| RunError::Materialise {
        run: run.clone(),
        actor: actor.clone(),
        path,
        source,
    };
    let write = |file: &str, text: &str| -> Result<(), RunError> {
        let path = dir.join(file);
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|source| failed(path, source))
    };
    let of =
        |runtime| -> Vec<&ActionCode> { codes.iter().filter(|c| c.runtime == runtime).collect() };
    for (runtime, name, made) in [
        (
            Runtime::Shell,
            "actions.sh",
            shell_file as fn(&[&ActionCode]) -> String,
        ),
        (Runtime::Python, "actions.py", python_file),
    ] {
        let codes = of(runtime);
        if codes.is_empty() {
            continue;
        }
        let (text, origin) = actions_file(&codes, made)
            .map_err(|reason| failed(dir.join(name), std::io::Error::other(reason)))?;
        write(name, &text)?;
        if let (Runtime::Python, Some(origin)) = (runtime, origin) {
            write("actions.py.origin", origin)?;
        }
    }
    Ok(())
}

/// Refuses a registry holding an action that no actor of the run has: a typo (`instal`) would
/// otherwise leave the real action running its stored code, or nothing, without a word.
fn check_registry(
    registry: &ActionRegistry,
    specs: &HashMap<ActorName, HashMap<ActionName, ActionSpec>>,
) -> Result<(), RunError> {
    for (actor, action) in registry.names() {
        let known = specs.iter().any(|(a, actions)| {
            actions.contains_key(action) && actor.is_none_or(|wanted| wanted == a)
        });
        if !known {
            return Err(RunError::UnknownNativeAction {
                actor: actor.cloned(),
                action: action.clone(),
            });
        }
    }
    Ok(())
}

impl RepositoryRunner {
    /// A runner for the jobs of `plan` in run `run`: loads every actor of the plan and its
    /// stored action code, and writes the code out for the shell and Python runtimes. Of
    /// `options`, only [`RunOptions::registry`] matters here (native actions, which win over
    /// the stored code).
    ///
    /// # Errors
    ///
    /// [`RunError::Repository`] when an actor or its code cannot be read,
    /// [`RunError::Materialise`] when the files cannot be written,
    /// [`RunError::UnknownNativeAction`] when `registry` holds an action that no actor of the
    /// plan has (a mistyped name).
    pub fn prepare(
        repo: &Repository,
        run: &RunId,
        plan: &Plan,
        options: &RunOptions<'_>,
    ) -> Result<Self, RunError> {
        let names: BTreeSet<&ActorName> = plan.jobs().iter().map(|j| j.actor()).collect();
        let dir = repo.run_dir(run).join("actors");
        let mut runner = Self::for_actors(
            repo,
            run,
            names.iter().copied(),
            options.registry.clone(),
            dir,
        )?;
        if let Some(registry) = &runner.registry {
            check_registry(registry, &runner.actions)?;
        }
        if options.workers || repo.workers() {
            runner.dispatcher = Arc::new(StreamDispatcher::start(
                repo,
                run,
                &runner.dir,
                names,
                runner.payload.clone(),
            )?);
            runner.distributed = true;
        }
        Ok(runner)
    }

    /// A runner for the actions of the actors `names`, their stored code written into `dir`
    /// (`<dir>/<actor>/actions.sh|py`); `run` names what it is for in errors. The registry is
    /// not checked against the actors.
    pub(crate) fn for_actors<'n>(
        repo: &Repository,
        run: &RunId,
        names: impl IntoIterator<Item = &'n ActorName>,
        registry: Option<Arc<ActionRegistry>>,
        dir: PathBuf,
    ) -> Result<Self, RunError> {
        let mut actions = HashMap::new();
        let mut concurrency = HashMap::new();
        for name in names {
            let actor = repo
                .actor(name.as_str())
                .map_err(RunError::repo(Some(run), "read its actors"))?
                .ok_or_else(|| {
                    RunError::repo(Some(run), "read its actors")(CoreError::ActorNotFound {
                        name: name.to_string(),
                    })
                })?;
            if actor.concurrency > 0 {
                concurrency.insert(
                    name.clone(),
                    usize::try_from(actor.concurrency).unwrap_or(usize::MAX),
                );
            }
            let codes = load_actions(repo, run, &actor, &mut actions)?;
            materialise(run, &actor.name, &dir.join(name.as_str()), &codes)?;
        }
        let payload = Arc::new(RepositoryPayload::new(repo.clone()));
        let in_process = InProcess {
            shell: ShellRuntime::new(repo.root())
                .with_actors_dir(&dir)
                .with_payload(payload.clone()),
            python: PythonRuntime::new(repo.root(), PythonMode::default())
                .with_actors_dir(&dir)
                .with_payload(payload.clone()),
        };
        Ok(Self {
            dispatcher: Arc::new(in_process),
            distributed: false,
            payload,
            repo: repo.clone(),
            registry,
            actions,
            concurrency,
            dir,
        })
    }

    /// The timeout the actor's template gives `action` of `actor` (`None`: the default).
    pub(crate) fn timeout_of(&self, actor: &ActorName, action: &ActionName) -> Option<Duration> {
        self.spec(actor, action)
            .filter(|s| s.timeout > 0)
            .map(|s| Duration::from_secs(u64::from(s.timeout)))
    }

    /// Whether attempts of stored code run on workers.
    pub(crate) fn is_distributed(&self) -> bool {
        self.distributed
    }

    /// Where the actions files of the run were written.
    pub fn actors_dir(&self) -> &Path {
        &self.dir
    }

    /// The key of the code that runs `action` of `actor` (empty when it has none).
    pub fn code_key(&self, actor: &ActorName, action: &ActionName) -> &str {
        self.spec(actor, action).map_or("", |s| s.code_key.as_str())
    }

    /// Sets the limits the actors give: each actor's concurrency ([`ExecConfig::per_actor`]),
    /// and the timeouts and retries (with their backoff) of each actor's actions
    /// ([`ExecConfig::actor_timeouts`], [`ExecConfig::actor_retries`]; 0 keeps the default).
    pub fn apply_limits(&self, config: &mut ExecConfig) {
        for (actor, limit) in &self.concurrency {
            config.per_actor.insert(actor.clone(), *limit);
        }
        for (actor, actions) in &self.actions {
            for (action, spec) in actions {
                if spec.timeout > 0 {
                    config
                        .actor_timeouts
                        .entry(actor.clone())
                        .or_default()
                        .insert(action.clone(), Duration::from_secs(u64::from(spec.timeout)));
                }
                if spec.retries > 0 {
                    let seconds = |s: u32| Duration::from_secs(u64::from(s));
                    let policy = RetryPolicy {
                        retries: spec.retries,
                        first_delay: spec.retry_delay.map_or(RETRY_DELAY, seconds),
                        max_delay: spec.retry_max_delay.map_or(RETRY_MAX_DELAY, seconds),
                    };
                    config
                        .actor_retries
                        .entry(actor.clone())
                        .or_default()
                        .insert(action.clone(), policy);
                }
            }
        }
    }

    fn spec(&self, actor: &ActorName, action: &ActionName) -> Option<&ActionSpec> {
        self.actions
            .get(actor)
            .and_then(|actions| actions.get(action))
    }

    /// The registry, when it has a native function for the job of `ctx`.
    fn native(&self, ctx: &JobContext) -> Option<&ActionRegistry> {
        self.registry
            .as_deref()
            .filter(|r| r.has(ctx.actor(), ctx.action()))
    }

    /// How the stored code of the job of `ctx` runs (`none` when it has none).
    fn runtime(&self, ctx: &JobContext) -> Runtime {
        self.spec(ctx.actor(), ctx.action())
            .map_or(Runtime::None, |s| s.runtime)
    }

    fn execute(&self, ctx: &JobContext) -> JobOutcome {
        if let Some(registry) = self.native(ctx) {
            return registry.run_with(ctx, self.payload.as_ref());
        }
        match self.runtime(ctx) {
            Runtime::None => JobOutcome::nothing_to_run(ctx),
            runtime => self.dispatcher.dispatch(ctx, runtime),
        }
    }
}

impl ActionRunner for RepositoryRunner {
    fn has_nothing_to_run(&self, ctx: &JobContext) -> bool {
        self.native(ctx).is_none() && self.runtime(ctx) == Runtime::None
    }

    fn times_out_elsewhere(&self, ctx: &JobContext) -> bool {
        // A worker kills an attempt at its timeout; the wait here includes its time queued.
        self.distributed && self.native(ctx).is_none()
    }

    fn run(&self, ctx: &JobContext) -> JobOutcome {
        let mut outcome = self.execute(ctx);
        if let (Ok(()), Some(patch)) = (&outcome.result, &outcome.data_patch) {
            let check = self
                .repo
                .validate_data_patch(ctx.service(), &serde_json::Value::Object(patch.clone()));
            if let Err(err) = check {
                let message = format!("data patch rejected: {}", JobLog::error_text(&err));
                outcome.result = Err(crate::job::JobFailure {
                    kind: FailureKind::Error,
                    message: message.clone(),
                });
                outcome.data_patch = None;
                outcome.logs.push(LogEntry {
                    category: JobLogCategory::ErrorMsg,
                    text: message,
                });
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(name: &str, code: &str, file: &str) -> ActionCode {
        ActionCode {
            name: name.parse().unwrap(),
            runtime: Runtime::Shell,
            code: code.to_owned(),
            args: String::new(),
            doc: String::new(),
            file: file.to_owned(),
            fingerprint: String::new(),
        }
    }

    #[test]
    fn a_whole_file_is_written_as_it_is_and_bodies_are_wrapped() {
        let src = "X=1\ninstall() { echo $X; }\nstart() { :; }\n";
        let (a, b) = (
            code("install", src, "t/actions.sh"),
            code("start", src, "t/actions.sh"),
        );
        let (text, origin) = actions_file(&[&a, &b], shell_file).unwrap();
        assert_eq!((text.as_str(), origin), (src, Some("t/actions.sh")));
        let legacy = code("install", "  echo hi\n", "");
        let (text, origin) = actions_file(&[&legacy], shell_file).unwrap();
        assert!(
            text.ends_with("install() {\n  echo hi\n}\n") && origin.is_none(),
            "{text}"
        );
        let other = code("start", "Y=2\n", "t/actions.sh");
        assert!(actions_file(&[&a, &other], shell_file).is_err());
        assert!(actions_file(&[&a, &legacy], shell_file).is_err());
    }
}
