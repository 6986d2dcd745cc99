//! The command line, as clap types. Nothing here leaves `main` and `cmd`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ays: a service lifecycle orchestrator (successor of AtYourService 8.1).
#[derive(Debug, Parser)]
#[command(
    name = "ays",
    version,
    about,
    after_help = "Exit codes: 0 done; 1 failed (store, files, a run that cannot start); \
                  2 bad input or configuration (arguments, blueprints, templates, schemas, \
                  names, data on stdin that does not fit its schema, a service, actor or run that \
                  does not exist, a missing or exposed API token); 3 a run ended with failed \
                  jobs.\n\
                  With --json, an error is one JSON object on stderr: {\"error\", \"code\"}."
)]
pub struct Cli {
    /// Run as if started in DIR (the repository is found from there upward).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// Use this store instead of the repository's (mem://, redb:///path, redis://host:port/db).
    #[arg(long, global = true, env = "AYS_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Work through the daemon at URL (`ays daemon`) instead of a local repository: reading
    /// services, actors, runs and jobs, and creating and resuming runs. The token is
    /// AYS_TOKEN, else the one `ays token show` prints.
    #[arg(long, global = true, env = "AYS_REMOTE", value_name = "URL")]
    pub remote: Option<String>,
    /// With --remote: the daemon's repository to work on (default: the only one it serves).
    #[arg(long, global = true, env = "AYS_REPOSITORY", value_name = "NAME")]
    pub repository: Option<String>,
    /// Print results as JSON, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log more: -v what is done, -vv details (AYS_LOG, when set, wins).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print results and errors only: no progress, no warnings.
    #[arg(short = 'q', long = "quiet", global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a directory an AYS repository (default: the current one).
    Init {
        /// The directory.
        dir: Option<PathBuf>,
        /// A global template directory to record in the repository config (repeatable).
        #[arg(long = "template-dir", value_name = "DIR")]
        template_dirs: Vec<PathBuf>,
    },
    /// Apply a blueprint, or every active blueprint of `blueprints/` as one unit.
    ///
    /// Templates' `input` and `init` run as services are created (`init` again for every
    /// service whose template defines it); what they create, link or save is written with the
    /// blueprint, and if one fails nothing is written.
    Blueprint {
        /// The blueprint file (default: all of `blueprints/`, in file-name order).
        path: Option<PathBuf>,
        /// Print what would be created, updated and scheduled, and change nothing (`input` and
        /// `init` still run, to know what they would create).
        #[arg(long)]
        dry_run: bool,
    },
    /// Services: list, show, delete, action states.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Actors: list, update from their templates.
    #[command(subcommand)]
    Actor(ActorCommand),
    /// Write the git-friendly mirror (`actors/`, `services/`) of the store.
    Export {
        /// The directory to write into (default: the repository).
        dir: Option<PathBuf>,
    },
    /// Rebuild the store from the mirror written by `ays export`.
    Restore {
        /// The directory to read from (default: the repository).
        dir: Option<PathBuf>,
    },
    /// Remove every actor and service of the repository (runs are kept).
    Destroy {
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// Runs: create, list, show, resume, abandon, unlock.
    #[command(subcommand)]
    Run(RunCommand),
    /// Schedule ACTION on the selected services, then run.
    ///
    /// An action already ok is scheduled again only with --force, or when its opposite ran
    /// after it (install and uninstall, start and stop): after `ays do uninstall`,
    /// `ays do install` installs again. With --dry-run it prints what would run and schedules
    /// nothing. An action that no selected service has is an error.
    Do {
        /// The action.
        action: String,
        /// Schedule it again where it is already ok.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        filter: ServiceFilterArgs,
        #[command(flatten)]
        options: RunArgs,
    },
    /// Jobs of runs: list, show.
    #[command(subcommand)]
    Job(JobCommand),
    /// Actor data schemas.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Actor templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Encode and decode service data, for scripting and debugging.
    #[command(subcommand)]
    Data(DataCommand),
    /// Serve repositories over the REST API until SIGTERM or Ctrl-C.
    ///
    /// Serves the repository holding the current directory, or those given with `--repo`, or
    /// every repository directly under `--repos-dir`; each is named in the API by its
    /// directory name. Every route but `GET /health` needs `Authorization: Bearer <token>`
    /// (`ays token show` prints it; it is created if missing). Prints `listening on URL` once
    /// it accepts connections; `GET /openapi.json` describes the API, `GET /dashboard` shows
    /// it in a browser.
    ///
    /// Runs asked for through the API are queued and executed one at a time per repository;
    /// recurring actions run when they are due; `POST /webhooks/events` takes events. On
    /// SIGTERM no run starts, running jobs get 10 s to finish, and the next start resumes
    /// what was interrupted and queued.
    #[command(visible_alias = "start")]
    Daemon(DaemonArgs),
    /// Run the jobs of runs made with `--workers`, for every repository of the store
    /// (`--store URL`, default: the current repository's), on this machine; `ays worker list`
    /// shows the live workers. Ctrl-C or SIGTERM once takes no more jobs and lets the running
    /// ones finish; twice kills them, and another worker runs them after the lease.
    Worker(WorkerArgs),
    /// The API token of the daemon (one per user): show, rotate.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the completion script of a shell: `ays completion bash > /etc/bash_completion.d/ays`,
    /// or `source <(ays completion bash)`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What `ays daemon` serves and where.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Serve the repository in DIR (repeatable; default: the one holding the current
    /// directory).
    #[arg(long = "repo", value_name = "DIR", conflicts_with = "repos_dir")]
    pub repos: Vec<PathBuf>,
    /// Serve every repository directly under DIR (it may hold none yet); repositories created
    /// through the API (`POST /ays/repository`) go there.
    #[arg(long, value_name = "DIR")]
    pub repos_dir: Option<PathBuf>,
    /// The IP address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// The port to listen on (0 picks a free one).
    #[arg(long, value_name = "N", default_value_t = ays_daemon::DEFAULT_PORT)]
    pub port: u16,
    /// Allow an address other than a loopback one: other machines can then reach the API,
    /// and anyone who has the token controls the served repositories.
    #[arg(long)]
    pub allow_remote: bool,
}

/// `ays worker`: options of a worker, or `list`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WorkerArgs {
    /// `list`: the live workers of the store.
    #[command(subcommand)]
    pub command: Option<WorkerCommand>,
    /// Run at most N jobs at once (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// The worker's name, unique among live workers (default: HOST-PID).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A job this worker holds is claimed by another worker once this worker has not renewed
    /// it for this long (it renews every third of it while alive): `30s`, `2m`.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub lease: String,
}

/// `ays worker ...`
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// The workers alive on the store: jobs in flight, last heartbeat.
    List,
}

/// `ays token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print the token (`$AYS_CONFIG_DIR/token`, else `$XDG_CONFIG_HOME/ays/token`, else
    /// `~/.config/ays/token`).
    Show,
    /// Replace the token with a new one and print it: clients holding the old one are refused
    /// from then on (a running daemon keeps the token it started with until restarted).
    Rotate,
}

/// Filters that select services; all given ones must match.
#[derive(Debug, Clone, Default, Args)]
pub struct ServiceFilterArgs {
    /// The role (the actor name up to the first dot).
    #[arg(long, short = 'r')]
    pub role: Option<String>,
    /// The instance name.
    #[arg(long, short = 'n')]
    pub name: Option<String>,
    /// The actor name.
    #[arg(long, short = 'a')]
    pub actor: Option<String>,
    /// Services whose parent is this `role!instance`.
    #[arg(long)]
    pub parent: Option<String>,
    /// Services that consume this `role!instance`.
    #[arg(long)]
    pub producer: Option<String>,
}

/// `ays service ...`
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// List services as `role!instance`.
    List(ServiceFilterArgs),
    /// Show services: data, relations, actions.
    Show {
        /// One service, `role!instance` (default: every service the filters select).
        key: Option<String>,
        #[command(flatten)]
        filter: ServiceFilterArgs,
    },
    /// Delete a service and, recursively, its children. The services that stay lose their
    /// relations to the deleted ones and the deleted names in their data; a delete that would
    /// leave one of them without a producer it needs is refused unless `--force`.
    Delete {
        /// The service, `role!instance` (quote it in an interactive shell).
        key: String,
        /// Delete even when services that stay need it.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// Print the state of every action of the selected services.
    State(ServiceFilterArgs),
    /// Set the state of an action by hand on the selected services.
    SetState {
        /// The action.
        action: String,
        /// The new state: new, ok, scheduled, disabled or error.
        #[arg(long)]
        state: String,
        #[command(flatten)]
        filter: ServiceFilterArgs,
    },
}

/// How a run executes.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// `dag` starts each job as soon as its prerequisites are ok; `steps` runs 8.1's steps.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Dag)]
    pub schedule: ScheduleArg,
    /// Run at most N jobs at once (default: the number of CPUs).
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
    /// Start no job after the first failure.
    #[arg(long, conflicts_with = "keep_going")]
    pub fail_fast: bool,
    /// Run the dependents of a failed job too.
    #[arg(long)]
    pub keep_going: bool,
    /// Mark jobs ok without running them.
    #[arg(long)]
    pub no_exec: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the plan as Graphviz DOT.
    #[arg(long, requires = "dry_run")]
    pub dot: bool,
    /// Do not ask for confirmation. A run never asks (8.1's `--ask` could not be turned off);
    /// the flag is accepted so that 8.2 scripts keep working.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// Follow the run's progress until it ends. A local run always executes in the
    /// foreground, so this is the behaviour anyway; with --remote, the daemon queues the run
    /// and, without --follow, its id is printed at once.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Execute the jobs on workers (`ays worker`, on any machine reaching the store) instead of
    /// in this process. The store must be one they reach (redis://, redis+cluster://); the
    /// run is planned, journaled and resumed here as any other, and `ays run resume` goes on
    /// with workers.
    #[arg(long)]
    pub workers: bool,
}

/// A change that cannot be undone: shown first with `--dry-run`, confirmed on a terminal.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// Print what would be deleted and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (asked only when stdin is a terminal).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

/// The schedules of `--schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// All jobs of a step in parallel, steps in order, stop after a failed step.
    Steps,
    /// Each job as soon as its own prerequisites are ok.
    Dag,
}

/// `ays run ...`
#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Plan every scheduled, changed or failed action and run it.
    Create {
        #[command(flatten)]
        options: RunArgs,
    },
    /// List the runs of the repository, newest first.
    List,
    /// Show a run (default: the newest): times, steps, jobs, states.
    Show {
        /// The run: its id, a prefix of exactly one, or `latest` (default).
        id: Option<String>,
        /// Also print every job's log.
        #[arg(long)]
        logs: bool,
        /// Print the run's steps and job states as Graphviz DOT instead.
        #[arg(long, conflicts_with = "logs")]
        dot: bool,
        /// List every job and every step's jobs, even of a large run (over 50 jobs print a
        /// summary: counts per step and state, and the failed jobs).
        #[arg(long)]
        all: bool,
    },
    /// Resume the newest unfinished run: finished jobs are not run again.
    Resume {
        #[command(flatten)]
        options: RunArgs,
        /// Use the schedule and failure policy given here instead of the run's own.
        #[arg(long)]
        override_settings: bool,
    },
    /// End an unfinished run without finishing it: its running jobs become errors, so that
    /// the next run picks their actions up again.
    Abandon {
        /// The run id.
        id: String,
    },
    /// Remove the run lock of the repository.
    Unlock {
        /// Required: removing a live run's lock lets a second run start beside it.
        #[arg(long, required = true)]
        force: bool,
    },
}

/// Filters that select jobs.
#[derive(Debug, Clone, Default, Args)]
pub struct JobFilterArgs {
    /// The actor name.
    #[arg(long, short = 'a')]
    pub actor: Option<String>,
    /// The service, `role!instance`.
    #[arg(long, short = 's')]
    pub service: Option<String>,
    /// The action.
    #[arg(long)]
    pub action: Option<String>,
    /// The job state: new, running, ok or error.
    #[arg(long)]
    pub state: Option<String>,
}

/// `ays job ...`
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List the jobs of a run (default: the newest).
    List {
        /// The run: its id, a prefix of exactly one, or `latest` (default).
        #[arg(long)]
        run: Option<String>,
        #[command(flatten)]
        filter: JobFilterArgs,
        /// List every job, even of a large run (over 50 jobs print a summary: counts per step
        /// and state, and the failed jobs).
        #[arg(long)]
        all: bool,
    },
    /// Show one job: its times, attempts and log.
    Show {
        /// The run: its id, a prefix of exactly one, or `latest`.
        run: String,
        /// The job number within the run.
        number: u32,
    },
}

/// `ays actor ...`
#[derive(Debug, Subcommand)]
pub enum ActorCommand {
    /// List the actors of the repository.
    List,
    /// Compare actors with their templates and apply the changes.
    Update {
        /// One actor (default: all).
        name: Option<String>,
    },
}

/// `ays schema ...`
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print the Cap'n Proto schema of a schema.hrd.
    Convert {
        /// The schema.hrd file.
        path: PathBuf,
        /// The actor name, from which the schema id is derived (default: the name of the
        /// directory holding the file).
        #[arg(long)]
        actor: Option<String>,
        /// Which generator to reproduce: 8.2 renders defaults, 8.1 does not.
        #[arg(long, value_enum, default_value_t = Style::Ays82)]
        style: Style,
    },
}

/// The Cap'n Proto rendering of a schema.hrd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Style {
    /// As AYS 8.1 generated it at runtime: no defaults.
    #[value(name = "8.1")]
    Ays81,
    /// As the AYS 8.2 upgrader wrote it: with defaults.
    #[value(name = "8.2")]
    Ays82,
}

/// `ays template ...`
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// List the templates the repository sees (local ones override global ones).
    List,
    /// Load templates as `ays blueprint` would (schema, actions file, config.yaml, actor.hrd,
    /// `init_actions_`) and report every problem with its file and line; changes nothing.
    Check {
        /// The templates to check (default: every template the repository sees).
        names: Vec<String>,
    },
    /// Write schema.capnp and config.yaml beside an HRD template (the 8.2 layout).
    Migrate {
        /// The template directory (holding schema.hrd and, optionally, actor.hrd).
        dir: PathBuf,
        /// Overwrite schema.capnp and config.yaml if they exist.
        #[arg(long)]
        force: bool,
    },
}

/// `ays data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Read JSON on stdin, write Cap'n Proto on stdout.
    Encode(DataArgs),
    /// Read Cap'n Proto on stdin, write JSON on stdout.
    Decode(DataArgs),
}

/// The schema and framing of `ays data encode|decode`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The schema: a `.capnp` file, or a `schema.hrd` (converted first).
    #[arg(long)]
    pub schema: PathBuf,
    /// The struct to encode or decode (nested structs as `Outer.Inner`).
    #[arg(long = "struct", default_value = "Schema")]
    pub struct_name: String,
    /// Use the packed encoding.
    #[arg(long)]
    pub packed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
