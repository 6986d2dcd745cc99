//! The `ays` command: a service lifecycle orchestrator.
//!
//! `main` only glues: it parses the arguments ([`cli`]), installs logging ([`logging`]), runs the
//! command ([`cmd`]) and turns an error into one readable message and an exit code ([`exit`]).

mod cli;
mod cmd;
mod exit;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::install();
    match cmd::run(cli) {
        Ok(()) => exit::Exit::Success.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::Exit::Failure.into()
        }
    }
}
