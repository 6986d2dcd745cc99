//! One module per command group; each reads its inputs, calls the libraries and renders output.

mod actor;
mod blueprint;
mod daemon;
mod data;
mod job;
mod remote;
mod repo;
mod run;
mod schema;
mod service;
mod template;
mod token;
mod worker;

use std::path::{Path, PathBuf};

use anyhow::Context;
use ays_core::Repository;

use crate::cli::{Cli, Command};

/// What every command that works on a repository needs from the global options.
#[derive(Debug)]
pub struct Env {
    /// Where to look for the repository (`-C DIR`, else the current directory).
    pub dir: PathBuf,
    /// `--store URL` or `AYS_STORE`.
    pub store: Option<String>,
    /// `--json`.
    pub json: bool,
    /// Whether the command changes what the store holds.
    pub changes: bool,
}

impl Env {
    /// Finds the repository from `dir` upward and opens it on its store.
    pub fn repository(&self) -> anyhow::Result<Repository> {
        let root = Repository::discover(&self.dir)?;
        let options = ays_core::OpenOptions {
            store_url: self.store.clone(),
        };
        // A command that changes nothing opens the store read-only: it works on a repository
        // this user may not write, and leaves the store's file as it was.
        let repo = if self.changes {
            Repository::open(&root, options).map_err(|err| {
                let not_writable = matches!(
                    &err,
                    ays_core::CoreError::Store {
                        source: ays_store::StoreError::NotWritable { .. },
                        ..
                    }
                );
                let err = anyhow::Error::from(err);
                if not_writable {
                    err.context(
                        "this command changes the repository, which this user may not write \
                         (commands that only read it still work)",
                    )
                } else {
                    err
                }
            })?
        } else {
            Repository::open_read_only(&root, options)?
        };
        self.warn_if_in_memory(repo.store_url());
        // Templates' `input` and `init` run when blueprints create services.
        Ok(repo.with_creation_runtime(std::sync::Arc::new(ays_run::CreationActions::new())))
    }

    /// Warns that a change made in a `mem://` store ends with this process.
    pub fn warn_if_in_memory(&self, store_url: &str) {
        if self.changes && store_url.starts_with("mem://") {
            crate::output::warn(&format!(
                "the store {store_url} lives in this process only: nothing this command \
                 changes will persist"
            ));
        }
    }
}

/// Whether `command` changes what the store holds (`--dry-run` and reading commands do not).
fn changes_state(command: &Command) -> bool {
    use crate::cli::{ActorCommand, RunCommand, ServiceCommand};
    match command {
        Command::Init { .. } | Command::Restore { .. } => true,
        Command::Blueprint { dry_run, .. } => !dry_run,
        Command::Destroy { confirm } => !confirm.dry_run,
        Command::Service(ServiceCommand::Delete { confirm, .. }) => !confirm.dry_run,
        Command::Service(ServiceCommand::SetState { .. }) => true,
        Command::Actor(ActorCommand::Update { .. }) => true,
        Command::Run(RunCommand::Create { options } | RunCommand::Resume { options, .. }) => {
            !options.dry_run
        }
        Command::Run(RunCommand::Abandon { .. } | RunCommand::Unlock { .. }) => true,
        Command::Do { options, .. } => !options.dry_run,
        _ => false,
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = match cli.chdir {
        Some(dir) => dir,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let env = Env {
        dir,
        store: cli.store,
        json: cli.json,
        changes: changes_state(&cli.command),
    };
    if let Some(url) = &cli.remote {
        return remote::run(&env, url, cli.repository.as_deref(), cli.command);
    }
    match cli.command {
        Command::Init { dir, template_dirs } => repo::init(&env, dir, template_dirs),
        Command::Blueprint { path, dry_run } => blueprint::run(&env, path.as_deref(), dry_run),
        Command::Service(command) => service::run(&env, command),
        Command::Actor(command) => actor::run(&env, command),
        Command::Export { dir } => repo::export(&env, dir.as_deref()),
        Command::Restore { dir } => repo::restore(&env, dir.as_deref()),
        Command::Destroy { confirm } => repo::destroy(&env, &confirm),
        Command::Run(command) => run::run(&env, command),
        Command::Do {
            action,
            force,
            filter,
            options,
        } => run::run_do(&env, &action, force, &filter, &options),
        Command::Job(command) => job::run(&env, command),
        Command::Schema(command) => schema::run(command),
        Command::Template(command) => template::run(&env, command),
        Command::Data(command) => data::run(command),
        Command::Daemon(args) => daemon::run(&env, args),
        Command::Token(command) => token::run(&env, command),
        Command::Worker(args) => worker::run(&env, &args),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "ays", &mut std::io::stdout().lock());
            Ok(())
        }
    }
}

/// Reads a UTF-8 text file, naming it in the error.
fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// The actor name of a template file: the name of the directory that holds it.
fn actor_name_of(path: &Path) -> anyhow::Result<String> {
    let dir = path
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", path.display()))?;
    dir.parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "cannot tell the actor name of `{}`: pass --actor NAME",
                path.display()
            )
        })
}
